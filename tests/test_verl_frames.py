"""verl RL rows with the skim as timestamped frames (`initial_video="frames"`): the first user turn verl's rollout
sends the policy is token for token what the SFT dataset trains on and what the core agent sends at evaluation.

Real: the converter, verl's RLHFDataset + collate_fn + AgentLoopWorker (our `longvt_tool_agent` loop, the recipe's
chat template, verl's own qwen_vl_utils decode of the images column), the lmms-engine `longvt_imcott` dataset and
`longvt_qwen2_5_vl` processor on an SFT row built by `teacher_traces.sft_row_from_trace`, the core agent with the
tiny Qwen2.5-VL's processor. Stand-in: the rollout server (scripted, it records the prompt ids verl sends).
"""

from __future__ import annotations

import asyncio
import re

import numpy as np
import pyarrow.parquet as pq
import pytest

pytestmark = pytest.mark.slow

QUESTION = "What shape is shown around 40 seconds?"
ANSWER = "<think>The frames show it.</think><answer>circle</answer>"


@pytest.fixture(scope="module")
def skim():
    from longvt_plugins.core.budget import SKIM

    # A frame or two of visual tokens, as the miniature's skim: below qwen_vl_utils' 4-token default minimum, so verl's
    # decode would scale the frames up unless the row pins each image's size.
    return SKIM.replace(max_frames=6, min_pixels=28 * 28, max_pixels=28 * 56)


@pytest.fixture(scope="module")
def rows(sample_video, skim, tmp_path_factory):
    from longvt_plugins.verl.convert import RLSample, convert

    tmp = tmp_path_factory.mktemp("verl-frames")
    samples = [RLSample(QUESTION, "circle", str(sample_video.path), segment=[30.0, 50.0], qa_id="q0")]
    out = {}
    for mode in ("frames", "video"):
        report = convert(samples, tmp / f"{mode}.parquet", video=skim, initial_video=mode)
        assert report.written == 1, report.rejected
        out[mode] = tmp / f"{mode}.parquet"
    return out


def test_frames_rows_carry_images_and_labels_and_video_rows_are_unchanged(rows, sample_video, skim):
    from longvt_plugins.core.crop_tool import skim_text
    from longvt_plugins.core.video import probe
    from longvt_plugins.core.video import sample_video as sample

    frames, video = pq.read_table(rows["frames"]), pq.read_table(rows["video"])
    assert "images" in frames.schema.names and "videos" not in frames.schema.names
    assert "videos" in video.schema.names and "images" not in video.schema.names
    got = sample(sample_video.path, skim)
    row = frames.to_pylist()[0]
    user = row["prompt"][1]["content"]
    labels = re.findall(r"<([\d.]+)s><image>", user)
    assert len(labels) == len(row["images"]) == len(got.frames) == user.count("<image>")
    assert [float(t) for t in labels] == pytest.approx(got.timestamps, abs=0.051)
    assert user.split("<image>")[-1].startswith(skim_text(probe(sample_video.path), got.timestamps))
    (h, w) = got.size
    assert {(i["min_pixels"], i["max_pixels"]) for i in row["images"]} == {(h * w, h * w)}

    # The video mode: the layout it always had (one native video part, its budget, the same text after it).
    vrow = video.to_pylist()[0]
    assert (
        vrow["prompt"][1]["content"].startswith("<video>") and "<image>" not in vrow["prompt"][1]["content"]
    )
    assert vrow["prompt"][1]["content"][len("<video>") :] == user.split("<image>")[-1]
    assert vrow["videos"] == [{"video": str(sample_video.path), "fps": skim.fps, "min_frames": skim.min_frames,
                               "max_frames": skim.max_frames, "min_pixels": skim.min_pixels,
                               "max_pixels": skim.max_pixels}]  # fmt: skip
    assert {k: v for k, v in row.items() if k not in ("prompt", "images")} == {
        k: v for k, v in vrow.items() if k not in ("prompt", "videos")
    }


