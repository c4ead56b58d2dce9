"""The global-to-local loop: on the tiny real model in-process, and against a scripted OpenAI-protocol server.

The server is a test double for vLLM/SGLang only; the crop runs on the real video, the frames are really encoded,
sent over HTTP and decoded here, and compared with an independent decode of the same timestamps.
"""

from __future__ import annotations

import json

import jsonschema
import numpy as np
import pytest
from test_agent_support import crop_then_answer, full_completion, images_after_labels, tool_messages

from longvt_plugins.core.agent import AgentBudgets, run_agent, score_trace
from longvt_plugins.core.backends import GenerationParams, OpenAIBackend, TransformersBackend
from longvt_plugins.core.budget import SKIM
from longvt_plugins.core.crop_tool import CropBudget
from longvt_plugins.core.trace import STOP_REASONS, TRACE_JSON_SCHEMA, Trace
from longvt_plugins.core.video import sample_window
from longvt_plugins.testing.openai_server import OpenAIStubServer, closed_port_url
from longvt_plugins.testing.videos import _COLOURS


def assert_complete(trace: Trace, budgets: AgentBudgets) -> dict:
    """Schema-valid, JSON round trip exact, and every limit held."""
    data = json.loads(trace.to_json())
    jsonschema.validate(data, TRACE_JSON_SCHEMA)
    assert Trace.from_json(trace.to_json()).to_dict() == trace.to_dict()
    assert trace.stop_reason in STOP_REASONS
    assert len(trace.turns) <= budgets.max_turns
    assert trace.turns or trace.stop_reason in ("backend_error", "video_error")
    assert all((t.completion_tokens or 0) <= budgets.max_new_tokens for t in trace.turns)
    assert len([c for c in trace.crops if c.ok]) <= budgets.crop.max_calls
    assert trace.timings["total_s"] >= trace.timings["generate_s"] >= 0
    return data


@pytest.fixture(scope="module")
def tiny_backend(tiny_model_dir):
    return TransformersBackend(tiny_model_dir, device="cpu")


@pytest.mark.parametrize("temperature,seed", [(0.0, None), (1.5, 7)])
def test_tiny_model_loop_terminates_within_limits_and_trace_is_valid(
    tiny_backend, sample_video, temperature, seed
):
    budgets = AgentBudgets(
        skim=SKIM.replace(max_frames=8), max_turns=3, max_new_tokens=24, max_total_tokens=60
    )
    trace = run_agent(
        sample_video.path,
        "What is shown at 65 s?",
        tiny_backend,
        budgets,
        params=GenerationParams(temperature=temperature, seed=seed),
        thumbnails=True,
    )
    data = assert_complete(trace, budgets)
    assert trace.error is None
    assert trace.usage["completion_tokens"] <= budgets.max_total_tokens
    assert len(trace.skim["timestamps"]) == 8 and trace.video["duration"] == pytest.approx(120.0)
    first_user = data["messages"][1]
    frames = [p for p in first_user["content"] if p["type"] == "image"]
    assert [f["timestamp"] for f in frames] == trace.skim["timestamps"]
    assert all(f["frame"] in trace.thumbnails for f in frames)
    text = "".join(p["text"] for p in first_user["content"] if p["type"] == "text")
    assert "120.0 s" in text and "What is shown at 65 s?" in text  # the duration is told (decision 2)
    assert trace.backend["random_weights"] is True and trace.backend["family"] == "qwen2_5_vl"


