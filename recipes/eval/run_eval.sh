#!/usr/bin/env bash
# Evaluate one LongVT checkpoint on one task (or tag/group) under the paper's protocol.
#
#   recipes/eval/run_eval.sh CHECKPOINT TASK [MAX_FRAMES]
#   e.g. recipes/eval/run_eval.sh longvideotool/LongVT-RFT longvtp_videomme_sub_tool 768
#
# Needs: vLLM (see pins.txt) on this machine, and a judge server: LONGVT_JUDGE_BASE_URL (+ LONGVT_JUDGE_MODEL).
# Env: PORT (8000), DP (data-parallel replicas, default: all GPUs), OUT (eval_logs), VIDEOS (video root),
#   MAX_MODEL_LEN / LIMIT_MM (override the sizes computed from the protocol below), VLLM_ARGS (more vllm flags),
#   DRY_RUN=1 (print the vllm serve command, one argument per line, and stop; tests use it).
set -euo pipefail

CKPT=${1:?checkpoint (HF id or path)}
TASK=${2:?task, tag or group (longvt eval tasks)}
MAX_FRAMES=${3:-768}   # LongVT FAQ: 768 for RL/RFT checkpoints, 512 for the SFT one
PORT=${PORT:-8000}
OUT=${OUT:-eval_logs}
DP=${DP:-$(python -c "import torch; print(max(1, torch.cuda.device_count()))")}

if [[ -z "${LONGVT_JUDGE_BASE_URL:-}" ]]; then
  echo "warning: LONGVT_JUDGE_BASE_URL is not set; open answers will be scored by rule (judge_fallback=1)" >&2
fi

# Qwen2.5-VL's released template has no tool support: serve it with ours. Qwen3-VL brings its own.
FAMILY=$(python - "$CKPT" <<'PY'
import sys
from transformers import AutoConfig
print(AutoConfig.from_pretrained(sys.argv[1]).model_type)
PY
)
TEMPLATE_ARGS=()
if [[ "$FAMILY" == "qwen2_5_vl" ]]; then
  TEMPLATE=$(python -c "from importlib import resources; print(resources.files('longvt_plugins.templates') / 'qwen2_5_vl_tools.jinja')")
  TEMPLATE_ARGS=(--chat-template "$TEMPLATE")
fi

# Size vLLM from the protocol: every frame goes to the server as an image (the skim's MAX_FRAMES plus each crop's
# frames), and vLLM refuses a request with more images than --limit-mm-per-prompt (its default is far lower).
# The context must hold all those frames plus the protocol's new tokens, capped at the model's own limit.
read -r SIZED_LIMIT SIZED_LEN < <(python - "$CKPT" "$MAX_FRAMES" <<'PY'
import sys
from transformers import AutoConfig
from longvt_plugins.lmms_eval.protocol import PAPER_PROTOCOL
from longvt_plugins.lmms_eval.serving import serve_limits
cfg = AutoConfig.from_pretrained(sys.argv[1])
ceiling = getattr(getattr(cfg, "text_config", cfg), "max_position_embeddings", None)
images, length, note = serve_limits(PAPER_PROTOCOL, skim_frames=int(sys.argv[2]), model_max_len=ceiling)
if note:
    print(note, file=sys.stderr)
print(images, length)
PY
)
LIMIT_MM=${LIMIT_MM:-$SIZED_LIMIT}
MAX_MODEL_LEN=${MAX_MODEL_LEN:-$SIZED_LEN}

# shellcheck disable=SC2206  # VLLM_ARGS is a list of flags on purpose
SERVE=(vllm serve "$CKPT" "${TEMPLATE_ARGS[@]}" --enable-auto-tool-choice --tool-call-parser hermes
  --limit-mm-per-prompt "{\"image\": $LIMIT_MM, \"video\": 0}" --max-model-len "$MAX_MODEL_LEN"
  --data-parallel-size "$DP" --port "$PORT" --trust-remote-code ${VLLM_ARGS:-})
if [[ "${DRY_RUN:-0}" == 1 ]]; then
  printf '%s\n' "${SERVE[@]}"
  exit 0
fi
"${SERVE[@]}" &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true' EXIT

# Wait for the server to answer rather than sleeping a fixed time.
for _ in $(seq 1 180); do
  if curl -sf "http://127.0.0.1:$PORT/v1/models" >/dev/null; then break; fi
  if ! kill -0 $SERVER 2>/dev/null; then echo "vllm exited" >&2; exit 1; fi
  sleep 5
done
curl -sf "http://127.0.0.1:$PORT/v1/models" >/dev/null || { echo "vllm did not come up in 15 min" >&2; exit 1; }

VIDEO_ARGS=()
[[ -n "${VIDEOS:-}" ]] && VIDEO_ARGS=(--videos "$VIDEOS")
longvt eval run --protocol paper --tasks "$TASK" --output "$OUT" "${VIDEO_ARGS[@]}" \
  --model longvt_agent \
  --model-args "base_url=http://127.0.0.1:$PORT/v1,model_version=$CKPT,max_frames=$MAX_FRAMES,concurrency=$((DP * 8))"
