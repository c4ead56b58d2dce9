"""Teacher-forced probe of a v2 student: which step of the oracle's trace it gets wrong.

Greedy evaluation only says that a turn went wrong; a 250-token first turn can fail at any of its steps (the asked
colour, a listing timestamp, a frame's colour, where the listing stops, the crop's numbers, the answer). Here each
held-out trace is rendered exactly as SFT renders it (`lmms_engine.render.encode` on `MediaLoader`'s frames), the
model reads it in one forward pass, and every trained token is scored by whether the model's argmax is the
teacher's token, grouped by turn and kind:

- `asked`: the colour after "Asked:"; `answer`: the colour inside `<answer>`;
- `colour`: other palette words (frame readings); `digit`: timestamp and argument digits; `other`: the rest;
- `turn_exact`: the share of turns whose every token is the argmax (a greedy decode reproduces such a turn).
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from longvt_plugins.miniature.task import FLASH_COLOURS, PLAIN_COLOURS, SCENE_COLOURS

PALETTE = {*SCENE_COLOURS, *PLAIN_COLOURS, *FLASH_COLOURS, "none"}


def _kind(piece: str, before: str) -> str:
    word = piece.strip()
    if word.isdigit():
        return "digit"
    if word.lower() in PALETTE:
        tail = before[-12:]
        if tail.endswith("Asked:") or tail.endswith("Asked: "):
            return "asked"
        if tail.endswith("<answer>"):
            return "answer"
        return "colour"
    return "other"


def encode_row(processor, row: dict, loader) -> tuple[list[int], list[int], dict, int]:
    """(token ids, labels, image inputs, frames) of an SFT row, rendered exactly as the SFT processor renders it."""
    from longvt_plugins.core.trace_rows import parse_row
    from longvt_plugins.lmms_engine import render
    from longvt_plugins.lmms_engine.processor import longvt_template

    trace = parse_row(row, row.get("id", "?"))
    material = loader.load(trace)
    px = processor.image_processor(images=material.images, return_tensors="pt")
    merge = processor.image_processor.merge_size**2
    ids, labels = render.encode(
        processor, material.messages, image_tokens=[int(g.prod()) // merge for g in px["image_grid_thw"]],
        video_tokens=[], tools=trace.tools, chat_template=longvt_template(),
    )  # fmt: skip
    return ids, labels, px, len(material.images)


def probe_rows(model_dir: str | Path, rows: list[dict], *, device: str = "cpu") -> dict:
    """Per-turn, per-kind teacher-forced argmax accuracy of `model_dir` on SFT trace rows."""
    import torch
    from transformers import AutoProcessor, Qwen2_5_VLForConditionalGeneration

    from longvt_plugins.lmms_engine.media import MediaLoader

    processor = AutoProcessor.from_pretrained(model_dir)
    model = (
        Qwen2_5_VLForConditionalGeneration.from_pretrained(model_dir, dtype=torch.float32).to(device).eval()
    )
    tok = processor.tokenizer
    loader = MediaLoader(None)
    hits: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    exact: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for row in rows:
        ids, labels, px, _ = encode_row(processor, row, loader)
        with torch.no_grad():
            logits = model(
                input_ids=torch.tensor([ids], device=device),
                pixel_values=px["pixel_values"].to(device),
                image_grid_thw=px["image_grid_thw"].to(device),
            ).logits[0]
        pred = logits.argmax(-1).tolist()
        turns: list[list[int]] = []  # each assistant turn's trained positions (a run of labelled tokens)
        for pos in range(1, len(ids)):
            if labels[pos] != -100:
                if not turns or labels[pos - 1] == -100:
                    turns.append([])
                turns[-1].append(pos)
        for k, positions in enumerate(turns, start=1):
            name, text, all_ok = f"turn{min(k, 2)}", "", True
            for pos in positions:
                piece = tok.decode([ids[pos]])
                ok = pred[pos - 1] == ids[pos]
                cell = hits[f"{name}/{_kind(piece, text)}"]
                cell[0], cell[1] = cell[0] + ok, cell[1] + 1
                all_ok &= ok
                text += piece
            exact[name][0] += all_ok
            exact[name][1] += 1
    return {
        "rows": len(rows),
        "token_accuracy": {k: round(a / n, 4) for k, (a, n) in sorted(hits.items())},
        "tokens": {k: n for k, (_, n) in sorted(hits.items())},
        "turn_exact": {k: round(a / n, 4) for k, (a, n) in sorted(exact.items())},
    }


def held_out_traces(work: str | Path, name: str, items: int) -> list[dict]:
    """The oracle teacher's SFT rows for the first `items` questions of held-out set `name` (cached under work)."""
    from longvt_plugins.miniature.v2.data import build_rows
    from longvt_plugins.miniature.v2.splits import make_split
    from longvt_plugins.pipeline.store import read_jsonl

    work = Path(work)
    out = work / f"pipeline-v2-probe-{name}-{items}" / "export" / "sft.jsonl"
    if not out.exists():
        questions = make_split(work / "videos", name, items)
        build_rows(out.parent.parent, questions, products=("sft",), split=name)
    return read_jsonl(out)
