"""The registered `longvt_imcott` dataset + `longvt_qwen2_5_vl` processor, built through lmms-engine's registry,
on real traces over a real video with the tiny Qwen2.5-VL processor.

Checks: registration; exact assistant-only loss masks token by token; the same tokens as verl's tool path for the
shared prefix; planned lengths equal real lengths; packs never over budget; malformed rows reported by id and
skipped or rejected by setting.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from longvt_plugins.testing.sft_rows import tool_trace_row, write_jsonl

PACKING_LENGTH = 2500
SMALL = 28 * 28 * 4  # pixel budget per frame: keeps the CPU work small
CROP_BUDGET = {"fps": 1.0, "max_frames": 6, "max_pixels": SMALL}


@pytest.fixture(scope="module")
def trace_files(tmp_path_factory, sample_video):
    from longvt_plugins.core.crop_tool import CROP_VIDEO_SCHEMA
    from longvt_plugins.core.video import sample_window

    root = tmp_path_factory.mktemp("traces")
    v = sample_video.path
    # LongVT's released style: the call inline in the text, the frames stored as image files with timestamps.
    got = sample_window(v, 40.0, 44.0, fps=1.0, max_pixels=SMALL)
    parts = []
    for k, (frame, t) in enumerate(zip(got.to_pil(), got.timestamps, strict=True)):
        frame.save(root / f"f{k}.png")
        parts += [
            {"type": "text", "text": f"<{t:.1f}s>"},
            {"type": "image_url", "image_url": {"url": f"f{k}.png"}},
        ]
    parts.append({"type": "text", "text": "4 frames."})
    call_text = '<think>zoom</think>\n<tool_call>\n{"name": "crop_video", "arguments": {"start_time": 40.0, "end_time": 44.0}}\n</tool_call>'
    inline = {
        "id": "inline-frames",
        "tools": json.dumps([CROP_VIDEO_SCHEMA]),
        "messages": (
            [
                {
                    "role": "user",
                    "content": [
                        {"type": "video_url", "video_url": {"url": v}},
                        {"type": "text", "text": "Which shape?"},
                    ],
                },
                {"role": "assistant", "content": [{"type": "text", "text": call_text}]},
                {"role": "tool", "content": parts},
                {"role": "assistant", "content": [{"type": "text", "text": "<answer>triangle</answer>"}]},
            ]
        ),
    }
    plain = {
        "id": "plain-qa",
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "video_url", "video_url": {"url": v, "video_start": 0.0, "video_end": 30.0}},
                    {"type": "text", "text": "Colour?"},
                ],
            },
            {"role": "assistant", "content": [{"type": "text", "text": "<answer>red</answer>"}]},
        ],
    }
    # One file with `messages` as lists (Arrow structs), one with JSON strings: a column has one type per file.
    good = [
        tool_trace_row(v, row_id="two-crops", crops=[(15.0, 25.0), (18.0, 22.0)], messages_as_json=False),
        tool_trace_row(
            v,
            row_id="one-crop",
            clip=(50.0, 80.0),
            crops=[(60.0, 66.0)],
            answer="green",
            messages_as_json=False,
        ),
        plain,
        inline,
    ]
    as_json = [{**r, "messages": json.dumps(r["messages"])} for r in good]
    bad = [
        tool_trace_row("/nonexistent/video.mp4", row_id="bad-missing-video"),
        {
            "id": "bad-json-call",
            "messages": json.dumps(
                [
                    {"role": "user", "content": "q"},
                    {
                        "role": "assistant",
                        "content": '<tool_call>{"name": "crop_video", "arguments": {start_time: 1}</tool_call>',
                    },
                ]
            ),
        },
        {"id": "bad-empty", "messages": "[]"},
    ]
    good_path = write_jsonl(good, root / "good.jsonl")
    mixed_path = write_jsonl(as_json[:1] + bad + as_json[1:], root / "mixed.jsonl")
    return {"root": root, "good": good_path, "mixed": mixed_path, "good_ids": [r["id"] for r in good]}


def build_dataset(path, folder, model_dir, tmp, *, on_bad_row="skip", packing=True):
    from lmms_engine.datasets import DatasetConfig
    from lmms_engine.mapping_func import DATASET_MAPPING

    import longvt_plugins.lmms_engine.register  # noqa: F401  (what the launcher imports)

    config = DatasetConfig(
        dataset_type="longvt_imcott",
        dataset_format="yaml",
        datasets=[{"path": str(path), "data_folder": str(folder), "data_type": "jsonl"}],
        processor_config={
            "processor_name": str(model_dir),
            "processor_type": "longvt_qwen2_5_vl",
            "extra_kwargs": {"image_max_pixels": SMALL, "video_max_pixels": SMALL},
        },
        packing=packing,
        packing_length=PACKING_LENGTH,
        shuffle=False,
        video_max_frames=8,
        video_max_pixels=SMALL,
        extra_kwargs={
            "on_bad_row": on_bad_row,
            "crop_budget": CROP_BUDGET,
            "length_cache": str(tmp / "lengths.tsv"),
        },
    )
    ds = DATASET_MAPPING["longvt_imcott"](config)
    ds.build()
    return ds


@pytest.fixture(scope="module")
def dataset(trace_files, tiny_model_dir, tmp_path_factory):
    return build_dataset(
        trace_files["mixed"], trace_files["root"], tiny_model_dir, tmp_path_factory.mktemp("cache")
    )


def _index(ds, row_id):
    return ds.row_ids.index(row_id)


def test_names_are_in_lmms_engine_registries(dataset):
    from longvt_plugins.lmms_engine import check_registration

    ok, detail = check_registration()
    assert ok, detail
    assert "longvt_imcott" in detail and "longvt_qwen2_5_vl" in detail


def test_loss_mask_is_exactly_the_assistant_spans(dataset):
    sample = dataset.sample(_index(dataset, "two-crops"))
    ids, labels = sample["input_ids"].tolist(), sample["labels"].tolist()
    tok = dataset.processor.tokenizer
    start, end = tok.convert_tokens_to_ids("<|im_start|>"), tok.convert_tokens_to_ids("<|im_end|>")
    header = [start, *tok("assistant\n", add_special_tokens=False)["input_ids"]]
    # Independent of render.py: walk the ids; after an assistant header everything up to and including the next
    # <|im_end|> is trained, nothing else is.
    expected, inside, i = [], False, 0
    while i < len(ids):
        if not inside and ids[i : i + len(header)] == header:
            expected += [False] * len(header)
            i += len(header)
            inside = True
            continue
        expected.append(inside)
        if inside and ids[i] == end:
            inside = False
        i += 1
    trained = [lab != -100 for lab in labels]
    assert trained == expected
    assert all(lab == t for lab, t in zip(labels, ids, strict=True) if lab != -100)
    assert sum(expected) > 0 and ids.count(start) == 7  # system, user, 2 x (assistant, tool), final assistant
    text = tok.decode([t for t, lab in zip(ids, labels, strict=True) if lab != -100])
    assert text.count("<tool_call>") == 2 and "<answer>blue</answer>" in text
    assert "tool_response" not in text and "crop_video returned" not in text  # tool output is never trained
    vision = {
        tok.convert_tokens_to_ids(t)
        for t in ("<|image_pad|>", "<|video_pad|>", "<|vision_start|>", "<|vision_end|>")
    }
    assert not any(lab in vision for lab in labels)


def test_same_tokens_as_the_verl_tool_path(dataset, trace_files):
    """verl's own Continuous-Token builder (what its tool agent loop tokenizes with), our verl tool, verl's tool
    message layout and the verl plugin's timestamp interleaving, against our SFT rendering of the same trace."""
    import asyncio

    from verl.utils.tokenizer.continuous_token_wiring import create_continuous_token_builder

    from longvt_plugins.core.trace_rows import parse_row
    from longvt_plugins.verl.agent_loop import interleave_frame_labels
    from longvt_plugins.verl.tool import CropVideoTool

    i = _index(dataset, "one-crop")
    row, trace = dataset._row(i)
    material = dataset._loader(dataset.data_folder[i]).load(parse_row(row, trace.row_id))
    sft = dataset.sample(i)["input_ids"].tolist()

    proc = dataset.processor.processor
    builder = create_continuous_token_builder(
        proc.tokenizer,
        hf_model_type="qwen2_5_vl",
        processor=proc,
        mm_processor_kwargs={"do_sample_frames": False},
    )
    tool = CropVideoTool({"type": "native", **CROP_BUDGET})
    tools = [tool.tool_schema.model_dump(exclude_unset=True, exclude_none=True)]
    msgs = json.loads(row["messages"])
    prompt = [
        {"role": "system", "content": msgs[0]["content"]},
        {
            "role": "user",
            "content": [{"type": "video"}, {"type": "text", "text": msgs[1]["content"][1]["text"]}],
        },
    ]
    ids = builder.build_initial_tokens(prompt, tools=tools, videos=[np.asarray(material.videos[0])])
    # The assistant turn as the policy would have generated it (its tokens are the model's, not re-rendered).
    call = msgs[2]["tool_calls"][0]["function"]
    generated = f'{msgs[2]["content"][0]["text"]}\n<tool_call>\n{{"name": "crop_video", "arguments": {call["arguments"]}}}\n</tool_call><|im_end|>'
    ids = builder.merge_assistant_tokens(
        ids, proc.tokenizer(generated, add_special_tokens=False)["input_ids"]
    ).token_ids
    previous = prompt + [{"role": "assistant", "content": generated[: -len("<|im_end|>")]}]

    async def run_tool():
        iid, _ = await tool.create(create_kwargs={"video_path": trace.videos[0]})
        return await tool.execute(iid, json.loads(call["arguments"]))

    response, _, _ = asyncio.run(run_tool())
    # verl 0.9.1 ToolAgentLoop: all images, then the text; the verl plugin then moves each timestamp before its frame.
    content = [{"type": "image", "image": im} for im in response.image] + [
        {"type": "text", "text": response.text}
    ]
    updated = previous + [{"role": "tool", "content": content}]
    interleave_frame_labels(updated[len(previous) :])
    rl = builder.merge_context_tokens(previous, updated, ids, tools=tools).token_ids

    assert len(rl) < len(sft)
    # system + tools, video, question, call, tool frames, generation prompt: identical
    assert sft[: len(rl)] == rl
    assert proc.tokenizer.decode(sft[len(rl) :]).startswith("<think>The frames show it.</think>")


