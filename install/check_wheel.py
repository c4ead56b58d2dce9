"""Check an installed (non-editable) longvt-plugins wheel from inside the venv it was installed into.

Run by install/check_wheel.sh. Fails (exit 1, one line per problem) unless: the package is imported from that
venv's site-packages, not a checkout or an editable finder; the version is one value in the code, the wheel's
metadata and `longvt --version`; every file of the source package (task folders, templates, prompts, viewer
assets, ...) was installed, under our own namespace only; each host sees our entry point; the sdist carries the
task folders, LICENSE and CHANGELOG.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import sysconfig
import tarfile
from importlib import metadata
from pathlib import Path


def source_files(source: Path) -> set[str]:
    """Package-relative paths of every file the wheel must carry (the task-folder link followed)."""
    out = set()
    package = source / "longvt_plugins"
    for folder, dirs, files in os.walk(package, followlinks=True):
        dirs[:] = [d for d in dirs if d != "__pycache__"]
        for f in files:
            if not f.endswith(".pyc"):
                out.add(Path(folder, f).relative_to(package).as_posix())
    return out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--source", type=Path, required=True)
    ap.add_argument("--sdist", type=Path, required=True)
    ap.add_argument("--script", type=Path, required=True)
    args = ap.parse_args()
    problems: list[str] = []
    site = Path(sysconfig.get_paths()["purelib"]).resolve()

    import longvt_plugins

    installed = Path(longvt_plugins.__file__).resolve().parent
    if installed.parent != site:
        problems.append(f"longvt_plugins imported from {installed}, not from the wheel in {site}")
    editable = [f for f in sys.meta_path if "editable" in type(f).__name__.lower() + repr(f).lower()]
    if editable:
        problems.append(f"an editable finder is active: {editable}")

    dist = metadata.distribution("longvt-plugins")
    if dist.version != longvt_plugins.__version__:
        problems.append(f"wheel metadata says {dist.version}, the code {longvt_plugins.__version__}")
    shown = subprocess.run([str(args.script), "--version"], capture_output=True, text=True).stdout.strip()
    if shown != longvt_plugins.__version__:
        problems.append(f"`longvt --version` printed {shown!r}, expected {longvt_plugins.__version__}")

    missing = sorted(
        source_files(args.source) - {p.relative_to(installed).as_posix() for p in installed.rglob("*")}
    )
    problems += [f"not installed from the wheel: longvt_plugins/{m}" for m in missing]
    top = {p.name for p in site.iterdir()}
    if "eval_tasks" in top:
        problems.append("the wheel installs a generic top-level package eval_tasks")

    from longvt_plugins.lmms_eval import tasks_path

    tasks = tasks_path()
    if tasks != installed / "eval_tasks" or not list(tasks.glob("longvtp_*/*.yaml")):
        problems.append(f"tasks_path() is {tasks}, expected the task folders in {installed / 'eval_tasks'}")

    from longvt_plugins.core.prompts import load_prompt
    from longvt_plugins.verl.plugin import chat_template

    prompts = sorted(p.stem for p in (installed / "core" / "prompts").glob("*.txt"))
    if not prompts or not all(load_prompt(name) for name in prompts):
        problems.append(f"prompts not loadable from the wheel: {prompts}")
    if "tool_call" not in chat_template():
        problems.append("the chat template from the wheel has no tool calls")

    # Each host imports our module through the entry point of the installed wheel (the doctor's own check).
    from longvt_plugins.commands.doctor import check_registrations

    for check in check_registrations("cpu-test"):
        if not check.ok:
            problems.append(f"entry point {check.name}: {check.detail}")
    groups = {ep.group for ep in dist.entry_points}
    for group in ("verl.plugins", "lmms_eval.models", "lmms_engine.plugins", "console_scripts"):
        if group not in groups:
            problems.append(f"the wheel declares no {group} entry point")

    with tarfile.open(args.sdist) as sdist:
        names = {n.split("/", 1)[1] for n in sdist.getnames() if "/" in n}
    for need in ("LICENSE", "CHANGELOG.md", "pyproject.toml", "longvt_plugins/eval_tasks/__init__.py"):
        if need not in names:
            problems.append(f"the sdist lacks {need}")

    for p in problems:
        print(f"check_wheel: {p}", file=sys.stderr)
    if not problems:
        print(
            f"check_wheel: ok - longvt-plugins {dist.version} from {installed}: {len(prompts)} prompts, "
            f"{len(list(tasks.glob('longvtp_*/*.yaml')))} task YAMLs, entry points seen by verl, lmms-eval, lmms-engine"
        )
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
