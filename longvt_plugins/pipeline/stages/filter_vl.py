"""Stage `filter-vl`: a VLM scores each kept QA against the frames of its own span; keep above a threshold.

Frames come from the core sampler over [start, end] of the QA (capped at `max_seconds` from its start, like
upstream's 300 s), each with its timestamp. Default threshold 0.85 (upstream's).
"""

from __future__ import annotations

from longvt_plugins.core.budget import FrameBudget
from longvt_plugins.core.prompts import load_prompt
from longvt_plugins.pipeline.llm import parse_score
from longvt_plugins.pipeline.stages.base import Stage
from longvt_plugins.pipeline.units import Unit, UnitFailed

# A QA span's frames for the check: 1 fps, up to 32 frames of at most 224x224 px.
FRAMES = FrameBudget(max_frames=32)


class FilterVLStage(Stage):
    name = "filter-vl"
    upstream = ("filter-text",)
    defaults = {
        "threshold": 0.85,
        **dict.fromkeys(FrameBudget.option_names()),  # every FrameBudget field; None keeps FRAMES' value
        "max_seconds": 300.0,
    }

    def plan(self, inputs):
        return [Unit(q["id"], q["video_id"], q) for q in inputs["filter-text"] if q.get("keep")], []

    def run(self, unit):
        from longvt_plugins.core.video import VideoError, sample_window
        from longvt_plugins.pipeline.llm import frame_parts

        q, o = unit.payload, self.options
        end = min(q["end"], q["start"] + float(o["max_seconds"]))
        try:
            frames = sample_window(
                q["path"],
                q["start"],
                end,
                FrameBudget.from_options(o, "", FRAMES),
            )
        except VideoError as exc:
            raise UnitFailed(f"sampling QA frames failed: {exc}") from exc
        text = f"{load_prompt('pipeline_filter_vl')}\n\nQuestion: {q['question']}\nAnswer: {q['answer']}"
        content = [{"type": "text", "text": text}, *frame_parts(frames)]
        score = self.client.chat_parsed(
            [{"role": "user", "content": content}], parse_score, what="a score in [0, 1]", max_tokens=16
        )
        keep = score >= float(o["threshold"])
        return [{**q, "vl_score": round(score, 4), "keep": keep}]


STAGE = FilterVLStage
