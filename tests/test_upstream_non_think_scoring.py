"""Non-think rows of VideoMME / LVBench / VideoMMMU under `upstream`: scored as lmms-eval 0.7.3's built-in tasks
score them (issue 25). Upstream ran those rows with the built-in tasks, so their own `process_results` decided.

The corpus (tests/upstream_non_think_inputs.py: >= 200 replies per doc - bare letters, "(B)", "Answer: C", option
texts, lower case, junk, empty, several letters, numbers for VideoMMMU's open row) is scored on the same docs by the
installed built-in task's `process_results` and by our task folder's `process_results` (the one its non-think YAML
names) under `upstream`, judge off: every per-item score must be equal. Think and tool rows keep LongVT's recipe;
`longvt-plugins` keeps its own chain.
"""

from __future__ import annotations

import pytest
from upstream_non_think_inputs import (
    VIDEOMME_DOCS,
    builtin_acc,
    cases,
    replies,
    scored,
    upstream_judge_off,
)
from upstream_question_inputs import builtin_tasks

from longvt_plugins.core.protocols import LONGVT_PLUGINS, UPSTREAM
from longvt_plugins.core.protocols import upstream_scoring as recipe
from longvt_plugins.lmms_eval.datacheck import benchmark_module


@pytest.fixture(scope="module")
def rows():
    return scored()


def test_corpus_is_large_and_mixed(rows):
    for _, _, _, doc in cases():
        assert len(replies(doc)) >= 200
    accs = [want for *_, want, _ in rows]
    assert accs.count(1.0) > 100 and accs.count(0.0) > 100  # both outcomes, on every benchmark
    assert {bench for bench, *_, want, _ in rows if want == 1.0} == {"videomme", "lvbench", "videommmu"}


def test_non_think_scores_equal_the_builtin_tasks(rows):
    diffs = [f"{y} {n} {r!r}: built-in {w}, ours {g}" for _, y, n, r, w, g in rows if w != g]
    assert diffs == [], f"{len(diffs)} of {len(rows)} differ:\n" + "\n".join(diffs[:20])


def test_the_corpus_tells_the_two_scorers_apart(rows):
    """LongVT's tool/think recipe (judge off) scores many of these replies otherwise, so the equality above could
    fail: a scorer swapped back would be seen (also the mutation test in tests/test_upstream_facts.py)."""
    apart = [
        (r, w)
        for bench, yaml_name, name, r, w, _ in rows
        if recipe.score_response(
            r.strip(), _answer(bench, name), question="Q", judge=None, recipe="longvt"
        ).acc
        != w
    ]
    assert len(apart) > 100
    assert ("B", 1.0) in apart and ("(B)", 1.0) in apart


def _answer(bench, name):
    return next(doc for b, _, n, doc in cases() if (b, n) == (bench, name))["answer"]


@pytest.mark.parametrize("style", ["think", "tool"])
def test_think_and_tool_rows_keep_longvts_recipe(style):
    """Under `upstream` the other styles are scored as before: LongVT's recipe over the whole response."""
    with upstream_judge_off():
        for _, yaml_name, _, doc in cases():
            folder = yaml_name.split("/")[0]
            utils = benchmark_module(folder)
            process = getattr(utils, "process_" + style)
            for reply in replies(doc)[::7]:
                want = recipe.score_response(
                    reply.strip(), doc["answer"], question="Q", judge=None, recipe="longvt"
                )
                out = process(dict(doc), [reply])
                assert out["acc"] == want.acc and out["format"] == want.format, (yaml_name, reply)
                assert out["longvt"]["scoring"]["method"] != "builtin_task"


def test_longvt_plugins_non_think_keeps_its_own_chain(monkeypatch):
    from longvt_plugins.lmms_eval.scoring import score_response

    monkeypatch.setenv("LONGVT_PROTOCOL", "longvt-plugins")
    monkeypatch.delenv("LONGVT_JUDGE_BASE_URL", raising=False)
    monkeypatch.delenv("LLM_AS_A_JUDGE_BASE", raising=False)
    utils = benchmark_module("longvtp_videomme")
    doc = VIDEOMME_DOCS["b"]
    for reply in replies(doc):
        out = utils.process_non_think(dict(doc), [reply])
        want = score_response(
            reply, style="non_think", question="", ground_truth="B", options="ABCD", protocol=LONGVT_PLUGINS
        )
        assert (out["acc"], out["format"]) == (want.acc, want.format), reply
        assert out["longvt"]["scoring"]["method"] != "builtin_task"


def test_videommmu_aggregate_is_the_mean_of_the_per_item_scores(rows):
    """The built-in aggregation (per subject, weighted) over the corpus equals the mean of our per-item acc, but for
    one rule of its aggregation: an open row whose reply is empty (or "API Error") is left out of its denominator;
    ours counts it 0 (docs/protocols.md)."""
    with builtin_tasks() as (mods, _):
        mmmu = mods["videommmu"]
        records, ours = [], []
        for bench, yaml_name, name, doc in cases():
            if bench != "videommmu" or "adaptation" not in yaml_name:
                continue
            records += [mmmu.videommmu_process_results(dict(doc), [r])["mmmu_acc"] for r in replies(doc)]
            ours += [g for b, y, n, _, _, g in rows if y == yaml_name and n == name]
        left_out = [i for i, rec in enumerate(records) if rec["parsed_pred"] == "API Error"]
        assert len(left_out) == 2  # the open row's "" and "API Error"
        kept = [g for i, g in enumerate(ours) if i not in left_out]
        assert mmmu.videommmu_aggregate_results(records) == round(sum(kept) / len(kept), 5)
        assert mmmu.videommmu_aggregate_results(records) != round(sum(ours) / len(ours), 5)


def test_a_failed_request_stays_failed_not_a_letter():
    """The one place we do not follow the built-in task: lmms-eval's failure text parses as "D" there (counted
    correct where the answer is D); ours counts the sample as failed with acc 0 (docs/protocols.md)."""
    text = "[LMMS_EVAL_REQUEST_FAILED after 5 retries] timeout"
    doc = VIDEOMME_DOCS["d"]
    with builtin_tasks() as (mods, _), upstream_judge_off():
        assert builtin_acc(mods, "videomme", doc, text) == 1.0
        out = benchmark_module("longvtp_videomme").process_non_think(dict(doc), [text])
    assert (out["acc"], out["failed"]) == (0.0, 1.0)


def test_card_says_which_non_think_rows_the_builtin_tasks_score():
    assert tuple(UPSTREAM.card()["scoring"]["non_think_builtin"]) == ("videomme", "lvbench", "videommmu")
    assert "non_think_builtin" not in LONGVT_PLUGINS.card()["scoring"]  # its card id as before
