"""``JudgeClient``: grade or check an answer against one OpenAI-compatible judge server, never stalling or crashing.

- Nothing touches the network until the first ``await``: not at import, not in ``JudgeClient(...)``.
- At most ``concurrency`` requests are open per process, across every event loop and thread (verl calls the
  reward from several loops); each loop gets its own ``AsyncOpenAI`` (an httpx pool belongs to one loop).
- Timeouts, connection errors, 429 and 5xx and malformed bodies are retried with exponential backoff and
  jitter; a ``Retry-After`` header is honoured. Then it gives up.
- A reply that cannot be read as a verdict is a failure, not a zero. Every failure returns the rule score
  (``answer.rule_score``) marked ``JudgeResult.fallback``: the caller decides whether it stands in (training goes
  on, the metrics count it, ``fallback_log`` says so) or the run stops (``longvt eval``'s default).
- Every HTTP pool is closed on its own loop: by ``aclose()``, else when the loop shuts down its async
  generators (``asyncio.run`` does), else at interpreter exit (``close()``). None is left for the garbage
  collector to complain about.
"""

from __future__ import annotations

import asyncio
import logging
import random
import threading
import weakref
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from longvt_plugins.core.answer import rule_score
from longvt_plugins.core.judge.cache import JudgeCache, cache_key
from longvt_plugins.core.judge.config import JudgeConfig, JudgeResult
from longvt_plugins.core.judge.limiter import ProcessLimiter
from longvt_plugins.core.judge.loop import run_sync
from longvt_plugins.core.judge.replies import (
    EQUIVALENCE_PROMPT,
    GRADE_PROMPT,
    parse_grade,
    parse_verdict,
    render_prompt,
)
from longvt_plugins.core.judge.transport import Failure, classify, open_client

log = logging.getLogger(__name__)
_EXIT_CLOSE_TIMEOUT = 5.0  # seconds to close one pool at exit; a hung loop must not hang the interpreter


async def _pool_lifetime(client: Any) -> AsyncIterator[None]:
    """Suspended for as long as the loop lives; closes the pool when finalized.

    ``asyncio.run`` (and any host that calls ``loop.shutdown_asyncgens()``) finalizes it on the loop before
    closing the loop, so a caller that never calls ``aclose()`` still leaves no open pool behind.
    """
    try:
        yield
    finally:
        await client.close()


@dataclass
class _LoopState:
    client: Any
    model_lock: asyncio.Lock
    lifetime: AsyncIterator[None]


