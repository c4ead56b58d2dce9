#!/usr/bin/env bash
# Install one pinned environment of longvt-plugins into a virtualenv.
#   bash install/install.sh cpu-test            # .venv in the repo root (what CI and the README use)
#   VENV=/opt/longvt bash install/install.sh gpu
#   bash install/install.sh gpu-conservative --wheelhouse DIR   # no network: wheels from build_wheelhouse.sh
# Environments: cpu-test gpu gpu-conservative gpu-rl-sglang serve data  (see install/README.md)
# System packages (Debian) are installed only when asked: WITH_CHROMIUM=1 (viewer tests), WITH_FFMPEG=1 (torchcodec),
# WITH_STRACE=1 (the test that proves the crop tool opens no other file).
set -euo pipefail
ENV_NAME="${1:-cpu-test}"
WHEELHOUSE=""
if [[ "${2:-}" == "--wheelhouse" ]]; then
  WHEELHOUSE="$(cd "${3:?--wheelhouse needs a directory}" && pwd)"
fi
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${VENV:-$ROOT/.venv}"
# Absolute: once the venv exists, a bare `python3` could resolve to the venv's own (no pip there) via PATH.
PY="$(command -v "${PYTHON:-python3}")"
CONSTRAINTS="${CONSTRAINTS:-$ROOT/install/$ENV_NAME.txt}"
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

if [[ -n "$WHEELHOUSE" ]]; then
  # Offline: nothing is fetched. build_wheelhouse.sh left out what the host provides (host-provided.txt, e.g. the
  # CUDA torch stack); the venv sees the host's packages, and pip must find those at the pinned versions there.
  [[ -f "$WHEELHOUSE/bundle.tar.xz" && ! -f "$WHEELHOUSE/PRUNED" ]] && {
    tar -xJf "$WHEELHOUSE/bundle.tar.xz" -C "$WHEELHOUSE" --strip-components=1
  }
  if [[ ! -x "$VENV/bin/python" ]]; then
    # No pip inside (hosts often lack ensurepip); the host's pip installs into it with --python.
    "$PY" -m venv --without-pip "$VENV"
    # The host's packages stay visible behind the venv's own (a .pth, not --system-site-packages: the host
    # python is often itself a venv, whose packages --system-site-packages would not show).
    "$PY" -c 'import site; print("\n".join(site.getsitepackages()))' \
      >"$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/_host_site.pth"
  fi
  PIP=("$PY" -m pip --disable-pip-version-check --python "$VENV/bin/python")
  if [[ -s "$WHEELHOUSE/host-provided.txt" ]]; then
    # HOST_REQUIRED must be there at the pinned version (what the environment is built around); any other name of
    # host-provided.txt (CUDA libraries the host's torch may bring in other versions, or not need) only warns.
    bad=$(HOST_REQUIRED="${HOST_REQUIRED:-torch torchvision torchaudio}" "$VENV/bin/python" - \
      "$WHEELHOUSE/host-provided.txt" <<'PY'
import os, sys
from importlib.metadata import PackageNotFoundError, version
required = set(os.environ["HOST_REQUIRED"].split())
for line in open(sys.argv[1]):
    name, _, want = line.strip().partition("==")
    try:
        have = version(name)
    except PackageNotFoundError:
        have = None
    if have is not None and have.split("+")[0] == want:
        continue
    problem = f"{name}: " + ("missing" if have is None else f"host has {have}") + f" (the pins want {want})"
    if name in required:
        print(problem)
    else:
        print("note: " + problem, file=sys.stderr)
PY
)
    [[ -z "$bad" ]] || { echo "the host does not provide what this wheelhouse leaves to it:"$'\n'"$bad" >&2; exit 1; }
  fi
  OFFLINE=(--no-index --find-links "$WHEELHOUSE")
  if [[ -f "$WHEELHOUSE/PRUNED" ]]; then
    # A pruned bundle is not resolvable on purpose (packages left out): install exactly its wheels.
    "${PIP[@]}" install -q "${OFFLINE[@]}" --no-deps --no-compile "$WHEELHOUSE"/*.whl
  else
    # The lock is the environment's resolution less the host's part; pip checks that it is complete.
    PROJECT_SPEC=(longvt-plugins)
    [[ "${PROJECT:-1}" == 0 ]] && PROJECT_SPEC=()
    "${PIP[@]}" install -q "${OFFLINE[@]}" -r "$WHEELHOUSE/wheelhouse.lock" "${PROJECT_SPEC[@]}"
  fi
  # The host's torch brings its console scripts on the host's PATH, bound to the host's python: give the venv its own
  # torchrun (the SFT/RFT recipes call it), or their workers would not see the venv's packages.
  if [[ ! -e "$VENV/bin/torchrun" ]]; then
    printf '#!/usr/bin/env bash\nexec "%s" -m torch.distributed.run "$@"\n' "$VENV/bin/python" >"$VENV/bin/torchrun"
    chmod +x "$VENV/bin/torchrun"
  fi
  echo "installed '$ENV_NAME' from $WHEELHOUSE into $VENV (offline)"
  exit 0
fi

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
