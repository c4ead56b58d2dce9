"""`zoom_frame(time, bbox)`: one region of the frame on screen at `time`, at more pixels than the skim gave it.

Coordinates are normalised to 0-1000 of the frame's width and height ((0, 0) top-left, (1000, 1000) bottom-right),
like Qwen3-VL's grounding output: the same box means the same region whatever size the model saw the frame at (the
skim, a crop and a Qwen2.5-VL / Qwen3-VL resize all differ), so no frame size has to be agreed on. The region is cut
from the full-resolution source frame (`core.video.frame_at`) and resized by qwen_vl_utils' `smart_resize` into the
`ZoomBudget` pixel range, so a small region is enlarged and a large one never exceeds the budget.

Bound to the sample's own video when created; the model never names a file. `execute` never raises: bad arguments,
a time past the end, an unreadable video and the call cap all come back as a text starting `zoom_frame error:`.
Argument rules follow crop_video's: a JSON object (or a string holding one), no unknown keys, `time` as crop_video
reads seconds; box values are JSON numbers or strings holding one, finite, clamped to 0-1000 (and said so); a box
that is inverted or thinner than `MIN_SIDE` after clamping is refused.
"""

from __future__ import annotations

import json
import math
import os
import re
import threading
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PIL import Image

from longvt_plugins.core.budget import CropBudget, ZoomBudget
from longvt_plugins.core.crop_tool import (
    ArgumentError,
    format_timestamps,
    json_object_arguments,
    label_times,
    timestamped_parts,
)
from longvt_plugins.core.crop_tool import _number as seconds_argument  # crop_video's own time rules
from longvt_plugins.core.crop_tool import _short as short_json
from longvt_plugins.core.families import DEFAULT_FAMILY
from longvt_plugins.core.prompts import load_prompt
from longvt_plugins.core.tools.base import SampleResources, ToolEntry
from longvt_plugins.core.video import VideoError, VideoInfo, frame_at, probe

__all__ = ["TOOL", "ZOOM_FRAME_SCHEMA", "ZoomFrameTool", "ZoomResult", "parse_zoom_arguments"]

NAME = "zoom_frame"
ARGUMENT_NAMES = ("time", "bbox")
SCALE = 1000  # the coordinate frame: 0..SCALE on both axes, whatever the video's size
MIN_SIDE = 10  # 1% of the frame: a thinner box is a mistake, not a region (and would be all interpolation)

ZOOM_FRAME_SCHEMA: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": NAME,
        "description": load_prompt("zoom_frame_description"),
        "parameters": {
            "type": "object",
            "properties": {
                "time": {"type": "number", "description": load_prompt("zoom_frame_time")},
                "bbox": {
                    "type": "array",
                    "items": {"type": "number"},
                    "minItems": 4,
                    "maxItems": 4,
                    "description": load_prompt("zoom_frame_bbox"),
                },
            },
            "required": list(ARGUMENT_NAMES),
        },
    },
}
_EXAMPLE = '{"time": 12.5, "bbox": [250, 100, 750, 600]}'
_COORDINATE = re.compile(r"^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$")


def _how(duration: float | None) -> str:
    when = f"0 <= time <= {duration:.2f}" if duration is not None else "time >= 0"
    return (
        f"Call zoom_frame with {_EXAMPLE}: time in seconds ({when}), bbox [x1, y1, x2, y2] in 0-{SCALE} "
        f"coordinates of the frame ((0, 0) top-left, ({SCALE}, {SCALE}) bottom-right), x1 < x2, y1 < y2."
    )


@dataclass
class ZoomResult:
    ok: bool
    text: str  # the label (on success) or the error (on failure) that the model reads
    error: str | None = None  # "arguments", "window", "video", "call_limit", "internal"
    frames: list[Image.Image] = field(default_factory=list)  # the zoomed region (one image)
    timestamps: list[float] = field(default_factory=list)  # the decoder's time of the source frame
    window: tuple[float, float] | None = None  # a zoom samples no window (temporal IoU must not count it)
    notes: list[str] = field(default_factory=list)
    requested: tuple[float, tuple[float, float, float, float]] | None = None  # (time, box) after clamping
    region: tuple[float, float, float, float] | None = None  # the box in 0-1000 coordinates, clamped
    pixels: tuple[int, int, int, int] | None = None  # the box in source pixels (left, top, right, bottom)
    indices: list[int] = field(default_factory=list)
    video_fps: float | None = None
    size: tuple[int, int] | None = None  # (width, height) of the returned image

    def label_times(self, family: str = DEFAULT_FAMILY) -> list[float]:
        return label_times(family, self.timestamps, self.indices, self.video_fps)

    def content_parts(self, family: str = DEFAULT_FAMILY) -> list[dict[str, Any]]:
        """The image after its time label (as `family` reads time, like a crop's frames), then the label."""
        if not self.frames:
            return [{"type": "text", "text": self.text}]
        parts = timestamped_parts(self.frames, self.label_times(family), family)
        return parts + [{"type": "text", "text": self.text}]


