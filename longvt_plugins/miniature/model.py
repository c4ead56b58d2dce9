"""The miniature student: a small random Qwen2.5-VL built from a config, with the tiny fixture's tokenizer machinery.

Same classes, chat template and special tokens as `testing.tiny_model`; only the size differs (so it can learn the
task in minutes on a CPU) and the tokenizer learns its merges from the prompts it will read (so a conversation
costs hundreds of tokens, not thousands).
"""

from __future__ import annotations

import json
from pathlib import Path

HIDDEN_SIZE = 128
LAYERS = 4
VOCAB_SIZE = 1200


def _corpus() -> list[str]:
    from longvt_plugins.core.backends import hermes_tools_block
    from longvt_plugins.core.crop_tool import CROP_VIDEO_SCHEMA
    from longvt_plugins.core.prompts import load_prompt
    from longvt_plugins.miniature.task import FLASH_COLOURS, QUESTION_TEMPLATES, SCENE_COLOURS

    texts = [load_prompt(n) for n in ("agent_system", "agent_tool", "agent_non_think", "skim", "crop_result")]
    texts += [hermes_tools_block([CROP_VIDEO_SCHEMA]), json.dumps(CROP_VIDEO_SCHEMA)]
    for c in SCENE_COLOURS:
        texts += [q.format(colour=c) for q in QUESTION_TEMPLATES]
        texts.append(f"<think>Skim: 0s {c}, 18s {c}. The {c} scene is at 36s.</think>")
    for f in FLASH_COLOURS:
        texts.append(f"<think>Crop: 16s {f}, 18s {f}. The flash is {f}.</think><answer>{f}</answer>")
    texts.append(" ".join(f"<{t}.0s> {t}.0, {t}.00s" for t in range(0, 130)))
    texts.append(
        '<tool_call>\n{"name": "crop_video", "arguments": {"start_time": 32.0, "end_time": 48.0}}\n</tool_call>'
    )
    return texts


def make_student(out_dir: str | Path, *, seed: int = 0) -> Path:
    """Write the untrained miniature student (config, random weights, tokenizer, processor) to `out_dir`."""
    from transformers import Qwen2_5_VLForConditionalGeneration

    from longvt_plugins.testing.tiny_model import (
        _save_random_checkpoint,
        build_config,
        build_processor,
        build_tokenizer,
    )

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tok = build_tokenizer(VOCAB_SIZE, corpus=_corpus())
    config = build_config(tok, hidden_size=HIDDEN_SIZE, layers=LAYERS)
    path = _save_random_checkpoint(
        Qwen2_5_VLForConditionalGeneration,
        config,
        build_processor(tok),
        tok,
        out,
        seed,
        "Qwen2.5-VL (miniature)",
    )
    # Not a "random tiny model" once trained: the marker is the fixture's, the training run removes it.
    return path
