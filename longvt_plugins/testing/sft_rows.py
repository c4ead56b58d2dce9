"""Small, real tool-integrated trace rows in our SFT schema (tests, docs, the tiny CPU recipe).

Framework-free: builds dicts only. The rows reference real files; nothing is decoded here.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

SYSTEM = (
    "You are a helpful assistant. Think in <think></think>, call crop_video to look closer at a time window, "
    "and give the final answer in <answer></answer>."
)


def tool_trace_row(
    video: str,
    *,
    row_id: str = "trace-0",
    clip: tuple[float, float] = (10.0, 40.0),
    crops: list[tuple[float, float]] = ((15.0, 25.0),),
    answer: str = "blue",
    question: str = "What colour is the shape at 20 seconds?",
    messages_as_json: bool = True,
) -> dict[str, Any]:
    """A multi-turn iMCoTT trace: a video sub-clip in the question, one replayed crop_video turn per window in
    `crops` (frames re-made by the real crop tool when the row is loaded), then the answer."""
    from longvt_plugins.core.crop_tool import CROP_VIDEO_SCHEMA

    messages: list[dict[str, Any]] = [
        {"role": "system", "content": [{"type": "text", "text": SYSTEM}]},
        {
            "role": "user",
            "content": [
                {
                    "type": "video_url",
                    "video_url": {"url": video, "video_start": clip[0], "video_end": clip[1]},
                },
                {"type": "text", "text": question},
            ],
        },
    ]
    for k, (s, e) in enumerate(crops):
        think = (
            "<think>The skim is too coarse; look closer.</think>"
            if k == 0
            else "<think>Not yet clear.</think>"
        )
        call = {"name": "crop_video", "arguments": json.dumps({"start_time": s, "end_time": e})}
        messages.append(
            {
                "role": "assistant",
                "content": _text(think),
                "tool_calls": [{"type": "function", "function": call}],
            }
        )
        messages.append({"role": "tool", "name": "crop_video", "replay": True})
    messages.append(
        {
            "role": "assistant",
            "content": _text(f"<think>The frames show it.</think><answer>{answer}</answer>"),
        }
    )
    return {
        "id": row_id,
        "video": video,
        "tools": json.dumps([CROP_VIDEO_SCHEMA]),
        "messages": json.dumps(messages) if messages_as_json else messages,
    }


def _text(text: str) -> list[dict[str, Any]]:
    # Content always as a list of parts: Arrow (jsonl / parquet) cannot hold strings and lists in one column.
    return [{"type": "text", "text": text}]


def write_jsonl(rows: list[dict[str, Any]], path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as f:
        for r in rows:
            f.write(json.dumps(r) + "\n")
    return path
