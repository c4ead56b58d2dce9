"""Hand-over of per-sample records from our model to our tasks' `process_results`, and the text that is scored.

lmms-eval gives `process_results(doc, results)` only the doc and the response text, so the model files a record
(trace summary, failure reason, protocol card) under (style, doc content hash) and the scorer takes it back.
The record lands in the samples JSONL under `longvt` - every turn, every crop window, frames, tokens, time -
next to lmms-eval's own fields. Both sides run in the same process (each accelerate rank scores its own docs).
"""

from __future__ import annotations

import threading
from collections import defaultdict, deque
from typing import Any

from longvt_plugins.core.toolcall import ToolCall, render_tool_call, render_tool_response

_LOCK = threading.Lock()
_STORE: dict[tuple[str, str], deque[dict]] = defaultdict(deque)


def put(style: str, key: str, record: dict[str, Any]) -> None:
    with _LOCK:
        _STORE[(style, key)].append(record)


def take(style: str, key: str) -> dict[str, Any] | None:
    """The oldest record filed for this doc and style (repeats are filed and taken in order), or None."""
    with _LOCK:
        queue = _STORE.get((style, key))
        if not queue:
            return None
        record = queue.popleft()
        if not queue:
            del _STORE[(style, key)]
        return record


def pending() -> int:
    with _LOCK:
        return sum(len(q) for q in _STORE.values())


def transcript(trace: Any) -> str:
    """The assistant side of a trace as one string, in the shape the format check and answer parser read.

    Each turn's text, its tool calls rendered by `core.toolcall` as the chat template writes them, and the tool's reply text as a
    `<tool_response>` block (the frames themselves are not text). Tool calls are re-rendered from the parsed
    calls, so a server's native tool_calls and in-process hermes text give the same transcript.
    """
    crops = {c.index: c for c in trace.crops}
    parts: list[str] = []
    for turn in trace.turns:
        text = (turn.content or "").strip()
        if text:
            parts.append(text)
        for call in turn.tool_calls:
            parts.append(render_tool_call(ToolCall(call.get("name"), call.get("arguments"))))
        replies = [crops[i] for i in turn.crops if i in crops]
        for error in turn.tool_call_errors:
            parts.append(render_tool_response(str(error)))
        for crop in replies:
            body = crop.text if crop.ok else f"Error: {crop.error or crop.text}"
            parts.append(render_tool_response(body))
    return "\n".join(parts)


def summarize(trace: Any) -> dict[str, Any]:
    """The per-sample log: every turn, every crop window, frames used, tokens used, time."""
    turns = []
    for t in trace.turns:
        turns.append(
            {
                "turn": t.index,
                "text": t.raw_text or t.content,
                "tool_calls": t.tool_calls,
                "tool_call_errors": t.tool_call_errors,
                "call_format": t.call_format,
                "finish_reason": t.finish_reason,
                "prompt_tokens": t.prompt_tokens,
                "completion_tokens": t.completion_tokens,
                "generate_s": round(t.generate_s, 4),
                "tool_s": round(t.tool_s, 4),
            }
        )
    crops = [
        {
            "call": c.index,
            "turn": c.turn,
            "arguments": c.arguments,
            "ok": c.ok,
            "window": [c.start, c.end] if c.ok else None,
            "frames": len(c.timestamps),
            "timestamps": c.timestamps,
            "error": c.error,
        }
        for c in trace.crops
    ]
    return {
        "trace_id": trace.id,
        "style": trace.style,
        "stop_reason": trace.stop_reason,
        "error": trace.error,
        "final_answer": trace.final_answer,
        "video": trace.video,
        "skim_frames": len(trace.skim.get("timestamps", [])),
        "skim_timestamps": trace.skim.get("timestamps", []),
        "frames_seen": trace.frames_seen,
        "tool_calls": sum(len(t.tool_calls) for t in trace.turns),
        "crop_windows": [list(w) for w in trace.crop_windows],
        "turns": turns,
        "crops": crops,
        "usage": trace.usage,
        "timings": {k: round(v, 4) for k, v in trace.timings.items()},
    }
