"""The tool registry (core.tools): what it lists, crop_video through it exactly as before, the `longvt-tools`
protocol that offers search_subtitles, and the agent loop dispatching both tools on a real video and subtitle file
(the policy is the scripted OpenAI stand-in server; the tools, files and frames are real)."""

from __future__ import annotations

import json

import numpy as np

from longvt_plugins.core.agent import AgentBudgets, run_agent
from longvt_plugins.core.backends import OpenAIBackend
from longvt_plugins.core.budget import SKIM
from longvt_plugins.core.crop_tool import CROP_VIDEO_SCHEMA, CropBudget, CropVideoTool
from longvt_plugins.core.protocols import LONGVT_PLUGINS, LONGVT_TOOLS, UPSTREAM, get_protocol
from longvt_plugins.core.protocols.messages import shape_request, tools_for
from longvt_plugins.core.protocols.session import ProtocolSession
from longvt_plugins.core.tools import (
    REGISTRY,
    SampleResources,
    bind_tools,
    get_tool,
    tool_names,
    tool_schemas,
)
from longvt_plugins.core.tools.search_subtitles import SEARCH_SUBTITLES_SCHEMA, SearchSubtitlesTool
from longvt_plugins.core.tools.zoom_frame import ZOOM_FRAME_SCHEMA
from longvt_plugins.testing.openai_server import OpenAIStubServer

SRT = "1\n00:00:40,000 --> 00:00:44,000\nLook, the yellow square appears now\n\n2\n00:00:10,000 --> 00:00:12,000\nnothing yet\n"


def test_registry_lists_every_tool_with_a_valid_schema():
    assert tool_names() == ["crop_video", "search_subtitles", "zoom_frame"]
    for name, entry in REGISTRY.items():
        fn = entry.schema["function"]
        assert entry.schema["type"] == "function" and fn["name"] == name and fn["description"]
        assert set(fn["parameters"]["required"]) <= set(fn["parameters"]["properties"])
        assert entry.reads and all(r in ("video_path", "subtitle_path") for r in entry.reads)
    schemas = tool_schemas()
    assert [s["function"]["name"] for s in schemas] == tool_names()
    schemas[0]["function"]["name"] = "changed"  # copies: a host may edit what it was given
    assert REGISTRY["crop_video"].schema["function"]["name"] == "crop_video"
    assert get_tool("search_subtitles").schema is SEARCH_SUBTITLES_SCHEMA
    try:
        get_tool("nope")
    except ValueError as e:
        assert "crop_video" in str(e)
    else:
        raise AssertionError("an unknown tool name must fail")


def test_crop_video_through_the_registry_is_the_crop_tool_unchanged(sample_video):
    entry = REGISTRY["crop_video"]
    assert entry.schema is CROP_VIDEO_SCHEMA
    budget = CropBudget(max_frames=6, max_calls=3)
    bound = bind_tools(["crop_video"], SampleResources(video_path=str(sample_video.path)), budget)[
        "crop_video"
    ]
    direct = CropVideoTool(str(sample_video.path), budget=budget)
    assert type(bound) is CropVideoTool and bound.video_path == direct.video_path and bound.budget == budget
    calls = [
        {"start_time": 60, "end_time": 70},
        '{"start_time": "1:00", "end_time": "75s"}',
        {"start_time": 110, "end_time": 10_000},
        {"start_time": 5},
        {"start_time": -1, "end_time": 3, "video_path": "/etc/passwd"},
        {"start_time": 1, "end_time": 2},  # the 6th call: over the cap of 3 on both
    ]
    for args in calls:
        a, b = bound.execute(args), direct.execute(args)
        assert (a.ok, a.text, a.error, a.window, a.timestamps, a.indices, a.notes) == (
            b.ok,
            b.text,
            b.error,
            b.window,
            b.timestamps,
            b.indices,
            b.notes,
        )
        assert [np.asarray(f).tobytes() for f in a.frames] == [np.asarray(f).tobytes() for f in b.frames]
        assert a.content_parts()[-1] == b.content_parts()[-1]
    assert entry.parse_arguments({"start_time": 1, "end_time": 2}) == (1.0, 2.0, [])


