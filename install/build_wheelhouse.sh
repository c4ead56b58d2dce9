#!/usr/bin/env bash
# Build a wheelhouse for one pinned environment, on a machine WITH network, for a GPU host WITHOUT it.
#   bash install/build_wheelhouse.sh gpu-conservative /data/wh                      # every wheel, host torch kept
#   PRUNE=install/prune-hopper.txt bash install/build_wheelhouse.sh gpu-conservative /data/wh  # + compact bundle
# Then, on the GPU host:  bash install/install.sh gpu-conservative --wheelhouse /data/wh   (see install/README.md)
#
# What it does:
#   1. builds our own wheel into DIR;
#   2. takes the exact pins of install/ENV.txt (already a full resolution) less what the GPU host brings
#      (HOST_PROVIDES: torch and its CUDA libraries by default): DIR/wheelhouse.lock and DIR/host-provided.txt;
#   3. downloads each pin's wheel for the TARGET interpreter and platform (not this machine's); a pin published as an
#      sdist only is built to a wheel here, and must be pure Python;
#   4. with PRUNE=FILE: install/wheelhouse.py prunes per FILE (packages and in-wheel files a run on that GPU
#      generation does not use), writes DIR/pruned/ and DIR/bundle.tar.xz, and fails over MAX_BUNDLE_MB.
# Variables: PY_VERSION (3.12), PLATFORMS (manylinux x86_64 tags), HOST_PROVIDES (space-separated globs),
#   PRUNE (a prune profile), MAX_BUNDLE_MB (0 = no limit), PYTHON (the python that runs pip here), JOBS (parallel
#   downloads, 4), CONSTRAINTS (another pin file than install/ENV.txt), PROJECT=0 (leave our own wheel out).
#   XZ_PRESET (6; 3 packs ~3x faster for a slightly larger bundle). pip's own variables apply (PIP_INDEX_URL, ...).
set -euo pipefail
ENV_NAME="${1:?usage: build_wheelhouse.sh ENV DIR}"
DIR="${2:?usage: build_wheelhouse.sh ENV DIR}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CONSTRAINTS="${CONSTRAINTS:-$ROOT/install/$ENV_NAME.txt}"
[[ -f "$CONSTRAINTS" ]] || { echo "unknown environment '$ENV_NAME' (no $CONSTRAINTS)" >&2; exit 2; }
PY="${PYTHON:-python3}"
PY_VERSION="${PY_VERSION:-3.12}"
ABI="cp${PY_VERSION/./}"
# pip matches manylinux_2_N tags exactly: list every glibc level a wheel of the lock may be tagged with.
PLATFORMS="${PLATFORMS:-manylinux_2_39_x86_64 manylinux_2_35_x86_64 manylinux_2_34_x86_64 manylinux_2_31_x86_64 manylinux_2_28_x86_64 manylinux_2_27_x86_64 manylinux_2_24_x86_64 manylinux_2_17_x86_64 manylinux2014_x86_64 manylinux2010_x86_64 manylinux1_x86_64 linux_x86_64}"
# A CUDA host ships its torch stack; the lock pins the same torch, so downloading it (~3 GB) buys nothing.
HOST_PROVIDES="${HOST_PROVIDES-torch torchvision torchaudio triton nvidia-* cuda-bindings cuda-pathfinder cuda-toolkit}"

mkdir -p "$DIR"
DIR="$(cd "$DIR" && pwd)"
PIP=("$PY" -m pip --disable-pip-version-check)
TAGS=(--only-binary=:all: --python-version "$PY_VERSION" --implementation cp --abi "$ABI" --abi abi3 --abi none)
for p in $PLATFORMS; do TAGS+=(--platform "$p"); done
TAGS+=(--platform any)

echo "[1/4] our wheel"
[[ "${PROJECT:-1}" == 0 ]] || "${PIP[@]}" wheel -q --no-deps -w "$DIR" "$ROOT"

echo "[2/4] plan: the pins of install/$ENV_NAME.txt, less what the host provides"
"$PY" "$ROOT/install/wheelhouse.py" plan "$CONSTRAINTS" --host-provides "$HOST_PROVIDES" \
  --lock "$DIR/wheelhouse.lock" --host-file "$DIR/host-provided.txt"

echo "[3/4] download wheels for Python $PY_VERSION"
# One pip per pin, a few at a time (a failure stops nothing else). A pin with no wheel for the target is built
# here, once, and must come out pure Python (py3-none-any).
failed="$(mktemp)"
trap 'rm -f "$failed"' EXIT
export DIR PY
export TAGS_LINE="${TAGS[*]}"
xargs -P "${JOBS:-4}" -n 1 sh -c '"$PY" -m pip --disable-pip-version-check download -q --no-deps $TAGS_LINE -d "$DIR" "$0" \
  >/dev/null 2>&1 || echo "$0"' <"$DIR/wheelhouse.lock" >"$failed"
while read -r pin; do
  echo "  no wheel for $pin: building it"
  "${PIP[@]}" wheel -q --no-deps -w "$DIR" "$pin"
  name="${pin%%==*}"
  ls "$DIR" | grep -iE "^${name//[-_.]/[-_.]}-.*-py3-none-any\.whl$" >/dev/null \
    || { echo "$pin built to a platform wheel: build it on the target instead" >&2; exit 1; }
done <"$failed"
"$PY" "$ROOT/install/wheelhouse.py" report "$DIR"

if [[ -n "${PRUNE:-}" ]]; then
  echo "[4/4] prune with $PRUNE"
  "$PY" "$ROOT/install/wheelhouse.py" prune "$DIR" --profile "$PRUNE" --max-mb "${MAX_BUNDLE_MB:-0}"
fi
