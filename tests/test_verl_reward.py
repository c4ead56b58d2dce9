"""Our compute_score through verl 0.9.1's real reward loop on CPU, with the judge on loopback HTTP.

verl's ``RewardLoopWorker`` (the class its ``RewardLoopManager`` runs as a Ray actor) is built from verl's own
composed trainer config with ``reward.custom_reward_function.path=pkg://longvt_plugins.verl.reward``; it loads our
function through ``load_reward_manager`` and scores each trajectory with ``NaiveRewardManager.run_single``, which
decodes the response tokens with the tiny Qwen2.5-VL tokenizer exactly as in training.
"""

from __future__ import annotations

import json
import os

import pytest

from longvt_plugins.testing.openai_server import OpenAIStubServer, closed_port_url

pytest.importorskip("verl")

PROMPT_LEN, RESPONSE_LEN = 64, 192


def _compose(model_dir, **reward_kwargs):
    import verl
    from hydra import compose, initialize_config_dir

    config_dir = os.path.join(os.path.dirname(verl.__file__), "trainer", "config")
    overrides = [
        f"actor_rollout_ref.model.path={model_dir}",
        "reward.custom_reward_function.path=pkg://longvt_plugins.verl.reward",
        "reward.custom_reward_function.name=compute_score",
        "reward.num_workers=1",
    ] + [f"+reward.custom_reward_function.reward_kwargs.{k}={v}" for k, v in reward_kwargs.items()]
    with initialize_config_dir(config_dir=config_dir, version_base=None):
        return compose(config_name="ppo_trainer", overrides=overrides)


def _call(start, end) -> str:
    return (
        "<tool_call>\n"
        + json.dumps({"name": "crop_video", "arguments": {"start_time": start, "end_time": end}})
        + "\n</tool_call>"
    )


# (response turns, ground truth, extra_info, tool_extra_fields written by the crop tool or None)
SAMPLES = [
    (
        [
            {"role": "assistant", "content": "<think>The goal is late.</think>\n" + _call(80, 110)},
            {"role": "tool", "content": [{"type": "image"}, {"type": "text", "text": "Frames 80.0s-110.0s"}]},
            {"role": "assistant", "content": "<think>The ball crosses the line.</think>\n<answer>C</answer>"},
        ],
        "C",
        {"question": "When is the goal? (A) 10s (B) 50s (C) 95s", "video_segment": [90.0, 100.0]},
        {
            "crop_calls": 1,
            "crop_errors": 0,
            "crop_frames": 8,
            "crop_windows": [[80.0, 110.0]],
            "invalid_tool_calls": 0,
            "tool_call_counts": 1,
        },
    ),
    (
        [{"role": "assistant", "content": "<think>Probably early.</think>\n<answer>A</answer>"}],
        "C",
        {"question": "When is the goal? (A) 10s (B) 50s (C) 95s", "video_segment": [90.0, 100.0]},
        None,  # never called the tool: verl leaves the key out; the reward must still give every key
    ),
    (
        [{"role": "assistant", "content": "The answer is a dog."}],  # no tags at all
        "a dog",
        {"question": "Which animal?"},
        None,
    ),
    (
        [{"role": "assistant", "content": "<think>" + "hmm " * 30}],  # cut off by the length limit
        "a dog",
        {"question": "Which animal?"},
        None,
    ),
]


