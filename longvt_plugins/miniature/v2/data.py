"""v2 rows through the real pipeline, as v1's: items -> `filter-vl` records -> stage 7 (`traces`, the v2 oracle
teacher over loopback HTTP) -> `export` (sft.jsonl, eval.jsonl, rl.parquet).

The products are the pipeline's own: `sft.jsonl` in the lmms-engine plugin's schema (counterfactual traces are one
turn, no tool turn), `rl.parquet` verl rows with the skim as timestamped frames and the v2 skim budget (a
counterfactual's `video_segment` is null: the IoU reward does not count there), `eval.jsonl` for lmms-eval.
The drills of v1's recipe (`miniature.data`) are not made here: which ones a bigger student needs is the training
step's choice.
"""

from __future__ import annotations

import json
from pathlib import Path

from longvt_plugins.miniature.v2.layout import agent_budgets, skim_budget

PRODUCTS = ("sft", "eval", "rl")


def pipeline_config(workdir: Path, base_url: str, *, products=PRODUCTS, split: str = "train"):
    from longvt_plugins.pipeline.config import PipelineConfig

    b = agent_budgets()
    # the stage's skim_<field> / crop_<field> options (FrameBudget / CropBudget fields)
    frames = {**{f"skim_{k}": v for k, v in b.skim.to_dict().items()},
              **{f"crop_{k}": v for k, v in b.crop.to_dict().items()}}  # fmt: skip
    return PipelineConfig(
        {
            "workdir": str(workdir),
            "model": {"base_url": base_url, "model": "oracle-teacher-v2", "concurrency": 2, "retries": 0},
            "stages": {
                "traces": {
                    "max_turns": b.max_turns, "max_new_tokens": b.max_new_tokens,
                    "max_total_tokens": b.max_total_tokens, "temperature": 0.0,
                    "require_overlap": True, **frames,
                },
                "export": {
                    "products": list(products), "split": split, "rl_initial_video": "frames",
                    **{f"rl_{k}": v for k, v in skim_budget().to_dict().items()},
                },
            },
        }
    )  # fmt: skip


def build_rows(workdir: str | Path, items, *, teacher=None, products=PRODUCTS, split: str = "train") -> dict:
    """Run stage 7 and the export over v2 items; returns the products' paths, the stage summaries and the
    rejection counts (`traces/rejections.json`)."""
    from longvt_plugins.miniature.data import seed_pipeline
    from longvt_plugins.miniature.v2.teacher import OracleTeacherV2
    from longvt_plugins.pipeline.runner import run_stage
    from longvt_plugins.testing.openai_server import OpenAIStubServer

    workdir = Path(workdir)
    seed_pipeline(workdir, items)
    with OpenAIStubServer(teacher or OracleTeacherV2(), model="oracle-teacher-v2") as server:
        config = pipeline_config(workdir, server.base_url, products=products, split=split)
        traces = run_stage(config, "traces")
    export = run_stage(config, "export")
    out = workdir / "export"
    return {
        "sft": str(out / "sft.jsonl") if "sft" in products else None,
        "eval": str(out / "eval.jsonl") if "eval" in products else None,
        "rl": str(out / "rl.parquet") if "rl" in products else None,
        "traces": traces.to_dict(),
        "export": export.to_dict(),
        "rejections": json.loads((workdir / "traces" / "rejections.json").read_text()),
    }
