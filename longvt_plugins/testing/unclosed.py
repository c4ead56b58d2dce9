"""A pytest plugin that fails the run when an aiohttp pool is left open ("Unclosed client session/connector").

aiohttp reports a session or connector collected while still open through its loop's exception handler, which
logs to the ``asyncio`` logger (and as a ResourceWarning, which Python hides by default). The plugin listens on
that logger for the whole run:

- a test during which such a message appears fails in its teardown (the leak may come from an earlier test
  whose garbage was collected late; the run fails either way);
- at the end of the session the judge's exit hook runs and the garbage is collected, and anything reported
  then fails the session;
- whatever is reported later, during interpreter exit, turns a passing exit status into 1.

Enable it with ``-p longvt_plugins.testing.unclosed`` or ``pytest_plugins`` in a conftest.
"""

from __future__ import annotations

import atexit
import gc
import logging
import os
import sys
import warnings

import pytest

MARKERS = ("Unclosed client session", "Unclosed connector")


class _Listener(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.seen: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if any(marker in message for marker in MARKERS):
            self.seen.append(" ".join(message.split())[:300])


_LISTENER = _Listener()


def _report(found: list[str]) -> str:
    return "aiohttp pools left open (close them on their loop):\n  " + "\n  ".join(found)


def pytest_configure(config: pytest.Config) -> None:
    logging.getLogger("asyncio").addHandler(_LISTENER)
    atexit.register(_check_at_exit)


def pytest_warning_recorded(
    warning_message: warnings.WarningMessage, when: str, nodeid: str, location
) -> None:
    # Only seen when the run shows ResourceWarnings (-W always::ResourceWarning); the logger sees the rest.
    text = str(warning_message.message)
    if issubclass(warning_message.category, ResourceWarning) and any(m in text for m in MARKERS):
        _LISTENER.seen.append(text.splitlines()[0])


@pytest.fixture(autouse=True)
def _no_unclosed_pools():
    before = len(_LISTENER.seen)
    yield
    found = _LISTENER.seen[before:]
    if found:
        pytest.fail(_report(found), pytrace=False)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    before = len(_LISTENER.seen)
    if "longvt_plugins.core.judge.sync" in sys.modules:
        sys.modules["longvt_plugins.core.judge.sync"].shutdown()
    gc.collect()
    found = _LISTENER.seen[before:]
    _SESSION_END[0] = len(_LISTENER.seen)
    if found:
        sys.stderr.write(_report(found) + "\n")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def _check_at_exit() -> None:
    """Last exit hook (registered first): what leaks while the other exit hooks ran fails the process."""
    gc.collect()
    late = _LISTENER.seen[_SESSION_END[0] :]
    if late:
        sys.stderr.write(_report(late) + "\n")
        sys.stderr.flush()
        sys.stdout.flush()
        os._exit(1)


_SESSION_END = [0]  # how many reports had been seen when the session's own check ran
