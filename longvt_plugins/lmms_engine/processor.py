"""`longvt_qwen2_5_vl`: lmms-engine data processor for tool-integrated Qwen2.5-VL traces.

It keeps lmms-engine's processor loading (`processor_name`, image/video pixel settings in `extra_kwargs`) and
replaces the rendering: our tool chat template over the whole conversation, exact assistant-only labels
(render.py), per-video fps (lmms-engine gives every video the last video's fps), and no `video_metadata` in the
sample (transformers 5 adds it and lmms-engine's collator cannot concatenate it).

The model family is read from the checkpoint's config (`processor_name`), never from a setting: a Qwen2.5-VL
checkpoint gets our tool template; a Qwen3-VL one keeps its own template, gets its processor's time label before
each temporal patch of a native video (`<t seconds>`, render.encode), the same labels before pairs of frame images
(media.py, core/families.py), and `mm_token_type_ids` (its stock forward needs them).

processor_config.extra_kwargs:
  chat_template: "auto" (default: "longvt" for Qwen2.5-VL, "model" for Qwen3-VL), "longvt" (our
    templates/qwen2_5_vl_tools.jinja), "model" (the checkpoint's own), or a path.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from lmms_engine.datasets.processor.qwen2_5_vl_processor import Qwen2_5_VLDataProcessor

from longvt_plugins.core.families import QWEN3_VL, checkpoint_family, qwen3_label, qwen3_pair_times
from longvt_plugins.lmms_engine import render
from longvt_plugins.lmms_engine.media import Materialized


def longvt_template() -> str:
    from importlib import resources

    return resources.files("longvt_plugins.templates").joinpath("qwen2_5_vl_tools.jinja").read_text()


class LongVTQwen25VLProcessor(Qwen2_5_VLDataProcessor):
    def build(self):
        self.processor = self._build_processor()
        self.family = checkpoint_family(self.config.processor_name)
        choice = self.config.extra_kwargs.get("chat_template", "auto")
        if choice == "auto":
            choice = "model" if self.family == QWEN3_VL else "longvt"
        if choice == "longvt":
            self.processor.chat_template = longvt_template()
        elif choice != "model":
            self.processor.chat_template = Path(choice).read_text()
        if not self.processor.chat_template:
            raise ValueError(
                f"processor {self.config.processor_name} has no chat template; use chat_template: longvt"
            )
        self.chat_template = self.processor.chat_template

    def save_pretrained(self, save_directory: str):
        clean = self._build_processor()
        clean.chat_template = self.chat_template  # checkpoints carry the template they were trained with
        clean.save_pretrained(save_directory)

    def process(self, *args, **kwargs):
        raise NotImplementedError(
            "longvt_qwen2_5_vl renders whole tool-integrated traces; use it with dataset_type: longvt_imcott"
        )

    # --------------------------------------------------------------------------------------------- ours
    @property
    def merge(self) -> int:
        return self.processor.image_processor.merge_size**2

    def _video_slots(
        self, video_tokens: list[int], video_times: list[list[float]] | None
    ) -> tuple[list[int], list[list[str]] | None]:
        """Qwen2.5-VL: one slot per video. Qwen3-VL: one slot per temporal patch, each with its time label."""
        if self.family != QWEN3_VL or not video_tokens:
            return video_tokens, None
        if video_times is None or len(video_times) != len(video_tokens):
            raise ValueError("Qwen3-VL videos need their frame times (index / fps) for the time labels")
        counts, labels = [], []
        for total, times in zip(video_tokens, video_times, strict=True):
            stamps = qwen3_pair_times(times, self.processor.video_processor.temporal_patch_size)
            labels.append([qwen3_label(t) for t in stamps])
            counts += [total // len(stamps)] * len(stamps)
        return counts, labels

    def count_tokens(
        self, messages, image_tokens: list[int], video_tokens: list[int], tools=None, video_times=None
    ) -> int:
        slots, labels = self._video_slots(video_tokens, video_times)
        ids, _ = render.encode(
            self.processor, messages, image_tokens=image_tokens, video_tokens=slots, tools=tools,
            chat_template=self.chat_template, video_labels=labels,
        )  # fmt: skip
        return len(ids)

    def encode_sample(self, sample: Materialized, tools=None) -> dict[str, Any]:
        out: dict[str, Any] = {}
        image_tokens: list[int] = []
        video_tokens: list[int] = []
        if sample.images:
            px = self.processor.image_processor(images=sample.images, return_tensors="pt")
            out["pixel_values"], out["image_grid_thw"] = px["pixel_values"], px["image_grid_thw"]
            image_tokens = [int(g.prod()) // self.merge for g in px["image_grid_thw"]]
        if sample.videos:
            vp = self.processor.video_processor
            px = vp(videos=list(sample.videos), return_tensors="pt", do_sample_frames=False)
            # transformers 5 adds video_metadata; lmms-engine's collator cannot concatenate it
            px.pop("video_metadata", None)
            out["pixel_values_videos"], out["video_grid_thw"] = (
                px["pixel_values_videos"],
                px["video_grid_thw"],
            )
            if self.family != QWEN3_VL:  # Qwen3-VL reads time from its labels, not from mRoPE
                out["second_per_grid_ts"] = torch.tensor(
                    [vp.temporal_patch_size / f for f in sample.video_fps]
                )
            video_tokens = [int(g.prod()) // vp.merge_size**2 for g in px["video_grid_thw"]]
        slots, video_labels = self._video_slots(video_tokens, sample.video_times or None)
        ids, labels = render.encode(
            self.processor, sample.messages, image_tokens=image_tokens, video_tokens=slots, tools=tools,
            chat_template=self.chat_template, video_labels=video_labels,
        )  # fmt: skip
        out["input_ids"] = torch.tensor(ids, dtype=torch.long)
        out["labels"] = torch.tensor(labels, dtype=torch.long)
        if self.family == QWEN3_VL:
            # Qwen3-VL's stock forward builds its M-RoPE index from these (0 text, 1 image, 2 video)
            types = torch.zeros_like(out["input_ids"])
            types[out["input_ids"] == self.processor.image_token_id] = 1
            types[out["input_ids"] == self.processor.video_token_id] = 2
            out["mm_token_type_ids"] = types
        return out
