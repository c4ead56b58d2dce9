"""`FrameBudget`: how many frames of what size a model is shown - the one shape for every sampler and every flag.

The skim, each crop, verl's initial video, the SFT replay and the eval protocols all sample with qwen_vl_utils'
rules, which read the same seven numbers. They live here once; the named presets below are the only default sets,
and CLI flags / model args / stage options are built from the dataclass's fields (`option_names`, `from_options`),
so a new field reaches every caller without a hand-copied flag.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "FrameBudget",
    "CropBudget",
    "ZoomBudget",
    "SKIM",
    "PAPER_SKIM",
    "turn_calls_refusal",
    "share_turn_frames",
    "turn_frames_refusal",
]


@dataclass(frozen=True)
class FrameBudget:
    """qwen_vl_utils' video sampling settings: a frame rate, a frame-count range and a per-frame pixel range."""

    fps: float = 1.0
    min_frames: int = 4
    max_frames: int = 128
    min_pixels: int = 28 * 28
    max_pixels: int = 224 * 224
    total_pixels: int | None = None  # None: qwen_vl_utils' own cap for the whole clip
    patch_size: int = 14  # 14: Qwen2.5-VL, 16: Qwen3-VL (frames are resized to multiples of patch * merge)

    def validate(self) -> FrameBudget:
        """Raise ValueError naming the field when the numbers cannot describe any sample; return self."""
        if not (isinstance(self.fps, (int, float)) and math.isfinite(self.fps) and self.fps > 0):
            raise ValueError(f"fps must be a finite number > 0, got {self.fps!r}")
        for name in ("max_frames", "min_pixels", "max_pixels", "patch_size"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)!r}")
        if self.min_frames > self.max_frames:
            raise ValueError(f"min_frames {self.min_frames} > max_frames {self.max_frames}")
        if self.min_pixels > self.max_pixels:
            raise ValueError(f"min_pixels {self.min_pixels} > max_pixels {self.max_pixels}")
        return self

    def replace(self, **changes: Any) -> FrameBudget:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in dataclasses.fields(cls))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None, base: FrameBudget | None = None) -> FrameBudget:
        """`base` (default: the class defaults) with the fields of `data`; an unknown key is an error."""
        data = dict(data or {})
        unknown = sorted(set(data) - set(cls.field_names()))
        if unknown:
            raise ValueError(
                f"unknown {cls.__name__} key(s) {unknown}; known: {', '.join(cls.field_names())}"
            )
        start = base if base is not None else cls()
        return dataclasses.replace(start, **{k: _coerce(start, k, v) for k, v in data.items()})

    # -------------------------------------------------------------------- flat options (flags, model args)
    @classmethod
    def option_names(cls, prefix: str = "") -> dict[str, str]:
        """{flat option name: field name}, e.g. prefix "crop_" -> {"crop_fps": "fps", ...}."""
        return {prefix + name: name for name in cls.field_names()}

    @classmethod
    def from_options(cls, options: Mapping[str, Any], prefix: str, base: FrameBudget) -> FrameBudget:
        """`base` with every `<prefix><field>` of `options` that is not None (a flag left unset keeps the base)."""
        picked = {
            field: options[key]
            for key, field in cls.option_names(prefix).items()
            if options.get(key) is not None
        }
        return cls.from_dict(picked, base)


def _coerce(budget: FrameBudget, name: str, value: Any) -> Any:
    """Flags and YAML hand strings or ints; keep each field's type (fps a float, counts ints, None stays None)."""
    if value is None:
        return None
    kind = {f.name: f.type for f in dataclasses.fields(budget)}[name]
    if kind.startswith("float"):
        return float(value)
    if kind.startswith("int"):
        return int(value)
    return value


# The named budgets: every default frame count / pixel size in the project is one of these.
# Skim: 1 fps up to 64 frames of at most 224x224 px (~64 visual tokens each for Qwen2.5-VL), ~4k prompt tokens
# for a long video before any crop. Also verl's initial video for RL (upstream LongVT RL: 1 fps).
SKIM = FrameBudget(max_frames=64)
# The paper's dense-frame evaluation skim (LongVT README/FAQ): 1 fps capped at 768 frames of 50,176 px.
PAPER_SKIM = SKIM.replace(max_frames=768)


