"""Miniature LongVT learning curves: loss, valid-call rate, crop IoU and accuracy against SFT steps.

    python -m longvt_plugins.miniature all --work runs/miniature     # the run (data, SFT, eval); RFT: `rft`
    python benchmarks/miniature.py --work runs/miniature             # curves + results/miniature.md
    python benchmarks/assemble.py

Each kept checkpoint (recipes/miniature/sft.yaml: every 125 steps, the last 8) is evaluated with
run_agent on the held-out test split. The PNG is drawn with PIL (no plotting dependency).
"""

from __future__ import annotations

import argparse
import json
import platform
import re
import sys
import time
from pathlib import Path

from PIL import Image, ImageDraw

sys.path.insert(0, str(Path(__file__).resolve().parent))
from plot import panel  # noqa: E402 - the benchmarks' shared PNG panel

HERE = Path(__file__).resolve().parent
PANELS = (("loss", "train loss"), ("valid_call_rate", "valid tool-call rate"), ("mean_iou", "crop IoU"),
          ("accuracy", "accuracy (tool)"))  # fmt: skip


def checkpoints(work: Path) -> list[tuple[int, Path]]:
    # The untrained student (step 0) is not evaluated here: it never emits a call and generates to the token cap
    # on every turn (slow); tests/test_miniature_train.py checks it fails the format.
    out = []
    for p in (work / "sft").glob("checkpoint-*"):
        out.append((int(re.search(r"(\d+)$", p.name).group(1)), p))
    return sorted(out)


def losses(work: Path) -> list[tuple[int, float]]:
    states = sorted((work / "sft").glob("**/trainer_state.json"), key=lambda p: p.stat().st_mtime)
    if not states:
        return []
    hist = json.loads(states[-1].read_text())["log_history"]
    return [(h["step"], float(h["loss"])) for h in hist if "loss" in h]


