"""The real lmms-engine CLI, through `longvt train sft` and our launcher, trains the tiny Qwen2.5-VL on CPU on a
tool-integrated trace (a video sub-clip in the question, crop_video frames in two tool turns)."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from longvt_plugins.lmms_engine.launch import fold_overrides
from longvt_plugins.testing.sft_rows import tool_trace_row, write_jsonl

REPO = Path(__file__).resolve().parents[1]
TINY_RECIPE = REPO / "recipes" / "sft" / "tiny_cpu.yaml"


def test_overrides_are_folded_into_the_yaml_instead_of_being_lost(tmp_path):
    src = tmp_path / "c.yaml"
    src.write_text(
        yaml.safe_dump({"trainer_args": {"max_steps": 9, "lr": 1}, "dataset_config": {"packing": True}})
    )
    argv = fold_overrides(
        [f"config_yaml={src}", "trainer_args.max_steps=3", "+model_config.x.y=[1, 2]", "--cfg=job"],
        tmp_dir=str(tmp_path),
    )
    assert argv[0].startswith("config_yaml=") and argv[1:] == ["--cfg=job"]
    merged = yaml.safe_load(Path(argv[0].split("=", 1)[1]).read_text())
    assert merged["trainer_args"] == {"max_steps": 3, "lr": 1}
    assert merged["model_config"] == {"x": {"y": [1, 2]}}
    assert yaml.safe_load(src.read_text())["trainer_args"]["max_steps"] == 9  # the user's file is not touched
    assert fold_overrides(["a.b=1"]) == ["a.b=1"]  # without a config_yaml Hydra handles overrides itself


def test_train_command_builds_a_torchrun_launch(tmp_path):
    from typer.testing import CliRunner

    from longvt_plugins.commands.train import app

    result = CliRunner().invoke(
        app,
        [
            "rft",
            "--config",
            str(TINY_RECIPE),
            "--nproc",
            "2",
            "--cpu-shims",
            "--dry-run",
            "trainer_args.max_steps=1",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "LONGVT_CPU_SHIMS=1" in result.output
    assert "torch.distributed.run --nproc_per_node=2 -m longvt_plugins.lmms_engine.launch" in result.output
    assert f"config_yaml={TINY_RECIPE}" in result.output and "trainer_args.max_steps=1" in result.output
    bad = CliRunner().invoke(app, ["sft", "--config", str(tmp_path / "missing.yaml")])
    assert bad.exit_code != 0 and "does not exist" in bad.output


@pytest.mark.slow
def test_real_cli_trains_the_tiny_model_on_a_tool_trace(tiny_model_dir, sample_video, tmp_path):
    data = write_jsonl(
        [
            tool_trace_row(
                sample_video.path, row_id="train-0", clip=(10.0, 30.0), crops=[(14.0, 20.0), (16.0, 18.0)]
            )
        ],
        tmp_path / "traces.jsonl",
    )
    out = tmp_path / "run"
    cmd = [
        sys.executable, "-m", "longvt_plugins.cli", "train", "sft", "--config", str(TINY_RECIPE), "--cpu-shims",
        f"model_config.load_from_pretrained_path={tiny_model_dir}",
        f"dataset_config.processor_config.processor_name={tiny_model_dir}",
        f'dataset_config.datasets=[{{path: "{data}", data_folder: "", data_type: jsonl}}]',
        f"dataset_config.extra_kwargs.length_cache={tmp_path / 'lengths.tsv'}",
        f"trainer_args.output_dir={out}", "trainer_args.max_steps=3", "trainer_args.save_steps=3",
    ]  # fmt: skip
    # COLUMNS: lmms-engine logs through rich, which wraps messages at the terminal width.
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "WANDB_MODE": "disabled", "COLUMNS": "400"}
    proc = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-4000:]

    state = json.loads((out / "checkpoint-3" / "trainer_state.json").read_text())
    losses = [h["loss"] for h in state["log_history"] if "loss" in h]
    assert len(losses) == 3 and state["global_step"] == 3
    assert all(math.isfinite(x) for x in losses)
    assert losses[-1] < losses[0], losses
    assert "longvt_imcott packing plan" in log and "fill" in log
    # The tiny recipe leaves it unset: without the launcher's fix the vision tower would crash on sliced pixels.
    assert "setting accelerator_config.dispatch_batches=False" in log
    packing = json.loads((out / "longvt_packing.rank0.json").read_text())
    assert packing["packs"] >= 3 and packing["length_mismatches"] == 0 and packing["skipped_rows"] == 0

    import torch
    from transformers import AutoProcessor, Qwen2_5_VLForConditionalGeneration

    # The in-training checkpoint and the final save both reload; they hold the same (step 3) weights, which
    # differ from the initial ones.
    step3 = Qwen2_5_VLForConditionalGeneration.from_pretrained(out / "checkpoint-3").state_dict()
    final = Qwen2_5_VLForConditionalGeneration.from_pretrained(out).state_dict()
    start = Qwen2_5_VLForConditionalGeneration.from_pretrained(tiny_model_dir).state_dict()
    assert step3.keys() == final.keys() == start.keys()
    assert all(torch.equal(step3[k], final[k]) for k in final)
    assert any(not torch.equal(start[k], final[k]) for k in final)
    processor = AutoProcessor.from_pretrained(out)
    # the checkpoint carries the template it was trained with
    assert "<tool_response>" in processor.chat_template


def test_single_process_launch_takes_a_free_port_and_leaves_torchrun_alone():
    import socket

    from longvt_plugins.lmms_engine.launch import single_process_rendezvous

    with socket.socket() as busy:  # what lmms-engine's fixed default would collide with
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        env: dict[str, str] = {}
        single_process_rendezvous(env)
        assert env["WORLD_SIZE"] == "1" and env["MASTER_ADDR"] == "127.0.0.1"
        assert int(env["MASTER_PORT"]) != busy.getsockname()[1]
        with socket.socket() as again:  # the port handed out is really free
            again.bind(("127.0.0.1", int(env["MASTER_PORT"])))
    torchrun = {"WORLD_SIZE": "2", "MASTER_ADDR": "10.0.0.1", "MASTER_PORT": "1234"}
    single_process_rendezvous(torchrun)
    assert torchrun == {"WORLD_SIZE": "2", "MASTER_ADDR": "10.0.0.1", "MASTER_PORT": "1234"}
