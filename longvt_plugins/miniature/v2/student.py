"""v2 students of several sizes: v1's student recipe (`miniature.model`: Qwen2.5-VL classes, copy-head init, the
projector calibrated onto the colour words) with v2's tokenizer and a size picked by measurement.

Why sizes: v1's 0.8M-parameter student never learned to match the asked colour against the skim entries on 2 CPU
cores (docs/miniature.md, "What the first task family taught us"); v2 needs that match, so the size is chosen by
training several on the GPU host and scoring each on the held-out sets (`miniature.v2.train`).
"""

from __future__ import annotations

from pathlib import Path

# name -> (hidden size, layers); 4 attention heads, 2 key/value heads, as the tiny fixture builds them.
SIZES = {"xs": (128, 4), "s": (256, 4), "m": (384, 6), "l": (512, 8)}


def make_student_v2(
    out_dir: str | Path, size: str = "s", *, seed: int = 0, frame_marker: float = 0.0, tie_case: bool = False
) -> Path:
    """Write an untrained v2 student (config, initialised weights, tokenizer, processor) to `out_dir`.

    `frame_marker`: see `miniature.model.calibrate_projector` (0 = frames are exactly their colour words).
    `tie_case`: see `tie_case_variants`."""
    from transformers import Qwen2_5_VLForConditionalGeneration

    from longvt_plugins.miniature.model import calibrate_projector, init_copy_heads
    from longvt_plugins.miniature.v2.vocab import build_tokenizer
    from longvt_plugins.testing.tiny_model import _save_random_checkpoint, build_config, build_processor

    if size not in SIZES:
        raise ValueError(f"size must be one of {', '.join(SIZES)}, got {size!r}")
    hidden, layers = SIZES[size]
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tok = build_tokenizer()
    config = build_config(tok, hidden_size=hidden, layers=layers)
    path = _save_random_checkpoint(
        Qwen2_5_VLForConditionalGeneration, config, build_processor(tok), tok, out, seed,
        f"Qwen2.5-VL (miniature v2, size {size})",
    )  # fmt: skip
    model = Qwen2_5_VLForConditionalGeneration.from_pretrained(path)
    init_copy_heads(model, seed=seed)
    if tie_case:
        tie_case_variants(model, tok, seed=seed)
    calibrate_projector(model, path, frame_marker=frame_marker)
    model.save_pretrained(path)
    return path


def tie_case_variants(model, tokenizer, *, seed: int = 0, offset: float = 0.5) -> int:
    """Stand-in for what a pretrained LM knows about case: " Red" and " RED" start as " red" plus one shared
    direction per case style (offset x the word's norm), instead of unrelated random vectors. Returns how many
    embeddings were set.

    Why: v2 questions come in five cases (`questions.CASES`), three of which write the colour as " Red" or " RED",
    each its own token of the student's BPE. After "Asked:" the student must write " red"; its copy heads
    (`init_copy_heads`) copy the token they attend to, which is right only for the two lower-case styles. Learning
    sixteen case mappings from scratch is work a real base model never has to do in SFT.
    """
    import torch

    from longvt_plugins.miniature.task import PALETTE

    emb = model.get_input_embeddings().weight
    gen = torch.Generator().manual_seed(seed + 7)
    styles = {"title": str.capitalize, "upper": str.upper}
    dirs = {k: torch.nn.functional.normalize(torch.randn(emb.shape[1], generator=gen), dim=0) for k in styles}
    n = 0
    with torch.no_grad():
        for word in PALETTE:
            (base,) = tokenizer.encode(" " + word, add_special_tokens=False)
            for style, cased in styles.items():
                ids = tokenizer.encode(" " + cased(word), add_special_tokens=False)
                if len(ids) == 1 and ids[0] != base:  # a cased form that is its own token
                    emb[ids[0]] = emb[base] + offset * emb[base].norm() * dirs[style].to(emb.dtype)
                    n += 1
    return n


def parameter_count(model_dir: str | Path) -> int:
    from transformers import Qwen2_5_VLForConditionalGeneration

    model = Qwen2_5_VLForConditionalGeneration.from_pretrained(model_dir)
    return sum(p.numel() for p in model.parameters())
