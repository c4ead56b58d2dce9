"""verl's reward entry: ``reward.custom_reward_function.path=pkg://longvt_plugins.verl.reward``, ``.name=compute_score``.

verl 0.9.1 awaits an ``async def compute_score`` per trajectory, as soon as its rollout ends, in a reward-loop
worker (``NaiveRewardManager.run_single``). Settings come from ``reward.custom_reward_function.reward_kwargs``::

    +reward.custom_reward_function.reward_kwargs.judge_base_url=http://judge-host:8000/v1
    +reward.custom_reward_function.reward_kwargs.judge_concurrency=64

Known keys: ``judge`` ("grade" | "equivalent" | "rule"), ``judge_base_url``, ``judge_model``, ``judge_api_key``,
``judge_timeout``, ``judge_concurrency``, ``judge_retries``, ``judge_cache`` (a path, or "off"),
``acc_weight``, ``format_weight``, ``iou_weight``, ``tool_weight``, ``max_answer_chars``. Unset judge settings
fall back to ``LONGVT_JUDGE_*`` / ``LLM_AS_A_JUDGE_BASE`` in the worker's environment; with no judge URL at all
accuracy is the rule score. An unknown key is a configuration error and raises at the first sample.

Per sample it reads ``extra_info["question"]`` (judge input), ``extra_info["video_segment"]`` (IoU target; also
``segment``), and the crop tool's counters that verl merges into ``extra_info`` (``tool_call_counts``,
``crop_windows``; see ``longvt_plugins.verl.counters``). A sample that cannot be scored (bad data) gets zeros and
``reward_error=1`` instead of stopping training. Nothing happens at import but definitions.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from longvt_plugins.core.judge import JudgeClient, JudgeConfig
from longvt_plugins.core.rewards import REWARD_KEYS, RewardConfig, compute_reward, empty_reward
from longvt_plugins.verl.counters import CROP_CALLS, CROP_WINDOWS, TOOL_CALL_COUNTS

log = logging.getLogger(__name__)

RESULT_KEYS = (*REWARD_KEYS, "reward_error")

_JUDGE_KWARGS = {
    "judge_base_url": "base_url",
    "judge_model": "model",
    "judge_api_key": "api_key",
    "judge_timeout": "timeout",
    "judge_concurrency": "concurrency",
    "judge_retries": "retries",
    "judge_cache": "cache_path",
}
_REWARD_KWARGS = {"acc_weight", "format_weight", "iou_weight", "tool_weight", "max_answer_chars"}
# Passed by verl itself when a reward model is enabled; we do not use them.
_VERL_KWARGS = {"reward_router_address", "reward_model_tokenizer"}

_judges: dict[JudgeConfig, JudgeClient] = {}
_judges_lock = threading.Lock()


def _settings(kwargs: dict[str, Any]) -> tuple[RewardConfig, JudgeConfig | None]:
    unknown = set(kwargs) - set(_JUDGE_KWARGS) - _REWARD_KWARGS - _VERL_KWARGS - {"judge"}
    if unknown:
        known = sorted({*_JUDGE_KWARGS, *_REWARD_KWARGS, "judge"})
        raise TypeError(f"unknown reward_kwargs {sorted(unknown)} for longvt compute_score; known: {known}")
    mode = str(kwargs.get("judge") or "grade")
    reward = RewardConfig(
        judge_mode=mode, **{k: kwargs[k] for k in _REWARD_KWARGS if kwargs.get(k) is not None}
    )
    if mode == "rule":
        return reward, None
    judge = JudgeConfig.from_env(**{field: kwargs.get(key) for key, field in _JUDGE_KWARGS.items()})
    return reward, (judge if judge.base_url else None)


def judge_for(config: JudgeConfig) -> JudgeClient:
    """One client per configuration per process: its concurrency bound and counters are process-wide."""
    with _judges_lock:
        client = _judges.get(config)
        if client is None:
            client = _judges[config] = JudgeClient(config)
        return client


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
            judge=judge_for(judge_config) if judge_config is not None else None,
            config=reward_config,
        )
        result["reward_error"] = 0.0
    except Exception:
        log.exception("longvt reward failed for a %s sample; giving it 0", data_source)
        result = empty_reward()
        result["reward_error"] = 1.0
    return result
