"""Packing fill ratio: our first-fit-decreasing on exact lengths vs lmms-engine 0.1.4's own packers.

    .venv/bin/python benchmarks/packing.py [--rows 20000] [--packing-length 51200] [--seed 0]

The rows are synthetic but shaped like LongVT's SFT mix (video at 1 fps, <=512 frames, 224x224 px per frame:
64 tokens per 2-frame group; images <=1280 tokens), counts in the paper's proportions:
  video QA with CoT (Video-R1 / LongVideo-Reason)  ~69%   short clips, 1-300 s
  image CoT (LLaVA-CoT / OpenVLThinker / WeMath)   ~23%   one image
  tool-integrated iMCoTT traces                     ~8%   512-frame skim + 1-2 crops (frames as images) + long text
Each row has a real token length (text + vision) and the message structure lmms-engine's estimator reads.

Baselines, all lmms-engine's own code, at the same packing_length:
  estimate-based next-fit: map-style datasets (`MultiModalDataset`): lengths guessed per row (5000 per video, 2000 per
    image, 1.5 x words), packed by `_pack_by_first_fit`; fill is then measured with the real lengths (packs whose real
    length exceeds the budget are counted, and their fill capped at 100%);
  online first_fit / best_fit / balanced: iterable datasets (`build_online_packer`), real lengths, stream order.
  `vision_iterable` + `first_fit` is what upstream LongVT's SFT/RFT recipes run.
Ratios are ours / baseline in the same run. Writes benchmarks/results/packing.md.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import random
import sys
import time
from pathlib import Path

FRAME_GROUP_TOKENS = 64  # 224x224 px / (14 px patches, 2x2 merge) per 2-frame temporal group
IMAGE_FRAME_TOKENS = 64  # one crop frame fed back as an image at 224x224 px


def synth_rows(n: int, seed: int) -> list[dict]:
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        u = rng.random()
        if u < 0.08:  # iMCoTT tool trace over a long video
            crops = rng.choice([1, 1, 2])
            crop_frames = [rng.randint(4, 30) for _ in range(crops)]
            text = rng.randint(900, 3200)
            vision = 256 * FRAME_GROUP_TOKENS + sum(crop_frames) * IMAGE_FRAME_TOKENS
            rows.append(
                {"kind": "tool", "videos": 1, "images": sum(crop_frames), "text": text, "vision": vision}
            )
        elif u < 0.31:  # image CoT
            vision = rng.choice([256, 400, 576, 768, 1024, 1280])
            rows.append(
                {"kind": "image", "videos": 0, "images": 1, "text": rng.randint(200, 2200), "vision": vision}
            )
        else:  # video QA with CoT; a few long videos hit the 512-frame cap
            secs = min(1800.0, max(2.0, rng.lognormvariate(math.log(45), 0.9)))
            frames = min(512, 2 * math.ceil(secs / 2))
            vision = frames // 2 * FRAME_GROUP_TOKENS
            rows.append(
                {"kind": "video", "videos": 1, "images": 0, "text": rng.randint(250, 1800), "vision": vision}
            )
    for r in rows:
        r["length"] = r["text"] + r["vision"]
    return rows


def estimator_row(r: dict) -> dict:
    """The message structure lmms-engine's estimator walks (its guess ignores the real media size)."""
    words = max(1, round(r["text"] / 1.35))  # ~1.35 tokens per English word for Qwen's tokenizer
    content = [{"type": "video_url"}] * r["videos"] + [{"type": "image_url"}] * r["images"]
    content.append({"type": "text", "text": " ".join(["w"] * words)})
    return {"messages": [{"role": "user", "content": content}]}


def fill_of(packs: list[list[int]], lengths: list[int], cap: int) -> tuple[float, int]:
    over = sum(1 for p in packs if sum(lengths[i] for i in p) > cap)
    return sum(min(cap, sum(lengths[i] for i in p)) for p in packs) / (len(packs) * cap), over


