"""Which model family a checkpoint is, read from its config, and how that family is told when a frame was taken.

Every host asks `checkpoint_family` (never a user flag) and hands the answer to `crop_tool.timestamped_parts`,
the one place that writes a frame's time label:

- Qwen2.5-VL (`qwen2_5_vl`) places frames in time with absolute-time mRoPE; it has no time text of its own. We write
  `<12.5s>` (the decoder's time, to the millisecond) before each frame image.
- Qwen3-VL (`qwen3_vl`, `qwen3_vl_moe`) reads time from text. Its processor writes `<{t:.1f} seconds>` before each
  temporal patch of two frames, `t` being the mean of the pair's times `frame_index / video_fps` (an odd last frame
  is paired with itself). We write the same label, computed by the same rule, before each pair of frame images.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

QWEN2_5_VL = "qwen2_5_vl"
QWEN3_VL = "qwen3_vl"
FAMILIES = (QWEN2_5_VL, QWEN3_VL)
DEFAULT_FAMILY = (
    QWEN2_5_VL  # what a host assumes when no checkpoint config can be read (LongVT's released models)
)
# model_type in a checkpoint's config.json -> family
MODEL_TYPES = {"qwen2_5_vl": QWEN2_5_VL, "qwen3_vl": QWEN3_VL, "qwen3_vl_moe": QWEN3_VL}
# vision patch size per family (frames are resized to multiples of patch * 2)
PATCH_SIZES = {QWEN2_5_VL: 14, QWEN3_VL: 16}
# Qwen3-VL's video processor merges this many consecutive frames into one temporal patch (temporal_patch_size).
QWEN3_TEMPORAL_PATCH = 2


class UnknownFamily(ValueError):
    """The checkpoint's model_type is not one this package knows how to prompt."""


def family_of(model_type: str | None) -> str:
    """The family of a config's model_type; raises UnknownFamily for any other."""
    family = MODEL_TYPES.get(str(model_type))
    if family is None:
        raise UnknownFamily(
            f"model_type {model_type!r} is not supported; expected one of {sorted(MODEL_TYPES)}"
        )
    return family


def checkpoint_family(checkpoint: str | Path) -> str:
    """The family of a checkpoint folder (or a Hub id found through the hub cache), from its config.json."""
    from longvt_plugins.core.checkpoints import resolve_checkpoint

    config = json.loads((resolve_checkpoint(checkpoint) / "config.json").read_text())
    return family_of(config.get("model_type"))


def local_family(name: str | Path | None) -> str:
    """The family of `name` when it is a local checkpoint folder with a readable config, else DEFAULT_FAMILY
    (a served model's id that names no folder here; nothing is downloaded)."""
    if not name:
        return DEFAULT_FAMILY
    try:
        config = json.loads((Path(str(name)) / "config.json").read_text())
    except (OSError, ValueError, TypeError):
        return DEFAULT_FAMILY
    return family_of(config.get("model_type"))


def model_family(name: str | Path | None) -> str:
    """`checkpoint_family` for a folder or a Hub id in the hub cache; DEFAULT_FAMILY when neither is found."""
    from longvt_plugins.core.checkpoints import CheckpointNotFound

    if not name:
        return DEFAULT_FAMILY
    try:
        return checkpoint_family(name)
    except (CheckpointNotFound, OSError, ValueError) as exc:
        if isinstance(exc, UnknownFamily):
            raise
        return DEFAULT_FAMILY


def check_family(family: str) -> str:
    if family not in FAMILIES:
        raise UnknownFamily(f"family {family!r} is not one of {list(FAMILIES)}")
    return family


def processor_times(indices: Sequence[int], video_fps: float) -> list[float]:
    """Each frame's time as Qwen3-VL's processor computes it: its index in the source video over the video's fps."""
    return [int(i) / float(video_fps) for i in indices]


def qwen3_pair_times(times: Sequence[float], patch: int = QWEN3_TEMPORAL_PATCH) -> list[float]:
    """One time per temporal patch: the mean of its first and last frame (an odd tail repeats the last frame)."""
    t = [float(x) for x in times]
    if t and len(t) % patch:
        t += [t[-1]] * (patch - len(t) % patch)
    return [(t[i] + t[i + patch - 1]) / 2 for i in range(0, len(t), patch)]


def qwen3_label(seconds: float) -> str:
    """The text Qwen3-VL's processor writes before a temporal patch."""
    return f"<{seconds:.1f} seconds>"
