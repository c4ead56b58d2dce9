"""Hermes tool-call parsing and rendering: several calls per message, string or object arguments, malformed JSON
as model-readable errors (never an exception, never eval), and byte-equality with our chat template."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from longvt_plugins.core.toolcall import (
    ToolCall,
    parse_tool_calls,
    render_tool_call,
    render_tool_response,
    render_tool_turn,
    tool_response_parts,
)


def test_several_calls_with_object_and_string_arguments():
    text = (
        "<think>look twice</think>\n"
        '<tool_call>\n{"name": "crop_video", "arguments": {"start_time": 1, "end_time": 2}}\n</tool_call>\n'
        '<tool_call>{"name": "crop_video", "arguments": "{\\"start_time\\": 3.5, \\"end_time\\": 9}"}</tool_call>'
    )
    parsed = parse_tool_calls(text)
    assert parsed.errors == []
    assert [(c.name, c.arguments) for c in parsed.calls] == [
        ("crop_video", {"start_time": 1, "end_time": 2}),
        ("crop_video", {"start_time": 3.5, "end_time": 9}),
    ]
    assert parsed.content == "<think>look twice</think>"
    assert len({c.id for c in parsed.calls}) == 2


def test_no_calls_is_plain_content():
    parsed = parse_tool_calls("<think>ok</think><answer>B</answer>")
    assert (
        parsed.calls == [] and parsed.errors == [] and parsed.content == "<think>ok</think><answer>B</answer>"
    )


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ("{'name': 'crop_video', 'arguments': {'start_time': 1}}", "not valid JSON"),
        ('{"name": "crop_video", "arguments": {"start_time": 1,}}', "not valid JSON"),
        ('["crop_video", 1, 2]', "must be a JSON object"),
        ('{"arguments": {"start_time": 1}}', 'has no "name"'),
        ('{"name": "crop_video", "arguments": [1, 2]}', '"arguments" is not a JSON object'),
        ('{"name": "crop_video", "arguments": "{bad"}', '"arguments" is not a JSON object'),
        ('{"name": "crop_video"} and then some words', "not valid JSON"),
        ("__import__('os').system('touch /tmp/pwned')", "not valid JSON"),
        ("[" * 100_000, "not valid JSON"),
    ],
)
def test_malformed_calls_become_errors_the_model_reads(body, fragment):
    parsed = parse_tool_calls(f"<think>x</think><tool_call>{body}</tool_call>")
    assert parsed.calls == [] and len(parsed.errors) == 1
    assert fragment in parsed.errors[0] and parsed.errors[0].startswith("tool call 1")
    assert len(parsed.errors[0]) < 400  # a preview, not the whole (possibly huge) body


def test_one_bad_call_does_not_hide_the_good_ones():
    good = '{"name": "crop_video", "arguments": {"start_time": 0, "end_time": 5}}'
    parsed = parse_tool_calls(f"<tool_call>{{oops</tool_call><tool_call>{good}</tool_call>")
    assert len(parsed.calls) == 1 and parsed.errors[0].startswith("tool call 1")


def test_unterminated_final_call_is_parsed_when_complete():
    """vLLM with stop=["</tool_call>"] cuts the closing tag off."""
    parsed = parse_tool_calls(
        '<think>t</think><tool_call>\n{"name": "crop_video", "arguments": {"start_time": 1}}'
    )
    assert parsed.calls[0].arguments == {"start_time": 1}
    cut = parse_tool_calls('<tool_call>{"name": "crop_video", "argum')
    assert cut.calls == [] and "no closing </tool_call>" in cut.errors[0]


def test_tolerated_slips():
    extra_brace = parse_tool_calls('<tool_call>{"name": "f", "arguments": {"a": 1}}}</tool_call>')
    fenced = parse_tool_calls('<tool_call>```json\n{"name": "f", "arguments": {}}\n```</tool_call>')
    params = parse_tool_calls('<tool_call>{"name": "f", "parameters": {"a": 2}}</tool_call>')
    assert extra_brace.calls[0].arguments == {"a": 1}
    assert fenced.calls[0].name == "f"
    assert params.calls[0].arguments == {"a": 2}


def test_non_string_input_is_an_error_not_a_crash():
    assert parse_tool_calls(None).errors  # type: ignore[arg-type]


def test_render_matches_the_chat_template_byte_for_byte():
    """Rendered by transformers' own chat-template renderer, as every host does."""
    from transformers.utils.chat_template_utils import render_jinja_template

    from longvt_plugins.testing.tiny_model import chat_template_text

    calls = [
        ToolCall("crop_video", {"start_time": 1.5, "end_time": 7}),
        ToolCall("crop_video", {"start_time": 9}),
    ]
    messages = [
        {"role": "user", "content": "q"},
        {"role": "assistant", "content": "<think>t</think>", "tool_calls": [c.to_openai() for c in calls]},
        {"role": "tool", "content": "first"},
        {"role": "tool", "content": [{"type": "text", "text": "second"}]},
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [{"function": {"name": "f", "arguments": {"é": [1.5]}}}],
        },
    ]
    rendered = render_jinja_template(conversations=[messages], chat_template=chat_template_text())[0][0]
    ours = "<think>t</think>\n" + "\n".join(render_tool_call(c) for c in calls)
    assert f"<|im_start|>assistant\n{ours}<|im_end|>\n" in rendered
    assert render_tool_turn(["first", "second"]) in rendered
    assert f"<|im_start|>assistant\n{render_tool_call(ToolCall('f', {'é': [1.5]}))}<|im_end|>" in rendered


def test_render_response_and_openai_round_trip():
    assert render_tool_response("ok") == "<tool_response>\nok\n</tool_response>"
    frame = {"type": "image_url", "image_url": {"url": "data:,"}}
    parts = tool_response_parts([{"type": "text", "text": "ok"}, frame])
    assert parts[1:3] == [{"type": "text", "text": "ok"}, frame]
    assert "".join(p.get("text", "") for p in parts) == render_tool_response("ok")
    call = ToolCall("crop_video", {"start_time": 1, "end_time": 2}, id="call_1")
    back = ToolCall.from_openai(call.to_openai())
    assert (back.name, back.arguments, back.id) == ("crop_video", {"start_time": 1, "end_time": 2}, "call_1")
    with pytest.raises(ValueError):
        ToolCall.from_openai({"function": {"arguments": "{}"}})


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)


@settings(max_examples=300, deadline=None)
@given(
    name=st.from_regex(r"[a-z_][a-z0-9_]{0,20}", fullmatch=True),
    arguments=st.dictionaries(st.text(max_size=8), json_values, max_size=4),
    before=st.text(max_size=30).filter(lambda t: "<tool_call>" not in t),
)
def test_render_then_parse_is_the_identity(name, arguments, before):
    text = before + render_tool_call(ToolCall(name, arguments))
    parsed = parse_tool_calls(text)
    assert parsed.errors == []
    assert [(c.name, c.arguments) for c in parsed.calls] == [(name, arguments)]


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=200) | st.text(alphabet='<>/{}[]":,tool_call ', max_size=200))
def test_parser_never_raises(text):
    parsed = parse_tool_calls(text)
    assert isinstance(parsed.content, str)
    assert all(isinstance(e, str) and e for e in parsed.errors)
