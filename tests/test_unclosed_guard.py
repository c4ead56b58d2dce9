"""The suite's guard against open aiohttp pools really fails a run: a test file that leaks on purpose, run by
pytest in a subprocess with the same plugin, fails; the same file closing its session passes."""

from __future__ import annotations

import subprocess
import sys

import pytest

_TEST_FILE = """
import asyncio
import aiohttp

async def _open():
    session = aiohttp.ClientSession()
    if {close}:
        await session.close()
    return session

def test_session():
    loop = asyncio.new_event_loop()
    session = loop.run_until_complete(_open())
    del session
    loop.close()
"""


def _pytest(tmp_path, close: bool) -> subprocess.CompletedProcess:
    path = tmp_path / f"test_pool_{'closed' if close else 'leaked'}.py"
    path.write_text(_TEST_FILE.format(close=close))
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-p",
            "longvt_plugins.testing.unclosed",
        ]
        + ["--rootdir", str(tmp_path), "-c", "/dev/null", str(path)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=300,
    )


@pytest.mark.slow
def test_a_leaked_session_fails_the_run_and_a_closed_one_passes(tmp_path):
    leaked = _pytest(tmp_path, close=False)
    assert leaked.returncode != 0, leaked.stdout + leaked.stderr
    assert "Unclosed client session" in leaked.stdout + leaked.stderr
    closed = _pytest(tmp_path, close=True)
    assert closed.returncode == 0, closed.stdout + closed.stderr
