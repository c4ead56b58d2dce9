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
    """v1's stage-7 + export configuration with v2's budgets, teacher name and export products (RL rows with the
    skim as frames, at the v2 skim budget)."""
    from longvt_plugins.miniature.data import pipeline_config as miniature_config

    export = {"products": list(products), "split": split, "rl_initial_video": "frames",
              **{f"rl_{k}": v for k, v in skim_budget().to_dict().items()}}  # fmt: skip
    return miniature_config(
        workdir, base_url, budgets=agent_budgets(), model="oracle-teacher-v2", export=export
    )


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