def _batch(tokenizer, samples):
    import numpy as np
    import torch
    from verl import DataProto

    from longvt_plugins.testing.tiny_model import chat_template_text

    tokenizer.chat_template = chat_template_text()
    prompts = torch.full((len(samples), PROMPT_LEN), tokenizer.pad_token_id)
    responses = torch.full((len(samples), RESPONSE_LEN), tokenizer.pad_token_id)
    mask = torch.zeros((len(samples), PROMPT_LEN + RESPONSE_LEN), dtype=torch.long)
    infos, truths, extra_fields = [], [], []
    for i, (turns, truth, info, fields) in enumerate(samples):
        question = [{"role": "user", "content": info["question"]}]
        prefix = tokenizer.apply_chat_template(question, tokenize=False, add_generation_prompt=True)
        full = tokenizer.apply_chat_template(question + turns, tokenize=False)
        p_ids = tokenizer(prefix, add_special_tokens=False, return_tensors="pt")["input_ids"][0][-PROMPT_LEN:]
        r_ids = tokenizer(full[len(prefix) :], add_special_tokens=False, return_tensors="pt")["input_ids"][0]
        r_ids = r_ids[:RESPONSE_LEN]
        prompts[i, PROMPT_LEN - len(p_ids) :] = p_ids
        responses[i, : len(r_ids)] = r_ids
        mask[i, PROMPT_LEN - len(p_ids) : PROMPT_LEN + len(r_ids)] = 1
        infos.append(dict(info))
        truths.append({"ground_truth": truth, "style": "rule"})
        extra_fields.append(fields or {})
    return DataProto.from_dict(
        tensors={
            "prompts": prompts,
            "responses": responses,
            "attention_mask": mask,
            "input_ids": torch.cat([prompts, responses], 1),
        },
        non_tensors={
            "data_source": np.array(["longvt"] * len(samples), dtype=object),
            "reward_model": np.array(truths, dtype=object),
            "extra_info": np.array(infos, dtype=object),
            "tool_extra_fields": np.array(extra_fields, dtype=object),
            "__num_turns__": np.array([len(s[0]) + 1 for s in samples], dtype=object),
        },
    )


def _judge_handler(body):
    prompt = body["messages"][-1]["content"]
    candidate = prompt.rsplit("[Candidate]:", 1)[1].split("\n")[0].strip()
    reference = prompt.rsplit("[Reference]:", 1)[1].split("\n")[0].strip()
    return "Judgement: 1" if candidate == reference else "Judgement: 0"


def _worker(config):
    from verl.experimental.reward_loop.reward_loop import RewardLoopWorker
    from verl.experimental.reward_loop.reward_manager.naive import NaiveRewardManager

    worker = RewardLoopWorker(config)
    assert isinstance(worker.reward_manager, NaiveRewardManager)
    return worker


@pytest.mark.slow
def test_reward_loop_scores_every_sample_with_the_same_keys(tiny_model_dir, tmp_path):
    from longvt_plugins.verl.reward import RESULT_KEYS

    with OpenAIStubServer(_judge_handler, model="judge-72b") as server:
        config = _compose(
            tiny_model_dir,
            judge_base_url=server.base_url,
            judge_cache=tmp_path / "judge.sqlite",
            judge_retries=1,
        )
        worker = _worker(config)
        outputs = worker.loop.run_until_complete(
            worker.compute_score_batch(_batch(worker.input_tokenizer, SAMPLES))
        )

        infos = [o["reward_extra_info"] for o in outputs]
        assert all(list(info) == list(RESULT_KEYS) for info in infos)
        good, wrong, untagged, truncated = infos
        assert good["acc"] == 1.0 and good["format"] == 1.0 and good["iou"] == pytest.approx(10 / 30)
        assert good["tool_calls"] == 1.0 and good["judge_fallback"] == 0.0
        assert outputs[0]["reward_score"] == pytest.approx(2 + 10 / 30)
        assert (
            wrong["acc"] == 0.0
            and wrong["format"] == 1.0
            and wrong["tool_calls"] == 0.0
            and wrong["iou"] == 0.0
        )
        assert (
            untagged["has_answer"] == 0.0 and untagged["format"] == 0.0 and outputs[2]["reward_score"] == 0.0
        )
        assert truncated["has_answer"] == 0.0 and outputs[3]["reward_score"] == 0.0
        # the judge saw the question and only the two answers that were there to grade
        assert len(server.requests) == 2
        assert "[Question]: When is the goal?" in server.requests[0]["messages"][0]["content"]


@pytest.mark.slow
def test_reward_loop_keeps_training_when_the_judge_is_down(tiny_model_dir):
    config = _compose(tiny_model_dir, judge_base_url=closed_port_url(), judge_retries=1, judge_cache="off")
    worker = _worker(config)
    outputs = worker.loop.run_until_complete(
        worker.compute_score_batch(_batch(worker.input_tokenizer, SAMPLES[:2]))
    )
    good, wrong = (o["reward_extra_info"] for o in outputs)
    assert good["judge_fallback"] == 1.0 and good["acc"] == 1.0  # option letter matched by rule
    assert wrong["judge_fallback"] == 1.0 and wrong["acc"] == 0.0
    assert good["reward_error"] == 0.0


