"""`longvt data check` and `longvt data to-verl` on bad rows: one line per problem naming FILE:LINE, a non-zero
exit, no traceback; `--on-bad-row skip` counts instead of stopping (issue 26)."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from longvt_plugins.cli import app
from longvt_plugins.testing.sft_rows import tool_trace_row


def _run(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def test_data_check_lists_every_bad_sft_row_with_its_line(tmp_path):
    good = tool_trace_row("/v/a.mp4", row_id="ok")
    no_response = json.loads(json.dumps(good))
    msgs = json.loads(no_response["messages"])
    no_response.update(id="no-response", messages=json.dumps([m for m in msgs if m["role"] != "tool"]))
    path = tmp_path / "sft.jsonl"
    path.write_text(
        "\n".join([json.dumps(good), json.dumps(good)[:50], "[1, 2]", json.dumps(no_response)]) + "\n"
    )
    result = _run("data", "check", path)
    assert result.exit_code == 1 and result.exception is None or isinstance(result.exception, SystemExit)
    out = result.output
    assert f"{path}: 1 rows kept, 3 skipped of 4" in out
    assert f"{path}:2: not valid JSON" in out
    assert f"{path}:3: a row must be a JSON object, got an array" in out
    assert f"{path}:4: row no-response: messages[2]: a tool call (crop_video) without a tool response" in out
    assert "Traceback" not in out


def test_data_check_passes_good_rows_and_says_why_an_empty_file_fails(tmp_path):
    good = tmp_path / "sft.jsonl"
    good.write_text(json.dumps(tool_trace_row("/v/a.mp4")) + "\n")
    ok = _run("data", "check", good)
    assert ok.exit_code == 0 and "1 rows kept, 0 skipped of 1" in ok.output
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    bad = _run("data", "check", empty)
    assert bad.exit_code == 1 and f"{empty}: no rows: the file is empty" in bad.output


def test_data_check_on_rl_records_refuses_wrong_types(tmp_path):
    path = tmp_path / "qa.jsonl"
    rows = [
        {"question": "q?", "answer": "a", "video_path": "/v.mp4"},
        {"question": "q?", "answer": "a", "video_path": "/v.mp4", "options": "A. x B. y"},
        {"question": 7, "answer": "a", "video_path": "/v.mp4"},
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    result = _run("data", "check", path, "--kind", "rl")
    assert result.exit_code == 1
    assert f"{path}:2: row {path}:2: field 'options' is one string" in result.output
    assert f"{path}:3: row {path}:3: field 'question' must be a string, got int 7" in result.output


def test_to_verl_stops_on_a_bad_line_by_default_and_counts_it_when_asked(tmp_path):
    path = tmp_path / "qa.jsonl"
    path.write_text(json.dumps({"question": "q?", "answer": "a", "video_path": "/none.mp4"}) + "\nnull\n")
    out = tmp_path / "rl.parquet"
    stop = _run("data", "to-verl", path, "--out", out)
    assert stop.exit_code == 2
    assert stop.output.strip() == f"error: {path}:2: a row must be a JSON object, got null"
    assert not out.exists()  # nothing half-written
    skip = _run("data", "to-verl", path, "--out", out, "--on-bad-row", "skip")
    assert skip.exit_code == 0 and "rejected 2 samples" in skip.output  # the null line and the missing video
    rejected = [
        json.loads(line) for line in (tmp_path / "rl.parquet.rejected.jsonl").read_text().splitlines()
    ]
    assert any(r["reason"].startswith(f"{path}:2: a row must be a JSON object") for r in rejected)
