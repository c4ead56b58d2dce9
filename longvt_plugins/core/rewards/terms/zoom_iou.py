"""``zoom_iou``: region IoU of the last zoom_frame call with the ground-truth evidence box; counts only when the
sample has one (``extra_info["evidence_box"]``, see ``rewards/evidence.py``), so it is off for every other sample.

A zoom outside the evidence's time span scores 0 (the right region at the wrong moment is not the evidence). Calls
that failed earn nothing: the tool's own record (``zooms``: ``[time, x1, y1, x2, y2]`` per successful call) is the
truth; without one, the zoom_frame calls the environment answered are read from the response with the tool's own
argument parser (clamped as the tool clamps them), as the ``iou`` term reads crops.
"""

from __future__ import annotations

from longvt_plugins.core.rewards.evidence import region_iou
from longvt_plugins.core.rewards.term import Sample, TermValue, reward_term
from longvt_plugins.core.toolcall import parse_tool_calls


def _has_box(sample: Sample) -> bool:
    return sample.evidence is not None


def zooms_in_text(text: str) -> list[tuple[float, float, float, float, float]]:
    """``(time, x1, y1, x2, y2)`` of every closed zoom_frame call in the response that the tool would accept."""
    # Imported here: the tool module loads the video stack, which text parsing must not pay for.
    from longvt_plugins.core.crop_tool import ArgumentError
    from longvt_plugins.core.tools.zoom_frame import NAME, parse_zoom_arguments

    out = []
    for call in parse_tool_calls(text or "", closed_only=True).calls:
        if call.name != NAME:
            continue
        try:
            time, box, _ = parse_zoom_arguments(call.arguments)
        except ArgumentError:
            continue
        out.append((time, *box))
    return out


@reward_term("zoom_iou", extra_keys=("has_evidence_box",), counts=_has_box)
def zoom_iou(sample: Sample) -> TermValue:
    if sample.evidence is None:
        return 0.0
    if sample.zooms is not None:
        seen = sample.zooms
    elif "<tool_response>" in sample.text:
        seen = zooms_in_text(sample.text)
    else:
        seen = []
    span, box = sample.evidence
    value = 0.0
    if seen:
        time, *region = seen[-1]
        if span is None or span[0] <= time <= span[1]:
            value = region_iou(tuple(region), box)
    return value, {"has_evidence_box": 1.0}
