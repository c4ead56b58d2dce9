"""verl's reward entry: ``reward.custom_reward_function.path=pkg://longvt_plugins.verl.reward``, ``.name=compute_score``.

verl 0.9.1 awaits an ``async def compute_score`` per trajectory, as soon as its rollout ends, in a reward-loop
worker (``NaiveRewardManager.run_single``). Settings come from ``reward.custom_reward_function.reward_kwargs``::

    +reward.custom_reward_function.reward_kwargs.judge_base_url=http://judge-host:8000/v1
    +reward.custom_reward_function.reward_kwargs.judge_concurrency=64

Known keys: every field of ``core.rewards.RewardConfig`` (``acc_weight``, ``format_weight``, ``iou_weight``,
``tool_weight``, ``zoom_iou_weight``, ``max_answer_chars``, ``options``; ``judge`` for its ``judge_mode``: "grade" | "equivalent" |
"rule"), and every field of ``core.judge.JudgeConfig`` prefixed ``judge_`` (``judge_base_url``, ``judge_model``,
``judge_api_key``, ``judge_timeout``, ``judge_concurrency``, ``judge_retries``, ..., ``judge_cache``: a path, or
"off"). The judge client is core's ``shared_client``: one per judge setting per process. Unset judge settings
fall back to ``LONGVT_JUDGE_*`` / ``LLM_AS_A_JUDGE_BASE`` in the worker's environment; with no judge URL at all
accuracy is the rule score. An unknown key is a configuration error and raises at the first sample.

Per sample it reads ``extra_info["question"]`` (judge input), ``extra_info["video_segment"]`` (IoU target; also
``segment``), ``extra_info["evidence_box"]`` (zoom IoU target, ``core/rewards/evidence.py``), and the tools' counters
that verl merges into ``extra_info`` (``tool_call_counts``, ``crop_windows``, ``zoom_regions``; see
``longvt_plugins.verl.counters``). A sample that cannot be scored (bad data) gets zeros and
``reward_error=1`` instead of stopping training. Nothing happens at import but definitions.
"""

from __future__ import annotations

import logging
from dataclasses import fields
from typing import Any

from longvt_plugins.core.judge import JudgeConfig, shared_client
from longvt_plugins.core.rewards import REWARD_KEYS, RewardConfig, compute_reward, empty_reward
from longvt_plugins.verl.counters import CROP_CALLS, CROP_WINDOWS, TOOL_CALL_COUNTS, ZOOM_REGIONS

log = logging.getLogger(__name__)

RESULT_KEYS = (*REWARD_KEYS, "reward_error")

# Accepted reward_kwargs, derived from the two config dataclasses so a new field is accepted where it is declared:
# every RewardConfig field (its judge_mode is spelled "judge"), and every JudgeConfig field as judge_<field>
# (its cache_path is spelled "judge_cache").
_RENAMED = {"judge_mode": "judge", "cache_path": "cache"}
_REWARD_KWARGS = {_RENAMED.get(f.name, f.name): f.name for f in fields(RewardConfig)}
_JUDGE_KWARGS = {"judge_" + _RENAMED.get(f.name, f.name): f.name for f in fields(JudgeConfig)}
# Passed by verl itself when a reward model is enabled; we do not use them.
_VERL_KWARGS = {"reward_router_address", "reward_model_tokenizer"}


def _settings(kwargs: dict[str, Any]) -> tuple[RewardConfig, JudgeConfig | None]:
    unknown = set(kwargs) - set(_JUDGE_KWARGS) - set(_REWARD_KWARGS) - _VERL_KWARGS
    if unknown:
        known = sorted({*_JUDGE_KWARGS, *_REWARD_KWARGS})
        raise TypeError(f"unknown reward_kwargs {sorted(unknown)} for longvt compute_score; known: {known}")
    values = {field: kwargs[key] for key, field in _REWARD_KWARGS.items() if kwargs.get(key) is not None}
    values["judge_mode"] = str(values.get("judge_mode") or "grade")
    reward = RewardConfig(**values)
    if reward.judge_mode == "rule":
        return reward, None
    judge = JudgeConfig.from_env(**{field: kwargs.get(key) for key, field in _JUDGE_KWARGS.items()})
    return reward, (judge if judge.base_url else None)


def _first(info: dict, *keys: str) -> Any:
    for key in keys:
        if info.get(key) is not None:
            return info[key]
    return None


def _as_list(value: Any) -> list:
    if value is None:
        return []
    if hasattr(value, "tolist"):
        value = value.tolist()
    return list(value) if isinstance(value, list | tuple) else []


async def compute_score(
    data_source: str,
    solution_str: str,
    ground_truth: Any,
    extra_info: dict | None = None,
    **kwargs: Any,
) -> dict[str, float]:
    """The LongVT reward of one trajectory: a dict with the keys ``RESULT_KEYS``, ``score`` the reward."""
    reward_config, judge_config = _settings(kwargs)  # a config mistake should fail loudly, once
    info = dict(extra_info or {})
    try:
        if isinstance(ground_truth, dict):  # {"answer": ..., "segment": [...]} rows are accepted too
            segment = ground_truth.get("segment")
            ground_truth = ground_truth.get("answer", "")
        else:
            segment = None
        if hasattr(ground_truth, "tolist"):
            ground_truth = ground_truth.tolist()
        if isinstance(ground_truth, list):
            ground_truth = ", ".join(str(g) for g in ground_truth)
        segment = _first(info, "video_segment", "segment") if segment is None else segment
        calls = _first(info, TOOL_CALL_COUNTS, CROP_CALLS)
        result = await compute_reward(
            solution_str,
            str(ground_truth),
            question=_first(info, "question"),
            segment=segment,
            tool_calls=int(calls) if calls is not None else None,
            windows=_as_list(info[CROP_WINDOWS]) if info.get(CROP_WINDOWS) is not None else None,
            evidence_box=_first(info, "evidence_box"),
            zooms=[_as_list(z) for z in _as_list(info[ZOOM_REGIONS])]
            if info.get(ZOOM_REGIONS) is not None
            else None,
            judge=shared_client(judge_config) if judge_config is not None else None,
            config=reward_config,
        )
        result["reward_error"] = 0.0
    except Exception:
        log.exception("longvt reward failed for a %s sample; giving it 0", data_source)
        result = empty_reward()
        result["reward_error"] = 1.0
    return result
