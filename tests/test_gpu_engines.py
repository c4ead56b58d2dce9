"""Real engines on a GPU: `vllm serve` of the shipped miniature checkpoint started with exactly the eval recipe's
flags; our agent loop against it with every turn forced to call crop_video through vLLM's hermes parser, and once
unforced (the trained model crops a scene and answers). Skipped without CUDA and vLLM (CI has neither); run on a GPU
host with `pytest -m gpu tests/test_gpu_engines.py`. Results of a manual run: BENCHMARKS.md, "GPU runs".
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
# A tiny model needs these on top of the recipe's flags (KV blocks sized from free memory otherwise).
TINY_FLAGS = "--num-gpu-blocks-override 2048 --enforce-eager --gpu-memory-utilization 0.2"


def build_budgets():
    """The miniature agent's limits (2 crops, 3 turns) with 64 new tokens a turn. A builder of its own so that the
    CPU suite can call it (tests/test_gpu_api_drift.py): a GPU-only test that uses a removed API otherwise fails
    only on a GPU host."""
    from dataclasses import replace

    from longvt_plugins.miniature import task

    budgets = replace(task.agent_budgets(), max_new_tokens=64)
    budgets.validate()
    return budgets


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def model_dir():
    """The shipped miniature checkpoint: trained, so its calls are real calls (a random model's forced JSON can run
    to the token limit as one long number, which tests the sampler, not our loop)."""
    from longvt_plugins.miniature.demo import shipped_checkpoint

    return shipped_checkpoint()


@pytest.fixture(scope="module")
def server(model_dir, tmp_path_factory):
    port = _free_port()
    # The protocol the checkpoint was trained with (its chat template); upstream's would be a prompt it never saw.
    env = {
        **os.environ,
        "PROTOCOL": "longvt-plugins",
        "DRY_RUN": "1",
        "DP": "1",
        "PORT": str(port),
        "VLLM_ARGS": TINY_FLAGS,
    }
    env.setdefault("VLLM_USE_FLASHINFER_SAMPLER", "0")
    argv = subprocess.run(
        ["bash", str(RECIPE), str(model_dir), "longvtp_miniature_tool"],
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


def test_forced_calls_go_through_vllms_parser_and_every_call_gets_a_result(server, model_dir, tmp_path):
    from longvt_plugins.core.agent import run_agent
    from longvt_plugins.core.backends import GenerationParams, make_backend
    from longvt_plugins.miniature.demo import demo_item

    base_url, _ = server
    item = demo_item(tmp_path)
    backend = make_backend(base_url=base_url, served_model=str(model_dir))
    budgets = build_budgets()
    forced = {"tool_choice": {"type": "function", "function": {"name": "crop_video"}}}
    trace = run_agent(item.path, item.question, backend, budgets, params=GenerationParams(extra=forced))
    assert trace.error is None, trace.error
    # vLLM's named tool choice makes the model write the arguments JSON with no <think> first, a form it never
    # learned: on 2026-12-02 it wrote digits up to the 64-token cap. What must hold whatever it writes: the first
    # forced turn comes back as a native call, the per-turn cap reaches the server, every call (valid, invalid or
    # over the limit) gets a tool result, and the context grows as the server reports it.
    assert trace.turns[0].call_format == "native" and trace.turns[0].tool_calls
    assert all((t.completion_tokens or 0) <= budgets.max_new_tokens for t in trace.turns)
    assert len(trace.crops) == sum(len(t.tool_calls) for t in trace.turns) >= 1
    assert all(c.ok or c.error for c in trace.crops)
    prompts = [t.prompt_tokens for t in trace.turns]
    assert all(p for p in prompts) and prompts == sorted(prompts)


def test_the_trained_checkpoint_served_by_vllm_crops_the_asked_scene_and_answers(server, model_dir, tmp_path):
    """The CPU test of the shipped checkpoint (tests/test_miniature_train.py), through vLLM and its hermes parser."""
    from longvt_plugins.core.agent import run_agent
    from longvt_plugins.core.backends import GenerationParams, make_backend
    from longvt_plugins.miniature import task
    from longvt_plugins.miniature.demo import demo_item
    from longvt_plugins.miniature.evaluate import trace_metrics

    base_url, _ = server
    item = demo_item(tmp_path)
    backend = make_backend(base_url=base_url, served_model=str(model_dir))
    trace = run_agent(
        item.path, item.question, backend, task.agent_budgets(), params=GenerationParams(temperature=0)
    )
    m = trace_metrics(trace, item)
    assert trace.stop_reason == "answer" and m["format_ok"], trace.to_json()[:3000]
    assert trace.turns[0].call_format == "native" and m["valid_calling_turns"] == m["calling_turns"] == 1
    assert trace.crop_windows == [(item.start, item.end)] and trace.final_answer == item.answer


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-m", "gpu", "-q"]))
