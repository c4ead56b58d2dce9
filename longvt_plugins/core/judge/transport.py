"""The HTTP side of a judge request: the SDK client of one event loop, and what each failure means for a retry."""

from __future__ import annotations

import asyncio
import email.utils
import time
from typing import Any

from longvt_plugins.core.judge.config import JudgeConfig


class Failure(Exception):
    """An attempt failed; ``retry_after`` is the server's wish (seconds) when it said one."""

    def __init__(self, reason: str, *, retryable: bool, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason, self.retryable, self.retry_after = reason, retryable, retry_after


def retry_after_seconds(response: Any) -> float | None:
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


def connection_cause(exc: BaseException) -> BaseException | None:
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


def classify(exc: BaseException) -> Failure:
    import openai  # the SDK is a dependency of core; imported late to keep `import core.judge` cheap

    if isinstance(exc, openai.APITimeoutError | asyncio.TimeoutError):
        # The aiohttp transport reports every connection failure as a timeout; its cause says what happened.
        broken = connection_cause(exc)
        if broken is not None:
            return Failure(f"connection error: {broken}", retryable=True)
        return Failure("timeout", retryable=True)
    if isinstance(exc, openai.APIConnectionError):
        return Failure(f"connection error: {exc}", retryable=True)
    if isinstance(exc, openai.APIStatusError):
        status = exc.status_code
        retryable = status in (408, 409, 429) or status >= 500
        return Failure(f"HTTP {status}", retryable=retryable, retry_after=retry_after_seconds(exc.response))
    if isinstance(exc, ValueError | TypeError | AttributeError | KeyError | IndexError | openai.APIError):
        # a 200 whose body is not a chat completion (JSONDecodeError is a ValueError): a proxy or server bug
        return Failure(f"malformed response: {type(exc).__name__}", retryable=True)
    return Failure(f"{type(exc).__name__}: {exc}", retryable=False)


def http_client(config: JudgeConfig) -> Any:
    """The SDK's aiohttp transport when aiohttp is installed: it costs about half the CPU per request of the
    default httpx transport, and at 64+ requests in flight the client's CPU is what limits throughput."""
    import openai

    limits = {"max_connections": config.concurrency, "max_keepalive_connections": config.concurrency}
    try:
        import httpx2

        return openai.DefaultAioHttpClient(timeout=config.timeout, limits=httpx2.Limits(**limits))
    except (ImportError, RuntimeError, AttributeError):
        return None  # the SDK's default transport


def open_client(config: JudgeConfig) -> Any:
    """An ``AsyncOpenAI`` for the calling event loop (an HTTP pool belongs to one loop)."""
    from openai import AsyncOpenAI

    return AsyncOpenAI(
        base_url=config.base_url,
        api_key=config.api_key,
        timeout=config.timeout,
        max_retries=0,  # retries are ours: the SDK's would hold a concurrency slot while sleeping
        http_client=http_client(config),
    )