def test_scripted_server_crop_runs_on_real_video_and_right_frames_go_back(sample_video):
    budgets = AgentBudgets(skim=SKIM.replace(max_frames=12), crop=CropBudget(max_frames=16))
    with OpenAIStubServer(crop_then_answer(60, 70, "yellow square"), model="policy") as server:
        backend = OpenAIBackend(server.base_url, "policy", max_retries=0)
        trace = run_agent(
            sample_video.path, "Which shape starts at 60 s?", backend, budgets, ground_truth="yellow square"
        )
        requests = list(server.requests)

    assert_complete(trace, budgets)
    assert trace.stop_reason == "answer" and trace.final_answer == "yellow square"
    assert score_trace(trace, judge_config=_no_judge())["correct"] is True
    assert len(requests) == 2
    first, second = requests
    assert first["tools"][0]["function"]["name"] == "crop_video" and first["tool_choice"] == "auto"
    skim = images_after_labels(first["messages"][1]["content"])
    assert [t for t, _ in skim] == pytest.approx(trace.skim["timestamps"], abs=0.051)

    crop = trace.crops[0]
    assert crop.ok and (crop.start, crop.end) == (60.0, 70.0) and crop.call_id == "call_crop_1"
    assert all(60.0 <= t <= 70.0 for t in crop.timestamps)
    # The follow-up request: the assistant call with its id, then the tool message answering that id.
    assistant = second["messages"][2]
    assert assistant["tool_calls"][0]["id"] == "call_crop_1"
    assert json.loads(assistant["tool_calls"][0]["function"]["arguments"]) == {
        "start_time": 60,
        "end_time": 70,
    }
    (tool,) = tool_messages(second)
    assert tool["tool_call_id"] == "call_crop_1"
    sent = images_after_labels(tool["content"])
    expected = sample_window(sample_video.path, 60.0, 70.0, fps=1.0, min_frames=2, max_frames=16)
    assert [t for t, _ in sent] == pytest.approx(expected.timestamps, abs=0.051)
    for (_, got), want, t in zip(sent, expected.frames, expected.timestamps, strict=True):
        assert np.array_equal(got, want)  # PNG is lossless: the very frames of that timestamp
        colour = np.array(dict(_COLOURS)[sample_video.scene_at(t).colour])
        shape_pixels = np.abs(got.astype(int) - colour).sum(axis=-1) < 60
        assert shape_pixels.mean() > 0.05  # that scene's coloured shape is in view
    assert {sample_video.scene_at(t).colour for t in expected.timestamps if t < 70} == {"yellow"}
    assert "crop_video returned" in tool["content"][-1]["text"]


def _no_judge():
    from longvt_plugins.core.judge import JudgeConfig

    return JudgeConfig(base_url=None)


def test_turn_cap_and_crop_cap_hold_against_a_model_that_never_answers(sample_video):
    def always_crop(body):
        n = len(tool_messages(body))
        return {
            "content": "",
            "tool_calls": [
                {"function": {"name": "crop_video", "arguments": {"start_time": n, "end_time": n + 4}}}
            ],
        }

    budgets = AgentBudgets(
        skim=SKIM.replace(max_frames=4), max_turns=4, crop=CropBudget(max_calls=2, max_frames=4)
    )
    with OpenAIStubServer(always_crop) as server:
        trace = run_agent(sample_video.path, "q", OpenAIBackend(server.base_url, "m", max_retries=0), budgets)
        assert len(server.requests) == 4
    assert_complete(trace, budgets)
    assert trace.stop_reason == "max_turns" and len(trace.turns) == 4
    assert [c.ok for c in trace.crops] == [True, True, False, False]
    assert "call limit" in trace.crops[2].text
    ids = [c.call_id for c in trace.crops]
    assert len(set(ids)) == 4  # the stub gave no ids twice; each call still has its own


def test_token_budget_caps_each_request_and_ends_the_run(sample_video):
    def spend_100(body):
        return full_completion(
            "<think>more</think>",
            [{"name": "crop_video", "arguments": {"start_time": 0, "end_time": 4}}],
            completion_tokens=100,
        )

    budgets = AgentBudgets(
        skim=SKIM.replace(max_frames=4),
        max_turns=10,
        max_new_tokens=200,
        max_total_tokens=250,
        crop=CropBudget(max_frames=4),
    )
    with OpenAIStubServer(spend_100) as server:
        trace = run_agent(sample_video.path, "q", OpenAIBackend(server.base_url, "m", max_retries=0), budgets)
        asked = [r["max_tokens"] for r in server.requests]
    assert asked == [200, 150, 50]  # never more than what is left of the run's budget
    assert trace.stop_reason == "token_budget" and len(trace.turns) == 3
    assert_complete(trace, budgets)

    # The caller's own cap can only lower each request (it was silently replaced by the budget before).
    with OpenAIStubServer(spend_100) as server:
        params = GenerationParams(max_tokens=120)
        run_agent(
            sample_video.path, "q", OpenAIBackend(server.base_url, "m", max_retries=0), budgets, params=params
        )
        asked = [r["max_tokens"] for r in server.requests]
    assert asked == [120, 120, 50]  # the stub spends 100 a turn whatever it is asked


