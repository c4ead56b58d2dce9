"""The `crop_video(start_time, end_time)` tool: schema, argument checks, and execution bound to one video.

The model never names a file: a `CropVideoTool` is created for one video (per sample) and can only ever read that
one. `execute` never raises; every problem comes back as a `CropResult` whose text tells the model what was wrong
and what a valid call looks like, so it can try again.
"""

from __future__ import annotations

import json
import math
import os
import re
import threading
from dataclasses import dataclass, field, replace
from typing import Any

from PIL import Image

from longvt_plugins.core.budget import CropBudget
from longvt_plugins.core.families import (
    DEFAULT_FAMILY,
    QWEN3_TEMPORAL_PATCH,
    QWEN3_VL,
    check_family,
    processor_times,
    qwen3_label,
    qwen3_pair_times,
)
from longvt_plugins.core.prompts import load_prompt
from longvt_plugins.core.video import (
    InvalidBudget,
    InvalidWindow,
    VideoError,
    VideoInfo,
    probe,
    sample_window,
)

__all__ = [
    "CROP_VIDEO_SCHEMA",
    "CROP_VIDEO_NAME",
    "CropBudget",
    "CropResult",
    "CropVideoTool",
    "ArgumentError",
    "parse_crop_arguments",
    "skim_text",
    "timestamped_parts",
    "label_times",
    "format_timestamps",
]

CROP_VIDEO_NAME = "crop_video"
ARGUMENT_NAMES = ("start_time", "end_time")
# Checkpoints trained on upstream LongVT's schema pass the file path as an argument. We accept the key so those
# models still work, and never read it: the tool is bound to its video.
IGNORED_LEGACY_KEYS = frozenset({"video_path"})
# Read at import, so a call never opens any file but its video.
_RESULT_TEXT = load_prompt("crop_result")
_ERROR_TEXT = load_prompt("crop_error")
_SKIM_TEXT = load_prompt("skim")

CROP_VIDEO_SCHEMA: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": CROP_VIDEO_NAME,
        "description": load_prompt("crop_video_description"),
        "parameters": {
            "type": "object",
            "properties": {
                "start_time": {"type": "number", "description": load_prompt("crop_video_start_time")},
                "end_time": {"type": "number", "description": load_prompt("crop_video_end_time")},
            },
            "required": list(ARGUMENT_NAMES),
        },
    },
}


@dataclass
class CropResult:
    ok: bool
    text: str  # the summary (on success) or the error (on failure) that the model reads
    frames: list[Image.Image] = field(default_factory=list)
    timestamps: list[float] = field(default_factory=list)
    window: tuple[float, float] | None = None  # the window actually sampled (after clamping)
    error: str | None = (
        None  # short machine-readable kind: "arguments", "window", "video", "call_limit", "internal"
    )
    requested: tuple[float, float] | None = None  # the window as the model asked for it
    notes: list[str] = field(default_factory=list)
    indices: list[int] = field(default_factory=list)  # each frame's index in the source video
    video_fps: float | None = None  # the source video's fps (Qwen3-VL's time rule: index / fps)

    def label_times(self, family: str = DEFAULT_FAMILY) -> list[float]:
        return label_times(family, self.timestamps, self.indices, self.video_fps)

    def content_parts(self, family: str = DEFAULT_FAMILY) -> list[dict[str, Any]]:
        """Each frame with its time label (as `family` reads time), then the summary: the model knows when every
        frame is from."""
        parts = timestamped_parts(self.frames, self.label_times(family), family)
        return parts + [{"type": "text", "text": self.text}]


class ArgumentError(ValueError):
    """Bad tool arguments; the message is written for the model."""


# ------------------------------------------------------------------------------------------------ text helpers
def format_timestamps(timestamps: list[float]) -> list[str]:
    """Seconds to the millisecond, without trailing zeros ("14.0", "15.25", "3.958"): exact enough to tell any
    two frames apart and never rounded to a neighbouring frame's time."""
    out = []
    for t in timestamps:
        text = f"{round(float(t), 3):.3f}".rstrip("0")
        out.append(text + "0" if text.endswith(".") else text)
    return out