def test_existing_protocols_send_what_they_sent_and_longvt_tools_adds_the_search():
    assert tools_for(LONGVT_PLUGINS, "tool") == [CROP_VIDEO_SCHEMA]
    assert [t["function"]["name"] for t in tools_for(UPSTREAM, "tool")] == ["crop_video"]
    assert "video_path" in tools_for(UPSTREAM, "tool")[0]["function"]["parameters"]["properties"]
    for p in (UPSTREAM, LONGVT_PLUGINS):
        card = p.card()
        assert "also_offered" not in card["tool"] and "also_offered_schema_sha256" not in card
    assert get_protocol("longvt-tools") is LONGVT_TOOLS
    assert tools_for(LONGVT_TOOLS, "tool") == [CROP_VIDEO_SCHEMA, SEARCH_SUBTITLES_SCHEMA, ZOOM_FRAME_SCHEMA]
    assert tools_for(LONGVT_TOOLS, "non_think") == []
    card = LONGVT_TOOLS.card()
    assert card["tool"]["also_offered"] == ("search_subtitles", "zoom_frame")
    assert set(card["also_offered_schema_sha256"]) == {"search_subtitles", "zoom_frame"}
    assert card["zoom_pixels"] == {"min_pixels": 224 * 224, "max_pixels": 448 * 448}
    assert "zoom_pixels" not in LONGVT_PLUGINS.card() and "zoom_pixels" not in UPSTREAM.card()
    assert card["id"] != LONGVT_PLUGINS.card()["id"]
    assert {"search_subtitles", "zoom_frame"} <= set(
        LONGVT_TOOLS.texts()["agent_tools"].replace(",", " ").split()
    )


def _search_then_crop_then_answer(body):
    tools = [m for m in body["messages"] if m["role"] == "tool"]
    if not tools:
        call = {"name": "search_subtitles", "arguments": {"query": "yellow square"}}
        return {"content": "<think>find it</think>", "tool_calls": [{"id": "s1", "function": call}]}
    if len(tools) == 1:
        call = {"name": "crop_video", "arguments": {"start_time": 40, "end_time": 44}}
        return {"content": "<think>look</think>", "tool_calls": [{"id": "c1", "function": call}]}
    return "<think>seen</think><answer>yellow square</answer>"


def _run(sample_video, protocol, subtitle_path):
    budgets = AgentBudgets(skim=SKIM.replace(max_frames=4), crop=CropBudget(max_frames=4))
    with OpenAIStubServer(_search_then_crop_then_answer, model="policy") as server:
        backend = OpenAIBackend(
            server.base_url, "policy", max_retries=0, shape=lambda r: shape_request(protocol, r)
        )
        session = ProtocolSession(protocol, "tool")
        trace = run_agent(
            sample_video.path, "What appears?", backend, budgets, session=session, subtitle_path=subtitle_path
        )
        return trace, list(server.requests)


def test_agent_runs_search_subtitles_under_longvt_tools(sample_video, tmp_path):
    subs = tmp_path / "video.srt"
    subs.write_text(SRT, encoding="utf-8")
    trace, requests = _run(sample_video, LONGVT_TOOLS, subs)
    assert trace.stop_reason == "answer" and trace.final_answer == "yellow square"
    assert [t["function"]["name"] for t in requests[0]["tools"]] == [
        "crop_video",
        "search_subtitles",
        "zoom_frame",
    ]
    search, crop = trace.crops
    assert search.ok and search.timestamps == [] and search.start is None
    assert "[40.0s - 44.0s] Look, the yellow square appears now" in search.text
    reply = [m for m in requests[1]["messages"] if m["role"] == "tool"][0]
    assert reply["tool_call_id"] == "s1" and json.dumps(reply["content"]).count("yellow square appears") == 1
    assert crop.ok and (crop.start, crop.end) == (40.0, 44.0) and len(crop.timestamps) == 4


def test_other_protocols_do_not_offer_or_run_the_search(sample_video, tmp_path):
    subs = tmp_path / "video.srt"
    subs.write_text(SRT, encoding="utf-8")
    trace, requests = _run(sample_video, LONGVT_PLUGINS, subs)
    assert [t["function"]["name"] for t in requests[0]["tools"]] == ["crop_video"]
    assert trace.crops[0].text == "Error: unknown tool 'search_subtitles'; the only tool is crop_video."
    # Without a subtitle file, longvt-tools still offers the search and says there is nothing to search.
    trace, _ = _run(sample_video, LONGVT_TOOLS, None)
    assert not trace.crops[0].ok and "this video has no subtitles" in trace.crops[0].text


def test_search_tool_binds_only_its_own_file(tmp_path):
    bound = bind_tools(
        ["search_subtitles", "crop_video"],
        SampleResources(video_path=str(tmp_path / "v.mp4"), subtitle_path=str(tmp_path / "s.srt")),
        CropBudget(max_calls=2),
    )
    assert list(bound) == ["search_subtitles", "crop_video"]
    search = bound["search_subtitles"]
    assert isinstance(search, SearchSubtitlesTool) and search.max_calls == 2
    assert search.subtitle_path == str((tmp_path / "s.srt").resolve())
