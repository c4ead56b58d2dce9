"""Assemble BENCHMARKS.md from the per-benchmark result files each script writes to benchmarks/results/.

Run after any benchmark: `python benchmarks/assemble.py`. Each results file is the full, dated record of one run
(command, machine, numbers, ratios against the targets); this only stitches them together in a fixed order.
"""

from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).resolve().parent
ORDER = ["crop_tool", "judge", "agent_loop", "eval_agent", "packing", "scene_detect", "miniature", "gpu_runs"]

HEADER = """# Benchmarks

Every performance target is a ratio measured against its baseline **in the same run, on the same machine**.
Each section below is written by its script under `benchmarks/` (re-run it to refresh the section, then
`python benchmarks/assemble.py`). Unless a section says otherwise, numbers come from the 2-core, 24 GiB CPU machine
that CI runs on; other processes may have been running, and the sections say so where it mattered.
"""


def normalise_headings(text: str) -> str:
    """Shift a section's headings so its first one is `##` (each script picks its own top level)."""
    lines = text.strip().splitlines()
    first = next((len(ln) - len(ln.lstrip("#")) for ln in lines if ln.startswith("#")), 2)
    shift = 2 - first
    out = []
    for ln in lines:
        if ln.startswith("#"):
            level = len(ln) - len(ln.lstrip("#"))
            ln = "#" * max(3 if out else 2, level + shift) + ln[level:]
        out.append(ln)
    return "\n".join(out) + "\n"


def main() -> None:
    parts = [HEADER]
    files = {p.stem: p for p in sorted((HERE / "results").glob("*.md"))}
    for name in ORDER + sorted(set(files) - set(ORDER)):
        if name in files:
            parts.append(normalise_headings(files[name].read_text()))
        else:
            parts.append(f"## {name}\n\nNot measured yet: `benchmarks/{name}.py` has not written results.\n")
    (HERE.parent / "BENCHMARKS.md").write_text("\n".join(parts))


if __name__ == "__main__":
    main()