@pytest.mark.parametrize("failure", ["server_error", "hang", "garbage", "down"])
def test_server_failure_ends_the_trace_with_a_reason(sample_video, failure):
    budgets = AgentBudgets(skim=SKIM.replace(max_frames=4))
    with OpenAIStubServer(crop_then_answer(0, 4, "x"), hang_seconds=30) as server:
        if failure == "down":
            url = closed_port_url()
        else:
            url = server.base_url
            server.queue(failure)
        backend = OpenAIBackend(url, "m", max_retries=0)
        trace = run_agent(sample_video.path, "q", backend, budgets, params=GenerationParams(timeout=1.0))
    assert trace.stop_reason == "backend_error"
    expected = {"server_error": "HTTP 500", "hang": "timed out", "garbage": "", "down": "cannot reach"}[
        failure
    ]
    assert trace.error and expected in trace.error
    assert_complete(trace, budgets)


def test_malformed_and_extra_calls_get_readable_errors_and_the_loop_goes_on(sample_video):
    def script(body):
        tools = tool_messages(body)
        if not tools:  # one call with broken JSON arguments and one to a tool that does not exist
            reply = full_completion(None, None, 5)
            reply["choices"][0]["finish_reason"] = "tool_calls"
            reply["choices"][0]["message"]["tool_calls"] = [
                {"id": "bad", "type": "function", "function": {"name": "crop_video", "arguments": "{oops"}},
                {"id": "other", "type": "function", "function": {"name": "zoom", "arguments": "{}"}},
            ]
            return reply
        if len(tools) == 2:
            return {
                "content": "",
                "tool_calls": [
                    {
                        "id": "a",
                        "function": {"name": "crop_video", "arguments": {"start_time": 10, "end_time": 14}},
                    },
                    {
                        "id": "b",
                        "function": {"name": "crop_video", "arguments": {"start_time": 20, "end_time": 24}},
                    },
                ],
            }
        return "<answer>done</answer>"

    budgets = AgentBudgets(skim=SKIM.replace(max_frames=4), crop=CropBudget(max_frames=4))
    with OpenAIStubServer(script) as server:
        trace = run_agent(sample_video.path, "q", OpenAIBackend(server.base_url, "m", max_retries=0), budgets)
        last = server.requests[-1]
    assert trace.stop_reason == "answer" and trace.final_answer == "done"
    assert trace.turns[0].tool_call_errors and "not a JSON object" in trace.crops[0].error
    assert "unknown tool 'zoom'" in trace.crops[1].error
    assert [c.ok for c in trace.crops[2:]] == [True, False]  # one call per turn is run, the second refused
    assert "per turn" in trace.crops[3].error
    answered = [m["tool_call_id"] for m in tool_messages(last)]
    assert answered == ["bad", "other", "a", "b"]  # every call id gets exactly one tool message
    assert_complete(trace, budgets)


