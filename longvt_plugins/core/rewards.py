"""LongVT's RL reward: accuracy (judge or rule) + format + temporal IoU of the last crop, as one dict.

``score = acc_weight * acc + format_weight * format + iou_weight * iou [+ tool_weight * tool]``, where the IoU
term counts only for samples that have a ground-truth segment (upstream default: weights 1, 1, 1; range [0, 3]).

Every call returns exactly ``REWARD_KEYS`` with float values, whatever happened: verl takes the extra-info keys
from the first sample of a batch and indexes every other sample by them.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from longvt_plugins.core.answer import (
    DEFAULT_OPTIONS,
    count_tool_calls,
    crop_windows,
    extract_answer,
    format_score,
    rule_score,
    temporal_iou,
)
from longvt_plugins.core.judge import JudgeClient

JUDGE_MODES = ("grade", "equivalent", "rule")

REWARD_KEYS = (
    "score",  # the weighted sum: the reward the policy is trained on
    "acc",  # 0 / 0.5 / 1 from the judge (grade), 0 / 1 (equivalent or rule)
    "format",  # 1 if think -> (tool_call -> think)* -> answer, else 0
    "iou",  # temporal IoU of the last crop window with the ground-truth segment (0 without one)
    "tool",  # 1 if a tool was called and acc >= 0.5 (only added to score when tool_weight > 0)
    "tool_calls",  # tool calls in the trajectory
    "judge_fallback",  # 1 if the judge failed and acc is the rule score
    "judge_cached",  # 1 if the verdict came from the cache
    "has_answer",  # 1 if an answer could be extracted
    "has_segment",  # 1 if the sample has a ground-truth segment (so iou is part of score)
    "answer_too_long",  # 1 if the answer exceeded max_answer_chars (acc and format forced to 0)
)


@dataclass(frozen=True)
class RewardConfig:
    acc_weight: float = 1.0
    format_weight: float = 1.0
    iou_weight: float = 1.0
    tool_weight: float = 0.0  # upstream's optional "used a tool and got it right" bonus; off by default
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
        for name in ("acc_weight", "format_weight", "iou_weight", "tool_weight"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or not math.isfinite(value):
                raise ValueError(f"{name} must be a finite number, got {value!r}")
        if self.max_answer_chars < 1:
            raise ValueError(f"max_answer_chars must be >= 1, got {self.max_answer_chars}")


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
    judge: JudgeClient | None = None,
    config: RewardConfig = RewardConfig(),  # frozen, so sharing the default is safe
) -> dict[str, float]:
    """The reward of one response.

    ``tool_calls`` and ``windows`` (the windows the tool really sampled, in order; ``[]`` when none succeeded)
    come from the tool's counters when the host has them; ``None`` means "read them from the response text". Without a ``judge`` (or with
    ``judge_mode="rule"``) accuracy is the rule score and ``judge_fallback`` stays 0: nothing failed.
    """
    out = empty_reward()
    text = solution_str or ""
    answer = extract_answer(text)
    out["has_answer"] = float(answer is not None)
    out["format"] = format_score(text)
    out["tool_calls"] = float(tool_calls if tool_calls is not None else count_tool_calls(text))

    if answer is not None and len(answer) >= config.max_answer_chars:
        out["answer_too_long"] = 1.0
        out["format"] = 0.0
    elif answer is not None:
        if judge is None or config.judge_mode == "rule":
            out["acc"] = rule_score(answer, ground_truth, config.options)
        else:
            ask = judge.grade if config.judge_mode == "grade" else judge.equivalent
            result = await ask(question, answer, str(ground_truth))
            out["acc"] = float(result.score)
            out["judge_fallback"] = float(result.fallback)
            out["judge_cached"] = float(result.cached)

    gt_segment = parse_segment(segment)
    if gt_segment is not None:
        out["has_segment"] = 1.0
        if windows is not None:  # the tool's own record (clipped, successful calls only) is the truth
            seen = [w for w in (parse_segment(w) for w in windows) if w is not None]
        elif "<tool_response>" in text:  # no record from the host: the calls the environment answered
            seen = crop_windows(text)
        else:
            seen = []
        out["iou"] = temporal_iou(seen[-1], gt_segment) if seen else 0.0

    out["tool"] = float(out["tool_calls"] > 0 and out["acc"] >= 0.5)
    out["score"] = (
        config.acc_weight * out["acc"]
        + config.format_weight * out["format"]
        + (config.iou_weight * out["iou"] if gt_segment is not None else 0.0)
        + config.tool_weight * out["tool"]
    )
    return out
