"""Fitting a protocol into a server: how many images and tokens one request can need, and what is left.

A vLLM server refuses a request with HTTP 400 when it carries more images than `--limit-mm-per-prompt` or more
tokens than `--max-model-len`; upstream then counts the sample as a wrong answer. Here the server is started with
limits sized from the protocol (`serve_limits`), each turn's `max_tokens` is clamped to what remains
(`clamp_new_tokens`), and a request that cannot fit ends the sample as `context_exhausted`.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass
from typing import Any

from longvt_plugins.core.budget import FrameBudget
from longvt_plugins.core.protocols.spec import Protocol

MERGE = 2  # Qwen2.5-VL / Qwen3-VL merge 2x2 patches into one visual token
TEXT_MARGIN = 4096  # system prompt, tool schema, questions, subtitles, chat-template markup
# Kept free below the context on top of the estimate: the server counts the re-rendered conversation with its
# tokenizer and template, which our estimate only approximates.
CONTEXT_MARGIN = 256
ASSUMED_CROPS = 5  # upstream has no crop cap; LongVT's RL allows 5 calls, so its checkpoints stop near there

# What vLLM / SGLang say when a request does not fit (matched case-insensitively in an HTTP 400 body).
CONTEXT_ERRORS = re.compile(
    r"maximum context length|max_model_len|context length|too long|at most \d+ (?:image|video)"
    r"|exceeds? the (?:limit|maximum)|prompt is too long|decoder prompt",
    re.IGNORECASE,
)


def frame_tokens(spec: FrameBudget, patch_size: int = 14) -> int:
    """Most visual tokens one frame of this spec can cost as an image (+2 for the vision start/end markers)."""
    return math.ceil(spec.max_pixels / (patch_size * MERGE) ** 2) + 2


def image_tokens(width: int, height: int, patch_size: int = 14) -> int:
    unit = patch_size * MERGE
    return max(1, round(width / unit)) * max(1, round(height / unit)) + 2


def estimate_tokens(
    messages: list[dict[str, Any]], tools: list[dict] | None = None, patch_size: int = 14
) -> int:
    """An upper-leaning estimate of a conversation's prompt tokens: images from their size, text at 3 chars per
    token, 8 per message for the template's markup. Used only before a server has reported real usage."""
    import json

    total = 8 * len(messages) + (len(json.dumps(tools)) // 3 if tools else 0)
    for m in messages:
        content = m.get("content")
        if isinstance(content, str):
            total += len(content) // 3 + 1
            continue
        for part in content or []:
            if part.get("type") == "image" and part.get("image") is not None:
                w, h = part["image"].size
                total += image_tokens(w, h, patch_size)
            else:
                total += len(str(part.get("text", ""))) // 3 + 1
        for call in m.get("tool_calls") or []:
            total += len(json.dumps(call, default=str)) // 3 + 1
    return total


def count_images(messages: list[dict[str, Any]]) -> int:
    return sum(
        1
        for m in messages
        if isinstance(m.get("content"), list)
        for p in m["content"]
        if p.get("type") in ("image", "image_url")
    )


def is_context_error(message: str) -> bool:
    return bool(CONTEXT_ERRORS.search(message or ""))


# vLLM's refusals state the prompt's size: "(1172 in the messages, ...)" (<=0.9) or "your request has 90000
# input tokens" (newer).
_PROMPT_IN_ERROR = re.compile(r"(\d+) in the messages|request has (\d+) input tokens", re.IGNORECASE)


def prompt_tokens_from_error(message: str) -> int | None:
    """The prompt size a server reported in its context-length refusal, if it said."""
    m = _PROMPT_IN_ERROR.search(message or "")
    return int(m.group(1) or m.group(2)) if m else None


@dataclass(frozen=True)
class ServeLimits:
    """What a server must accept for one protocol: `--limit-mm-per-prompt` images and `--max-model-len`."""

    protocol: str
    style: str
    images: int  # skim frames + crops x crop frames
    skim_tokens: int
    crop_tokens: int
    new_tokens: int
    max_model_len: int
    crops_assumed: int

    def vllm_args(self) -> list[str]:
        return [
            "--limit-mm-per-prompt",
            f'{{"image": {self.images}, "video": 0}}',
            "--max-model-len",
            str(self.max_model_len),
        ]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def serve_limits(protocol: Protocol, style: str = "tool", *, patch_size: int = 14) -> ServeLimits:
    """Images and context one request of this protocol can need, capped at the protocol's own context."""
    crops = 0
    if protocol.offers_tool(style):
        crops = protocol.max_tool_calls if protocol.max_tool_calls is not None else ASSUMED_CROPS
    images = protocol.skim.max_frames + crops * protocol.crop.max_frames
    skim = protocol.skim.max_frames * frame_tokens(protocol.skim, patch_size)
    crop = crops * protocol.crop.max_frames * frame_tokens(protocol.crop, patch_size)
    new = protocol.tokens.largest(style)  # one server serves every benchmark
    # Every earlier assistant turn stays in the context: the trajectory's whole output must fit beside the frames.
    generated = protocol.tokens.max_total_tokens or new * (crops + 1)
    need = skim + crop + generated + TEXT_MARGIN
    return ServeLimits(
        protocol=protocol.name,
        style=style,
        images=images,
        skim_tokens=skim,
        crop_tokens=crop,
        new_tokens=new,
        max_model_len=min(protocol.tokens.max_model_len, need),
        crops_assumed=crops,
    )


def serve_limits_all(protocol: Protocol, *, patch_size: int = 14) -> ServeLimits:
    """Limits for one server that runs every style of this protocol (the largest of each)."""
    from longvt_plugins.core.style import STYLES

    each = [serve_limits(protocol, style, patch_size=patch_size) for style in STYLES]
    widest = max(each, key=lambda lim: (lim.images, lim.max_model_len))
    return ServeLimits(
        protocol=protocol.name,
        style="all",
        images=max(lim.images for lim in each),
        skim_tokens=widest.skim_tokens,
        crop_tokens=widest.crop_tokens,
        new_tokens=max(lim.new_tokens for lim in each),
        max_model_len=max(lim.max_model_len for lim in each),
        crops_assumed=widest.crops_assumed,
    )


def clamp_new_tokens(wanted: int, prompt_tokens: int, max_model_len: int) -> int:
    """`max_tokens` for the next request: what the turn wants, but no more than the context leaves (0: no room)."""
    return max(0, min(int(wanted), int(max_model_len) - int(prompt_tokens) - CONTEXT_MARGIN))
