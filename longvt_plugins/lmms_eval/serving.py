"""How big a vLLM server must be for an evaluation protocol: images per request and context length.

Our `longvt_agent` sends every frame as an image part: the skim's frames in the first request, then each crop's
frames after its tool call. vLLM refuses a request with more images than `--limit-mm-per-prompt` allows, and one
whose prompt plus `max_tokens` exceeds `--max-model-len`. `recipes/eval/run_eval.sh` sizes both from here.
"""

from __future__ import annotations

import math
from typing import Any

# Qwen2.5-VL: one visual token per 28x28 px (14-px patches, 2x2 merge); a frame also costs <|vision_start|>,
# <|vision_end|> and its timestamp label ("<12.5s>", ~6 tokens): 10 is a safe bound for the extras.
PIXELS_PER_TOKEN = 28 * 28
FRAME_EXTRA_TOKENS = 10
# System prompt, tool schema, question, skim summary, crop summaries: text besides the frames and the answer.
TEXT_TOKENS = 4096
# The tool tasks' generation budget (eval_tasks/*/*_tool.yaml: max_new_tokens), the paper's 49,152.
TOOL_TASK_NEW_TOKENS = 49152


def frame_tokens(max_pixels: int) -> int:
    """Upper bound on one frame's tokens at a pixel budget (smart_resize keeps h*w <= max_pixels)."""
    return math.ceil(max_pixels / PIXELS_PER_TOKEN) + FRAME_EXTRA_TOKENS


def serve_limits(
    protocol: dict[str, Any],
    *,
    skim_frames: int | None = None,
    new_tokens: int = TOOL_TASK_NEW_TOKENS,
    model_max_len: int | None = None,
) -> tuple[int, int, str]:
    """(images per request, max model length, a note when the model's own limit is the smaller one)."""
    skim = int(skim_frames if skim_frames is not None else protocol["max_frames"])
    crops = int(protocol["max_tool_calls"]) * int(protocol["crop_max_frames"])
    visual = skim * frame_tokens(int(protocol["max_pixels"])) + crops * frame_tokens(
        int(protocol["crop_max_pixels"])
    )
    needed = visual + new_tokens + TEXT_TOKENS
    if model_max_len and needed > model_max_len:
        note = (
            f"the protocol needs a {needed}-token context ({skim} skim frames, {crops} crop frames, "
            f"{new_tokens} new tokens) but the model allows {model_max_len}: serving at {model_max_len}; a turn "
            "that would pass it is refused by vLLM and counted as a failed sample"
        )
        return skim + crops, int(model_max_len), note
    return skim + crops, needed, ""
