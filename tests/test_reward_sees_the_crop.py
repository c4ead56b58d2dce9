"""The reward's temporal IoU reads a crop_video call exactly as the crop tool does: one parser, one time parser.

For any arguments the tool accepts, the window the reward sees in the response text is the window the tool
cropped (on a real video); for any arguments it rejects, the reward sees no window.
"""

from __future__ import annotations

import asyncio
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from longvt_plugins.core.answer import crop_windows
from longvt_plugins.core.crop_tool import ArgumentError, CropVideoTool, parse_crop_arguments
from longvt_plugins.core.rewards import compute_reward
from longvt_plugins.core.toolcall import ToolCall, render_tool_call, render_tool_response

# Quarter seconds are exact in every written form below, so "the same window" can be tested with ==.
_QUARTERS = st.integers(min_value=0, max_value=11 * 4).map(lambda q: q / 4)


def _clock(seconds: float, hours: bool) -> str:
    m, s = divmod(seconds, 60)
    return f"0:{int(m):02d}:{s:05.2f}" if hours else f"{int(m)}:{s:05.2f}"


def _written(seconds: float) -> st.SearchStrategy:
    """The forms a model writes a time in, all of which the tool accepts."""
    forms = [
        st.just(seconds),
        st.just(int(seconds)) if seconds == int(seconds) else st.just(seconds),
        st.just(f"{seconds:g}"),
        st.sampled_from(["s", " s", "sec", " sec", " secs", " seconds", "second"]).map(
            lambda unit: f"{seconds:g}{unit}"
        ),
        st.booleans().map(lambda hours: _clock(seconds, hours)),
    ]
    return st.one_of(forms)


# Times as written, plus values the tool must reject (negative, text, null, NaN, a list).
_TIME = st.one_of(
    _QUARTERS.flatmap(_written),
    st.sampled_from([-1, -0.5, "-3", "soon", None, "nan", "inf", [1, 2], True, "1:2:3:4"]),
)
_ARGUMENTS = st.fixed_dictionaries({"start_time": _TIME, "end_time": _TIME}) | st.fixed_dictionaries(
    {"start_time": _TIME, "end_time": _TIME, "extra": st.just(1)}
)


def _response(arguments: dict, as_string: bool, result_text: str) -> str:
    """A verl-decoded response with one crop call and its tool turn; arguments possibly as a JSON string."""
    args = json.dumps(arguments) if as_string else arguments
    call = render_tool_call(ToolCall("crop_video", args))  # type: ignore[arg-type]
    return f"<think>look</think>\n{call}\nuser\n{render_tool_response(result_text)}\nassistant\n<think>ok</think>"


@settings(max_examples=400, deadline=None)
@given(_ARGUMENTS, st.booleans())
def test_reward_reads_every_call_as_the_tool_does(arguments, as_string):
    text = _response(arguments, as_string, "frames")
    try:
        start, end, _ = parse_crop_arguments(arguments)
    except ArgumentError:
        assert crop_windows(text) == []
    else:
        assert crop_windows(text) == [(start, end)]


@pytest.fixture(scope="module")
def crop_tool(short_video):
    return CropVideoTool(short_video.path)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(arguments=_ARGUMENTS)
def test_reward_sees_exactly_the_window_the_tool_cropped(crop_tool, arguments):
    """On the 12 s video every generated window lies inside the video and spans several frames, so the tool
    crops whatever arguments it accepts (the text cannot tell the reward a video's length: windows past the end
    are the host counters' business, see verl/counters.py)."""
    crop_tool.calls = 0  # the call cap is not what this test is about
    result = crop_tool.execute(arguments)
    text = _response(arguments, False, result.text)
    if not result.ok:
        assert result.error == "arguments", result.text
        assert crop_windows(text) == []
        return
    assert crop_windows(text) == [result.window]
    reward = asyncio.run(compute_reward(text, "x", segment=list(result.window)))
    assert reward["iou"] == 1.0
