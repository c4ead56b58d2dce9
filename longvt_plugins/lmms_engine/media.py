"""Turn a checked row into template messages plus the pixels and token counts of its images and videos.

Videos (whole or sub-clip) are sampled by `core.video` (qwen_vl_utils' frame-count and resize rules, the same ones
the verl rollout and the eval client apply). A replayed tool turn is re-made by running the real crop tool on the
arguments the assistant wrote, so SFT shows the model exactly what the tool returns at RL / eval time: each frame
as an image preceded by its timestamp text, then the tool's summary text.

`measure()` gives the exact token count of every image / video without decoding a video: frame count and size come
from the probe and qwen_vl_utils' plan, and the token count from the HF processor's own patch-count functions.
(Replayed crops are run, since the tool's text is part of the sample.)
"""

from __future__ import annotations

import base64
import io
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PIL import Image

from longvt_plugins.core.budget import FrameBudget
from longvt_plugins.core.families import DEFAULT_FAMILY, PATCH_SIZES, check_family, processor_times
from longvt_plugins.core.trace_rows import BadRow, CropReplay, ImageRef, TraceRow, VideoRef

# lmms-engine's own defaults for a video_url (min_frames=1 rounds up to 2 frames); the dataset config and a row's
# part may override them.
VIDEO_DEFAULTS = FrameBudget(min_frames=1, max_frames=768, min_pixels=3136, max_pixels=768 * 28 * 28)


@dataclass
class Materialized:
    messages: list[
        dict[str, Any]
    ]  # template input: every media part is {"type": "image"} / {"type": "video"}
    images: list[Image.Image] = field(default_factory=list)
    videos: list[np.ndarray] = field(default_factory=list)  # T x H x W x 3 uint8, already resized
    video_fps: list[float] = field(default_factory=list)  # per video: the sample fps (-> second_per_grid_ts)
    video_times: list[list[float]] = field(
        default_factory=list
    )  # per video: frame index / fps (Qwen3-VL labels)


