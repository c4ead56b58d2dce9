"""Backends: the exact prompt the in-process models see, Qwen3-VL selection, and the OpenAI wire format."""

from __future__ import annotations

import json
import re

import pytest
from PIL import Image

from longvt_plugins.core.agent import AgentBudgets, run_agent
from longvt_plugins.core.backends import BackendError, GenerationParams, OpenAIBackend, TransformersBackend
from longvt_plugins.core.budget import SKIM
from longvt_plugins.core.crop_tool import CROP_VIDEO_SCHEMA
from longvt_plugins.core.toolcall import ToolCall, render_tool_call
from longvt_plugins.testing.openai_server import OpenAIStubServer, closed_port_url


def _img(colour) -> Image.Image:
    return Image.new("RGB", (112, 84), colour)


def _conversation() -> list[dict]:
    """What the agent holds after one crop: skim frames, a native call, its tool response with frames."""
    return [
        {"role": "system", "content": "You are a helpful assistant."},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "<0.0s>"},
                {"type": "image", "image": _img("red"), "timestamp": 0.0},
                {"type": "text", "text": "<60.0s>"},
                {"type": "image", "image": _img("yellow"), "timestamp": 60.0},
                {"type": "text", "text": "The video is 2:00 long (120.0 s).\nWhich shape?"},
            ],
        },
        {
            "role": "assistant",
            "content": "<think>closer</think>",
            "raw_text": "ignored by templates",
            "call_format": "native",
            "tool_calls": [
                {
                    "id": "c1",
                    "type": "function",
                    "function": {"name": "crop_video", "arguments": {"start_time": 60, "end_time": 70}},
                }
            ],
        },
        {
            "role": "tool",
            "tool_call_id": "c1",
            "name": "crop_video",
            "content": [
                {"type": "text", "text": "<61.0s>"},
                {"type": "image", "image": _img("yellow"), "timestamp": 61.0},
                {"type": "text", "text": "crop_video returned 1 frames."},
            ],
        },
    ]


@pytest.fixture(scope="module")
def tiny(tiny_model_dir):
    return TransformersBackend(tiny_model_dir, device="cpu")


def test_qwen25_prompt_uses_our_tool_template_with_timestamps_beside_frames(tiny):
    text, images = tiny.render(_conversation(), [CROP_VIDEO_SCHEMA])
    assert len(images) == 3 and text.count("<|vision_start|><|image_pad|><|vision_end|>") == 3
    assert "<tools>\n" + json.dumps(CROP_VIDEO_SCHEMA, ensure_ascii=False) + "\n</tools>" in text
    for label in ("<0.0s>", "<60.0s>", "<61.0s>"):
        assert f"{label}<|vision_start|>" in text  # every frame right after its timestamp (decision 2)
    call = render_tool_call(ToolCall("crop_video", {"start_time": 60, "end_time": 70}, "c1"))
    assert call in text  # the template renders calls exactly as core.toolcall does (training == inference)
    assert re.search(
        r"<\|im_start\|>user\n<tool_response>\n<61\.0s>.*crop_video returned 1 frames\.\n</tool_response>",
        text,
        re.S,
    )
    assert text.endswith("<|im_start|>assistant\n") and "ignored by templates" not in text


def test_qwen25_generate_counts_tokens_and_reports_length(tiny):
    out = tiny.generate(_conversation(), [CROP_VIDEO_SCHEMA], GenerationParams(max_tokens=5))
    text, images = tiny.render(_conversation(), [CROP_VIDEO_SCHEMA])
    expected_prompt = tiny.processor(text=[text], images=images, return_tensors="pt")["input_ids"].shape[1]
    assert out.usage.prompt_tokens == expected_prompt
    assert 1 <= out.usage.completion_tokens <= 5
    assert out.finish_reason in ("length", "stop", "tool_calls") and isinstance(out.raw_text, str)
    assert tiny.describe()["random_weights"] is True and tiny.patch_size == 14


def test_not_a_checkpoint_or_unsupported_family_is_a_clear_error(tmp_path):
    with pytest.raises(BackendError, match="no config.json"):
        TransformersBackend(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "llama", "vocab_size": 10}))
    with pytest.raises(BackendError, match="'llama' is not supported"):
        TransformersBackend(tmp_path)


