"""``compute_reward``: the configured terms of ``rewards/terms/``, weighted and summed, as one dict.

``score = sum(weight * value)`` over the terms of ``RewardConfig`` whose ``counts`` holds for the sample (the
IoU term counts only for samples with a ground-truth segment, the zoom IoU term only for samples with an evidence
box; upstream default weights 1, 1, 1; range [0, 3], [0, 4] with an evidence box).

Every call returns exactly ``REWARD_KEYS`` with float values, whatever happened: verl takes the extra-info keys
from the first sample of a batch and indexes every other sample by them.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import Any

import longvt_plugins.core.rewards.terms  # noqa: F401 - registers every term
from longvt_plugins.core.answer import count_tool_calls, extract_answer
from longvt_plugins.core.judge import JudgeClient
from longvt_plugins.core.rewards.config import RewardConfig, term_names
from longvt_plugins.core.rewards.evidence import parse_evidence_box
from longvt_plugins.core.rewards.segment import parse_segment
from longvt_plugins.core.rewards.term import TERMS, Sample, Term


def _configured_terms() -> tuple[Term, ...]:
    names = term_names()
    missing = [n for n in names if n not in TERMS]
    unweighted = sorted(set(TERMS) - set(names))
    if missing or unweighted:
        raise RuntimeError(
            f"reward terms and RewardConfig disagree: weights without a term {missing}, "
            f"terms without a <name>_weight field {unweighted}"
        )
    return tuple(TERMS[n] for n in names)


_TERMS = _configured_terms()

# Facts about the sample that every result reports, whatever the terms.
_SAMPLE_KEYS = {
    "tool_calls": "tool calls in the trajectory",
    "has_answer": "1 if an answer could be extracted",
    "has_segment": "1 if the sample has a ground-truth segment (so iou is part of score)",
    "answer_too_long": "1 if the answer exceeded max_answer_chars (acc and format forced to 0)",
}
REWARD_KEYS: tuple[str, ...] = (
    "score",  # the weighted sum: the reward the policy is trained on
    *(t.name for t in _TERMS),
    "tool_calls",
    *(key for t in _TERMS for key in t.extra_keys),
    "has_answer",
    "has_segment",
    "answer_too_long",
)


def empty_reward() -> dict[str, float]:
    return dict.fromkeys(REWARD_KEYS, 0.0)


async def compute_reward(
    solution_str: str,
    ground_truth: str,
    *,
    question: str | None = None,
    segment: Any = None,
    tool_calls: int | None = None,
    windows: Sequence[Sequence[float]] | None = None,
    evidence_box: Any = None,
    zooms: Sequence[Sequence[float]] | None = None,
    judge: JudgeClient | None = None,
    config: RewardConfig = RewardConfig(),  # frozen, so sharing the default is safe
) -> dict[str, float]:
    """The reward of one response.

    ``tool_calls`` and ``windows`` (the windows the tool really sampled, in order; ``[]`` when none succeeded)
    come from the tool's counters when the host has them; ``None`` means "read them from the response text".
    ``evidence_box`` (``rewards/evidence.py``) turns on the ``zoom_iou`` term; ``zooms`` are the zoom tool's
    ``[time, x1, y1, x2, y2]`` records, like ``windows``.
    """
    out = empty_reward()
    text = solution_str or ""
    answer = extract_answer(text)
    gt_segment = parse_segment(segment)
    sample = Sample(
        text=text,
        answer=answer,
        answer_too_long=answer is not None and len(answer) >= config.max_answer_chars,
        ground_truth=str(ground_truth),
        question=question,
        segment=gt_segment,
        tool_calls=tool_calls if tool_calls is not None else count_tool_calls(text),
        windows=None if windows is None else [w for w in map(parse_segment, windows) if w is not None],
        evidence=parse_evidence_box(evidence_box),
        zooms=None if zooms is None else [tuple(map(float, z)) for z in zooms if len(z) == 5],
        judge=judge,
        config=config,
        values=out,
    )
    out["has_answer"] = float(answer is not None)
    out["has_segment"] = float(gt_segment is not None)
    out["answer_too_long"] = float(sample.answer_too_long)
    out["tool_calls"] = float(sample.tool_calls)
    score = 0.0
    for term in _TERMS:
        value = term.compute(sample)
        if inspect.isawaitable(value):
            value = await value
        value, extra = value if isinstance(value, tuple) else (value, {})
        out[term.name] = float(value)
        out.update({k: float(v) for k, v in extra.items() if k in term.extra_keys})
        if term.counts(sample):
            score += config.weight(term.name) * out[term.name]
    out["score"] = score
    return out
