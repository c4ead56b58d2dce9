"""The v2 recipe's SFT step and the held-out evaluation, for one or several student sizes.

    python -m longvt_plugins.miniature.v2 sft --work runs/v2 --size s --videos 800 --steps 1500 [--gpu]
    python -m longvt_plugins.miniature.v2 evaluate --work runs/v2 --model runs/v2/sft-s --items 80 [--gpu]

Data: the v2 items through the pipeline's traces + export stages (`v2.data.build_rows`), rendered and traced in
shards (one process each: the traces stage is GIL-bound in one process), plus v1's reading drills made from the
accepted traces (`miniature.data.perception_rows` / `frame_drills`: the skim and crop listings, and one-frame
drills), which taught v1's student to read its frames before whole traces. Training: `longvt train sft` (the real
lmms-engine CLI through our launcher) from the untrained student of the chosen size (`v2.student`): stage 1 the
drills, stage 2 the whole traces (twice) with the drills beside them. Each stage resumes from the last checkpoint
in its output folder (lmms-engine's trainer finds it), so an interrupted run loses at most `save_steps` steps.
"""

from __future__ import annotations

import concurrent.futures as cf
import json
import multiprocessing
import time
from pathlib import Path

from longvt_plugins.miniature import run

# GPU runs: the trainer on CUDA; the recipe's CPU settings (use_cpu, one dataloader process) lifted.
# local_rank: lmms-engine 0.1.4's hf_trainer puts its FLOP counter on `cuda:<local_rank>`, and HF leaves it at -1 in a
# single process (seen on the H200: "Device index must not be negative" at step 10).
GPU_OVERRIDES = (
    "trainer_args.use_cpu=false",
    "trainer_args.dataloader_num_workers=4",
    "trainer_args.local_rank=0",
)
# Each whole trace this many times in the stage-2 file (v1: 2, with ~10 drills a video; v2 has ~10 too now).
TRACE_REPEATS = 3
# Each trace's asked drill this many times in the drills (stage 1, and beside the traces in stage 2).
ASKED_REPEATS = 2


def _shard(args) -> dict:
    """Render, trace and drill one shard of the training split (one process)."""
    work, split, first, count, drills = args
    from longvt_plugins.miniature.data import asked_drill, frame_drills, perception_rows
    from longvt_plugins.miniature.v2.data import build_rows
    from longvt_plugins.miniature.v2.splits import make_split
    from longvt_plugins.pipeline.store import read_jsonl

    items = make_split(Path(work) / "videos", split, count, first=first)
    out = build_rows(Path(work) / f"pipeline-v2-{split}-{first}", items, products=("sft",), split=split)
    traces = read_jsonl(out["sft"])
    drill_rows: list[dict] = []
    if drills:
        # The asked-colour copy ("<think>Asked: X." with the loss on X alone): the step the second GPU run did not
        # learn from whole traces (teacher-forced 0.20 for size s, 0.65 for m after 1,600 steps of batch 8;
        # BENCHMARKS.md, miniature v2), as v1's one-stage student did not (miniature.data.asked_drill).
        drill_rows += [d for d in map(asked_drill, traces) if d is not None] * ASKED_REPEATS
        for row in traces:
            listing = perception_rows(row)  # decoded once, for the listing and the one-frame drills
            drill_rows += listing
            # One one-frame drill per colour a trace shows: a v2 skim has up to 64 frames, and all of them made the
            # first GPU mix 94 % drills (25,169 drills beside 1,600 trace rows; after 1,000 steps every first turn
            # ran to the length limit: BENCHMARKS.md, miniature v2).
            colours: dict[str, dict] = {}
            for d in frame_drills(row, Path(work) / "data" / "frames", listing):
                colours.setdefault(d["messages"][2]["content"][0]["text"].split()[-1], d)
            drill_rows += list(colours.values())
    return {"traces": traces, "drills": drill_rows, "rejected": out["rejections"].get("rejected", {})}


