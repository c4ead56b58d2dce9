"""A tiny, random-weight Qwen2.5-VL (and Qwen3-VL) checkpoint built offline from a config.

It exercises every real code path - `AutoProcessor.from_pretrained`, `Qwen2_5_VLForConditionalGeneration
.from_pretrained`, video input through the real processor, `generate()`, backward - in well under a second on CPU.
It knows nothing: it shows the machinery, never the intelligence.

The tokenizer is a byte-level BPE trained locally with `tokenizers` (no Qwen files can be downloaded here), wrapped
as the real `Qwen2Tokenizer` class, and carries every Qwen special token the hosts look up by name.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

# Special tokens of the Qwen2.5-VL tokenizer (ids are ours; names are what processors and hosts look up).
QWEN_SPECIAL_TOKENS = [
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|object_ref_start|>",
    "<|object_ref_end|>",
    "<|box_start|>",
    "<|box_end|>",
    "<|quad_start|>",
    "<|quad_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|vision_pad|>",
    "<|image_pad|>",
    "<|video_pad|>",
]
# Added (non-special) tokens: kept as one id each, and not stripped by skip_special_tokens (hosts parse them).
QWEN_ADDED_TOKENS = [
    "<tool_call>",
    "</tool_call>",
    "<tool_response>",
    "</tool_response>",
    "<think>",
    "</think>",
]

_CORPUS = [
    "You are a helpful assistant. Think step by step, call tools when you need a closer look, then answer.",
    'The video lasts 120.0 seconds. Frames at 0.0s 10.0s 20.0s. {"name": "crop_video", "arguments": '
    '{"start_time": 12.5, "end_time": 30.0}}',
    "<answer>B</answer> The answer is (C). Option A. red circle blue square green triangle yellow cross",
    "What colour is the shape in the scene that starts at 40 seconds? Which scene comes after the cut?",
    "0123456789 .,:;!?()[]{}<>\"' abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ",
]


def chat_template_text() -> str:
    """Our Qwen2.5-VL tool-calling chat template (one file, shared with the verl plugin and the SFT processor)."""
    return resources.files("longvt_plugins.templates").joinpath("qwen2_5_vl_tools.jinja").read_text()


def build_tokenizer(vocab_size: int = 600, corpus: list[str] | None = None):
    """corpus: extra text to learn merges from (the miniature model adds its prompts, so they cost few tokens)."""
    return qwen_tokenizer(*train_bpe(vocab_size, corpus))


def train_bpe(
    vocab_size: int, corpus: list[str] | None = None
) -> tuple[dict[str, int], list[tuple[str, str]]]:
    """(vocab, merges) of a byte-level BPE learnt here from the fixtures' corpus plus `corpus`."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    bpe.train_from_iterator((_CORPUS + list(corpus or [])) * 4, trainer=trainer)
    state = json.loads(bpe.to_str())
    merges = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in state["model"]["merges"]]
    return dict(state["model"]["vocab"]), merges


def qwen_tokenizer(vocab: dict[str, int], merges: list[tuple[str, str]]):
    """The real `Qwen2Tokenizer` class over `vocab`/`merges`, with every Qwen special and added token the hosts look
    up by name (new ids after `vocab` unless `vocab` already places them) and our tool chat template."""
    from transformers import Qwen2Tokenizer

    tok = Qwen2Tokenizer(
        vocab=vocab,
        merges=merges,
        unk_token=None,
        bos_token=None,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
    )
    tok.add_special_tokens({"additional_special_tokens": QWEN_SPECIAL_TOKENS})
    tok.add_tokens(QWEN_ADDED_TOKENS, special_tokens=False)
    tok.chat_template = chat_template_text()
    return tok


