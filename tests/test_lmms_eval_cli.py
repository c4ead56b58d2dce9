"""Full runs of the real lmms-eval 0.7.3 CLI with our model and tasks on local data, and the `longvt eval` group.

1. `lmms-eval --model longvt_agent` against a server on 127.0.0.1 that speaks the OpenAI chat protocol with tool
   calls (a stand-in for vLLM that crops the window named in the question, reads the frames it gets back, and
   answers) and a judge server: results JSON and samples JSONL are written, the tool ran on the real video, and
   acc / format are what that script implies.
2. `longvt eval run --model longvt_agent_hf` with the tiny random Qwen2.5-VL in-process.
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
from longvt_plugins.lmms_eval import tasks_path
from longvt_plugins.lmms_eval.overlay import build_overlay
from longvt_plugins.testing.openai_server import OpenAIStubServer
from longvt_plugins.testing.sample_benchmarks import window_reader_policy, write_sample_benchmarks

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    return write_sample_benchmarks(tmp_path_factory.mktemp("bench"))


def _env(sample, **extra) -> dict[str, str]:
    env = dict(os.environ, LONGVT_EVAL_VIDEO_ROOT=str(sample.video_root), LONGVT_JUDGE_CACHE="off", **extra)
    env.pop("LONGVT_JUDGE_BASE_URL", None)
    env.update(extra)
    return env


def _substring_judge(body):
    prompt = body["messages"][-1]["content"]
    ref = prompt.split("[Reference]:")[1].split("\n")[0].strip().lower()
    ans = prompt.split("[Model answer]:")[1].split("\n")[0].strip().lower()
    return "TRUE" if ans and ans in ref else "FALSE"


def _response(row: dict) -> str:
    # lmms-eval writes one response as a plain string, several as a list.
    resp = row["filtered_resps"]
    return resp[0] if isinstance(resp, list) else resp


def _outputs(out_dir: Path) -> tuple[dict, dict[str, list[dict]]]:
    results = sorted(out_dir.glob("*/*_results.json"))
    assert len(results) == 1, list(out_dir.rglob("*"))
    stamp = results[0].name[: -len("_results.json")]
    samples = {}
    for f in results[0].parent.glob(f"{stamp}_samples_*.jsonl"):
        samples[f.stem.split("_samples_", 1)[1]] = [json.loads(line) for line in f.read_text().splitlines()]
    return json.loads(results[0].read_text()), samples


@pytest.mark.slow
def test_real_lmms_eval_cli_with_a_tool_calling_server(sample, tmp_path):
    overlay = build_overlay(tmp_path / "tasks", sample.data)
    out = tmp_path / "out"
    tasks = "longvtp_videosiah_tool,longvtp_lvbench_tool,longvtp_videommmu_tool"
    with (
        OpenAIStubServer(window_reader_policy, model="longvt-7b") as policy,
        OpenAIStubServer(_substring_judge, model="judge") as judge,
    ):
        cmd = [
            sys.executable, "-m", "lmms_eval",
            "--model", "longvt_agent",
            "--model_args", f"base_url={policy.base_url},model_version=longvt-7b,max_frames=8,concurrency=4",
            "--tasks", tasks, "--include_path", str(overlay), "--output_path", str(out), "--log_samples",
            "--verbosity", "WARNING",
        ]  # fmt: skip
        proc = subprocess.run(
            cmd,
            env=_env(sample, LONGVT_JUDGE_BASE_URL=judge.base_url),
            capture_output=True,
            text=True,
            cwd=tmp_path,
        )
        judged = len(judge.requests)
        policy_requests = list(policy.requests)
    assert proc.returncode == 0, proc.stderr[-3000:]
    results, samples = _outputs(out)
    res = results["results"]
    # The script crops the named window and answers the colour it sees: right for every colour question, wrong
    # for the one open question that asks for a shape (VideoMMMU adaptation, doc 2) - the judge says so.
    expected_acc = {
        "longvtp_videosiah_tool": 1.0,
        "longvtp_lvbench_tool": 1.0,
        "longvtp_videommmu_adaptation_tool": 0.5,
        "longvtp_videommmu_comprehension_tool": 1.0,
        "longvtp_videommmu_perception_tool": 1.0,
    }
    for task, acc in expected_acc.items():
        assert res[task]["acc,none"] == acc, task
        assert res[task]["format,none"] == 1.0
        assert res[task]["tool_calls,none"] == 1.0
        assert res[task]["failed,none"] == 0.0 and res[task]["judge_fallback,none"] == 0.0
    assert "longvtp_videommmu_tool" in res  # the group row
    # The two open VideoSIAH answers and the open VideoMMMU one are decided by the judge; the four letters are
    # decided by rule, and the judge is asked about them only for the agreement figure.
    assert judged == 3 + 4
    assert res["longvtp_lvbench_tool"]["judge_rule_agreement,none"] == 1.0
    assert res["longvtp_videosiah_tool"]["judge_rule_agreement,none"] == "n/a"  # no multiple choice there
    assert all(res[task]["context_exhausted,none"] == 0 for task in expected_acc)
    # Every sample: one crop of the named window of the real video, frames counted and inside the window.
    for task, rows in samples.items():
        for row in rows:
            log = row["longvt"]
            crop = log["crops"][0]
            assert crop["ok"] and crop["frames"] == len(crop["timestamps"]) >= 2
            assert all(crop["window"][0] <= t <= crop["window"][1] for t in crop["timestamps"])
            assert log["video"]["duration"] == 30.0 and log["skim_frames"] == 8
            assert row["token_counts"][0]["input_tokens"] > 0
            assert "<tool_call>" in _response(row) and "<tool_response>" in _response(row)
            assert row["protocol"]["id"] == res[task]["protocol,none"]
    assert sum(1 for r in policy_requests if any(m["role"] == "tool" for m in r["messages"])) == 7
    # `longvt eval card` puts the full card into the results file and beside it.
    result_file = next(out.glob("*/*_results.json"))
    cli = CliRunner().invoke(app, ["eval", "card", str(result_file)])
    assert cli.exit_code == 0, cli.output
    card = json.loads(Path(cli.output.strip()).read_text())["longvtp_lvbench_tool"]
    assert card["model"]["model"] == "longvt-7b" and card["max_new_tokens"] == 49152
    assert card["frames"]["max_frames"] == 8 and card["judge"]["prompt_sha256"]
    assert card["versions"]["lmms-eval"] == "0.7.3"
    assert json.loads(result_file.read_text())["longvt_protocol"]["longvtp_lvbench_tool"]["id"] == card["id"]


@pytest.mark.slow
def test_longvt_eval_run_with_the_in_process_tiny_model(sample, tmp_path, tiny_model_dir):
    out = tmp_path / "out"
    cmd = [
        sys.executable, "-m", "longvt_plugins.cli", "eval", "run",
        "--model", "longvt_agent_hf",
        "--model-args", f"pretrained={tiny_model_dir},max_frames=4,max_new_tokens=16,max_turns=2",
        "--tasks", "longvtp_videosiah_tool,longvtp_lvbench_think",
        "--data", f"videosiah={sample.data['longvtp_videosiah']}",
        "--data", f"lvbench={sample.data['longvtp_lvbench']}",
        "--videos", str(sample.video_root), "--output", str(out),
        "--", "--verbosity", "WARNING",
    ]  # fmt: skip
    proc = subprocess.run(cmd, env=_env(sample), capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    results, samples = _outputs(out)
    assert set(samples) == {"longvtp_videosiah_tool", "longvtp_lvbench_think"}
    assert "protocol" in proc.stderr and "_protocol.json" in proc.stderr  # where the results are
    from longvt_plugins.core.answer import format_score

    for task, rows in samples.items():
        for row in rows:
            log = row["longvt"]
            assert row["failed"] == 0.0 and log["stop_reason"] not in ("backend_error", "video_error")
            assert log["skim_frames"] == 4 and 1 <= len(log["turns"]) <= 2
            assert all(0 < (t["completion_tokens"] or 0) <= 16 for t in log["turns"])
            assert log["usage"]["prompt_tokens"] > 0  # counted by the real processor, video frames included
            # Random weights say nothing useful; the scores are whatever the rules make of that text.
            assert row["format"] == format_score(_response(row))
        assert results["results"][task]["failed,none"] == 0.0
    card = results["longvt_protocol"]["longvtp_videosiah_tool"]
    assert card["model"]["name"] == "transformers" and card["model"]["family"] == "qwen2_5_vl"
    assert card["tool_parser"] == "longvt hermes (text)"


def test_eval_tasks_path_and_bad_arguments():
    runner = CliRunner()
    listed = runner.invoke(app, ["eval", "tasks"], env={"COLUMNS": "200"})
    assert listed.exit_code == 0 and "longvtp_videommmu_perception_tool" in listed.output
    path = runner.invoke(app, ["eval", "path"])
    assert path.exit_code == 0 and Path(path.output.strip()) == tasks_path()
    bad = runner.invoke(app, ["eval", "run", "--tasks", "x", "--data", "nope"])
    assert bad.exit_code == 2 and "BENCHMARK=PATH" in bad.output
    bad = runner.invoke(app, ["eval", "run", "--tasks", "x", "--data", "nosuch=/tmp/x.jsonl"])
    assert bad.exit_code == 2 and "unknown benchmark" in bad.output
    bad = runner.invoke(app, ["eval", "run", "--tasks", "x", "--protocol", "fast"])
    assert bad.exit_code == 2


def test_lmms_eval_resolves_our_model_ids():
    from lmms_eval.models import get_model

    from longvt_plugins.lmms_eval import check_registration
    from longvt_plugins.lmms_eval.manifest import longvt_models
    from longvt_plugins.lmms_eval.model import LongVTAgent, LongVTAgentHF

    ok, message = check_registration()
    assert ok, message
    assert get_model("longvt_agent") is LongVTAgent and get_model("longvt_agent_openai") is LongVTAgent
    assert (
        get_model("longvt_agent_hf") is LongVTAgentHF
        and get_model("longvt_agent_transformers") is LongVTAgentHF
    )
    assert LongVTAgent.is_simple is False
    assert {m.model_id for m in longvt_models()} == {"longvt_agent", "longvt_agent_hf"}
    # The entry point is what lmms-eval loads (not just our own import of the manifest).
    from importlib.metadata import entry_points

    (ep,) = [e for e in entry_points(group="lmms_eval.models") if e.name == "longvt"]
    assert ep.load() is longvt_models
    assert ROOT.joinpath("eval_tasks", "__init__.py").is_file()
