"""Does a served model run our agent the way the in-process transformers backend does? (A diagnostic, not a speed
target.) The miniature checkpoint on held-out items, greedy, against one or more OpenAI-compatible servers (vLLM,
SGLang) serving the same checkpoint:

1. answers: the agent loop through each server and in-process; same final answer, same crop windows, accuracy.
2. tokens: every turn of the in-process trajectory is asked again of each server with the in-process history, so
   both engines see the same messages; greedy, with logprobs. The server's tokens are then scored by the in-process
   model (teacher-forced). Reported per turn: the first token where the server's choice is not the in-process
   argmax, the in-process margin there (its top-1 minus the server's token, in nats) and the server's own top-1 minus
   top-2 margin. Small margins on both sides are a near-tie broken by numerics (bf16 kernels); a large in-process
   margin means the two engines did not see the same prompt.
3. prompt: the server's prompt token count (usage) against ours for the same messages.

    python benchmarks/engine_agreement.py --model CK --served bf16=http://127.0.0.1:8011/v1 \
        --served fp32=http://127.0.0.1:8012/v1 --work runs/agree --test-videos 3 --json agree.json
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any


class Recording:
    """Wraps a backend and keeps every request it answered: (messages, tools, params, turn)."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.name = inner.name
        self.patch_size = getattr(inner, "patch_size", None)
        self.requests: list[tuple[list[dict], list[dict], Any, Any]] = []

    def describe(self) -> dict[str, Any]:
        return self.inner.describe()

    def generate(self, messages, tools, params):
        out = self.inner.generate(messages, tools, params)
        self.requests.append((list(messages), list(tools or []), params, out))
        return out


def score_tokens(backend, messages: list[dict], tools: list[dict], token_ids: list[int]):
    """Teacher-forced log-probabilities [len(token_ids), vocab] of the in-process model for `token_ids` following
    the prompt it renders for `messages`; and that prompt's length."""
    import torch

    text, images = backend.render(messages, tools)
    inputs = backend.processor(text=[text], images=images or None, return_tensors="pt").to(backend.device)
    prompt = inputs["input_ids"]
    full = torch.cat([prompt, torch.tensor([token_ids], device=prompt.device, dtype=prompt.dtype)], dim=1)
    n = len(token_ids)
    extra = {}
    for k, v in inputs.items():
        if k in ("input_ids", "attention_mask"):
            continue
        if k.endswith("token_type_ids"):  # per-token (text 0, image 1): the appended tokens are text
            v = torch.cat([v, v.new_zeros((v.shape[0], n))], dim=1)
        extra[k] = v
    with torch.inference_mode():
        logits = backend.net(input_ids=full, attention_mask=torch.ones_like(full), **extra).logits[0]
    return logits[prompt.shape[1] - 1 : -1].float().log_softmax(-1), int(prompt.shape[1])


def first_divergence(logprobs, token_ids: list[int]) -> dict[str, Any] | None:
    """The first position where `token_ids` is not the argmax of `logprobs`, with the margin (nats); None if the
    reference would have produced every token itself."""
    best = logprobs.argmax(-1).tolist()
    for i, (b, t) in enumerate(zip(best, token_ids, strict=True)):
        if b != t:
            return {
                "position": i,
                "reference_token": b,
                "served_token": t,
                "reference_margin": round(float(logprobs[i, b] - logprobs[i, t]), 4),
            }
    return None


def served_turn(client, model: str, wire: list[dict], tools: list[dict], max_tokens: int, top: int = 5):
    """One greedy turn with logprobs; token ids, each position's server top-1 minus top-2 margin, prompt tokens."""
    request: dict[str, Any] = {
        "model": model,
        "messages": wire,
        "max_tokens": max_tokens,
        "temperature": 0.0,
        "logprobs": True,
        "top_logprobs": top,
        # vLLM: tokens as "token_id:N", so they need no re-tokenising.
        "extra_body": {"return_tokens_as_token_ids": True},
    }
    if tools:
        request.update(tools=tools, tool_choice="auto")
    resp = client.chat.completions.create(**request)
    content = resp.choices[0].logprobs.content or []
    ids, margins = [], []
    for tok in content:
        ids.append(int(tok.token.split(":", 1)[1]))
        tops = sorted((t.logprob for t in tok.top_logprobs), reverse=True)
        margins.append(round(tops[0] - tops[1], 4) if len(tops) > 1 else None)
    return ids, margins, resp.usage.prompt_tokens if resp.usage else None


