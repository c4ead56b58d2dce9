"""Stage `caption`: one VLM caption per clip, from frames sampled by the core sampler (timestamps included)."""

from __future__ import annotations

from longvt_plugins.core.budget import FrameBudget
from longvt_plugins.core.prompts import load_prompt
from longvt_plugins.pipeline.llm import ReplyError
from longvt_plugins.pipeline.stages.base import Stage
from longvt_plugins.pipeline.units import Unit, UnitFailed

# A clip's caption frames: 1 fps, up to 16 frames of at most 224x224 px.
FRAMES = FrameBudget(max_frames=16)


def _non_empty(text: str) -> str:
    if not text.strip():
        raise ReplyError("expected a caption, got an empty reply")
    return text.strip()


class CaptionStage(Stage):
    name = "caption"
    upstream = ("detect",)
    # Frame options: every FrameBudget field by its name (None keeps FRAMES' value).
    defaults = {**dict.fromkeys(FrameBudget.option_names()), "max_tokens": 512}

    def plan(self, inputs):
        units = []
        for v in inputs["detect"]:
            for c in v["clips"]:
                payload = {"path": v["path"], "start": c["start"], "end": c["end"], "scene": c["scene"]}
                units.append(Unit(c["id"], v["video_id"], payload))
        return units, []

    def run(self, unit):
        from longvt_plugins.core.video import VideoError, sample_window
        from longvt_plugins.pipeline.llm import frame_parts

        p, o = unit.payload, self.options
        try:
            frames = sample_window(
                p["path"],
                p["start"],
                p["end"],
                FrameBudget.from_options(o, "", FRAMES),
            )
        except VideoError as exc:
            raise UnitFailed(f"sampling clip frames failed: {exc}") from exc
        content = [{"type": "text", "text": load_prompt("pipeline_caption")}, *frame_parts(frames)]
        caption = self.client.chat_parsed(
            [{"role": "user", "content": content}],
            _non_empty,
            what="a caption",
            max_tokens=int(o["max_tokens"]),
        )
        return [
            {
                "id": unit.key,
                "video_id": unit.video_id,
                "path": p["path"],
                "scene": p["scene"],
                "start": p["start"],
                "end": p["end"],
                "caption": caption,
                "frame_times": [round(t, 3) for t in frames.timestamps],
            }
        ]


STAGE = CaptionStage