# ---------------------------------------------------------------------------------------------- argument checks
def _coordinate(name: str, value: Any) -> float:
    if isinstance(value, bool) or value is None:
        raise ArgumentError(f"{name} must be a number from 0 to {SCALE}, got {json.dumps(value)}.")
    if isinstance(value, (int, float)):
        out = (
            float(value) if isinstance(value, float) or abs(value) < 10**300 else math.inf
        )  # float() overflows
    elif isinstance(value, str) and _COORDINATE.match(value.strip()):
        out = float(value.strip())
    else:
        raise ArgumentError(
            f"{name} must be a number from 0 to {SCALE}, got {type(value).__name__} {short_json(value)}."
        )
    if not math.isfinite(out):
        raise ArgumentError(f"{name} must be a finite number, got {short_json(value)}.")
    return out


def _box(value: Any) -> list[Any]:
    if isinstance(value, str):  # a model that JSON-encodes the list once more
        try:
            value = json.loads(value)
        except ValueError:
            raise ArgumentError(
                f"bbox must be a list of 4 numbers, got the string {short_json(value)}."
            ) from None
    if not isinstance(value, list) or len(value) != 4:
        got = (
            f"{len(value)} items"
            if isinstance(value, list)
            else f"{type(value).__name__} {short_json(value)}"
        )
        raise ArgumentError(f"bbox must be a list of 4 numbers [x1, y1, x2, y2], got {got}.")
    return value


def parse_zoom_arguments(arguments: Any) -> tuple[float, tuple[float, float, float, float], list[str]]:
    """(time, (x1, y1, x2, y2) clamped to 0-1000, notes) from a dict or a JSON object string. Raises ArgumentError
    with a model-readable text; the reward reads a response's zoom calls through this same function."""
    arguments = json_object_arguments(arguments, _EXAMPLE)
    keys = {str(k) for k in arguments}
    extra = sorted(keys - set(ARGUMENT_NAMES))
    missing = [k for k in ARGUMENT_NAMES if k not in keys]
    if missing or extra:
        bits = ["missing " + " and ".join(missing)] if missing else []
        if extra:
            bits.append("unexpected argument(s) " + ", ".join(short_json(k, 30) for k in extra))
        raise ArgumentError("; ".join(bits) + "; zoom_frame takes exactly time and bbox.")
    try:
        time = seconds_argument("time", arguments["time"])
    except OverflowError:  # a JSON integer too big for a float
        raise ArgumentError("time must be a finite number of seconds.") from None
    if time < 0:
        raise ArgumentError(f"time must be >= 0, got {time:g}.")
    raw = [_coordinate(n, v) for n, v in zip(("x1", "y1", "x2", "y2"), _box(arguments["bbox"]), strict=True)]
    box = [min(max(v, 0.0), float(SCALE)) for v in raw]
    notes = [
        f"{n} {r:g} was clamped to {b:g}."
        for n, r, b in zip(("x1", "y1", "x2", "y2"), raw, box, strict=True)
        if r != b
    ]
    x1, y1, x2, y2 = box
    if x2 <= x1 or y2 <= y1:
        where = " after clamping to the frame" if notes else ""
        raise ArgumentError(
            f"the box [{', '.join(f'{v:g}' for v in raw)}] is empty or inverted{where}: "
            "it needs x1 < x2 and y1 < y2."
        )
    if x2 - x1 < MIN_SIDE or y2 - y1 < MIN_SIDE:
        raise ArgumentError(
            f"the box [{', '.join(f'{v:g}' for v in box)}] is {x2 - x1:g} x {y2 - y1:g}; "
            f"make each side at least {MIN_SIDE} (of {SCALE})."
        )
    return time, (x1, y1, x2, y2), notes


def _pixels(box: tuple[float, ...], width: int, height: int) -> tuple[int, int, int, int]:
    """The box in source pixels: outward to whole pixels, at least one pixel each way."""
    left = min(int(math.floor(box[0] * width / SCALE)), width - 1)
    top = min(int(math.floor(box[1] * height / SCALE)), height - 1)
    right = max(int(math.ceil(box[2] * width / SCALE)), left + 1)
    bottom = max(int(math.ceil(box[3] * height / SCALE)), top + 1)
    return left, top, min(right, width), min(bottom, height)


