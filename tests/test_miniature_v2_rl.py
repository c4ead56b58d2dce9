"""Miniature v2 RL: `python -m longvt_plugins.miniature.v2 rl-data` writes verl rows whose first turn is the SFT /
evaluation one (64-frame skim as timestamped frames), counterfactual rows carry "none" and no segment, and
`recipes/rl/profile/miniature_v2_1gpu.yaml` composes against verl 0.9.1's config with the v2 crop budget and the
judge over HTTP."""

from __future__ import annotations

import re
from dataclasses import asdict
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml
from test_verl_recipe import compose_from_command, launch_command
from test_verl_recipe_multigpu import verl_validates

from longvt_plugins.miniature.v2 import rl
from longvt_plugins.miniature.v2.layout import crop_budget, skim_budget

PROFILE = Path(__file__).resolve().parents[1] / "recipes" / "rl" / "profile" / "miniature_v2_1gpu.yaml"
VIDEOS = 12  # rft item 11 is a counterfactual question


@pytest.fixture(scope="module")
def rl_data(tmp_path_factory):
    from longvt_plugins.miniature.v2.__main__ import main

    work = tmp_path_factory.mktemp("v2-rl")
    main(["rl-data", "--work", str(work), "--videos", str(VIDEOS), "--val-videos", "2"])
    return work


def test_tool_config_is_the_v2_crop_budget():
    from longvt_plugins.verl.tool import budget_from_config

    (tool,) = yaml.safe_load(rl.TOOL_CONFIG.read_text())["tools"]
    assert asdict(budget_from_config(tool["config"])) == asdict(crop_budget())


def test_v2_rl_rows_show_the_skim_as_timestamped_frames(rl_data):
    train, val = (pq.read_table(rl_data / f"rl_{s}.parquet").to_pylist() for s in ("train", "val"))
    assert (len(train), len(val)) == (VIDEOS, 2)
    skim = skim_budget()
    for row in train + val:
        user = row["prompt"][1]["content"]
        frames = len(re.findall(r"<[\d.]+s><image>", user))
        assert frames == len(row["images"]) and skim.min_frames <= frames <= skim.max_frames
        assert row["extra_info"]["tools_kwargs"]["crop_video"]["create_kwargs"]["video_path"].endswith(".mp4")
    truths = [r["reward_model"]["ground_truth"] for r in train]
    assert "none" in truths  # a counterfactual: its answer is "none" and there is no segment to score IoU on
    assert not {r["extra_info"]["video_path"] for r in train} & {r["extra_info"]["video_path"] for r in val}


@pytest.mark.slow
def test_v2_profile_composes_and_passes_verls_checks(tmp_path):
    from omegaconf import OmegaConf
    from verl.tools.tool_registry import load_all_tools
    from verl.trainer.ppo.reward import get_custom_reward_fn
    from verl.utils.config import omega_conf_to_dataclass

    argv = launch_command(PROFILE="miniature_v2_1gpu", JUDGE_MODE="grade", LONGVT_JUDGE_BASE_URL="http://127.0.0.1:9/v1",
                          MODEL_PATH=str(tmp_path))  # fmt: skip
    config = compose_from_command(argv)
    OmegaConf.resolve(config)
    verl_validates(config)
    rollout = omega_conf_to_dataclass(config.actor_rollout_ref.rollout)
    assert config.actor_rollout_ref.model.path == str(tmp_path)
    kwargs = get_custom_reward_fn(config).args[1]
    assert kwargs["judge"] == "grade" and kwargs["judge_base_url"] == "http://127.0.0.1:9/v1"
    (tool,) = load_all_tools(tool_config_path=rollout.multi_turn.tool_config_path, function_tool_path=None)
    assert asdict(tool.budget) == asdict(crop_budget())
    assert (
        rollout.limit_images >= skim_budget().max_frames + crop_budget().max_calls * crop_budget().max_frames
    )
    assert config.data.max_response_length >= 768 + crop_budget().max_frames * 11
