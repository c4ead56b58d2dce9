"""Scoring v2 sets through `miniature.evaluate.evaluate` (its `budgets` / `metrics` / `summary` hooks).

Per set: accuracy (exact answer), mean crop IoU with the evidence window (the asked scene; over the questions
that have one), valid tool-call rate, crop share, format; for counterfactual questions, the rate of the defined
answer ("none") and how many of them cropped anyway; for the others, how many said "none" wrongly.

    evaluate(model_dir, items, **scoring.hooks())            # a trained checkpoint on a v2 set
    evaluate(None, items, backend=OpenAIBackend(url), **scoring.hooks())   # a policy behind a server
"""

from __future__ import annotations

from typing import Any

from longvt_plugins.miniature.evaluate import trace_metrics
from longvt_plugins.miniature.task import FLASH_COLOURS
from longvt_plugins.miniature.v2.layout import agent_budgets
from longvt_plugins.miniature.v2.splits import NONE_ANSWER

CHANCE = 1 / len(FLASH_COLOURS)  # a guess among the blink colours, on questions whose scene is there


def _said_none(answer: str | None) -> bool:
    return (answer or "").strip().strip(".").lower() == NONE_ANSWER


def metrics(trace, item) -> dict[str, Any]:
    row = trace_metrics(trace, item)
    row.update(
        counterfactual=item.counterfactual,
        said_none=_said_none(trace.final_answer),
        split=item.split,
        scenes=item.scenes,
        duration=item.duration,
        template=item.template,
    )
    return row


def _rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def summarize(rows: list[dict[str, Any]]) -> dict[str, Any]:
    real = [r for r in rows if not r["counterfactual"]]
    absent = [r for r in rows if r["counterfactual"]]
    ious = [r["iou"] for r in rows if r["iou"] is not None]
    calling = sum(r["calling_turns"] for r in rows)
    valid = sum(r["valid_calling_turns"] for r in rows)
    return {
        "items": len(rows),
        "correct": sum(r["correct"] for r in rows),
        "accuracy": _rate(sum(r["correct"] for r in rows), len(rows)),
        "asked_scene_items": len(real),
        "asked_scene_accuracy": _rate(sum(r["correct"] for r in real), len(real)),
        "mean_iou": sum(ious) / len(ious) if ious else None,
        "calling_turns": calling,
        "valid_calling_turns": valid,
        "valid_call_rate": _rate(valid, calling),
        "cropped": sum(r["cropped"] for r in rows),
        "crop_share": _rate(sum(r["cropped"] for r in rows), len(rows)),
        "format_ok": _rate(sum(r["format_ok"] for r in rows), len(rows)),
        "counterfactual_items": len(absent),
        "none_rate": _rate(sum(r["said_none"] for r in absent), len(absent)),
        "cropped_on_counterfactual": sum(r["cropped"] for r in absent),
        "false_none": sum(r["said_none"] for r in real),
        "chance": CHANCE,
    }


def hooks() -> dict:
    """The keyword arguments that make `miniature.evaluate.evaluate` score a v2 set."""
    return {"budgets": agent_budgets(), "metrics": metrics, "summary": summarize}
