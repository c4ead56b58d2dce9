"""The stage runner: plan units from the previous stage's records, run the ones not done yet, journal each as it
finishes, then write the stage's records and failures sorted by id.

Results are attributed by the unit's key, never by completion order: a unit's output travels with its key from
the worker to the journal. Engines only decide *where* `units.execute_unit` runs (threads, processes, Ray workers);
what is written is the same, so local, sharded and Ray runs produce identical files.
"""

from __future__ import annotations

import concurrent.futures as cf
import hashlib
import multiprocessing
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field

from longvt_plugins.pipeline.config import STAGE_ORDER, PipelineConfig
from longvt_plugins.pipeline.store import (
    Journal,
    StageFiles,
    read_stage_records,
    write_json_atomic,
    write_jsonl_atomic,
)
from longvt_plugins.pipeline.units import (
    Unit,
    available_cpus,
    build_stage,
    execute_unit,
    failure_record,
    run_unit,
    set_decode_threads,
)


class StageNotReady(RuntimeError):
    """A stage's input stage has not been run (to completion) yet."""


def shard_of(video_id: str, num_shards: int) -> int:
    """Deterministic shard of a video (same on every machine and Python process, unlike `hash()`)."""
    if num_shards <= 1:
        return 0
    return int(hashlib.sha1(video_id.encode("utf-8")).hexdigest()[:12], 16) % num_shards


# ------------------------------------------------------------------------------------------ engines
OnDone = Callable[[dict], None]


