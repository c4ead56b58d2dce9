"""A cost stand-in for a paper-scale model: the real model's shapes, no knowledge (issue 30, item 1).

What it is for: measuring what a 7B LongVT run costs (vLLM prefill and decode, KV cache, multimodal processing, the
trainer's memory and step time) on a host that cannot download the real weights. vLLM serves it with
`--load-format dummy` (no weight files at all); a trainer gets random weights (`weights="random"`, built on the
device that will use them: about 16 GB in bf16).

What is real: every size in the model config (`SHAPES`: the published config.json of the checkpoint, set field by
field - transformers' `Qwen2_5_VLConfig()` defaults are 72B-sized, not 7B), the vocabulary size and the special
token ids (151643 on), the image processor's pixel limits, and the chat template's tool format.
What is not: the tokenizer's merges. It is the fixtures' byte-level BPE (`testing.tiny_model.build_tokenizer`),
padded with unreachable entries to the real vocabulary size, so English text costs roughly twice the real number of
tokens; frames, which are most of a long-video prompt, cost exactly what they cost the real model. The answers are
noise: it is a cost stand-in, never a model.
"""

from __future__ import annotations

from pathlib import Path

# Published config.json values (Qwen/Qwen2.5-VL-7B-Instruct).
SHAPES: dict[str, dict] = {
    "qwen2.5-vl-7b": {
        "text": {
            "vocab_size": 152064,
            "hidden_size": 3584,
            "intermediate_size": 18944,
            "num_hidden_layers": 28,
            "num_attention_heads": 28,
            "num_key_value_heads": 4,
            "max_position_embeddings": 128000,
            "rms_norm_eps": 1e-6,
            "rope_theta": 1000000.0,
            "mrope_section": [16, 24, 24],
            "sliding_window": 32768,
            "max_window_layers": 28,
            "tie_word_embeddings": False,
        },
        "vision": {
            "depth": 32,
            "hidden_size": 1280,
            "intermediate_size": 3420,
            "num_heads": 16,
            "out_hidden_size": 3584,
            "patch_size": 14,
            "spatial_merge_size": 2,
            "temporal_patch_size": 2,
            "window_size": 112,
            "fullatt_block_indexes": [7, 15, 23, 31],
            "tokens_per_second": 2,
            "in_channels": 3,
        },
        # preprocessor_config.json: 4 to 16,384 merged tokens an image
        "image_pixels": (3136, 12845056),
        "regular_tokens": 151643,  # ids below the first special token, <|endoftext|>
    }
}
MARKER = "LONGVT_COST_STANDIN.txt"


def _padded_tokenizer(regular_tokens: int):
    """The fixtures' BPE, its vocabulary padded to `regular_tokens` so the special tokens get the real ids."""
    from longvt_plugins.testing.tiny_model import (
        QWEN_ADDED_TOKENS,
        QWEN_SPECIAL_TOKENS,
        qwen_tokenizer,
        train_bpe,
    )

    vocab, merges = train_bpe(4000)
    # No merge produces these entries, so no text ever encodes to them: they only give the vocabulary its size.
    for i in range(regular_tokens - len(vocab)):
        vocab[f"<|standin_{i}|>"] = len(vocab)
    # the special and added tokens in the real tokenizer's order, so each gets its real id (151643 on)
    for t in (*QWEN_SPECIAL_TOKENS, *QWEN_ADDED_TOKENS):
        vocab[t] = len(vocab)
    return qwen_tokenizer(vocab, merges)


def standin_config(shape: str, tokenizer):
    from transformers import Qwen2_5_VLConfig

    if shape not in SHAPES:
        raise ValueError(f"unknown shape {shape!r}; known: {', '.join(SHAPES)}")
    spec = SHAPES[shape]
    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in ("<|im_end|>", "<|endoftext|>")}
    text = dict(spec["text"])
    mrope, theta = text.pop("mrope_section"), text.pop("rope_theta")
    text.update(
        rope_parameters={"rope_type": "default", "rope_theta": theta, "mrope_section": mrope},
        bos_token_id=ids["<|endoftext|>"],
        eos_token_id=ids["<|im_end|>"],
        pad_token_id=ids["<|endoftext|>"],
    )
    token = tokenizer.convert_tokens_to_ids
    return Qwen2_5_VLConfig(
        text_config=text,
        vision_config=dict(spec["vision"]),
        image_token_id=token("<|image_pad|>"),
        video_token_id=token("<|video_pad|>"),
        vision_start_token_id=token("<|vision_start|>"),
        vision_end_token_id=token("<|vision_end|>"),
        vision_token_id=token("<|vision_pad|>"),
        eos_token_id=ids["<|im_end|>"],
        pad_token_id=ids["<|endoftext|>"],
        tie_word_embeddings=spec["text"]["tie_word_embeddings"],
    )


def make_cost_standin(
    out_dir: str | Path, shape: str = "qwen2.5-vl-7b", *, weights: str = "none", device: str = "cuda"
) -> Path:
    """Write the stand-in of `shape` to `out_dir`: config, tokenizer, processor, chat template, and weights if
    `weights="random"` (initialised on `device`, saved in bf16). `weights="none"` is for `vllm serve
    --load-format dummy`."""
    from transformers import Qwen2_5_VLProcessor, Qwen2VLImageProcessor, Qwen2VLVideoProcessor

    if weights not in ("none", "random"):
        raise ValueError(f"weights must be 'none' or 'random', got {weights!r}")
    if shape not in SHAPES:
        raise ValueError(f"unknown shape {shape!r}; known: {', '.join(SHAPES)}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tok = _padded_tokenizer(SHAPES[shape]["regular_tokens"])
    config = standin_config(shape, tok)
    lo, hi = SHAPES[shape]["image_pixels"]
    processor = Qwen2_5_VLProcessor(
        image_processor=Qwen2VLImageProcessor(min_pixels=lo, max_pixels=hi),
        video_processor=Qwen2VLVideoProcessor(),  # transformers' Qwen2-VL video defaults, as the real repo ships none
        tokenizer=tok,
        chat_template=tok.chat_template,
    )
    config.save_pretrained(out)
    processor.save_pretrained(out)
    if weights == "random":
        import torch
        from transformers import Qwen2_5_VLForConditionalGeneration

        torch.manual_seed(0)
        with torch.device(device):
            model = Qwen2_5_VLForConditionalGeneration._from_config(config, torch_dtype=torch.bfloat16)
        model.save_pretrained(out)
    (out / MARKER).write_text(
        f"Cost stand-in of {shape} built by longvt_plugins.testing.cost_standin: the real shapes, no knowledge "
        f"(weights: {weights}). For measuring cost only.\n"
    )
    return out


def parameter_count(shape: str = "qwen2.5-vl-7b") -> int:
    """Parameters of the stand-in, counted on the meta device (no memory, no weights)."""
    import torch
    from transformers import Qwen2_5_VLForConditionalGeneration

    config = standin_config(shape, _padded_tokenizer(SHAPES[shape]["regular_tokens"]))
    with torch.device("meta"):
        model = Qwen2_5_VLForConditionalGeneration._from_config(config)
    return sum(p.numel() for p in model.parameters())
