"""Qwen3-VL through every host: its time labels (the real Qwen3VLProcessor is the oracle), its own chat template
chosen from the checkpoint's config, and exact loss masks in lmms-engine. Shared behaviour runs for both families.
"""

from __future__ import annotations

import json
import re

import pytest

from longvt_plugins.core.families import QWEN2_5_VL, QWEN3_VL
from longvt_plugins.testing.sft_rows import tool_trace_row, write_jsonl

SECONDS = re.compile(r"<\d+\.\d seconds>")
SMALL = 32 * 32 * 4


@pytest.fixture(scope="module")
def checkpoints(tiny_model_dir, tiny_qwen3_dir):
    return {QWEN2_5_VL: tiny_model_dir, QWEN3_VL: tiny_qwen3_dir}


def processor_labels(processor, frames, indices, fps, total):
    """What Qwen3-VL's own processor writes for these frames given as a video: its text, decoded."""
    import numpy as np
    from transformers.video_utils import VideoMetadata

    meta = VideoMetadata(total_num_frames=total, fps=fps, frames_indices=list(indices))
    out = processor(
        text=["<|vision_start|><|video_pad|><|vision_end|>"],
        videos=[np.stack([np.asarray(f) for f in frames])],
        video_metadata=[meta],
        do_sample_frames=False,
        return_tensors="pt",
    )
    text = processor.tokenizer.decode(out["input_ids"][0])
    return SECONDS.findall(text), int(out["video_grid_thw"][0][0])


def our_labels(parts):
    """Labels and how many frames follow each, from `timestamped_parts` output."""
    labels, per = [], []
    for p in parts:
        if p["type"] == "text":
            labels.append(p["text"])
            per.append(0)
        else:
            per[-1] += 1
    return labels, per


@pytest.mark.parametrize(
    "window,fps",
    [((0.0, 30.0), 1.0), ((14.0, 17.5), 2.0), ((40.25, 44.0), 4.0)],
    ids=["1fps", "2fps", "4fps"],
)
def test_crop_frames_carry_the_labels_qwen3_vl_processor_writes(tiny_qwen3_dir, sample_video, window, fps):
    from transformers import AutoProcessor

    from longvt_plugins.core.crop_tool import CropBudget, CropVideoTool

    result = CropVideoTool(
        sample_video.path, CropBudget(fps=fps, max_frames=16, max_pixels=SMALL, patch_size=16)
    )
    result = result.execute({"start_time": window[0], "end_time": window[1]})
    assert result.ok, result.text
    labels, per = our_labels(result.content_parts(QWEN3_VL)[:-1])
    oracle, patches = processor_labels(
        AutoProcessor.from_pretrained(tiny_qwen3_dir),
        result.frames,
        result.indices,
        result.video_fps,
        sample_video.num_frames,
    )
    assert labels == oracle and len(labels) == patches
    assert all(n == 2 for n in per[:-1]) and per[-1] in (1, 2)  # frames in temporal pairs
    # Qwen2.5-VL keeps one millisecond label per frame
    labels25, per25 = our_labels(result.content_parts(QWEN2_5_VL)[:-1])
    assert per25 == [1] * len(result.frames) and labels25[0].endswith("s>") and "seconds" not in labels25[0]


def test_an_odd_frame_is_paired_with_itself_as_the_processor_pads_it(tiny_qwen3_dir):
    from PIL import Image
    from transformers import AutoProcessor

    from longvt_plugins.core.crop_tool import label_times, timestamped_parts

    frames = [Image.new("RGB", (64, 64), (40 * k, 0, 0)) for k in range(3)]
    indices, fps = [3, 13, 22], 4.0  # 0.75 s, 3.25 s, 5.5 s: pair means 2.0 and 5.5
    parts = timestamped_parts(frames, label_times(QWEN3_VL, [9.0, 9.0, 9.0], indices, fps), QWEN3_VL)
    labels, per = our_labels(parts)
    oracle, _ = processor_labels(AutoProcessor.from_pretrained(tiny_qwen3_dir), frames, indices, fps, 40)
    assert labels == oracle == ["<2.0 seconds>", "<5.5 seconds>"] and per == [2, 1]


