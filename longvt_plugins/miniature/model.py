"""The miniature student: a small random Qwen2.5-VL (or, `arch="qwen3_vl"`, Qwen3-VL) built from a config, with the
tiny fixture's tokenizer machinery.

Same classes, chat template and special tokens as `testing.tiny_model`'s fixture of that family; only the size
differs (so it can learn the task in minutes on a CPU) and the tokenizer learns its merges from the prompts it will
read (so a conversation costs hundreds of tokens, not thousands). The family is written into the checkpoint's config;
every host (traces, SFT, evaluation) reads it from there.
"""

from __future__ import annotations

import json
from pathlib import Path

from longvt_plugins.core.families import (
    PATCH_SIZES,
    QWEN2_5_VL,
    QWEN3_VL,
    check_family,
    family_of,
    qwen3_label,
)

HIDDEN_SIZE = 128
LAYERS = 4
VOCAB_SIZE = 1200


def _corpus(arch: str = QWEN2_5_VL) -> list[str]:
    from longvt_plugins.core.backends import hermes_tools_block
    from longvt_plugins.core.crop_tool import CROP_VIDEO_SCHEMA
    from longvt_plugins.core.prompts import load_prompt
    from longvt_plugins.miniature.task import FLASH_COLOURS, PLAIN_COLOURS, QUESTION_TEMPLATES, SCENE_COLOURS

    texts = [load_prompt(n) for n in ("agent_system", "agent_tool", "agent_non_think", "skim", "crop_result")]
    texts += [hermes_tools_block([CROP_VIDEO_SCHEMA]), json.dumps(CROP_VIDEO_SCHEMA)]
    for c in SCENE_COLOURS:
        texts += [q.format(colour=c) for q in QUESTION_TEMPLATES]
        plain = ", ".join(f"{t}s {p}" for t, p in zip((0, 18, 36, 54), PLAIN_COLOURS, strict=True))
        texts.append(f"<think>Asked: {c}. Skim: {plain}, 73s {c}: found. Crop 64-80s.</think>")
    for f in FLASH_COLOURS:
        texts.append(f"<think>Crop: 16s {f}, 18s {f}. The flash is {f}.</think><answer>{f}</answer>")
    texts.append(" ".join(f"<{t}.0s> {t}.0, {t}.00s" for t in range(0, 130)))
    texts.append(
        '<tool_call>\n{"name": "crop_video", "arguments": {"start_time": 32.0, "end_time": 48.0}}\n</tool_call>'
    )
    # Qwen3-VL's labels ("<9.0 seconds>", one per pair of frames) and the listings that name them ("9s slate navy")
    if arch == QWEN3_VL:
        texts.append(" ".join(f"{qwen3_label(t)} {t}s" for t in range(0, 130)))
        a, b, c = list(PLAIN_COLOURS)[:3]
        texts.append(f"<think>Asked: red. Skim: 9s {a} {b}, 45s {c} red: found. Crop 48-64s.</think>")
    return texts


def make_student(out_dir: str | Path, *, seed: int = 0, arch: str = QWEN2_5_VL) -> Path:
    """Write the untrained miniature student (config, random weights, tokenizer, processor) to `out_dir`.

    `arch`: the model family (`core.families`: "qwen2_5_vl", the default, or "qwen3_vl"). Same sizes, tokenizer
    corpus (plus the family's time labels) and initialisation for both."""
    from transformers import Qwen2_5_VLForConditionalGeneration, Qwen3VLForConditionalGeneration

    from longvt_plugins.testing import tiny_model as tm

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tok = tm.build_tokenizer(VOCAB_SIZE, corpus=_corpus(check_family(arch)))
    if arch == QWEN3_VL:
        cls, label = Qwen3VLForConditionalGeneration, "Qwen3-VL (miniature)"
        config = tm.build_qwen3_config(tok, hidden_size=HIDDEN_SIZE, layers=LAYERS)
        processor = tm.build_qwen3_processor(tok)
    else:
        cls, label = Qwen2_5_VLForConditionalGeneration, "Qwen2.5-VL (miniature)"
        config = tm.build_config(tok, hidden_size=HIDDEN_SIZE, layers=LAYERS)
        processor = tm.build_processor(tok)
    path = tm._save_random_checkpoint(cls, config, processor, tok, out, seed, label)
    # Both initialisation steps below work on the saved random student in memory; it is written back once.
    model = cls.from_pretrained(path)
    init_copy_heads(model, seed=seed)
    calibrate_projector(model, path)
    model.save_pretrained(path)
    # Not a "random tiny model" once trained: the marker is the fixture's, the training run removes it.
    return path


