#!/usr/bin/env bash
# The package as a pip user gets it: build the sdist, build the wheel from that sdist, install the wheel (not
# editable) into a fresh venv and check it from there (install/check_wheel.py).
# The fresh venv sees the hosts already installed in .venv through a .pth line naming .venv's site-packages, so
# nothing is re-installed; a path added by a .pth is not scanned for .pth files itself, so .venv's editable finder
# for longvt_plugins stays inactive there and the import can only come from the wheel.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="${PY:-$ROOT/.venv/bin/python}"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

"$PY" -m build --no-isolation --outdir "$WORK/dist" "$ROOT" >"$WORK/build.log" 2>&1 || {
    tail -n 40 "$WORK/build.log"
    exit 1
}
"$PY" -m venv --without-pip "$WORK/venv"
SITE="$("$WORK/venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
"$PY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])' >"$SITE/longvt-hosts.pth"
"$PY" -m pip --python "$WORK/venv/bin/python" install -q --no-deps --no-index "$WORK"/dist/*.whl
# Outside the checkout and without PYTHONPATH, so the repository's own longvt_plugins cannot be imported.
cd "$WORK"
env -u PYTHONPATH "$WORK/venv/bin/python" "$ROOT/install/check_wheel.py" \
    --source "$ROOT" --sdist "$WORK"/dist/*.tar.gz --script "$WORK/venv/bin/longvt"
