"""An LLM judge over any OpenAI-compatible server (vLLM, SGLang, hosted APIs) that never stalls or crashes.

- Nothing touches the network until the first ``await``: not at import, not in ``JudgeClient(...)``.
- At most ``concurrency`` requests are open per process, across every event loop and thread (verl calls the
  reward from several loops); each loop gets its own ``AsyncOpenAI`` (an httpx pool belongs to one loop).
- Timeouts, connection errors, 429 and 5xx and malformed bodies are retried with exponential backoff and
  jitter; a ``Retry-After`` header is honoured. Then it gives up.
- A reply that cannot be read as a verdict is a failure, not a zero. Every failure falls back to the rule
  score (``answer.rule_score``) and says so (``JudgeResult.fallback``), so training goes on and the metrics
  count how often it happened.
- Successful verdicts are cached in SQLite (WAL, safe across processes) under a hash of model + prompt.
"""

from __future__ import annotations

import asyncio
import email.utils
import hashlib
import json
import logging
import os
import random
import re
import sqlite3
import threading
import time
import weakref
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from longvt_plugins.core.answer import rule_score
from longvt_plugins.core.prompts import load_prompt

log = logging.getLogger(__name__)

GRADE_PROMPT = "judge_grade"
EQUIVALENCE_PROMPT = "judge_equivalence"
_DISABLED = {"", "0", "off", "none", "false", "no"}


# ----------------------------------------------------------------------------------------------- config
@dataclass(frozen=True)
class JudgeConfig:
    """How to reach the judge. ``JudgeConfig.from_env(**overrides)`` fills unset fields from the environment."""

    base_url: str | None = None  # ".../v1"; None means no judge: every verdict is the rule fallback
    model: str | None = None  # None: the first model listed by GET /v1/models, asked on first use
    api_key: str = "EMPTY"
    timeout: float = 60.0  # seconds per HTTP attempt
    concurrency: int = 32  # open requests per process, all event loops together
    retries: int = 3  # extra attempts after the first, for transient failures only
    backoff_base: float = 0.5  # first backoff in seconds, doubled each retry, with jitter
    backoff_max: float = 30.0  # cap of one backoff, and of a honoured Retry-After
    cache_path: str | None = None  # SQLite file; None: no cache
    temperature: float = 0.0  # deterministic verdicts are what make the cache sound
    max_tokens: int = 1024  # room for a thinking judge's <think> block before its verdict

    def __post_init__(self) -> None:
        if self.concurrency < 1:
            raise ValueError(f"judge concurrency must be >= 1, got {self.concurrency}")
        if self.retries < 0:
            raise ValueError(f"judge retries must be >= 0, got {self.retries}")
        if self.timeout <= 0:
            raise ValueError(f"judge timeout must be > 0, got {self.timeout}")

    @classmethod
    def from_env(cls, **overrides: Any) -> JudgeConfig:
        """Overrides that are not None win; then ``LONGVT_JUDGE_*``; then upstream's ``LLM_AS_A_JUDGE_BASE``.

        The cache defaults to ``$LONGVT_JUDGE_CACHE``, else ``~/.cache/longvt/judge_cache.sqlite``;
        ``cache_path="off"`` (or the env set to ``off``) disables it.
        """
        known = {f.name for f in fields(cls)}
        unknown = set(overrides) - known
        if unknown:
            raise TypeError(f"unknown judge settings {sorted(unknown)}; known: {sorted(known)}")
        env = os.environ
        values: dict[str, Any] = {
            "base_url": env.get("LONGVT_JUDGE_BASE_URL") or env.get("LLM_AS_A_JUDGE_BASE") or None,
            "model": env.get("LONGVT_JUDGE_MODEL") or None,
            "api_key": env.get("LONGVT_JUDGE_API_KEY") or "EMPTY",
        }
        for name, kind in (("timeout", float), ("concurrency", int), ("retries", int)):
            raw = env.get(f"LONGVT_JUDGE_{name.upper()}")
            if raw:
                try:
                    values[name] = kind(raw)
                except ValueError as exc:
                    raise ValueError(
                        f"LONGVT_JUDGE_{name.upper()}={raw!r} is not a valid {kind.__name__}"
                    ) from exc
        cache = env.get("LONGVT_JUDGE_CACHE")
        if cache is None:
            root = Path(env.get("LONGVT_CACHE") or Path.home() / ".cache" / "longvt")
            cache = str(root / "judge_cache.sqlite")
        values["cache_path"] = cache
        values.update({k: v for k, v in overrides.items() if v is not None})
        if isinstance(values["cache_path"], str | os.PathLike):
            values["cache_path"] = (
                None if str(values["cache_path"]).lower() in _DISABLED else str(values["cache_path"])
            )
        return cls(**values)


