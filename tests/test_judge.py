"""JudgeClient against a real OpenAI-protocol server on loopback: verdicts, failures, retries, cache, limits."""

from __future__ import annotations

import asyncio
import multiprocessing
import sqlite3
import subprocess
import sys
import threading
import time

import pytest

from longvt_plugins.core.judge import (
    JudgeCache,
    JudgeClient,
    JudgeConfig,
    ProcessLimiter,
    parse_grade,
    parse_verdict,
    render_prompt,
    run_sync,
    shared_client,
    strip_thinking,
)
from longvt_plugins.testing.openai_server import Fault, OpenAIStubServer, closed_port_url

FAST = {"timeout": 1.0, "backoff_base": 0.01, "backoff_max": 0.05}


def _config(server_or_url, **kw) -> JudgeConfig:
    url = server_or_url if isinstance(server_or_url, str) else server_or_url.base_url
    return JudgeConfig(base_url=url, **{**FAST, **kw})


# ------------------------------------------------------------------------------------------ reply parsing
@pytest.mark.parametrize(
    ("reply", "score"),
    [
        ("1", 1.0),
        ("0", 0.0),
        ("0.5", 0.5),
        (".5", 0.5),
        ("1.0", 1.0),
        ("**1**", 1.0),
        ("Judgement: 1", 1.0),
        ("Judgment: 0.5", 0.5),
        ("Score: 0 - they conflict", 0.0),
        ("score = 1.", 1.0),
        ("<think>The reference says red; 2 answers differ? no.</think>\n\n1", 1.0),
        ("Thinking about it for a while.</think>0.5", 0.5),  # template put <think> in the prompt
        ("0.5\nThe candidate names only one of the two animals.", 0.5),
        ("Both say green, so: 1", 1.0),
        ("10", None),  # upstream's `"1" in r` took this for 1
        ("2", None),
        ("0.25", None),
        ("<think>still thinking, never finished", None),
        ("I'd give it a 1 because it matches", None),  # a number buried mid-sentence is not a verdict
        ("Purple turtles.", None),
        ("", None),
        (None, None),
        ("Judgement: fully consistent", None),
    ],
)
def test_parse_grade(reply, score):
    assert parse_grade(reply) == score


@pytest.mark.parametrize(
    ("reply", "verdict"),
    [
        ("TRUE", True),
        ("TRUE.", True),
        ("false", False),
        ("**True**", True),
        ("Answer: yes", True),
        ("<think>compare..</think>FALSE", False),
        ("The model answer matches the reference, so TRUE", True),
        ("Judgement: 0", False),
        ("Judgement: 1", True),
        ("Judgement: TRUE", True),
        ("**Judgement:** FALSE", False),
        ("Verdict: **False**", False),
        ("[[TRUE]]", True),
        ("True.\n\nThe candidate names the same colour.", True),
        ("FALSE - the reference says red", False),
        ("<think>hm</think>\n\n**TRUE**", True),
        ("not true", None),
        ("It could be true or false depending on the frame.", None),
        ("maybe", None),
        (None, None),
    ],
)
def test_parse_verdict(reply, verdict):
    assert parse_verdict(reply) is verdict


def test_strip_thinking():
    assert strip_thinking("<think>a</think> 1") == "1"
    assert strip_thinking("<think>a</think>x<think>b</think> 0") == "0"
    assert strip_thinking("<think>never closed") is None
    assert strip_thinking("plain") == "plain"


def test_prompts_are_rendered_without_format_pitfalls():
    text = render_prompt("judge_grade", question="Is {x} shown?", answer="a {b} c", ground_truth="{gt}")
    assert (
        "[Question]: Is {x} shown?" in text and "[Candidate]: a {b} c" in text and "[Reference]: {gt}" in text
    )
    assert "{question}" not in text and "{answer}" not in text
    assert "TRUE" in render_prompt("judge_equivalence", question="q", answer="a", ground_truth="g")


