"""Thumbnails for traces saved without them, re-sampled from the video itself.

Sampling is deterministic: the same video, window and budget give the same frames (core.video follows
qwen_vl_utils' rules). So the skim and every crop of a trace can be re-sampled with the budgets the trace recorded,
and each frame is matched to the trace's frame keys by timestamp. A frame that does not match is left without a
thumbnail; it is never replaced by a neighbour.
"""

from __future__ import annotations

from pathlib import Path

from longvt_plugins.core.agent import AgentBudgets, thumbnail_data_url
from longvt_plugins.core.trace import Trace, frame_key
from longvt_plugins.core.video import VideoError, sample_video, sample_window


def fill_thumbnails(trace: Trace, size: int = 160) -> int:
    """Add the missing thumbnails of `trace` from its video; returns how many were added (0 if no video)."""
    path = trace.video.get("path")
    if not path or not Path(path).is_file():
        return 0
    budgets = AgentBudgets.from_dict(trace.budgets)
    added = 0
    try:
        skim = [float(t) for t in trace.skim.get("timestamps", [])]
        if skim and any(frame_key("skim", t) not in trace.thumbnails for t in skim):
            got = sample_video(path, budgets.skim)
            added += _match(trace, "skim", skim, got, size)
        for c in trace.crops:
            wanted = [float(t) for t in c.timestamps]
            source = f"crop{c.index}"
            if not c.ok or not wanted or all(frame_key(source, t) in trace.thumbnails for t in wanted):
                continue
            got = sample_window(path, c.start, c.end, budgets.crop.frames())
            added += _match(trace, source, wanted, got, size)
    except VideoError:
        return added  # a moved or damaged video: show what we have
    return added


def _match(trace: Trace, source: str, wanted: list[float], got, size: int) -> int:
    keys = {frame_key(source, t) for t in wanted}
    added = 0
    for t, image in zip(got.timestamps, got.to_pil(), strict=True):
        key = frame_key(source, float(t))
        if key in keys and key not in trace.thumbnails:
            trace.thumbnails[key] = thumbnail_data_url(image, size)
            added += 1
    return added