class MediaLoader:
    def __init__(
        self,
        data_folder: str | None = None,
        video_defaults: dict[str, Any] | None = None,
        crop_budget: dict[str, Any] | None = None,
        family: str = DEFAULT_FAMILY,
    ):
        self.data_folder = data_folder or None
        # The model's family: how frames are labelled with their times and the patch size they are resized to.
        self.family = check_family(family)
        patch = {"patch_size": PATCH_SIZES[family]}
        given = {
            k: v for k, v in (video_defaults or {}).items() if v is not None
        }  # None: lmms-engine's default
        self.video_defaults = FrameBudget.from_dict({**patch, **given}, VIDEO_DEFAULTS)
        self.crop_budget = {**patch, **dict(crop_budget or {})}

    # ------------------------------------------------------------------------------------------------ paths
    def path(self, url: str, rid: str) -> str:
        p = url[7:] if url.startswith("file://") else url
        if self.data_folder and not os.path.isabs(p):
            p = os.path.join(self.data_folder, p)
        if not os.path.isfile(p):
            raise BadRow(rid, f"missing media file {p}")
        return p

    def _image(self, ref: ImageRef, rid: str) -> Image.Image:
        if ref.url.startswith("data:"):
            try:
                raw = base64.b64decode(ref.url.split(",", 1)[1])
                return Image.open(io.BytesIO(raw)).convert("RGB")
            except Exception as e:
                raise BadRow(rid, f"undecodable data: URL image ({e})") from None
        try:
            return Image.open(self.path(ref.url, rid)).convert("RGB")
        except BadRow:
            raise
        except Exception as e:
            raise BadRow(rid, f"unreadable image {ref.url} ({e})") from None

    def _video_budget(self, ref: VideoRef, rid: str) -> FrameBudget:
        try:
            return FrameBudget.from_dict(ref.options, self.video_defaults)
        except (TypeError, ValueError) as e:
            raise BadRow(rid, f"video {ref.url}: bad sampling settings ({e})") from None

    def _crop(self, ref: CropReplay, rid: str):
        from longvt_plugins.core.crop_tool import CropBudget, CropVideoTool

        # The row's own crop budget (what the teacher's crops used) wins over the dataset's crop_budget.
        try:
            budget = CropBudget.from_dict({**self.crop_budget, **(ref.budget or {})})
        except (TypeError, ValueError) as e:
            raise BadRow(rid, f"replayed crop: bad crop budget ({e})") from None
        tool = CropVideoTool(self.path(ref.video, rid), budget=budget)
        return tool.execute(dict(ref.arguments))

    def _replayed_tool_turn(
        self, row: TraceRow, msg: dict[str, Any]
    ) -> tuple[dict[str, Any], list[Image.Image]]:
        """The tool message of a replayed crop (image placeholders in place) and its frames, in order."""
        result = self._crop(row.media[msg["ref"]], row.row_id)
        parts, images = [], []
        for p in result.content_parts(self.family):
            if p["type"] == "image":
                images.append(p["image"])
                parts.append({"type": "image"})
            else:
                parts.append({"type": "text", "text": p["text"]})
        return {"role": "tool", "content": parts}, images

    # ------------------------------------------------------------------------------------------------ load
    def _sample(self, ref: VideoRef, rid: str):
        from longvt_plugins.core.video import VideoError, sample_window

        budget = self._video_budget(ref, rid)
        try:
            return sample_window(self.path(ref.url, rid), ref.start, ref.end, budget)
        except VideoError as e:
            raise BadRow(rid, f"video {ref.url}: {e}") from None

    def load(self, row: TraceRow) -> Materialized:
        out = Materialized(messages=[])
        for msg in row.messages:
            if msg["role"] == "tool" and msg.get("content") is None:
                message, images = self._replayed_tool_turn(row, msg)
                out.messages.append(message)
                out.images.extend(images)
                continue
            parts = []
            for p in msg["content"]:
                if p["type"] == "image":
                    out.images.append(self._image(row.media[p["ref"]], row.row_id))
                elif p["type"] == "video":
                    ref = row.media[p["ref"]]
                    got = self._sample(ref, row.row_id)
                    if ref.as_frames:
                        images, frame_parts = _as_frames(got, self.family)
                        out.images.extend(images)
                        parts.extend(frame_parts)
                        continue
                    out.videos.append(np.stack(got.frames))
                    out.video_fps.append(float(got.sample_fps))
                    out.video_times.append(processor_times(got.indices, got.info.fps))
                parts.append({k: v for k, v in p.items() if k != "ref"})
            out.messages.append({**msg, "content": parts})
        return out

    # ------------------------------------------------------------------------------------------------ measure
    def measure(
        self, row: TraceRow, processor
    ) -> tuple[list[dict[str, Any]], list[int], list[int], list[list[float]]]:
        """(template messages, image token counts, video token counts, video frame times (index / fps)) without
        decoding any video."""
        from longvt_plugins.core.video import VideoError, _target_size, plan_window, probe

        merge = processor.image_processor.merge_size**2
        vmerge = processor.video_processor.merge_size**2
        messages, img, vid, times = [], [], [], []
        for msg in row.messages:
            if msg["role"] == "tool" and msg.get("content") is None:
                message, images = self._replayed_tool_turn(row, msg)
                messages.append(message)
                for image in images:
                    w, h = image.size
                    img.append(processor.image_processor.get_number_of_image_patches(h, w, {}) // merge)
                continue
            parts = []
            for p in msg["content"]:
                ref = row.media[p["ref"]] if "ref" in p else None
                # as_frames: decoded here, since the labels are the sampled frames' timestamps
                if isinstance(ref, VideoRef) and ref.as_frames:
                    images, frame_parts = _as_frames(self._sample(ref, row.row_id), self.family)
                    parts.extend(frame_parts)
                    for image in images:
                        w, h = image.size
                        img.append(processor.image_processor.get_number_of_image_patches(h, w, {}) // merge)
                    continue
                parts.append({k: v for k, v in p.items() if k != "ref"})
                if p["type"] == "image":
                    if ref.url.startswith("data:"):
                        w, h = self._image(ref, row.row_id).size
                    else:
                        with Image.open(self.path(ref.url, row.row_id)) as im:
                            w, h = im.size
                    img.append(processor.image_processor.get_number_of_image_patches(h, w, {}) // merge)
                elif p["type"] == "video":
                    b = self._video_budget(ref, row.row_id)
                    try:
                        info = probe(self.path(ref.url, row.row_id))
                        idx, _ = plan_window(
                            info,
                            ref.start,
                            ref.end,
                            fps=b.fps,
                            min_frames=b.min_frames,
                            max_frames=b.max_frames,
                        )
                        h, w = _target_size(
                            info.height, info.width, len(idx), b.min_pixels, b.max_pixels, b.total_pixels,
                            processor.video_processor.patch_size,
                        )  # fmt: skip
                    except VideoError as e:
                        raise BadRow(row.row_id, f"video {ref.url}: {e}") from None
                    vid.append(_video_patches(processor.video_processor, len(idx), h, w) // vmerge)
                    times.append(processor_times(idx, info.fps))
            messages.append({**msg, "content": parts})
        return messages, img, vid, times


def _as_frames(got, family: str) -> tuple[list[Image.Image], list[dict[str, Any]]]:
    """A sampled video as the agent shows it: frame image placeholders, each labelled with its time as `family`
    reads it (crop_tool.timestamped_parts)."""
    from longvt_plugins.core.crop_tool import label_times, timestamped_parts

    images, parts = [], []
    stamps = label_times(family, got.timestamps, got.indices, got.info.fps)
    for q in timestamped_parts(got.to_pil(), stamps, family):
        if q["type"] == "image":
            images.append(q["image"])
            parts.append({"type": "image"})
        else:
            parts.append(q)
    return images, parts


def _video_patches(vp, frames: int, h: int, w: int) -> int:
    """Vision patches of a video of `frames` frames sampled at h x w, as `encode_sample` will get them.
    Qwen2-VL's video processor says it; Qwen3-VL's (transformers 5.8.1) has no such method and resizes again
    under a pixel budget for the whole clip, so it is asked with a blank clip of that shape (cheap: no decode)."""
    if hasattr(vp, "get_num_of_video_patches"):
        return vp.get_num_of_video_patches(frames, h, w, {})
    blank = np.zeros((frames, h, w, 3), dtype=np.uint8)
    grid = vp(videos=[blank], return_tensors="pt", do_sample_frames=False)["video_grid_thw"][0]
    return int(grid.prod())
