"""The N-GPU smoke configs (2, 4, 8 GPUs of one node) against verl 0.9.1's real Hydra config and verl's own checks:
multi-GPU hosts were not lent, so what can be checked on CPUs fails here rather than on the first multi-GPU run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from test_verl_recipe import (
    RECIPE,
    SMOKE_EXTRA_KEYS,
    compose_from_command,
    keys_unknown_to_verl,
    launch_command,
)

EVAL_RECIPE = Path(__file__).resolve().parents[1] / "recipes" / "eval" / "run_eval.sh"
NGPU_ENV = {"PROFILE": "smoke_ngpu", "JUDGE_MODE": "rule", "LONGVT_JUDGE_BASE_URL": ""}
GPU_COUNTS = (2, 4, 8)
# The resume run: the first run's command plus these (README "Several GPUs of one node").
RESUME = ("trainer.total_training_steps=12",)


def ngpu_config(n: int, *extra: str):
    from omegaconf import OmegaConf

    config = compose_from_command(launch_command(*extra, **NGPU_ENV, GPUS_PER_NODE=str(n)))
    OmegaConf.resolve(config)  # what main_ppo's TaskRunner does before anything reads a size
    return config


def verl_validates(config) -> None:
    """verl's own config checks, as main_ppo runs them (batch divisibility against the GPU count among them)."""
    from verl.trainer.ppo.utils import need_critic, need_reference_policy
    from verl.utils.config import validate_config

    validate_config(
        config, use_reference_policy=need_reference_policy(config), use_critic=need_critic(config)
    )