@dataclass(frozen=True)
class JudgeResult:
    """One verdict. ``score`` is 0 / 0.5 / 1 for ``grade`` and 0 / 1 for ``equivalent``."""

    score: float
    fallback: bool = False  # True: the judge failed and ``score`` is the rule-based score
    cached: bool = False
    reason: str = ""
    reply: str | None = None  # the judge's raw text, when there was one
    attempts: int = 0  # HTTP attempts spent on this verdict (0 when cached or no judge)


# ----------------------------------------------------------------------------------------------- parsing
_NUMBER = re.compile(r"(?<![\w.])(?:\d+(?:\.\d+)?|\.\d+)(?![\w.]*\d)")
_GRADE_LABEL = re.compile(
    r"(?:judge?ment|score|grade|rating|verdict|final answer|answer)\s*(?:is|:|=|-)\s*", re.IGNORECASE
)
_VERDICT_LABEL = re.compile(
    r"(?:judge?ment|verdict|final answer|answer|output|result)\s*(?:is|:|=|-)\s*", re.IGNORECASE
)
_VERDICT_WORD = re.compile(r"\b(true|false|yes|no|correct|incorrect|1|0)\b", re.IGNORECASE)
_VERDICT_VALUE = {
    "true": True,
    "yes": True,
    "correct": True,
    "1": True,
    "false": False,
    "no": False,
    "incorrect": False,
    "0": False,
}


def strip_thinking(text: str | None) -> str | None:
    """The reply after its ``<think>`` block; None when the thinking never ended (the verdict is missing)."""
    if text is None:
        return None
    if "</think>" in text:  # also covers templates that put the opening <think> in the prompt
        return text.rsplit("</think>", 1)[1].strip()
    if "<think>" in text:
        return text.split("<think>", 1)[0].strip() or None
    return text.strip()


def _plain(text: str) -> str:
    return re.sub(r"[*_`#]", "", text).strip()


def parse_grade(text: str | None) -> float | None:
    """0, 0.5 or 1 from a judge reply, or None when the reply does not say one of them unambiguously.

    Reads "1", "**0.5**", "Judgement: 1", "Score: 0.5 - partly right", "<think>..</think>1",
    "They agree, so: 1". "10", "2" or a number buried mid-sentence are not verdicts.
    """
    body = strip_thinking(text)
    if not body:
        return None
    body = _plain(body)
    labels = list(_GRADE_LABEL.finditer(body))
    if labels:
        segment = body[labels[-1].end() :]
        match = re.match(r"\s*[\[(]?\s*(\d+(?:\.\d+)?|\.\d+)(?![\w.]*\d)", segment)
        token = match.group(1) if match else None
    else:
        numbers = list(_NUMBER.finditer(body))
        token = None
        if numbers and not re.search(r"\w", body[: numbers[0].start()]):
            token = numbers[0].group(0)
        elif numbers and not re.search(r"\w", body[numbers[-1].end() :]):
            token = numbers[-1].group(0)
    if token is None:
        return None
    value = float(token)
    return value if value in (0.0, 0.5, 1.0) else None


