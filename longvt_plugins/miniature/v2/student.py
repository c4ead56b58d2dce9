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


def make_student_v2(out_dir: str | Path, size: str = "s", *, seed: int = 0) -> Path:
    """Write an untrained v2 student (config, initialised weights, tokenizer, processor) to `out_dir`."""
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
    calibrate_projector(model, path)
    model.save_pretrained(path)
    return path


def parameter_count(model_dir: str | Path) -> int:
    from transformers import Qwen2_5_VLForConditionalGeneration

    model = Qwen2_5_VLForConditionalGeneration.from_pretrained(model_dir)
    return sum(p.numel() for p in model.parameters())
