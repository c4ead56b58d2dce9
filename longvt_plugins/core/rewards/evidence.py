"""A ground-truth evidence box ``(time span, (x1, y1, x2, y2))`` from whatever shape a data row carries it in.

The box is in zoom_frame's coordinates (0-1000 of the frame's width and height, (0, 0) top-left), so it does not
depend on the video's or any resized frame's size. The time says when the box holds: ``[start, end]`` seconds, or one
number ``t`` meaning ``[t - EVIDENCE_TIME_SLACK, t + EVIDENCE_TIME_SLACK]`` (a zoom lands on the nearest frame, so a
point in time needs some slack); no time: the box holds for the whole video.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

from longvt_plugins.core.rewards.segment import parse_segment

EVIDENCE_TIME_SLACK = 0.5  # seconds either side of a point in time
Box = tuple[float, float, float, float]
Evidence = tuple[tuple[float, float] | None, Box]


def _box(value: Any) -> Box | None:
    if hasattr(value, "tolist"):  # numpy arrays, as parquet rows arrive in verl
        value = value.tolist()
    if not isinstance(value, Sequence) or isinstance(value, str) or len(value) != 4:
        return None
    try:
        x1, y1, x2, y2 = (float(v) for v in value)
    except (TypeError, ValueError):
        return None
    if not all(math.isfinite(v) for v in (x1, y1, x2, y2)) or x2 <= x1 or y2 <= y1:
        return None
    return x1, y1, x2, y2


def parse_evidence_box(value: Any) -> Evidence | None:
    """``{"bbox": [x1, y1, x2, y2], "time": t | [start, end]}`` (a dict or its JSON), or a bare box; else None."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            return None
    if not isinstance(value, Mapping):
        box = _box(value)
        return None if box is None else (None, box)
    box = _box(value.get("bbox", value.get("box")))
    if box is None:
        return None
    when = value.get("time")
    if when is None:
        return None, box
    if isinstance(when, int | float) and not isinstance(when, bool) and math.isfinite(when):
        return (max(0.0, when - EVIDENCE_TIME_SLACK), when + EVIDENCE_TIME_SLACK), box
    span = parse_segment(when)
    return (span, box) if span is not None else None


def region_iou(a: Sequence[float] | None, b: Sequence[float] | None) -> float:
    """Intersection over union of two (x1, y1, x2, y2) boxes; 0 for a missing or empty box."""
    if a is None or b is None:
        return 0.0
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    areas = [max(0.0, r[2] - r[0]) * max(0.0, r[3] - r[1]) for r in (a, b)]
    union = sum(areas) - iw * ih
    return iw * ih / union if union > 0 else 0.0
