"""Scoring one lmms-eval doc: rule first (option letter, exact match), then the core judge for what rules can't decide.

lmms-eval calls `process_results(doc, results)` synchronously, possibly from several threads; the core judge is
async. Every call goes through core's one sync path (`shared_client(...).equivalent_sync`): the process's judge
loop and one client per judge setting, so judge requests from parallel docs share the same bounded pool.

No judge configured is allowed: rules decide, and every sample whose score a judge should have given is counted
in `judge_fallback` (decision 3: every fallback is counted).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from longvt_plugins.core.answer import (
    extract_answer,
    extract_choice,
    format_score,
    normalize_text,
    rule_score,
)


@dataclass
class Score:
    acc: float
    format: float
    fallback: bool
    method: str  # "choice", "rule", "judge", "rule_fallback", "no_answer", "failed"
    answer: str | None
    reason: str = ""


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


def _ask_judge(question: str, answer: str, ground_truth: str) -> tuple[float, bool, str]:
    """The judge set in the environment (LONGVT_JUDGE_BASE_URL / _MODEL / _API_KEY, or upstream's
    LLM_AS_A_JUDGE_BASE); with none set it answers with the rule score, marked fallback."""
    from longvt_plugins.core.judge import shared_client

    try:
        result = shared_client().equivalent_sync(question, answer, ground_truth)
    except Exception as exc:  # the core judge should never raise; if it does, the run still goes on
        return rule_score(answer, ground_truth), True, f"judge raised {type(exc).__name__}: {exc}"
    return float(result.score), bool(result.fallback), str(result.reason or "")


def score_response(
    response: str,
    *,
    style: str,
    question: str,
    ground_truth: str,
    options: str | None = None,
    failed: bool = False,
) -> Score:
    """acc and format of one response. `options` (e.g. "ABCD") marks a multiple-choice doc."""
    if failed:
        return Score(0.0, 0.0, False, "failed", None, "the model request failed")
    text = response or ""
    if style == "non_think":
        # Direct answers carry no tags; an <answer> block is still honoured if the model wrote one.
        answer = extract_answer(text) or text.strip() or None
        fmt = 1.0 if answer else 0.0
    else:
        answer = extract_answer(text)
        fmt = format_score(text)
    if answer is None:
        return Score(0.0, fmt, False, "no_answer", None, "no <answer> in the response")
    if options:
        picked = extract_choice(f"<answer>{answer}</answer>", options)
        if picked is not None:
            return Score(
                1.0 if picked == str(ground_truth).strip().upper() else 0.0, fmt, False, "choice", answer
            )
        # No letter: the answer may name the option's text; only a judge can tell.
    elif normalize_text(answer) and normalize_text(answer) == normalize_text(str(ground_truth)):
        return Score(1.0, fmt, False, "rule", answer)
    acc, fallback, reason = _ask_judge(question, answer, str(ground_truth))
    return Score(acc, fmt, fallback, "rule_fallback" if fallback else "judge", answer, reason)