# ------------------------------------------------------------------------------------------ config
def test_config_from_env_and_overrides(monkeypatch, tmp_path):
    for name in ("LONGVT_JUDGE_BASE_URL", "LONGVT_JUDGE_MODEL", "LONGVT_JUDGE_API_KEY", "LONGVT_JUDGE_CACHE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LLM_AS_A_JUDGE_BASE", "http://upstream:1234/v1")
    monkeypatch.setenv("LONGVT_CACHE", str(tmp_path))
    config = JudgeConfig.from_env()
    assert config.base_url == "http://upstream:1234/v1" and config.model is None and config.api_key == "EMPTY"
    assert config.cache_path == str(tmp_path / "judge_cache.sqlite")

    monkeypatch.setenv("LONGVT_JUDGE_BASE_URL", "http://ours:8000/v1")
    monkeypatch.setenv("LONGVT_JUDGE_MODEL", "judge")
    monkeypatch.setenv("LONGVT_JUDGE_CONCURRENCY", "7")
    monkeypatch.setenv("LONGVT_JUDGE_CACHE", "off")
    config = JudgeConfig.from_env(timeout=5, model=None)
    assert (config.base_url, config.model, config.concurrency, config.timeout) == (
        "http://ours:8000/v1",
        "judge",
        7,
        5,
    )
    assert config.cache_path is None
    assert JudgeConfig.from_env(base_url="http://x/v1").base_url == "http://x/v1"

    monkeypatch.setenv("LONGVT_JUDGE_RETRIES", "lots")
    with pytest.raises(ValueError, match="LONGVT_JUDGE_RETRIES"):
        JudgeConfig.from_env()
    monkeypatch.delenv("LONGVT_JUDGE_RETRIES")
    with pytest.raises(TypeError, match="unknown judge settings"):
        JudgeConfig.from_env(concurency=3)
    with pytest.raises(ValueError, match="concurrency"):
        JudgeConfig(concurrency=0)


