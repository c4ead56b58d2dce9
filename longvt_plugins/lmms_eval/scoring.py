"""Scoring one lmms-eval doc under its protocol's chain: option letter, rule, math-verify, then the core judge.

lmms-eval calls `process_results(doc, results)` synchronously, possibly from several threads; the core judge is
async. Every call goes through core's one sync path (`shared_client(...).equivalent_sync`): the process's judge
loop and one client per judge setting, so judge requests from parallel docs share the same bounded pool.

No judge configured is allowed: rules decide, and every sample whose score a judge should have given is counted
in `judge_fallback` (decision 3: every fallback is counted). A configured judge that gives no verdict stops the
run (`JudgeUnreachable`, which `results.process` turns into one line and an exit: `judge_stop`) unless
LONGVT_JUDGE_FALLBACK=rule; then its fallbacks are counted the same way, and logged (`log_rule_fallback`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from longvt_plugins.core.answer import extract_answer, format_score
from longvt_plugins.core.protocols.scoring import FALLBACKS, Verdict, score_answer


@dataclass
class Score:
    acc: float
    format: float
    fallback: bool
    # "choice", "no_choice", "rule", "math_verify", "judge", "rule_fallback", "no_answer", "failed"
    method: str
    answer: str | None
    reason: str = ""
    judge_agrees: bool | None = None  # multiple choice with a judge asked: does it agree with the letter?


def judge_identity() -> dict[str, Any]:
    """What judges this run (for the protocol card): server, model and the hash of the prompt. No key."""
    import hashlib

    from longvt_plugins.core.judge import EQUIVALENCE_PROMPT, JudgeConfig
    from longvt_plugins.core.prompts import load_prompt

    prompt_sha = hashlib.sha256(load_prompt(EQUIVALENCE_PROMPT).encode()).hexdigest()[:16]
    ident: dict[str, Any] = {
        "prompt": EQUIVALENCE_PROMPT,
        "prompt_sha256": prompt_sha,
        "verdict": "TRUE/FALSE",
    }
    try:
        config = JudgeConfig.from_env()
    except (TypeError, ValueError) as exc:  # a bad LONGVT_JUDGE_* value: recorded, and scoring uses rules
        return {**ident, "configured": False, "error": str(exc)}
    return {
        **ident,
        "configured": bool(config.base_url),
        "base_url": config.base_url,
        "model": config.model or ("first model listed by the server" if config.base_url else None),
    }


def judge_fallback_policy() -> str:
    """ "stop" (default): an unreachable judge stops the run; "rule": rules decide and each fallback is counted.
    `longvt eval run --judge-fallback rule` sets LONGVT_JUDGE_FALLBACK for the lmms-eval process."""
    value = os.environ.get("LONGVT_JUDGE_FALLBACK", "stop").strip().lower() or "stop"
    if value not in FALLBACKS:
        raise ValueError(f"LONGVT_JUDGE_FALLBACK must be one of {FALLBACKS}, got {value!r}")
    return value


def _calibrate() -> bool:
    # Asking the judge about multiple-choice answers too (never deciding them) gives the agreement figure.
    return os.environ.get("LONGVT_JUDGE_CALIBRATION", "1").strip().lower() not in ("0", "false", "no", "off")


def _judge_configured() -> bool:
    from longvt_plugins.core.judge import JudgeConfig

    try:
        return bool(JudgeConfig.from_env().base_url)
    except (TypeError, ValueError):
        return False


def _ask_judge(question: str, answer: str, ground_truth: str) -> Verdict:
    """The judge set in the environment; a reply it could not give (down, timeout, nonsense) is `unreachable`."""
    from longvt_plugins.core.judge import shared_client

    try:
        result = shared_client().equivalent_sync(question, answer, ground_truth)
    except Exception as exc:  # the core judge should never raise; if it does, that is no verdict either
        return Verdict(0.0, unreachable=True, reason=f"judge raised {type(exc).__name__}: {exc}")
    if result.fallback:
        return Verdict(0.0, unreachable=True, reason=str(result.reason or "the judge gave no verdict"))
    return Verdict(float(result.score), reason=str(result.reason or ""))


def score_response(
    response: str,
    *,
    style: str,
    question: str,
    ground_truth: str,
    options: str | None = None,
    failed: bool = False,
    protocol: Any = None,
) -> Score:
    """acc and format of one response under the protocol's scoring chain (`core.protocols.scoring`).

    `options` (e.g. "ABCD") marks a multiple-choice doc: the letter decides. No judge configured: open answers
    get the rule score, counted as fallbacks. A configured judge that gives no verdict raises `JudgeUnreachable`
    (the run stops) unless LONGVT_JUDGE_FALLBACK=rule.
    """
    from longvt_plugins.core.protocols import LONGVT_PLUGINS

    if failed:
        return Score(0.0, 0.0, False, "failed", None, "the model request failed")
    if (
        protocol is not None and protocol.scoring.recipe
    ):  # upstream: LongVT's own scorer over the whole response
        from longvt_plugins.lmms_eval.upstream_scoring import score_upstream

        acc, fmt, fell_back, method, answer, reason = score_upstream(
            response,
            ground_truth=ground_truth,
            question=question,
            recipe=protocol.scoring.recipe,
            judge_on=_judge_configured(),
            fallback=judge_fallback_policy(),
        )
        return Score(acc, fmt, fell_back, method, answer, reason)
    text = response or ""
    if style == "non_think":
        # Direct answers carry no tags; an <answer> block is still honoured if the model wrote one.
        answer = extract_answer(text) or text.strip() or None
        fmt = 1.0 if answer else 0.0
    else:
        answer = extract_answer(text)
        fmt = format_score(text)
    spec = (protocol or LONGVT_PLUGINS).scoring
    judge = _ask_judge if _judge_configured() else None
    chain = score_answer(
        spec,
        answer,
        str(ground_truth),
        question=question,
        options=options,
        judge=judge,
        fallback=judge_fallback_policy(),
        calibrate=_calibrate(),
    )
    if chain.fallback and judge is not None:  # --judge-fallback rule: the rule score stands in, and we say so
        from longvt_plugins.core.judge import log_rule_fallback

        log_rule_fallback(chain.reason)
    return Score(
        chain.acc, fmt, chain.fallback, chain.method, answer, chain.reason, judge_agrees=chain.judge_agrees
    )
