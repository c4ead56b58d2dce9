"""The RL recipe against verl 0.9.1's real Hydra config: a renamed or missing key fails here, not on a cluster."""

from __future__ import annotations

import os
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest
import yaml

RECIPE = Path(__file__).resolve().parents[1] / "recipes" / "rl"
SCRIPT_ENV = {
    "LONGVT_DRY_RUN": "1",
    "MODEL_PATH": "/ckpt/longvt-7b-sft",
    "TRAIN_FILES": "/data/rl_train.parquet",
    "VAL_FILES": "/data/rl_val.parquet",
    "LONGVT_JUDGE_BASE_URL": "http://judge-host:8000/v1",
}
# Keys the recipe may set although verl's YAML lacks them: each is read by verl (a dataclass field or a .get()).
EXTRA_KEYS = {
    "actor_rollout_ref.rollout.limit_images": "RolloutConfig.limit_images",
    "reward.custom_reward_function.reward_kwargs": "read with .get() by verl.trainer.ppo.reward",
}


def launch_command(*extra: str, **env: str) -> list[str]:
    """What run_longvt_rl.sh would execute (the script itself runs, in dry-run mode)."""
    environ = {k: v for k, v in os.environ.items() if k not in SCRIPT_ENV}
    environ.update(SCRIPT_ENV, **env)
    done = subprocess.run(
        ["bash", str(RECIPE / "run_longvt_rl.sh"), *extra], env=environ, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


def compose_from_command(argv: list[str]):
    from longvt_plugins.testing.verl_rollout import compose_recipe

    assert argv[1:3] == ["-m", "verl.trainer.main_ppo"]
    assert argv[3] == "--config-path" and argv[5] == "--config-name"
    return compose_recipe(argv[7:], recipe_dir=argv[4], name=argv[6])


def leaf_keys(node, prefix: str = "") -> list[str]:
    if isinstance(node, dict) and node:
        return [k for key, value in node.items() for k in leaf_keys(value, f"{prefix}{key}.")]
    return [prefix[:-1]]


def keys_unknown_to_verl(recipe: dict, base) -> list[str]:
    """Keys of a recipe YAML that verl's composed ppo_trainer config does not have (Hydra merges them silently)."""
    from omegaconf import OmegaConf

    body = {k: v for k, v in recipe.items() if k not in ("hydra", "defaults")}
    unknown = []
    for key in leaf_keys(body):
        if any(key == extra or key.startswith(extra + ".") for extra in EXTRA_KEYS):
            continue
        parent, _, leaf = key.rpartition(".")
        node = OmegaConf.select(base, parent) if parent else base
        if node is None or leaf not in node.keys():  # `in` is False for a mandatory (???) key
            unknown.append(key)
    return unknown


@pytest.fixture(scope="module")
def base_config():
    import verl  # noqa: F401
    from hydra import compose, initialize_config_module

    with initialize_config_module("verl.trainer.config", version_base=None):
        return compose("ppo_trainer")


@pytest.fixture(scope="module")
def recipe_config():
    return compose_from_command(launch_command())


@pytest.mark.slow
def test_every_recipe_key_exists_in_verls_config(base_config):
    recipe = yaml.safe_load((RECIPE / "longvt_grpo.yaml").read_text())
    assert keys_unknown_to_verl(recipe, base_config) == []
    # The check itself catches what Hydra lets through: LongVT's verl-0.4 keys that 0.9.1 no longer has.
    stale = {
        "data": {"sglang_video": True},
        "actor_rollout_ref": {"rollout": {"multi_turn": {"max_tool_call": 5}}},
    }
    assert keys_unknown_to_verl(stale, base_config) == [
        "data.sglang_video",
        "actor_rollout_ref.rollout.multi_turn.max_tool_call",
    ]
    from verl.workers.config import RolloutConfig

    assert "limit_images" in RolloutConfig.__dataclass_fields__


@pytest.mark.slow
def test_launch_script_overrides_compose_and_validate(recipe_config):
    from omegaconf import OmegaConf
    from verl.trainer.ppo.reward import get_custom_reward_fn
    from verl.trainer.ppo.utils import need_critic, need_reference_policy
    from verl.utils.config import omega_conf_to_dataclass, validate_config

    from longvt_plugins.verl import reward
    from longvt_plugins.verl.plugin import chat_template

    config = recipe_config.copy()
    OmegaConf.resolve(config)  # what main_ppo's TaskRunner does; needs our ${longvt.*} resolvers
    validate_config(
        config, use_reference_policy=need_reference_policy(config), use_critic=need_critic(config)
    )

    rollout = omega_conf_to_dataclass(config.actor_rollout_ref.rollout)
    assert rollout.agent.default_agent_loop == "longvt_tool_agent"
    assert (rollout.multi_turn.max_user_turns, rollout.multi_turn.max_parallel_calls) == (5, 1)
    assert rollout.n == 16 and rollout.limit_images == 640
    assert (config.data.train_batch_size, config.data.max_prompt_length, config.data.max_response_length) == (
        16,
        36000,
        16384,
    )
    actor = config.actor_rollout_ref.actor
    assert (actor.optim.lr, actor.use_kl_loss, actor.kl_loss_coef) == (1e-6, True, 0.001)
    assert config.algorithm.adv_estimator == "grpo"
    assert config.actor_rollout_ref.model.custom_chat_template == chat_template()
    assert config.actor_rollout_ref.model.path == SCRIPT_ENV["MODEL_PATH"]
    assert Path(rollout.multi_turn.tool_config_path).is_file()

    fn = get_custom_reward_fn(config)  # what the reward workers load
    raw_fn, reward_kwargs = fn.args
    assert (raw_fn.__module__, raw_fn.__qualname__) == (reward.__name__, "compute_score")
    assert reward_kwargs["judge_base_url"] == SCRIPT_ENV["LONGVT_JUDGE_BASE_URL"]


@pytest.mark.slow
def test_a_renamed_key_fails_at_compose_time():
    from hydra.errors import ConfigCompositionException

    argv = launch_command("actor_rollout_ref.rollout.multi_turn.max_tool_call=5")
    with pytest.raises(ConfigCompositionException, match="max_tool_call"):
        compose_from_command(argv)


def test_launch_script_refuses_to_start_without_a_judge():
    environ = {k: v for k, v in os.environ.items() if k not in SCRIPT_ENV}
    environ.update({k: v for k, v in SCRIPT_ENV.items() if k != "LONGVT_JUDGE_BASE_URL"})
    done = subprocess.run(
        ["bash", str(RECIPE / "run_longvt_rl.sh")], env=environ, capture_output=True, text=True
    )
    assert done.returncode != 0 and "LONGVT_JUDGE_BASE_URL" in done.stderr


@pytest.mark.slow
def test_shipped_tool_config_loads_through_verls_registry(recipe_config):
    from omegaconf import OmegaConf
    from verl.tools.tool_registry import load_all_tools

    from longvt_plugins.verl.tool import CropVideoTool

    path = OmegaConf.select(recipe_config, "actor_rollout_ref.rollout.multi_turn.tool_config_path")
    (tool,) = load_all_tools(tool_config_path=path, function_tool_path=None)
    assert isinstance(tool, CropVideoTool) and tool.name == "crop_video"
    assert (tool.budget.fps, tool.budget.max_frames, tool.budget.max_pixels, tool.budget.max_calls) == (
        1.0,
        128,
        224 * 224,
        5,
    )
    params = tool.tool_schema.function.parameters
    assert sorted(params.properties) == ["end_time", "start_time"] and "video_path" not in params.properties


def test_recipe_pins_the_installed_verl():
    pin = (RECIPE / "REQUIRED_VERL.txt").read_text().strip()
    assert pin.startswith("verl[verl-core]==")
    assert version("verl") == pin.split("==", 1)[1]


@pytest.mark.slow
def test_launch_script_ships_worker_environment_in_rays_runtime_env(recipe_config):
    env_vars = recipe_config.ray_kwargs.ray_init.runtime_env.env_vars
    assert env_vars.FORCE_QWENVL_VIDEO_READER == "decord"
    assert env_vars.LONGVT_JUDGE_BASE_URL == SCRIPT_ENV["LONGVT_JUDGE_BASE_URL"]


def test_judge_check_script_talks_to_a_loopback_judge():
    from longvt_plugins.testing.openai_server import OpenAIStubServer

    script = Path(__file__).resolve().parents[1] / "recipes" / "judge" / "check_judge.sh"
    with OpenAIStubServer(lambda body: "Judgement: 1", model="judge") as judge:
        environ = dict(os.environ, LONGVT_JUDGE_BASE_URL=judge.base_url, PYTHON=sys.executable)
        done = subprocess.run(["bash", str(script)], env=environ, capture_output=True, text=True, timeout=120)
        asked = len(judge.requests)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "score=1" in done.stdout and "fallback=False" in done.stdout and asked == 1


SMOKE_ENV = {"PROFILE": "smoke_1gpu", "JUDGE_MODE": "rule", "LONGVT_JUDGE_BASE_URL": ""}
# The smoke config's keys that verl's YAML lacks but verl reads (an open dict / a model config override).
SMOKE_EXTRA_KEYS = (
    "actor_rollout_ref.model.override_config.attn_implementation",  # handed to from_pretrained's config
    "actor_rollout_ref.rollout.engine_kwargs.vllm.num_gpu_blocks_override",  # passed to vLLM's engine args
)


@pytest.mark.slow
def test_single_gpu_smoke_config_composes_without_a_judge(base_config):
    from omegaconf import OmegaConf
    from verl.trainer.ppo.reward import get_custom_reward_fn
    from verl.trainer.ppo.utils import need_critic, need_reference_policy
    from verl.utils.config import omega_conf_to_dataclass, validate_config

    smoke = yaml.safe_load((RECIPE / "profile" / "smoke_1gpu.yaml").read_text())
    assert [k for k in keys_unknown_to_verl(smoke, base_config) if k not in SMOKE_EXTRA_KEYS] == []

    argv = launch_command(**SMOKE_ENV, WORKER_ENV="VLLM_USE_FLASHINFER_SAMPLER=0")
    assert not any("judge_base_url" in a for a in argv)
    config = compose_from_command(argv)
    OmegaConf.resolve(config)
    validate_config(
        config, use_reference_policy=need_reference_policy(config), use_critic=need_critic(config)
    )
    rollout = omega_conf_to_dataclass(config.actor_rollout_ref.rollout)
    model = config.actor_rollout_ref.model
    # What a one-GPU host without flash-attn needs (recipes/rl/README.md, "Smoke run").
    assert (config.trainer.nnodes, config.trainer.n_gpus_per_node) == (1, 1)
    assert model.use_remove_padding is False and model.override_config.attn_implementation == "sdpa"
    assert config.actor_rollout_ref.actor.fsdp_config.ulysses_sequence_parallel_size == 1
    assert rollout.agent.default_agent_loop == "longvt_tool_agent" and rollout.agent.num_workers == 1
    assert rollout.engine_kwargs["vllm"]["num_gpu_blocks_override"] == 4096 and rollout.enforce_eager
    assert config.trainer.total_training_steps >= 10 and rollout.n > 1  # a group needs different outcomes
    # Ray takes only strings in runtime_env.env_vars: "0" must not come out as the int 0.
    assert config.ray_kwargs.ray_init.runtime_env.env_vars.VLLM_USE_FLASHINFER_SAMPLER == "0"
    assert isinstance(
        OmegaConf.to_container(config.ray_kwargs.ray_init.runtime_env.env_vars)[
            "VLLM_USE_FLASHINFER_SAMPLER"
        ],
        str,
    )
    raw_fn, reward_kwargs = get_custom_reward_fn(config).args
    assert reward_kwargs["judge"] == "rule" and reward_kwargs["judge_base_url"] is None
    # The smoke config keeps the full recipe's loop, tool and reward: only sizes and host workarounds differ.
    full = compose_from_command(launch_command())
    for key in (
        "actor_rollout_ref.rollout.multi_turn.tool_config_path",
        "reward.custom_reward_function.path",
        "actor_rollout_ref.model.custom_chat_template",
        "algorithm.adv_estimator",
    ):
        assert OmegaConf.select(config, key) == OmegaConf.select(full, key), key


def test_launch_script_rejects_an_unknown_judge_mode():
    environ = {k: v for k, v in os.environ.items() if k not in SCRIPT_ENV}
    environ.update(SCRIPT_ENV, JUDGE_MODE="llm")
    done = subprocess.run(
        ["bash", str(RECIPE / "run_longvt_rl.sh")], env=environ, capture_output=True, text=True
    )
    assert done.returncode == 2 and "JUDGE_MODE" in done.stderr


def crop_response_tokens(video, frames: int, processor) -> int:
    """Response tokens one crop_video result costs in the rollout: visual tokens (real Qwen2.5-VL image processor at
    the tool's pixel budget), the vision start/end pair and timestamp label per frame, and the tool's summary text."""
    from longvt_plugins.core.crop_tool import CropBudget, CropVideoTool, timestamped_parts
    from longvt_plugins.verl.tool import budget_from_config

    tool_cfg = yaml.safe_load(Path(resource_path("verl/tool_config.yaml")).read_text())["tools"][0]["config"]
    budget: CropBudget = budget_from_config(tool_cfg)
    result = CropVideoTool(str(video), budget).execute({"start_time": 0.0, "end_time": float(frames)})
    assert result.ok and len(result.frames) == min(frames, budget.max_frames), result.text
    size = {"shortest_edge": budget.min_pixels, "longest_edge": budget.max_pixels}
    grid = processor.image_processor(images=result.frames, size=size, return_tensors="pt")["image_grid_thw"]
    visual = int((grid.prod(-1) // 4).sum())
    labels = sum(
        len(processor.tokenizer(p["text"]).input_ids)
        for p in timestamped_parts(result.frames, result.timestamps)[::2]
    )
    return visual + 2 * len(result.frames) + labels + len(processor.tokenizer(result.text).input_ids)


def resource_path(relative: str) -> str:
    from longvt_plugins.verl.plugin import resource_path as shipped

    return shipped(relative)


@pytest.mark.slow
def test_response_budget_holds_what_the_recipe_says(tmp_path, tiny_model_dir):
    """longvt_grpo.yaml / README: 16,384 response tokens hold ONE full 128-frame crop of a 16:9 video (~10k tokens),
    or five crops of up to 32 frames; not five full crops (upstream's implied promise)."""
    from transformers import AutoProcessor

    from longvt_plugins.testing.videos import make_synthetic_video

    video = make_synthetic_video(tmp_path / "wide.mp4", duration=130.0, fps=1.0, width=1280, height=720).path
    processor = AutoProcessor.from_pretrained(tiny_model_dir)
    full = crop_response_tokens(video, 128, processor)
    small = crop_response_tokens(video, 32, processor)
    recipe = yaml.safe_load((RECIPE / "longvt_grpo.yaml").read_text())
    budget = recipe["data"]["max_response_length"]
    reasoning = 1024  # the model's own text over the trajectory, kept small on purpose
    assert 8_000 < full < 12_000, full  # 60 visual + ~18 text tokens a frame at 280x168 px
    assert (budget - reasoning) // full == 1
    assert 5 * small + reasoning <= budget
    assert 5 * full > 2 * budget  # the old comment's "5 crops of 128 frames" needs ~3x the budget
