"""LongVT's rollout through verl 0.9.1's own AgentLoopWorker / ToolAgentLoop, on CPU.

Real: our converted parquet, verl's RLHFDataset and collate_fn, verl's AgentLoopWorker (config, tokenizer and
processor loading from the tiny Qwen2.5-VL checkpoint, the tool YAML, our chat template through the recipe's
resolver), our agent loop, tool and parser, the video decode, verl's reward loop worker with our compute_score and
the judge over HTTP on 127.0.0.1. Stand-ins: the rollout server (scripted; it speaks verl's server-manager
interface) and Ray's actor transport for the reward worker (the worker object itself is verl's).
"""

from __future__ import annotations

import asyncio
import re

import numpy as np
import pytest

pytestmark = pytest.mark.slow

CROP = '<think>I need a closer look.</think>\n<tool_call>\n{{"name": "crop_video", "arguments": {args}}}\n</tool_call><|im_end|>'
ANSWER = "<think>The frames show it.</think><answer>circle</answer><|im_end|>"
QUESTIONS = ["What shape is shown around 40 seconds?", "What colour is the background at the start?"]


def crop(start, end) -> str:
    return CROP.format(args=f'{{"start_time": {start}, "end_time": {end}}}')


@pytest.fixture(scope="module")
def rl(tiny_model_dir, sample_video, tmp_path_factory):
    """A composed recipe, verl's worker, and the converted rows; shared by every test here."""
    return _rollout(tiny_model_dir, sample_video, tmp_path_factory.mktemp("verl-loop"), CROP_ONLY_YAML)


CROP_ONLY_YAML = (
    "tools:\n  - class_name: longvt_plugins.verl.tool.CropVideoTool\n"
    "    config: {type: native, fps: 1.0, max_frames: 16, max_pixels: 12544, max_calls: 2}\n"
)
# The crop of CROP_ONLY_YAML with more calls, search_subtitles beside it, and the longvt-tools per-turn budget.
TOOLS_YAML = (
    "tools:\n  - class_name: longvt_plugins.verl.tool.CropVideoTool\n"
    "    config: {type: native, fps: 1.0, max_frames: 16, max_pixels: 12544, max_calls: 5}\n"
    "  - class_name: longvt_plugins.verl.search_tool.SearchSubtitlesTool\n"
    "    config: {type: native, max_calls: 5}\n"
    "turn_budget:\n  protocol: longvt-tools\n"
)


def _rollout(tiny_model_dir, sample_video, tmp, tool_yaml_text):
    from types import SimpleNamespace

    from omegaconf import OmegaConf
    from verl.experimental.agent_loop.agent_loop import AgentLoopWorker

    from longvt_plugins.core.budget import SKIM
    from longvt_plugins.testing.verl_rollout import ScriptedRolloutServer, compose_recipe
    from longvt_plugins.verl.convert import RLSample, convert

    samples = [
        RLSample(q, "circle", str(sample_video.path), segment=[30.0, 50.0], qa_id=f"q{i}")
        for i, q in enumerate(QUESTIONS)
    ]
    report = convert(samples, tmp / "rl.parquet", video=SKIM.replace(max_frames=8, max_pixels=56 * 56))
    assert report.written == 2, report.rejected
    tool_yaml = tmp / "tools.yaml"
    tool_yaml.write_text(tool_yaml_text)
    config = compose_recipe(
        [
            f"actor_rollout_ref.model.path={tiny_model_dir}",
            f"data.train_files={tmp / 'rl.parquet'}",
            f"data.val_files={tmp / 'rl.parquet'}",
            "data.max_prompt_length=4096",
            "data.max_response_length=4096",
            f"actor_rollout_ref.rollout.multi_turn.tool_config_path={tool_yaml}",
            "actor_rollout_ref.rollout.multi_turn.max_user_turns=4",
            "actor_rollout_ref.rollout.multi_turn.max_assistant_turns=5",
            "+reward.custom_reward_function.reward_kwargs.judge_cache=off",
        ]
    )
    worker = AgentLoopWorker(config, ScriptedRolloutServer(None, []))
    tokenizer, processor = worker.tokenizer, worker.processor
    assert processor.chat_template == OmegaConf.select(config, "actor_rollout_ref.model.custom_chat_template")

    def run(script, rows=(0,), tools_kwargs="keep", reward_worker=None):
        from longvt_plugins.testing.verl_rollout import load_batch

        batch, _ = load_batch(config, tmp / "rl.parquet", tokenizer, processor)
        batch = batch.select_idxs(list(rows))
        if tools_kwargs != "keep":
            batch.non_tensor_batch["tools_kwargs"] = np.array([tools_kwargs] * len(rows), dtype=object)
        server = ScriptedRolloutServer(tokenizer, script)
        worker.llm_client = server
        worker.reward_loop_worker_handles = [reward_worker] if reward_worker else None
        return asyncio.run(worker.generate_sequences(batch)), server

    return SimpleNamespace(
        config=config,
        worker=worker,
        tokenizer=tokenizer,
        processor=processor,
        run=run,
        video=sample_video,
        tool_yaml=tool_yaml,
    )