def test_import_and_construction_touch_no_network():
    # A fresh interpreter: importing the judge and building a client must not open any socket.
    code = (
        "import socket\n"
        "def refuse(*a, **k): raise AssertionError('network at import')\n"
        "socket.socket.connect = refuse\n"
        "socket.create_connection = refuse\n"
        "from longvt_plugins.core.judge import JudgeClient, JudgeConfig\n"
        "import longvt_plugins.verl.reward\n"
        "JudgeClient(JudgeConfig(base_url='http://127.0.0.1:9/v1'))\n"
        "import sys; assert 'verl' not in sys.modules, 'the reward entry imported verl'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


# ------------------------------------------------------------------------------------------ behaviour over HTTP
async def test_grade_equivalent_and_lazy_model_discovery():
    def handler(body):
        prompt = body["messages"][-1]["content"]
        assert body["model"] == "big-judge" and body["temperature"] == 0.0
        if "TRUE if the model answer is correct" in prompt:
            return "TRUE" if "[Model answer]: red" in prompt else "FALSE"
        candidate = prompt.rsplit("[Candidate]:", 1)[1]  # the item under test, after the rubric's examples
        return "Judgement: 0.5" if candidate.strip().startswith("a dog") else "1"

    with OpenAIStubServer(handler, models=["big-judge", "other"]) as server:
        judge = JudgeClient(_config(server))
        assert server.request_count == 0  # nothing until first use
        results = await asyncio.gather(
            *[judge.grade("Which animals?", "a dog", "a dog and a rabbit") for _ in range(8)]
        )
        assert {r.score for r in results} == {0.5} and not any(r.fallback for r in results)
        assert [p for _, p, _ in server.log].count("/v1/models") == 1  # discovered once, not per request
        assert (await judge.equivalent("Colour?", "red", "red")).score == 1.0
        assert (await judge.equivalent("Colour?", "blue", "red")).score == 0.0
        assert (await judge.grade("Colour?", "red", "red")).score == 1.0


async def test_thinking_judge_is_read_correctly():
    with OpenAIStubServer(lambda body: "0.5", mode="think", model="thinker") as server:
        result = await JudgeClient(_config(server, model="thinker")).grade("q", "partly", "full answer")
        assert result.score == 0.5 and not result.fallback and result.reply.startswith("<think>")


@pytest.mark.parametrize(
    ("mode", "retried", "reason"),
    [
        ("rate_limit", True, "http 429"),
        ("server_error", True, "http 500"),
        ("hang", True, "timeout"),
        ("garbage", True, "malformed response"),
        ("drop", True, "connection error"),
        ("nonsense", False, "unparseable reply"),
    ],
)
async def test_failing_judge_falls_back_with_the_retry_policy(mode, retried, reason):
    with OpenAIStubServer(lambda body: "1", mode=mode, model="j", retry_after=0.01) as server:
        judge = JudgeClient(_config(server, model="j", retries=2, timeout=0.3))
        started = time.monotonic()
        result = await judge.grade("Which option?", "(B) the dog", "B")
        elapsed = time.monotonic() - started
        assert result.fallback and reason in result.reason.lower()
        assert result.score == 1.0  # the rule fallback still recognises option B
        expected = 3 if retried else 1  # first attempt + `retries` more, only for transient failures
        assert result.attempts == expected and len(server.requests) == expected
        assert judge.stats["fallbacks"] == 1 and judge.stats["retries"] == expected - 1
        # bounded: 3 attempts of at most timeout + backstop each, plus tiny backoffs
        assert elapsed < 3 * (0.3 + 5.0) + 1.0


async def test_down_judge_falls_back():
    judge = JudgeClient(_config(closed_port_url(), model="j", retries=1))
    result = await judge.grade("q", "wrong", "right")
    assert result.fallback and result.score == 0.0 and result.attempts == 2 and "connection" in result.reason
    judge_without_model = JudgeClient(_config(closed_port_url(), retries=0))  # discovery itself fails
    assert (await judge_without_model.grade("q", "right", "right")).fallback


async def test_judge_recovers_after_transient_errors():
    with OpenAIStubServer(lambda body: "1", model="j") as server:
        judge = JudgeClient(_config(server, model="j", retries=3))
        server.queue("server_error", "hang")
        result = await judge.grade("q", "a", "a")
        assert not result.fallback and result.attempts == 3 and result.score == 1.0


async def test_client_error_is_not_retried():
    with OpenAIStubServer(lambda body: "1", model="j", mode="unauthorized") as server:
        result = await JudgeClient(_config(server, model="j", retries=3)).grade("q", "a", "a")
        assert result.fallback and result.attempts == 1 and "HTTP 401" in result.reason
        assert len(server.requests) == 1


async def test_retry_after_is_honoured():
    with OpenAIStubServer(lambda body: "1", model="j") as server:
        server.queue(Fault("rate_limit", retry_after=0.3))
        judge = JudgeClient(_config(server, model="j", backoff_max=5.0))
        started = time.monotonic()
        result = await judge.grade("q", "a", "a")
        assert result.score == 1.0 and result.attempts == 2 and not result.fallback
        assert time.monotonic() - started >= 0.3  # waited at least what the server asked (a lower bound)
    # the wait follows the header, capped by backoff_max, with at most 10% jitter on top
    judge = JudgeClient(JudgeConfig(backoff_base=0.5, backoff_max=4.0))
    assert 2.0 <= judge._backoff(0, 2.0) <= 2.2
    assert 4.0 <= judge._backoff(0, 60.0) <= 4.4
    assert all(0.25 <= judge._backoff(0, None) <= 0.5 for _ in range(50))
    assert all(2.0 <= judge._backoff(10, None) <= 4.0 for _ in range(50))


async def test_empty_answer_and_no_judge():
    judge = JudgeClient(JudgeConfig(base_url=None))
    assert (await judge.grade("q", None, "red")).score == 0.0
    result = await judge.grade("q", "red", "red")
    assert result.fallback and result.score == 1.0 and "no judge configured" in result.reason


def test_sync_wrappers():
    with OpenAIStubServer(lambda body: "TRUE", model="j") as server:
        judge = JudgeClient(_config(server, model="j"))
        assert judge.equivalent_sync("q", "a", "a").score == 1.0
        assert judge.grade_sync("q", "a", "a").fallback  # "TRUE" is not a 0/0.5/1 grade


@pytest.mark.parametrize(
    ("reply", "score"),
    [("TRUE.", 1.0), ("false", 0.0), ("Judgement: 1", 1.0), ("**True**", 1.0), ("Judgement: FALSE", 0.0)],
)
def test_binary_judge_replies_are_verdicts_not_fallbacks(reply, score):
    with OpenAIStubServer(lambda body: reply, model="j") as server:
        result = shared_client(_config(server, model="j")).equivalent_sync("q", "a", "b")
    assert not result.fallback and result.score == score and result.reply == reply


def test_sync_callers_from_many_threads_share_one_client_and_one_pool():
    with OpenAIStubServer(lambda body: "TRUE", model="j", delay=0.01) as server:
        config = _config(server, model="j", concurrency=3)
        judge = shared_client(config)
        assert shared_client(config) is judge and shared_client(_config(server, model="k")) is not judge
        results: list = []

        def worker(i: int) -> None:
            results.extend(shared_client(config).equivalent_sync(f"q{i}", "a", "a") for _ in range(5))

        threads = [threading.Thread(target=worker, args=(i,)) for i in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(results) == 30 and all(r.score == 1.0 and not r.fallback for r in results)
        assert len(judge._loops) == 1  # one loop, one HTTP pool, whatever the number of calling threads
        assert server.max_in_flight <= 3 and judge.limiter.peak <= 3


def test_run_sync_refuses_the_judge_loop_itself():
    async def inner() -> None:
        coro = asyncio.sleep(0)
        with pytest.raises(RuntimeError, match="judge loop itself"):
            run_sync(coro)

    run_sync(inner())


_EXIT_SCRIPT = """
import asyncio, gc, logging, sys
from longvt_plugins.core.judge import JudgeClient, JudgeConfig, shared_client
from longvt_plugins.core.judge.transport import http_client
from longvt_plugins.testing.openai_server import OpenAIStubServer

logging.basicConfig(level=logging.WARNING)
with OpenAIStubServer(lambda body: "1", model="j") as server:
    config = JudgeConfig(base_url=server.base_url, model="j")
    print("transport", type(http_client(config)).__name__)
    judge = JudgeClient(config)
    assert asyncio.run(judge.grade("q", "a", "a")).score == 1.0  # an asyncio.run loop, no aclose()

    async def on_one_loop():
        other = JudgeClient(config)
        return await other.grade("q", "b", "b")  # dropped with its pool open

    assert asyncio.run(on_one_loop()).score == 1.0
    assert judge.grade_sync("q", "c", "c").score == 1.0  # the judge loop
    assert shared_client(config).grade_sync("q", "d", "d").score == 1.0
    dropped = JudgeClient(config)
    assert dropped.grade_sync("q", "e", "e").score == 1.0
    del dropped
    gc.collect()
    loop = asyncio.new_event_loop()  # a loop still open at exit, not running
    assert loop.run_until_complete(judge.grade("q", "f", "f")).score == 1.0
print("done")
"""


def test_no_pool_is_left_unclosed_at_exit(tmp_path):
    """Every way of using the judge, then a plain interpreter exit: not one "Unclosed ..." line."""
    run = subprocess.run(
        [sys.executable, "-W", "always::ResourceWarning", "-c", _EXIT_SCRIPT],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    assert "done" in run.stdout and "transport" in run.stdout
    assert "transport _InstalledAioHttpClient" in run.stdout  # the aiohttp transport, the one that warns
    assert "Unclosed" not in run.stderr, run.stderr


# ------------------------------------------------------------------------------------------ cache
async def test_cache_serves_repeats_without_http(tmp_path):
    with OpenAIStubServer(lambda body: "1", model="j") as server:
        config = _config(server, model="j", cache_path=str(tmp_path / "cache.sqlite"))
        first = await JudgeClient(config).grade("q", "red", "red")
        assert not first.cached and server.request_count == 1
        # a new client (e.g. a restarted worker) over the same file: no request at all
        again = await JudgeClient(config).grade("q", "red", "red")
        assert again.cached and again.score == 1.0 and server.request_count == 1
        # a different model or prompt is a different key
        await JudgeClient(_config(server, model="j2", cache_path=config.cache_path)).grade("q", "red", "red")
        await JudgeClient(config).grade("q", "blue", "red")
        assert server.request_count == 3
        # failures are not cached
        server.mode = "nonsense"
        assert (await JudgeClient(config).grade("q", "green", "red")).fallback
        server.mode = "ok"
        assert not (await JudgeClient(config).grade("q", "green", "red")).cached


def _write_entries(path: str, worker: int, count: int) -> None:
    cache = JudgeCache(path)
    for i in range(count):
        cache.put(f"{worker}-{i}", float(i % 2), f"reply {i}", "m")
        assert cache.get(f"{worker}-{i}") == (float(i % 2), f"reply {i}")


def test_cache_is_safe_across_processes(tmp_path):
    path = str(tmp_path / "shared.sqlite")
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_write_entries, args=(path, w, 150)) for w in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
        assert p.exitcode == 0
    cache = JudgeCache(path)
    assert len(cache) == 450
    assert cache.get("2-149") == (1.0, "reply 149")


def test_locked_answers_that_skip_the_busy_timeout_are_retried(monkeypatch):
    # SQLite returns "database is locked" without waiting in some WAL races; those must be retried, not lost.
    from longvt_plugins.core.judge import cache as cache_module

    calls = []

    def flaky():
        calls.append(1)
        if len(calls) < 3:
            raise sqlite3.OperationalError("database is locked")
        return "ok"

    assert cache_module._with_retry(flaky) == "ok" and len(calls) == 3
    # a real error is not retried
    calls.clear()

    def broken():
        calls.append(1)
        raise sqlite3.DatabaseError("file is not a database")

    with pytest.raises(sqlite3.DatabaseError):
        cache_module._with_retry(broken)
    assert len(calls) == 1
    # a lock that outlives the budget gives up (and the cache then logs a miss)
    monkeypatch.setattr(cache_module, "_RETRY_SECONDS", 0.05)
    with pytest.raises(sqlite3.OperationalError):
        cache_module._with_retry(
            lambda: (_ for _ in ()).throw(sqlite3.OperationalError("database is locked"))
        )


def test_unusable_cache_degrades_to_a_miss(tmp_path):
    bad = tmp_path / "not-a-db.sqlite"
    bad.write_bytes(b"this is not sqlite" * 100)
    cache = JudgeCache(bad)
    assert cache.get("k") is None
    cache.put("k", 1.0, "r", "m")  # logged, not raised


# ------------------------------------------------------------------------------------------ concurrency
@pytest.mark.slow
def test_thousand_scorings_from_several_loops_never_exceed_the_limit():
    limit = 8
    with OpenAIStubServer(lambda body: "1", model="j", delay=0.005) as server:
        judge = JudgeClient(_config(server, model="j", concurrency=limit))
        errors: list[BaseException] = []

        def loop_worker(worker: int) -> None:
            async def run() -> None:
                results = await asyncio.gather(*[judge.grade(f"q{worker}-{i}", "a", "a") for i in range(250)])
                assert all(r.score == 1.0 and not r.fallback for r in results)

            try:
                asyncio.run(run())
            except BaseException as exc:  # surfaced below
                errors.append(exc)

        threads = [threading.Thread(target=loop_worker, args=(w,)) for w in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors, errors
        assert len(server.requests) == 1000
        assert server.max_in_flight <= limit and judge.limiter.peak <= limit
        assert server.max_in_flight >= 2  # it did run concurrently
        assert judge.limiter.active == 0


async def test_limiter_survives_cancellation():
    limiter = ProcessLimiter(2)
    release = asyncio.Event()

    async def hold():
        async with limiter:
            await release.wait()

    holders = [asyncio.create_task(hold()) for _ in range(2)]
    await asyncio.sleep(0)
    waiters = [asyncio.create_task(hold()) for _ in range(5)]
    await asyncio.sleep(0.01)
    assert limiter.active == 2
    for w in waiters[:3]:
        w.cancel()
    release.set()
    await asyncio.gather(*holders, *waiters, return_exceptions=True)
    assert limiter.active == 0 and limiter.peak == 2
