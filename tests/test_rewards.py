"""compute_reward: constant keys, weights, IoU only with a segment, anti-hacking, judge and fallback flags."""

from __future__ import annotations

import json
from dataclasses import fields

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from longvt_plugins.core.judge import JudgeClient, JudgeConfig
from longvt_plugins.core.rewards import (
    REWARD_KEYS,
    TERMS,
    RewardConfig,
    compute_reward,
    parse_segment,
    reward_term,
)
from longvt_plugins.testing.openai_server import OpenAIStubServer, closed_port_url


def _call(start, end) -> str:
    return (
        "<tool_call>\n"
        + json.dumps({"name": "crop_video", "arguments": {"start_time": start, "end_time": end}})
        + "\n</tool_call>"
    )


def _tool_trace(windows, answer="B") -> str:
    """A verl-decoded trajectory that crops each window in turn, then answers."""
    text = "<think>skim</think>\n"
    for start, end in windows:
        text += (
            _call(start, end)
            + f"\nuser\n<tool_response>\nframes {start}-{end}\n</tool_response>\nassistant\n<think>look</think>\n"
        )
    return text + f"<answer>{answer}</answer>"


def _judge(server_or_url, **kw) -> JudgeClient:
    url = server_or_url if isinstance(server_or_url, str) else server_or_url.base_url
    return JudgeClient(JudgeConfig(base_url=url, model="j", timeout=0.5, retries=1, backoff_base=0.01, **kw))


async def test_rule_reward_with_tool_and_segment():
    result = await compute_reward(_tool_trace([(0, 60), (40, 50)]), "B", segment=[40, 55])
    assert list(result) == list(REWARD_KEYS)
    assert result["acc"] == 1.0 and result["format"] == 1.0 and result["iou"] == pytest.approx(10 / 15)
    assert result["tool_calls"] == 2.0 and result["has_segment"] == 1.0 and result["judge_fallback"] == 0.0
    assert result["score"] == pytest.approx(1 + 1 + 10 / 15)


async def test_iou_counts_only_with_a_segment_and_an_executed_crop():
    no_segment = await compute_reward(_tool_trace([(40, 50)]), "B")
    assert no_segment["has_segment"] == 0.0 and no_segment["iou"] == 0.0 and no_segment["score"] == 2.0
    # a crop the environment never answered (no tool response) earns no IoU
    unanswered = "<think>a</think>" + _call(40, 50) + "<think>b</think><answer>B</answer>"
    assert (await compute_reward(unanswered, "B", segment=[40, 50]))["iou"] == 0.0
    # the tool's own record of sampled windows wins over the text (it holds the clipped window)
    from_tool = await compute_reward(_tool_trace([(40, 500)]), "B", segment=[40, 60], windows=[[40.0, 60.0]])
    assert from_tool["iou"] == 1.0
    # the tool recorded no successful crop (e.g. every window was refused): the text's calls do not count
    refused = await compute_reward(_tool_trace([(40, 60)]), "B", segment=[40, 60], windows=[])
    assert refused["iou"] == 0.0
    # a bad segment is no segment
    for bad in ([50, 40], [1], "oops", [float("nan"), 3], None):
        assert (await compute_reward(_tool_trace([(1, 2)]), "B", segment=bad))["has_segment"] == 0.0


async def test_weights_come_from_the_config():
    config = RewardConfig(acc_weight=2.0, format_weight=0.5, iou_weight=0.0, tool_weight=1.0)
    result = await compute_reward(_tool_trace([(40, 50)]), "B", segment=[40, 50], config=config)
    assert result["tool"] == 1.0
    assert result["score"] == pytest.approx(2.0 * 1 + 0.5 * 1 + 0.0 * 1 + 1.0 * 1)
    with pytest.raises(ValueError, match="judge_mode"):
        RewardConfig(judge_mode="vibes")
    with pytest.raises(ValueError, match="acc_weight"):
        RewardConfig(acc_weight=float("inf"))


def test_reward_keys_are_the_configured_terms_and_their_extras():
    assert REWARD_KEYS == (
        "score",
        "acc",
        "format",
        "iou",
        "tool",
        "zoom_iou",
        "tool_calls",
        "judge_fallback",
        "judge_cached",
        "has_evidence_box",
        "has_answer",
        "has_segment",
        "answer_too_long",
    )
    weights = [f.name for f in fields(RewardConfig) if f.name.endswith("_weight")]
    assert sorted(TERMS) == sorted(w.removesuffix("_weight") for w in weights)


def test_a_term_and_the_config_must_agree():
    from longvt_plugins.core.rewards import compose

    reward_term("span_penalty")(lambda sample: 0.0)  # a new term file without its config line
    try:
        with pytest.raises(RuntimeError, match=r"terms without a <name>_weight field \['span_penalty'\]"):
            compose._configured_terms()
    finally:
        del TERMS["span_penalty"]
    assert [t.name for t in compose._configured_terms()] == ["acc", "format", "iou", "tool", "zoom_iou"]
    with pytest.raises(ValueError, match="registered twice"):
        reward_term("acc")(lambda sample: 0.0)


