"""The agent loop under a protocol, against the stand-in server: the conversation upstream's checkpoints see after
a crop, the crop_video call with upstream's `video_path`, and samples that run out of context."""

from __future__ import annotations

import json

from longvt_plugins.core.agent import run_agent
from longvt_plugins.core.backends import GenerationParams, OpenAIBackend
from longvt_plugins.core.protocols import LONGVT_PLUGINS, UPSTREAM
from longvt_plugins.core.protocols.messages import shape_request
from longvt_plugins.core.protocols.session import ProtocolSession
from longvt_plugins.testing.openai_server import OpenAIStubServer


def crop_then_answer(path: str):
    def handler(body):
        if not any(m["role"] == "tool" for m in body["messages"]):
            args = {"video_path": path, "start_time": 2, "end_time": 6}
            return {
                "content": "<think>look closer</think>",
                "tool_calls": [{"function": {"name": "crop_video", "arguments": args}}],
            }
        return "<think>seen</think><answer>B</answer>"

    return handler


def _backend(server, protocol):
    return OpenAIBackend(server.base_url, "policy", max_retries=0, shape=lambda r: shape_request(protocol, r))


def test_upstream_conversation_after_a_crop(short_video):
    with OpenAIStubServer(crop_then_answer(str(short_video.path)), model="policy") as server:
        session = ProtocolSession(UPSTREAM, "tool", benchmark="videosiah")
        trace = run_agent(
            short_video.path,
            "What is shown?",
            _backend(server, UPSTREAM),
            session=session,
            params=GenerationParams(),
        )
        first, second = server.requests
    assert trace.stop_reason == "answer" and trace.final_answer == "B"
    assert [m["role"] for m in second["messages"]] == ["user", "assistant", "assistant", "tool"]
    assert second["messages"][1] == {"role": "assistant", "content": "<think>look closer</think>"}
    call = second["messages"][2]["tool_calls"][0]
    assert json.loads(call["function"]["arguments"])["video_path"] == str(short_video.path)
    tool = second["messages"][3]
    assert set(tool) == {"role", "name", "content"} and tool["name"] == "crop_video"
    assert tool["content"] and all(p["type"] == "image_url" for p in tool["content"])  # frames, no text
    assert set(second) == {"model", "messages", "max_tokens", "temperature", "tools", "tool_choice"}
    assert first["max_tokens"] == second["max_tokens"] == 4096  # VideoSIAH's tool task: 4,096 upstream
    assert trace.crops[0].ok and trace.crops[0].start == 2.0


def test_upstream_answers_another_path_with_not_found_and_opens_nothing(short_video, monkeypatch):
    import longvt_plugins.core.protocols.upstream_tool as upstream_tool

    opened = []
    real = upstream_tool.sample_window
    monkeypatch.setattr(
        upstream_tool, "sample_window", lambda path, *a, **k: opened.append(path) or real(path, *a, **k)
    )
    with OpenAIStubServer(crop_then_answer("/somewhere/else.mp4"), model="policy") as server:
        trace = run_agent(
            short_video.path, "What?", _backend(server, UPSTREAM), session=ProtocolSession(UPSTREAM, "tool")
        )
        tool = server.requests[1]["messages"][3]
    assert tool["content"] == [
        {"type": "text", "text": "Error executing tool crop_video: Video file not found: /somewhere/else.mp4"}
    ]
    assert not trace.crops[0].ok and opened == []


def test_max_tokens_is_clamped_to_the_context_left(short_video):
    with OpenAIStubServer(
        crop_then_answer(str(short_video.path)), model="policy", max_model_len=20_000
    ) as server:
        session = ProtocolSession(UPSTREAM, "tool", max_model_len=20_000)
        trace = run_agent(short_video.path, "What?", _backend(server, UPSTREAM), session=session)
        assert trace.stop_reason == "answer"
        first, second = server.requests
    assert first["max_tokens"] < 20_000 and second["max_tokens"] < first["max_tokens"]
    assert first["max_tokens"] + server.last_prompt_tokens <= 20_000


def test_a_request_that_cannot_fit_ends_the_sample_as_context_exhausted(short_video):
    # The session knows the server's image limit: the follow-up (skim + crop frames) is never sent.
    with OpenAIStubServer(crop_then_answer(str(short_video.path)), model="policy") as server:
        session = ProtocolSession(UPSTREAM, "tool", max_images=14)
        trace = run_agent(short_video.path, "What?", _backend(server, UPSTREAM), session=session)
        assert len(server.requests) == 1
    assert trace.stop_reason == "context_exhausted" and trace.crops

    # The server refuses what the session did not foresee (HTTP 400 "At most N image(s)"): the same stop.
    with OpenAIStubServer(crop_then_answer(str(short_video.path)), model="policy", max_images=14) as server:
        session = ProtocolSession(UPSTREAM, "tool")
        trace = run_agent(short_video.path, "What?", _backend(server, UPSTREAM), session=session)
        assert [s for _, _, s in server.log] == [200, 400]
    assert trace.stop_reason == "context_exhausted" and "At most 14 image" in trace.error
    import jsonschema

    from longvt_plugins.core.trace import TRACE_JSON_SCHEMA, Trace

    jsonschema.validate(
        json.loads(trace.to_json()), TRACE_JSON_SCHEMA
    )  # a stop reason the trace format knows
    assert Trace.from_json(trace.to_json()).stop_reason == "context_exhausted"


def test_longvt_plugins_session_keeps_todays_conversation(short_video):
    with OpenAIStubServer(crop_then_answer(""), model="policy") as server:
        session = ProtocolSession(LONGVT_PLUGINS, "tool")
        trace = run_agent(short_video.path, "What?", _backend(server, LONGVT_PLUGINS), session=session)
        second = server.requests[1]
    assert trace.stop_reason == "answer"
    assert [m["role"] for m in second["messages"]] == ["system", "user", "assistant", "tool"]
    tool = second["messages"][3]
    assert tool["tool_call_id"] and tool["content"][0]["text"].startswith("<2")
    assert second["max_tokens"] == 49152 and "top_p" in second


def test_a_server_that_counts_more_than_our_estimate_gets_one_smaller_request(short_video):
    # The server counts 200 tokens per image where we estimate ~65: its refusal states the prompt's real size,
    # and the turn is sent once more with what is really left.
    with OpenAIStubServer(
        lambda body: "<answer>B</answer>", max_model_len=20_000, image_tokens=200
    ) as server:
        session = ProtocolSession(UPSTREAM, "tool", max_model_len=20_000)
        trace = run_agent(short_video.path, "What?", _backend(server, UPSTREAM), session=session)
        assert [s for _, _, s in server.log] == [400, 200]
        retried = server.requests[1]["max_tokens"]
        assert retried == 20_000 - server.last_prompt_tokens - 256
    assert trace.stop_reason == "answer"


def test_an_in_process_checkpoint_runs_upstream_with_its_compact_template(tiny_model_dir, short_video):
    from dataclasses import replace

    from longvt_plugins.core.backends import TransformersBackend

    backend = TransformersBackend(tiny_model_dir, template=UPSTREAM.chat_template)
    assert backend.chat_template.startswith("{#- Qwen2.5-VL tool chat template in the compact form")
    protocol = replace(UPSTREAM.with_overrides(skim_max_frames=4, max_new_tokens=8), turn_cap=2)
    trace = run_agent(short_video.path, "What?", backend, session=ProtocolSession(protocol, "tool"))
    assert trace.stop_reason in ("answer", "no_answer", "length", "max_turns") and trace.turns
    assert all((t.completion_tokens or 0) <= 8 for t in trace.turns)