def parse_verdict(text: str | None) -> bool | None:
    """True / False from a TRUE/FALSE judge reply ("TRUE.", "false", "**True**", "Answer: yes"), else None."""
    body = strip_thinking(text)
    if not body:
        return None
    body = _plain(body)
    labels = list(_VERDICT_LABEL.finditer(body))
    if labels:
        body = body[labels[-1].end() :]
    words = list(_VERDICT_WORD.finditer(body))
    if not words:
        return None
    first, last = words[0], words[-1]
    if not re.search(r"\w", body[: first.start()]):
        chosen = first
    elif not re.search(r"\w", body[last.end() :]):
        chosen = last
    else:
        return None
    if re.search(r"\bnot\s*$", body[: chosen.start()], re.IGNORECASE):
        return None  # "not true": a judge that talks instead of answering
    return _VERDICT_VALUE[chosen.group(1).lower()]


def render_prompt(name: str, *, question: str, answer: str, ground_truth: str) -> str:
    # str.replace, not str.format: answers and questions contain braces.
    text = load_prompt(name)
    for key, value in (("{question}", question), ("{ground_truth}", ground_truth), ("{answer}", answer)):
        text = text.replace(key, value)
    return text


# ----------------------------------------------------------------------------------------------- limiter
class ProcessLimiter:
    """A counting semaphore shared by every event loop and thread of the process.

    ``asyncio.Semaphore`` binds to one loop; verl scores from several. A freed slot is handed straight to the
    oldest waiter, on that waiter's own loop.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.active = 0
        self.peak = 0
        self._lock = threading.Lock()
        self._waiters: deque[tuple[asyncio.AbstractEventLoop, asyncio.Future]] = deque()

    async def acquire(self) -> None:
        loop = asyncio.get_running_loop()
        with self._lock:
            if self.active < self.limit and not self._waiters:
                self.active += 1
                self.peak = max(self.peak, self.active)
                return
            waiter = (loop, loop.create_future())
            self._waiters.append(waiter)
        try:
            await waiter[1]
        except asyncio.CancelledError:
            with self._lock:
                if waiter in self._waiters:
                    self._waiters.remove(waiter)
                    raise
            if waiter[1].done() and not waiter[1].cancelled():
                self.release()  # the slot reached us just as we were cancelled: pass it on
            raise

    def release(self) -> None:
        with self._lock:
            while self._waiters:
                loop, future = self._waiters.popleft()
                if loop.is_closed():
                    continue
                loop.call_soon_threadsafe(self._wake, future)
                return  # the slot moves to the waiter: ``active`` is unchanged
            self.active -= 1

    def _wake(self, future: asyncio.Future) -> None:
        if future.cancelled():
            self.release()
        else:
            future.set_result(None)

    async def __aenter__(self) -> None:
        await self.acquire()

    async def __aexit__(self, *exc: object) -> None:
        self.release()


# ----------------------------------------------------------------------------------------------- cache
class JudgeCache:
    """Verdicts in one SQLite file, shared by processes (WAL + busy timeout). Errors degrade to a miss."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        self._pid: int | None = None

    def _connection(self) -> sqlite3.Connection:
        # A forked child must not reuse the parent's handle.
        if self._conn is None or self._pid != os.getpid():
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, timeout=30.0, check_same_thread=False, isolation_level=None)
            conn.execute("PRAGMA busy_timeout=30000")
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute(
                "CREATE TABLE IF NOT EXISTS verdicts (key TEXT PRIMARY KEY, score REAL NOT NULL, reply TEXT,"
                " model TEXT, created REAL NOT NULL)"
            )
            self._conn, self._pid = conn, os.getpid()
        return self._conn

    def get(self, key: str) -> tuple[float, str | None] | None:
        with self._lock:
            try:
                row = (
                    self._connection()
                    .execute("SELECT score, reply FROM verdicts WHERE key = ?", (key,))
                    .fetchone()
                )
            except sqlite3.Error as exc:
                log.warning("judge cache %s unreadable (%s); treating as a miss", self.path, exc)
                return None
        return (float(row[0]), row[1]) if row else None

    def put(self, key: str, score: float, reply: str | None, model: str) -> None:
        with self._lock:
            try:
                self._connection().execute(
                    "INSERT OR REPLACE INTO verdicts (key, score, reply, model, created) VALUES (?, ?, ?, ?, ?)",
                    (key, score, reply, model, time.time()),
                )
            except sqlite3.Error as exc:
                log.warning("judge cache %s not written (%s)", self.path, exc)

    def __len__(self) -> int:
        with self._lock:
            return self._connection().execute("SELECT COUNT(*) FROM verdicts").fetchone()[0]

    def close(self) -> None:
        with self._lock:
            if self._conn is not None and self._pid == os.getpid():
                self._conn.close()
            self._conn = None