def label_times(
    family: str, timestamps: list[float], indices: list[int] | None = None, video_fps: float | None = None
) -> list[float]:
    """The times `timestamped_parts` labels frames with: Qwen3-VL's processor rule (index / video fps) for a
    Qwen3-VL model when the indices are known, else the decoder's presentation times."""
    if check_family(family) == QWEN3_VL and indices and video_fps:
        return processor_times(indices, video_fps)
    return [float(t) for t in timestamps]


def timestamped_parts(
    frames: list[Image.Image], timestamps: list[float], family: str = DEFAULT_FAMILY
) -> list[dict[str, Any]]:
    """The one place that writes frame time labels (agent, verl loop, SFT rows, RL rows; core/families.py).

    Qwen2.5-VL: `<12.5s>` before each frame. Qwen3-VL: `<12.2 seconds>` before each pair of frames, the mean of
    the pair's `timestamps` (pass `label_times(...)`: Qwen3-VL's processor computes them from frame indices), the
    label its processor writes before a temporal patch of a video."""
    parts: list[dict[str, Any]] = []
    if check_family(family) == QWEN3_VL:
        frames, stamps = list(frames), list(timestamps)
        if len(frames) != len(stamps):
            raise ValueError(f"{len(frames)} frames but {len(stamps)} timestamps")
        n = QWEN3_TEMPORAL_PATCH
        for k, t in enumerate(qwen3_pair_times(stamps, n)):
            parts.append({"type": "text", "text": qwen3_label(t)})
            parts.extend({"type": "image", "image": frame} for frame in frames[k * n : (k + 1) * n])
        return parts
    for label, frame in zip(format_timestamps(list(timestamps)), frames, strict=True):
        parts.append({"type": "text", "text": f"<{label}s>"})
        parts.append({"type": "image", "image": frame})
    return parts


def _hms(seconds: float) -> str:
    s = int(round(seconds))
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    return f"{h}:{m:02d}:{sec:02d}" if h else f"{m}:{sec:02d}"


def skim_text(info: VideoInfo, timestamps: list[float]) -> str:
    """The initial-prompt text: the video's duration and when each skim frame was taken."""
    return _SKIM_TEXT.format(
        duration_hms=_hms(info.duration),
        duration=info.duration,
        num_frames=len(timestamps),
        timestamps=", ".join(format_timestamps(list(timestamps))),
    )


# ---------------------------------------------------------------------------------------------- argument checks
_CLOCK = re.compile(r"^(?:(\d+):)?(\d{1,2}):(\d{1,2}(?:\.\d+)?)$")
_SECONDS = re.compile(
    r"^([+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)\s*(?:s|sec|secs|seconds?)?$", re.IGNORECASE
)


def _number(name: str, value: Any) -> float:
    """A number of seconds from a JSON number or a string holding one ("12.5", "12.5s", "1:02:03")."""
    if isinstance(value, bool) or value is None:
        raise ArgumentError(f"{name} must be a number of seconds, got {json.dumps(value)}.")
    if isinstance(value, (int, float)):
        out = float(value)
    elif isinstance(value, str):
        text = value.strip()
        m = _SECONDS.match(text)
        c = _CLOCK.match(text)
        if m:
            out = float(m.group(1))
        elif c:
            out = int(c.group(1) or 0) * 3600 + int(c.group(2)) * 60 + float(c.group(3))
        elif text.lower().lstrip("+-") in ("nan", "inf", "infinity"):
            out = float(text)
        else:
            raise ArgumentError(f"{name} must be a number of seconds, got the string {_short(value)}.")
    else:
        raise ArgumentError(
            f"{name} must be a number of seconds, got {type(value).__name__} {_short(value)}."
        )
    if not math.isfinite(out):
        raise ArgumentError(f"{name} must be a finite number of seconds, got {value!r} (NaN or infinity).")
    return out


