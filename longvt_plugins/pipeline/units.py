"""A unit of pipeline work and the one function every engine runs on it, in whichever process it lands.

Stages, the local engine (`runner`) and the Ray engine (`ray_engine`) all build on this module and it on none of
them: a unit's result travels with its key as plain data, and a worker's decoding-thread budget comes from its
environment.
"""

from __future__ import annotations

import os
import traceback
from dataclasses import asdict, dataclass, field

from longvt_plugins.pipeline.config import PipelineConfig


@dataclass
class Unit:
    """One piece of work: a key that names it (and its records), the video it belongs to, and its input."""

    key: str
    video_id: str
    payload: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


class UnitFailed(Exception):
    """A unit failed for a reason that belongs in the failure record (bad input, unusable model reply)."""


def failure_record(key: str, stage: str, exc: BaseException | str, video_id: str | None = None) -> dict:
    reason = str(exc) if str(exc) else type(exc).__name__
    error = exc if isinstance(exc, str) else type(exc).__name__
    row = {
        "id": key,
        "stage": stage,
        "reason": reason,
        "error": "UnitFailed" if isinstance(exc, str) else error,
    }
    if video_id is not None:
        row["video_id"] = video_id
    return row


# ------------------------------------------------------------------------------------------ unit execution
_STAGE_CACHE: dict[tuple[str, str], object] = {}


def build_stage(name: str, config: PipelineConfig):
    from longvt_plugins.pipeline.stages import stage_class

    return stage_class(name)(config)


def _cached_stage(name: str, config_dict: dict):
    """One stage object per worker process (its HTTP client and decoders are reused across units)."""
    key = (name, repr(config_dict))
    stage = _STAGE_CACHE.get(key)
    if stage is None:
        stage = build_stage(name, PipelineConfig.from_dict(config_dict))
        _STAGE_CACHE[key] = stage
    return stage


def run_unit(stage, unit: Unit) -> dict:
    """Run one unit; never raises. Returns its journal entry."""
    try:
        records = stage.run(unit)
        for r in records:
            r.setdefault("video_id", unit.video_id)
            if "id" not in r:
                raise UnitFailed(f"stage {stage.name} produced a record without an id")
        return {"unit": unit.key, "video_id": unit.video_id, "ok": True, "records": records}
    except Exception as exc:  # a failure is a record, not a crash of the run
        entry = {"unit": unit.key, "video_id": unit.video_id, "ok": False, "error": type(exc).__name__}
        entry["reason"] = str(exc) or type(exc).__name__
        if not isinstance(exc, UnitFailed):
            entry["trace"] = traceback.format_exc(limit=4)[-2000:]
        return entry


def execute_unit(stage_name: str, config_dict: dict, unit_dict: dict) -> dict:
    """Entry point for other processes and Ray workers (everything in and out is plain data)."""
    return run_unit(_cached_stage(stage_name, config_dict), Unit(**unit_dict))


# ------------------------------------------------------------------------------------------ decoding threads
# CPU-bound stages (decoding) read their thread budget from here, like OMP_NUM_THREADS: unset means "use every
# core" (one in-process unit at a time); a pool of W worker processes sets cores // W in each, a Ray task its
# CPU request. Without it W processes each start FFmpeg's default (cores + 1 threads) and oversubscribe.
DECODE_THREADS_ENV = "LONGVT_DECODE_THREADS"


def available_cpus() -> int:
    """CPUs this process may run on (respects taskset / cgroup affinity, unlike os.cpu_count())."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def decode_threads(default: int = 0) -> int:
    """This worker's decoding-thread budget (0: the decoder's own choice)."""
    value = os.environ.get(DECODE_THREADS_ENV, "")
    return int(value) if value.strip().isdigit() else default


def set_decode_threads(threads: int) -> None:
    os.environ[DECODE_THREADS_ENV] = str(threads)