# ------------------------------------------------------------------------------------------------------ the tool
class ZoomFrameTool:
    """zoom_frame bound to one video file. Thread-safe; counts its calls against `budget.max_calls`."""

    name = NAME
    schema = ZOOM_FRAME_SCHEMA

    def __init__(self, video_path: str | os.PathLike, budget: ZoomBudget | None = None):
        # Resolved once, like crop_video's video: a later symlink swap or chdir cannot redirect the tool.
        self.video_path = os.path.realpath(os.fspath(video_path))
        self.budget = (budget or ZoomBudget()).validate()
        self.calls = 0
        self._lock = threading.Lock()
        self._info: VideoInfo | None = None

    def execute(self, arguments: Any, *, calls_made: int | None = None) -> ZoomResult:
        """Run one call; `calls_made` as for crop_video (the trajectory's count, when the host keeps it)."""
        try:
            return self._execute(arguments, calls_made)
        except Exception as e:  # never raise: a bug here must not kill a rollout
            return ZoomResult(
                ok=False,
                text=f"zoom_frame error: internal error ({type(e).__name__}: {e}). {_how(None)}",
                error="internal",
            )

    def _probe(self) -> VideoInfo:
        if self._info is None:
            self._info = probe(self.video_path, backend=self.budget.backend)
        return self._info

    def _duration(self) -> float | None:
        try:
            return self._probe().duration
        except VideoError:  # an unreadable video: the call's own error says how to call, without the length
            return None

    def _error(self, problem: str, kind: str, duration: float | None = None) -> ZoomResult:
        return ZoomResult(ok=False, text=f"zoom_frame error: {problem} {_how(duration)}", error=kind)

    def _execute(self, arguments: Any, calls_made: int | None) -> ZoomResult:
        with self._lock:
            self.calls += 1
            used = self.calls if calls_made is None else calls_made + 1
        if used > self.budget.max_calls:
            return ZoomResult(
                ok=False,
                text=(
                    f"zoom_frame error: the call limit of {self.budget.max_calls} zooms is used up. "
                    "Answer from what you have already seen."
                ),
                error="call_limit",
            )
        try:
            time, box, notes = parse_zoom_arguments(arguments)
        except ArgumentError as e:
            # The duration is read before answering, so the text of a bad call never depends on whether another
            # call of the same turn happened to read the video first.
            return self._error(str(e), "arguments", self._duration())
        try:
            info = self._probe()
            if time > info.duration:
                return self._error(
                    f"time ({time:g}) is past the end of the video ({info.duration:.2f} s).",
                    "window",
                    info.duration,
                )
            got = frame_at(self.video_path, time, backend=self.budget.backend)
        except VideoError as e:
            return ZoomResult(
                ok=False, text=f"zoom_frame error: the video cannot be read: {e}", error="video"
            )
        frame = got.frames[0]
        height, width = frame.shape[:2]
        left, top, right, bottom = _pixels(box, width, height)
        from qwen_vl_utils.vision_process import smart_resize  # the resize rule every frame of ours follows

        factor = self.budget.patch_size * 2
        try:
            h, w = smart_resize(
                bottom - top,
                right - left,
                factor=factor,
                min_pixels=self.budget.min_pixels,
                max_pixels=self.budget.max_pixels,
            )
        except ValueError as e:  # an aspect ratio qwen_vl_utils refuses (> 200:1)
            return self._error(
                f"the region {right - left}x{bottom - top} px cannot be resized ({e}).", "arguments"
            )
        # The cut is a strided view: PIL would copy it pixel by pixel (`tobytes`, ~20x slower than numpy's row
        # copy on a 720p frame); a contiguous copy first gives the same image.
        cut = np.ascontiguousarray(frame[top:bottom, left:right])
        region = Image.fromarray(cut).resize((w, h), Image.BICUBIC)
        t = float(got.timestamps[0])
        stamp = format_timestamps([t])[0]
        x1, y1, x2, y2 = (f"{v:g}" for v in box)
        text = (
            f"zoom_frame: the frame at {stamp}s, region x {x1}..{x2}, y {y1}..{y2} of the {SCALE}x{SCALE} frame "
            f"(pixels {left}..{right} x {top}..{bottom} of the {width}x{height} video), shown at {w}x{h}."
        )
        if abs(t - time) > 5e-4:
            notes.insert(0, f"You asked for {format_timestamps([time])[0]}s; this is the nearest frame.")
        if notes:
            text += " " + " ".join(notes)
        return ZoomResult(
            ok=True,
            text=text,
            frames=[region],
            timestamps=[t],
            notes=notes,
            requested=(time, box),
            region=box,
            pixels=(left, top, right, bottom),
            indices=[int(i) for i in got.indices],
            video_fps=float(info.fps),
            size=(w, h),
        )


def bind(resources: SampleResources, budget: CropBudget) -> ZoomFrameTool:
    if resources.video_path is None:
        raise ValueError("zoom_frame needs the sample's video_path")
    return ZoomFrameTool(str(resources.video_path), ZoomBudget.for_crop(budget))


TOOL = ToolEntry(
    name=NAME,
    schema=ZOOM_FRAME_SCHEMA,
    parse_arguments=parse_zoom_arguments,
    bind=bind,
    reads=("video_path",),
    doc="One region (0-1000 box) of the frame at a time, cut from the full-resolution video and enlarged.",
)