def test_planned_lengths_are_the_real_lengths(dataset, trace_files):
    for rid in trace_files["good_ids"]:
        i = _index(dataset, rid)
        assert dataset.plan.lengths[i] == dataset.sample(i)["input_ids"].shape[0], rid


def test_packs_stay_within_budget_and_hold_every_good_row_once(dataset, trace_files):
    from lmms_engine.datasets.collator import VisionCollator

    packs = list(iter(dataset))
    seen = []
    for pack in packs:
        assert sum(s["input_ids"].shape[0] for s in pack) <= PACKING_LENGTH
        seen += [s["input_ids"].shape[0] for s in pack]
    good = sorted(dataset.plan.lengths[_index(dataset, r)] for r in trace_files["good_ids"])
    assert sorted(seen) == good
    report = dataset.packing_report()
    assert (
        report["length_mismatches"] == 0 and report["packs"] == len(packs) == dataset.plan.summary()["packs"]
    )
    assert 0 < report["realized_fill"] <= 1
    batch = VisionCollator(dataset.processor)(packs[:1])  # lmms-engine's collator takes our packs as they are
    grid = batch.get("image_grid_thw")
    if grid is not None:
        assert batch["pixel_values"].shape[0] == int(grid.prod(dim=1).sum())
    assert "video_metadata" not in batch


