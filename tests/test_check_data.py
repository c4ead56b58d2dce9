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


# ------------------------------------------------------------------------------------- issue 26: bad input
def _videomme_lines(sample) -> list[str]:
    return sample.data["longvtp_videomme"].read_text().splitlines()


@pytest.mark.parametrize("junk", ["[1, 2]", "null", '"text"', "7"])
def test_a_line_that_is_json_but_not_an_object_is_named(junk, sample, video_root, tmp_path):
    lines = _videomme_lines(sample)
    path = tmp_path / "videomme.jsonl"
    path.write_text("\n".join([lines[0], junk, *lines[1:]]) + "\n")
    report = check_benchmark("videomme", path)
    assert not report.ok
    assert any(e.startswith(f"{path}:2: a row must be a JSON object") for e in report.errors), report.errors
    assert report.rows == len(lines)  # the other rows are still checked


def test_a_json_error_names_its_own_line_and_column(sample, video_root, tmp_path):
    lines = _videomme_lines(sample)
    path = tmp_path / "videomme.jsonl"
    path.write_text("\n".join([lines[0], lines[1][:-5], *lines[2:]]) + "\n")
    report = check_benchmark("videomme", path)
    assert not report.ok
    assert any(e.startswith(f"{path}:2: not valid JSON") and "column" in e for e in report.errors), (
        report.errors
    )


def test_options_stored_as_one_string_are_a_problem_not_ok(sample, video_root, tmp_path):
    rows = [json.loads(line) for line in _videomme_lines(sample)]
    rows[1]["options"] = "A. red B. blue C. green D. white"
    path = tmp_path / "videomme.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    report = check_benchmark("videomme", path)
    assert not report.ok
    assert report.errors == [f"row 2: field 'options' is one string; it must be a list with one entry per option "
                             f"({rows[1]['options']!r})"]  # fmt: skip


@pytest.mark.parametrize("content", ["", "\n\n  \n"])
def test_an_empty_file_says_why_it_has_no_rows(content, video_root, tmp_path):
    path = tmp_path / "lvbench.jsonl"
    path.write_text(content)
    report = check_benchmark("lvbench", path)
    assert not report.ok and report.rows == 0
    assert report.errors and report.errors[0].startswith(f"{path}: no rows: ")


def test_hf_json_lines_under_a_json_name_are_read(sample, video_root, tmp_path):
    path = tmp_path / "videomme.json"  # `Dataset.to_json` writes JSON lines whatever the suffix
    path.write_text(sample.data["longvtp_videomme"].read_text())
    assert check_benchmark("videomme", path).ok


def test_option_layouts_are_reported_with_what_upstream_sends(sample, video_root, tmp_path):
    from longvt_plugins.lmms_eval.option_layout import layout

    assert layout({"question": "Q?\n(A) x\n(B) y"}) == "inline"
    assert layout({"question": "Q?", "options": ["A. x", "B. y"]}) == "list_lettered"
    assert layout({"question": "Q?\n(A) x", "options": ["x", "y"]}) == "inline+list_bare"
    assert check_benchmark("lvbench", sample.data["longvtp_lvbench"]).option_layouts == {"inline": 1}
    rows = [json.loads(line) for line in sample.data["longvtp_lvbench"].read_text().splitlines()]
    rows[0]["question"], rows[0]["options"] = "Which colour?", ["red", "blue", "green"]
    path = tmp_path / "lvbench_list.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    report = check_benchmark("lvbench", path)
    assert report.option_layouts == {"list_bare": 1} and "shows no options" in report.protocol_notes[0]