def per_rank_split(config) -> tuple[int, int]:
    """Trajectories each FSDP rank gets per step and per mini-batch, with the divisibility verl asserts at run time
    (engine_workers.update_actor: mini-batch % data-parallel size; tensordict_utils.make_iterator: batch % mini)."""
    actor = config.actor_rollout_ref.actor
    n = config.actor_rollout_ref.rollout.n
    dp = (
        config.trainer.n_gpus_per_node
        * config.trainer.nnodes
        // actor.fsdp_config.ulysses_sequence_parallel_size
    )
    batch, mini = config.data.train_batch_size * n, actor.ppo_mini_batch_size * n
    assert batch % dp == 0 and mini % dp == 0, (batch, mini, dp)
    assert (batch // dp) % (mini // dp) == 0 and mini // dp % actor.ppo_micro_batch_size_per_gpu == 0
    return batch // dp, mini // dp


def rollout_replicas(config) -> int:
    """vLLM servers the rollout starts; engine_workers asserts world size % (TP x DP x PP) == 0."""
    rollout = config.actor_rollout_ref.rollout
    per_replica = (
        rollout.tensor_model_parallel_size * rollout.data_parallel_size * rollout.pipeline_model_parallel_size
    )
    world = config.trainer.n_gpus_per_node * config.trainer.nnodes
    assert world % per_replica == 0, (world, per_replica)
    return world // per_replica


@pytest.mark.slow
def test_ngpu_profile_keys_exist_in_verls_config():
    import verl  # noqa: F401
    from hydra import compose, initialize_config_module

    with initialize_config_module("verl.trainer.config", version_base=None):
        base = compose("ppo_trainer")
    profile = yaml.safe_load((RECIPE / "profile" / "smoke_ngpu.yaml").read_text())
    assert [k for k in keys_unknown_to_verl(profile, base) if k not in SMOKE_EXTRA_KEYS] == []


@pytest.mark.slow
@pytest.mark.parametrize("n", GPU_COUNTS)
def test_ngpu_smoke_scales_with_the_gpu_count_and_passes_verls_checks(n):
    from verl.utils.config import omega_conf_to_dataclass

    config = ngpu_config(n)
    verl_validates(config)
    assert (config.trainer.nnodes, config.trainer.n_gpus_per_node) == (1, n)
    # Every rank gets 8 trajectories a step, as the single-GPU smoke run has (2 prompts x 4): weak scaling.
    assert per_rank_split(config) == (8, 8)
    single = compose_from_command(
        launch_command(PROFILE="smoke_1gpu", JUDGE_MODE="rule", LONGVT_JUDGE_BASE_URL="")
    )
    assert single.data.train_batch_size * single.actor_rollout_ref.rollout.n == 8
    rollout = omega_conf_to_dataclass(config.actor_rollout_ref.rollout)
    assert rollout_replicas(config) == n and rollout.agent.num_workers == n and config.reward.num_workers == n
    # The single-GPU profile's host workarounds come along (smoke_ngpu's defaults list), and so do the loop and tool.
    assert config.actor_rollout_ref.model.override_config.attn_implementation == "sdpa"
    assert rollout.engine_kwargs["vllm"]["num_gpu_blocks_override"] == 4096
    assert rollout.agent.default_agent_loop == "longvt_tool_agent"
    assert config.trainer.experiment_name == f"longvt-smoke-{n}gpu"
    assert config.ray_kwargs.ray_init.num_cpus >= 3 * n + 2  # agent + reward + GPU workers, storage units


@pytest.mark.slow
@pytest.mark.parametrize("n", GPU_COUNTS)
def test_tensor_parallel_rollout_halves_the_replicas(n):
    config = ngpu_config(n, "actor_rollout_ref.rollout.tensor_model_parallel_size=2")
    verl_validates(config)
    assert rollout_replicas(config) == n // 2 and per_rank_split(config) == (8, 8)


@pytest.mark.slow
def test_a_batch_that_does_not_split_over_the_gpus_fails_verls_check():
    # 3 prompts x 3 rollouts = 9 trajectories do not split over 4 ranks.
    config = ngpu_config(4, "data.train_batch_size=3", "actor_rollout_ref.actor.ppo_mini_batch_size=3",
                         "actor_rollout_ref.rollout.n=3")  # fmt: skip
    with pytest.raises(AssertionError, match="must be divisible by minimal possible batch size"):
        verl_validates(config)
    with pytest.raises(AssertionError):
        per_rank_split(config)


@pytest.mark.slow
@pytest.mark.parametrize("n", GPU_COUNTS)
def test_nvlink_multicast_is_off_for_every_ray_worker(n):
    from omegaconf import OmegaConf

    env_vars = OmegaConf.to_container(ngpu_config(n).ray_kwargs.ray_init.runtime_env.env_vars)
    assert env_vars["NCCL_NVLS_ENABLE"] == "0"  # a string: Ray refuses ints in runtime_env.env_vars
    assert env_vars["FORCE_QWENVL_VIDEO_READER"] == "decord"


def test_the_driver_runs_with_nvlink_multicast_off(tmp_path):
    """The script exports NCCL_NVLS_ENABLE before it starts the driver (here a python that prints it)."""
    probe = tmp_path / "python"
    probe.write_text(
        f"#!/bin/sh\nexec {sys.executable} -c \"import os; print(os.environ['NCCL_NVLS_ENABLE'])\"\n"
    )
    probe.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if k not in ("NCCL_NVLS_ENABLE", "LONGVT_DRY_RUN")}
    env.update(MODEL_PATH="m", TRAIN_FILES="t", VAL_FILES="v", JUDGE_MODE="rule", PYTHON=str(probe))
    done = subprocess.run(["bash", str(RECIPE / "run_longvt_rl.sh")], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "0"


@pytest.mark.slow
@pytest.mark.parametrize("n", GPU_COUNTS)
def test_checkpoint_at_step_10_and_the_resume_command_finds_it(n, tmp_path):
    from verl.utils.checkpoint.checkpoint_manager import (
        find_latest_ckpt_path,
        get_checkpoint_tracker_filename,
    )

    first, resumed = ngpu_config(n), ngpu_config(n, *RESUME)
    verl_validates(resumed)
    assert first.trainer.total_training_steps >= 10 and first.trainer.save_freq > 0
    assert first.trainer.total_training_steps % first.trainer.save_freq == 0  # a checkpoint at the last step
    assert resumed.trainer.total_training_steps == first.trainer.total_training_steps + 2
    assert resumed.trainer.resume_mode == "auto"
    # The resume run looks where the first run saved: same experiment, same default_local_dir.
    assert resumed.trainer.default_local_dir == first.trainer.default_local_dir
    assert f"{n}gpu" in first.trainer.default_local_dir  # runs with different N do not resume each other
    # What verl's trainer leaves after saving step 10, read back by verl's own lookup (_load_checkpoint, auto mode).
    folder = tmp_path / first.trainer.default_local_dir
    (folder / "global_step_10" / "actor").mkdir(parents=True)
    Path(get_checkpoint_tracker_filename(str(folder))).write_text("10")
    assert find_latest_ckpt_path(str(folder)) == str(folder / "global_step_10")
    # The explicit form: resume_path needs a global_step_ folder (verl asserts it in _load_checkpoint).
    explicit = ngpu_config(n, *RESUME, "trainer.resume_mode=resume_path",
                           f"trainer.resume_from_path={folder / 'global_step_10'}")  # fmt: skip
    assert "global_step_" in explicit.trainer.resume_from_path


def _eval_dry_run(model_dir: Path, mode: str, dp: int) -> list[str]:
    env = {k: v for k, v in os.environ.items() if k != "NCCL_NVLS_ENABLE"}
    env.update(
        DRY_RUN=mode, DP=str(dp), LIMIT="4", PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}"
    )
    done = subprocess.run(["bash", str(EVAL_RECIPE), str(model_dir), "longvtp_videosiah_tool"],
                          env=env, capture_output=True, text=True, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.splitlines()


@pytest.mark.parametrize("n", GPU_COUNTS)
def test_eval_recipe_serves_n_replicas_and_scales_the_client(n, tiny_model_dir):
    serve = _eval_dry_run(tiny_model_dir, "1", n)
    assert serve[:2] == ["vllm", "serve"] and serve[serve.index("--data-parallel-size") + 1] == str(n)
    client = _eval_dry_run(tiny_model_dir, "eval", n)
    assert client[:2] == ["env", "NCCL_NVLS_ENABLE=0"] and client[2:5] == ["longvt", "eval", "run"]
    model_args = dict(kv.split("=", 1) for kv in client[client.index("--model-args") + 1].split(","))
    assert model_args["concurrency"] == str(8 * n)  # 8 requests in flight per replica
    assert (
        client[client.index("--limit") + 1] == "4" and client[client.index("--model") + 1] == "longvt_agent"
    )
