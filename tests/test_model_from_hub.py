"""`--model ORG/NAME` (and lmms-eval's `pretrained=ORG/NAME`) load a checkpoint through the Hugging Face hub cache,
as transformers would; a miss is one line saying which miss, and how to give a local folder instead.

No network: the cache is filled from the tiny random Qwen2.5-VL laid out as huggingface_hub lays out a download,
runs are offline (HF_HUB_OFFLINE=1), and the one online case talks to a Hub stand-in on 127.0.0.1. The commands
run as subprocesses, so HF_HUB_CACHE / HF_HUB_OFFLINE / HF_ENDPOINT reach huggingface_hub as a user sets them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from longvt_plugins.cli import app
from longvt_plugins.core.checkpoints import CheckpointNotFound, resolve_checkpoint
from longvt_plugins.core.trace import Trace
from longvt_plugins.testing.hub_cache import fill_hub_cache, hub_without_repos

LONGVT = Path(sys.executable).parent / "longvt"
RFT = "longvideotool/LongVT-RFT"  # a released checkpoint's id (docs/lmms_eval.md)


@pytest.fixture(scope="module")
def hub_cache(tmp_path_factory, tiny_model_dir) -> Path:
    cache = tmp_path_factory.mktemp("hf-hub-cache")
    fill_hub_cache(cache, RFT, tiny_model_dir)
    fill_hub_cache(cache, "longvideotool/LongVT-SFT", tiny_model_dir)
    return cache


def _env(cache: Path, **changes: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LONGVT_JUDGE", "LLM_AS_A_JUDGE", "HF_"))}
    env.update(HF_HUB_CACHE=str(cache), HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    env["PYTHONWARNINGS"] = "ignore"  # a host package's deprecation notice is not one of our lines
    env.update(changes)
    return env


def _ask(model: str, video: str, env: dict, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(LONGVT), "ask", video, "Which shape?", "--model", model, "-q", *extra],
        env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip


def test_ask_runs_a_repo_id_from_the_hub_cache_offline(hub_cache, sample_video, tmp_path):
    run = _ask(
        RFT, sample_video.path, _env(hub_cache), "--device", "cpu", "--skim-max-frames", "4",
        "--max-turns", "1", "--max-new-tokens", "4", "--json", str(tmp_path / "t.json"),
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.stderr == ""  # -q: no progress
    trace = Trace.load(tmp_path / "t.json")
    commit = (hub_cache / "models--longvideotool--LongVT-RFT/refs/main").read_text()
    assert trace.backend["model"] == RFT  # the id as given: protocols match checkpoints by name
    assert trace.backend["path"] == str(
        hub_cache.resolve() / "models--longvideotool--LongVT-RFT/snapshots" / commit
    )
    assert trace.backend["random_weights"] is True  # the tiny model's marker file came through the cache
    assert len(trace.turns) == 1 and trace.usage["completion_tokens"] >= 1


def test_an_uncached_repo_id_offline_is_one_line_and_exit_2(tmp_path, sample_video):
    empty = tmp_path / "empty-cache"
    empty.mkdir()
    run = _ask(RFT, sample_video.path, _env(empty))
    assert run.returncode == 2 and run.stdout == ""
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1, run.stderr
    line = lines[0]
    assert f"{RFT} is not a local folder" in line and "not in the Hugging Face cache" in line
    assert str(empty) in line and "HF_HUB_OFFLINE=1" in line
    assert f"hf download {RFT}" in line and "--model /path/to/folder" in line


def test_a_repo_id_the_hub_does_not_know_is_one_line_and_exit_2(tmp_path, sample_video):
    empty = tmp_path / "empty-cache"
    empty.mkdir()
    with hub_without_repos() as endpoint:
        env = _env(empty, HF_HUB_OFFLINE="0", TRANSFORMERS_OFFLINE="0", HF_ENDPOINT=endpoint)
        run = _ask("longvideotool/LongVT-Nope", sample_video.path, env)
    assert run.returncode == 2 and run.stdout == ""
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1, run.stderr
    assert "LongVT-Nope is not a local folder, and is not a model on the Hugging Face Hub" in lines[0]
    assert "--model /path/to/folder" in lines[0]


def test_lmms_eval_model_loads_a_repo_id_and_keeps_the_name_for_the_protocol(hub_cache):
    """longvt_agent_hf pretrained=<id>: upstream evaluated its SFT checkpoint at 512 frames, chosen by the name."""
    code = (
        "import json\n"
        "from longvt_plugins.lmms_eval.model import LongVTAgentHF\n"
        "m = LongVTAgentHF(pretrained='longvideotool/LongVT-SFT', protocol='upstream', device='cpu')\n"
        "print(json.dumps({'model': m.backend.model, 'path': str(m.backend.path),"
        " 'skim': m.protocol.skim.max_frames}))\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", code], env=_env(hub_cache), capture_output=True, text=True, timeout=600
    )
    assert run.returncode == 0, run.stderr[-3000:]
    got = json.loads(run.stdout.strip().splitlines()[-1])
    assert got["model"] == "longvideotool/LongVT-SFT" and "/snapshots/" in got["path"] and got["skim"] == 512


def test_eval_run_says_in_one_line_that_the_checkpoint_is_missing(tmp_path):
    """Checked before lmms-eval starts (HF_HUB_OFFLINE=1 from conftest), not a traceback from inside it."""
    args = ["eval", "run", "-t", "longvtp_lvbench_tool", "-m", "longvt_agent_hf", "-o", str(tmp_path)]
    result = CliRunner().invoke(app, [*args, "-a", "pretrained=longvt-tests/not-cached-anywhere,device=cpu"])
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "longvt-tests/not-cached-anywhere is not a local folder" in lines[0], (
        result.stderr
    )
    assert "HF_HUB_OFFLINE=1" in lines[0]


def test_local_paths_resolve_to_themselves_and_bad_ones_say_why(tmp_path, tiny_model_dir):
    assert resolve_checkpoint(tiny_model_dir) == tiny_model_dir
    assert resolve_checkpoint(str(tiny_model_dir)) == tiny_model_dir
    with pytest.raises(CheckpointNotFound, match="is a file, not a checkpoint folder"):
        resolve_checkpoint(tiny_model_dir / "config.json")
    with pytest.raises(CheckpointNotFound, match=r"no config\.json"):
        resolve_checkpoint(tmp_path)
    with pytest.raises(CheckpointNotFound, match="no such checkpoint directory"):
        resolve_checkpoint(tmp_path / "gone" / "ckpt")  # a path that cannot be a repo id is not looked up