@pytest.mark.slow
def test_qwen3vl_checkpoint_is_chosen_from_its_config_and_runs_the_loop(tiny_qwen3_dir, sample_video):
    backend = TransformersBackend(tiny_qwen3_dir, device="cpu")
    assert backend.family == "qwen3_vl" and backend.patch_size == 16
    assert type(backend.net).__name__ == "Qwen3VLForConditionalGeneration"
    assert backend.net.config._attn_implementation == "sdpa"
    budgets = AgentBudgets(skim=SKIM.replace(max_frames=4), max_turns=2, max_new_tokens=8)
    trace = run_agent(sample_video.path, "q", backend, budgets)
    assert trace.error is None and trace.turns and trace.backend["family"] == "qwen3_vl"
    h, w = trace.skim["frame_size"]
    assert h % 32 == 0 and w % 32 == 0  # skim sampled with Qwen3-VL's 16-px patches, not Qwen2.5-VL's 14


def test_openai_wire_format_native_calls_and_tool_frames():
    backend = OpenAIBackend(closed_port_url(), "m")  # building the wire form needs no server
    wire = backend.to_wire(_conversation(), [CROP_VIDEO_SCHEMA])
    assert [m["role"] for m in wire] == ["system", "user", "assistant", "tool"]
    assert wire[2]["tool_calls"] == [
        {
            "id": "c1",
            "type": "function",
            "function": {"name": "crop_video", "arguments": '{"start_time": 60, "end_time": 70}'},
        }
    ]
    assert wire[3]["tool_call_id"] == "c1"
    kinds = [p["type"] for p in wire[3]["content"]]
    assert kinds == ["text", "image_url", "text"]
    # The same frame object is encoded once and sent identically every turn.
    again = backend.to_wire(_conversation()[:2], [])
    assert again[1]["content"][1] != wire[1]["content"][3]  # different frames, different data
    conv = _conversation()
    assert backend.to_wire(conv, [])[1]["content"][1] == backend.to_wire(conv, [])[1]["content"][1]


def test_native_call_history_renders_as_the_model_generated_it(tiny_model_dir):
    # vLLM's hermes parser returns content "<think>...</think>\n" beside the parsed call; sent back as is, the
    # template would write "</think>\n\n<tool_call>", which the model never produced.
    from transformers import AutoTokenizer

    call = {"function": {"name": "crop_video", "arguments": {"start_time": 60.0, "end_time": 70.0}}}
    with OpenAIStubServer(
        lambda body: {"content": "<think>closer</think>\n", "tool_calls": [call]}
    ) as server:
        backend = OpenAIBackend(server.base_url, "m")
        turn = backend.generate(_conversation()[:2], [CROP_VIDEO_SCHEMA], GenerationParams(max_tokens=32))
    assert turn.call_format == "native" and turn.raw_text == "<think>closer</think>\n"
    message = {"role": "assistant", "content": turn.content, "call_format": "native",
               "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "crop_video",
                                                                          "arguments": turn.tool_calls[0].arguments}}]}  # fmt: skip
    wire = backend.to_wire([*_conversation()[:2], message], [CROP_VIDEO_SCHEMA])
    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    text = tok.apply_chat_template(wire, tools=[CROP_VIDEO_SCHEMA], tokenize=False)
    generated = '<think>closer</think>\n<tool_call>\n{"name": "crop_video", "arguments": {"start_time": 60.0, "end_time": 70.0}}\n</tool_call>'
    assert "<|im_start|>assistant\n" + generated + "<|im_end|>" in text


def test_openai_tool_frames_as_user_for_strict_servers():
    backend = OpenAIBackend(closed_port_url(), "m", tool_frames_as_user=True)
    wire = backend.to_wire(_conversation(), [])
    assert [m["role"] for m in wire] == ["system", "user", "assistant", "tool", "user"]
    assert isinstance(wire[3]["content"], str) and "crop_video returned" in wire[3]["content"]
    assert [p["type"] for p in wire[4]["content"]].count("image_url") == 1


def test_openai_backend_finds_the_served_model_or_says_why_not():
    with OpenAIStubServer(models=["longvt-7b"]) as server:
        assert OpenAIBackend(server.base_url).model == "longvt-7b"
    with pytest.raises(BackendError, match="cannot list models"):
        OpenAIBackend(closed_port_url(), max_retries=0)