def build_processor(tokenizer):
    from transformers import Qwen2_5_VLProcessor, Qwen2VLImageProcessor, Qwen2VLVideoProcessor

    # Small pixel budgets keep CPU tests fast; they are only the defaults - callers pass their own.
    image_processor = Qwen2VLImageProcessor(min_pixels=28 * 28, max_pixels=56 * 56 * 4)
    video_processor = Qwen2VLVideoProcessor(min_pixels=28 * 28, max_pixels=56 * 56 * 4)
    return Qwen2_5_VLProcessor(
        image_processor=image_processor,
        video_processor=video_processor,
        tokenizer=tokenizer,
        chat_template=tokenizer.chat_template,
    )


def build_config(tokenizer, *, hidden_size: int = 64, layers: int = 2):
    from transformers import Qwen2_5_VLConfig

    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in QWEN_SPECIAL_TOKENS}
    heads = 4
    head_dim = hidden_size // heads
    half = head_dim // 2
    mrope = [half - 2 * (half // 3), half // 3, half // 3]  # sums to head_dim / 2, as M-RoPE requires
    text_config = dict(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=hidden_size * 2,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=2,
        max_position_embeddings=32768,
        rope_parameters={"rope_type": "default", "rope_theta": 1000000.0, "mrope_section": mrope},
        tie_word_embeddings=True,
        bos_token_id=None,
        eos_token_id=ids["<|im_end|>"],
        pad_token_id=ids["<|endoftext|>"],
    )
    vision_config = dict(
        depth=2,
        hidden_size=32,
        intermediate_size=64,
        num_heads=2,
        out_hidden_size=hidden_size,
        patch_size=14,
        spatial_merge_size=2,
        temporal_patch_size=2,
        window_size=112,
        fullatt_block_indexes=[1],
        in_channels=3,
    )
    return Qwen2_5_VLConfig(
        text_config=text_config,
        vision_config=vision_config,
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
        vision_token_id=ids["<|vision_pad|>"],
        eos_token_id=ids["<|im_end|>"],
        pad_token_id=ids["<|endoftext|>"],
        tie_word_embeddings=True,
    )


def _save_random_checkpoint(model_cls, config, processor, tok, out: Path, seed: int, label: str) -> Path:
    """Random-initialise `model_cls(config)` reproducibly and write it with its processor and a marker file."""
    import torch
    from transformers import GenerationConfig

    torch.manual_seed(seed)
    model = model_cls(config)
    end, pad = tok.convert_tokens_to_ids("<|im_end|>"), tok.convert_tokens_to_ids("<|endoftext|>")
    model.generation_config = GenerationConfig(eos_token_id=[end, pad], pad_token_id=pad, do_sample=False)
    model.save_pretrained(out)
    processor.save_pretrained(out)
    (out / "LONGVT_TINY_RANDOM_MODEL.txt").write_text(
        f"Random-weight tiny {label} built by longvt_plugins.testing. It shows the machinery, not the intelligence.\n"
    )
    return out


def make_tiny_qwen25vl(out_dir: str | Path, *, seed: int = 0) -> Path:
    """Write a loadable tiny Qwen2.5-VL checkpoint (config, safetensors, tokenizer, processor) to `out_dir`."""
    from transformers import Qwen2_5_VLForConditionalGeneration

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tok = build_tokenizer()
    return _save_random_checkpoint(
        Qwen2_5_VLForConditionalGeneration,
        build_config(tok),
        build_processor(tok),
        tok,
        out,
        seed,
        "Qwen2.5-VL",
    )


def _cached(name: str, builder, cache_dir: str | Path | None) -> Path:
    """Build a checkpoint once into the cache (atomically: a half-written one is never picked up)."""
    import shutil
    import tempfile

    from longvt_plugins.testing.cache import cache_root

    root = Path(cache_dir) if cache_dir else cache_root()
    final = root / "models" / name
    if (final / "LONGVT_TINY_RANDOM_MODEL.txt").exists():
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=final.parent, prefix=".build-"))
    builder(tmp)
    try:
        tmp.rename(final)
    except OSError:  # another process won the race
        shutil.rmtree(tmp, ignore_errors=True)
    return final