def _short(value: Any, limit: int = 60) -> str:
    try:
        text = json.dumps(value, ensure_ascii=False, default=repr)
    except Exception:  # a value json cannot even repr (recursive structures)
        text = repr(type(value))
    return text if len(text) <= limit else text[: limit - 3] + "..."


def json_object_arguments(arguments: Any, example: str) -> dict:
    """A tool call's arguments as a dict, from a dict or a JSON object string (every tool's first check); raises
    ArgumentError naming `example`, a JSON object the tool would accept."""
    if isinstance(arguments, (str, bytes)):
        try:
            arguments = json.loads(arguments)
        except (ValueError, UnicodeDecodeError) as e:
            raise ArgumentError(f"the arguments are not valid JSON ({e}).") from None
    if not isinstance(arguments, dict):
        raise ArgumentError(
            f"the arguments must be a JSON object like {example}, got {type(arguments).__name__} {_short(arguments)}."
        )
    return arguments


def parse_crop_arguments(arguments: Any) -> tuple[float, float, list[str]]:
    """(start, end, notes) from a dict or a JSON object string. Raises ArgumentError with a model-readable text."""
    notes: list[str] = []
    arguments = json_object_arguments(arguments, '{"start_time": 10, "end_time": 20}')
    keys = {str(k) for k in arguments}
    extra = sorted(keys - set(ARGUMENT_NAMES) - IGNORED_LEGACY_KEYS)
    missing = [k for k in ARGUMENT_NAMES if k not in keys]
    if missing or extra:
        bits = []
        if missing:
            bits.append("missing " + " and ".join(missing))
        if extra:
            bits.append("unexpected argument(s) " + ", ".join(_short(k, 30) for k in extra))
        raise ArgumentError("; ".join(bits) + "; crop_video takes exactly start_time and end_time (seconds).")
    if keys & IGNORED_LEGACY_KEYS:
        notes.append("video_path was ignored: this tool always crops the video of this question.")
    start = _number("start_time", arguments["start_time"])
    end = _number("end_time", arguments["end_time"])
    if start < 0:
        raise ArgumentError(f"start_time must be >= 0, got {start:g}.")
    if end <= start:
        raise ArgumentError(f"end_time ({end:g}) must be greater than start_time ({start:g}).")
    return start, end, notes


