"""Per-step table and reward curve of a verl GRPO run from its console log and `trainer.rollout_data_dir`.

    python benchmarks/grpo_log.py grpo.log ROLLOUT_DIR --png benchmarks/results/miniature_grpo_reward.png

The log gives verl's metrics (`step:N - key:value - ...` lines); the rollout JSONL files (one per step, fields
`output` and `score`) give what the metrics do not: tool calls per trajectory (`<tool_call>` blocks in the
response), crop errors (tool responses that are our tool's error text) and answered trajectories.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
from pathlib import Path

from PIL import Image, ImageDraw

sys.path.insert(0, str(Path(__file__).resolve().parent))
from plot import panel  # noqa: E402 - the benchmarks' shared PNG panel

STEP = re.compile(r"\bstep:(\d+) ")
KV = re.compile(r"([\w\-/@]+):(?:np\.\w+\()?([-0-9.e]+)\)?")


def parse_log(text: str) -> dict[int, dict[str, float]]:
    steps: dict[int, dict[str, float]] = {}
    for line in text.splitlines():
        m = STEP.search(line)
        if m:
            steps[int(m.group(1))] = {k: float(v) for k, v in KV.findall(line[m.start() :])}
    return steps


def rollout_stats(path: Path) -> dict[str, float] | None:
    # A run cut off by a time limit (or a partial copy of its rollout folder) has steps without a dump.
    if not path.exists():
        return None
    rows = [json.loads(line) for line in path.open()]
    calls = [r["output"].count("<tool_call>") for r in rows]
    return {
        "trajectories": len(rows),
        "tool_calls_mean": statistics.mean(calls),
        "crop_errors": sum(r["output"].count("crop_video error") for r in rows),
        "answered": sum("<answer>" in r["output"] for r in rows),
    }


def table(steps: dict[int, dict[str, float]], rollouts: Path) -> str:
    head = (
        "| step | score mean | response len mean / max | turns / traj | tool calls / traj | crop errors | answered "
        "| gen s | old_log_prob s | ref s | update_actor s | weight sync s | step s |\n" + "|---" * 13 + "|\n"
    )
    lines = []
    for s in sorted(k for k in steps if k > 0):
        m, r = steps[s], rollout_stats(rollouts / f"{s}.jsonl")
        dump = (
            f"{r['tool_calls_mean']:.2f} | {r['crop_errors']} / {r['trajectories']} | {r['answered']}"
            if r
            else "- | - / - | -"
        )
        lines.append(
            f"| {s} | {m['critic/score/mean']:.3f} | {m['response_length/mean']:.0f} / {m['response_length/max']:.0f} "
            f"| {m['num_turns/mean']:.2f} | {dump} | {m['timing_s/gen']:.1f} | {m['timing_s/old_log_prob']:.1f} | {m['timing_s/ref']:.1f} "
            f"| {m['timing_s/update_actor']:.1f} | {m['timing_s/update_weights']:.3f} | {m['timing_s/step']:.1f} |"
        )
    return head + "\n".join(lines) + "\n"


def draw(points: list[tuple[int, float]], out: Path, title: str) -> None:
    w, h, pad = 640, 400, 50
    img = Image.new("RGB", (w, h), "white")
    d = ImageDraw.Draw(img)
    d.text((pad, pad - 30), title, fill="black")
    top = max([v for _, v in points] + [1.0])
    last = max((s for s, _ in points), default=1)
    panel(
        d, (pad, pad, w - 2 * pad, h - 2 * pad), points, "score mean", top=top, first_step=1, last_step=last
    )
    img.save(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("log", type=Path)
    ap.add_argument("rollouts", type=Path)
    ap.add_argument("--png", type=Path)
    ap.add_argument("--title", default="verl GRPO, score mean per step")
    a = ap.parse_args()
    steps = parse_log(a.log.read_text(errors="replace"))
    print(table(steps, a.rollouts))
    val = {k: v for k, v in steps.get(0, {}).items() if k.startswith("val")}
    if val:
        print("before training:", json.dumps(val))
    if a.png:
        draw([(s, m["critic/score/mean"]) for s, m in sorted(steps.items()) if s > 0], a.png, a.title)


if __name__ == "__main__":
    main()
