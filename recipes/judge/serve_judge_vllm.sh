#!/usr/bin/env bash
# Serve the LLM judge with vLLM's OpenAI-compatible server (upstream LongVT: Qwen2.5-72B-Instruct, 8 GPUs).
#   JUDGE_MODEL=Qwen/Qwen2.5-72B-Instruct TP=8 PORT=8000 bash recipes/judge/serve_judge_vllm.sh
# Then, on every training node: export LONGVT_JUDGE_BASE_URL=http://<this host>:$PORT/v1 LONGVT_JUDGE_MODEL=judge
# LONGVT_DRY_RUN=1 prints the command instead of running it.
set -euo pipefail
JUDGE_MODEL="${JUDGE_MODEL:-Qwen/Qwen2.5-72B-Instruct}"
SERVED_NAME="${SERVED_NAME:-judge}"
TP="${TP:-8}"
PORT="${PORT:-8000}"
# Judge prompts are short; 8192 fits them. Qwen2.5-72B's native window is 32768: upstream's 131072 does not start.
MAX_MODEL_LEN="${MAX_MODEL_LEN:-8192}"
args=(
  vllm serve "$JUDGE_MODEL"
  --served-model-name "$SERVED_NAME"
  --tensor-parallel-size "$TP"
  --max-model-len "$MAX_MODEL_LEN"
  --gpu-memory-utilization "${GPU_MEMORY_UTILIZATION:-0.9}"
  --host 0.0.0.0 --port "$PORT"
  "$@"
)
if [[ "${LONGVT_DRY_RUN:-0}" == "1" ]]; then printf '%s\n' "${args[@]}"; exit 0; fi
exec "${args[@]}"
