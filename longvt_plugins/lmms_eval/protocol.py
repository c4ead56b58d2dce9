"""The protocol card: what produced a number, so two results can be compared honestly.

LongVT's reproduction reports (issues #10, #11, #15, #25) differ by frames, pixels, token budgets, tool parser,
turn cap and judge. Every sample our model answers carries the card, the task's `protocol` metric puts the card
into the results JSON, and `longvt eval run` also writes it beside the results as `<stamp>_protocol.json`.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from importlib import metadata
from typing import Any

from longvt_plugins import __version__
from longvt_plugins.core.budget import PAPER_SKIM, SKIM, CropBudget, FrameBudget

CARD_SCHEMA = "longvt.protocol/v1"
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


@dataclass(frozen=True)
class EvalProtocol:
    """A named evaluation setting: what frames the model sees and how long it may work. Model args override
    fields one by one (`fps=`, `crop_max_frames=`, ...: FrameBudget / CropBudget field names, see model.py)."""

    name: str
    skim: FrameBudget
    crop: CropBudget
    max_turns: int
    tool_parser: str = "hermes"


# "custom": our CPU-friendly defaults (core.budget's presets). "paper": the paper's evaluation protocol (LongVT
# README/FAQ and the paper's dense-frame setting): 1 fps skim capped at 768 frames (512 for the SFT checkpoint),
# 50,176 px per frame, crops at 1 fps / <=128 frames / 224x224 px, 5 tool calls, 49,152 new tokens for tool tasks
# (set in the tool task YAMLs), hermes tool parser. The turn cap is ours (upstream has none): 5 tool rounds, as
# LongVT's own single_inference.py and its RL rollout use.
PROTOCOLS: dict[str, EvalProtocol] = {
    "custom": EvalProtocol("custom", SKIM, CropBudget(), max_turns=6),
    "paper": EvalProtocol("paper", PAPER_SKIM, CropBudget(), max_turns=6),
}


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
    model: dict[str, Any],
    skim: FrameBudget,
    crop: CropBudget,
    max_turns: int,
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
        "frames": skim.to_dict(),
        "crop": crop.frames().to_dict(),
        "max_new_tokens": max_new_tokens,
        "turn_cap": max_turns,
        "max_tool_calls": crop.max_calls,
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
