#!/usr/bin/env bash
# LongVT-7B SFT on one node (8 GPUs by default); the torchrun line and its environment are shared with the
# other lmms-engine recipe in recipes/lmms_engine_torchrun.sh. Extra key.path=value arguments override the YAML.
#   bash recipes/sft/run_sft.sh [trainer_args.output_dir=/ckpt/longvt_sft ...]
# Multi-node: run this on every node with NNODES, NODE_RANK, MASTER_ADDR (and MASTER_PORT) set.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
exec bash "$HERE/../lmms_engine_torchrun.sh" "$HERE/longvt_7b_sft.yaml" "$@"
