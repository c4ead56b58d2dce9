"""``tool``: 1 if a tool was called and the answer is right (acc >= 0.5); upstream's optional bonus."""

from __future__ import annotations

from longvt_plugins.core.rewards.term import Sample, reward_term


@reward_term("tool")
def tool_use(sample: Sample) -> float:
    return float(sample.tool_calls > 0 and sample.values["acc"] >= 0.5)
