"""The process's judge loop: one daemon thread running one event loop, where synchronous callers' verdicts run.

Synchronous code (lmms-eval's ``process_results`` from several threads, the agent's scorer) must not start an
event loop per verdict: each would open and drop its own HTTP pool. ``run_sync`` hands the coroutine to this
one loop and waits, so those callers share each client's pool, cache and concurrency bound.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None
_thread: threading.Thread | None = None


def judge_loop() -> asyncio.AbstractEventLoop:
    """The judge loop, started on first use."""
    global _loop, _thread
    with _lock:
        if _loop is None or _loop.is_closed():
            loop = asyncio.new_event_loop()
            _thread = threading.Thread(target=loop.run_forever, name="longvt-judge", daemon=True)
            _thread.start()
            _loop = loop
        return _loop


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` on the judge loop and return its result; callable from any thread but the loop's own."""
    loop = judge_loop()
    if threading.current_thread() is _thread:
        coro.close()
        raise RuntimeError("run_sync called on the judge loop itself: await the coroutine instead")
    return asyncio.run_coroutine_threadsafe(coro, loop).result()


async def _finish(timeout: float) -> None:
    """Let pending work end (a dropped client's pool may be closing), then finalize the async generators."""
    pending = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    if pending:
        await asyncio.wait(pending, timeout=timeout)
    await asyncio.get_running_loop().shutdown_asyncgens()


def stop_judge_loop(timeout: float = 5.0) -> None:
    """Finalize the loop's async generators (they close the pools on it), stop it and close it."""
    global _loop, _thread
    with _lock:
        loop, thread, _loop, _thread = _loop, _thread, None, None
    if loop is None or loop.is_closed():
        return
    try:
        asyncio.run_coroutine_threadsafe(_finish(timeout), loop).result(timeout * 2)
    except Exception:  # noqa: BLE001 - best effort at exit: a hung loop must not hang the interpreter
        pass
    loop.call_soon_threadsafe(loop.stop)
    if thread is not None:
        thread.join(timeout)
    if not loop.is_running():
        loop.close()
