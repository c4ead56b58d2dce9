"""The miniature's rule-backed judge (`miniature.rule_judge`): a real OpenAI-protocol server on 127.0.0.1 that our
reward reaches over HTTP, as it would a served judge LLM, and whose verdicts follow the palette rule."""

from __future__ import annotations

import pytest

from longvt_plugins.miniature import rule_judge


@pytest.fixture(scope="module")
def judge():
    server = rule_judge.serve()
    yield server
    server.stop()


@pytest.mark.parametrize(
    ("answer", "truth", "score"),
    [("brown", "brown", 1.0), ("Brown.", "brown", 1.0), ("white", "brown", 0.0), ("brown or white", "brown", 0.0),
     ("none", "none", 1.0), ("red", "none", 0.0), ("", "brown", 0.0)],
)  # fmt: skip
async def test_verl_reward_gets_its_accuracy_from_the_rule_judge_over_http(judge, answer, truth, score):
    from longvt_plugins.verl.reward import compute_score

    before = len(judge.requests)
    text = f"<think>x</think><answer>{answer}</answer>"
    result = await compute_score("longvt", text, truth, None, judge="grade", judge_base_url=judge.base_url,
                                 judge_cache="off", judge_retries=0)  # fmt: skip
    assert result["acc"] == score and result["judge_fallback"] == 0.0
    if answer:  # an empty answer is scored 0 without asking anyone
        assert len(judge.requests) == before + 1 and judge.requests[-1]["model"] == rule_judge.MODEL_NAME


def test_equivalence_prompt_gets_a_true_false_verdict(judge):
    from longvt_plugins.core.judge import JudgeClient, JudgeConfig

    client = JudgeClient(JudgeConfig(base_url=judge.base_url, cache_path=None, retries=0))
    try:
        assert client.equivalent_sync("What blinks?", "white", "white").score == 1.0
        assert client.equivalent_sync("What blinks?", "grey", "white").score == 0.0
    finally:
        client.close()
    assert judge.requests[-1]["messages"][-1]["content"].rstrip().endswith("FALSE otherwise.")


def test_a_prompt_that_is_not_ours_reads_as_no_verdict():
    assert rule_judge.verdict("Is this right? brown") is None
    assert rule_judge.handler({"messages": [{"role": "user", "content": "hello"}]}) == "0"