def _verl_first_prompt(rows, tiny_model_dir, tmp_path):
    """The prompt ids and images verl's rollout sends for the frames row's first generation."""
    from verl.experimental.agent_loop.agent_loop import AgentLoopWorker

    from longvt_plugins.testing.verl_rollout import ScriptedRolloutServer, compose_recipe, load_batch

    data = rows["frames"]
    tool_yaml = tmp_path / "tools.yaml"
    tool_yaml.write_text("tools:\n  - class_name: longvt_plugins.verl.tool.CropVideoTool\n"
                         "    config: {type: native, fps: 1.0, max_frames: 8, max_pixels: 3136, max_calls: 2}\n")  # fmt: skip
    config = compose_recipe([
        f"actor_rollout_ref.model.path={tiny_model_dir}", f"data.train_files={data}", f"data.val_files={data}",
        "data.max_prompt_length=4096", "data.max_response_length=1024",
        f"actor_rollout_ref.rollout.multi_turn.tool_config_path={tool_yaml}",
    ])  # fmt: skip
    worker = AgentLoopWorker(config, ScriptedRolloutServer(None, []))
    batch, _ = load_batch(config, data, worker.tokenizer, worker.processor)
    server = ScriptedRolloutServer(worker.tokenizer, [ANSWER + "<|im_end|>"])
    worker.llm_client = server
    asyncio.run(worker.generate_sequences(batch))
    (call,) = server.calls
    return call


def test_first_turn_tokens_equal_sft_and_the_agent(rows, sample_video, skim, tiny_model_dir, tmp_path):
    from test_lmms_engine_dataset import build_dataset

    from longvt_plugins.core.agent import AgentBudgets, run_agent
    from longvt_plugins.core.backends import TransformersBackend, Usage, turn_from_text
    from longvt_plugins.pipeline.stages.teacher_traces import sft_row_from_trace
    from longvt_plugins.testing.sft_rows import write_jsonl

    verl = _verl_first_prompt(rows, tiny_model_dir, tmp_path)
    assert verl.videos == [] and len(verl.images) == skim.max_frames

    # The core agent, as evaluation runs it (rendered by the real backend; the reply is scripted).
    real = TransformersBackend(tiny_model_dir, device="cpu")
    seen = []

    class Replay:
        patch_size = real.patch_size

        def describe(self):
            return {"name": "replay"}

        def generate(self, messages, tools, params):
            seen.append(real.render(messages, tools))
            return turn_from_text(ANSWER, usage=Usage(0, 1), finish_reason="stop")

    trace = run_agent(sample_video.path, QUESTION, Replay(), AgentBudgets(skim=skim))
    assert trace.stop_reason == "answer"
    text, images = seen[0]
    agent_ids = real.processor(text=[text], images=images, return_tensors="pt")["input_ids"][0].tolist()

    # The SFT row the traces stage writes for that trace, through lmms-engine's dataset and our processor.
    qa = {"id": "q0", "video_id": "v", "start": 30.0, "end": 50.0}
    sft_file = write_jsonl([sft_row_from_trace(trace, qa)], tmp_path / "sft.jsonl")
    sft_ids = build_dataset(sft_file, tmp_path, tiny_model_dir, tmp_path, packing=False).sample(0)["input_ids"].tolist()  # fmt: skip

    assert verl.prompt_ids == agent_ids  # system + tools + labelled frames + text + generation prompt
    assert sft_ids[: len(verl.prompt_ids)] == verl.prompt_ids
    assert real.processor.tokenizer.decode(sft_ids[len(verl.prompt_ids) :]).startswith("<think>The frames")
    # ... and the pixels: verl's decode of the PNG column is the agent's skim, frame by frame.
    assert len(verl.images) == len(images)
    for a, b in zip(verl.images, images, strict=True):
        assert np.array_equal(np.asarray(a), np.asarray(b))


def test_cli_writes_frames_rows_and_refuses_an_unknown_mode(sample_video, tmp_path):
    from typer.testing import CliRunner

    from longvt_plugins.cli import app

    qa = tmp_path / "qa.jsonl"
    qa.write_text(
        f'{{"qa_id": "a", "question": "{QUESTION}", "answer": "circle", "video": "{sample_video.path}"}}\n'
    )
    base = ["data", "to-verl", str(qa), "--max-frames", "4", "--max-pixels", str(56 * 56)]
    done = CliRunner().invoke(app, [*base, "--out", str(tmp_path / "f.parquet"), "--initial-video", "frames"])
    assert done.exit_code == 0, done.output
    (row,) = pq.read_table(tmp_path / "f.parquet").to_pylist()
    assert len(row["images"]) == 4 == row["prompt"][1]["content"].count("<image>") and "videos" not in row
    bad = CliRunner().invoke(app, [*base, "--out", str(tmp_path / "b.parquet"), "--initial-video", "clip"])
    assert bad.exit_code == 2 and not (tmp_path / "b.parquet").exists()