# ------------------------------------------------------------------------------------------------------ the tool
class CropVideoTool:
    """crop_video bound to one video file. Thread-safe; counts its calls against `budget.max_calls`."""

    name = CROP_VIDEO_NAME
    schema = CROP_VIDEO_SCHEMA

    def __init__(self, video_path: str | os.PathLike, budget: CropBudget | None = None):
        # Resolve once: a symlink swapped later, or a changed working directory, cannot redirect the tool.
        self.video_path = os.path.realpath(os.fspath(video_path))
        self.budget = budget or CropBudget()
        self.calls = 0
        self._lock = threading.Lock()
        self._info: VideoInfo | None = None

    def with_max_frames(self, max_frames: int) -> CropVideoTool:
        """The same video under a smaller per-call frame cap (a turn's frame budget shared by its crops); it
        reuses this tool's probe and counts its own calls (hosts pass `calls_made`)."""
        if max_frames >= self.budget.max_frames:
            return self
        other = CropVideoTool(self.video_path, replace(self.budget, max_frames=int(max_frames)))
        other._info = self._info
        return other

    @property
    def info(self) -> VideoInfo:
        """Probe the bound video (raises VideoError for a bad file)."""
        if self._info is None:
            self._info = probe(self.video_path, backend=self.budget.backend)
        return self._info

    def execute(self, arguments: Any, *, calls_made: int | None = None) -> CropResult:
        """Run one call. `calls_made`: the trajectory's count so far, when the host keeps it (verl may serve
        every call from a fresh tool instance); else this instance's own count is used. Never raises."""
        try:
            return self._execute(arguments, calls_made)
        except Exception as e:  # the contract is "never raise": a bug here must not kill a rollout
            text = (
                f"crop_video failed with an internal error ({type(e).__name__}: {e}). Try a different window."
            )
            return CropResult(ok=False, text=text, error="internal")

    def _other_video(self, arguments: Any) -> str | None:
        """The `video_path` a model trained on upstream's schema named, when it is not the bound video (the
        call still crops the bound video; the mismatch is kept in the result's notes and so in the trace)."""
        if isinstance(arguments, (str, bytes)):
            try:
                arguments = json.loads(arguments)
            except (ValueError, UnicodeDecodeError):
                return None
        named = arguments.get("video_path") if isinstance(arguments, dict) else None
        if not isinstance(named, str) or not named.strip():
            return None
        path = named.strip().removeprefix("file://")
        return None if os.path.realpath(path) == self.video_path else named

    def _execute(self, arguments: Any, calls_made: int | None) -> CropResult:
        with self._lock:
            self.calls += 1
            used = self.calls if calls_made is None else calls_made + 1
        if used > self.budget.max_calls:
            return CropResult(
                ok=False,
                text=(
                    f"crop_video error: the call limit of {self.budget.max_calls} crops is used up. "
                    "Answer from the frames you have already seen."
                ),
                error="call_limit",
            )
        try:
            start, end, notes = parse_crop_arguments(arguments)
        except ArgumentError as e:
            return self._error(str(e), "arguments")
        other = self._other_video(arguments)
        if other is not None:
            notes.append(f"video_path {_short(other)} is not this question's video; it was not opened.")
        try:
            info = self.info
        except VideoError as e:
            return CropResult(
                ok=False, text=f"crop_video failed: the video cannot be read: {e}", error="video"
            )
        requested = (start, end)
        if start >= info.duration:
            return self._error(
                f"start_time ({start:g}) is at or past the end of the video ({info.duration:.2f} s).",
                "window",
                requested,
            )
        if end > info.duration:
            notes.append(f"end_time {end:g} is past the end of the video; cropped to {info.duration:.2f}s.")
            end = info.duration
        try:
            got = sample_window(
                self.video_path, start, end, self.budget.frames(), backend=self.budget.backend
            )
        except (
            InvalidBudget
        ) as e:  # the host's configuration, not the model's call: say so, do not blame the window
            return CropResult(
                ok=False,
                text=f"crop_video failed: the tool is misconfigured ({e}).",
                error="internal",
                requested=requested,
            )
        except InvalidWindow:
            return self._error(
                f"the window {start:g}-{end:g}s is shorter than one frame interval of this video "
                f"({info.fps:g} fps): make it at least {2 / info.fps:.3f} s long.",
                "window",
                requested,
            )
        except VideoError as e:
            return CropResult(
                ok=False,
                text=f"crop_video failed: the video cannot be read: {e}",
                error="video",
                requested=requested,
            )
        h, w = got.size
        text = _RESULT_TEXT.format(
            num_frames=len(got),
            start=got.window[0],
            end=got.window[1],
            sample_fps=got.sample_fps,
            width=w,
            height=h,
            timestamps=", ".join(format_timestamps(got.timestamps)),
        )
        if notes:
            text += " " + " ".join(notes)
        return CropResult(
            ok=True,
            text=text,
            frames=got.to_pil(),
            timestamps=list(got.timestamps),
            window=got.window,
            requested=requested,
            notes=notes,
            indices=[int(i) for i in got.indices],
            video_fps=float(got.info.fps),
        )

    def _error(self, problem: str, kind: str, requested: tuple[float, float] | None = None) -> CropResult:
        duration = self._info.duration if self._info else None
        if duration is None:
            try:
                duration = self.info.duration
            except VideoError:
                return CropResult(
                    ok=False, text=f"crop_video error: {problem}", error=kind, requested=requested
                )
        text = _ERROR_TEXT.format(problem=problem, duration=duration)
        return CropResult(ok=False, text=text, error=kind, requested=requested)
