"""Scoring differential: lmms-eval 0.7.3's own LongVT scorer and ours under `upstream`, same corpus, same judge.

A corpus of 282 replies (letters, option texts, tagless, several <answer> blocks, boxes, trailing numbers, think /
analysis layouts, junk) against letter, open and numeric ground truths is scored by lmms-eval's
`reasoning_utils.compute_score` (the code its built-in `longvt` task runs) and by our production path
(`lmms_eval.upstream_scoring.score_upstream` -> core judge client), both asking one scripted judge on 127.0.0.1.
Scores must be equal and the judge requests each side sent identical. LongVT's own copy of the scorer
(`recipe="longvt"`) differs from lmms-eval's in two facts only (tests/upstream_facts.py); it must agree everywhere
else, and differ where those facts say.
"""

from __future__ import annotations

import hashlib
import itertools

import pytest
import upstream_facts as facts

from longvt_plugins.core.protocols import UPSTREAM
from longvt_plugins.core.protocols import upstream_scoring as ours
from longvt_plugins.testing.openai_server import OpenAIStubServer

QUESTION = "Which shape appears after the red circle?\nA. square\nB. triangle\nC. star\nD. Bob's hat"
GROUND_TRUTHS = ["B", "D", "triangle", "red circle", "Bob's hat", "42", "3.5", "1/2", "C."]
REPLIES = [
    "B",
    "B.",
    "(B)",
    "b",
    "The answer is B",
    "I choose D because",
    "triangle",
    "Triangle.",
    "a triangle",
    "red circle",
    "the red circle",
    "Bob's hat",
    "42",
    "42.0",
    "0.5",
    "3.5",
    "",
    "   ",
    "???",
    "A B C D",
    "Answer: C",
    "1. B",
    "D)",
    "no idea",
    "zzzz qqqq",
]
WRAPPERS = [
    "{r}",
    "<answer>{r}</answer>",
    "<think>let me see</think><answer>{r}</answer>",
    "<think>x</think><answer>A</answer> then <answer>{r}</answer>",
    "<answer>{r}</answer><answer>A</answer>",
    "<analysis>hmm</analysis><answer>{r}</answer>",
    "The final result is \\boxed{{{r}}}",
    "Working: 6*7 = 42 so\nthe result is {r}",
    "<think>long reasoning with (brackets) and = signs that goes on for a while</think> {r}",
    '<think>x</think><tool_call>crop_video {{"start_time": 1}}</tool_call></tool_response><image_url>'
    "</tool_response><think>y</think><answer>{r}</answer>",
]


def corpus() -> list[tuple[str, str]]:
    items = [(w.format(r=r), gt) for w, r, gt in itertools.product(WRAPPERS, REPLIES, GROUND_TRUTHS)]
    # Every 8th combination keeps the run short while covering each wrapper, reply and ground truth.
    return items[::8]


def scripted_judge(body: dict) -> str:
    """A deterministic judge: from the prompt's bytes, one of several replies (some that int() cannot read)."""
    text = body["messages"][0]["content"]
    text = text if isinstance(text, str) else text[0]["text"]
    prediction = text.split("Model Prediction:\n```\n", 1)[-1].split("\n```", 1)[0]
    gt = text.split("Ground Truth Answer:\n```\n", 1)[-1].split("\n```", 1)[0]
    if prediction.strip() and gt.lower().strip(".") in prediction.lower():
        return "1"
    pick = int(hashlib.sha256(text.encode()).hexdigest(), 16) % 6
    return ["0", "1", " 1", "1.", "0\n", "yes"][pick]


@pytest.fixture(scope="module")
def judge_server():
    with OpenAIStubServer(scripted_judge, model="judge") as server:
        yield server


@pytest.fixture(scope="module")
def reference(judge_server):
    """lmms-eval's installed scorer, its module-level client pointed at the scripted judge."""
    from lmms_eval.tasks._task_utils import reasoning_utils
    from openai import OpenAI

    path = facts.lmms_eval_file("tasks/_task_utils/reasoning_utils.py")
    assert facts.sha256_file(path) == facts.LMMS_EVAL_FILES["tasks/_task_utils/reasoning_utils.py"]
    saved = (reasoning_utils.client, reasoning_utils.USE_LLM_JUDGE, reasoning_utils.MODEL_NAME)
    reasoning_utils.client = OpenAI(base_url=judge_server.base_url, api_key="EMPTY")
    reasoning_utils.USE_LLM_JUDGE, reasoning_utils.MODEL_NAME = "True", "judge"
    yield reasoning_utils
    reasoning_utils.client, reasoning_utils.USE_LLM_JUDGE, reasoning_utils.MODEL_NAME = saved


