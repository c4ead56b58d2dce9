#!/usr/bin/env bash
# LongVT agentic RL (GRPO + crop_video) on verl 0.9.1. Run it on the Ray head node (see launch_cluster.sh),
# or on one machine with NNODES=1. Settings live in longvt_grpo.yaml; this script adds what is machine-specific.
#
#   MODEL_PATH=/ckpt/longvt-7b-sft TRAIN_FILES=/data/rl_train.parquet VAL_FILES=/data/rl_val.parquet \
#   LONGVT_JUDGE_BASE_URL=http://judge-host:8000/v1 bash recipes/rl/run_longvt_rl.sh [extra hydra overrides]
#
# LONGVT_DRY_RUN=1 prints the command, one argument per line, instead of running it (the recipe test uses this).
set -euo pipefail

RECIPE_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
: "${MODEL_PATH:?set MODEL_PATH to the SFT checkpoint (a local directory or a Hugging Face id)}"
: "${TRAIN_FILES:?set TRAIN_FILES to the parquet written by: longvt data to-verl}"
: "${VAL_FILES:?set VAL_FILES to the validation parquet}"
: "${LONGVT_JUDGE_BASE_URL:?set LONGVT_JUDGE_BASE_URL to the judge server (recipes/judge), e.g. http://host:8000/v1}"
LONGVT_JUDGE_MODEL="${LONGVT_JUDGE_MODEL:-judge}"
ROLLOUT="${ROLLOUT:-vllm}"                # vllm | sglang
NNODES="${NNODES:-8}"
GPUS_PER_NODE="${GPUS_PER_NODE:-8}"
EXPERIMENT_NAME="${EXPERIMENT_NAME:-longvt-7b-rl-grpo}"
PYTHON="${PYTHON:-python3}"
# The decoder qwen_vl_utils uses in the rollout workers (its torchvision reader is gone in torchvision>=0.28).
FORCE_QWENVL_VIDEO_READER="${FORCE_QWENVL_VIDEO_READER:-decord}"

args=(
  "$PYTHON" -m verl.trainer.main_ppo
  --config-path "$RECIPE_DIR"
  --config-name longvt_grpo
  "data.train_files=$TRAIN_FILES"
  "data.val_files=$VAL_FILES"
  "actor_rollout_ref.model.path=$MODEL_PATH"
  "actor_rollout_ref.rollout.name=$ROLLOUT"
  "reward.custom_reward_function.reward_kwargs.judge_base_url=$LONGVT_JUDGE_BASE_URL"
  "reward.custom_reward_function.reward_kwargs.judge_model=$LONGVT_JUDGE_MODEL"
  "trainer.nnodes=$NNODES"
  "trainer.n_gpus_per_node=$GPUS_PER_NODE"
  "trainer.experiment_name=$EXPERIMENT_NAME"
  # Every Ray actor on every node gets these through the job's runtime_env (not just this shell).
  "+ray_kwargs.ray_init.runtime_env.env_vars.FORCE_QWENVL_VIDEO_READER=$FORCE_QWENVL_VIDEO_READER"
  "+ray_kwargs.ray_init.runtime_env.env_vars.LONGVT_JUDGE_BASE_URL=$LONGVT_JUDGE_BASE_URL"
  "+ray_kwargs.ray_init.runtime_env.env_vars.LONGVT_JUDGE_MODEL=$LONGVT_JUDGE_MODEL"
  "$@"
)

if [[ "${LONGVT_DRY_RUN:-0}" == "1" ]]; then
  printf '%s\n' "${args[@]}"
  exit 0
fi

export FORCE_QWENVL_VIDEO_READER
ulimit -n 65535 2>/dev/null || true
exec "${args[@]}"
