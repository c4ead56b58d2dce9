"""The 7B-shaped cost stand-in (`longvt testing make-model --shape qwen2.5-vl-7b`, issue 30 item 1): what vLLM
(`--load-format dummy`) and a trainer read from it must be the real model's - sizes, vocabulary, special-token ids,
image pixel limits - and it must say it is a stand-in."""

from __future__ import annotations

import json

import pytest


@pytest.fixture(scope="module")
def standin(tmp_path_factory):
    from typer.testing import CliRunner

    from longvt_plugins.cli import app

    out = tmp_path_factory.mktemp("standin") / "qwen2.5-vl-7b"
    result = CliRunner().invoke(app, ["testing", "make-model", str(out), "--shape", "qwen2.5-vl-7b"])
    assert result.exit_code == 0, result.output
    return out


def test_config_reloads_with_the_published_sizes_and_no_weights(standin):
    from transformers import AutoConfig

    cfg = AutoConfig.from_pretrained(standin)
    text, vision = cfg.text_config, cfg.vision_config
    assert (text.hidden_size, text.intermediate_size, text.num_hidden_layers) == (3584, 18944, 28)
    assert (text.num_attention_heads, text.num_key_value_heads, text.vocab_size) == (28, 4, 152064)
    assert text.rope_parameters["mrope_section"] == [16, 24, 24] and text.rope_parameters["rope_theta"] == 1e6
    assert cfg.tie_word_embeddings is False and text.tie_word_embeddings is False
    assert (vision.depth, vision.hidden_size, vision.out_hidden_size, vision.patch_size) == (
        32,
        1280,
        3584,
        14,
    )
    assert vision.fullatt_block_indexes == [7, 15, 23, 31] and vision.window_size == 112
    assert not list(standin.glob("*.safetensors"))  # served with --load-format dummy
    assert "Cost stand-in" in (standin / "LONGVT_COST_STANDIN.txt").read_text()


def test_the_shapes_compose_to_the_real_models_parameter_count():
    from longvt_plugins.testing.cost_standin import parameter_count

    # Qwen2.5-VL-7B-Instruct has 8.29 B parameters (language model, untied head, vision tower and merger)
    assert 8.28e9 < parameter_count("qwen2.5-vl-7b") < 8.30e9


def test_special_tokens_have_the_real_ids_and_images_cost_the_real_tokens(standin):
    import numpy as np
    from PIL import Image
    from transformers import AutoProcessor

    proc = AutoProcessor.from_pretrained(standin)
    tok = proc.tokenizer
    real = {"<|endoftext|>": 151643, "<|im_start|>": 151644, "<|im_end|>": 151645, "<|vision_start|>": 151652,
            "<|vision_end|>": 151653, "<|image_pad|>": 151655, "<|video_pad|>": 151656, "<tool_call>": 151657,
            "</tool_call>": 151658}  # fmt: skip
    assert {t: tok.convert_tokens_to_ids(t) for t in real} == real
    cfg = json.loads((standin / "config.json").read_text())
    assert cfg["image_token_id"] == 151655 and cfg["video_token_id"] == 151656
    text = "What colour flashes in the red scene? <answer>blue</answer>"
    ids = tok.encode(text)
    assert tok.decode(ids) == text and max(ids) < 151643  # padding entries are never produced
    size = proc.image_processor.size
    assert (size["shortest_edge"], size["longest_edge"]) == (3136, 12845056)
    # a 224x224 frame: 16x16 patches of 14 px, merged 2x2 -> 64 tokens, as the real processor gives
    px = proc.image_processor(
        images=[Image.fromarray(np.zeros((224, 224, 3), np.uint8))], return_tensors="pt"
    )
    assert int(px["image_grid_thw"].prod()) // 4 == 64


def test_unknown_shape_or_weights_are_refused(tmp_path):
    from longvt_plugins.testing.cost_standin import make_cost_standin

    with pytest.raises(ValueError, match="unknown shape"):
        make_cost_standin(tmp_path / "x", "qwen9-vl-1t")
    with pytest.raises(ValueError, match="weights must be"):
        make_cost_standin(tmp_path / "y", weights="pretrained")