@pytest.mark.parametrize("family", [QWEN2_5_VL, QWEN3_VL])
def test_in_process_agent_labels_the_skim_for_the_checkpoint_family(checkpoints, family, short_video):
    from transformers import AutoProcessor

    from longvt_plugins.core.agent import AgentBudgets, run_agent
    from longvt_plugins.core.backends import GenerationParams, TransformersBackend
    from longvt_plugins.core.budget import FrameBudget
    from longvt_plugins.core.video import sample_video

    backend = TransformersBackend(checkpoints[family], device="cpu")
    assert backend.family == family
    # the checkpoint's own template for Qwen3-VL, ours for Qwen2.5-VL
    from longvt_plugins.testing.tiny_model import chat_template_text, qwen3_standin_template

    want = qwen3_standin_template() if family == QWEN3_VL else chat_template_text()
    assert backend.chat_template == want
    skim = FrameBudget(fps=1.0, max_frames=6, max_pixels=SMALL, patch_size=backend.patch_size)
    trace = run_agent(
        short_video.path,
        "Which colour?",
        backend,
        AgentBudgets(skim=skim, max_turns=1, max_new_tokens=4),
        params=GenerationParams(max_tokens=4),
    )
    assert trace.error is None
    first = next(m for m in trace.messages if m["role"] == "user")
    texts = [p["text"] for p in first["content"] if p["type"] == "text"]
    got = sample_video(short_video.path, skim)
    if family == QWEN3_VL:
        oracle, _ = processor_labels(
            AutoProcessor.from_pretrained(checkpoints[family]),
            got.to_pil(),
            got.indices,
            got.info.fps,
            got.info.num_frames,
        )
        assert [t for t in texts if SECONDS.fullmatch(t)] == oracle
    else:
        assert sum(bool(re.fullmatch(r"<\d+(\.\d+)?s>", t)) for t in texts) == len(got)


# ------------------------------------------------------------------------------------------------- lmms-engine
@pytest.fixture(scope="module")
def qwen3_dataset(tiny_qwen3_dir, sample_video, tmp_path_factory):
    from test_lmms_engine_dataset import build_dataset

    root = tmp_path_factory.mktemp("q3traces")
    rows = [
        tool_trace_row(sample_video.path, row_id="q3", clip=(10.0, 20.0), crops=[(14.0, 18.0), (15.0, 17.0)])
    ]
    path = write_jsonl(rows, root / "rows.jsonl")
    return build_dataset(path, root, tiny_qwen3_dir, root)


def test_lmms_engine_picks_qwen3_vl_and_its_template_from_the_config(qwen3_dataset, tiny_qwen3_dir):
    from longvt_plugins.testing.tiny_model import qwen3_standin_template

    proc = qwen3_dataset.processor
    assert proc.family == QWEN3_VL and proc.chat_template == qwen3_standin_template()


def test_lmms_engine_qwen3_vl_sample_masks_and_timestamps(qwen3_dataset, tiny_qwen3_dir, sample_video):
    from test_lmms_engine_dataset import CROP_BUDGET
    from transformers import AutoProcessor

    from longvt_plugins.core.crop_tool import CropBudget, CropVideoTool
    from longvt_plugins.core.video import sample_window

    ds = qwen3_dataset
    sample = ds.sample(0)
    ids, labels = sample["input_ids"].tolist(), sample["labels"].tolist()
    tok = ds.processor.processor.tokenizer
    start, end = tok.convert_tokens_to_ids("<|im_start|>"), tok.convert_tokens_to_ids("<|im_end|>")
    header = [start, *tok("assistant\n", add_special_tokens=False)["input_ids"]]
    expected, inside, i = [], False, 0
    while i < len(ids):  # independent of render.py: after an assistant header, up to its <|im_end|>
        if not inside and ids[i : i + len(header)] == header:
            expected += [False] * len(header)
            i += len(header)
            inside = True
            continue
        expected.append(inside)
        inside = inside and ids[i] != end
        i += 1
    assert [lab != -100 for lab in labels] == expected and sum(expected) > 0
    assert all(lab == t for lab, t in zip(labels, ids, strict=True) if lab != -100)
    trained = tok.decode([t for t, lab in zip(ids, labels, strict=True) if lab != -100])
    assert trained.count("<tool_call>") == 2 and "seconds>" not in trained and "tool_response" not in trained
    # mm_token_type_ids mark exactly the vision pads (Qwen3-VL's stock forward needs them)
    types = sample["mm_token_type_ids"].tolist()
    image, video = ds.processor.processor.image_token_id, ds.processor.processor.video_token_id
    assert types == [1 if t == image else 2 if t == video else 0 for t in ids]
    assert "second_per_grid_ts" not in sample
    text = tok.decode(ids)
    proc = AutoProcessor.from_pretrained(tiny_qwen3_dir)
    # the question's native video: the processor's own labels, one per temporal patch
    got = sample_window(sample_video.path, 10.0, 20.0, ds._loader(None).video_defaults)
    oracle_video, _ = processor_labels(proc, got.frames, got.indices, got.info.fps, got.info.num_frames)
    question = text[: text.index("<|im_start|>assistant")]
    assert SECONDS.findall(question) == oracle_video
    # each tool turn: the labels Qwen3-VL's processor would write for the replayed crop's frames
    for window, turn in zip(((14.0, 18.0), (15.0, 17.0)), text.split("<tool_response>")[1:], strict=True):
        budget = CropBudget.from_dict({**CROP_BUDGET, "patch_size": 16})
        crop = CropVideoTool(sample_video.path, budget).execute(
            {"start_time": window[0], "end_time": window[1]}
        )
        oracle, _ = processor_labels(proc, crop.frames, crop.indices, crop.video_fps, got.info.num_frames)
        assert SECONDS.findall(turn.split("</tool_response>")[0]) == oracle
    assert ds.measure(0) == len(ids)  # the packing plan's length is the real one