def tiny_qwen25vl(cache_dir: str | Path | None = None) -> Path:
    """The cached tiny Qwen2.5-VL checkpoint (built on first use)."""
    return _cached("tiny-qwen2.5-vl", make_tiny_qwen25vl, cache_dir)


def tiny_qwen3vl(cache_dir: str | Path | None = None) -> Path:
    """The cached tiny Qwen3-VL checkpoint (built on first use)."""
    return _cached(
        "tiny-qwen3-vl-v2", make_tiny_qwen3vl, cache_dir
    )  # v2: carries the Qwen3-VL stand-in template


def qwen3_standin_template() -> str:
    """The tiny Qwen3-VL's own chat template: a stand-in, written here, for a real checkpoint's (assets/)."""
    return resources.files("longvt_plugins.testing").joinpath("assets/qwen3_vl_standin.jinja").read_text()


def build_qwen3_processor(tokenizer):
    """Qwen3-VL's processor (patch 16) around the local tokenizer, with the stand-in tool template."""
    from transformers import Qwen2VLImageProcessor, Qwen3VLProcessor, Qwen3VLVideoProcessor

    tokenizer.chat_template = qwen3_standin_template()
    pixels = dict(min_pixels=32 * 32, max_pixels=64 * 64 * 4)
    return Qwen3VLProcessor(
        image_processor=Qwen2VLImageProcessor(patch_size=16, **pixels),
        video_processor=Qwen3VLVideoProcessor(
            patch_size=16, size={"shortest_edge": 32 * 32, "longest_edge": 64 * 64 * 8}
        ),
        tokenizer=tokenizer,
        chat_template=tokenizer.chat_template,
    )


def build_qwen3_config(tokenizer, *, hidden_size: int = 64, layers: int = 2):
    """A small Qwen3-VL config: 4 query / 2 key-value heads, interleaved M-RoPE, one deepstack layer."""
    from transformers import Qwen3VLConfig

    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in QWEN_SPECIAL_TOKENS}
    heads = 4
    half = hidden_size // heads // 2
    third = (half + 1) // 3
    return Qwen3VLConfig(
        text_config=dict(
            vocab_size=len(tokenizer),
            hidden_size=hidden_size,
            intermediate_size=hidden_size * 2,
            num_hidden_layers=layers,
            num_attention_heads=heads,
            num_key_value_heads=2,
            head_dim=hidden_size // heads,
            max_position_embeddings=32768,
            rope_parameters={
                "rope_type": "default",
                "rope_theta": 5000000.0,
                "mrope_section": [half - 2 * third, third, third],  # sums to head_dim / 2
                "mrope_interleaved": True,
            },
            pad_token_id=ids["<|endoftext|>"],
        ),
        vision_config=dict(
            depth=2,
            hidden_size=32,
            intermediate_size=64,
            num_heads=2,
            out_hidden_size=hidden_size,
            patch_size=16,
            spatial_merge_size=2,
            temporal_patch_size=2,
            num_position_embeddings=144,
            deepstack_visual_indexes=[0],
        ),
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
        tie_word_embeddings=True,
    )


def make_tiny_qwen3vl(out_dir: str | Path, *, seed: int = 0) -> Path:
    """A tiny random Qwen3-VL checkpoint. Real Qwen3-VL checkpoints ship their own tool template; this tiny one
    carries a stand-in written to Qwen3-VL's conventions (`qwen3_standin_template`), which differs from our
    Qwen2.5-VL template (no default system turn), so a host that picked the wrong template is seen."""
    from transformers import Qwen3VLForConditionalGeneration

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tok = build_tokenizer()
    processor = build_qwen3_processor(tok)
    config = build_qwen3_config(tok)
    return _save_random_checkpoint(
        Qwen3VLForConditionalGeneration, config, processor, tok, out, seed, "Qwen3-VL"
    )
