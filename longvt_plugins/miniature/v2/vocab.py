"""The v2 student's tokenizer: the miniature's byte-level BPE (`testing.tiny_model.build_tokenizer`, Qwen2's
tokenizer class), its merges learned from v2 *training* text only.

Why this is enough for unseen wording: the BPE starts from all 256 byte symbols, so any text - a held-out
phrasing, a word never seen, a capital letter, an accent - encodes exactly (to more, shorter tokens) and decodes
back; nothing maps to an unknown token. What the corpus decides is only which pieces are one token: the palette's
colour words must be (the projector calibration maps each frame onto its colour word's embedding,
`miniature.model.calibrate_projector`), and the held-out phrasings of set (b) must not have shaped the merges
(tests/test_miniature_v2_vocab.py checks both and round-trips every held-out phrasing).
"""

from __future__ import annotations

import json

from longvt_plugins.miniature.task import FLASH_COLOURS, PLAIN_COLOURS, SCENE_COLOURS
from longvt_plugins.miniature.v2.questions import CASES, SPELLINGS, TRAIN_TEMPLATES, _case
from longvt_plugins.miniature.v2.splits import NONE_ANSWER

VOCAB_SIZE = 2000


def corpus() -> list[str]:
    """Everything the student reads or writes in training, one sample of each kind (no held-out phrasing)."""
    from longvt_plugins.core.backends import hermes_tools_block
    from longvt_plugins.core.crop_tool import CROP_VIDEO_SCHEMA
    from longvt_plugins.core.prompts import load_prompt

    texts = [load_prompt(n) for n in ("agent_system", "agent_tool", "agent_non_think", "skim", "crop_result")]
    texts += [hermes_tools_block([CROP_VIDEO_SCHEMA]), json.dumps(CROP_VIDEO_SCHEMA)]
    for k, colour in enumerate(SCENE_COLOURS):
        # every training template once per colour, spellings and cases in turn (all of them would only slow the
        # BPE training down: what the corpus misses still encodes, byte by byte)
        for i, template in enumerate(TRAIN_TEMPLATES):
            text = template.format(colour=colour, cw=SPELLINGS[(i + k) % len(SPELLINGS)])
            texts.append(_case(text, colour, CASES[(i + k) % len(CASES)]))
        dull = ", ".join(f"{4 * i}s {p}" for i, p in enumerate(PLAIN_COLOURS))
        texts.append(f"<think>Asked: {colour}. Skim: {dull}, 16s {colour}, 20s {colour}, 24s slate. ")
        texts.append(f"{colour.capitalize()} at 16-20s. Crop 12-24s.</think>")
        texts.append(
            f"<think>Asked: {colour}. Skim: {dull}. No {colour} scene.</think><answer>{NONE_ANSWER}</answer>"
        )
    for f in FLASH_COLOURS:
        texts.append(
            f"<think>Crop: 12s slate, 13s red, 14s {f}. The blink is {f}.</think><answer>{f}</answer>"
        )
    texts.append(" ".join(f"<{t}.0s> {t}.0, {t}s" for t in range(0, 800)))
    texts.append(
        '<tool_call>\n{"name": "crop_video", "arguments": {"start_time": 32.0, "end_time": 48.0}}\n</tool_call>'
    )
    return texts


def build_tokenizer(vocab_size: int = VOCAB_SIZE):
    from longvt_plugins.testing.tiny_model import build_tokenizer as build

    return build(vocab_size, corpus=corpus())