@pytest.mark.slow
def test_real_cli_trains_the_tiny_qwen3_vl_one_step(tiny_qwen3_dir, sample_video, tmp_path):
    import math
    import os
    import subprocess
    import sys

    import torch
    from test_lmms_engine_train import TINY_RECIPE
    from transformers import Qwen3VLForConditionalGeneration

    data = write_jsonl(
        [tool_trace_row(sample_video.path, row_id="q3-train", clip=(10.0, 20.0), crops=[(14.0, 18.0)])],
        tmp_path / "traces.jsonl",
    )
    out = tmp_path / "run"
    cmd = [
        sys.executable, "-m", "longvt_plugins.cli", "train", "sft", "--config", str(TINY_RECIPE), "--cpu-shims",
        f"model_config.load_from_pretrained_path={tiny_qwen3_dir}",
        f"dataset_config.processor_config.processor_name={tiny_qwen3_dir}",
        f'dataset_config.datasets=[{{path: "{data}", data_folder: "", data_type: jsonl}}]',
        f"dataset_config.extra_kwargs.length_cache={tmp_path / 'lengths.tsv'}",
        f"trainer_args.output_dir={out}", "trainer_args.max_steps=1", "trainer_args.save_steps=1",
    ]  # fmt: skip
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "WANDB_MODE": "disabled", "COLUMNS": "400"}
    proc = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-4000:]
    state = json.loads((out / "checkpoint-1" / "trainer_state.json").read_text())
    losses = [h["loss"] for h in state["log_history"] if "loss" in h]
    assert len(losses) == 1 and math.isfinite(losses[0])
    packing = json.loads((out / "longvt_packing.rank0.json").read_text())
    assert packing["length_mismatches"] == 0 and packing["skipped_rows"] == 0
    final = Qwen3VLForConditionalGeneration.from_pretrained(out).state_dict()
    start = Qwen3VLForConditionalGeneration.from_pretrained(tiny_qwen3_dir).state_dict()
    assert any(not torch.equal(start[k], final[k]) for k in final)


# ------------------------------------------------------------------------------------------------------ verl
@pytest.mark.parametrize("family", [QWEN2_5_VL, QWEN3_VL])
def test_verl_recipe_template_follows_the_checkpoint_config(checkpoints, family):
    from omegaconf import OmegaConf

    import longvt_plugins.verl.plugin  # noqa: F401  (registers the resolvers, as `import verl` does)
    from longvt_plugins.verl.plugin import chat_template

    config = OmegaConf.create(
        {"model": {"path": str(checkpoints[family]), "t": "${longvt.model_template:${model.path}}"}}
    )
    want = None if family == QWEN3_VL else chat_template()
    assert config.model.t == want


@pytest.mark.parametrize("family", [QWEN2_5_VL, QWEN3_VL])
def test_verl_tool_turn_is_labelled_as_the_family_reads_time(family, sample_video):
    import asyncio

    from longvt_plugins.verl.agent_loop import interleave_frame_labels
    from longvt_plugins.verl.tool import CropVideoTool

    tool = CropVideoTool(
        {"type": "native", "fps": 2.0, "max_frames": 8, "max_pixels": SMALL, "patch_size": 16}
    )

    async def run():
        iid, _ = await tool.create(create_kwargs={"video_path": sample_video.path})
        return await tool.execute(iid, {"start_time": 14.0, "end_time": 17.5})

    response, _, _ = asyncio.run(run())
    # verl 0.9.1's layout: all images, then the text; the loop labels them for its policy's family
    message = {
        "role": "tool",
        "content": [{"type": "image", "image": im} for im in response.image]
        + [{"type": "text", "text": response.text}],
    }
    interleave_frame_labels([message], family)
    from longvt_plugins.core.crop_tool import CropBudget
    from longvt_plugins.core.crop_tool import CropVideoTool as Bound

    core = Bound(sample_video.path, CropBudget(fps=2.0, max_frames=8, max_pixels=SMALL, patch_size=16))
    expected = core.execute({"start_time": 14.0, "end_time": 17.5}).content_parts(family)
    assert [p.get("text") for p in message["content"]] == [p.get("text") for p in expected]
    assert [p["type"] for p in message["content"]] == [p["type"] for p in expected]


def test_doctor_reports_the_family(checkpoints):
    from longvt_plugins.commands.doctor import check_model

    for family, path in checkpoints.items():
        [check] = check_model(str(path))
        assert check.ok and check.detail.startswith(family)
    [bad] = check_model("/nonexistent/checkpoint")
    assert not bad.ok
