"""crop_video as LongVT's MCP server answered it (the `upstream` protocol's tool checks and error texts).

Rebuilt from the behaviour of LongVT's `examples/video_tools/mcp_server.py` (facts in tests/upstream_facts.py),
with one rule of ours kept: the tool is bound to the sample's video and never opens another file. (Arguments holding JSON null / true / false never reached
upstream's server: its harness `eval()`s them and the whole sample failed; see docs/protocols.md.) A `video_path`
that is not the one the prompt named gets upstream's "Video file not found" text whether or not such a file
exists (upstream would have cropped an existing other file; we do not look). Checks run in upstream's order:
missing arguments, empty path, negative start, end <= start, path, start past the end, end past the end (an error:
upstream did not clamp). Times are floats as pydantic made them (`20` reads "20.0"), the duration is the bound
video's frames / fps with two decimals. The texts returned are the exception messages; the protocol's
`upstream_tool_error` prompt adds FastMCP's "Error executing tool crop_video: " in front.
"""

from __future__ import annotations

import math
import os
from typing import Any

from longvt_plugins.core.crop_tool import CropResult, CropVideoTool
from longvt_plugins.core.video import InvalidWindow, VideoError, sample_window

ARGUMENTS = ("video_path", "start_time", "end_time")


def unknown_tool_text(name: str) -> str:
    """FastMCP's reply to a call of a tool it does not have (no "Error executing tool" prefix)."""
    return f"Unknown tool: {name}"


def _seconds(name: str, value: Any) -> float:
    """A float as pydantic's lax mode makes one of a JSON number or numeric string; else our own message
    (pydantic's validation text is not reproduced)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError(f"{name}: Input should be a valid number")
    try:
        out = float(value)
    except ValueError:
        raise ValueError(
            f"{name}: Input should be a valid number, unable to parse string as a number"
        ) from None
    if not math.isfinite(out):
        raise ValueError(f"{name}: Input should be a finite number")
    return out


def _same_video(named: str, prompt_path: str, bound: str) -> bool:
    # Compared as strings only: the model's path is never looked up on disk.
    return named in (prompt_path, bound) or os.path.normpath(named) in (prompt_path, bound)


def execute(tool: CropVideoTool, arguments: Any, prompt_path: str) -> CropResult:
    """One call, as upstream's server would have answered it for the video named in the prompt."""
    try:
        return _execute(tool, arguments, prompt_path)
    except ValueError as exc:
        return CropResult(ok=False, text=str(exc), error="arguments")


def _execute(tool: CropVideoTool, arguments: Any, prompt_path: str) -> CropResult:
    args = arguments if isinstance(arguments, dict) else {}
    for name in ARGUMENTS:
        if args.get(name) is None:
            raise ValueError(f"{name} parameter is required")
    path = args["video_path"]
    if not isinstance(path, str):
        raise ValueError("video_path: Input should be a valid string")
    start, end = _seconds("start_time", args["start_time"]), _seconds("end_time", args["end_time"])
    if not path or path.strip() == "":
        raise ValueError("video_path cannot be empty")
    if start < 0:
        raise ValueError(f"start_time must be non-negative, got {start}")
    if end <= start:
        raise ValueError(f"end_time ({end}) must be greater than start_time ({start})")
    if not _same_video(path, prompt_path, tool.video_path):
        return CropResult(ok=False, text=f"Video file not found: {path}", error="video")
    try:
        info = tool.info
    except VideoError:
        return CropResult(ok=False, text=f"Cannot open video file: {path}", error="video")
    duration = info.duration
    if start >= duration:
        raise ValueError(f"start_time ({start}s) exceeds video duration ({duration:.2f}s)")
    if end > duration:
        raise ValueError(f"end_time ({end}s) exceeds video duration ({duration:.2f}s)")
    try:
        got = sample_window(tool.video_path, start, end, tool.budget.frames(), backend=tool.budget.backend)
    except (InvalidWindow, VideoError) as exc:
        return CropResult(ok=False, text=f"Failed to process video {path}: {exc}", error="video")
    return CropResult(
        ok=True,
        text="",
        frames=got.to_pil(),
        timestamps=list(got.timestamps),
        window=got.window,
        requested=(start, end),
    )
