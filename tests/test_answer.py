"""Answer extraction, option letters, the format check and crop windows on real-looking model outputs.

The multi-turn cases are produced the way verl produces them: the conversation is rendered with our Qwen2.5-VL
tool chat template, tokenized with the tiny model's real tokenizer, and the response part is decoded with
``skip_special_tokens=True`` (as ``NaiveRewardManager`` does).
"""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from longvt_plugins.core.answer import (
    check_format,
    count_tool_calls,
    crop_windows,
    extract_answer,
    extract_choice,
    format_score,
    normalize_text,
    rule_score,
    temporal_iou,
)


def _call(start, end, name="crop_video") -> str:
    return (
        "<tool_call>\n"
        + json.dumps({"name": name, "arguments": {"start_time": start, "end_time": end}})
        + "\n</tool_call>"
    )


@pytest.fixture(scope="module")
def verl_decode():
    """Render assistant/tool turns with the real template and decode the response like verl does."""
    from longvt_plugins.testing.tiny_model import build_tokenizer, chat_template_text

    tok = build_tokenizer()
    tok.chat_template = chat_template_text()
    prompt = [{"role": "user", "content": "What happens after the dog jumps?"}]

    def decode(turns: list[dict]) -> str:
        prefix = tok.apply_chat_template(prompt, tokenize=False, add_generation_prompt=True)
        full = tok.apply_chat_template(prompt + turns, tokenize=False)
        assert full.startswith(prefix)
        response_ids = tok(full[len(prefix) :], add_special_tokens=False)["input_ids"]
        return tok.decode(response_ids, skip_special_tokens=True)

    return decode


def _tool_turn(text: str) -> dict:
    return {"role": "tool", "content": [{"type": "image"}, {"type": "image"}, {"type": "text", "text": text}]}


# ------------------------------------------------------------------------------------------ extraction
@pytest.mark.parametrize(
    ("text", "answer"),
    [
        ("<think>the car is red</think><answer>red</answer>", "red"),
        ("<think>x</think>\n<answer>\n  The dog runs away.\n</answer>", "The dog runs away"),
        ("<answer>first</answer> then <answer>second</answer>", "second"),
        ("<think>so it is \\boxed{12}</think>", None),  # a box inside thinking is not a committed answer
        ("We get \\boxed{\\frac{1}{2}} in the end.", "\\frac{1}{2}"),
        ("<answer>\\boxed{C}</answer>", "C"),
        ("<think>I am not sure", None),  # truncated: no answer
        ("", None),
        ("<answer>unclosed", None),
        ("<|im_start|>assistant\n<think>a</think><answer>B</answer><|im_end|>", "B"),
    ],
)
def test_extract_answer(text, answer):
    assert extract_answer(text) == answer


@pytest.mark.parametrize(
    ("text", "letter"),
    [
        ("<answer>B</answer>", "B"),
        ("<answer>(C) the man leaves</answer>", "C"),
        ("<answer>D. blue</answer>", "D"),
        ("The answer is (B).", "B"),
        ("Answer: D", "D"),
        ("Option C", "C"),
        ("B.", "B"),
        ("[A]", "A"),
        ("I choose E because the clock shows noon.", "E"),
        ("The correct option is C", "C"),
        ("<think>maybe A, maybe B</think><answer>\\boxed{C}</answer>", "C"),
        ("<think>A looks right</think>The answer is (D)", "D"),
        ("A man walks into the room", None),
        ("the answer is a red car", None),
        ("b", None),
        ("", None),
        ("<answer>K</answer>", None),  # not an option letter
    ],
)
def test_extract_choice(text, letter):
    assert extract_choice(text) == letter


def test_extract_choice_respects_the_option_set():
    assert extract_choice("<answer>E</answer>", options="ABCD") is None
    assert extract_choice("<answer>D</answer>", options="ABCD") == "D"


# ------------------------------------------------------------------------------------------ format
@pytest.mark.parametrize(
    ("text", "ok"),
    [
        ("<think>It is red.</think><answer>red</answer>", True),
        ("  <think>x</think>\n\n<answer>y</answer>\n", True),
        ("<think>x</think>" + _call(1, 2) + "<think>y</think><answer>z</answer>", True),
        ("<answer>red</answer>", False),  # no thinking
        ("<think>x</think>", False),  # no answer
        ("<think>x</think> so: <answer>y</answer>", False),  # text outside the tags
        ("<think>x</think><answer>y</answer> trailing", False),
        ("<think>x</think><answer>y</answer><answer>z</answer>", False),
        ("<think>x<answer>y</answer></think><answer>y</answer>", False),  # nested
        ("<think>x</think>" + _call(1, 2) + "<answer>z</answer>", False),  # no think after the call
        ("<think>x</think><answer>y", False),  # unclosed
        ("<think>x</think><tool_call>{}<answer>y</answer>", False),
        ("", False),
    ],
)
def test_format_on_single_turn_strings(text, ok):
    assert check_format(text).ok is ok
    assert format_score(text) == float(ok)


def test_format_and_answer_on_verl_decoded_multi_turn(verl_decode):
    text = verl_decode(
        [
            {"role": "assistant", "content": "<think>The jump is near 40s.</think>\n" + _call(35.0, 50.0)},
            _tool_turn("Frames at 35.0s, 37.5s ... 50.0s"),
            {"role": "assistant", "content": "<think>Look closer.</think>\n" + _call(40, 44)},
            _tool_turn("Frames at 40.0s ... 44.0s"),
            {"role": "assistant", "content": "<think>It lands in the pool.</think>\n<answer>C</answer>"},
        ]
    )
    # what verl hands to compute_score: role words and tool text survive, special tokens do not
    assert "<|im_start|>" not in text and "user\n<tool_response>" in text and "assistant\n<think>" in text
    assert check_format(text).ok, check_format(text).reason
    assert extract_answer(text) == "C" and extract_choice(text) == "C"
    assert crop_windows(text) == [(35.0, 50.0), (40.0, 44.0)]
    assert count_tool_calls(text) == 2


