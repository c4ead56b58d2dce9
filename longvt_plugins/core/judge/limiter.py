"""A concurrency bound for judge requests that holds across every event loop and thread of a process."""

from __future__ import annotations

import asyncio
import threading
from collections import deque


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