async def test_overlong_answer_gets_nothing_and_the_judge_is_not_asked():
    with OpenAIStubServer(lambda body: "1", model="j") as server:
        result = await compute_reward(
            "<think>x</think><answer>" + "red " * 400 + "</answer>", "red", judge=_judge(server)
        )
        assert result["answer_too_long"] == 1.0 and result["acc"] == 0.0 and result["format"] == 0.0
        assert server.request_count == 0


async def test_missing_answer_scores_zero_without_asking_the_judge():
    with OpenAIStubServer(lambda body: "1", model="j") as server:
        result = await compute_reward("<think>I ran out of tokens", "red", judge=_judge(server))
        assert result["has_answer"] == 0.0 and result["acc"] == 0.0 and result["score"] == 0.0
        assert server.request_count == 0


async def test_judge_grades_and_its_failures_are_flagged(tmp_path):
    with OpenAIStubServer(lambda body: "0.5", model="j") as server:
        judge = _judge(server, cache_path=str(tmp_path / "c.sqlite"))
        text = "<think>x</think><answer>a dog</answer>"
        graded = await compute_reward(text, "a dog and a rabbit", question="Which animals?", judge=judge)
        assert graded["acc"] == 0.5 and graded["judge_fallback"] == 0.0 and graded["judge_cached"] == 0.0
        again = await compute_reward(text, "a dog and a rabbit", question="Which animals?", judge=judge)
        assert again["acc"] == 0.5 and again["judge_cached"] == 1.0
        assert "[Question]: Which animals?" in server.requests[0]["messages"][0]["content"]
        server.mode = "server_error"
        failed = await compute_reward(
            "<think>x</think><answer>a dog and a rabbit</answer>", "a dog and a rabbit", judge=judge
        )
        assert failed["judge_fallback"] == 1.0 and failed["acc"] == 1.0  # rule fallback: exact match
        assert list(failed) == list(REWARD_KEYS)


async def test_equivalence_and_rule_modes():
    with OpenAIStubServer(lambda body: "FALSE", model="j") as server:
        judge = _judge(server)
        text = "<think>x</think><answer>B</answer>"
        assert (await compute_reward(text, "B", judge=judge, config=RewardConfig(judge_mode="equivalent")))[
            "acc"
        ] == 0
        assert (await compute_reward(text, "B", judge=judge, config=RewardConfig(judge_mode="rule")))[
            "acc"
        ] == 1
        assert len(server.requests) == 1


async def test_down_judge_still_returns_a_reward():
    result = await compute_reward("<think>x</think><answer>C</answer>", "C", judge=_judge(closed_port_url()))
    assert result["judge_fallback"] == 1.0 and result["acc"] == 1.0 and result["score"] == 2.0


def test_parse_segment_accepts_what_datasets_hold():
    np = pytest.importorskip("numpy")
    assert parse_segment(np.array([1.5, 4.0])) == (1.5, 4.0)
    assert parse_segment("[1, 2]") == (1.0, 2.0)
    assert parse_segment((0, 10)) == (0.0, 10.0)
    assert parse_segment([3, 3]) is None


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    text=st.lists(
        st.sampled_from(
            [
                "<think>",
                "</think>",
                "<answer>",
                "</answer>",
                "B",
                "red",
                _call(1, 9),
                "\nuser\n<tool_response>x</tool_response>\nassistant\n",
                " ",
            ]
        ),
        max_size=12,
    ).map("".join),
    segment=st.one_of(st.none(), st.tuples(st.floats(0, 100), st.floats(0, 100))),
    tool_calls=st.one_of(st.none(), st.integers(0, 5)),
)
async def test_keys_and_types_are_constant_for_any_input(text, segment, tool_calls):
    result = await compute_reward(text, "B", segment=segment, tool_calls=tool_calls)
    assert list(result) == list(REWARD_KEYS)
    assert all(isinstance(v, float) for v in result.values())
    assert 0.0 <= result["score"] <= 3.0


@pytest.mark.parametrize(
    ("mode", "fallback"),
    [
        ("ok", 0.0),
        ("think", 0.0),
        ("rate_limit", 1.0),
        ("server_error", 1.0),
        ("unauthorized", 1.0),
        ("hang", 1.0),
        ("garbage", 1.0),
        ("nonsense", 1.0),
        ("drop", 1.0),
    ],
)
async def test_reward_comes_back_for_every_judge_behaviour(mode, fallback):
    import asyncio

    with OpenAIStubServer(lambda body: "1", model="j", mode=mode, retry_after=0.01) as server:
        judge = _judge(server)  # timeout 0.5 s, 1 retry
        # the policy's worst case: 2 attempts x (timeout + 5 s backstop) + backoff; it must come back by then
        result = await asyncio.wait_for(
            compute_reward("<think>x</think><answer>red</answer>", "red", judge=judge), timeout=2 * 5.5 + 1
        )
        assert list(result) == list(REWARD_KEYS)
        assert result["judge_fallback"] == fallback and result["acc"] == 1.0
