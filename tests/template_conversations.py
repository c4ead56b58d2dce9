"""Conversations the `upstream` chat-template facts were rendered from (tests/upstream_facts.py), in the shapes
lmms-eval's async_openai sends and vLLM hands its template (tool-call arguments already parsed to a dict)."""

from __future__ import annotations

import json
from importlib import resources

SCHEMA = json.loads(
    resources.files("longvt_plugins.core.protocols").joinpath("upstream_crop_video_schema.json").read_text()
)
_IMG = {"type": "image_url", "image_url": {"url": "data:image/png;base64,AA=="}}
_CALL = {
    "id": "c1",
    "type": "function",
    "function": {
        "name": "crop_video",
        "arguments": {"video_path": "/v.mp4", "start_time": 1, "end_time": 5.5},
    },
}
_USER = {"role": "user", "content": [_IMG, _IMG, {"type": "text", "text": "Q? Think first."}]}

CONVERSATIONS = {
    "tool_task_first_request": ([_USER], [SCHEMA]),
    "think_task_first_request": (
        [{"role": "system", "content": [{"type": "text", "text": "Be brief."}]}, _USER],
        [SCHEMA],
    ),
    "no_tools_no_system": ([_USER], None),
    "no_tools_with_system": ([{"role": "system", "content": [{"type": "text", "text": "S."}]}, _USER], None),
    "after_one_tool_round": (
        [
            _USER,
            {"role": "assistant", "content": "<think>a</think>"},
            {"role": "assistant", "tool_calls": [_CALL]},  # async_openai: no content key
            {"role": "tool", "name": "crop_video", "content": [_IMG, _IMG]},
            {
                "role": "tool",
                "name": "crop_video",
                "content": [{"type": "text", "text": "Error executing tool crop_video: x"}],
            },
        ],
        [SCHEMA],
    ),
    "assistant_text_and_call_in_one": (
        [_USER, {"role": "assistant", "content": "<think>b</think>", "tool_calls": [_CALL]}],
        [SCHEMA],
    ),
}
