#!/usr/bin/env bash
# lmms-engine through our launcher under torchrun, shared by the SFT and RFT recipes: every rank registers the
# longvt_imcott dataset and longvt_qwen2_5_vl processor. Extra key.path=value arguments override the YAML.
#   bash recipes/lmms_engine_torchrun.sh CONFIG.yaml [trainer_args.output_dir=/ckpt/run ...]
# One node, 8 GPUs by default (NPROC_PER_NODE); multi-node: run it on every node with NNODES, NODE_RANK,
# MASTER_ADDR (and MASTER_PORT) set.
set -euo pipefail
config="$1"
shift
export FORCE_QWENVL_VIDEO_READER=${FORCE_QWENVL_VIDEO_READER:-decord}
export TOKENIZERS_PARALLELISM=false
exec torchrun \
  --nnodes="${NNODES:-1}" --node_rank="${NODE_RANK:-0}" --nproc_per_node="${NPROC_PER_NODE:-8}" \
  --master_addr="${MASTER_ADDR:-127.0.0.1}" --master_port="${MASTER_PORT:-29500}" \
  -m longvt_plugins.lmms_engine.launch config_yaml="$config" "$@"