def _close_states(states: weakref.WeakKeyDictionary, lock: threading.Lock, timeout: float | None) -> None:
    """Close every pool in ``states`` on its own loop, from outside any of them (exit, or a dropped client).

    With ``timeout=None`` nothing is waited for (a garbage-collected client must not block whoever dropped
    it); a closed loop's pool is already gone with it.
    """
    with lock:
        items = list(states.items())
        states.clear()
    for loop, state in items:
        if loop.is_closed():
            continue
        closing = state.lifetime.aclose()
        if loop.is_running():  # another thread's loop: hand it over
            future = asyncio.run_coroutine_threadsafe(closing, loop)
            if timeout is not None:
                try:
                    future.result(timeout)
                except Exception as exc:  # noqa: BLE001 - exit-time cleanup reports and goes on
                    log.warning("judge: HTTP pool not closed cleanly: %s", exc)
        elif timeout is not None:
            try:
                loop.run_until_complete(asyncio.wait_for(closing, timeout))
            except Exception as exc:  # noqa: BLE001
                log.warning("judge: HTTP pool not closed cleanly: %s", exc)
        else:
            closing.close()  # not on our loop, not waited for: leave it to the loop's own shutdown


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
        # A client dropped without close() still has its pools closed on their loops (without waiting).
        # (At exit ``close_all_clients`` does it and waits, so the finalizer stays out of the exit hooks.)
        weakref.finalize(self, _close_states, self._loops, self._loops_lock, None).atexit = False
        _LIVE.add(self)

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

    async def upstream_verdict(self, prompt: str) -> JudgeResult:
        """LongVT's judge call as its scorer made it (the `upstream` protocol; the caller renders its prompt): one
        user turn holding the prompt as a text part, `max_tokens` 5 and no temperature, the reply read as `int()`
        of its text, 0 when that fails (upstream has no "unparseable"). An empty answer is asked about too."""
        self._count("calls")
        if not self.config.base_url:
            return self._fallback("no judge configured", None, "", None, 0)
        body = {
            "messages": [{"role": "user", "content": [{"type": "text", "text": prompt}]}],
            "max_tokens": 5,
        }
        return await self._ask("upstream\0" + prompt, _int_verdict, None, "", body)

    def upstream_verdict_sync(self, prompt: str) -> JudgeResult:
        """``upstream_verdict`` for synchronous callers; see ``grade_sync``."""
        return run_sync(self.upstream_verdict(prompt))

    def grade_sync(self, question: str | None, answer: str | None, ground_truth: str) -> JudgeResult:
        """``grade`` for synchronous callers (lmms-eval's ``process_results``, the agent's scorer), from any thread.

        The call runs on the process's one judge loop (``core.judge.loop``), so every synchronous caller shares
        this client's HTTP pool instead of opening and closing one per verdict.
        """
        return run_sync(self.grade(question, answer, ground_truth))

    def equivalent_sync(self, question: str | None, answer: str | None, ground_truth: str) -> JudgeResult:
        """``equivalent`` for synchronous callers; see ``grade_sync``."""
        return run_sync(self.equivalent(question, answer, ground_truth))

    async def model_name(self) -> str:
        """The judge model: configured, else the first id of GET /v1/models (asked once, on first use)."""
        if self._model:
            return self._model
        state = await self._state()
        async with state.model_lock:
            if not self._model:
                async with self.limiter:
                    self._count("requests")
                    listing = await state.client.models.list()
                ids = [m.id for m in listing.data]
                if not ids:
                    raise Failure("the judge server lists no models", retryable=True)
                self._model = ids[0]
        return self._model

    async def aclose(self) -> None:
        """Close the HTTP pool of the current event loop (others close with their loops, or at exit)."""
        loop = asyncio.get_running_loop()
        with self._loops_lock:
            state = self._loops.pop(loop, None)
        if state is not None:
            await state.lifetime.aclose()

    def close(self) -> None:
        """Close every HTTP pool of this client, each on its own loop; call from outside those loops."""
        _close_states(self._loops, self._loops_lock, _EXIT_CLOSE_TIMEOUT)

    # -------------------------------------------------------------------------------- internals
    def _count(self, key: str, n: int = 1) -> None:
        with self._stats_lock:
            self.stats[key] += n

    async def _state(self) -> _LoopState:
        loop = asyncio.get_running_loop()
        with self._loops_lock:
            state = self._loops.get(loop)
            if state is None:
                for old in [lp for lp in self._loops if lp.is_closed()]:
                    del self._loops[old]  # their pools were closed as their loops shut down
                client = open_client(self.config)
                state = self._loops[loop] = _LoopState(client, asyncio.Lock(), _pool_lifetime(client))
                fresh = True
            else:
                fresh = False
        if fresh:
            await state.lifetime.__anext__()  # registers it with this loop's async-generator shutdown
        return state

    def _fallback(
        self, reason: str, answer: str | None, ground_truth: str, reply: str | None, attempts: int
    ) -> JudgeResult:
        self._count("fallbacks")
        # Only a fact here: whether the rule score is used is the caller's call (fallback_log.log_rule_fallback).
        log.debug("judge gave no verdict (%s)", reason)
        return JudgeResult(
            rule_score(answer, ground_truth),
            fallback=True,
            reason=f"no verdict: {reason}",
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
        return await self._ask(prompt, parse, answer, ground_truth, None)

    async def _ask(
        self,
        prompt: str,
        parse: Callable[[str | None], float | None],
        answer: str | None,
        ground_truth: str,
        body: dict[str, Any] | None,
    ) -> JudgeResult:
        """One verdict with retries and the cache; `body`: the request without its model (default: ours)."""
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
                reply = await self._request(model, prompt, body)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # every failure is classified; none escapes to the training step
                failure = exc if isinstance(exc, Failure) else classify(exc)
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

    async def _request(self, model: str, prompt: str, body: dict[str, Any] | None = None) -> str | None:
        state = await self._state()
        if body is not None:
            body = {**body, "model": model}
        else:
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


_LIVE: weakref.WeakSet[JudgeClient] = weakref.WeakSet()


def _int_verdict(text: str | None) -> float:
    try:
        return float(int(text))  # type: ignore[arg-type]  (upstream: int() of the reply, 0 when it fails)
    except Exception:
        return 0.0


def close_all_clients() -> None:
    """Close the pools of every client still alive (the judge's exit hook, ``core.judge.sync``)."""
    for client in list(_LIVE):
        client.close()
