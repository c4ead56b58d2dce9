"""Judge verdicts kept in SQLite, keyed by a hash of model + prompt + sampling settings."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sqlite3
import threading
import time
from pathlib import Path

from longvt_plugins.core.judge.config import JudgeConfig

log = logging.getLogger(__name__)


# SQLite answers "database is locked" at once, without waiting on busy_timeout, in a few cases that concurrent
# workers hit: switching a fresh file to WAL, and a snapshot that went stale under another writer. Those are
# retried here with backoff, inside this budget, before an operation degrades to a miss.
_RETRY_SECONDS = 30.0


def _transient(exc: sqlite3.Error) -> bool:
    text = str(exc).lower()
    return isinstance(exc, sqlite3.OperationalError) and ("locked" in text or "busy" in text)


def _with_retry(operation):
    deadline, delay = time.monotonic() + _RETRY_SECONDS, 0.005
    while True:
        try:
            return operation()
        except sqlite3.Error as exc:
            if not _transient(exc) or time.monotonic() + delay > deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 0.5)


class JudgeCache:
    """Verdicts in one SQLite file, shared by processes (WAL + busy timeout + retry). Errors degrade to a miss."""

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
            try:
                conn.execute("PRAGMA busy_timeout=30000")
                _with_retry(lambda: conn.execute("PRAGMA journal_mode=WAL"))
                conn.execute("PRAGMA synchronous=NORMAL")
                _with_retry(
                    lambda: conn.execute(
                        "CREATE TABLE IF NOT EXISTS verdicts (key TEXT PRIMARY KEY, score REAL NOT NULL,"
                        " reply TEXT, model TEXT, created REAL NOT NULL)"
                    )
                )
            except sqlite3.Error:
                conn.close()
                raise
            self._conn, self._pid = conn, os.getpid()
        return self._conn

    def get(self, key: str) -> tuple[float, str | None] | None:
        with self._lock:
            try:
                row = _with_retry(
                    lambda: (
                        self._connection()
                        .execute("SELECT score, reply FROM verdicts WHERE key = ?", (key,))
                        .fetchone()
                    )
                )
            except sqlite3.Error as exc:
                log.warning("judge cache %s unreadable (%s); treating as a miss", self.path, exc)
                return None
        return (float(row[0]), row[1]) if row else None

    def put(self, key: str, score: float, reply: str | None, model: str) -> None:
        with self._lock:
            try:
                _with_retry(
                    lambda: self._connection().execute(
                        "INSERT OR REPLACE INTO verdicts (key, score, reply, model, created) VALUES (?, ?, ?, ?, ?)",
                        (key, score, reply, model, time.time()),
                    )
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