def test_malformed_rows_are_skipped_with_their_ids(dataset):
    ids = {rid for rid, _ in dataset.bad_rows}
    assert ids == {"bad-missing-video", "bad-json-call", "bad-empty"}
    reasons = dict(dataset.bad_rows)
    assert "missing media file" in reasons["bad-missing-video"]
    assert "malformed <tool_call>" in reasons["bad-json-call"]
    assert "empty conversation" in reasons["bad-empty"]
    # Bad rows never enter the plan: they are checked (grammar, media files present) as the file is read.
    assert "mixed.jsonl:2)" in reasons["bad-missing-video"] and "mixed.jsonl:3)" in reasons["bad-json-call"]
    assert dataset.plan.summary()["rejected_rows"] == 0 and dataset.stats["skipped_rows"] == 3


def test_malformed_rows_stop_the_run_before_training_when_asked(trace_files, tiny_model_dir, tmp_path):
    from longvt_plugins.core.rowfile import RowFileError

    with pytest.raises(RowFileError) as err:
        build_dataset(trace_files["mixed"], trace_files["root"], tiny_model_dir, tmp_path, on_bad_row="raise")
    assert err.value.where.endswith("mixed.jsonl:2")  # the first bad row in file order
    assert "row bad-missing-video: missing media file /nonexistent/video.mp4" in str(err.value)


