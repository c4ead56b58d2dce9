"""Diagnostic (not a speed target): does the number of skim frames decide whether a v2 student learns the asked copy?

The second v2 GPU run (BENCHMARKS.md, "Miniature v2") learned the format and the listing but not "Asked: X": after
"Asked:" the `s` student named a colour the skim shows, not the question's. Every skim frame is calibrated onto a
colour word's embedding (`miniature.model.calibrate_projector`), so the question's one colour word competes with
16-64 frame tokens that look like colour words (v1's skim had 8). This isolates the step on the oracle's own first
turns (rendered as SFT renders them: `v2.probe`), split by skim length, and trains a fresh student on each part
alone with the loss on the colour token only (AdamW, batch 1, vision tower frozen, as v1's
`benchmarks/miniature_asked_copy.py`). Accuracy is teacher-forced: is the asked colour the argmax after
"<think>Asked:" among the 8 bright colours, on held-out traces of the same skim lengths (set (a)). Chance is 1/8.

    python benchmarks/miniature_v2_asked_copy.py --work runs/v2-asked --frames short --steps 300
    python benchmarks/miniature_v2_asked_copy.py --work runs/v2-asked --frames long --steps 300
    # every length, hundreds of prompts, frames marked apart from words (calibrate_projector's frame_marker), on CUDA
    python benchmarks/miniature_v2_asked_copy.py --work runs/v2 --frames all --max-train 1200 --steps 2000 \
        --frame-marker 1 --device cuda

Held-out accuracy is reported per set: (a) new seeds, (b) new phrasings, and (d) whose asked colour is in no
frame - there the asked colour can only come from the question's words.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import time
from pathlib import Path

_ASKED = re.compile(r"^<think>Asked: (\w+)\.")
SHORT, LONG = 32, 56  # skim frames: "short" <= SHORT (videos <= 128 s), "long" >= LONG (>= 224 s)


def examples(rows: list[dict], processor) -> list[tuple[dict, int, int]]:
    """(model inputs up to "Asked:", target colour id, skim frames) for each trace row."""
    import torch

    from longvt_plugins.lmms_engine.media import MediaLoader
    from longvt_plugins.miniature.v2.probe import encode_row

    loader, out = MediaLoader(None), []
    for row in rows:
        first = next(m for m in row["messages"] if m["role"] == "assistant")
        colour = _ASKED.match(first["content"][0]["text"]).group(1)
        turn = {"role": "assistant", "content": [{"type": "text", "text": f"<think>Asked: {colour}."}],
                "loss_span": f" {colour}"}  # fmt: skip
        messages = [*row["messages"][: row["messages"].index(first)], turn]
        ids, labels, px, frames = encode_row(processor, dict(row, messages=messages), loader)
        pos = next(i for i, label in enumerate(labels) if label != -100)  # the colour token (loss_span)
        inputs = {"input_ids": torch.tensor([ids[:pos]]), "pixel_values": px["pixel_values"],
                  "image_grid_thw": px["image_grid_thw"]}  # fmt: skip
        out.append((inputs, ids[pos], frames))
    return out


def accuracy(model, data, choices: list[int]) -> float:
    import torch

    right = 0
    with torch.no_grad():
        for inputs, target, _ in data:
            inputs = {k: v.to(model.device) for k, v in inputs.items()}
            logits = model(**inputs).logits[0, -1, choices]
            right += choices[int(logits.argmax())] == target
    return right / max(len(data), 1)


def main() -> None:
    import torch
    from transformers import AutoProcessor, Qwen2_5_VLForConditionalGeneration

    from longvt_plugins.miniature.task import SCENE_COLOURS
    from longvt_plugins.miniature.v2.probe import held_out_traces
    from longvt_plugins.miniature.v2.student import make_student_v2
    from longvt_plugins.miniature.v2.train import build_training_rows
    from longvt_plugins.pipeline.store import read_jsonl

    ap = argparse.ArgumentParser()
    ap.add_argument("--work", type=Path, default=Path("runs/v2-asked"))
    ap.add_argument("--frames", choices=["short", "long", "all"], required=True)
    ap.add_argument("--videos", type=int, default=240, help="training videos (both lengths are drawn)")
    ap.add_argument("--held-out", type=int, default=100, help="set (a) traces (both lengths are drawn)")
    ap.add_argument(
        "--max-train", type=int, default=48, help="training traces kept (the same for both lengths)"
    )
    ap.add_argument("--size", default="s")
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--frame-marker", type=float, default=0.0, help="calibrate_projector's frame_marker")
    ap.add_argument("--tie-case", action="store_true", help="v2.student.tie_case_variants")
    ap.add_argument("--sets", default="a_new_seeds", help="held-out sets, comma-separated (v2.splits)")
    ap.add_argument(
        "--shards", type=int, default=1, help="processes that render and trace the training videos"
    )
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--eval-every", type=int, default=50)
    a = ap.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(1)
    work = a.work.resolve()
    report = work / "data" / "report.json"
    if not report.exists():
        build_training_rows(work, a.videos, shards=a.shards, drills=False)
    keep = {"short": lambda n: n <= SHORT, "long": lambda n: n >= LONG, "all": lambda n: True}[a.frames]
    tag = (
        f"{a.size}-{a.frames}"
        + (f"-m{a.frame_marker:g}" if a.frame_marker else "")
        + ("-c" if a.tie_case else "")
    )
    tag += f"-lr{a.lr:g}"
    student = make_student_v2(
        work / f"asked-student-{tag}", a.size, frame_marker=a.frame_marker, tie_case=a.tie_case
    )
    processor = AutoProcessor.from_pretrained(student)
    rows = read_jsonl(work / "data" / "traces.jsonl")
    if a.frames == "all":  # nothing filtered out: encode only the rows kept
        rows = rows[: a.max_train]
    train = [e for e in examples(rows, processor) if keep(e[2])][: a.max_train]
    sets = a.sets.split(",")
    held = {
        n: [e for e in examples(held_out_traces(work, n, a.held_out), processor) if keep(e[2])] for n in sets
    }
    model = Qwen2_5_VLForConditionalGeneration.from_pretrained(student).to(a.device)
    for p in model.model.visual.parameters():
        p.requires_grad_(False)
    choices = [processor.tokenizer.encode(" " + c, add_special_tokens=False)[0] for c in SCENE_COLOURS]
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=a.lr, weight_decay=0.0)
    rng, curve, t0 = random.Random(0), [], time.perf_counter()
    model.eval()
    curve.append({"step": 0, **{n: accuracy(model, held[n], choices) for n in sets}})
    for step in range(1, a.steps + 1):
        model.train()
        inputs, target, _ = train[rng.randrange(len(train))]
        logits = model(**{k: v.to(a.device) for k, v in inputs.items()}).logits[0, -1]
        loss = torch.nn.functional.cross_entropy(logits[None], torch.tensor([target], device=a.device))
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % a.eval_every == 0 or step == a.steps:
            model.eval()
            curve.append(
                {
                    "step": step,
                    **{n: accuracy(model, held[n], choices) for n in sets},
                    "loss": round(loss.item(), 3),
                }
            )
            print(json.dumps(curve[-1]), flush=True)
    result = {"frames": a.frames, "skim_frames": [SHORT, LONG], "size": a.size, "lr": a.lr, "train": len(train),
              "frame_marker": a.frame_marker, "tie_case": a.tie_case, "held_out": {n: len(held[n]) for n in sets}, "curve": curve,
              "wall_s": round(time.perf_counter() - t0, 1)}  # fmt: skip
    (work / f"asked-{tag}.json").write_text(json.dumps(result, indent=1))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
