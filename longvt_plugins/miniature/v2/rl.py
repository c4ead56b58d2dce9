"""v2 GRPO rows: the `rft` split's questions (videos SFT never saw) for training and `val`'s for validation, through
the pipeline's own `export` stage with the skim as timestamped frames at the v2 skim budget - the first turn the
SFT rows and the evaluation show (v1's `miniature.rl`, with v2's items and budgets).

    python -m longvt_plugins.miniature.v2 rl-data --work runs/v2 --videos 800 --val-videos 32

writes `<work>/rl_train.parquet` and `<work>/rl_val.parquet`. Counterfactual questions (a sixth of `rft`) have no
segment: their IoU term does not count, and their answer is "none". GRPO runs with
`recipes/rl/profile/miniature_v2_1gpu.yaml` and the accuracy term from a judge over HTTP (`miniature.rule_judge`
where no judge LLM exists).
"""

from __future__ import annotations

from pathlib import Path

TRAIN_SPLIT, VAL_SPLIT = "rft", "val"
# The crop budget verl's crop_video tool runs with in v2 RL (the profile's tool_config_path).
TOOL_CONFIG = Path(__file__).resolve().parent / "verl_tool_config.yaml"


def export_options() -> dict:
    from longvt_plugins.miniature.v2.layout import skim_budget

    return {"products": ["rl"], "rl_initial_video": "frames",
            **{f"rl_{k}": v for k, v in skim_budget().to_dict().items()}}  # fmt: skip


def build_rl_data(work: str | Path, *, videos: int = 800, val_videos: int = 32) -> dict:
    """`<work>/rl_train.parquet` and `<work>/rl_val.parquet`; returns what was written, per split."""
    from longvt_plugins.miniature.rl import export_split
    from longvt_plugins.miniature.v2.splits import make_split

    work = Path(work).resolve()
    out = {"tool_config": str(TOOL_CONFIG)}
    for key, split, n in (("train", TRAIN_SPLIT, videos), ("val", VAL_SPLIT, val_videos)):
        items = make_split(work / "videos", split, n)
        out[key] = export_split(work, split, n, work / f"rl_{key}.parquet", items=items,
                                options=export_options(), pipe=work / f"rl-pipeline-v2-{split}")  # fmt: skip
    return out
