"""What a reward term is, what it reads, and the registry ``compute_reward`` composes the reward from.

A term is one file in ``rewards/terms/`` that registers itself with ``@reward_term(name)``; its weight is the
``<name>_weight`` field of ``RewardConfig``. See docs/rewards_and_judge.md, "Adding a reward term".
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from longvt_plugins.core.judge import JudgeClient
from longvt_plugins.core.rewards.config import RewardConfig


@dataclass(frozen=True)
class Sample:
    """Everything a term may read about one response; ``values`` holds the terms computed before it."""

    text: str  # the response (verl's decoded solution_str or the raw chat text)
    answer: str | None  # the extracted final answer; None when the response commits to none
    answer_too_long: bool  # the answer is so long it is reward hacking: answer-based terms give 0
    ground_truth: str
    question: str | None
    segment: tuple[float, float] | None  # the ground-truth time window, when the sample has one
    tool_calls: int
    windows: list[tuple[float, float]] | None  # crops the tool really sampled; None: read them from ``text``
    # The ground-truth evidence box (time span or None, 0-1000 box), when the sample has one (rewards/evidence.py).
    evidence: tuple[tuple[float, float] | None, tuple[float, float, float, float]] | None
    zooms: (
        list[tuple[float, ...]] | None
    )  # (time, x1, y1, x2, y2) the zoom tool returned; None: read ``text``
    judge: JudgeClient | None
    config: RewardConfig
    values: dict[str, float]  # the result so far (earlier terms and their extra keys)


# A term's value: a float, or a float and its extra keys (e.g. the judge's fallback flags).
TermValue = float | tuple[float, dict[str, float]]


@dataclass(frozen=True)
class Term:
    name: str  # its key in the result; its weight is RewardConfig.<name>_weight
    compute: Callable[[Sample], TermValue | Awaitable[TermValue]]
    extra_keys: tuple[
        str, ...
    ] = ()  # result keys this term fills besides its own (always present, 0 default)
    counts: Callable[[Sample], bool] = lambda sample: True  # whether it enters ``score`` for this sample


TERMS: dict[str, Term] = {}


def reward_term(
    name: str,
    *,
    extra_keys: tuple[str, ...] = (),
    counts: Callable[[Sample], bool] | None = None,
) -> Callable[[Callable[[Sample], Any]], Callable[[Sample], Any]]:
    """Register ``compute`` as the term ``name`` (one per name)."""

    def register(compute: Callable[[Sample], Any]) -> Callable[[Sample], Any]:
        if name in TERMS:
            raise ValueError(f"reward term {name!r} is registered twice")
        TERMS[name] = Term(name, compute, tuple(extra_keys), counts or (lambda sample: True))
        return compute

    return register