@pytest.fixture(scope="module")
def rl_tools(tiny_model_dir, sample_video, tmp_path_factory):
    """The same worker and rows under TOOLS_YAML: crop_video + search_subtitles with the longvt-tools turn budget."""
    return _rollout(tiny_model_dir, sample_video, tmp_path_factory.mktemp("verl-loop-tools"), TOOLS_YAML)


def _response(out, i=0):
    """(response ids, response mask) of sample i, without padding."""
    attention = out.batch["attention_mask"][i, out.batch["prompts"].shape[1] :].bool()
    return out.batch["responses"][i][attention].tolist(), out.batch["response_mask"][i][attention].tolist()


def test_tool_call_then_answer_through_verls_tool_agent_loop(rl, tiny_model_dir):
    import torch
    from transformers import Qwen2_5_VLForConditionalGeneration

    from longvt_plugins.core.video import sample_window
    from longvt_plugins.verl.names import FRAME_LABEL_KEY

    out, server = rl.run([crop(30, 40), ANSWER])
    first, second = server.calls
    assert (first.turn, second.turn) == (0, 1)

    # The initial video went as one video; the crop came back as frames, all of them in the second generation.
    assert first.images == [] and len(first.videos) == 1
    frames = second.images
    expected = sample_window(rl.video.path, 30.0, 40.0, fps=1.0, max_frames=16, max_pixels=12544)
    assert len(frames) == len(expected.frames) >= 8
    for got, want in zip(frames, expected.frames, strict=True):
        assert np.array_equal(np.asarray(got), want)
    # ... each from the scene the manifest says is on screen then.
    assert {rl.video.scene_at(t).index for t in expected.timestamps} <= {
        rl.video.scene_at(30.0).index,
        rl.video.scene_at(40.0).index,
    }

    # Token in, token out: the second prompt is the first prompt + the sampled reply + the tool turn.
    reply_ids = rl.tokenizer.encode(first.reply, add_special_tokens=False)
    assert second.prompt_ids[: len(first.prompt_ids) + len(reply_ids)] == first.prompt_ids + reply_ids

    # Every frame is announced by its timestamp, right before it, inside the tool response.
    tool_turn = second.prompt_text.split("<tool_response>")[-1].split("</tool_response>")[0]
    labels = [frame.info[FRAME_LABEL_KEY] for frame in frames]
    assert labels == [f"<{t}s>" for t in re.findall(r"<([\d.]+)s><\|vision_start\|>", tool_turn)]
    assert [float(label[1:-2]) for label in labels] == pytest.approx(expected.timestamps, abs=0.051)
    assert second.prompt_text.endswith("<|im_start|>assistant\n")

    # Loss mask: the model's two replies are trained on, the tool turn (frames, labels, text) is not.
    response, mask = _response(out)
    answer_ids = rl.tokenizer.encode(ANSWER, add_special_tokens=False)
    assert response[: len(reply_ids)] == reply_ids and all(mask[: len(reply_ids)])
    assert response[-len(answer_ids) :] == answer_ids and all(mask[-len(answer_ids) :])
    assert not any(mask[len(reply_ids) : -len(answer_ids)])
    image_pad = rl.tokenizer.convert_tokens_to_ids("<|image_pad|>")
    assert sum(t == image_pad for t in response) > 0

    # Training inputs: one image_grid_thw row per frame, the prompt's video kept as a video.
    mm = out.non_tensor_batch["multi_modal_inputs"][0]
    assert mm["image_grid_thw"].shape[0] == len(frames)
    assert mm["video_grid_thw"].shape[0] == 1
    assert out.batch["position_ids"].shape[1] == 4  # text row + Qwen2.5-VL's three M-RoPE rows

    # Counters for the reward.
    fields = {
        k: out.non_tensor_batch[k][0]
        for k in ("crop_calls", "crop_errors", "crop_windows", "tool_call_counts")
    }
    assert fields == {
        "crop_calls": 1,
        "crop_errors": 0,
        "crop_windows": [[30.0, 40.0]],
        "tool_call_counts": 1,
    }
    assert out.non_tensor_batch["crop_frames"][0] == len(frames)

    # The real tiny Qwen2.5-VL accepts the sequence: image/video features line up with their tokens.
    model = Qwen2_5_VLForConditionalGeneration.from_pretrained(tiny_model_dir).eval()
    valid = out.batch["attention_mask"][0].bool()
    with torch.no_grad():
        logits = model(
            input_ids=out.batch["input_ids"][0][valid][None],
            **{k: v for k, v in mm.items() if k != "images_seqlens"},
        ).logits
    assert logits.shape[1] == int(valid.sum())


