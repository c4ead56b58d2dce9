"""`upstream` against the recorded facts of LongVT's eval and the installed lmms-eval 0.7.3, plus the mutation check.

Token budgets per benchmark and style, the tool prompt's bytes (two spaces after "Format strictly as:"), the
think system prompt, every style's question text and the judge's question (LongVT's recorded outputs; lmms-eval's
built-in tasks run here for the non-think rows), and the rule part of the scorer (lmms-eval's own code, judge off)
are checked by functions that return the differences they find; the mutation test flips one byte (of every
question prompt too) / budget / rule / whitespace or placement rule and requires a difference to be found, so the
suite is shown to fail on exactly the changes it exists to catch.
"""

from __future__ import annotations

import ast
import dataclasses
import itertools
import re

import pytest
import upstream_facts as facts
from upstream_non_think_inputs import non_think_differences
from upstream_question_inputs import question_differences
from upstream_subtitle_inputs import subtitle_differences

from longvt_plugins.core.protocols import UPSTREAM, messages, upstream_questions
from longvt_plugins.core.protocols import upstream_scoring as ours


def _string_constants(path) -> dict[str, str]:
    """Module-level string constants of a Python file, read without running it."""
    out = {}
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant | ast.JoinedStr):
            if isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
                out[node.targets[0].id] = node.value.value
    return out


def test_installed_lmms_eval_is_the_one_the_facts_were_read_from():
    from importlib.metadata import version

    assert version("lmms-eval") == facts.LMMS_EVAL_VERSION
    for relative, sha in facts.LMMS_EVAL_FILES.items():
        assert facts.sha256_file(facts.lmms_eval_file(relative)) == sha, relative


def test_installed_longvt_task_carries_the_same_prompts_and_budget():
    import yaml

    consts = _string_constants(facts.lmms_eval_file("tasks/longvt/utils.py"))
    assert consts["TOOL_PROMPT"] == facts.TOOL_PROMPT
    text = facts.lmms_eval_file("tasks/longvt/longvt_tool.yaml").read_text()
    safe = "\n".join(line for line in text.splitlines() if "!function" not in line)
    assert (
        yaml.safe_load(safe)["generation_kwargs"]["max_new_tokens"]
        == facts.MAX_NEW_TOKENS["videosiah"]["tool"]
    )


# ------------------------------------------------------------------------------------------ checks
def budget_differences(protocol) -> list[str]:
    return [
        f"{bench}/{style}: {protocol.tokens.new_tokens(style, bench)} != {tokens}"
        for bench, per_style in facts.MAX_NEW_TOKENS.items()
        for style, tokens in per_style.items()
        if protocol.tokens.new_tokens(style, bench) != tokens
    ]


def prompt_differences(protocol) -> list[str]:
    out = []
    for bench in ("videosiah", "lvbench", "videommmu"):
        got = messages.user_text(protocol, "tool", "Q?", benchmark=bench)
        if got != "Q? " + facts.TOOL_PROMPT:
            out.append(f"tool prompt for {bench}: {got!r}")
    from longvt_plugins.core.prompts import load_prompt

    system = protocol.style("think").system
    if system is None or load_prompt(system).strip() != facts.THINK_SYSTEM_PROMPT:
        out.append("think system prompt")
    return out


RULE_CORPUS = list(
    itertools.product(
        [
            "B",
            "(B)",
            "The answer is B",
            "C is wrong, the answer is B",
            "b.",
            "triangle",
            "a triangle!",
            "42",
            "",
        ],
        [
            "<answer>{}</answer>",
            "<think>t</think><answer>{}</answer>",
            "{}",
            "\\boxed{{{}}}",
            "x = 1\n{}",
            "<answer>{}</answer> then <answer>A</answer>",
        ],
        ["B", "triangle", "42", "Bob"],
    )
)


def rule_differences(recipe: str = "lmms_eval_0.7.3") -> list[str]:
    """lmms-eval's scorer (judge off) against ours on the rule part: letters, relaxed match, math-verify, format."""
    from lmms_eval.tasks._task_utils import reasoning_utils

    out = []
    for reply, wrapper, gt in RULE_CORPUS:
        text = wrapper.format(reply)
        want = reasoning_utils.compute_score("longvt", text.strip(), gt, {"question": "Q"})
        got = ours.score_response(text.strip(), gt, question="Q", judge=None, recipe=recipe)
        if (got.acc, got.format) != (want["acc_score"], want["format_reward_score"]):
            out.append(f"{text!r} vs {gt!r}: ours {(got.acc, got.format)}, lmms-eval {want}")
    return out


def test_upstream_budgets_are_upstreams():
    assert budget_differences(UPSTREAM) == []


def test_non_think_budgets_are_the_installed_builtin_tasks():
    for bench, (relative, tokens) in facts.BUILTIN_NON_THINK.items():
        text = facts.lmms_eval_file("tasks/" + relative).read_text()
        assert re.search(rf"max_new_tokens: {tokens}\b", text), relative
        assert UPSTREAM.tokens.new_tokens("non_think", bench) == tokens


def test_upstream_prompts_are_upstreams():
    assert prompt_differences(UPSTREAM) == []


