#!/usr/bin/env bash
# The README's test command: install the pinned cpu-test environment (from scratch on a fresh machine), then run
# lint, the main job exactly as the README states it, and the whole test suite.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# Debian chromium: the trace viewer is checked in a real headless browser. ffmpeg: lets torchcodec load.
# strace: watches which files the crop tool opens.
WITH_CHROMIUM=1 WITH_FFMPEG=1 WITH_STRACE=1 bash install/install.sh cpu-test
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_DATASETS_OFFLINE=1 FORCE_QWENVL_VIDEO_READER=decord
export LONGVT_CACHE="$ROOT/.cache/longvt"   # fixtures built by the demo live inside the checkout
.venv/bin/ruff check .
.venv/bin/ruff format --check .
# The wheel as a pip user gets it (sdist -> wheel -> fresh venv beside the installed hosts), checked from there.
bash install/check_wheel.sh
# The README's main job (its install step already ran above).
.venv/bin/longvt doctor
.venv/bin/longvt ask --html runs/demo/trace.html
.venv/bin/python -m pytest -q -p no:cacheprovider --timeout 900 "$@"