def init_copy_heads(model, *, seed: int = 0) -> None:
    """Mimetic initialisation of the LM's attention (after Trockman & Kolter, 2023): in every layer, one query head
    of each key/value group gets value/output projections that write back the subspace they read, so from step 0 the
    head copies what it attends to.

    Why: everything the miniature asks is a copy - a frame's colour into the listing, the asked scene's timestamp
    into the call, the flash colour into the answer - and a randomly initialised tiny transformer learns to copy only
    after a long plateau. Measured on this student, text-only ("<18.0s> red ..." -> "18s red"): 1/12 colours copied
    after 600 steps (batch 1, lr 2e-3) and 5/12 after 2,000 with a plain Qwen2; 12/12 after 400 with this init.
    """
    import torch

    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for layer in model.model.language_model.layers:
            att = layer.self_attn
            d, hd = att.o_proj.weight.shape[0], att.head_dim
            kv_heads, q_heads = att.v_proj.weight.shape[0] // hd, att.o_proj.weight.shape[1] // hd
            basis, _ = torch.linalg.qr(torch.randn(d, d, generator=gen))
            for g in range(kv_heads):
                sub = basis[:, g * hd : (g + 1) * hd].T  # (hd, d): an orthonormal slice of the residual space
                att.v_proj.weight[g * hd : (g + 1) * hd] = sub
                h = g * (q_heads // kv_heads)  # the group's first query head writes it back
                att.o_proj.weight[:, h * hd : (h + 1) * hd] = sub.T


# The scale of the LM's residual stream after its first layer (measured on a trained student: ~8-13).
IMAGE_FEATURE_NORM = 8.0


def calibrate_projector(model, model_dir: str | Path, *, frame_marker: float = 0.0) -> dict:
    """Stand-in for a pretrained, language-aligned vision tower: set the projector once so that a palette frame's
    visual token is its colour word's embedding, scaled to the residual stream.

    Real LongVT starts from Qwen2.5-VL, whose ViT and projector were pretrained to put what a frame shows into the
    language model's space; that alignment is not what the miniature is about, and a 0.8M-parameter student does not
    learn it from scratch in minutes on a CPU. What was measured without it: trained end to end, the tower collapsed
    every palette frame onto one embedding (cosine 1.0); frozen at its random init, the frames' tokens were drowned
    in the residual stream (norm ~0.3 against ~8) and after 700 steps the student named 6 of 12 colours from a
    single frame and one colour for every skim frame. So the tower stays frozen (recipes/miniature freeze
    `model.visual`) and its last projector layer is solved here (least squares over the palette frames) to map
    each frame to `IMAGE_FEATURE_NORM` x the unit embedding of " <colour>". Everything after that - reading the
    right frame, cropping the right window, answering - is learned by SFT. Both families: the merger's last linear
    layer is solved (`_projector_output_layer`); Qwen3-VL's deepstack mergers are zeroed (`_silence_deepstack`).

    `frame_marker` > 0 adds one shared direction, orthogonal to every palette word, to each frame's target (the
    sum is rescaled to the same norm): a frame then reads as its colour word *and* as "a frame", as a pretrained
    VLM's visual tokens sit apart from its text tokens. Without it a frame of red and the word " red" are the same
    vector after the layer norm, so nothing but position tells the question's colour word from the skim's frames
    (miniature v2, BENCHMARKS.md "Miniature v2").
    """
    import torch
    from PIL import Image
    from transformers import AutoProcessor

    from longvt_plugins.miniature.task import PALETTE, colour_frame

    proc = AutoProcessor.from_pretrained(model_dir)
    names = list(PALETTE)
    ids = [proc.tokenizer.encode(" " + n, add_special_tokens=False) for n in names]
    if any(len(i) != 1 for i in ids):
        raise RuntimeError(
            f"every colour must be one token of the student's tokenizer: {dict(zip(names, ids, strict=True))}"
        )
    # One visual token per frame, as the budgets give it (28x28 = FRAME_PIXELS for Qwen2.5-VL's 14-px patches;
    # 32x32 for Qwen3-VL's 16-px patches: the smallest multiple of patch x merge).
    side = 2 * PATCH_SIZES[family_of(model.config.model_type)]
    frames = [Image.fromarray(colour_frame(n)).resize((side, side), Image.BICUBIC) for n in names]
    px = proc.image_processor(
        images=frames, return_tensors="pt", min_pixels=side * side, max_pixels=side * side
    )
    visual = model.model.visual
    last = _projector_output_layer(visual.merger)
    _silence_deepstack(visual)
    seen: list = []
    hook = last.register_forward_hook(lambda mod, args, out: seen.append(args[0]))
    with torch.no_grad():
        visual(px["pixel_values"], grid_thw=px["image_grid_thw"])
        hook.remove()
        hidden = seen[0]  # (12, d): the projector's hidden layer, one row per palette frame
        words = model.get_input_embeddings().weight[[i[0] for i in ids]]
        unit = torch.nn.functional.normalize(words, dim=-1)
        if frame_marker > 0:
            unit = unit + frame_marker * _marker_direction(words)
        target = IMAGE_FEATURE_NORM * torch.nn.functional.normalize(unit, dim=-1)
        ones = torch.ones(len(names), 1)
        sol = torch.linalg.lstsq(torch.cat([hidden, ones], 1), target, driver="gelsd").solution  # (d+1, out)
        last.weight.copy_(sol[:-1].T)
        last.bias.copy_(sol[-1])
        out = visual(px["pixel_values"], grid_thw=px["image_grid_thw"])
        out = out.pooler_output if hasattr(out, "pooler_output") else out
    fit = float((out - target).norm(dim=-1).max())
    return {"colours": len(names), "max_fit_error": fit, "norm": float(out.norm(dim=-1).mean())}


def _projector_output_layer(merger):
    """The last linear layer of the vision merger: `mlp[-1]` (Qwen2.5-VL), `linear_fc2` (Qwen3-VL)."""
    return merger.mlp[-1] if hasattr(merger, "mlp") else merger.linear_fc2


def _silence_deepstack(visual) -> None:
    """Qwen3-VL only: zero the deepstack mergers' output layers, so they add nothing to the LM's first layers.

    Why: deepstack adds features of intermediate vision layers to the hidden states at the visual positions of the
    first decoder layers. From a frozen random tower they are noise of the same order as the calibrated token (the
    frame would no longer read as its colour word). A pretrained Qwen3-VL's deepstack carries fine detail; one
    visual token of a 4x4 texture has none to carry. The tower stays frozen in SFT, so they stay zero."""
    import torch

    with torch.no_grad():
        for merger in getattr(visual, "deepstack_merger_list", None) or []:
            layer = _projector_output_layer(merger)
            layer.weight.zero_()
            if layer.bias is not None:
                layer.bias.zero_()


def _marker_direction(words):
    """A fixed unit vector orthogonal to the span of `words` (rows): seeded, so every student of a size gets it."""
    import torch

    gen = torch.Generator().manual_seed(1234)
    v = torch.randn(words.shape[1], generator=gen, dtype=words.dtype)
    basis, _ = torch.linalg.qr(words.T)  # (d, n): orthonormal span of the palette words
    v = v - basis @ (basis.T @ v)
    return v / v.norm()
