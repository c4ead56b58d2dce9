"""The protocol card: what produced a number, so two results can be compared honestly.

LongVT's reproduction reports (issues #10, #11, #15, #25) differ by frames, pixels, token budgets, tool parser,
turn cap and judge. Every sample our model answers carries the card, the task's `protocol` metric puts the card
into the results JSON, and `longvt eval run` also writes it beside the results as `<stamp>_protocol.json`.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from importlib import metadata
from typing import Any

from longvt_plugins import __version__

CARD_SCHEMA = "longvt.protocol/v2"  # v2: generated from core.protocols.Protocol
VERSIONED = (
    "lmms-eval",
    "transformers",
    "torch",
    "qwen-vl-utils",
    "openai",
    "decord",
    "vllm",
    "sglang",
)


def versions() -> dict[str, str | None]:
    # Ours from the code that runs (the one version, longvt_plugins.__version__), not from some install's metadata.
    out: dict[str, str | None] = {"longvt-plugins": __version__}
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
    protocol: Any,
    model: dict[str, Any],
    style: str,
    tool_parser: str,
    judge: dict[str, Any],
    benchmark: str | None = None,
) -> dict[str, Any]:
    """The card of one sample: the protocol's own card (`core.protocols.Protocol.card()`: every prompt hash, the
    schema hash, frames, budgets, scoring) under `definition`, the main numbers at the top for reading, and what
    the protocol does not fix (the model, the parser as served, the judge, the versions)."""
    card = {
        "schema": CARD_SCHEMA,
        "protocol": protocol.name,
        "model": model,
        "style": style,
        "frames": asdict(protocol.skim),
        "crop": asdict(protocol.crop),
        # How the initial video reaches the model; our SFT rows (`as_frames`) train with the labelled form.
        "initial_video": _initial_video(protocol),
        "max_new_tokens": protocol.tokens.new_tokens(style, benchmark),
        "max_total_tokens": protocol.tokens.max_total_tokens,
        "turn_cap": protocol.turn_cap,
        "max_tool_calls": protocol.max_tool_calls,
        "tool_parser": tool_parser,
        "answer_parser": "longvt_plugins.core.answer (tags, then option letter)",
        "scoring_chain": list(protocol.scoring.chain),
        "judge": judge,
        "definition": protocol.card(),
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


def _initial_video(protocol: Any) -> str:
    if protocol.presentation.timestamps:
        return "timestamped frames: a <t s> text label before each skim frame image"
    return "frames: skim frame images without timestamp labels"
