"""`longvt eval check-data`: a local benchmark copy checked against the fields and files our tasks read."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from longvt_plugins.lmms_eval.datacheck import check_benchmark


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    from longvt_plugins.testing.sample_benchmarks import write_sample_benchmarks

    return write_sample_benchmarks(tmp_path_factory.mktemp("checkdata"), duration=6.0)


@pytest.fixture
def video_root(sample, monkeypatch):
    monkeypatch.setenv("LONGVT_EVAL_VIDEO_ROOT", str(sample.video_root))
    return sample.video_root


def test_complete_sample_copies_pass(sample, video_root):
    for bench, path in sample.data.items():
        report = check_benchmark(bench, path)
        assert report.ok, report.to_dict()
        assert report.rows > 0
    mmmu = check_benchmark("videommmu", sample.data["longvtp_videommmu"])
    assert mmmu.question_types["open"] == {"rows": 1}
    assert mmmu.question_types["multiple-choice"] == {"rows": 3, "with_options": 3}


def test_missing_fields_videos_and_subtitles_are_reported(sample, video_root, tmp_path):
    rows = [json.loads(line) for line in sample.data["longvtp_videomme"].read_text().splitlines()]
    rows[0].pop("options")
    rows[1]["videoID"] = "not_there"
    broken = tmp_path / "videomme.jsonl"
    broken.write_text("".join(json.dumps(r) + "\n" for r in rows))
    report = check_benchmark("videomme", broken)
    assert not report.ok
    assert report.missing_fields["options"] == 1
    assert report.missing_videos == 1 and "not_there" in report.video_examples[0]
    assert report.missing_subtitles == 1
    assert report.missing_optional["domain"] == 2  # only the breakdown reads it: reported, not fatal


def test_cli_exit_code_and_output(sample, tmp_path):
    env = dict(os.environ, LONGVT_EVAL_VIDEO_ROOT=str(tmp_path / "empty"))
    cmd = [sys.executable, "-m", "longvt_plugins.cli", "eval", "check-data"]
    bad = subprocess.run(
        [*cmd, "--data", f"lvbench={sample.data['longvtp_lvbench']}"], env=env, capture_output=True, text=True
    )
    assert bad.returncode == 1, bad.stderr
    assert "rows have no video file" in bad.stdout
    good = subprocess.run(
        [
            *cmd,
            "--data",
            f"lvbench={sample.data['longvtp_lvbench']}",
            "--videos",
            str(sample.video_root),
            "--json",
        ],
        env=env,
        capture_output=True,
        text=True,
    )
    assert good.returncode == 0, good.stdout + good.stderr
    assert json.loads(good.stdout)[0]["ok"] is True
