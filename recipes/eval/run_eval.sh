#!/usr/bin/env bash
# Evaluate one LongVT checkpoint on one task (or tag/group) under the paper's protocol.
#
#   recipes/eval/run_eval.sh CHECKPOINT TASK [MAX_FRAMES]
#   e.g. recipes/eval/run_eval.sh longvideotool/LongVT-RFT longvtp_videomme_sub_tool
# MAX_FRAMES: leave it out to use the protocol's own skim (upstream: 768 frames, 512 for the SFT checkpoint);
# giving it overrides the protocol, whose name then becomes `<protocol>+custom` in the results.
#
# Needs: vLLM (see pins.txt) on this machine, and a judge server: LONGVT_JUDGE_BASE_URL (+ LONGVT_JUDGE_MODEL).
# Env: PORT (8000), DP (data-parallel replicas, default: all GPUs), OUT (eval_logs), VIDEOS (video root),
#   PROTOCOL (upstream), JUDGE_FALLBACK (stop: an unreachable judge stops the run | rule), RESUME (1: score the answers
#   a stopped run saved under $OUT/longvt_answers instead of generating them again), VLLM_ARGS (more vllm flags; given last, they win over the sized ones),
#   LIMIT (lmms-eval --limit: docs per task, for a small smoke run), NCCL_NVLS_ENABLE (0: NVLink multicast off for the
#   vLLM data-parallel ranks; the lent multi-GPU hosts need it off),
#   DRY_RUN=1 (print the vllm serve command, one argument per line, and stop; tests use it),
#   DRY_RUN=eval (print the lmms-eval client command the same way, after `env` and the variables it runs with).
# Several GPUs of one node: DP=N serves N replicas behind one port; the client's concurrency is DP x 8 requests.
set -euo pipefail

CKPT=${1:?checkpoint (HF id or path)}
TASK=${2:?task, tag or group (longvt eval tasks)}
MAX_FRAMES=${3:-}
PROTOCOL=${PROTOCOL:-upstream}   # upstream (what released LongVT checkpoints were evaluated with) | longvt-plugins
PORT=${PORT:-8000}
OUT=${OUT:-eval_logs}
DP=${DP:-$(python -c "import torch; print(max(1, torch.cuda.device_count()))")}
export NCCL_NVLS_ENABLE=${NCCL_NVLS_ENABLE:-0}

if [[ -z "${LONGVT_JUDGE_BASE_URL:-}" ]]; then
  echo "warning: LONGVT_JUDGE_BASE_URL is not set; open answers will be scored by rule (judge_fallback=1)" >&2
fi

# Size vLLM from the protocol (`longvt eval serve-args`): its chat template, and --limit-mm-per-prompt /
# --max-model-len for the skim plus every crop (every frame reaches the server as an image; vLLM's default image
# cap refuses such requests), capped at the model's own position limit, and `--chat-template-content-format openai`
# (frames and texts stay separate parts; LongVT's vLLM 0.12.0 left it to detection). Qwen3-VL brings its own template.
read -r FAMILY CEILING < <(python - "$CKPT" <<'PY'
import sys
from transformers import AutoConfig
cfg = AutoConfig.from_pretrained(sys.argv[1])
print(cfg.model_type, getattr(getattr(cfg, "text_config", cfg), "max_position_embeddings", 0) or 0)
PY
)
SIZE_ARGS=(--protocol "$PROTOCOL" --model "$CKPT" --model-max-len "$CEILING")
[[ "$FAMILY" == qwen3_vl* ]] && SIZE_ARGS+=(--no-template --patch-size 16)
eval "SIZED=($(longvt eval serve-args "${SIZE_ARGS[@]}"))"

# shellcheck disable=SC2206  # VLLM_ARGS is a list of flags on purpose
SERVE=(vllm serve "$CKPT" "${SIZED[@]}" --enable-auto-tool-choice --tool-call-parser hermes
  --data-parallel-size "$DP" --port "$PORT" --trust-remote-code ${VLLM_ARGS:-})
if [[ "${DRY_RUN:-0}" == 1 ]]; then
  printf '%s\n' "${SERVE[@]}"
  exit 0
fi
if [[ "${DRY_RUN:-0}" != eval ]]; then  # DRY_RUN=eval: no server, just the client command below
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
fi

VIDEO_ARGS=()
[[ -n "${VIDEOS:-}" ]] && VIDEO_ARGS=(--videos "$VIDEOS")
MODEL_ARGS="base_url=http://127.0.0.1:$PORT/v1,model_version=$CKPT,concurrency=$((DP * 8))"
[[ -n "$MAX_FRAMES" ]] && MODEL_ARGS+=",max_frames=$MAX_FRAMES"
LIMIT_ARGS=()
[[ -n "${LIMIT:-}" ]] && LIMIT_ARGS=(--limit "$LIMIT")
RESUME_ARGS=()
[[ "${RESUME:-0}" == 1 ]] && RESUME_ARGS=(--resume)
EVAL=(longvt eval run --protocol "$PROTOCOL" --judge-fallback "${JUDGE_FALLBACK:-stop}" --tasks "$TASK" --output "$OUT"
  "${VIDEO_ARGS[@]}" "${LIMIT_ARGS[@]}" "${RESUME_ARGS[@]}" --model longvt_agent --model-args "$MODEL_ARGS")
if [[ "${DRY_RUN:-0}" == eval ]]; then
  printf '%s\n' env "NCCL_NVLS_ENABLE=$NCCL_NVLS_ENABLE" "${EVAL[@]}"
  exit 0
fi
"${EVAL[@]}"
