"""Miniature RL: `python -m longvt_plugins.miniature rl-data` writes verl rows that show the skim as the SFT rows
do, and `recipes/rl/profile/miniature_1gpu.yaml` composes against verl 0.9.1's real config with the miniature crop
budget in the tool and GRPO sizes a 0.8M-parameter model can use."""

from __future__ import annotations

import re
from dataclasses import asdict
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml
from test_verl_recipe import SMOKE_EXTRA_KEYS, compose_from_command, keys_unknown_to_verl, launch_command
from test_verl_recipe_multigpu import per_rank_split, verl_validates

from longvt_plugins.miniature import rl, task
from longvt_plugins.miniature.demo import shipped_checkpoint

RL_VIDEOS = 4  # one question each
PROFILE = Path(__file__).resolve().parents[1] / "recipes" / "rl" / "profile" / "miniature_1gpu.yaml"


def test_tool_config_is_the_miniature_crop_budget():
    from longvt_plugins.verl.tool import budget_from_config

    (tool,) = yaml.safe_load(rl.TOOL_CONFIG.read_text())["tools"]
    assert tool["class_name"] == "longvt_plugins.verl.tool.CropVideoTool"
    assert asdict(budget_from_config(tool["config"])) == asdict(task.crop_budget())


@pytest.fixture(scope="module")
def rl_data(tmp_path_factory):
    from longvt_plugins.miniature.__main__ import main

    work = tmp_path_factory.mktemp("mini-rl")
    main(["rl-data", "--work", str(work), "--videos", str(RL_VIDEOS), "--val-videos", str(RL_VIDEOS)])
    return work


def test_rl_data_rows_show_the_skim_as_timestamped_frames(rl_data):
    train, val = (pq.read_table(rl_data / f"rl_{s}.parquet").to_pylist() for s in ("train", "val"))
    assert len(train) == len(val) == RL_VIDEOS  # one question per video, nothing rejected
    assert {r["extra_info"]["split"] for r in train} == {rl.TRAIN_SPLIT}
    assert {r["extra_info"]["split"] for r in val} == {rl.VAL_SPLIT}
    skim = task.skim_budget()
    for row in train + val:
        user = row["prompt"][1]["content"]
        assert "<video>" not in user and "videos" not in row
        assert len(re.findall(r"<[\d.]+s><image>", user)) == len(row["images"]) == skim.max_frames
        assert {(i["min_pixels"], i["max_pixels"]) for i in row["images"]} == {(task.FRAME_PIXELS,) * 2}
        assert row["extra_info"]["tools_kwargs"]["crop_video"]["create_kwargs"]["video_path"].endswith(".mp4")
        assert row["reward_model"]["ground_truth"] in task.FLASH_COLOURS
    # The two splits never share a video.
    assert not {r["extra_info"]["video_path"] for r in train} & {r["extra_info"]["video_path"] for r in val}


@pytest.mark.slow
def test_rl_data_loads_in_verl_within_the_profiles_prompt_length(rl_data):
    from omegaconf import OmegaConf
    from verl.utils import hf_processor, hf_tokenizer
    from verl.utils.dataset.rl_dataset import RLHFDataset

    profile = yaml.safe_load(PROFILE.read_text())
    model = shipped_checkpoint()
    tokenizer, processor = hf_tokenizer(str(model)), hf_processor(str(model))
    config = OmegaConf.create({
        "max_prompt_length": profile["data"]["max_prompt_length"], "filter_overlong_prompts": True,
        "filter_overlong_prompts_workers": None, "return_raw_chat": True, "cache_dir": str(rl_data / "cache"),
        "tool_config_path": str(rl.TOOL_CONFIG),
    })  # fmt: skip
    data = RLHFDataset(str(rl_data / "rl_train.parquet"), tokenizer, config, processor)
    assert len(data) == RL_VIDEOS  # verl measured every prompt (tools and images included): none too long
    parts = data[0]["raw_prompt"][1]["content"]
    assert [p["type"] for p in parts[:4]] == ["text", "image", "text", "image"]
    assert parts[1]["image"].size == (28, 28)


@pytest.mark.slow
def test_miniature_profile_composes_and_passes_verls_checks(base_config):
    from omegaconf import OmegaConf
    from verl.tools.tool_registry import load_all_tools
    from verl.trainer.ppo.reward import get_custom_reward_fn
    from verl.utils.config import omega_conf_to_dataclass

    profile = yaml.safe_load(PROFILE.read_text())
    assert [k for k in keys_unknown_to_verl(profile, base_config) if k not in SMOKE_EXTRA_KEYS] == []
    argv = launch_command(PROFILE="miniature_1gpu", JUDGE_MODE="rule", LONGVT_JUDGE_BASE_URL="",
                          MODEL_PATH=str(shipped_checkpoint()))  # fmt: skip
    config = compose_from_command(argv)
    OmegaConf.resolve(config)
    verl_validates(config)
    rollout = omega_conf_to_dataclass(config.actor_rollout_ref.rollout)
    actor = config.actor_rollout_ref.actor
    assert config.actor_rollout_ref.model.path == str(shipped_checkpoint())
    assert (config.data.train_batch_size, rollout.n, config.data.max_response_length) == (8, 8, 512)
    # Sampled, not greedy, but below 1.0: the tiny policy keeps its format (BENCHMARKS.md, GPU runs).
    assert 0 < rollout.temperature < 1 and rollout.val_kwargs.temperature == 0
    assert per_rank_split(config) == (64, 64)  # one optimizer step per training step
    assert actor.optim.lr <= 3e-5  # 3e-4 took the converged policy apart in 4 steps (BENCHMARKS.md, GPU runs)
    model = config.actor_rollout_ref.model
    assert model.use_remove_padding is False and model.override_config.attn_implementation == "sdpa"
    assert get_custom_reward_fn(config).args[1]["judge"] == "rule"
    # The crop budget reaches verl's tool through the profile's tool config.
    (tool,) = load_all_tools(tool_config_path=rollout.multi_turn.tool_config_path, function_tool_path=None)
    assert asdict(tool.budget) == asdict(task.crop_budget())
    assert rollout.multi_turn.max_user_turns == task.crop_budget().max_calls
    assert (
        rollout.limit_images
        >= task.SKIM_FRAMES + task.crop_budget().max_calls * task.crop_budget().max_frames
    )
    assert "hf_model" in actor.checkpoint.save_contents and "hf_model" not in actor.checkpoint.load_contents


@pytest.fixture(scope="module")
def base_config():
    import verl  # noqa: F401
    from hydra import compose, initialize_config_module

    with initialize_config_module("verl.trainer.config", version_base=None):
        return compose("ppo_trainer")
