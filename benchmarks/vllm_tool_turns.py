"""Engine check: our agent loop against a real OpenAI-compatible server (vLLM), with every turn forced to call
crop_video, so the parts a stand-in server cannot show run for real: the server's hermes tool parser on generated
calls, the crops' frames going back as images turn after turn (vLLM's per-request image cap), and the context
growing across turns (prompt tokens per request). A random tiny model never calls the tool by itself; a named
`tool_choice` makes vLLM constrain its output to a valid call (arguments are whatever the model picks).

    python benchmarks/vllm_tool_turns.py --base-url http://127.0.0.1:8000/v1 --model MODEL VIDEO [--json out.json]
Needs a running server; CI cannot run this (no GPU there). Results: BENCHMARKS.md, GPU section.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("video", type=Path)
    ap.add_argument("--base-url", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--question", default="Which coloured shape is shown at 12 seconds?")
    ap.add_argument("--skim-frames", type=int, default=32)
    ap.add_argument("--max-crops", type=int, default=5)
    ap.add_argument("--max-tokens", type=int, default=64, help="per turn")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()

    from dataclasses import replace

    from longvt_plugins.core.agent import AgentBudgets, run_agent
    from longvt_plugins.core.backends import GenerationParams, make_backend
    from longvt_plugins.core.budget import SKIM

    backend = make_backend(base_url=args.base_url, served_model=args.model)
    budgets = AgentBudgets(skim=SKIM.replace(max_frames=args.skim_frames), max_turns=args.max_crops + 1)
    budgets = replace(budgets, crop=replace(budgets.crop, max_calls=args.max_crops))
    forced = {"tool_choice": {"type": "function", "function": {"name": "crop_video"}}}
    params = GenerationParams(max_tokens=args.max_tokens, temperature=1.0, seed=0, extra=forced)
    trace = run_agent(args.video, args.question, backend, budgets, params=params)
    rows = []
    for turn in trace.turns:
        rows.append({"turn": turn.index, "call_format": turn.call_format, "tool_calls": turn.tool_calls,
                     "call_errors": turn.tool_call_errors, "prompt_tokens": turn.prompt_tokens,
                     "completion_tokens": turn.completion_tokens, "generate_s": round(turn.generate_s, 3)})  # fmt: skip
    crops = [
        {"ok": c.ok, "arguments": c.arguments, "window": [c.start, c.end], "frames": len(c.timestamps),
         "error": (c.error or "")[:160]}
        for c in trace.crops
    ]  # fmt: skip
    images = sum(
        1
        for m in trace.messages
        for p in (m.get("content") or [])
        if isinstance(p, dict) and p.get("type") == "image"
    )
    out = {"stop_reason": trace.stop_reason, "error": trace.error, "turns": rows, "crops": crops,
           "images_in_conversation": images, "timings": trace.timings}  # fmt: skip
    print(json.dumps(out, indent=1, default=str))
    if args.json:
        args.json.write_text(json.dumps(out, indent=1, default=str))


if __name__ == "__main__":
    main()
