"""`longvt ask` and `longvt view`: the README's main-job command from a clean cache, a server run, bad inputs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
from test_agent_support import crop_then_answer
from typer.testing import CliRunner

from longvt_plugins.cli import app
from longvt_plugins.core.trace import TRACE_JSON_SCHEMA, Trace
from longvt_plugins.testing.openai_server import OpenAIStubServer, closed_port_url

LONGVT = Path(sys.executable).parent / "longvt"


@pytest.fixture(autouse=True)
def _no_judge(monkeypatch):
    for name in ("LONGVT_JUDGE_BASE_URL", "LLM_AS_A_JUDGE_BASE", "LONGVT_POLICY_BASE_URL"):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.slow
def test_readme_main_job_runs_the_demo_from_a_clean_cache(tmp_path):
    """`longvt ask --html runs/demo/trace.html`, exactly as the README has it, with nothing cached yet: the shipped
    miniature model skims, crops exactly the asked scene with a valid crop_video call, gets the frames and answers
    the demo question correctly, in the trained format."""
    from longvt_plugins.miniature.demo import demo_item

    env = {k: v for k, v in os.environ.items() if not k.startswith(("LONGVT_", "LLM_AS_A_JUDGE"))}
    env["LONGVT_CACHE"] = str(tmp_path / "clean-cache")
    run = subprocess.run(
        [str(LONGVT), "ask", "--html", "runs/demo/trace.html", "--json", "runs/demo/trace.json"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    item = demo_item(tmp_path / "clean-cache")
    assert "MINIATURE DEMO" in run.stderr and "skim: 8 frames of a 128.0s video" in run.stderr
    assert "-> crop_video(start_time=" in run.stderr and "-> 8 frames" in run.stderr
    assert run.stdout.strip() == item.answer
    html = (tmp_path / "runs/demo/trace.html").read_text()
    assert "<svg" in html and "data:image/jpeg;base64," in html
    data = json.loads((tmp_path / "runs/demo/trace.json").read_text())
    jsonschema.validate(data, TRACE_JSON_SCHEMA)
    trace = Trace.from_dict(data)
    assert trace.meta["miniature"] is True and trace.backend["random_weights"] is False
    assert trace.ground_truth == item.answer and trace.score["method"] == "rule"
    assert len(trace.crop_windows) == 1 and trace.stop_reason == "answer"
    assert trace.crop_windows == [(item.start, item.end)]  # the asked scene, whole
    assert trace.score["correct"] and trace.final_answer == item.answer


@pytest.mark.slow
def test_random_weight_demo_still_runs(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LONGVT_", "LLM_AS_A_JUDGE"))}
    env["LONGVT_CACHE"] = str(tmp_path / "clean-cache")
    run = subprocess.run(
        [str(LONGVT), "ask", "--demo", "random", "--json", "runs/demo/trace.json"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    assert "RANDOM-WEIGHT DEMO" in run.stderr and "skim: 16 frames of a 120.0s video" in run.stderr
    trace = Trace.from_dict(json.loads((tmp_path / "runs/demo/trace.json").read_text()))
    assert trace.meta["random_weights"] is True and trace.backend["random_weights"] is True
    assert trace.ground_truth == "yellow square" and trace.score["method"] == "rule"
    assert 1 <= len(trace.turns) <= 3 and trace.usage["completion_tokens"] <= 144
    assert (tmp_path / "clean-cache/models/tiny-qwen2.5-vl/config.json").exists()  # built on first use


def test_ask_against_a_server_scores_and_writes_both_outputs(tmp_path, sample_video):
    runner = CliRunner()
    with OpenAIStubServer(crop_then_answer(60, 70, "yellow square"), model="policy") as server:
        result = runner.invoke(
            app,
            [
                "ask",
                sample_video.path,
                "Which shape starts at 60 s?",
                "--base-url",
                server.base_url,
                "--model",
                "policy",
                "--answer",
                "Yellow square.",
                "--skim-max-frames",
                "8",
                "--crop-max-frames",
                "8",
                "--json",
                str(tmp_path / "t.json"),
                "--html",
                str(tmp_path / "t.html"),
            ],
        )
    assert result.exit_code == 0, result.output
    assert result.stdout.strip().splitlines()[-1] == "yellow square"
    assert "crop #1: 60.0s-70.0s -> 8 frames" in result.output
    trace = Trace.load(tmp_path / "t.json")
    assert trace.score["correct"] is True and trace.crops[0].ok and trace.budgets["skim"]["max_frames"] == 8
    assert 'data-start="60.000"' in (tmp_path / "t.html").read_text()


def test_ask_with_a_dead_server_keeps_the_trace_and_exits_1(tmp_path, sample_video):
    result = CliRunner().invoke(
        app,
        [
            "ask",
            sample_video.path,
            "q",
            "--base-url",
            closed_port_url(),
            "--model",
            "m",
            "--skim-max-frames",
            "4",
            "--json",
            str(tmp_path / "t.json"),
        ],
    )
    assert result.exit_code == 1
    trace = Trace.load(tmp_path / "t.json")
    assert trace.stop_reason == "backend_error" and "cannot reach" in trace.error


@pytest.mark.parametrize(
    "args,message",
    [
        (["/nonexistent/video.mp4", "q"], "cannot use /nonexistent/video.mp4"),
        (["VIDEO"], "QUESTION"),
        (["VIDEO", "q", "--style", "poetry"], "style must be one of"),
        (["VIDEO", "q", "--model", "/nonexistent/ckpt"], "no such checkpoint directory"),
        (
            ["VIDEO", "q", "--max-turns", "-1", "--base-url", "http://127.0.0.1:9/v1", "--model", "m"],
            "max_turns",
        ),
    ],
)
def test_ask_bad_inputs_are_clear_errors(args, message, sample_video):
    args = [sample_video.path if a == "VIDEO" else a for a in args]
    result = CliRunner().invoke(app, ["ask", *args])
    assert result.exit_code == 2
    assert message in " ".join(result.output.split()), result.output


@pytest.fixture(scope="module")
def bad_videos(tmp_path_factory, sample_video) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("bad videos")  # a space: the path must come out whole in the one line
    data = Path(sample_video.path).read_bytes()
    out = {"missing": root / "missing.mp4", "empty": root / "empty.mp4", "text": root / "notes.mp4"}
    out["empty"].write_bytes(b"")
    out["text"].write_text("not a video\n")
    out["truncated"] = root / "truncated.mp4"  # a real mp4 cut in half (its index is at the end: gone)
    out["truncated"].write_bytes(data[: len(data) // 2])
    out["directory"] = root / "folder.mp4"
    out["directory"].mkdir()
    return out


REASONS = {
    "missing": "not found",
    "empty": "empty (0 bytes)",
    "text": "not a video file",
    "truncated": "truncated or damaged",
    "directory": "is a directory",
}


@pytest.mark.parametrize("quiet", [False, True], ids=["loud", "quiet"])
@pytest.mark.parametrize("kind", sorted(REASONS))
def test_a_bad_video_is_one_line_on_stderr_with_and_without_quiet(bad_videos, kind, quiet):
    """-q silences progress, never errors: the path and the reason on one stderr line, nothing on stdout."""
    args = ["ask", str(bad_videos[kind]), "q", "--base-url", closed_port_url(), "--model", "m"]
    result = CliRunner().invoke(app, args + (["-q"] if quiet else []))
    assert result.exit_code == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert str(bad_videos[kind]) in lines[0] and REASONS[kind] in lines[0]


@pytest.mark.parametrize("quiet", [False, True], ids=["loud", "quiet"])
def test_a_dead_server_is_one_error_line_and_no_answer_line(tmp_path, sample_video, quiet):
    url = closed_port_url()
    args = ["ask", sample_video.path, "q", "--base-url", url, "--model", "m", "--skim-max-frames", "4"]
    result = CliRunner().invoke(app, args + (["-q"] if quiet else []))
    assert result.exit_code == 1
    assert result.stdout == ""  # an empty "answer" line would read as the model's answer to a script
    errors = [line for line in result.stderr.splitlines() if "failed mid-run" in line]
    assert len(errors) == 1 and f"cannot reach {url}" in errors[0], result.stderr
    if quiet:
        assert result.stderr.strip().splitlines() == errors


def test_view_renders_a_trace_file_and_rejects_what_is_not_one(tmp_path, sample_video):
    with OpenAIStubServer(crop_then_answer(10, 14, "red")) as server:
        CliRunner().invoke(
            app,
            [
                "ask",
                sample_video.path,
                "q",
                "--base-url",
                server.base_url,
                "--model",
                "m",
                "--skim-max-frames",
                "4",
                "--json",
                str(tmp_path / "a.json"),
            ],
        )
    result = CliRunner().invoke(app, ["view", str(tmp_path / "a.json")])
    assert result.exit_code == 0, result.output
    assert 'class="crop-window"' in (tmp_path / "a.html").read_text()

    (tmp_path / "junk.jsonl").write_text('{"hello": 1}\nnot json\n')
    result = CliRunner().invoke(app, ["view", str(tmp_path / "junk.jsonl"), "-o", str(tmp_path / "j.html")])
    output = " ".join(result.output.split())
    assert result.exit_code == 2 and "no traces found" in output and "not JSON" in output
    assert not (tmp_path / "j.html").exists()
    assert CliRunner().invoke(app, ["view", str(tmp_path / "missing.json")]).exit_code == 2
