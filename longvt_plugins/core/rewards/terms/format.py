"""``format``: 1 if the response is think -> (tool_call -> think)* -> answer, else 0 (``answer.check_format``)."""

from __future__ import annotations

from longvt_plugins.core.answer import format_score
from longvt_plugins.core.rewards.term import Sample, reward_term


@reward_term("format")
def format_term(sample: Sample) -> float:
    return 0.0 if sample.answer_too_long else format_score(sample.text)