@dataclass(frozen=True)
class CropBudget(FrameBudget):
    """One crop_video call's frames plus the tool's own limits. Its defaults are the crop preset: upstream LongVT's
    crop server (1 fps, up to 128 frames, 28*28..224*224 px) and RL call cap (5)."""

    min_frames: int = 2  # qwen_vl_utils rounds up to an even count, so upstream's 1 means 2
    max_calls: int = 5
    backend: str | None = None  # video decoder; None: the first that works

    def frames(self) -> FrameBudget:
        """Just the sampling part (what a trace or a card records as the crop's frame budget)."""
        return FrameBudget(**{k: getattr(self, k) for k in FrameBudget.field_names()})


@dataclass(frozen=True)
class ZoomBudget:
    """One zoom_frame call's image: a region of one source frame, resized by qwen_vl_utils' `smart_resize` into
    [min_pixels, max_pixels] (multiples of patch_size * 2). Not a FrameBudget: one still image has no fps or
    frame count. Defaults: never fewer pixels than a whole skim frame (224*224) and up to 4x that (448*448, ~256
    Qwen2.5-VL visual tokens), so the region gets more pixels than it had in the skim."""

    min_pixels: int = 224 * 224
    max_pixels: int = 448 * 448
    patch_size: int = 14  # 14: Qwen2.5-VL, 16: Qwen3-VL (a zoom follows the crop budget's patch size)
    max_calls: int = 5
    backend: str | None = None  # video decoder; None: the first that works

    def validate(self) -> ZoomBudget:
        for name in ("min_pixels", "max_pixels", "patch_size", "max_calls"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(f"{name} must be an integer > 0, got {value!r}")
        if self.min_pixels > self.max_pixels:
            raise ValueError(f"min_pixels {self.min_pixels} > max_pixels {self.max_pixels}")
        return self

    @classmethod
    def for_crop(cls, crop: CropBudget) -> ZoomBudget:
        """The zoom budget beside a crop budget (the registry binds every tool with the crop's): its call cap,
        patch size and decoder, this class's pixel range."""
        return cls(max_calls=crop.max_calls, patch_size=crop.patch_size, backend=crop.backend)


# ---------------------------------------------------------------------- the per-turn budget (ToolSpec)
# One place for both hosts that run several calls of one turn: the core agent (`core.agent._Run.plan_turn`) and
# verl's `longvt_tool_agent` (`verl/agent_loop.py`). The numbers are the protocol's (`ToolSpec.calls_per_turn`,
# `ToolSpec.frames_per_turn`, read through `ProtocolSession.calls_per_turn` / `frames_per_turn`).


def turn_calls_refusal(
    position: int, calls_per_turn: int, name: str, crop_name: str = "crop_video"
) -> str | None:
    """The tool message for the call at `position` (0-based, in call order) of a turn that runs at most
    `calls_per_turn` calls; None when it is within the limit. The call is not run."""
    if position < calls_per_turn:
        return None
    if name != crop_name:
        return (
            f"Error: only {calls_per_turn} tool call(s) per turn are run; this one was "
            "skipped. Look at what you got, then call again if needed."
        )
    return (
        f"Error: only {calls_per_turn} {crop_name} call(s) per turn are run; this one was "
        "skipped. Look at the frames you got, then call again if needed."
    )


def share_turn_frames(frames_per_turn: int | None, crops: int, crop: CropBudget) -> tuple[int, int | None]:
    """How the `crops` admitted crop calls of one turn share its `frames_per_turn` crop frames:
    (how many of them run, the first ones in call order; the max_frames each of those gets, None: its own cap).

    The share is equal and decided before decoding: each running crop gets `min(crop.max_frames,
    frames_per_turn // running)`; crops beyond `frames_per_turn // crop.min_frames` are refused
    (`turn_frames_refusal`). `frames_per_turn` None: no turn budget, every crop runs under its own cap."""
    if frames_per_turn is None:
        return crops, None
    fits = max(frames_per_turn // crop.min_frames, 0)
    running = min(crops, fits)
    if not running:
        return 0, None
    return running, min(crop.max_frames, frames_per_turn // running)


def turn_frames_refusal(frames_per_turn: int, crop_name: str = "crop_video") -> str:
    """The tool message for a crop refused because the earlier crops of its turn take the turn's frames."""
    return (
        f"Error: the {frames_per_turn} {crop_name} frames of one turn are taken by the earlier crops of this "
        "turn; this one was skipped. Look at the frames you got, then call again if needed."
    )
