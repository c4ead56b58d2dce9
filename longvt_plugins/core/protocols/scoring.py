"""A protocol's scoring chain over one extracted answer: option letter, rule, math-verify, judge.

Multiple-choice items are decided by the option letter alone, whatever a judge would say; the judge decides only
open-ended answers that no rule matched (upstream's chain: rule -> math-verify -> judge). When asked to, the judge
also grades multiple-choice answers without deciding them, so the results can report how often judge and rule
agree (a calibration figure for the judge).

A judge that cannot be reached stops the run (`JudgeUnreachable`) unless the caller chose `fallback="rule"`, in
which case the rule decides and the sample is counted as a fallback. The judge itself is passed in (`judge`), so
this module does no I/O.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from longvt_plugins.core.answer import extract_choice, rule_score
from longvt_plugins.core.protocols.spec import ScoringSpec

FALLBACKS = ("stop", "rule")


class JudgeUnreachable(RuntimeError):
    """The judge did not answer; the run stops rather than score open answers by rule without saying so."""


@dataclass(frozen=True)
class Verdict:
    """What a judge call returned: score in [0, 1]; `unreachable` when no reply came (down, timeout, HTTP error)."""

    score: float
    unreachable: bool = False
    reason: str = ""


JudgeFn = Callable[[str, str, str], Verdict]  # (question, answer, ground_truth) -> Verdict


@dataclass(frozen=True)
class ChainScore:
    acc: float
    method: str  # "choice", "no_choice", "rule", "math_verify", "judge", "rule_fallback", "no_answer"
    fallback: bool = False
    judge_agrees: bool | None = None  # multiple choice only, when the judge was asked for calibration
    reason: str = ""


def math_equal(answer: str, ground_truth: str) -> bool | None:
    """math-verify's verdict, or None when it is not installed (then the step is skipped, never guessed)."""
    try:
        from math_verify import parse, verify
    except ImportError:
        return None
    try:
        return bool(verify(parse(ground_truth), parse(answer)))
    except Exception:  # math-verify raises on some inputs; that is "not equal by this rule", not a crash
        return False


def score_answer(
    spec: ScoringSpec,
    answer: str | None,
    ground_truth: str,
    *,
    question: str,
    options: str | None = None,
    judge: JudgeFn | None = None,
    fallback: str = "stop",
    calibrate: bool = False,
) -> ChainScore:
    if fallback not in FALLBACKS:
        raise ValueError(f"fallback must be one of {FALLBACKS}, got {fallback!r}")
    gt = str(ground_truth).strip()
    if answer is None:
        return ChainScore(0.0, "no_answer", reason="no answer in the response")
    if options and "choice" in spec.chain:
        picked = extract_choice(f"<answer>{answer}</answer>", options)
        acc = 1.0 if picked is not None and picked == gt.strip("().[] ").upper() else 0.0
        agrees = None
        if calibrate and judge is not None:
            verdict = judge(question, answer, gt)
            if not verdict.unreachable:
                agrees = (verdict.score >= 1.0) == (acc >= 1.0)
            elif fallback == "stop":
                raise JudgeUnreachable(verdict.reason or "the judge did not answer")
        return ChainScore(acc, "choice" if picked else "no_choice", judge_agrees=agrees)
    for step in spec.chain:
        if step == "rule" and rule_score(answer, gt) >= 1.0:
            return ChainScore(1.0, "rule")
        if step == "math_verify" and math_equal(answer, gt):
            return ChainScore(1.0, "math_verify")
        if step == "judge":
            if judge is None:
                return ChainScore(rule_score(answer, gt), "rule_fallback", True, reason="no judge configured")
            verdict = judge(question, answer, gt)
            if verdict.unreachable:
                if fallback == "stop":
                    raise JudgeUnreachable(
                        f"{verdict.reason or 'the judge did not answer'}; the run stops so open answers are not "
                        "scored by rule without saying so (choose --judge-fallback rule to go on, counted)"
                    )
                return ChainScore(rule_score(answer, gt), "rule_fallback", True, reason=verdict.reason)
            return ChainScore(float(verdict.score), "judge", reason=verdict.reason)
    return ChainScore(0.0, "rule")
