"""The one way synchronous and host code gets a judge: ``shared_client(config)``, and the exit hook.

lmms-eval's scorer, the agent's scorer and verl's reward entry used to keep their own client caches, each with
its own HTTP pool, concurrency bound and shutdown story. Here every caller with the same settings gets the same
``JudgeClient`` (its cache, counters and ``concurrency`` bound are process-wide); its ``*_sync`` methods run on
the judge loop (``core.judge.loop``). At interpreter exit every client's pools are closed on their own loops
before the loops go away, so no "Unclosed client session" is ever printed.
"""

from __future__ import annotations

import atexit
import threading

from longvt_plugins.core.judge.client import JudgeClient, close_all_clients
from longvt_plugins.core.judge.config import JudgeConfig
from longvt_plugins.core.judge.loop import stop_judge_loop

_lock = threading.Lock()
_clients: dict[JudgeConfig, JudgeClient] = {}


def shared_client(config: JudgeConfig | None = None) -> JudgeClient:
    """One client per judge setting per process (``None``: the settings in the environment)."""
    config = JudgeConfig.from_env() if config is None else config
    with _lock:
        client = _clients.get(config)
        if client is None:
            client = _clients[config] = JudgeClient(config)
        return client


def shutdown() -> None:
    """Close every judge client's pools, then stop the judge loop. Runs at exit; safe to call twice."""
    close_all_clients()
    with _lock:
        _clients.clear()
    stop_judge_loop()


atexit.register(shutdown)