BAD_CALLS = {
    # name: (script, text the model must read back, counters)
    "malformed_json": (
        [
            '<tool_call>\n{"name": "crop_video", "arguments": {"start_time": 3,}}\n</tool_call><|im_end|>',
            ANSWER,
        ],
        "JSON",
        {"crop_calls": 0, "invalid_tool_calls": 1, "tool_call_counts": 1},
    ),
    "unknown_tool": (
        ['<tool_call>\n{"name": "zoom_in", "arguments": {"x": 1}}\n</tool_call><|im_end|>', ANSWER],
        "Unknown function 'zoom_in'",
        {"crop_calls": 0, "invalid_tool_calls": 1, "tool_call_counts": 1},
    ),
    "window_outside_video": (
        [crop(500, 510), ANSWER],
        "past the end of the video",
        {"crop_calls": 1, "crop_errors": 1, "crop_windows": []},
    ),
    "wrong_argument_types": (
        [crop('"soon"', '"later"'), ANSWER],
        "start_time must be a number",
        {"crop_calls": 1, "crop_errors": 1},
    ),
    "over_the_cap": (
        [crop(0, 10), crop(10, 20), crop(20, 30), ANSWER],
        "call limit of 2 crops",
        {"crop_calls": 3, "crop_errors": 1, "crop_windows": [[0.0, 10.0], [10.0, 20.0]]},
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_CALLS))
def test_bad_tool_calls_become_tool_messages_not_crashes(rl, case):
    script, message, counters = BAD_CALLS[case]
    out, server = rl.run(script)
    # The trajectory went on to the answer: every generation of the script was asked for.
    assert [c.turn for c in server.calls] == list(range(len(script)))
    last_tool_turn = server.calls[-1].prompt_text.split("<tool_response>")[-1].split("</tool_response>")[0]
    assert message in last_tool_turn
    assert {k: out.non_tensor_batch[k][0] for k in counters} == counters
    response, mask = _response(out)
    answer_ids = rl.tokenizer.encode(ANSWER, add_special_tokens=False)
    assert response[-len(answer_ids) :] == answer_ids and all(mask[-len(answer_ids) :])


def test_sample_without_tools_kwargs_gets_an_error_text(rl):
    """Mixed tool / no-tool data: a row with no tools_kwargs; verl alone answers with a NoneType error."""
    out, server = rl.run([crop(0, 10), ANSWER], tools_kwargs=None)
    assert "no video is attached to this question" in server.calls[-1].prompt_text
    assert out.non_tensor_batch["crop_errors"][0] == 1