async def test_compute_score_directly_fills_defaults_and_rejects_unknown_settings():
    from longvt_plugins.verl.reward import RESULT_KEYS, compute_score

    result = await compute_score("longvt", "<think>a</think><answer>B</answer>", "B", None, judge="rule")
    assert list(result) == list(RESULT_KEYS) and result["score"] == 2.0
    np = pytest.importorskip("numpy")
    # parquet rows arrive as numpy arrays; a dict ground truth may carry the segment
    text = (
        "<think>a</think>"
        + _call(1, 3)
        + "\nuser\n<tool_response>\nok\n</tool_response>\nassistant\n<think>b</think><answer>B</answer>"
    )
    result = await compute_score(
        "longvt",
        text,
        {"answer": "B", "segment": np.array([1.0, 3.0])},
        {"crop_windows": np.array([[1.0, 3.0]])},
        judge="rule",
    )
    assert result["iou"] == 1.0 and result["tool_calls"] == 1.0
    with pytest.raises(TypeError, match="unknown reward_kwargs"):
        await compute_score("longvt", "x", "B", None, judge_url="http://typo")


async def test_accepted_settings_are_the_config_fields():
    from dataclasses import fields

    from longvt_plugins.core.judge import JudgeConfig
    from longvt_plugins.core.rewards import RewardConfig
    from longvt_plugins.verl.reward import _settings, compute_score

    reward_kwargs = {f.name for f in fields(RewardConfig)} - {"judge_mode"} | {"judge"}
    judge_kwargs = {"judge_" + f.name for f in fields(JudgeConfig)} - {"judge_cache_path"} | {"judge_cache"}
    defaults = {**{k: None for k in reward_kwargs | judge_kwargs}, "judge": "rule"}
    assert _settings(defaults) == (RewardConfig(judge_mode="rule"), None)
    reward, judge = _settings(
        {"judge": "equivalent", "options": "ABCD", "judge_base_url": "http://j/v1", "judge_backoff_max": 2.0}
    )
    assert reward.judge_mode == "equivalent" and reward.options == "ABCD"
    assert judge is not None and judge.base_url == "http://j/v1" and judge.backoff_max == 2.0
    result = await compute_score(
        "longvt", "<think>a</think><answer>B</answer>", "B", None, judge="rule", acc_weight=3
    )
    assert result["score"] == 4.0


async def test_bad_sample_gets_zero_and_a_flag_not_an_exception():
    from longvt_plugins.verl.reward import RESULT_KEYS, compute_score

    result = await compute_score(
        "longvt", "<answer>B</answer>", "B", {"tool_call_counts": "many"}, judge="rule"
    )
    assert list(result) == list(RESULT_KEYS) and result["reward_error"] == 1.0 and result["score"] == 0.0


@pytest.mark.slow
def test_reward_loop_manager_on_ray(tiny_model_dir):
    """The full path: RewardLoopManager starts a Ray reward worker, which imports our function by pkg:// path."""
    ray = pytest.importorskip("ray")
    from verl.experimental.reward_loop.reward_loop import RewardLoopManager
    from verl.utils import hf_tokenizer

    from longvt_plugins.verl.reward import RESULT_KEYS

    with OpenAIStubServer(_judge_handler, model="judge-72b") as server:
        config = _compose(tiny_model_dir, judge_base_url=server.base_url, judge_cache="off")
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, ignore_reinit_error=True)
        try:
            manager = RewardLoopManager(config)
            batch = _batch(hf_tokenizer(str(tiny_model_dir)), SAMPLES)
            scored = manager.compute_rm_score(batch)
        finally:
            ray.shutdown()
        assert scored.meta_info["reward_extra_keys"] == list(RESULT_KEYS)
        assert scored.non_tensor_batch["acc"].tolist() == [1.0, 0.0, 0.0, 0.0]
        # the reward sits on each response's last valid token
        rm = scored.batch["rm_scores"]
        assert rm[0].sum().item() == pytest.approx(2 + 10 / 30) and rm[0].count_nonzero().item() == 1
        assert len(server.requests) == 2  # the Ray worker process reached the judge on loopback
