"""A time window ``(start, end)`` in seconds from whatever shape a data row carries it in."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any


def parse_segment(value: Any) -> tuple[float, float] | None:
    """A ground-truth ``[start, end]`` in seconds from a list, tuple, numpy array or JSON string; else None."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            return None
    if hasattr(value, "tolist"):  # numpy arrays, as parquet rows arrive in verl
        value = value.tolist()
    if not isinstance(value, Sequence) or isinstance(value, str) or len(value) != 2:
        return None
    try:
        start, end = float(value[0]), float(value[1])
    except (TypeError, ValueError):
        return None
    if not (math.isfinite(start) and math.isfinite(end)) or end <= start:
        return None
    return start, end