def test_reward_sees_tool_counters_and_the_same_keys_with_and_without_a_tool_call(rl):
    from verl.experimental.reward_loop.reward_loop import RewardLoopWorker

    from longvt_plugins.testing.openai_server import OpenAIStubServer
    from longvt_plugins.testing.verl_rollout import LocalActor

    def script(prompt: str, turn: int) -> str:
        return crop(30, 40) if QUESTIONS[0] in prompt and turn == 0 else ANSWER

    with OpenAIStubServer(lambda body: "1", model="judge") as judge:
        config = rl.config.copy()
        config.reward.custom_reward_function.reward_kwargs.judge_base_url = judge.base_url
        reward_worker = LocalActor(lambda: RewardLoopWorker(config))  # Ray's actor transport, in-process
        try:
            out, server = rl.run(script, rows=(0, 1), reward_worker=reward_worker)
        finally:
            reward_worker.close()
        judged = [m["content"] for body in judge.requests for m in body["messages"] if m["role"] == "user"]

    assert len(server.calls) == 3  # sample 0: crop + answer; sample 1: answer
    keys = out.meta_info["reward_extra_keys"]
    assert {"score", "acc", "format", "iou", "tool_calls", "judge_fallback"} <= set(keys)
    for key in keys:  # verl takes the keys from the first sample and indexes every sample with them
        assert len(out.non_tensor_batch[key]) == 2 and all(v is not None for v in out.non_tensor_batch[key])
    tool_sample, plain_sample = 0, 1  # verl keeps the batch order
    assert out.non_tensor_batch["tool_calls"][tool_sample] == 1
    assert out.non_tensor_batch["tool_calls"][plain_sample] == 0
    assert out.non_tensor_batch["acc"].tolist() == [1.0, 1.0]
    assert out.non_tensor_batch["judge_fallback"].tolist() == [0.0, 0.0]
    # IoU of the crop [30, 40] against the ground-truth [30, 50] is 0.5; the sample that never cropped gets 0.
    assert out.non_tensor_batch["iou"][tool_sample] == pytest.approx(0.5)
    assert out.non_tensor_batch["iou"][plain_sample] == 0.0
    assert sorted(any(q in text for text in judged) for q in QUESTIONS) == [True, True]
    assert "rm_scores" in out.batch.keys()


# ---------------------------------------------------------------------- the per-turn budget (longvt-tools)
SEARCH = '<tool_call>\n{"name": "search_subtitles", "arguments": {"query": "circle"}}\n</tool_call>'


def turn(*calls: str) -> str:
    """One assistant turn with several tool calls (what a policy writes for parallel calls)."""
    body = "\n".join(c if c.startswith("<tool_call>") else _call_block(c) for c in calls)
    return f"<think>Several looks at once.</think>\n{body}<|im_end|>"


def _call_block(crop_reply: str) -> str:
    return crop_reply.split("</think>\n", 1)[1].removesuffix("<|im_end|>")


def _tool_responses(prompt_text: str) -> list[str]:
    """The tool responses of the last tool turn of a prompt, in order."""
    last_turn = prompt_text.rsplit("<|im_start|>assistant", 2)[-2]
    return [part.split("</tool_response>")[0] for part in last_turn.split("<tool_response>")[1:]]


def _counters(out, *keys):
    return {k: out.non_tensor_batch[k][0] for k in keys}


def test_turn_over_the_call_limit_runs_the_first_n_in_call_order(rl_tools):
    from longvt_plugins.core.budget import turn_calls_refusal
    from longvt_plugins.core.protocols import LONGVT_TOOLS
    from longvt_plugins.core.video import sample_window

    limit = LONGVT_TOOLS.tool.calls_per_turn
    assert limit == 3
    script = [turn(crop(0, 10), SEARCH, crop(10, 20), crop(20, 30), SEARCH), ANSWER]
    out, server = rl_tools.run(script)
    assert [c.turn for c in server.calls] == [0, 1]
    responses = _tool_responses(server.calls[1].prompt_text)
    assert len(responses) == 5  # one tool message per call, none dropped

    # The first 3 ran, in call order: crop [0, 10], the search, crop [10, 20]; 128 frames cover both crops.
    frames = server.calls[1].images
    first = sample_window(rl_tools.video.path, 0.0, 10.0, fps=1.0, max_frames=16, max_pixels=12544)
    second = sample_window(rl_tools.video.path, 10.0, 20.0, fps=1.0, max_frames=16, max_pixels=12544)
    assert len(frames) == len(first.frames) + len(second.frames)
    for got, want in zip(frames, first.frames + second.frames, strict=True):
        assert np.array_equal(np.asarray(got), want)
    assert responses[0].count("<|vision_start|>") == len(first.frames)
    assert "this video has no subtitles" in responses[1]
    assert responses[2].count("<|vision_start|>") == len(second.frames)
    # The rest: one error message each, the core agent's text, in their places.
    assert responses[3].strip() == turn_calls_refusal(3, limit, "crop_video")
    assert responses[4].strip() == turn_calls_refusal(4, limit, "search_subtitles")
    assert "only 3 crop_video call(s) per turn are run" in responses[3]
    assert "only 3 tool call(s) per turn are run" in responses[4]

    assert _counters(
        out, "crop_calls", "crop_windows", "search_calls", "turn_refused_calls", "tool_call_counts"
    ) == {
        "crop_calls": 2,
        "crop_windows": [[0.0, 10.0], [10.0, 20.0]],
        "search_calls": 1,
        "turn_refused_calls": 2,
        "tool_call_counts": 5,
    }
    response, mask = _response(out)
    answer_ids = rl_tools.tokenizer.encode(ANSWER, add_special_tokens=False)
    assert response[-len(answer_ids) :] == answer_ids and all(mask[-len(answer_ids) :])


