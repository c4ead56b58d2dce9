"""``RewardConfig``: which terms enter the reward and with what weight; the judge mode; the hacking guard.

Every ``<term>_weight`` field names a term in ``rewards/terms/`` (one file each); their order here is the order
the terms are computed and summed. verl's ``reward_kwargs`` accept exactly these fields (``verl/reward.py``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

from longvt_plugins.core.answer import DEFAULT_OPTIONS

JUDGE_MODES = ("grade", "equivalent", "rule")
WEIGHT_SUFFIX = "_weight"


@dataclass(frozen=True)
class RewardConfig:
    acc_weight: float = 1.0
    format_weight: float = 1.0
    iou_weight: float = 1.0
    tool_weight: float = 0.0  # upstream's optional "used a tool and got it right" bonus; off by default
    zoom_iou_weight: float = (
        1.0  # enters score only for samples with an evidence box (none before zoom_frame)
    )
    judge_mode: str = (
        "grade"  # "grade" (0/0.5/1, the RL rubric), "equivalent" (TRUE/FALSE), "rule" (no judge)
    )
    max_answer_chars: int = (
        1000  # an answer this long is reward hacking (dumping text for the judge): acc = 0
    )
    options: str = DEFAULT_OPTIONS  # letters that count as multiple-choice options for the rule score

    def __post_init__(self) -> None:
        if self.judge_mode not in JUDGE_MODES:
            raise ValueError(f"judge_mode must be one of {JUDGE_MODES}, got {self.judge_mode!r}")
        for name in weight_fields():
            value = getattr(self, name)
            if not isinstance(value, int | float) or not math.isfinite(value):
                raise ValueError(f"{name} must be a finite number, got {value!r}")
        if self.max_answer_chars < 1:
            raise ValueError(f"max_answer_chars must be >= 1, got {self.max_answer_chars}")

    def weight(self, term: str) -> float:
        return float(getattr(self, term + WEIGHT_SUFFIX))


def weight_fields() -> tuple[str, ...]:
    return tuple(f.name for f in fields(RewardConfig) if f.name.endswith(WEIGHT_SUFFIX))


def term_names() -> tuple[str, ...]:
    """The configured terms, in computation order."""
    return tuple(name[: -len(WEIGHT_SUFFIX)] for name in weight_fields())