def test_unpacked_mode_yields_single_samples(trace_files, tiny_model_dir, tmp_path):
    ds = build_dataset(trace_files["good"], trace_files["root"], tiny_model_dir, tmp_path, packing=False)
    samples = list(iter(ds))
    assert len(samples) == 4 and all(isinstance(s, dict) for s in samples)


@pytest.mark.parametrize("stage", ["sft", "rft"])
def test_recipes_validate_against_lmms_engine_config_classes(stage, dataset):
    """Every key of the 7B recipes is one lmms-engine reads (it silently drops unknown ones), our names are used,
    and the replayed-crop budget equals the RL tool's budget (else SFT would show other frames than RL)."""
    from pathlib import Path

    import yaml
    from lmms_engine.datasets import DatasetConfig
    from lmms_engine.launch.cli import filter_training_args
    from lmms_engine.models import ModelConfig

    from longvt_plugins.core.crop_tool import CropBudget

    repo = Path(__file__).resolve().parents[1]
    cfg = yaml.safe_load((repo / "recipes" / stage / f"longvt_7b_{stage}.yaml").read_text())
    data = DatasetConfig(**cfg["dataset_config"])
    assert set(cfg["dataset_config"]) <= set(DatasetConfig.model_fields)
    assert (
        data.dataset_type == "longvt_imcott"
        and data.processor_config["processor_type"] == "longvt_qwen2_5_vl"
    )
    assert data.packing_length == 51200 and data.video_max_frames == 512 and data.video_max_pixels == 50176
    ModelConfig(**cfg["model_config"])
    assert filter_training_args(dict(cfg["trainer_args"])) == cfg["trainer_args"]
    assert cfg["trainer_args"]["max_steps"] == {"sft": 3000, "rft": 1600}[stage]
    rl = yaml.safe_load((repo / "longvt_plugins" / "verl" / "tool_config.yaml").read_text())["tools"][0][
        "config"
    ]
    sft_budget = CropBudget(**data.extra_kwargs["crop_budget"])
    rl_budget = CropBudget(**{k: v for k, v in rl.items() if k != "type"})
    assert sft_budget == rl_budget


