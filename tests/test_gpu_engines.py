"""Real engines on a GPU: `vllm serve` started with exactly the eval recipe's flags, our agent loop against it, and
one turn forced to call crop_video through vLLM's hermes parser. Skipped without CUDA and vLLM (CI has neither);
run on a GPU host with `pytest -m gpu tests/test_gpu_engines.py`. Results of a manual run: BENCHMARKS.md, "GPU runs".
"""

from __future__ import annotations

import importlib.util
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest


def _cuda() -> bool:
    try:
        import torch

        return torch.cuda.is_available()
    except Exception:
        return False


pytestmark = [
    pytest.mark.gpu,
    pytest.mark.slow,
    pytest.mark.skipif(
        not _cuda() or importlib.util.find_spec("vllm") is None, reason="needs a CUDA GPU and vLLM"
    ),
]

RECIPE = Path(__file__).resolve().parents[1] / "recipes" / "eval" / "run_eval.sh"
# A tiny random model needs these on top of the recipe's flags (KV blocks sized from free memory otherwise).
TINY_FLAGS = "--num-gpu-blocks-override 4096 --enforce-eager --gpu-memory-utilization 0.3"


def build_budgets():
    """The agent's limits for the forced-call test. A builder of its own so that the CPU suite can call it
    (tests/test_gpu_api_drift.py): a GPU-only test that uses a removed API otherwise fails only on a GPU host."""
    from longvt_plugins.core.agent import AgentBudgets
    from longvt_plugins.core.budget import SKIM

    budgets = AgentBudgets(skim=SKIM.replace(max_frames=16), max_turns=2)
    budgets.validate()
    return budgets


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tiny_model_dir, tmp_path_factory):
    port = _free_port()
    env = {**os.environ, "DRY_RUN": "1", "DP": "1", "PORT": str(port), "VLLM_ARGS": TINY_FLAGS}
    env.setdefault("VLLM_USE_FLASHINFER_SAMPLER", "0")
    argv = subprocess.run(
        ["bash", str(RECIPE), str(tiny_model_dir), "longvtp_videosiah_tool", "32"],
        env=env, capture_output=True, text=True, check=True, timeout=300,
    ).stdout.splitlines()  # fmt: skip
    log = tmp_path_factory.mktemp("vllm") / "vllm.log"
    with open(log, "w") as fh:
        proc = subprocess.Popen(argv, env=env, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            if proc.poll() is not None:
                pytest.fail(f"vllm exited: {log.read_text()[-3000:]}")
            try:
                urllib.request.urlopen(f"{base}/health", timeout=2)
                break
            except OSError:
                time.sleep(1)
        else:
            pytest.fail("vllm did not answer /health in 10 minutes")
        yield f"{base}/v1", argv
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=60)


def test_recipe_flags_reach_the_server(server):
    _, argv = server
    assert "--limit-mm-per-prompt" in argv and "--max-model-len" in argv
    assert argv[argv.index("--tool-call-parser") + 1] == "hermes"


def test_agent_skims_and_forced_calls_go_through_vllms_parser(server, tiny_model_dir, sample_video):
    from longvt_plugins.core.agent import run_agent
    from longvt_plugins.core.backends import GenerationParams, make_backend

    base_url, _ = server
    backend = make_backend(base_url=base_url, served_model=str(tiny_model_dir))
    budgets = build_budgets()
    forced = {"tool_choice": {"type": "function", "function": {"name": "crop_video"}}}
    trace = run_agent(
        sample_video.path, "What is shown at 20 s?", backend, budgets,
        params=GenerationParams(max_tokens=64, extra=forced),
    )  # fmt: skip
    assert trace.error is None, trace.error
    # Every turn came back as a native tool call parsed by the server, and each got a tool result (frames or an
    # error text for the model): nothing was dropped or crashed.
    assert trace.turns and all(t.call_format == "native" for t in trace.turns)
    assert len(trace.crops) == sum(len(t.tool_calls) for t in trace.turns) >= 1
    assert all(c.ok or c.error for c in trace.crops)
    # Context grows turn after turn; the server reports it.
    prompts = [t.prompt_tokens for t in trace.turns]
    assert all(p for p in prompts) and prompts == sorted(prompts)


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-m", "gpu", "-q"]))
