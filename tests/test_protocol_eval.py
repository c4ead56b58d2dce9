"""Issue 15 end to end: `longvt eval run --protocol upstream` against stand-in servers.

- a server with vLLM's image limit refuses the request after a crop (HTTP 400): every sample ends as
  `context_exhausted`, is not a failed request, and the results table counts them;
- the results carry VideoMME's per-duration and per-category accuracy and the protocol card of `upstream`;
- a judge that is down stops the run before it starts, unless `--judge-fallback rule`; a judge that goes down
  mid-run stops the scorer (`JudgeUnreachable`), unless fallback is chosen, and then every fallback is counted.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from longvt_plugins.testing.openai_server import OpenAIStubServer, closed_port_url
from longvt_plugins.testing.sample_benchmarks import window_reader_policy, write_sample_benchmarks

SKIM = 8


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    return write_sample_benchmarks(tmp_path_factory.mktemp("bench"))


def _env(sample, **extra) -> dict[str, str]:
    env = dict(os.environ, LONGVT_EVAL_VIDEO_ROOT=str(sample.video_root), LONGVT_JUDGE_CACHE="off")
    for key in ("LONGVT_JUDGE_BASE_URL", "LLM_AS_A_JUDGE_BASE", "LONGVT_JUDGE_FALLBACK", "LONGVT_PROTOCOL"):
        env.pop(key, None)
    env.update(extra)
    return env


def _run(sample, tmp_path, base_url, *more, **env):
    out = tmp_path / "out"
    cmd = [
        sys.executable, "-m", "longvt_plugins.cli", "eval", "run", "--protocol", "upstream",
        "--model-args", f"base_url={base_url},model_version=LongVT-RFT,max_frames={SKIM},concurrency=2",
        "--tasks", "longvtp_videomme_sub_tool,longvtp_lvbench_tool",
        "--data", f"videomme={sample.data['longvtp_videomme']}",
        "--data", f"lvbench={sample.data['longvtp_lvbench']}",
        "--videos", str(sample.video_root), "--output", str(out), *more,
        "--", "--verbosity", "WARNING",
    ]  # fmt: skip
    proc = subprocess.run(cmd, env=_env(sample, **env), capture_output=True, text=True, cwd=tmp_path)
    return proc, out


@pytest.mark.slow
def test_too_many_images_ends_samples_as_context_exhausted_and_the_table_counts_them(sample, tmp_path):
    # The skim fits (8 images); the request after a crop (8 + its frames) is refused as vLLM refuses it.
    with OpenAIStubServer(window_reader_policy, model="LongVT-RFT", max_images=SKIM + 1) as policy:
        proc, out = _run(sample, tmp_path, policy.base_url, "--judge-fallback", "rule")
        statuses = [s for _, path, s in policy.log if path.endswith("/chat/completions")]
        first = policy.requests[0]
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert statuses.count(400) == 3 and statuses.count(200) == 3  # 2 VideoMME docs + 1 LVBench doc
    results_file = next(out.glob("*/*_results.json"))
    results = json.loads(results_file.read_text())
    res = results["results"]
    for task, n in (("longvtp_videomme_sub_tool", 2), ("longvtp_lvbench_tool", 1)):
        assert res[task]["context_exhausted,none"] == n
        assert res[task]["failed,none"] == 0.0  # not counted as a failed request
        assert res[task]["acc,none"] == 0.0  # no answer was given
    assert res["longvtp_videomme_sub_tool"]["by_duration,none"] == "short 0.000 (n=2)"
    assert res["longvtp_videomme_sub_tool"]["by_category,none"] == "Object Recognition 0.000 (n=2)"
    samples = next(out.glob("*/*_samples_longvtp_lvbench_tool.jsonl")).read_text().splitlines()
    log = json.loads(samples[0])["longvt"]
    assert log["stop_reason"] == "context_exhausted"
    card = results["longvt_protocol"]["longvtp_lvbench_tool"]
    assert card["protocol"] == "upstream+custom"  # max_frames=8 changed a budget of upstream
    assert card["definition"]["tool"]["schema"] == "upstream_crop_video_schema.json"
    # What upstream's checkpoints are sent: untimestamped frames, the path line, the MCP schema, two params.
    assert set(first) == {"model", "messages", "max_tokens", "temperature", "tools", "tool_choice"}
    assert "video_path" in first["tools"][0]["function"]["parameters"]["properties"]
    texts = [p["text"] for p in first["messages"][-1]["content"] if p["type"] == "text"]
    assert texts[-1].startswith("\nVideo 0 has video path: ")


def test_a_judge_that_is_down_stops_the_run_before_it_starts(sample, tmp_path):
    proc, out = _run(sample, tmp_path, closed_port_url(), LONGVT_JUDGE_BASE_URL=closed_port_url())
    assert proc.returncode == 2
    assert "unreachable" in proc.stderr and "--judge-fallback rule" in proc.stderr
    assert not out.exists() or not list(out.glob("*/*_results.json"))


def test_a_judge_lost_mid_run_stops_scoring_unless_rule_fallback(monkeypatch, capsys):
    from longvt_plugins.lmms_eval.judge_stop import JUDGE_STOP_EXIT, JudgeStopped
    from longvt_plugins.lmms_eval.results import process

    monkeypatch.setenv("LONGVT_JUDGE_BASE_URL", closed_port_url())
    monkeypatch.setenv("LONGVT_JUDGE_CACHE", "off")
    doc = {"question": "What colour?", "answer": "red"}
    # A SystemExit: lmms-eval neither retries it nor prints a traceback (tests/test_judge_mid_run.py: the CLI).
    with pytest.raises(JudgeStopped) as stopped:
        process(
            doc, ["<think>x</think><answer>crimson</answer>"], style="tool", question="q", ground_truth="red"
        )
    assert stopped.value.code == JUDGE_STOP_EXIT and "judge-fallback rule" in capsys.readouterr().err
    # Exact answers never reach the judge: no stop for them.
    ok = process(
        doc, ["<think>x</think><answer>red</answer>"], style="tool", question="q", ground_truth="red"
    )
    assert ok["acc"] == 1.0 and ok["longvt"]["scoring"]["method"] == "rule"
    monkeypatch.setenv("LONGVT_JUDGE_FALLBACK", "rule")
    out = process(
        doc, ["<think>x</think><answer>crimson</answer>"], style="tool", question="q", ground_truth="red"
    )
    assert out["judge_fallback"] == 1.0 and out["acc"] == 0.0
    assert out["longvt"]["scoring"]["method"] == "rule_fallback"


def test_recorded_outputs_scored_twice_give_identical_results(monkeypatch):
    from longvt_plugins.lmms_eval.results import process

    def judge(body):
        prompt = body["messages"][-1]["content"]
        return "TRUE" if "crimson" in prompt else "FALSE"

    recorded = [
        ("<think>x</think><answer>crimson</answer>", "red", None),  # judge decides
        ("<think>x</think><answer>red</answer>", "red", None),  # rule decides
        ("<think>x</think><answer>B</answer>", "B", "ABCD"),  # letter decides, judge asked for agreement
        ("<think>x</think><answer>the second one</answer>", "B", "ABCD"),  # no letter: wrong
    ]
    with OpenAIStubServer(judge, model="judge") as server:
        monkeypatch.setenv("LONGVT_JUDGE_BASE_URL", server.base_url)
        monkeypatch.setenv("LONGVT_JUDGE_CACHE", "off")

        def score_all():
            out = []
            for response, gt, options in recorded:
                row = process(
                    {"q": gt}, [response], style="tool", question="q", ground_truth=gt, options=options
                )
                out.append(
                    {k: v for k, v in row.items() if k != "longvt"} | {"method": row["longvt"]["scoring"]}
                )
            return out

        first, second = score_all(), score_all()
        asked = len(server.requests)
    assert first == second
    assert [r["acc"] for r in first] == [1.0, 1.0, 1.0, 0.0]
    assert [r["method"]["method"] for r in first] == ["judge", "rule", "choice", "no_choice"]
    assert [r["judge_rule_agreement"] for r in first] == [None, None, False, True]
    assert asked == 2 * 3  # the rule-decided answer never reached the judge
