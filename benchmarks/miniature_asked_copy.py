"""Diagnostic (not a speed target): can the miniature student learn to copy the asked colour into "Asked: X"?

The shipped miniature student names every skim frame but not the scene the question asks about (docs/miniature.md,
Results). This isolates that one step: the real first-turn prompt of each item (built by the agent loop, exactly
what evaluation sends) followed by "<think>Asked: <colour>.<|im_end|>", trained with AdamW (lr 2e-3, batch 1, vision
tower frozen as in the recipe) on one of two losses:

- `colour`: the loss is on the colour token only;
- `turn`: the loss is on all six tokens of that turn (what SFT on such a row does; five of them are trivial);
- `warm`: `colour` for the first `--warm-steps`, then `turn`.

Accuracy is teacher-forced: is the asked colour the most likely of the 8 scene colours after "<think>Asked:", on
training items and on the held-out split. Chance is 1/8.

    python benchmarks/miniature_asked_copy.py --work runs/asked --loss colour --steps 400
"""

from __future__ import annotations

import argparse
import random
import time
from pathlib import Path


def first_turn_prompts(backend, items):
    """(processor inputs of prompt + target turn, colour token id) per item, via the agent's own first request."""
    from longvt_plugins.core.agent import run_agent
    from longvt_plugins.core.backends import GenerationParams
    from longvt_plugins.miniature import task

    seen: dict = {}

    class _Captured(Exception):
        pass

    def capture(messages, tools, params):
        seen["request"] = (messages, tools)
        raise _Captured

    backend.generate = capture
    tok = backend.processor.tokenizer
    out = []
    for it in items:
        try:
            run_agent(it.path, it.question, backend, task.agent_budgets(), style="tool",
                      params=GenerationParams(temperature=0.0))  # fmt: skip
        except _Captured:
            pass
        text, images = backend.render(*seen["request"])
        inp = backend.processor(text=[text + f"<think>Asked: {it.colour}.<|im_end|>"], images=images or None,
                                return_tensors="pt", images_kwargs={"min_pixels": task.FRAME_PIXELS,
                                                                    "max_pixels": task.FRAME_PIXELS})  # fmt: skip
        out.append((inp, tok.encode(" " + it.colour, add_special_tokens=False)[0]))
    return out


def main() -> None:
    import torch

    from longvt_plugins.core.backends import TransformersBackend
    from longvt_plugins.miniature import run, task

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", type=Path, required=True)
    ap.add_argument("--student", type=Path, help="default: a fresh miniature student built under --work")
    ap.add_argument("--loss", choices=("colour", "turn", "warm"), default="colour")
    ap.add_argument("--steps", type=int, default=400)
    ap.add_argument("--warm-steps", type=int, default=300)
    ap.add_argument("--train-videos", type=int, default=25)
    ap.add_argument("--test-videos", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    rng = random.Random(args.seed)
    student = args.student or run.build_student(args.work)
    backend = TransformersBackend(student, device="cpu")
    net = backend.net
    train = first_turn_prompts(backend, task.make_split(args.work / "videos", "train", args.train_videos))
    test = first_turn_prompts(backend, task.make_split(args.work / "videos", "test", args.test_videos))
    colour_ids = sorted({y for _, y in train + test})
    for p in net.model.visual.parameters():
        p.requires_grad = False
    opt = torch.optim.AdamW([p for p in net.parameters() if p.requires_grad], lr=2e-3)

    # Positions from the end of "<think> Asked : <colour> . <|im_end|>": the logits at ':' predict the colour.
    at_colon, turn = -4, slice(-7, -1)

    def accuracy(data) -> float:
        with torch.no_grad():
            hits = 0
            for inp, y in data:
                logits = net(**inp).logits[0, at_colon]
                hits += max(colour_ids, key=lambda i: float(logits[i])) == y
        return hits / len(data)

    print(f"loss={args.loss} items train/test {len(train)}/{len(test)}; chance {1 / len(colour_ids):.3f}")
    print(f"step 0: train {accuracy(train[:40]):.3f} test {accuracy(test):.3f}")
    t0 = time.perf_counter()
    for step in range(1, args.steps + 1):
        inp, y = rng.choice(train)
        logits = net(**inp).logits[0]
        if args.loss == "colour" or (args.loss == "warm" and step <= args.warm_steps):
            loss = torch.nn.functional.cross_entropy(logits[at_colon][None], torch.tensor([y]))
        else:
            loss = torch.nn.functional.cross_entropy(logits[turn], inp["input_ids"][0, -6:])
        loss.backward()
        opt.step()
        opt.zero_grad()
        if step % 100 == 0 or step == args.steps:
            print(f"step {step}: train {accuracy(train[:40]):.3f} test {accuracy(test):.3f} "
                  f"({time.perf_counter() - t0:.0f} s)", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
