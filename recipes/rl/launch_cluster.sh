#!/usr/bin/env bash
# Start Ray on every node of a multi-node job, then run the RL recipe from the head node.
# Run the same command on every node (e.g. from your scheduler's per-node launcher):
#
#   NODE_RANK=<0 on the head, 1..N-1 on workers> HEAD_ADDR=<head ip or hostname> NNODES=8 GPUS_PER_NODE=8 \
#   MODEL_PATH=... TRAIN_FILES=... VAL_FILES=... LONGVT_JUDGE_BASE_URL=http://judge-host:8000/v1 \
#   bash recipes/rl/launch_cluster.sh [extra hydra overrides]
#
# What a multi-node run needs (see recipes/rl/README.md):
# - the same Python environment (longvt-plugins, verl[verl-core]==0.9.1, vLLM or SGLang) at the same path on every
#   node: each Ray worker runs `import verl`, which loads our plugin through its entry point;
# - the videos at the same absolute paths on every node (a shared filesystem): rows carry absolute paths;
# - the judge reachable from every node (rewards are computed on whichever node runs the reward worker):
#   this script checks that from each node before joining;
# - environment for Ray actors travels in the job's runtime_env (run_longvt_rl.sh sets it), not in this shell.
set -euo pipefail

RECIPE_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
: "${NODE_RANK:?set NODE_RANK (0 on the head node)}"
: "${HEAD_ADDR:?set HEAD_ADDR to the head node address}"
: "${LONGVT_JUDGE_BASE_URL:?set LONGVT_JUDGE_BASE_URL to the judge server, reachable from every node}"
NNODES="${NNODES:-8}"
GPUS_PER_NODE="${GPUS_PER_NODE:-8}"
RAY_PORT="${RAY_PORT:-6379}"
JOIN_RETRIES="${JOIN_RETRIES:-10}"
PYTHON="${PYTHON:-python3}"
export NNODES GPUS_PER_NODE

# Fail on this node, now, rather than with judge fallbacks on every sample an hour into training.
if ! "$PYTHON" - "$LONGVT_JUDGE_BASE_URL" <<'PY'
import sys, urllib.request
url = sys.argv[1].rstrip("/") + "/models"
try:
    with urllib.request.urlopen(url, timeout=10) as reply:
        reply.read()
except Exception as exc:
    sys.exit(f"judge not reachable from this node at {url}: {exc}")
PY
then
  exit 1
fi

# The plugin must load in this environment (verl hides plugin import errors).
"$PYTHON" -c 'import sys, verl; from longvt_plugins.verl.plugin import check_registration as c; ok, r = c(); print(r); sys.exit(0 if ok else 1)'

if [[ "$NODE_RANK" == "0" ]]; then
  ray start --head --port="$RAY_PORT" --num-gpus="$GPUS_PER_NODE"
  echo "waiting for $NNODES nodes to join..."
  "$PYTHON" - "$NNODES" <<'PY'
import sys, time, ray
want = int(sys.argv[1])
ray.init(address="auto")
for _ in range(360):
    alive = sum(1 for n in ray.nodes() if n["Alive"])
    if alive >= want:
        print(f"{alive} nodes up")
        break
    time.sleep(10)
else:
    sys.exit(f"only {alive} of {want} nodes joined within an hour")
PY
  export RAY_ADDRESS="127.0.0.1:$RAY_PORT"
  exec bash "$RECIPE_DIR/run_longvt_rl.sh" "$@"
else
  for attempt in $(seq 1 "$JOIN_RETRIES"); do
    if ray start --address="$HEAD_ADDR:$RAY_PORT" --num-gpus="$GPUS_PER_NODE" --block; then
      exit 0
    fi
    echo "joining $HEAD_ADDR:$RAY_PORT failed (attempt $attempt/$JOIN_RETRIES); retrying in 30 s" >&2
    sleep 30
  done
  exit 1
fi