def build_training_rows(work: str | Path, videos: int, *, shards: int = 1, drills: bool = True) -> dict:
    """Traces (and drills) of `videos` training videos, in `shards` processes; writes <work>/data/{traces,
    drills,train}.jsonl and report.json, and returns the report."""
    from longvt_plugins.pipeline.store import write_jsonl_atomic

    work = Path(work).resolve()
    t0 = time.perf_counter()
    per = -(-videos // shards)
    jobs = [(str(work), "train", k * per, min(per, videos - k * per), drills) for k in range(shards)
            if k * per < videos]  # fmt: skip
    if len(jobs) == 1:
        outs = [_shard(jobs[0])]
    else:
        # spawn: a forked child of a process that already runs torch / decoder threads can die at start
        ctx = multiprocessing.get_context("spawn")
        with cf.ProcessPoolExecutor(len(jobs), mp_context=ctx) as pool:
            outs = list(pool.map(_shard, jobs))
    traces = [row for out in outs for row in out["traces"]]
    drill_rows = [row for out in outs for row in out["drills"]]
    data = work / "data"
    write_jsonl_atomic(data / "traces.jsonl", traces)
    write_jsonl_atomic(data / "drills.jsonl", drill_rows)
    write_jsonl_atomic(data / "train.jsonl", traces * TRACE_REPEATS + drill_rows)
    rejected: dict[str, int] = {}
    for out in outs:
        for why, n in out["rejected"].items():
            rejected[why] = rejected.get(why, 0) + n
    report = {
        "videos": videos,
        "traces": len(traces),
        "drills": len(drill_rows),
        "rejected": rejected,
        "paths": {k: str(data / f"{k}.jsonl") for k in ("traces", "drills", "train")},
        "wall_s": round(time.perf_counter() - t0, 1),
    }
    run.write_json(data / "report.json", report)
    return report


def sft(work: str | Path, size: str, *, drill_steps: int, steps: int, gpu: bool, lr: float = 1e-3,
        extra: tuple[str, ...] = (), name: str | None = None, frame_marker: float = 0.0,
        tie_case: bool = False) -> dict:  # fmt: skip
    """Stage 1 (drills) then stage 2 (traces + drills) from the untrained student of `size`; the trained model is
    <work>/sft-<name or size>. Resumes where an earlier run of the same folders stopped. A student with a
    `frame_marker` (`miniature.model.calibrate_projector`) or `tie_case` (`v2.student.tie_case_variants`) is its own
    folder, student-<size>[-m<marker>][-c]."""
    from longvt_plugins.miniature.v2.student import make_student_v2, parameter_count

    work = Path(work).resolve()
    data = json.loads((work / "data" / "report.json").read_text())["paths"]
    student = work / (
        f"student-{size}" + (f"-m{frame_marker:g}" if frame_marker else "") + ("-c" if tie_case else "")
    )
    if not (student / "model.safetensors").exists():
        make_student_v2(student, size, frame_marker=frame_marker, tie_case=tie_case)
    overrides = (*(GPU_OVERRIDES if gpu else ()), f"trainer_args.learning_rate={lr}", *extra)
    report = {"size": size, "parameters": parameter_count(student), "lr": lr, "gpu": gpu,
              "frame_marker": frame_marker, "tie_case": tie_case}  # fmt: skip
    start, out = student, work / f"sft-{name or size}"
    if drill_steps:
        drills = out.with_name(out.name + "-drills")
        report["drills"] = run.train(start, data["drills"], drills, steps=drill_steps, overrides=overrides,
                                     cpu=not gpu, fresh=False)  # fmt: skip
        start = drills
    report["sft"] = run.train(start, data["train"], out, steps=steps, overrides=overrides, cpu=not gpu,
                              fresh=False)  # fmt: skip
    report["model"] = str(out)
    return report


def _evaluate_set(args) -> tuple[str, dict]:
    model, work, name, items, device, style = args
    from longvt_plugins.core.backends import TransformersBackend
    from longvt_plugins.miniature.evaluate import evaluate
    from longvt_plugins.miniature.v2 import scoring
    from longvt_plugins.miniature.v2.splits import make_split

    questions = make_split(Path(work) / "videos", name, items)
    backend = TransformersBackend(model, device=device, dtype="float32")  # the CPU numbers are fp32 too
    result = evaluate(None, questions, backend=backend, style=style, **scoring.hooks())
    # Each set's result is written as soon as it is known: a run cut short keeps what it finished.
    run.write_json(Path(work) / f"eval-{Path(model).name}-{name}-{style}.json", result)
    return f"{name}/{style}", result["summary"]


def evaluate_sets(model: str | Path, work: str | Path, *, items: int, device: str = "cpu",
                  sets=None, no_tool_on: str = "a_new_seeds") -> dict:  # fmt: skip
    """Every held-out set with the tool, and `no_tool_on` without it (the non_think style), one process each."""
    from longvt_plugins.miniature.v2.splits import HELD_OUT_SETS

    names = list(sets or HELD_OUT_SETS)
    jobs = [(str(model), str(work), n, items, device, "tool") for n in names]
    if no_tool_on:
        jobs.append((str(model), str(work), no_tool_on, items, device, "non_think"))
    ctx = multiprocessing.get_context("spawn")  # CUDA cannot be forked
    with cf.ProcessPoolExecutor(len(jobs), mp_context=ctx) as pool:
        # Render each set once first: two evaluations of one set would otherwise write the same files at once.
        list(pool.map(_render_set, [(str(work), n, items) for n in names]))
        return dict(pool.map(_evaluate_set, jobs))


def _render_set(args) -> int:
    work, name, items = args
    from longvt_plugins.miniature.v2.splits import make_split

    return len(make_split(Path(work) / "videos", name, items))
