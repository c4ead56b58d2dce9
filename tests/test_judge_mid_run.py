"""Issue 26: a judge that passes the start-up check of `longvt eval run`, then answers HTTP 500 while scoring.

Real lmms-eval 0.7.3 (`longvt eval run` starts it as its own process), real HTTP on 127.0.0.1: a tool-calling
policy server and a judge that gives `JUDGED` verdicts and then fails every request.

- `--judge-fallback stop` (default): one line on stderr, no traceback, exit 3, no line claiming a rule score;
  every generated answer is on disk, and a rerun with `--resume` and the judge back scores them with no request
  to the policy server (lmms-eval 0.7.3 itself retried the scorer five times, printed two tracebacks and lost
  every answer).
- `--judge-fallback rule`: the run ends, each fallback counted in `judge_fallback` and logged - and only those.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading

import pytest

from longvt_plugins.lmms_eval.answer_store import AnswerStore, answer_key
from longvt_plugins.testing.openai_server import Fault, OpenAIStubServer
from longvt_plugins.testing.sample_benchmarks import window_reader_policy, write_sample_benchmarks

TASKS = "longvtp_videosiah_tool,longvtp_lvbench_tool,longvtp_videommmu_tool"
DOCS = 2 + 1 + 4  # VideoSIAH, LVBench, VideoMMMU (three subsets) in the sample benchmarks
JUDGED = 2  # verdicts the judge gives before it fails
RETRIES = 1  # LONGVT_JUDGE_RETRIES: each doc asks the judge at most twice
# What the window-reading policy earns once a judge decides (test_lmms_eval_cli: one open answer is wrong).
EXPECTED_ACC = {
    "longvtp_videosiah_tool": 1.0,
    "longvtp_lvbench_tool": 1.0,
    "longvtp_videommmu_adaptation_tool": 0.5,
    "longvtp_videommmu_comprehension_tool": 1.0,
    "longvtp_videommmu_perception_tool": 1.0,
}


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    return write_sample_benchmarks(tmp_path_factory.mktemp("bench"))


def _substring_judge(body):
    prompt = body["messages"][-1]["content"]
    ref = prompt.split("[Reference]:")[1].split("\n")[0].strip().lower()
    ans = prompt.split("[Model answer]:")[1].split("\n")[0].strip().lower()
    return "TRUE" if ans and ans in ref else "FALSE"


def _judge_failing_after(n: int):
    """A judge whose first `n` chat requests get verdicts and every later one HTTP 500 (/v1/models stays up)."""
    lock, seen = threading.Lock(), [0]

    def handler(body):
        with lock:
            seen[0] += 1
            late = seen[0] > n
        return Fault("server_error") if late else _substring_judge(body)

    return handler


def _run(sample, tmp_path, policy_url, judge_url, *more):
    cmd = [
        sys.executable, "-m", "longvt_plugins.cli", "eval", "run",
        "--model-args", f"base_url={policy_url},model_version=longvt-7b,max_frames=8,concurrency=2",
        "--tasks", TASKS,
        *[f"--data={b}={sample.data['longvtp_' + b]}" for b in ("videosiah", "lvbench", "videommmu")],
        "--videos", str(sample.video_root), "--output", str(tmp_path / "out"), *more,
        "--", "--verbosity", "WARNING",
    ]  # fmt: skip
    env = dict(os.environ, LONGVT_JUDGE_CACHE="off", LONGVT_JUDGE_RETRIES=str(RETRIES))
    for key in ("LLM_AS_A_JUDGE_BASE", "LONGVT_JUDGE_FALLBACK", "LONGVT_PROTOCOL", "LONGVT_JUDGE_MODEL"):
        env.pop(key, None)
    env["LONGVT_JUDGE_BASE_URL"] = judge_url
    return subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=tmp_path)


def _chat(server) -> int:
    return sum(1 for _, path, _ in server.log if path.endswith("/chat/completions"))


def _samples(out) -> dict[str, list[dict]]:
    rows = {}
    for path in out.glob("*/*_samples_*.jsonl"):
        rows[path.stem.split("_samples_", 1)[1]] = [json.loads(x) for x in path.read_text().splitlines()]
    return rows


@pytest.mark.slow
def test_a_judge_failing_mid_run_stops_with_one_line_and_the_rerun_scores_the_saved_answers(sample, tmp_path):
    out = tmp_path / "out"
    with (
        OpenAIStubServer(window_reader_policy, model="longvt-7b") as policy,
        OpenAIStubServer(_judge_failing_after(JUDGED), model="judge") as judge,
    ):
        stopped = _run(sample, tmp_path, policy.base_url, judge.base_url)
        generated, judge_chats = _chat(policy), _chat(judge)
    assert stopped.returncode == 3, stopped.stderr[-3000:]
    err = stopped.stderr
    assert "Traceback" not in err and "RetryError" not in err and "JudgeUnreachable" not in err
    # The one line, and no other line speaks of the judge (the test's own folder name aside).
    (line,) = [x for x in err.splitlines() if "judge" in x.replace(str(tmp_path), "").lower()]
    assert f"the judge at {judge.base_url} failed mid-run" in line and "HTTP 500" in line
    assert f"{DOCS} generated answers are saved in {out / 'longvt_answers'}" in line and "--resume" in line
    assert "fallback #" not in err and "rule-based" not in err and "scored by rule" not in err
    assert not list(out.glob("*/*_results.json"))
    # lmms-eval's own retry asked the judge 5 more times per doc; now each doc in flight asks once (+ retries).
    assert JUDGED < judge_chats <= JUDGED + 8 * (RETRIES + 1)
    saved = [
        json.loads(x) for f in (out / "longvt_answers").glob("*.jsonl") for x in f.read_text().splitlines()
    ]
    assert len(saved) == DOCS and all("<tool_response>" in s["text"] for s in saved)

    # The judge is back; the policy server is a fresh one that counts what it is asked: nothing.
    with (
        OpenAIStubServer(window_reader_policy, model="longvt-7b") as policy,
        OpenAIStubServer(_substring_judge, model="judge") as judge,
    ):
        resumed = _run(sample, tmp_path, policy.base_url, judge.base_url, "--resume")
        regenerated, judged = _chat(policy), _chat(judge)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert regenerated == 0 and generated > 0
    assert judged == 3 + 4  # three open answers decided, four letters asked about for the agreement figure
    results = json.loads(next(out.glob("*/*_results.json")).read_text())["results"]
    for task, acc in EXPECTED_ACC.items():
        assert results[task]["acc,none"] == acc, task
        assert results[task]["judge_fallback,none"] == 0.0 and results[task]["failed,none"] == 0.0
        assert results[task]["tool_calls,none"] == 1.0  # the saved record came back with the answer
    for task, rows in _samples(out).items():
        for row in rows:
            assert row["longvt"]["answer_from"] == str(out / "longvt_answers")
            assert row["longvt"]["crops"][0]["ok"] and row["protocol"]["id"] == results[task]["protocol,none"]


@pytest.mark.slow
def test_with_rule_fallback_a_judge_failing_mid_run_is_counted_and_only_real_fallbacks_are_logged(
    sample, tmp_path
):
    with (
        OpenAIStubServer(window_reader_policy, model="longvt-7b") as policy,
        OpenAIStubServer(_judge_failing_after(JUDGED), model="judge") as judge,
    ):
        proc = _run(sample, tmp_path, policy.base_url, judge.base_url, "--judge-fallback", "rule")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr and "failed mid-run" not in proc.stderr
    results = json.loads(next((tmp_path / "out").glob("*/*_results.json")).read_text())["results"]
    scored = [r["longvt"]["scoring"] for rows in _samples(tmp_path / "out").values() for r in rows]
    fallbacks = [s for s in scored if s["judge_fallback"]]
    # Only open answers fall back (a letter decides multiple choice, the judge only calibrates it).
    assert fallbacks and all(s["method"] == "rule_fallback" for s in fallbacks)
    assert all(s["reason"].startswith("no verdict: HTTP 500") for s in fallbacks)
    counted = sum(
        results[t]["judge_fallback,none"] * len(rows) for t, rows in _samples(tmp_path / "out").items()
    )
    assert counted == len(fallbacks)
    logged = [x for x in proc.stderr.splitlines() if "judge fallback #" in x]
    assert len(logged) == min(5, len(fallbacks)) and all("scored by rule" in x for x in logged)


def test_saved_answers_are_keyed_by_model_and_doc_not_server_address_and_a_cut_line_is_skipped(tmp_path):
    card = {"protocol": "longvt-plugins", "model": {"model": "m", "base_url": "http://a/v1"}, "id": "x"}
    moved = {**card, "model": {"model": "m", "base_url": "http://b/v1"}, "id": "y"}
    other = {**card, "model": {"model": "other", "base_url": "http://a/v1"}}
    key = answer_key(card, "task", "doc", {"temperature": 0}, 0)
    assert key == answer_key(moved, "task", "doc", {"temperature": 0}, 0)
    assert len({key, *(answer_key(c, *a) for c, *a in [
        (other, "task", "doc", {"temperature": 0}, 0),
        (card, "task2", "doc", {"temperature": 0}, 0),
        (card, "task", "doc2", {"temperature": 0}, 0),
        (card, "task", "doc", {"temperature": 0.7}, 0),
        (card, "task", "doc", {"temperature": 0}, 1),
    ])}) == 6  # fmt: skip
    store = AnswerStore(tmp_path / "answers")
    store.put("task", key, {"text": "first"})
    store.put("task", key, {"text": "second"})  # a later line for the same key wins
    with open(tmp_path / "answers" / "task.jsonl", "a") as fh:
        fh.write('{"key": "cut sh')  # what a kill in the middle of a write leaves
    assert AnswerStore(tmp_path / "answers").get(key) is None  # not asked to reuse: nothing served
    reused = AnswerStore(tmp_path / "answers", reuse=True)
    assert reused.get(key)["text"] == "second" and reused.reused == 1
