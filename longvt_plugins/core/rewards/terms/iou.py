"""``iou``: temporal IoU of the last crop window with the ground-truth segment; counts only when there is one."""

from __future__ import annotations

from longvt_plugins.core.answer import crop_windows, temporal_iou
from longvt_plugins.core.rewards.term import Sample, reward_term


def _has_segment(sample: Sample) -> bool:
    return sample.segment is not None


@reward_term("iou", counts=_has_segment)
def iou(sample: Sample) -> float:
    if sample.segment is None:
        return 0.0
    if sample.windows is not None:  # the tool's own record (clipped, successful calls only) is the truth
        seen = sample.windows
    elif "<tool_response>" in sample.text:  # no record from the host: the calls the environment answered
        seen = crop_windows(sample.text)
    else:
        seen = []
    return temporal_iou(seen[-1], sample.segment) if seen else 0.0
