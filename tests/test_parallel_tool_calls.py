"""Several calls per turn under `longvt-tools` (issue 27): the core agent runs the calls a turn's budget admits
(concurrently), answers them in call order, refuses the calls over the protocol's per-turn call budget, and shares
the protocol's per-turn frame budget among the turn's crops. The policy is the scripted OpenAI-protocol server over
loopback HTTP; the video, the SRT file, the decoded frames and the tools are real."""

from __future__ import annotations

import json
from dataclasses import replace

from longvt_plugins.core.agent import run_agent
from longvt_plugins.core.backends import OpenAIBackend
from longvt_plugins.core.crop_tool import CropBudget, CropVideoTool
from longvt_plugins.core.protocols import LONGVT_PLUGINS, LONGVT_TOOLS, UPSTREAM
from longvt_plugins.core.protocols.messages import shape_request
from longvt_plugins.core.protocols.session import ProtocolSession
from longvt_plugins.core.tools.search_subtitles import SearchSubtitlesTool
from longvt_plugins.core.video import sample_window
from longvt_plugins.testing.openai_server import OpenAIStubServer

SRT = (
    "1\n00:00:40,000 --> 00:00:44,000\nLook, the yellow square appears now\n\n"
    "2\n00:00:10,000 --> 00:00:12,000\nnothing yet\n\n"
    "3\n00:01:30,000 --> 00:01:33,000\nA blue circle, at last\n"
)


def _crop(cid, start, end):
    return {
        "id": cid,
        "function": {"name": "crop_video", "arguments": {"start_time": start, "end_time": end}},
    }


def _search(cid, query):
    return {"id": cid, "function": {"name": "search_subtitles", "arguments": {"query": query}}}


def _script(*turns):
    """Policy: the i-th request gets turns[i] as its tool calls; once they are used up, an answer."""

    def handler(body):
        done = sum(1 for m in body["messages"] if m["role"] == "assistant")
        if done < len(turns):
            return {"content": f"<think>turn {done + 1}</think>", "tool_calls": list(turns[done])}
        return "<think>seen</think><answer>yellow square</answer>"

    return handler


def _run(video, protocol, subtitles, *turns):
    with OpenAIStubServer(_script(*turns), model="policy") as server:
        backend = OpenAIBackend(
            server.base_url, "policy", max_retries=0, shape=lambda r: shape_request(protocol, r)
        )
        trace = run_agent(
            video.path,
            "What appears?",
            backend,
            session=ProtocolSession(protocol, "tool"),
            subtitle_path=subtitles,
        )
        return trace, list(server.requests)


def _srt(tmp_path):
    path = tmp_path / "video.srt"
    path.write_text(SRT, encoding="utf-8")
    return path


def _crop_budget(protocol, **changes):
    return replace(CropBudget(**protocol.crop.to_dict(), max_calls=protocol.max_tool_calls), **changes)


def _frames_of(message):
    return [p for p in message["content"] if p["type"] == "image_url"]


def test_the_protocol_names_its_per_turn_budget_and_the_other_cards_are_unchanged():
    card = LONGVT_TOOLS.card()
    assert (card["tool"]["calls_per_turn"], card["tool"]["frames_per_turn"]) == (3, 128)
    for p in (UPSTREAM, LONGVT_PLUGINS):
        tool = p.card()["tool"]
        assert "calls_per_turn" not in tool and "frames_per_turn" not in tool
    assert ProtocolSession(LONGVT_TOOLS, "tool").calls_per_turn(1) == 3
    assert ProtocolSession(LONGVT_PLUGINS, "tool").calls_per_turn(1) == 1
    assert ProtocolSession(UPSTREAM, "tool").calls_per_turn(1) > 1000
    assert ProtocolSession(LONGVT_PLUGINS, "tool").frames_per_turn() is None
    # A changed budget is a different protocol (card id).
    other = replace(LONGVT_TOOLS, tool=replace(LONGVT_TOOLS.tool, calls_per_turn=2))
    assert other.card()["id"] != card["id"]


def test_three_calls_of_one_turn_come_back_in_call_order(sample_video, tmp_path):
    subs = _srt(tmp_path)
    turn = [_crop("c1", 60, 70), _search("s1", "yellow square"), _crop("c2", 10, 14)]
    trace, requests = _run(sample_video, LONGVT_TOOLS, subs, turn)
    assert trace.stop_reason == "answer" and len(requests) == 2
    replies = [m for m in requests[1]["messages"] if m["role"] == "tool"]
    assert [m["tool_call_id"] for m in replies] == ["c1", "s1", "c2"]
    assert [(c.call_id, c.ok, c.turn) for c in trace.crops] == [
        ("c1", True, 1),
        ("s1", True, 1),
        ("c2", True, 1),
    ]

    # Each result is what the tool gives for that call alone, and each reply carries its own call's result.
    budget = _crop_budget(LONGVT_TOOLS, max_frames=64)  # 128 frames a turn, 2 crops: 64 each
    for rec, (start, end), reply in zip(
        (trace.crops[0], trace.crops[2]), ((60, 70), (10, 14)), (replies[0], replies[2]), strict=True
    ):
        alone = CropVideoTool(sample_video.path, budget).execute({"start_time": start, "end_time": end})
        assert (rec.start, rec.end, rec.timestamps, rec.text) == (start, end, alone.timestamps, alone.text)
        expected = sample_window(sample_video.path, start, end, budget.frames())
        assert rec.timestamps == expected.timestamps and len(_frames_of(reply)) == len(expected.frames)
        assert reply["content"][-1]["text"] == alone.text
    search = SearchSubtitlesTool(subs).execute({"query": "yellow square"})
    assert trace.crops[1].text == search.text and "[40.0s - 44.0s]" in search.text
    assert json.dumps(replies[1]["content"]).count("yellow square appears") == 1 and not _frames_of(
        replies[1]
    )
    assert trace.turns[0].frames == trace.crops[0].timestamps + trace.crops[2].timestamps