@pytest.mark.parametrize("stage", ["sft", "rft"])
def test_run_scripts_launch_our_launcher_under_torchrun_with_their_recipe(stage, tmp_path):
    """The recipe scripts share recipes/lmms_engine_torchrun.sh; a `torchrun` on PATH records what they run."""
    import os
    import subprocess
    from pathlib import Path

    repo = Path(__file__).resolve().parents[1]
    fake = tmp_path / "torchrun"
    fake.write_text('#!/bin/sh\necho "$@"\necho "reader=$FORCE_QWENVL_VIDEO_READER"\n')
    fake.chmod(0o755)
    env = {**os.environ, "PATH": f"{tmp_path}:{os.environ['PATH']}", "NNODES": "2", "NODE_RANK": "1"}
    env.pop("FORCE_QWENVL_VIDEO_READER", None)
    out = subprocess.run(
        ["bash", str(repo / "recipes" / stage / f"run_{stage}.sh"), "trainer_args.max_steps=3"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    recipe = str(repo / "recipes" / stage / f"longvt_7b_{stage}.yaml")
    assert out[:6] == [
        "--nnodes=2",
        "--node_rank=1",
        "--nproc_per_node=8",
        "--master_addr=127.0.0.1",
        "--master_port=29500",
        "-m",
    ]
    assert out[6:] == [
        "longvt_plugins.lmms_engine.launch",
        f"config_yaml={recipe}",
        "trainer_args.max_steps=3",
        "reader=decord",
    ]


# ------------------------------------------------------------------------------------- issue 26: bad input
def _unanswered_call_rows(video):
    """Three ways a row can call a tool and get no answer: a structured call followed by a user turn, an inline
    <tool_call> ending the row, a structured call ending the row."""
    good = tool_trace_row(video, row_id="g", crops=[(15.0, 25.0)], messages_as_json=False)
    user, call_turn = good["messages"][1], good["messages"][2]
    inline = {
        "role": "assistant",
        "content": '<tool_call>\n{"name": "crop_video", "arguments": {"start_time": 1, "end_time": 5}}\n</tool_call>',
    }
    return [
        {"id": "call-then-user", "messages": [user, call_turn, {"role": "user", "content": "and?"}, good["messages"][-1]]},
        {"id": "inline-call-ends", "messages": [user, inline]},
        {"id": "call-ends", "messages": [user, call_turn]},
    ]  # fmt: skip


@pytest.mark.timeout(180)  # lmms-engine's own loader hangs forever on this file
@pytest.mark.parametrize("on_bad_row", ["raise", "skip"])
def test_a_truncated_jsonl_line_is_named_or_counted_never_a_hang(
    on_bad_row, trace_files, tiny_model_dir, tmp_path
):
    from longvt_plugins.core.rowfile import RowFileError

    lines = trace_files["good"].read_text().splitlines()
    path = tmp_path / "cut.jsonl"
    path.write_text("\n".join([lines[0], lines[1][: len(lines[1]) // 2], lines[2]]) + "\n")
    if on_bad_row == "raise":
        with pytest.raises(RowFileError) as err:
            build_dataset(path, trace_files["root"], tiny_model_dir, tmp_path, on_bad_row="raise")
        assert err.value.where == f"{path}:2" and "not valid JSON" in err.value.reason
        return
    ds = build_dataset(path, trace_files["root"], tiny_model_dir, tmp_path, packing=False)
    assert ds.stats["skipped_rows"] == 1 and ds.bad_rows[0][0] == f"{path}:2"
    assert [ds.row_ids[i] for i in range(len(ds.data_list))] == ["two-crops", "plain-qa"]
    assert len(list(iter(ds))) == 2


def test_a_call_without_a_tool_response_is_never_a_sample(
    trace_files, sample_video, tiny_model_dir, tmp_path
):
    from longvt_plugins.core.rowfile import RowFileError

    good = [json.loads(line) for line in trace_files["good"].read_text().splitlines()[:2]]
    rows = good[:1] + _unanswered_call_rows(sample_video.path) + good[1:]
    path = write_jsonl(rows, tmp_path / "calls.jsonl")
    ds = build_dataset(path, trace_files["root"], tiny_model_dir, tmp_path, packing=False)
    reasons = dict(ds.bad_rows)
    assert set(reasons) == {"call-then-user", "inline-call-ends", "call-ends"}
    assert all("without a tool response" in r for r in reasons.values())
    assert len(list(iter(ds))) == 2  # 2 good rows -> 2 samples, whatever the bad rows hold
    with pytest.raises(RowFileError) as err:
        build_dataset(path, trace_files["root"], tiny_model_dir, tmp_path, on_bad_row="raise")
    assert err.value.where == f"{path}:2"  # the first bad row, not a later one
