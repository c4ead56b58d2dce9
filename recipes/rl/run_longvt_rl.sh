#!/usr/bin/env bash
# LongVT agentic RL (GRPO + crop_video) on verl 0.9.1. Run it on the Ray head node (see launch_cluster.sh),
# or on one machine with NNODES=1. Settings live in longvt_grpo.yaml; this script adds what is machine-specific.
#
#   MODEL_PATH=/ckpt/longvt-7b-sft TRAIN_FILES=/data/rl_train.parquet VAL_FILES=/data/rl_val.parquet \
#   LONGVT_JUDGE_BASE_URL=http://judge-host:8000/v1 bash recipes/rl/run_longvt_rl.sh [extra hydra overrides]
#
# Single GPU, no judge (the smoke config; rule-based accuracy instead of the LLM judge):
#   PROFILE=smoke_1gpu JUDGE_MODE=rule MODEL_PATH=... TRAIN_FILES=... VAL_FILES=... bash recipes/rl/run_longvt_rl.sh
# PROFILE: a file of recipes/rl/profile/ merged over longvt_grpo.yaml (`+profile=NAME`).
# JUDGE_MODE: grade (default; needs LONGVT_JUDGE_BASE_URL) | equivalent (same) | rule (no judge server at all).
# WORKER_ENV="K=V K2=V2": extra variables for every Ray worker (written as strings; Ray refuses ints).
# LONGVT_DRY_RUN=1 prints the command, one argument per line, instead of running it (the recipe test uses this).
set -euo pipefail

RECIPE_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
: "${MODEL_PATH:?set MODEL_PATH to the SFT checkpoint (a local directory or a Hugging Face id)}"
: "${TRAIN_FILES:?set TRAIN_FILES to the parquet written by: longvt data to-verl}"
: "${VAL_FILES:?set VAL_FILES to the validation parquet}"
JUDGE_MODE="${JUDGE_MODE:-grade}"
case "$JUDGE_MODE" in
  grade|equivalent)
    : "${LONGVT_JUDGE_BASE_URL:?set LONGVT_JUDGE_BASE_URL to the judge server (recipes/judge), e.g. http://host:8000/v1, or JUDGE_MODE=rule to train without a judge}" ;;
  rule) ;;
  *) echo "JUDGE_MODE must be grade, equivalent or rule (got '$JUDGE_MODE')" >&2; exit 2 ;;
esac
LONGVT_JUDGE_MODEL="${LONGVT_JUDGE_MODEL:-judge}"
ROLLOUT="${ROLLOUT:-vllm}"                # vllm | sglang
# NNODES, GPUS_PER_NODE, EXPERIMENT_NAME: when unset, the config's own values (8 x 8 in longvt_grpo.yaml).
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
  "reward.custom_reward_function.reward_kwargs.judge=$JUDGE_MODE"
  # Every Ray actor on every node gets these through the job's runtime_env (not just this shell).
  "+ray_kwargs.ray_init.runtime_env.env_vars.FORCE_QWENVL_VIDEO_READER=$FORCE_QWENVL_VIDEO_READER"
)
if [[ "$JUDGE_MODE" != rule ]]; then
  args+=(
    "reward.custom_reward_function.reward_kwargs.judge_base_url=$LONGVT_JUDGE_BASE_URL"
    "reward.custom_reward_function.reward_kwargs.judge_model=$LONGVT_JUDGE_MODEL"
    "+ray_kwargs.ray_init.runtime_env.env_vars.LONGVT_JUDGE_BASE_URL=$LONGVT_JUDGE_BASE_URL"
    "+ray_kwargs.ray_init.runtime_env.env_vars.LONGVT_JUDGE_MODEL=$LONGVT_JUDGE_MODEL"
  )
fi
[[ -n "${PROFILE:-}" ]] && args+=("+profile=$PROFILE")
[[ -n "${NNODES:-}" ]] && args+=("trainer.nnodes=$NNODES")
[[ -n "${GPUS_PER_NODE:-}" ]] && args+=("trainer.n_gpus_per_node=$GPUS_PER_NODE")
[[ -n "${EXPERIMENT_NAME:-}" ]] && args+=("trainer.experiment_name=$EXPERIMENT_NAME")
for kv in ${WORKER_ENV:-}; do
  # Quoted: Hydra would turn VAR=0 into an int, and Ray accepts only strings in env_vars.
  args+=("++ray_kwargs.ray_init.runtime_env.env_vars.${kv%%=*}=\"${kv#*=}\"")
done
args+=("$@")

if [[ "${LONGVT_DRY_RUN:-0}" == "1" ]]; then
  printf '%s\n' "${args[@]}"
  exit 0
fi

export FORCE_QWENVL_VIDEO_READER
ulimit -n 65535 2>/dev/null || true
exec "${args[@]}"
