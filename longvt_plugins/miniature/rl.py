"""Miniature RL data: the task's questions as verl GRPO rows, through the pipeline's own `export` stage.

    python -m longvt_plugins.miniature rl-data --work runs/miniature --videos 800

writes `<work>/rl_train.parquet` and `<work>/rl_val.parquet` (and the pipeline work dirs `rl-pipeline-<split>/`).
The rows show the skim as the SFT rows and evaluation do (`rl_initial_video: frames`, the miniature skim budget), so
GRPO from the miniature SFT checkpoint (`recipes/rl/profile/miniature_1gpu.yaml`) starts from the very prompt the
model was trained on. RL needs no traces: the `traces` stage is seeded empty, the QA go in as `filter-vl` records,
as in `data.build_traces`.

Splits: training rows come from the `rft` split (videos the SFT never saw; the RFT round draws its first few
videos from the same seeds - RL and RFT are alternatives after SFT), validation rows from `val`; `test` stays
held out for the final evaluation.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from longvt_plugins.miniature import task

TRAIN_SPLIT, VAL_SPLIT = "rft", "val"
RL_TRAIN_VIDEOS, RL_VAL_VIDEOS = 800, 32  # one question per video
# The crop budget verl's crop_video tool runs with in miniature RL (the profile's tool_config_path).
TOOL_CONFIG = Path(__file__).resolve().parent / "verl_tool_config.yaml"


def export_options() -> dict:
    """The export stage's options for miniature RL rows: frames, with the skim budget of every miniature run."""
    skim = task.skim_budget()
    return {
        "products": ["rl"],
        "rl_initial_video": "frames",
        **{f"rl_{k}": v for k, v in skim.to_dict().items()},
    }


def _seed_empty_traces(workdir: Path) -> None:
    from longvt_plugins.pipeline.store import StageFiles, write_json_atomic, write_jsonl_atomic

    files = StageFiles(workdir, "traces")
    write_jsonl_atomic(files.records, [])
    write_jsonl_atomic(files.failures, [])
    write_json_atomic(files.state, {"stage": "traces", "complete": True, "records": 0, "failures": 0,
                                    "units": 0, "num_shards": 1, "shard_index": 0})  # fmt: skip


def export_split(work: Path, split: str, videos: int, out: Path, *, items=None, options: dict | None = None,
                 pipe: Path | None = None) -> dict:  # fmt: skip
    """Build (or reuse) `videos` videos of `split`, run the pipeline's export on their questions, copy rl.parquet.
    `items` / `options` / `pipe`: another task family's questions, export options and work dir (v2.rl)."""
    from longvt_plugins.miniature.data import seed_pipeline
    from longvt_plugins.pipeline.config import PipelineConfig
    from longvt_plugins.pipeline.runner import run_stage

    if items is None:
        items = task.make_split(work / "videos", split, videos)
    pipe = pipe or work / f"rl-pipeline-{split}"
    seed_pipeline(pipe, items)
    _seed_empty_traces(pipe)
    config = PipelineConfig(
        {"workdir": str(pipe), "stages": {"export": {**(options or export_options()), "split": split}}}
    )
    summary = run_stage(config, "export")
    if summary.failures:
        raise RuntimeError(f"export of the {split} split failed: {summary.failure_reasons}")
    out.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(pipe / "export" / "rl.parquet", out)
    rejected = pipe / "export" / "rl.parquet.rejected.jsonl"
    n_rejected = sum(1 for _ in rejected.open()) if rejected.exists() else 0
    return {
        "split": split,
        "videos": videos,
        "questions": len(items),
        "rejected": n_rejected,
        "path": str(out),
    }


def build_rl_data(
    work: str | Path, *, videos: int = RL_TRAIN_VIDEOS, val_videos: int = RL_VAL_VIDEOS
) -> dict:
    """`<work>/rl_train.parquet` and `<work>/rl_val.parquet`; returns what was written, per split."""
    work = Path(work).resolve()
    return {
        "train": export_split(work, TRAIN_SPLIT, videos, work / "rl_train.parquet"),
        "val": export_split(work, VAL_SPLIT, val_videos, work / "rl_val.parquet"),
        "tool_config": str(TOOL_CONFIG),
    }