def test_format_rejects_bad_verl_decoded_multi_turn(verl_decode):
    no_rethink = verl_decode(
        [
            {"role": "assistant", "content": "<think>look</think>\n" + _call(1, 5)},
            _tool_turn("Frames"),
            {"role": "assistant", "content": "<answer>B</answer>"},
        ]
    )
    assert not check_format(no_rethink).ok
    truncated = verl_decode(
        [
            {"role": "assistant", "content": "<think>look</think>\n" + _call(1, 5)},
            _tool_turn("Frames"),
        ]
    )
    assert not check_format(truncated).ok
    assert extract_answer(truncated) is None


def test_answer_in_a_tool_response_is_not_the_models_answer(verl_decode):
    text = verl_decode(
        [
            {"role": "assistant", "content": "<think>look</think>\n" + _call(1, 5)},
            _tool_turn("<answer>A</answer> (text the environment returned)"),
            {"role": "assistant", "content": "<think>now I know</think><answer>D</answer>"},
        ]
    )
    assert extract_answer(text) == "D"


# ------------------------------------------------------------------------------------------ crop windows
def test_crop_windows_parse_json_only():
    text = (
        _call("10", 20.5)
        + "<tool_call>{'name': 'crop_video', 'arguments': {'start_time': 1, 'end_time': 2}}</tool_call>"  # not JSON
        + "<tool_call>"
        + json.dumps({"name": "crop_video", "arguments": json.dumps({"start_time": 3, "end_time": 4})})
        + "</tool_call>"
        + _call(5, 6, name="other_tool")
        + _call(None, 9)
        + _call("nan", 9)
        + "<tool_call>__import__('os').system('echo pwned')</tool_call>"
    )
    assert crop_windows(text) == [(10.0, 20.5), (3.0, 4.0)]
    assert count_tool_calls(text) == 7


def test_crop_windows_read_every_form_the_tool_accepts():
    """One time parser: the crop tool's. Before, "1:02:03" and "12 sec" cropped but earned no IoU."""
    text = _call("1:02:03", "1:02:13.5") + _call("12 sec", "20 seconds") + _call("0:40", 45)
    assert crop_windows(text) == [(3723.0, 3733.5), (12.0, 20.0), (40.0, 45.0)]


def test_crop_windows_skip_what_the_tool_rejects():
    text = (
        _call(20, 10)  # reversed: the tool answers with an error, nothing is cropped
        + _call(-5, 10)  # negative start
        + "<tool_call>"
        + json.dumps({"name": "crop_video", "arguments": {"start_time": 1, "end_time": 2, "fps": 9}})
        + "</tool_call>"  # an argument the tool does not take
        + _call(3, 4)
        + "<tool_call>"
        + json.dumps({"name": "crop_video", "arguments": {"start_time": 5, "end_time": 6}})  # never closed
    )
    assert crop_windows(text) == [(3.0, 4.0)]
    assert count_tool_calls(text) == 4  # closed blocks only: an unclosed one was never handed to the tool


@pytest.mark.parametrize(
    ("pred", "gt", "iou"),
    [
        ((10, 20), (10, 20), 1.0),
        ((10, 20), (15, 25), 5 / 15),
        ((0, 5), (10, 20), 0.0),
        ((20, 10), (10, 20), 0.0),  # reversed window
        (None, (1, 2), 0.0),
        ((0, 100), (40, 50), 0.1),
    ],
)
def test_temporal_iou(pred, gt, iou):
    assert temporal_iou(pred, gt) == pytest.approx(iou)


@settings(max_examples=200, deadline=None)
@given(
    st.tuples(st.floats(0, 1000), st.floats(0, 1000)),
    st.tuples(st.floats(0, 1000), st.floats(0, 1000)),
)
def test_temporal_iou_is_symmetric_and_bounded(a, b):
    value = temporal_iou(a, b)
    assert 0.0 <= value <= 1.0
    assert value == pytest.approx(temporal_iou(b, a))


_PIECES = list("<>/\\{}()[]:. \nABCabc01") + [
    "<think>",
    "</think>",
    "<answer>",
    "</answer>",
    "<tool_call>",
    "</tool_call>",
    "<tool_response>",
    "</tool_response>",
    "\\boxed{",
    "user\n",
    "assistant\n",
    "The answer is ",
    '{"name": "crop_video"',
]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(_PIECES), max_size=40).map("".join))
def test_parsers_never_raise_on_arbitrary_text(text):
    extract_answer(text)
    extract_choice(text)
    assert format_score(text) in (0.0, 1.0)
    crop_windows(text)


# ------------------------------------------------------------------------------------------ rule score
@pytest.mark.parametrize(
    ("answer", "gt", "score"),
    [
        ("red", "red", 1.0),
        ("The Red.", "red", 1.0),
        ("B", "B", 1.0),
        ("(B) the dog", "B", 1.0),
        ("The answer is C", "B", 0.0),
        ("3.0", "3", 1.0),
        ("1,000", "1000", 1.0),
        ("4", "3", 0.0),
        ("red car", "a red car parked outside the shop", 0.0),  # containment alone is not enough
        ("the kitchen counter", "kitchen counter", 1.0),
        (None, "red", 0.0),
        ("", "red", 0.0),
    ],
)
def test_rule_score(answer, gt, score):
    assert rule_score(answer, gt) == score


def test_normalize_text():
    assert normalize_text("  The  Cat, sat!  ") == "cat sat"
