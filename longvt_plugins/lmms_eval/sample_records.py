"""Hand-over of per-sample records from our model to our tasks' `process_results` (the scored text is
`core.trace.transcript`).

lmms-eval gives `process_results(doc, results)` only the doc and the response text, so the model files a record
(trace summary, failure reason, protocol card) under (style, doc content hash) and the scorer takes it back.
The record lands in the samples JSONL under `longvt` - every turn, every crop window, frames, tokens, time -
next to lmms-eval's own fields. Both sides run in the same process (each accelerate rank scores its own docs).
"""

from __future__ import annotations

import threading
from collections import defaultdict, deque
from typing import Any

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
