#!/usr/bin/env bash
# Install one pinned environment of longvt-plugins into a virtualenv.
#   bash install/install.sh cpu-test            # .venv in the repo root (what CI and the README use)
#   VENV=/opt/longvt bash install/install.sh gpu
# Environments: cpu-test gpu gpu-conservative gpu-rl-sglang serve data  (see install/README.md)
# System packages (Debian) are installed only when asked: WITH_CHROMIUM=1 (viewer tests), WITH_FFMPEG=1 (torchcodec),
# WITH_STRACE=1 (the test that proves the crop tool opens no other file).
set -euo pipefail
ENV_NAME="${1:-cpu-test}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${VENV:-$ROOT/.venv}"
PY="${PYTHON:-python3}"
CONSTRAINTS="$ROOT/install/$ENV_NAME.txt"
[[ -f "$CONSTRAINTS" ]] || { echo "unknown environment '$ENV_NAME' (no $CONSTRAINTS)" >&2; exit 2; }

apt_install() {
  command -v apt-get >/dev/null || { echo "apt-get not found; install $* yourself" >&2; return 0; }
  local missing=()
  for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  ((${#missing[@]})) || return 0
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}") >/dev/null
}
[[ "${WITH_CHROMIUM:-0}" == 1 ]] && apt_install chromium
[[ "${WITH_FFMPEG:-0}" == 1 ]] && apt_install ffmpeg
[[ "${WITH_STRACE:-0}" == 1 ]] && apt_install strace

[[ -x "$VENV/bin/python" ]] || "$PY" -m venv "$VENV"
PIP=("$VENV/bin/python" -m pip --disable-pip-version-check)

case "$ENV_NAME" in
  cpu-test)
    # torch: the CUDA wheel (runs on CPU). A machine-local 2.13.0+cpu wheel has no working torchvision.
    SPEC=("torch==2.13.0,!=2.13.0+cpu" "torchvision==0.28.0" -e "$ROOT[test]") ;;
  gpu|gpu-conservative)
    SPEC=("torch!=2.13.0+cpu" -e "$ROOT[verl,engine,eval,mcp,data,ray]" vllm) ;;
  gpu-rl-sglang)
    SPEC=(-e "$ROOT[verl,engine,eval,mcp,data,ray]" sglang) ;;
  serve)
    SPEC=(-e "$ROOT[eval,mcp]" vllm) ;;
  data)
    SPEC=("torch==2.13.0,!=2.13.0+cpu" "torchvision==0.28.0" -e "$ROOT[data,ray,mcp]") ;;
  *) echo "no recipe for '$ENV_NAME'" >&2; exit 2 ;;
esac
# DRY_RUN=1: resolve only and write the report (used to check environments that cannot be installed here).
if [[ "${DRY_RUN:-0}" == 1 ]]; then
  "${PIP[@]}" install -q --dry-run --ignore-installed --report "${REPORT:-/dev/stdout}" "${SPEC[@]}" -c "$CONSTRAINTS"
  exit 0
fi
"${PIP[@]}" install -q "${SPEC[@]}" -c "$CONSTRAINTS"
echo "installed '$ENV_NAME' into $VENV"