def test_calls_over_the_per_turn_budget_get_the_documented_refusal(sample_video, tmp_path):
    subs = _srt(tmp_path)
    first = [_search("s1", "square"), _crop("c1", 60, 64), _search("s2", "circle"), _crop("c2", 0, 4)]
    second = [_crop("c3", 90, 94)]
    trace, requests = _run(sample_video, LONGVT_TOOLS, subs, first, second)
    assert [c.call_id for c in trace.crops] == ["s1", "c1", "s2", "c2", "c3"]
    assert [c.ok for c in trace.crops] == [True, True, True, False, True]
    refused = trace.crops[3]
    assert refused.text == (
        "Error: only 3 crop_video call(s) per turn are run; this one was skipped. "
        "Look at the frames you got, then call again if needed."
    )
    assert refused.timestamps == [] and refused.start is None
    reply = [m for m in requests[1]["messages"] if m["role"] == "tool"][3]
    assert reply["tool_call_id"] == "c2" and reply["content"] == [{"type": "text", "text": refused.text}]
    # A refused call never reached the tool: the next turn's crop is the second of the cap of 5.
    assert "call limit" not in trace.crops[4].text and (trace.crops[4].start, trace.crops[4].end) == (90, 94)
    # A search over the budget gets the wording without frames.
    trace, _ = _run(sample_video, LONGVT_TOOLS, subs, [*first[:3], _search("s3", "blue")])
    assert trace.crops[3].text.startswith(
        "Error: only 3 tool call(s) per turn are run; this one was skipped."
    )
    # longvt-plugins is unchanged: one call a turn, the second refused with its old text.
    trace, _ = _run(sample_video, LONGVT_PLUGINS, subs, [_crop("c1", 60, 64), _crop("c2", 0, 4)])
    assert [c.ok for c in trace.crops] == [True, False]
    assert trace.crops[1].text.startswith("Error: only 1 crop_video call(s) per turn are run;")


def _frames_budget(frames, calls=3):
    return replace(
        LONGVT_TOOLS, tool=replace(LONGVT_TOOLS.tool, frames_per_turn=frames, calls_per_turn=calls)
    )


def test_the_frame_budget_caps_the_frames_of_one_turn(sample_video, tmp_path):
    subs = _srt(tmp_path)
    # (A budget below longvt-tools' 128 keeps the requests small; the mechanism is the same.) 12 frames a turn: one
    # crop of 40 s (40 frames at 1 fps without the budget) gets 12; two crops in one turn share them, 6 each.
    protocol = _frames_budget(12)
    trace, requests = _run(
        sample_video,
        protocol,
        subs,
        [_crop("a", 0, 40)],
        [_crop("b", 0, 40), _search("s", "x"), _crop("c", 40, 80)],
    )
    assert trace.stop_reason == "answer"
    alone, b, _, c = trace.crops
    assert [len(x.timestamps) for x in (alone, b, c)] == [12, 6, 6]
    assert sum(len(x.timestamps) for x in trace.crops if x.turn == 2) <= 12
    for rec, (start, end), cap in ((alone, (0, 40), 12), (b, (0, 40), 6), (c, (40, 80), 6)):
        budget = _crop_budget(protocol, max_frames=cap)
        assert rec.timestamps == sample_window(sample_video.path, start, end, budget.frames()).timestamps
    replies = [m for m in requests[2]["messages"] if m["role"] == "tool"]
    assert [len(_frames_of(m)) for m in replies] == [12, 6, 0, 6]
    # Without a frame budget (longvt-plugins) the same crop returns its own cap: 40 frames.
    trace, _ = _run(sample_video, LONGVT_PLUGINS, subs, [_crop("a", 0, 40)])
    assert len(trace.crops[0].timestamps) == 40

    # A budget of 4 frames a turn gives 2 crops the minimum of 2 frames each and refuses the third crop.
    turn = [_crop("x", 0, 20), _search("s", "square"), _crop("y", 20, 40), _crop("z", 40, 60)]
    trace, _ = _run(sample_video, _frames_budget(4, calls=4), subs, turn)
    x, s, y, z = trace.crops
    assert (len(x.timestamps), len(y.timestamps), s.ok) == (2, 2, True)
    assert not z.ok and z.text.startswith("Error: the 4 crop_video frames of one turn are taken")