def online(strategy: str, lengths: list[int], cap: int) -> list[list[int]]:
    from lmms_engine.datasets.packing import build_online_packer

    packer = build_online_packer(strategy, cap)
    packs = [list(p) for i, n in enumerate(lengths) for p in packer.add(i, n)]
    return packs + [list(p) for p in packer.flush()]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=20000)
    ap.add_argument("--packing-length", type=int, default=51200)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "packing.md"))
    args = ap.parse_args()
    cap = args.packing_length

    t0 = time.perf_counter()
    from lmms_engine.datasets.naive.multimodal_dataset import MultiModalDataset

    from longvt_plugins.lmms_engine.packing import first_fit_decreasing

    import_s = time.perf_counter() - t0
    rows = [r for r in synth_rows(args.rows, args.seed) if r["length"] <= cap]  # filter_overlong, as all do
    lengths = [r["length"] for r in rows]

    results = []

    def run(name, fn):
        t = time.perf_counter()
        packs = fn()
        dt = time.perf_counter() - t
        assert sorted(i for p in packs for i in p) == list(range(len(rows))), name
        fill, over = fill_of(packs, lengths, cap)
        results.append({"name": name, "packs": len(packs), "fill": fill, "over": over, "seconds": dt})

    def estimate_based():
        est = [MultiModalDataset.estimate_data_tokens_per_row(None, estimator_row(r)) for r in rows]
        return MultiModalDataset._pack_by_first_fit(None, est, cap)

    run("lmms-engine estimate-based next-fit (map-style `first_fit`)", estimate_based)
    run("lmms-engine online `first_fit` (upstream LongVT recipe)", lambda: online("first_fit", lengths, cap))
    run("lmms-engine online `best_fit` (4 buckets, 0.95)", lambda: online("best_fit", lengths, cap))
    run("lmms-engine online `balanced` (8 buckets)", lambda: online("balanced", lengths, cap))
    run("**ours: first-fit-decreasing, exact lengths**", lambda: first_fit_decreasing(lengths, cap))

    ours = results[-1]
    kinds = {k: sum(1 for r in rows if r["kind"] == k) for k in ("video", "image", "tool")}
    lines = [
        "# Packing fill ratio (lmms-engine plugin)",
        "",
        f"{len(rows)} synthetic rows shaped like LongVT's SFT mix ({kinds['video']} video QA, {kinds['image']} image "
        f"CoT, {kinds['tool']} tool traces = {kinds['tool'] / len(rows):.1%}), mean length "
        f"{sum(lengths) / len(lengths):,.0f} tokens, packing_length {cap:,}. Fill = tokens in packs / (packs x "
        "packing_length). Target: >= 97% fill.",
        "",
        "| packer | packs (steps/epoch) | fill | packs over budget | ours: fill ratio | ours: packs ratio | time |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r['name']} | {r['packs']:,} | {r['fill']:.2%} | {r['over']} | {ours['fill'] / r['fill']:.3f}x | "
            f"{ours['packs'] / r['packs']:.3f}x | {r['seconds']:.3f} s |"
        )
    lines += [
        "",
        f"Result: ours fills {ours['fill']:.2%} of every pack ({'meets' if ours['fill'] >= 0.97 else 'MISSES'} the "
        f"97% target) with {ours['packs']:,} packs, vs {results[1]['fill']:.2%} / {results[1]['packs']:,} for the "
        "upstream recipe's packer: the same data in fewer optimizer steps of full packs. The estimate-based planner "
        "puts packs over the budget because its guesses (5000 tokens per video, 2000 per image) are not the real "
        "lengths.",
        "",
        f"Command: `.venv/bin/python benchmarks/packing.py --rows {args.rows} --packing-length {cap} "
        f"--seed {args.seed}`",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} CPU cores (shared with other jobs), Python "
        f"{sys.version.split()[0]}; lmms-engine import {import_s:.1f} s (not timed above). Fill ratios do not depend "
        "on the machine; the times do.",
        "",
    ]
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
