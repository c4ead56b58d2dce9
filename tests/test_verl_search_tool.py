"""`search_subtitles` as a verl native tool: loaded by verl's own `load_all_tools` from a tool config, bound to the
sample's own SRT through `tools_kwargs` create_kwargs, answering exactly as the core tool does, and turning hostile
arguments into error texts (never exceptions). Real verl classes, real files."""

from __future__ import annotations

import asyncio
import math
from types import SimpleNamespace

import pytest

from longvt_plugins.core.tools.search_subtitles import SearchSubtitlesTool as CoreSearch

SRT = (
    "1\n00:00:01,000 --> 00:00:03,500\nHello there, the <i>red car</i>\n\n"
    "2\n00:00:05,000 --> 00:00:07,000\nThe blue car is here\n\n"
    "3\n00:01:00,000 --> 00:01:02,000\nred car red car\n"
)

HOSTILE = [
    None,
    [],
    "not json",
    '{"query": ',
    {},
    {"query": ""},
    {"query": "   "},
    {"query": "!!!"},
    {"query": 5},
    {"query": ["red"]},
    {"query": "x" * 10_000},
    {"query": "red", "subtitle_path": "/etc/passwd"},
    {"query": "red", "video_path": "/etc/passwd"},
    {"query": "red", "start_time": -1},
    {"query": "red", "start_time": math.nan},
    {"query": "red", "start_time": "1e999"},
    {"query": "red", "start_time": 10, "end_time": 5},
    {"query": "red", "end_time": 0},
    {"query": "red", "start_time": {"a": 1}},
    {"query": "\x00\ud800"},
]


def _load(tmp_path, max_calls=5):
    from verl.tools.tool_registry import load_all_tools

    config = tmp_path / "tools.yaml"
    config.write_text(
        "tools:\n"
        "  - class_name: longvt_plugins.verl.search_tool.SearchSubtitlesTool\n"
        f"    config: {{type: native, max_calls: {max_calls}}}\n",
        encoding="utf-8",
    )
    (tool,) = load_all_tools(tool_config_path=str(config), function_tool_path=None)
    return tool


async def _call(tool, agent_data, tools_kwargs, arguments):
    # What verl's ToolAgentLoop._call_tool does with a row's tools_kwargs for one call.
    kwargs = tools_kwargs.get(tool.name, {})
    instance_id, _ = await tool.create(create_kwargs=kwargs.get("create_kwargs", {}))
    try:
        return await tool.execute(instance_id, arguments, agent_data=agent_data)
    finally:
        await tool.release(instance_id)


def _row_kwargs(path):
    return {"search_subtitles": {"create_kwargs": {"subtitle_path": str(path)}}}


def test_verls_loader_loads_the_tool_and_the_shipped_config(tmp_path):
    from verl.tools.tool_registry import load_all_tools

    from longvt_plugins.verl.plugin import resource_path
    from longvt_plugins.verl.search_tool import SearchSubtitlesTool
    from longvt_plugins.verl.tool import CropVideoTool

    tool = _load(tmp_path, max_calls=3)
    assert isinstance(tool, SearchSubtitlesTool) and tool.name == "search_subtitles" and tool.max_calls == 3
    params = tool.tool_schema.function.parameters
    assert sorted(params.properties) == ["end_time", "query", "start_time"] and params.required == ["query"]
    crop, search, zoom = load_all_tools(
        tool_config_path=resource_path("verl/tool_config_tools.yaml"), function_tool_path=None
    )
    assert isinstance(crop, CropVideoTool) and isinstance(search, SearchSubtitlesTool)
    assert (crop.budget.max_calls, search.max_calls, zoom.budget.max_calls) == (5, 5, 5)
    assert zoom.name == "zoom_frame"  # tests/test_zoom_frame.py covers it
    # The shipped crop-only config is unchanged.
    (only,) = load_all_tools(tool_config_path=resource_path("verl/tool_config.yaml"), function_tool_path=None)
    assert isinstance(only, CropVideoTool)
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "tools:\n  - class_name: longvt_plugins.verl.search_tool.SearchSubtitlesTool\n"
        "    config: {type: native, max_call: 3}\n"
    )
    with pytest.raises(ValueError, match="unknown key.*max_call"):
        load_all_tools(tool_config_path=str(bad), function_tool_path=None)


def test_create_execute_release_gives_the_core_tools_text(tmp_path):
    subs = tmp_path / "sample.srt"
    subs.write_text(SRT, encoding="utf-8")
    tool = _load(tmp_path, max_calls=4)
    core = CoreSearch(subs, max_calls=4)
    calls = [
        {"query": "red car"},
        '{"query": "blue", "start_time": "0:04", "end_time": 10}',
        {"query": "zzz"},
        {"query": "car"},
        {"query": "car"},  # the 5th: over the cap of 4
    ]
    trajectory = SimpleNamespace(extra_fields={})

    async def scenario():
        return [await _call(tool, trajectory, _row_kwargs(subs), args) for args in calls]

    got = asyncio.run(scenario())
    for args, (response, reward, metrics) in zip(calls, got, strict=True):
        want = core.execute(args)
        assert response.text == want.text and reward == 0.0 and response.image is None
        assert metrics["ok"] is want.ok
    assert "[1.0s - 3.5s] Hello there, the red car" in got[0][0].text
    assert "call limit of 4" in got[-1][0].text
    assert trajectory.extra_fields["search_calls"] == 5 and trajectory.extra_fields["search_errors"] == 1
    assert trajectory.extra_fields["tool_call_counts"] == 5 and trajectory.extra_fields["crop_calls"] == 0
    assert tool._subtitles == {}  # every instance released

    # A second trajectory has its own count; a row without subtitles gets the core tool's text.
    other = SimpleNamespace(extra_fields={})
    response, _, _ = asyncio.run(_call(tool, other, _row_kwargs(subs), {"query": "car"}))
    assert (
        response.text == CoreSearch(subs).execute({"query": "car"}).text
        and other.extra_fields["search_calls"] == 1
    )
    response, _, metrics = asyncio.run(_call(tool, None, {}, {"query": "car"}))
    assert "this video has no subtitles" in response.text and metrics == {"ok": False, "error": "subtitles"}


def test_hostile_arguments_give_error_texts_never_exceptions(tmp_path):
    subs = tmp_path / "sample.srt"
    subs.write_text(SRT, encoding="utf-8")
    tool = _load(tmp_path, max_calls=len(HOSTILE) + 1)

    async def scenario():
        out = []
        for args in HOSTILE:
            out.append(await _call(tool, SimpleNamespace(extra_fields={}), _row_kwargs(subs), args))
        # A missing file and a directory as the sample's subtitles: error texts too.
        for path in (tmp_path / "missing.srt", tmp_path):
            out.append(await _call(tool, None, _row_kwargs(path), {"query": "car"}))
        return out

    results = asyncio.run(scenario())
    for args, (response, _, metrics) in zip(HOSTILE, results, strict=False):
        assert metrics["ok"] is False, args
        assert response.text.startswith("search_subtitles error:") and len(response.text) > 40, args
        assert response.text == CoreSearch(subs).execute(args).text
    for response, _, metrics in results[len(HOSTILE) :]:
        assert metrics == {"ok": False, "error": "subtitles"} and response.text.startswith(
            "search_subtitles error:"
        )