@pytest.fixture()
def our_judge(judge_server, monkeypatch):
    monkeypatch.setenv("LONGVT_JUDGE_BASE_URL", judge_server.base_url)
    monkeypatch.setenv("LONGVT_JUDGE_MODEL", "judge")
    monkeypatch.setenv("LONGVT_JUDGE_CACHE", "off")
    monkeypatch.setenv("LONGVT_JUDGE_RETRIES", "0")


def _theirs(reference, server, reply, gt):
    start = len(server.requests)
    got = reference.compute_score("longvt", reply.strip(), gt, {"question": QUESTION})
    return (got["acc_score"], got["format_reward_score"]), server.requests[start:]


def _ours(server, reply, gt, recipe):
    from longvt_plugins.lmms_eval.upstream_scoring import score_upstream

    start = len(server.requests)
    acc, fmt, *_ = score_upstream(
        reply, ground_truth=gt, question=QUESTION, recipe=recipe, judge_on=True, fallback="stop"
    )
    return (acc, fmt), server.requests[start:]


def test_corpus_is_large_and_varied():
    items = corpus()
    assert len(items) >= 200
    assert {gt for _, gt in items} == set(GROUND_TRUTHS)


def test_lmms_eval_scorer_and_ours_agree_reply_by_reply(reference, judge_server, our_judge):
    judged = 0
    for reply, gt in corpus():
        want, their_requests = _theirs(reference, judge_server, reply, gt)
        got, our_requests = _ours(judge_server, reply, gt, "lmms_eval_0.7.3")
        assert got == want, (reply, gt)
        assert our_requests == their_requests, (reply, gt)  # same prompt, max_tokens 5, no temperature
        judged += len(our_requests)
    assert judged >= 100  # the judge, and its second call on short unformatted replies, were exercised
    body = judge_server.requests[-1]
    assert set(body) == facts.JUDGE_REQUEST_KEYS and body["max_tokens"] == facts.JUDGE_MAX_TOKENS


def _recipes_differ(reply: str, gt: str) -> bool:
    """Where LongVT's lmms_lab_recipe.py and lmms-eval's reasoning_utils.py may score differently (facts):
    lmms-eval also takes <analysis> for <think>, and reads a letter out of any ground truth."""
    g = gt.strip()
    g = g[:-1] if g.endswith(".") else g
    return "<analysis>" in reply or (g not in ours.LETTERS and ours.pick_letter(g) != "")


def test_longvt_recipe_matches_everywhere_the_facts_say_it_should(reference, judge_server, our_judge):
    differ = 0
    for reply, gt in corpus():
        want, _ = _theirs(reference, judge_server, reply, gt)
        got, _ = _ours(judge_server, reply, gt, "longvt")
        if _recipes_differ(reply, gt):
            differ += got != want
        else:
            assert got == want, (reply, gt)
    assert differ > 0  # the two copies really do differ on this corpus


def test_upstream_protocol_scores_with_longvts_recipe():
    assert UPSTREAM.scoring.recipe == "longvt"
    assert ours.SECOND_JUDGE_MAX_CHARS == facts.SECOND_JUDGE_MAX_CHARS


def test_judge_prompt_texts_are_upstreams():
    from longvt_plugins.core.prompts import load_prompt

    with_q = load_prompt("upstream_judge_with_question") + "\n"
    assert hashlib.sha256(with_q.encode()).hexdigest() == facts.JUDGE_PROMPT_WITH_QUESTION_SHA256
    plain = load_prompt("upstream_judge")
    assert hashlib.sha256(plain.encode()).hexdigest() == facts.JUDGE_PROMPT_SHA256


def test_first_answer_of_the_whole_response_wins():
    response = "<think>a</think><answer>B</answer><tool_call>x</tool_call><answer>C</answer>"
    assert ours.extract(response) == "B"
    assert ours.score_response(response, "B", question=None, judge=None).acc == 1.0