@pytest.mark.parametrize("frames_per_turn", [20, 5])
def test_turn_frames_are_shared_as_the_core_agent_shares_them(rl_tools, monkeypatch, frames_per_turn):
    """The agent-loop config's `turn_budget` overrides the tool YAML's: 3 crops asking for 16 frames each."""
    from verl.experimental.agent_loop import agent_loop as verl_agent_loop

    from longvt_plugins.core.budget import CropBudget, share_turn_frames, turn_frames_refusal
    from longvt_plugins.core.video import sample_window
    from longvt_plugins.verl.names import AGENT_LOOP_CLASS_PATH, AGENT_LOOP_NAME

    monkeypatch.setitem(
        verl_agent_loop._agent_loop_registry,
        AGENT_LOOP_NAME,
        {"_target_": AGENT_LOOP_CLASS_PATH, "turn_budget": {"frames_per_turn": frames_per_turn}},
    )
    windows = [(0.0, 10.0), (10.0, 20.0), (20.0, 30.0)]
    out, server = rl_tools.run([turn(*(crop(int(a), int(b)) for a, b in windows)), ANSWER])
    running, max_frames = share_turn_frames(
        frames_per_turn, len(windows), CropBudget(fps=1.0, max_frames=16, max_pixels=12544, max_calls=5)
    )
    assert (running, max_frames) == {20: (3, 6), 5: (2, 2)}[frames_per_turn]  # what the core function says

    responses = _tool_responses(server.calls[1].prompt_text)
    assert len(responses) == len(windows)
    expected = [
        sample_window(rl_tools.video.path, a, b, fps=1.0, max_frames=max_frames, max_pixels=12544)
        for a, b in windows[:running]
    ]
    frames = server.calls[1].images
    assert len(frames) == sum(len(e.frames) for e in expected) <= frames_per_turn
    for got, want in zip(frames, [f for e in expected for f in e.frames], strict=True):
        assert np.array_equal(np.asarray(got), want)
    for response, e in zip(responses, expected, strict=False):
        assert response.count("<|vision_start|>") == len(e.frames) <= max_frames
    for response in responses[running:]:
        assert response.strip() == turn_frames_refusal(frames_per_turn, "crop_video")
    refused = len(windows) - running
    assert _counters(out, "crop_calls", "crop_frames", "turn_refused_calls", "tool_call_counts") == {
        "crop_calls": running,
        "crop_frames": len(frames),
        "turn_refused_calls": refused,
        "tool_call_counts": len(windows),
    }


def test_crop_only_config_is_unchanged(rl):
    """tool_config.yaml names no turn budget: verl's max_parallel_calls (the recipe's 1) decides, as before."""
    from longvt_plugins.verl.agent_loop import _tool_yaml_turn_budget, turn_budget_from_config
    from longvt_plugins.verl.plugin import resource_path

    assert _tool_yaml_turn_budget(str(resource_path("verl/tool_config.yaml"))) is None
    assert _tool_yaml_turn_budget(str(rl.tool_yaml)) is None
    assert turn_budget_from_config({"protocol": "upstream"}) is None
    assert turn_budget_from_config({"protocol": "longvt-plugins"}) is None
    shipped = turn_budget_from_config(
        _tool_yaml_turn_budget(str(resource_path("verl/tool_config_tools.yaml")))
    )
    assert (shipped.calls_per_turn, shipped.frames_per_turn) == (3, 128)
    with pytest.raises(ValueError, match="unknown key"):
        turn_budget_from_config({"calls": 2})

    assert rl.config.actor_rollout_ref.rollout.multi_turn.max_parallel_calls == 1
    out, server = rl.run([turn(crop(0, 10), crop(10, 20)), ANSWER])
    responses = _tool_responses(server.calls[1].prompt_text)
    assert len(responses) == 1 and "Error" not in responses[0]  # verl runs the first call only, as before
    assert _counters(out, "crop_calls", "crop_windows", "turn_refused_calls", "tool_call_counts") == {
        "crop_calls": 1,
        "crop_windows": [[0.0, 10.0]],
        "turn_refused_calls": 0,
        "tool_call_counts": 1,
    }