def test_hermes_text_calls_from_a_server_without_tool_parser(sample_video):
    def script(body):
        if not any(
            "<tool_response>" in json.dumps(m.get("content")) for m in body["messages"] if m["role"] == "user"
        ):
            return '<think>closer</think>\n<tool_call>\n{"name": "crop_video", "arguments": {"start_time": 15, "end_time": 19}}\n</tool_call>'
        return "<answer>blue</answer>"

    budgets = AgentBudgets(skim=SKIM.replace(max_frames=4), crop=CropBudget(max_frames=4))
    with OpenAIStubServer(script) as server:
        backend = OpenAIBackend(server.base_url, "m", native_tools=False, max_retries=0)
        trace = run_agent(sample_video.path, "q", backend, budgets)
        first, second = server.requests
    assert "tools" not in first and '"name": "crop_video"' in first["messages"][0]["content"]
    assert trace.turns[0].call_format == "hermes" and trace.crops[0].ok and trace.final_answer == "blue"
    assert second["messages"][2] == {"role": "assistant", "content": trace.turns[0].raw_text}
    reply = second["messages"][3]
    assert reply["role"] == "user" and reply["content"][0]["text"].startswith("<tool_response>")
    assert len(images_after_labels(reply["content"])) == len(trace.crops[0].timestamps)


def test_bad_video_gives_a_video_error_trace_without_calling_the_model(tmp_path):
    bad = tmp_path / "not_a_video.mp4"
    bad.write_text("hello")
    with OpenAIStubServer() as server:
        trace = run_agent(bad, "q", OpenAIBackend(server.base_url, "m"), AgentBudgets())
        assert server.requests == []
    assert trace.stop_reason == "video_error" and trace.error
    jsonschema.validate(json.loads(trace.to_json()), TRACE_JSON_SCHEMA)


def test_bad_budgets_and_style_raise_at_once(sample_video):
    with pytest.raises(ValueError, match="max_turns"):
        run_agent(sample_video.path, "q", None, AgentBudgets(max_turns=0))
    with pytest.raises(ValueError, match="style"):
        run_agent(sample_video.path, "q", None, AgentBudgets(), style="poetry")


def test_think_style_offers_no_tool(sample_video):
    budgets = AgentBudgets(skim=SKIM.replace(max_frames=4))
    with OpenAIStubServer(lambda body: "<think>x</think><answer>A</answer>") as server:
        trace = run_agent(sample_video.path, "q", OpenAIBackend(server.base_url, "m"), budgets, style="think")
        assert "tools" not in server.requests[0]
    assert trace.stop_reason == "answer" and trace.crops == []


def test_forced_call_cut_at_the_token_cap_gets_a_readable_error_and_the_loop_goes_on(sample_video):
    """What vLLM's named tool choice returned on a GPU (2026-12-02): the arguments JSON cut at max_tokens, as a native
    call, then (forced again) an empty call. Each gets a tool result the model can read; nothing crashes."""
    bodies = iter(
        [
            ('{"start_time": 91219121912191219121', "length"),
            ("", "stop"),
            ('{"start_time": 0, "end_time": 4}', "stop"),
        ]
    )

    def named_choice(body):
        assert body["tool_choice"]["function"]["name"] == "crop_video" and body["max_tokens"] == 64
        args, finish = next(bodies)
        out = full_completion("", None, completion_tokens=64)
        out["choices"][0]["message"]["tool_calls"] = [
            {
                "id": f"call_{len(args)}",
                "type": "function",
                "function": {"name": "crop_video", "arguments": args},
            }
        ]
        out["choices"][0]["finish_reason"] = finish
        return out

    budgets = AgentBudgets(skim=SKIM.replace(max_frames=4), max_turns=3, crop=CropBudget(max_frames=4))
    forced = {"tool_choice": {"type": "function", "function": {"name": "crop_video"}}}
    with OpenAIStubServer(named_choice) as server:
        backend = OpenAIBackend(server.base_url, "m", max_retries=0)
        trace = run_agent(
            sample_video.path, "q", backend, budgets, params=GenerationParams(max_tokens=64, extra=forced)
        )
        tool_replies = [m for m in server.requests[-1]["messages"] if m["role"] == "tool"]
    assert trace.error is None and [t.call_format for t in trace.turns] == ["native"] * 3
    first, empty, good = trace.crops
    assert not first.ok and "not a JSON object" in first.error
    assert not empty.ok and "start_time" in empty.error
    assert good.ok and good.timestamps
    # The model read both errors before its third turn.
    assert len(tool_replies) == 2 and "not a JSON object" in json.dumps(tool_replies[0])
    assert_complete(trace, budgets)
