"""The protocol card: what produced a number, so two results can be compared honestly.

LongVT's reproduction reports (issues #10, #11, #15, #25) differ by frames, pixels, token budgets, tool parser,
turn cap and judge. Every sample our model answers carries the card, the task's `protocol` metric puts the card
into the results JSON, and `longvt eval run` also writes it beside the results as `<stamp>_protocol.json`.
"""

from __future__ import annotations

import hashlib
import json
from importlib import metadata
from typing import Any

CARD_SCHEMA = "longvt.protocol/v1"
VERSIONED = (
    "longvt-plugins",
    "lmms-eval",
    "transformers",
    "torch",
    "qwen-vl-utils",
    "openai",
    "decord",
    "vllm",
    "sglang",
)

# The paper's evaluation protocol (LongVT README/FAQ and the paper's dense-frame setting): 1 fps skim capped at
# 768 frames (512 for the SFT checkpoint), 50,176 px per frame, crops at 1 fps / <=128 frames / 224x224 px,
# 49,152 new tokens for tool tasks, hermes tool parser. The turn cap is ours (upstream has none): 5 tool rounds,
# as LongVT's own single_inference.py and its RL rollout use.
PAPER_PROTOCOL: dict[str, Any] = {
    "fps": 1.0,
    "max_frames": 768,
    "max_pixels": 50176,
    "min_pixels": 784,
    "crop_fps": 1.0,
    "crop_max_frames": 128,
    "crop_max_pixels": 224 * 224,
    "max_turns": 6,
    "max_tool_calls": 5,
    "tool_parser": "hermes",
}


def versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for name in VERSIONED:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return {k: v for k, v in out.items() if v is not None}


def card_id(card: dict[str, Any]) -> str:
    """A short hash of everything in the card except its own id: equal ids mean the same protocol."""
    body = {k: v for k, v in card.items() if k != "id"}
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()[:16]


def build_card(
    *,
    model: dict[str, Any],
    budgets: dict[str, Any],
    max_new_tokens: int | None,
    style: str,
    tool_parser: str,
    judge: dict[str, Any],
    protocol: str,
) -> dict[str, Any]:
    card = {
        "schema": CARD_SCHEMA,
        "protocol": protocol,
        "model": model,
        "style": style,
        "frames": {
            k: budgets.get(k) for k in ("fps", "max_frames", "min_frames", "min_pixels", "max_pixels")
        },
        "crop": {k: budgets.get(k) for k in ("crop_fps", "crop_max_frames", "crop_max_pixels")},
        # How the initial video reaches the model; our SFT rows (`as_frames`) train with the same presentation.
        "initial_video": "timestamped frames: a <t s> text label before each skim frame image",
        "max_new_tokens": max_new_tokens,
        "turn_cap": budgets.get("max_turns"),
        "max_tool_calls": budgets.get("max_tool_calls"),
        "tool_parser": tool_parser,
        "answer_parser": "longvt_plugins.core.answer (tags, then option letter)",
        "judge": judge,
        "versions": versions(),
    }
    card["id"] = card_id(card)
    return card


def aggregate_cards(items: list[Any]) -> str:
    """lmms-eval aggregation for the `protocol` metric: the id of the run's card ("id1,id2" if docs differ).

    Only the id goes into the results table (a whole card would make lmms-eval's console table unreadable);
    the full card is in every sample line (`protocol`), and `longvt eval run` adds it to the results JSON under
    `longvt_protocol` and writes it beside as `<stamp>_protocol.json` (`longvt eval card` does that afterwards).
    """
    ids = sorted({item["id"] for item in items if isinstance(item, dict) and item.get("id")})
    return ",".join(ids) if ids else "none (not a longvt model)"
