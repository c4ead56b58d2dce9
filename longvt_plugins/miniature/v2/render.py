"""Encode a planned v2 video (H.264 through PyAV, as v1 does) with its layout beside it (`<path>.json`)."""

from __future__ import annotations

import json
from pathlib import Path

from longvt_plugins.miniature.task import colour_frame, encode_video
from longvt_plugins.miniature.v2.layout import FPS, VideoV2


def render_video(video: VideoV2) -> None:
    frames = {}  # a colour's frame is the same array every time: build each once
    encode_video(
        video.path,
        (frames.setdefault(n, colour_frame(n)) for n in map(video.colour_at, range(video.duration * FPS))),
        FPS,
    )
    Path(str(video.path) + ".json").write_text(json.dumps(video.to_json()))


def load_layout(path: str | Path) -> VideoV2:
    """The layout written beside a rendered video (`path` is the video's path)."""
    return VideoV2.from_json(json.loads(Path(str(path) + ".json").read_text()))


def ensure_rendered(video: VideoV2) -> None:
    """Render unless the file and a manifest of exactly this layout are already there (reruns are cheap)."""
    meta = Path(video.path + ".json")
    if not (Path(video.path).exists() and meta.exists() and load_layout(video.path) == video):
        render_video(video)
