"""The `upstream` protocol's chat template renders the compact format LongVT's checkpoints were trained on.

Checked two ways: against the SHA-256 of what LongVT's own template (examples/eval/tool_call_qwen2_5_vl.jinja at
08d755b9, tests/upstream_facts.py) renders for each conversation of tests/template_conversations.py, and against
a readable expected text. The rendering is done by transformers' own chat-template engine (trim_blocks,
lstrip_blocks), as vLLM does it. (The earlier expected text came from the inventory's rendered example, which
wrote "assistant.\n\n# Tools"; LongVT's template under trim_blocks gives "assistant.\n# Tools".)
"""

from __future__ import annotations

import hashlib
from importlib import resources

import pytest
import upstream_facts as facts
from template_conversations import CONVERSATIONS
from transformers.utils.chat_template_utils import render_jinja_template

from longvt_plugins.core.protocols import LONGVT_PLUGINS, UPSTREAM


def _template(name: str) -> str:
    return resources.files("longvt_plugins.templates").joinpath(name).read_text()


def _render(name, messages, tools, **kw):
    out, _ = render_jinja_template(
        conversations=[messages], tools=tools, chat_template=_template(name), add_generation_prompt=True, **kw
    )
    return out[0]


def test_upstream_template_renders_the_compact_format():
    schema = UPSTREAM.tool_schema()
    import json

    messages = [
        {"role": "user", "content": [{"type": "video"}, {"type": "text", "text": "QUESTION"}]},
        {
            "role": "assistant",
            "content": "<think>a</think>",
            "tool_calls": [
                {
                    "type": "function",
                    "function": {
                        "name": "crop_video",
                        "arguments": {"video_path": "/v.mp4", "start_time": 10.0, "end_time": 20.0},
                    },
                }
            ],
        },
        {
            "role": "tool",
            "name": "crop_video",
            "content": [{"type": "image"}, {"type": "image"}, {"type": "text", "text": "T"}],
        },
    ]
    expected = (
        "<|im_start|>system\nYou are a helpful assistant.\n# Tools\nYou may call one or more functions to assist "
        "with the user query.\nYou are provided with function signatures within <tools></tools> XML tags:\n<tools>"
        + json.dumps(schema)
        + "</tools>\nFor each function call, return a json object with function name and arguments within "
        '<tool_call></tool_call> XML tags:\n<tool_call>{"name": <function-name>, "arguments": <args-json-object>}'
        "</tool_call><|im_end|>"
        "<|im_start|>user\n<|vision_start|><|video_pad|><|vision_end|>QUESTION<|im_end|>"
        '<|im_start|>assistant\n<think>a</think><tool_call>{"name":"crop_video","arguments":{"video_path": '
        '"/v.mp4", "start_time": 10.0, "end_time": 20.0}}</tool_call><|im_end|>'
        "<|im_start|>user<tool_response>\n<|vision_start|><|image_pad|><|vision_end|>"
        "<|vision_start|><|image_pad|><|vision_end|>T</tool_response><|im_end|>"
        "<|im_start|>assistant\n"
    )
    assert UPSTREAM.chat_template == "qwen2_5_vl_tools_compact.jinja"
    assert _render(UPSTREAM.chat_template, messages, [schema]) == expected


def test_the_two_templates_differ_only_in_layout():
    messages = [{"role": "user", "content": "Q"}]
    compact = _render(UPSTREAM.chat_template, messages, None)
    ours = _render(LONGVT_PLUGINS.chat_template, messages, None)
    assert (
        compact
        == "<|im_start|>system\nYou are a helpful assistant.\n<|im_end|><|im_start|>user\nQ<|im_end|><|im_start|>assistant\n"
    )
    assert ours.replace("\n<|im_start|>", "<|im_start|>") == compact.replace(".\n<|im_end|>", ".<|im_end|>")


@pytest.mark.parametrize("name", sorted(CONVERSATIONS))
def test_upstream_template_renders_as_longvts_own(name):
    messages, tools = CONVERSATIONS[name]
    rendered = _render(UPSTREAM.chat_template, messages, tools)
    assert hashlib.sha256(rendered.encode()).hexdigest() == facts.TEMPLATE_RENDER_SHA256[name], rendered


def test_a_system_prompt_runs_into_the_tools_block():
    messages, tools = CONVERSATIONS["think_task_first_request"]
    assert "Be brief.# Tools\n" in _render(UPSTREAM.chat_template, messages, tools)