def cache_key(model: str, prompt: str, config: JudgeConfig) -> str:
    blob = json.dumps([model, prompt, config.temperature, config.max_tokens], ensure_ascii=False)
    return hashlib.sha256(blob.encode()).hexdigest()


# ----------------------------------------------------------------------------------------------- client
class _Failure(Exception):
    """An attempt failed; ``retry_after`` is the server's wish (seconds) when it said one."""

    def __init__(self, reason: str, *, retryable: bool, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason, self.retryable, self.retry_after = reason, retryable, retry_after


def _retry_after(response: Any) -> float | None:
    headers = getattr(response, "headers", None) or {}
    raw_ms = headers.get("retry-after-ms")
    if raw_ms:
        try:
            return max(0.0, float(raw_ms) / 1000.0)
        except ValueError:
            pass
    raw = headers.get("retry-after")
    if not raw:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(raw)
        except (TypeError, ValueError):
            return None
        return max(0.0, when.timestamp() - time.time())


def _connection_cause(exc: BaseException) -> BaseException | None:
    try:
        from aiohttp import ClientConnectionError
    except ImportError:
        ClientConnectionError = OSError  # noqa: N806 - only the isinstance check below needs a class
    seen: set[int] = set()
    cause = exc.__cause__ or exc.__context__
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        if isinstance(cause, ClientConnectionError | ConnectionError) and not isinstance(cause, TimeoutError):
            return cause
        cause = cause.__cause__ or cause.__context__
    return None


def _classify(exc: BaseException) -> _Failure:
    import openai  # the SDK is a dependency of core; imported late to keep `import core.judge` cheap

    if isinstance(exc, openai.APITimeoutError | asyncio.TimeoutError):
        # The aiohttp transport reports every connection failure as a timeout; its cause says what happened.
        broken = _connection_cause(exc)
        if broken is not None:
            return _Failure(f"connection error: {broken}", retryable=True)
        return _Failure("timeout", retryable=True)
    if isinstance(exc, openai.APIConnectionError):
        return _Failure(f"connection error: {exc}", retryable=True)
    if isinstance(exc, openai.APIStatusError):
        status = exc.status_code
        retryable = status in (408, 409, 429) or status >= 500
        return _Failure(f"HTTP {status}", retryable=retryable, retry_after=_retry_after(exc.response))
    if isinstance(exc, ValueError | TypeError | AttributeError | KeyError | IndexError | openai.APIError):
        # a 200 whose body is not a chat completion (JSONDecodeError is a ValueError): a proxy or server bug
        return _Failure(f"malformed response: {type(exc).__name__}", retryable=True)
    return _Failure(f"{type(exc).__name__}: {exc}", retryable=False)


def _http_client(config: JudgeConfig) -> Any:
    """The SDK's aiohttp transport when aiohttp is installed: it costs about half the CPU per request of the
    default httpx transport, and at 64+ requests in flight the client's CPU is what limits throughput."""
    import openai

    limits = {"max_connections": config.concurrency, "max_keepalive_connections": config.concurrency}
    try:
        import httpx2

        return openai.DefaultAioHttpClient(timeout=config.timeout, limits=httpx2.Limits(**limits))
    except (ImportError, RuntimeError, AttributeError):
        return None  # the SDK's default transport


@dataclass
class _LoopState:
    client: Any
    model_lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class JudgeClient:
    """``await grade(...)`` (0 / 0.5 / 1) and ``await equivalent(...)`` (TRUE/FALSE) against one judge server.

    One instance per process is enough; it is safe to share across event loops and threads. ``stats`` counts
    requests, retries, failures, fallbacks and cache hits.
    """

    def __init__(self, config: JudgeConfig | None = None, *, rng: random.Random | None = None) -> None:
        self.config = config if config is not None else JudgeConfig.from_env()
        self.limiter = ProcessLimiter(self.config.concurrency)
        self.cache = JudgeCache(self.config.cache_path) if self.config.cache_path else None
        self.stats: Counter[str] = Counter()
        self._stats_lock = threading.Lock()
        self._model = self.config.model
        self._loops: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopState] = (
            weakref.WeakKeyDictionary()
        )
        self._loops_lock = threading.Lock()
        self._rng = rng or random.Random()

    # -------------------------------------------------------------------------------- public API
    async def grade(self, question: str | None, answer: str | None, ground_truth: str) -> JudgeResult:
        """How well ``answer`` agrees with ``ground_truth``: 1, 0.5 or 0 (rubric: prompts/judge_grade.txt)."""
        return await self._judge(GRADE_PROMPT, parse_grade, question, answer, ground_truth)

    async def equivalent(self, question: str | None, answer: str | None, ground_truth: str) -> JudgeResult:
        """Whether ``answer`` is correct: 1 or 0 (prompts/judge_equivalence.txt), the evaluation protocol."""

        def verdict(text: str | None) -> float | None:
            value = parse_verdict(text)
            return None if value is None else float(value)

        return await self._judge(EQUIVALENCE_PROMPT, verdict, question, answer, ground_truth)

    def grade_sync(self, question: str | None, answer: str | None, ground_truth: str) -> JudgeResult:
        """``grade`` for synchronous callers (e.g. lmms-eval's ``process_results``); not inside a running loop."""
        return asyncio.run(self._closing(self.grade(question, answer, ground_truth)))

    def equivalent_sync(self, question: str | None, answer: str | None, ground_truth: str) -> JudgeResult:
        return asyncio.run(self._closing(self.equivalent(question, answer, ground_truth)))

    async def _closing(self, verdict: Any) -> JudgeResult:
        try:
            return await verdict
        finally:
            await self.aclose()  # the loop ends with this call: its HTTP pool must not outlive it

    async def model_name(self) -> str:
        """The judge model: configured, else the first id of GET /v1/models (asked once, on first use)."""
        if self._model:
            return self._model
        state = self._state()
        async with state.model_lock:
            if not self._model:
                async with self.limiter:
                    self._count("requests")
                    listing = await state.client.models.list()
                ids = [m.id for m in listing.data]
                if not ids:
                    raise _Failure("the judge server lists no models", retryable=True)
                self._model = ids[0]
        return self._model

    async def aclose(self) -> None:
        """Close the HTTP pool of the current event loop (others close with their loops)."""
        loop = asyncio.get_running_loop()
        with self._loops_lock:
            state = self._loops.pop(loop, None)
        if state is not None:
            await state.client.close()

    # -------------------------------------------------------------------------------- internals
    def _count(self, key: str, n: int = 1) -> None:
        with self._stats_lock:
            self.stats[key] += n

    def _state(self) -> _LoopState:
        loop = asyncio.get_running_loop()
        with self._loops_lock:
            state = self._loops.get(loop)
            if state is None:
                for old in [lp for lp in self._loops if lp.is_closed()]:
                    del self._loops[old]  # their pools died with their loops
                from openai import AsyncOpenAI

                client = AsyncOpenAI(
                    base_url=self.config.base_url,
                    api_key=self.config.api_key,
                    timeout=self.config.timeout,
                    max_retries=0,  # retries are ours: the SDK's would hold a concurrency slot while sleeping
                    http_client=_http_client(self.config),
                )
                state = self._loops[loop] = _LoopState(client)
        return state

    def _fallback(
        self, reason: str, answer: str | None, ground_truth: str, reply: str | None, attempts: int
    ) -> JudgeResult:
        self._count("fallbacks")
        n = self.stats["fallbacks"]
        if n <= 5 or n % 100 == 0:
            log.warning("judge fallback #%d (%s); using the rule-based score", n, reason)
        return JudgeResult(
            rule_score(answer, ground_truth),
            fallback=True,
            reason=f"fallback: {reason}",
            reply=reply,
            attempts=attempts,
        )

    async def _judge(
        self,
        prompt_name: str,
        parse: Callable[[str | None], float | None],
        question: str | None,
        answer: str | None,
        ground_truth: str,
    ) -> JudgeResult:
        self._count("calls")
        if answer is None or not str(answer).strip():
            return JudgeResult(0.0, reason="no answer to judge")
        if not self.config.base_url:
            return self._fallback("no judge configured", answer, ground_truth, None, 0)
        prompt = render_prompt(
            prompt_name,
            question=str(question or "(not given)"),
            answer=str(answer),
            ground_truth=str(ground_truth),
        )
        attempts = 0
        reply: str | None = None
        last = "no attempt"
        cache_checked = False
        for attempt in range(self.config.retries + 1):
            attempts += 1
            try:
                model = await self.model_name()
                key = cache_key(model, prompt, self.config)
                if self.cache is not None and not cache_checked:
                    cache_checked = True
                    hit = self.cache.get(key)
                    if hit is not None:
                        self._count("cache_hits")
                        return JudgeResult(
                            hit[0], cached=True, reason="cache", reply=hit[1], attempts=attempts - 1
                        )
                reply = await self._request(model, prompt)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # every failure is classified; none escapes to the training step
                failure = exc if isinstance(exc, _Failure) else _classify(exc)
                last = failure.reason
                self._count("failures")
                if not failure.retryable or attempt == self.config.retries:
                    break
                self._count("retries")
                await asyncio.sleep(self._backoff(attempt, failure.retry_after))
                continue
            value = parse(reply)
            if value is None:  # a deterministic judge would say the same again: no retry
                self._count("unparseable")
                return self._fallback(
                    f"unparseable reply {reply[:80]!r}" if reply else "empty reply",
                    answer,
                    ground_truth,
                    reply,
                    attempts,
                )
            self._count("judged")
            if self.cache is not None:
                self.cache.put(key, value, reply, model)
            return JudgeResult(value, reason="judge", reply=reply, attempts=attempts)
        return self._fallback(f"{last} after {attempts} attempt(s)", answer, ground_truth, reply, attempts)

    async def _request(self, model: str, prompt: str) -> str | None:
        state = self._state()
        body = {
            "model": model,
            "messages": [{"role": "user", "content": prompt}],
            "temperature": self.config.temperature,
            "max_tokens": self.config.max_tokens,
        }
        async with self.limiter:
            self._count("requests")
            # The SDK's documented low-level ``post`` with ``cast_to=dict``: same transport, auth, timeouts and
            # typed HTTP errors, without the per-call param transformation and response models, which cost more
            # CPU than the request itself once 64+ are in flight. A hard backstop on top of the SDK's timeout: a
            # server that trickles bytes must not hold a slot.
            data = await asyncio.wait_for(
                state.client.post("/chat/completions", body=body, cast_to=dict),
                timeout=self.config.timeout + 5.0,
            )
        content = data["choices"][0]["message"].get("content")
        if content is not None and not isinstance(content, str):
            raise TypeError(f"message content is {type(content).__name__}, not text")
        return content

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(retry_after, self.config.backoff_max) * (1.0 + 0.1 * self._rng.random())
        ceiling = min(self.config.backoff_max, self.config.backoff_base * (2**attempt))
        return ceiling * (0.5 + 0.5 * self._rng.random())


def with_overrides(config: JudgeConfig, **changes: Any) -> JudgeConfig:
    """A copy of ``config`` with some fields changed (``None`` values ignored)."""
    return replace(config, **{k: v for k, v in changes.items() if v is not None})
