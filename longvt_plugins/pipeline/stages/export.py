"""Stage `export`: the pipeline's products, written under <workdir>/export/:

- `sft.jsonl`: accepted traces as SFT/RFT rows for the lmms-engine plugin (dataset type `longvt_imcott`);
- `rl.parquet`: kept QA as verl RL rows, through the verl plugin's converter (same prompt / video settings as
  the RL recipe), rejected samples beside it with their reasons; `rl_initial_video: frames` shows the skim as
  timestamped frames, as the `sft` rows and evaluation do (a policy SFT-trained on our traces wants that);
- `eval.jsonl`: kept QA as evaluation rows (video, question, answer, evidence span) for our lmms-eval tasks.

One unit per product, so a failure of one (say, verl missing) does not block the others. Run it unsharded: it
reads the records of every shard.
"""

from __future__ import annotations

import json

from longvt_plugins.core.budget import FrameBudget
from longvt_plugins.pipeline.config import ConfigError
from longvt_plugins.pipeline.stages.base import Stage
from longvt_plugins.pipeline.stages.teacher_traces import qa_segment
from longvt_plugins.pipeline.store import write_jsonl_atomic
from longvt_plugins.pipeline.units import Unit

PRODUCTS = ("sft", "rl", "eval")


class ExportStage(Stage):
    name = "export"
    upstream = ("traces", "filter-vl")
    # rl_<field>: verl's initial-video FrameBudget (None keeps core.budget.SKIM's value)
    defaults = {
        "products": list(PRODUCTS),
        "split": "train",
        # rl.parquet's initial video: "video" (a native video part, upstream's layout) or "frames" (the skim
        # decoded at export, "<t s>" + image per frame, as SFT rows and evaluation present it)
        "rl_initial_video": "video",
        **dict.fromkeys(FrameBudget.option_names("rl_")),
    }

    def plan(self, inputs):
        products = list(self.options["products"])
        bad = [p for p in products if p not in PRODUCTS]
        if bad:
            raise ConfigError(f"stages.export.products: unknown {bad}; choose from {list(PRODUCTS)}")
        kept_qa = [q for q in inputs["filter-vl"] if q.get("keep")]
        accepted = [t for t in inputs["traces"] if t.get("accepted")]
        payload = {"qa": kept_qa, "traces": accepted}
        # The unit key carries the input ids and the options, so new upstream records or a changed option make a
        # new unit (the export re-runs).
        options = json.dumps(self.options, sort_keys=True, default=str)
        digest = _digest([q["id"] for q in kept_qa] + [t["id"] for t in accepted] + [options])
        return [Unit(f"{p}@{digest}", "", {**payload, "product": p}) for p in products], []

    def run(self, unit):
        out = self.config.workdir / "export"
        product = unit.payload["product"]
        if product == "sft":
            rows = [t["sft_row"] for t in unit.payload["traces"]]
            n = write_jsonl_atomic(out / "sft.jsonl", rows)
            return [{"id": "sft", "path": str(out / "sft.jsonl"), "rows": n, "rejected": 0}]
        if product == "eval":
            rows = [
                {
                    "id": q["id"],
                    "video_id": q["video_id"],
                    "video": q["path"],
                    "question": q["question"],
                    "answer": q["answer"],
                    "segment": qa_segment(q),
                    "duration": q.get("duration"),
                }
                for q in unit.payload["qa"]
            ]
            n = write_jsonl_atomic(out / "eval.jsonl", rows)
            return [{"id": "eval", "path": str(out / "eval.jsonl"), "rows": n, "rejected": 0}]
        from longvt_plugins.core.budget import SKIM
        from longvt_plugins.verl.convert import convert, sample_from_record

        samples = [
            sample_from_record({**q, "video_path": q["path"], "segment": qa_segment(q)}, i)
            for i, q in enumerate(unit.payload["qa"])
        ]
        video = FrameBudget.from_options(self.options, "rl_", SKIM)
        report = convert(samples, out / "rl.parquet", video=video, split=str(self.options["split"]),
                         initial_video=str(self.options["rl_initial_video"]))  # fmt: skip
        return [
            {"id": "rl", "path": report.out_path, "rows": report.written, "rejected": len(report.rejected)}
        ]


def _digest(ids: list[str]) -> str:
    import hashlib

    return hashlib.sha1(json.dumps(sorted(ids)).encode()).hexdigest()[:10]


STAGE = ExportStage
