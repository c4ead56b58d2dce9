"""`process_results` and the `protocol` aggregation shared by every task folder in `eval_tasks/`.

Returned per sample: acc, format, judge_fallback, failed, tool_calls (aggregated: means), protocol (aggregated:
the run's protocol card), and `longvt` - the per-sample log (turns, crop windows, frames, tokens, time, how it
was scored). lmms-eval aggregates only the metrics its YAML lists and writes every key into the samples JSONL.
"""

from __future__ import annotations

from typing import Any

from longvt_plugins.core.answer import count_tool_calls
from longvt_plugins.core.protocols.scoring import JudgeUnreachable
from longvt_plugins.lmms_eval import sample_records
from longvt_plugins.lmms_eval.doc_identity import doc_key
from longvt_plugins.lmms_eval.judge_stop import judge_stopped
from longvt_plugins.lmms_eval.protocol import aggregate_cards, card_id
from longvt_plugins.lmms_eval.scoring import Score, judge_identity, score_response

# What lmms-eval's own API models put in the response when a request finally failed.
_UPSTREAM_FAILURE = "[LMMS_EVAL_REQUEST_FAILED"


def process(
    doc: dict,
    results: list[Any],
    *,
    style: str,
    question: str,
    ground_truth: str,
    options: str | None = None,
    groups: dict[str, Any] | None = None,
    judge_questions: dict[str, str] | None = None,
    benchmark: str | None = None,
) -> dict[str, Any]:
    """One doc's metrics. `groups` ({"by_duration": "short", ...}) are the doc's breakdown groups;
    `judge_questions` (framing -> text) the question a protocol's own scorer gave its judge (upstream's);
    `benchmark` ("videomme", ...) picks lmms-eval's built-in scorer where the protocol scores its non-think rows so
    (`ScoringSpec.non_think_builtin`: upstream's)."""
    response = results[0] if results else ""
    if not isinstance(response, str):
        response = "" if response is None else str(response)
    record = sample_records.take(style, doc_key(doc))
    failed = bool(record and record.get("failed")) or response.startswith(_UPSTREAM_FAILURE)
    protocol = protocol_of(record)
    question = (judge_questions or {}).get(protocol.question_framing, question)
    try:
        if style == "non_think" and not failed and benchmark in protocol.scoring.non_think_builtin:
            score = _builtin_score(benchmark, doc, response)
        else:
            score = score_response(
                response,
                style=style,
                question=question,
                ground_truth=ground_truth,
                options=options,
                failed=failed,
                protocol=protocol,
            )
    except JudgeUnreachable as exc:  # --judge-fallback stop: end the lmms-eval process quietly (judge_stop)
        raise judge_stopped(exc) from None
    log: dict[str, Any] = dict(record.get("log") or {}) if record else {"model": "not a longvt model"}
    log["scoring"] = {
        "method": score.method,
        "answer": score.answer,
        "ground_truth": ground_truth,
        "judge_fallback": score.fallback,
        "reason": score.reason,
        "protocol": protocol.name,
        "judge_agrees": score.judge_agrees,
    }
    if failed:
        log["failure"] = (record or {}).get("reason") or response[:500]
    card = None
    if record and record.get("protocol"):
        card = dict(record["protocol"])
        card["judge"] = judge_identity()  # the scorer, not the model, knows which judge decides
        card["id"] = card_id(card)
        log["protocol_id"] = card["id"]
    tool_calls = log.get("tool_calls") if record else count_tool_calls(response)
    out = {
        "acc": score.acc,
        "format": score.format,
        "judge_fallback": 1.0 if score.fallback else 0.0,
        "failed": 1.0 if failed else 0.0,
        "context_exhausted": 1.0 if log.get("stop_reason") == "context_exhausted" else 0.0,
        "judge_rule_agreement": score.judge_agrees,
        "tool_calls": float(tool_calls or 0),
        "protocol": card,
        "longvt": log,
    }
    for metric, group in (groups or {}).items():
        out[metric] = {"group": None if group is None else str(group), "acc": score.acc}
    return out


def _builtin_score(benchmark: str, doc: dict, response: str) -> Score:
    """A non-think row scored by lmms-eval's built-in task (lmms_eval.builtin_scoring): no judge, so no fallback;
    `format` says whether its parser found an answer."""
    from longvt_plugins.lmms_eval import builtin_scoring

    acc, parsed = builtin_scoring.score(benchmark, doc, response)
    found = parsed not in ("", None, [], "No Answer Found.")
    return Score(
        acc, 1.0 if found else 0.0, False, "builtin_task", str(parsed), f"lmms-eval {benchmark} task"
    )


def protocol_of(record: dict | None):
    """The protocol a sample was produced under (its card's name), else LONGVT_PROTOCOL, else longvt-plugins.
    A `+custom` protocol scores with its base's chain: overrides change budgets, never the chain."""
    import os

    from longvt_plugins.core.protocols import get_protocol

    name = ((record or {}).get("protocol") or {}).get("protocol") or os.environ.get("LONGVT_PROTOCOL")
    return get_protocol(str(name or "longvt-plugins").split("+", 1)[0])


def protocol_card(items: list[Any]) -> str:
    """The `protocol` metric's aggregation: the id of the card every sample was produced under."""
    return aggregate_cards(items)