def test_upstream_question_texts_are_upstreams():
    """Every style's text part and the judge's question, against LongVT's recorded outputs and lmms-eval's own
    built-in task code (tests/upstream_question_inputs.py)."""
    assert question_differences() == []


def test_rule_part_of_the_scorer_equals_lmms_evals(monkeypatch):
    from lmms_eval.tasks._task_utils import reasoning_utils

    monkeypatch.setattr(reasoning_utils, "USE_LLM_JUDGE", "False")
    assert rule_differences() == []


# ------------------------------------------------------------------------------------------ mutation check
def _flip_prompt_byte(monkeypatch):
    real = messages.load_prompt

    def load(name):
        text = real(name)
        return text.replace("as:  <think>", "as: <think>") if name == "upstream_tool" else text

    monkeypatch.setattr(messages, "load_prompt", load)
    return lambda: prompt_differences(UPSTREAM)


def _flip_budget(monkeypatch):
    tokens = dataclasses.replace(UPSTREAM.tokens, per_benchmark=())
    return lambda: budget_differences(dataclasses.replace(UPSTREAM, tokens=tokens))


def _flip_relax(monkeypatch):
    monkeypatch.setattr(ours, "RELAX", 0.5)
    return rule_differences


def _flip_letter_rank(monkeypatch):
    monkeypatch.setitem(ours._RANK, "phrase", 11)
    return rule_differences


def _flip_answer_choice(monkeypatch):
    monkeypatch.setattr(ours, "_ANSWER", re.compile(r".*<answer>(.*?)</answer>", re.DOTALL))
    return rule_differences


def _flip_subtitle_order(monkeypatch):
    from longvt_plugins.core.protocols import subtitles

    monkeypatch.setattr(subtitles, "set", lambda picked: sorted(dict.fromkeys(picked)), raising=False)
    return subtitle_differences


def _flip_question_prompt(name):
    def flip(monkeypatch):
        real = upstream_questions.load_prompt

        def load(prompt):
            text = real(prompt)
            return text[:-1] + chr(ord(text[-1]) ^ 1) if prompt == name else text

        monkeypatch.setattr(upstream_questions, "load_prompt", load)
        return question_differences

    return flip


def _with_styles(**changes):
    """UPSTREAM with every style's StylePrompt changed as given."""
    prompts = tuple((style, dataclasses.replace(sp, **changes)) for style, sp in UPSTREAM.prompts)
    return dataclasses.replace(UPSTREAM, prompts=prompts)


def _flip_strip(monkeypatch):
    return lambda: question_differences(_with_styles(strip_question=True))


def _flip_non_think_instruction(monkeypatch):
    return lambda: question_differences(_with_styles(per_benchmark=()))


def _flip_quiz_placement(monkeypatch):
    real = upstream_questions.videommmu_text

    def moved(subset, question, options, question_type):
        text = real(subset, question, options, question_type)
        if subset == "adaptation":
            return text
        note = "\n" + upstream_questions.load_prompt(upstream_questions.VIDEOMMMU_QUIZ)
        return f"{question}{note}\n{upstream_questions.videommmu_options(list(options or []))}"

    monkeypatch.setattr(upstream_questions, "videommmu_text", moved)
    return question_differences


def _flip_judge_question(monkeypatch):
    from longvt_plugins.core.protocols import subtitles

    monkeypatch.setattr(
        upstream_questions,
        "videomme_judge",
        lambda q, options: upstream_questions.videomme("tool", subtitles.NO_SUBTITLES, q, options),
    )
    return question_differences


def _flip_non_think_scorer(monkeypatch):
    """Non-think rows of the multiple-choice benchmarks scored by LongVT's tool/think recipe again."""
    from longvt_plugins.lmms_eval import results

    scoring = dataclasses.replace(UPSTREAM.scoring, non_think_builtin=())
    monkeypatch.setattr(results, "protocol_of", lambda record: dataclasses.replace(UPSTREAM, scoring=scoring))
    return non_think_differences


MUTATIONS = {
    **{f"question prompt byte: {name}": _flip_question_prompt(name) for name in upstream_questions.PROMPTS},
    "question stripped again under upstream": _flip_strip,
    "non-think: an instruction after the built-in prompt": _flip_non_think_instruction,
    "VideoMMMU quiz note before the options": _flip_quiz_placement,
    "VideoMME judge question with subtitles": _flip_judge_question,
    "subtitles in time order instead of set order": _flip_subtitle_order,
    "tool prompt: one space less": _flip_prompt_byte,
    "LVBench/VideoSIAH tool budget back to 49,152": _flip_budget,
    "relaxed-match threshold": _flip_relax,
    "letter parser rank": _flip_letter_rank,
    "last <answer> instead of first": _flip_answer_choice,
    "non-think rows scored by the tool/think recipe": _flip_non_think_scorer,
}


@pytest.mark.parametrize("name", sorted(MUTATIONS))
def test_each_mutation_is_caught(name, monkeypatch):
    from lmms_eval.tasks._task_utils import reasoning_utils

    monkeypatch.setattr(reasoning_utils, "USE_LLM_JUDGE", "False")
    check = MUTATIONS[name](monkeypatch)
    assert check(), f"the suite does not notice: {name}"
