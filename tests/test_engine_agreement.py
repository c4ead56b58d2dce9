"""benchmarks/engine_agreement.py scores a server's tokens with the in-process model (teacher-forced). On CPU, with
the shipped miniature checkpoint: the in-process model's own greedy turn diverges nowhere; one changed token is
found at its position, with a positive margin. (The served side needs a GPU server: BENCHMARKS.md, GPU runs.)"""

from __future__ import annotations

import pytest
from benchmark_support import load_benchmark


def _mod():
    return load_benchmark("engine_agreement")


@pytest.mark.slow
def test_teacher_forced_scores_find_the_first_token_the_model_would_not_have_chosen(tmp_path):
    import torch

    from longvt_plugins.core.agent import run_agent
    from longvt_plugins.core.backends import GenerationParams, TransformersBackend
    from longvt_plugins.miniature import task
    from longvt_plugins.miniature.demo import demo_item, shipped_checkpoint

    m = _mod()
    torch.set_num_threads(1)
    item = demo_item(tmp_path)
    backend = TransformersBackend(shipped_checkpoint(), device="cpu")
    recorded = m.Recording(backend)
    run_agent(
        item.path, item.question, recorded, task.agent_budgets(), params=GenerationParams(temperature=0.0)
    )
    assert len(recorded.requests) >= 2  # the call turn and the answer turn
    messages, tools, _, turn = recorded.requests[0]
    ids = backend.processor.tokenizer(turn.raw_text, add_special_tokens=False)["input_ids"]
    lp, prompt_len = m.score_tokens(backend, messages, tools, ids)
    assert lp.shape[0] == len(ids) and prompt_len > 100
    assert m.first_divergence(lp, ids) is None

    k = len(ids) // 2
    changed = list(ids)
    changed[k] = int(lp[k].argsort(descending=True)[1])  # the runner-up at one position
    lp2, _ = m.score_tokens(backend, messages, tools, changed)
    div = m.first_divergence(lp2, changed)
    assert div is not None and div["position"] == k and div["reference_token"] == ids[k]
    assert div["reference_margin"] > 0