def process_pool(workers: int) -> cf.ProcessPoolExecutor:
    """The local engine's pool for CPU-bound stages: spawned processes (no fork: the parent holds threads and
    sockets), each with an equal share of the CPUs for its decoder threads."""
    return cf.ProcessPoolExecutor(
        max_workers=workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=set_decode_threads,
        initargs=(max(1, available_cpus() // workers),),
    )


def _run_local(stage, config: PipelineConfig, units: list[Unit], on_done: OnDone, workers: int) -> None:
    if not units:
        return
    if stage.pool == "process" and workers > 1:
        executor: cf.Executor = process_pool(workers)
        cfg = config.to_dict()

        def submit(u: Unit):
            return executor.submit(execute_unit, stage.name, cfg, u.to_dict())
    elif workers > 1:
        executor = cf.ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"longvt-{stage.name}")

        def submit(u: Unit):
            return executor.submit(run_unit, stage, u)
    else:
        for u in units:
            on_done(run_unit(stage, u))
        return
    window = max(2 * workers, 4)  # bounded in-flight: a million units never sit in the executor's queue
    pending: set[cf.Future] = set()
    it = iter(units)
    try:
        for u in it:
            pending.add(submit(u))
            if len(pending) >= window:
                done, pending = cf.wait(pending, return_when=cf.FIRST_COMPLETED)
                for f in done:
                    on_done(f.result())
        for f in cf.as_completed(pending):
            on_done(f.result())
    finally:
        executor.shutdown(wait=True, cancel_futures=True)


# ------------------------------------------------------------------------------------------ stage run
@dataclass
class StageSummary:
    stage: str
    units: int = 0
    skipped: int = 0  # already done before this run (resume)
    ran: int = 0
    records: int = 0
    failures: int = 0
    seconds: float = 0.0
    failure_reasons: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


def _input_records(config: PipelineConfig, stage, num_shards: int, shard_index: int) -> dict[str, list[dict]]:
    inputs: dict[str, list[dict]] = {}
    for up in stage.upstream:
        files = StageFiles(config.workdir, up, num_shards, shard_index)
        whole = StageFiles(config.workdir, up)
        if not (files.state.exists() or whole.state.exists() or any(files.dir.glob("state*.json"))):
            raise StageNotReady(f"stage {stage.name!r} reads the output of {up!r}: run `{up}` first")
        rows = read_stage_records(config.workdir, up)
        inputs[up] = [r for r in rows if shard_of(str(r.get("video_id", r["id"])), num_shards) == shard_index]
    return inputs


def run_stage(
    config: PipelineConfig,
    name: str,
    *,
    engine: str = "local",
    ray_address: str | None = None,
    num_shards: int = 1,
    shard_index: int = 0,
    retry_failed: bool = False,
    workers: int | None = None,
    progress: bool = False,
    on_unit: OnDone | None = None,
) -> StageSummary:
    """Run (or resume) one stage for one shard. Idempotent: a second call with nothing new to do is a no-op
    apart from rewriting the same records."""
    if name not in STAGE_ORDER:
        raise ValueError(f"unknown stage {name!r}; stages: {', '.join(STAGE_ORDER)}")
    if not 0 <= shard_index < max(1, num_shards):
        raise ValueError(f"--shard-index must be in [0, {num_shards}), got {shard_index}")
    if name == "export" and num_shards > 1:
        raise ValueError("run `export` without --num-shards: it gathers the records of every shard")
    t0 = time.perf_counter()
    stage = build_stage(name, config)
    files = StageFiles(config.workdir, name, num_shards, shard_index)
    journal = Journal(files.journal)
    journal.load()
    try:
        inputs = _input_records(config, stage, num_shards, shard_index)
        units, plan_failures = stage.plan(inputs)
        units = [u for u in units if shard_of(u.video_id, num_shards) == shard_index]
        plan_failures = [
            f for f in plan_failures if shard_of(f.get("video_id", f["id"]), num_shards) == shard_index
        ]
        keys = [u.key for u in units]
        if len(set(keys)) != len(keys):
            raise RuntimeError(f"stage {name} planned duplicate unit keys")
        # A failure found while planning (an unreadable video) is journaled like any other unit outcome.
        for f in plan_failures:
            if journal.entries.get(f["id"], {}).get("reason") != f["reason"]:
                entry = {"unit": f["id"], "video_id": f.get("video_id", f["id"]), "ok": False}
                entry.update(error=f.get("error", "UnitFailed"), reason=f["reason"])
                journal.append(entry)
        done = journal.done(retry_failed=retry_failed)
        todo = [u for u in units if u.key not in done]
        summary = StageSummary(
            stage=name, units=len(units) + len(plan_failures), skipped=len(units) - len(todo)
        )

        bar = _Progress(name, len(units), len(units) - len(todo)) if progress else None

        def on_done(entry: dict) -> None:
            journal.append(entry)
            summary.ran += 1
            if bar:
                bar.advance()
            if on_unit:
                on_unit(entry)

        n_workers = workers or stage.workers()
        try:
            if engine == "ray":
                from longvt_plugins.pipeline.ray_engine import run_units_ray

                run_units_ray(stage, config, todo, on_done, address=ray_address, max_in_flight=n_workers)
            elif engine == "local":
                _run_local(stage, config, todo, on_done, n_workers)
            else:
                raise ValueError(f"unknown engine {engine!r} (local or ray)")
        finally:
            if bar:
                bar.close()

        live = {u.key for u in units} | {f["id"] for f in plan_failures}
        records, failures = [], []
        for key in sorted(live):
            entry = journal.entries.get(key)
            if entry is None:
                continue
            if entry.get("ok"):
                records.extend(entry["records"])
            else:
                failures.append(
                    failure_record(key, name, entry.get("reason", "failed"), entry.get("video_id"))
                    | {"error": entry.get("error", "Error")}
                )
        records, failures = stage.finalize(records, failures)
        records.sort(key=lambda r: str(r["id"]))
        failures.sort(key=lambda r: str(r["id"]))
        ids = [str(r["id"]) for r in records]
        if len(set(ids)) != len(ids):
            raise RuntimeError(f"stage {name} produced duplicate record ids")
        write_jsonl_atomic(files.records, records)
        write_jsonl_atomic(files.failures, failures)
        summary.records, summary.failures = len(records), len(failures)
        for f in failures:
            summary.failure_reasons[f["reason"][:120]] = summary.failure_reasons.get(f["reason"][:120], 0) + 1
        summary.seconds = round(time.perf_counter() - t0, 3)
        write_json_atomic(
            files.state,
            {
                "stage": name,
                "complete": True,
                "num_shards": num_shards,
                "shard_index": shard_index,
                "units": summary.units,
                "records": summary.records,
                "failures": summary.failures,
                "finished_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            },
        )
        return summary
    finally:
        stage.close()


def run_pipeline(config: PipelineConfig, stages: Iterable[str] | None = None, **kw) -> list[StageSummary]:
    """Run stages in pipeline order (all by default); each resumes where it stopped."""
    wanted = list(stages) if stages else list(STAGE_ORDER)
    unknown = [s for s in wanted if s not in STAGE_ORDER]
    if unknown:
        raise ValueError(f"unknown stage(s) {unknown}; stages: {', '.join(STAGE_ORDER)}")
    return [run_stage(config, s, **kw) for s in STAGE_ORDER if s in wanted]


class _Progress:
    """A rich progress bar for one stage (only when asked: tests and pipes stay quiet)."""

    def __init__(self, name: str, total: int, completed: int):
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self._p = Progress(
            TextColumn(f"[bold]{name:<12}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            transient=False,
        )
        self._p.start()
        self._task = self._p.add_task(name, total=total, completed=completed)

    def advance(self) -> None:
        self._p.advance(self._task)

    def close(self) -> None:
        self._p.stop()