def token_probe(reference, recorded: Recording, name: str, served) -> list[dict[str, Any]]:
    """Every recorded in-process request asked again of `served` (an OpenAIBackend); see the module docstring."""
    tok = reference.processor.tokenizer
    out = []
    for k, (messages, tools, params, ref_turn) in enumerate(recorded.requests):
        wire = served.to_wire(messages, tools)
        try:
            ids, margins, served_prompt = served_turn(
                served.client, served.model, wire, tools if served.native_tools else [], params.max_tokens
            )
        except Exception as exc:  # a diagnostic: one refused request is a finding, not the end of the run
            out.append({"request": k, "served": name, "error": f"{type(exc).__name__}: {exc}"[:500]})
            continue
        if not ids:
            out.append({"request": k, "served": name, "error": "no tokens"})
            continue
        lp, our_prompt = score_tokens(reference, messages, tools, ids)
        div = first_divergence(lp, ids)
        row = {
            "request": k,
            "served": name,
            "prompt_tokens": {"ours": our_prompt, "served": served_prompt},
            "tokens": len(ids),
            "identical_to_reference": div is None,
        }
        if div is not None:
            i = div["position"]
            div.update(
                served_margin=margins[i],
                context=tok.decode(ids[max(0, i - 12) : i]),
                served_text=tok.decode([div["served_token"]]),
                reference_text=tok.decode([div["reference_token"]]),
            )
            row["divergence"] = div
        row["served_turn"] = tok.decode(ids)
        row["reference_turn"] = ref_turn.raw_text
        out.append(row)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, help="checkpoint directory (the one the servers serve)")
    ap.add_argument("--served", action="append", required=True, help="NAME=BASE_URL (repeatable)")
    ap.add_argument("--work", default="runs/agree", help="where the held-out videos are built")
    ap.add_argument("--test-videos", type=int, default=3)
    ap.add_argument("--device", default=None, help="in-process device (default: cuda if present)")
    ap.add_argument("--dtype", default="float32", help="in-process dtype (the checkpoint's own is float32)")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()

    from longvt_plugins.core.backends import OpenAIBackend, TransformersBackend
    from longvt_plugins.miniature import task
    from longvt_plugins.miniature.evaluate import evaluate

    items = task.make_split(Path(args.work) / "videos", "test", args.test_videos)
    reference = TransformersBackend(args.model, device=args.device, dtype=args.dtype)
    recorded = Recording(reference)
    t0 = time.perf_counter()
    ref = evaluate(args.model, items, style="tool", backend=recorded)
    result: dict[str, Any] = {
        "items": len(items),
        "reference": {
            **reference.describe(),
            "summary": ref["summary"],
            "wall_s": round(time.perf_counter() - t0, 1),
        },
        "served": {},
    }
    print("in-process", json.dumps(ref["summary"]), flush=True)
    for spec in args.served:
        name, url = spec.split("=", 1)
        backend = OpenAIBackend(url)
        t0 = time.perf_counter()
        got = evaluate(args.model, items, style="tool", backend=backend)
        pairs = list(zip(got["rows"], ref["rows"], strict=True))
        probe = token_probe(reference, recorded, name, backend)
        entry = {
            "url": url,
            "summary": got["summary"],
            "wall_s": round(time.perf_counter() - t0, 1),
            "same_final_answer": sum(a["final_answer"] == b["final_answer"] for a, b in pairs),
            "same_crop_windows": sum(a["windows"] == b["windows"] for a, b in pairs),
            "turns_probed": len(probe),
            "turns_identical": sum(bool(p.get("identical_to_reference")) for p in probe),
            "prompt_token_mismatches": sum(
                1
                for p in probe
                if "prompt_tokens" in p and p["prompt_tokens"]["ours"] != p["prompt_tokens"]["served"]
            ),
            "probe": probe,
            "pairs": [
                {
                    "id": a["id"],
                    "served": [a["final_answer"], a["windows"]],
                    "reference": [b["final_answer"], b["windows"]],
                }
                for a, b in pairs
            ],
        }
        result["served"][name] = entry
        print(
            name,
            json.dumps(got["summary"]),
            f"same answer {entry['same_final_answer']}/{len(items)}, same windows {entry['same_crop_windows']}/"
            f"{len(items)}, turns identical {entry['turns_identical']}/{entry['turns_probed']}, "
            f"prompt-length mismatches {entry['prompt_token_mismatches']}",
            flush=True,
        )
        for p in probe:
            d = p.get("divergence")
            if d:
                print(
                    f"  req {p['request']}: pos {d['position']} after {d['context']!r}: served {d['served_text']!r}"
                    f" (server margin {d['served_margin']}), in-process {d['reference_text']!r} "
                    f"(in-process margin {d['reference_margin']})"
                )
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
