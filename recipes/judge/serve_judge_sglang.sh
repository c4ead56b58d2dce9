#!/usr/bin/env bash
# Serve the LLM judge with SGLang's OpenAI-compatible server (upstream LongVT: Qwen2.5-72B-Instruct, 8 GPUs).
#   JUDGE_MODEL=Qwen/Qwen2.5-72B-Instruct TP=8 PORT=8000 bash recipes/judge/serve_judge_sglang.sh
# Then, on every training node: export LONGVT_JUDGE_BASE_URL=http://<this host>:$PORT/v1 LONGVT_JUDGE_MODEL=judge
# LONGVT_DRY_RUN=1 prints the command instead of running it.
set -euo pipefail
JUDGE_MODEL="${JUDGE_MODEL:-Qwen/Qwen2.5-72B-Instruct}"
SERVED_NAME="${SERVED_NAME:-judge}"
TP="${TP:-8}"
PORT="${PORT:-8000}"
CONTEXT_LENGTH="${CONTEXT_LENGTH:-8192}"
args=(
  python3 -m sglang.launch_server
  --model-path "$JUDGE_MODEL"
  --served-model-name "$SERVED_NAME"
  --tp "$TP"
  --context-length "$CONTEXT_LENGTH"
  --mem-fraction-static "${MEM_FRACTION_STATIC:-0.75}"
  --host 0.0.0.0 --port "$PORT"
  "$@"
)
if [[ "${LONGVT_DRY_RUN:-0}" == "1" ]]; then printf '%s\n' "${args[@]}"; exit 0; fi
exec "${args[@]}"
