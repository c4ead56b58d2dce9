"""Held-out evaluation of a miniature checkpoint through the core agent loop (`run_agent` + `TransformersBackend`).

Metrics (counts kept beside every rate):
- valid_call_rate: of the assistant turns that try to call a tool, those whose every call parsed and ran a crop;
- crop_share: trajectories with at least one successful crop;
- mean_iou: mean over trajectories of the best temporal IoU of a crop with the evidence window (0 without a crop);
- accuracy: exact answer (the flash colour, by `rule_score`); format_ok: the RL format check on the transcript.
`style="non_think"` runs the same model on the same skim with no tool offered: the no-tool baseline.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from longvt_plugins.core.families import DEFAULT_FAMILY
from longvt_plugins.miniature.task import CHANCE, MiniItem, agent_budgets


def trace_metrics(trace, item: MiniItem) -> dict[str, Any]:
    from longvt_plugins.core.answer import check_format, rule_score, temporal_iou
    from longvt_plugins.core.trace import transcript

    calling = [t for t in trace.turns if t.tool_calls or t.tool_call_errors]
    crops = {c.index: c for c in trace.crops}
    valid = [t for t in calling if not t.tool_call_errors and t.crops and all(crops[i].ok for i in t.crops)]
    windows = trace.crop_windows
    evidence = None if item.start is None else (item.start, item.end)
    return {
        "id": item.id,
        "answer": item.answer,
        "final_answer": trace.final_answer,
        "correct": rule_score(trace.final_answer, item.answer) >= 1.0,
        "calling_turns": len(calling),
        "valid_calling_turns": len(valid),
        "cropped": bool(windows),
        # None where the question has no evidence window (v2's counterfactuals): not a 0 in any mean
        "iou": None if evidence is None else max((temporal_iou(w, evidence) for w in windows), default=0.0),
        "format_ok": check_format(transcript(trace)).ok,
        "well_formed_call": _well_formed_call(trace),
        "stop_reason": trace.stop_reason,
        "windows": [list(w) for w in windows],
    }


def _well_formed_call(trace) -> bool:
    """The first turn is `<think>...</think>` then one parsed crop_video call with two numeric arguments
    (whether the window is valid is `valid_call_rate`'s business)."""
    if not trace.turns:
        return False
    t = trace.turns[0]
    text = (t.raw_text or "").strip()
    args = t.tool_calls[0]["arguments"] if len(t.tool_calls) == 1 else {}
    return (
        text.startswith("<think>")
        and "</think>" in text
        and not t.tool_call_errors
        and all(isinstance(args.get(k), int | float) for k in ("start_time", "end_time"))
    )


def summarize(rows: list[dict[str, Any]]) -> dict[str, Any]:
    n = len(rows) or 1
    calling = sum(r["calling_turns"] for r in rows)
    valid = sum(r["valid_calling_turns"] for r in rows)
    return {
        "items": len(rows),
        "accuracy": sum(r["correct"] for r in rows) / n,
        "correct": sum(r["correct"] for r in rows),
        "valid_call_rate": valid / calling if calling else 0.0,
        "calling_turns": calling,
        "valid_calling_turns": valid,
        "crop_share": sum(r["cropped"] for r in rows) / n,
        "cropped": sum(r["cropped"] for r in rows),
        "mean_iou": sum(r["iou"] for r in rows) / n,
        "format_ok": sum(r["format_ok"] for r in rows) / n,
        "well_formed_call": sum(r["well_formed_call"] for r in rows) / n,
        "chance": CHANCE,
    }


def evaluate(model_dir, items: list[MiniItem], *, style: str = "tool", backend=None, on_trace=None,
             budgets=None, metrics=trace_metrics, summary=summarize) -> dict:  # fmt: skip
    """Run the agent on every item; returns {"summary": {...}, "rows": [...]}.

    `budgets` / `metrics` / `summary`: another task family's (v2: `miniature.v2.scoring`); v1's by default."""
    import torch

    from longvt_plugins.core.agent import run_agent
    from longvt_plugins.core.backends import GenerationParams, TransformersBackend

    # One thread: generation with a 0.8M-parameter model is bound by per-op latency (two threads were ~3x slower
    # on a busy 2-core machine).
    torch.set_num_threads(1)
    backend = backend or TransformersBackend(model_dir, device="cpu")
    # the checkpoint's family sets the frame size of one visual token (task._token_pixels)
    budgets = budgets or agent_budgets(getattr(backend, "family", None) or DEFAULT_FAMILY)
    rows = []
    for item in items:
        trace = run_agent(
            item.path, item.question, backend, budgets, style=style,
            params=GenerationParams(temperature=0.0), ground_truth=item.answer, trace_id=item.id,
            meta={"segment": [item.start, item.end]},
        )  # fmt: skip
        rows.append(metrics(trace, item))
        if on_trace:
            on_trace(trace, rows[-1])
    return {"summary": {"style": style, **summary(rows)}, "rows": rows, "budgets": budgets.to_dict()}


def items_as_dicts(items: list[MiniItem]) -> list[dict]:
    return [asdict(i) for i in items]