def draw(curves: dict[str, list[tuple[int, float]]], out: Path) -> None:
    w, h, pad = 900, 620, 50
    img = Image.new("RGB", (w, h), "white")
    d = ImageDraw.Draw(img)
    pw, ph = (w - 3 * pad) // 2, (h - 3 * pad) // 2
    max_step = max((s for pts in curves.values() for s, _ in pts), default=1) or 1
    for k, (key, title) in enumerate(PANELS):
        x0, y0 = pad + (k % 2) * (pw + pad), pad + (k // 2) * (ph + pad)
        pts = curves.get(key, [])
        top = max([v for _, v in pts] + [1.0]) if key == "loss" else 1.0
        panel(d, (x0, y0, pw, ph), pts, title, top=top, first_step=0, last_step=max_step)
    img.save(out)


def main() -> None:
    from longvt_plugins.miniature import task
    from longvt_plugins.miniature.evaluate import evaluate

    ap = argparse.ArgumentParser()
    ap.add_argument("--work", type=Path, default=Path("runs/miniature"))
    ap.add_argument("--test-videos", type=int, default=16)
    a = ap.parse_args()
    work = a.work.resolve()
    report = json.loads((work / "report.json").read_text())
    test = task.make_split(work / "videos", "test", a.test_videos)
    curves: dict[str, list[tuple[int, float]]] = {"loss": losses(work)}
    rows = []
    for step, path in checkpoints(work):
        t0 = time.perf_counter()
        s = evaluate(path, test)["summary"]
        rows.append((step, s, time.perf_counter() - t0))
        for key in ("valid_call_rate", "mean_iou", "accuracy"):
            curves.setdefault(key, []).append((step, s[key]))
    final_step = max((s for s, _ in curves["loss"]), default=rows[-1][0])
    for name, style in (("eval_tool", "tool"), ("eval_non_think", "non_think")):
        if name in report and all(r[0] != final_step for r in rows) and style == "tool":
            s = report[name]
            rows.append((final_step, s, 0.0))
            for key in ("valid_call_rate", "mean_iou", "accuracy"):
                curves[key].append((final_step, s[key]))
    (HERE / "results").mkdir(exist_ok=True)
    draw(curves, HERE / "results" / "miniature_curves.png")
    (HERE / "results" / "miniature.md").write_text(section(report, rows, curves, a))
    print((HERE / "results" / "miniature.md").read_text())


def _pct(x: float) -> str:
    return f"{100 * x:.1f} %"


def section(report: dict, rows, curves, a) -> str:
    tool, direct = report.get("eval_tool", {}), report.get("eval_non_think", {})
    rft = report.get("eval_rft_tool")
    n = tool.get("items", 0)
    lines = [
        "## Miniature LongVT (trained on CPU through our own SFT path)",
        "",
        f"Command: `python -m longvt_plugins.miniature all --work {a.work}` then `python benchmarks/miniature.py "
        f"--work {a.work}`; {time.strftime('%Y-%m-%d')}, {platform.machine()}, 2 shared CPU cores. "
        "Task and model: docs/miniature.md.",
        "",
        f"Data: {report['data']['items']} training questions ({report['data']['rejections']['accepted']} traces "
        f"accepted by stage 7) + direct-style copies + reading, asked and step drills (docs/miniature.md); "
        + (
            f"SFT stage 1 (drills only) in {report['sft_drills']['wall_s']:.0f} s, then "
            if "sft_drills" in report
            else "SFT "
        )
        + f"{report['sft'].get('steps', '?')} steps on everything in {report['sft']['wall_s']:.0f} s wall. "
        f"Held-out test split: {n} questions, chance {_pct(tool.get('chance', 0.25))}. Learning curve: stage 2.",
        "",
        "| held-out metric | SFT, tool | SFT, direct (no tool, same skim) |"
        + (" RFT, tool |" if rft else ""),
        "|---|---|---|" + ("---|" if rft else ""),
    ]
    for key, label in (("accuracy", "accuracy"), ("valid_call_rate", "valid tool-call rate"),
                       ("crop_share", "trajectories that crop"), ("mean_iou", "mean crop IoU"),
                       ("format_ok", "format check passes")):  # fmt: skip

        def cell(d: dict, key: str = key) -> str:
            return f"{d.get(key, 0):.3f}" if key == "mean_iou" else _pct(d.get(key, 0))

        cells = [cell(tool), (cell(direct) if key == "accuracy" else "n/a (no tool)") if direct else "-"]
        if rft:
            cells.append(cell(rft))
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    lines += [
        "",
        f"Counts (SFT, tool): {tool.get('correct')}/{n} correct, {tool.get('valid_calling_turns')}/"
        f"{tool.get('calling_turns')} calling turns valid, {tool.get('cropped')}/{n} cropped. Tool worth: "
        f"{100 * (tool.get('accuracy', 0) - direct.get('accuracy', 0)):+.1f} points over direct.",
        *(
            [
                "",
                f"RFT round: the SFT model sampled {report['rft_data']['sampled']} `rft`-split questions at "
                f"temperature {report['rft_data'].get('temperature', '?')}; {report['rft_data']['kept']} trace(s) passed stage 7's own checks "
                f"(rejections: {report['rft_data']['rejected']}); `longvt train rft` ran "
                f"{report['rft'].get('steps')} steps from the SFT weights on SFT rows + those.",
            ]
            if "rft_data" in report
            else []
        ),
        "",
        f"Learning curve (held-out, tool style, the first {a.test_videos} test questions per checkpoint; the recipe "
        "keeps the last 8 saved checkpoints):",
        "",
        "| step | valid-call rate | mean IoU | accuracy | eval s |",
        "|---|---|---|---|---|",
    ]
    for step, s, secs in rows:
        lines.append(
            f"| {step} | {_pct(s['valid_call_rate'])} | {s['mean_iou']:.3f} | {_pct(s['accuracy'])} | {secs:.0f} |"
        )
    lines += ["", "![miniature learning curves](benchmarks/results/miniature_curves.png)", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
