"""Scoring one response under a protocol whose scoring is LongVT's own scorer (`upstream`).

The chain is `core.protocols.upstream_scoring`; the judge is the core judge client sending upstream's request
(`JudgeClient.upstream_verdict`: its prompt, max_tokens 5, no temperature, `int()` of the reply). A judge that
gives no reply stops the run (`JudgeUnreachable`) unless LONGVT_JUDGE_FALLBACK=rule; then the sample keeps the
rule chain's 0 and is counted as a fallback, as on every other protocol.
"""

from __future__ import annotations

from longvt_plugins.core.protocols import upstream_scoring
from longvt_plugins.core.protocols.scoring import JudgeUnreachable


class _NoVerdict(Exception):
    pass


def _judge(prediction: str, ground_truth: str, question: str | None) -> int:
    from longvt_plugins.core.judge import shared_client

    prompt = upstream_scoring.judge_prompt(prediction, ground_truth, question)
    try:
        result = shared_client().upstream_verdict_sync(prompt)
    except Exception as exc:  # the core judge should never raise; if it does, that is no verdict either
        raise _NoVerdict(f"judge raised {type(exc).__name__}: {exc}") from None
    if result.fallback:
        raise _NoVerdict(str(result.reason or "the judge gave no verdict"))
    return int(result.score)


def score_upstream(
    response: str, *, ground_truth: str, question: str, recipe: str, judge_on: bool, fallback: str
):
    """(acc, format, fallback?, method, answer, reason) of one response, as upstream's process_results gives them
    (it strips the response first)."""
    text = (response or "").strip()
    try:
        s = upstream_scoring.score_response(
            text, str(ground_truth), question=question, judge=_judge if judge_on else None, recipe=recipe
        )
    except _NoVerdict as exc:
        if fallback == "stop":
            raise JudgeUnreachable(
                f"{exc}; the run stops so answers are not scored without the judge unannounced "
                "(choose --judge-fallback rule to go on, counted)"
            ) from None
        s = upstream_scoring.score_response(
            text, str(ground_truth), question=question, judge=None, recipe=recipe
        )
        return s.acc, s.format, True, "rule_fallback", s.answer, str(exc)
    method = s.method if judge_on or s.method != "none" else "rule_fallback"
    return s.acc, s.format, not judge_on and s.acc == 0.0, method, s.answer, ""
