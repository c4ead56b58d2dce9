"""``acc``: is the answer right? The judge's grade (0/0.5/1) or verdict (0/1), else the rule score."""

from __future__ import annotations

from longvt_plugins.core.answer import rule_score
from longvt_plugins.core.judge.fallback_log import log_rule_fallback
from longvt_plugins.core.rewards.term import Sample, TermValue, reward_term


@reward_term("acc", extra_keys=("judge_fallback", "judge_cached"))
async def accuracy(sample: Sample) -> TermValue:
    """Without a judge (or with ``judge_mode="rule"``) it is the rule score and ``judge_fallback`` stays 0:
    nothing failed. No answer, or an answer too long to be honest, scores 0 without asking anyone."""
    if sample.answer is None or sample.answer_too_long:
        return 0.0
    config = sample.config
    if sample.judge is None or config.judge_mode == "rule":
        return rule_score(sample.answer, sample.ground_truth, config.options)
    ask = sample.judge.grade if config.judge_mode == "grade" else sample.judge.equivalent
    result = await ask(sample.question, sample.answer, sample.ground_truth)
    if result.fallback:  # the reward goes on with the rule score the client handed back
        log_rule_fallback(result.reason)
    return float(result.score), {
        "judge_fallback": float(result.fallback),
        "judge_cached": float(result.cached),
    }
