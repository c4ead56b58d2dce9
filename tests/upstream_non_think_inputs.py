"""Non-think replies and docs for the scoring differential of `upstream`'s multiple-choice non-think rows.

Upstream scored these rows with lmms-eval 0.7.3's built-in tasks (`videomme_w_subtitle`, `lvbench`, `video_mmmu_*`):
their own `process_results`. `non_think_differences()` scores every reply of the corpus on every doc twice - by the
built-in task's `process_results` (imported from the installed package, run here) and by our task folder's
`process_results` (the function its non-think YAML names) under `upstream`, judge off - and returns the items whose
scores differ. Shared by tests/test_upstream_non_think_scoring.py and the mutation check in
tests/test_upstream_facts.py.
"""

from __future__ import annotations

import contextlib
import os
import re
from pathlib import Path

from upstream_question_inputs import LVBENCH_DOCS, VIDEOMMMU_DOCS, VIDEOMMMU_SUBSETS, builtin_tasks

TASKS = Path(__file__).resolve().parents[1] / "eval_tasks"

# What lmms-eval's VideoMME record copies (breakdowns), as the released rows carry it.
_VIDEOMME_META = {
    "duration": "short",
    "domain": "Knowledge",
    "sub_category": "Humanity & History",
    "task_type": "Counting Problem",
}
VIDEOMME_DOCS = {
    "b": {
        **_VIDEOMME_META,
        "videoID": "nosub",
        "question_id": "001-1",
        "question": "What is shown first?",
        "options": ["A. a cat", "B. a dog", "C. a bird", "D. a fish"],
        "answer": "B",
    },
    "d": {
        **_VIDEOMME_META,
        "videoID": "nosub",
        "question_id": "001-2",
        "question": "How many people speak?",
        "options": ["A. 1", "B. 2", "C. 3", "D. none"],
        "answer": "D",
    },
}

# Replies by template: {L} a letter, {l} it in lower case, {M} another letter, {T} the option text of {L}.
TEMPLATES = (
    "{L}",
    "({L})",
    "{L}.",
    "{L})",
    "{L}:",
    "{l}",
    "({l})",
    "{l}.",
    "Answer: {L}",
    "answer: {l}",
    "The answer is {L}",
    "The answer is ({L}).",
    "The best answer is {L}.",
    "I choose {L}",
    "Option {L}",
    "option {l}",
    "**{L}**",
    "{L}. {T}",
    "({L}) {T}",
    "{T}",
    "{T}.",
    "<answer>{L}</answer>",
    "<think>hmm</think>{L}",
    "{L}\n",
    "  {L}  ",
    "{L} is correct",
    "Not {M}, it is {L}",
    "{L}, {M}",
    "{L} or {M}",
    "{M} and {L}",
    "{L}{M}",
    "Final answer: {L}.",
    "答案是{L}",
    "{L}!!!",
    "{M}. {T}",
    "Answer: ({L})",
    "{L} - {T}",
    "My answer is {l}",
)
LETTERS = "ABCDE"  # E is outside every doc's options
FIXED = (
    "",
    " ",
    "\n",
    "???",
    "no idea",
    "None of the above",
    "ABCD",
    "A B C D",
    "12",
    "12.0",
    "twelve",
    "The tax is 12 dollars.",
    "1,000",
    "3.5e2",
    "x = 12",
    "-12",
    "0",
    "I cannot tell from the video.",
    "API Error",
    "The video shows a dog. So the answer is B, not C.",
    "Therefore, C.",
    "a) the first one",
    "<answer>12</answer>",
    "\\boxed{12}",
)


def _option_texts(doc: dict) -> dict[str, str]:
    options = doc.get("options")
    if options:
        return {chr(ord("A") + i): re.sub(r"^[A-Z]\.\s*", "", str(o)).strip() for i, o in enumerate(options)}
    return dict(re.findall(r"^\(([A-Z])\)\s*(.*)$", str(doc["question"]), re.MULTILINE))


def replies(doc: dict) -> list[str]:
    """The corpus on one doc (the option texts are that doc's): 38 templates x 5 letters, and 24 fixed replies."""
    texts = _option_texts(doc)
    out = []
    for template in TEMPLATES:
        for i, letter in enumerate(LETTERS):
            other = LETTERS[(i + 1) % 4]
            out.append(
                template.format(L=letter, l=letter.lower(), M=other, T=texts.get(letter, "something else"))
            )
    out += FIXED
    return list(dict.fromkeys(out))


def _our_processor(utils, yaml_name: str):
    """Our task's process_results: the function the non-think YAML names."""
    text = (TASKS / yaml_name).read_text()
    name = re.search(r"^process_results: !function utils\.(\w+)$", text, re.MULTILINE).group(1)
    return getattr(utils, name)


def cases():
    """(benchmark, our task's non-think YAML, doc name, doc)."""
    for name, doc in VIDEOMME_DOCS.items():
        yield "videomme", "longvtp_videomme/longvtp_videomme_sub_non_think.yaml", name, doc
    for name, doc in LVBENCH_DOCS.items():
        yield "lvbench", "longvtp_lvbench/longvtp_lvbench_non_think.yaml", name, doc
    for name, doc in VIDEOMMMU_DOCS.items():
        for subset in VIDEOMMMU_SUBSETS:
            yield "videommmu", f"longvtp_videommmu/longvtp_videommmu_{subset}_non_think.yaml", name, doc


def builtin_acc(mods, bench: str, doc: dict, reply: str) -> float:
    """The built-in task's own per-item score (VideoMMMU: its evaluation of that one record)."""
    if bench == "videomme":
        return float(
            mods["videomme"].videomme_process_results(dict(doc), [reply])["videomme_perception_score"][
                "score"
            ]
        )
    if bench == "lvbench":
        return float(mods["lvbench"].lvbench_process_results(dict(doc), [reply])["lvbench_score"])
    record = mods["videommmu"].videommmu_process_results(dict(doc), [reply])["mmmu_acc"]
    return float(mods["videommmu"].evaluate_videommmu([record])[1]["acc"])


@contextlib.contextmanager
def upstream_judge_off():
    """`upstream` from the environment (no sample record names it), no judge configured."""
    keys = ("LONGVT_PROTOCOL", "LONGVT_JUDGE_BASE_URL", "LLM_AS_A_JUDGE_BASE", "LONGVT_JUDGE_FALLBACK")
    saved = {k: os.environ.get(k) for k in keys}
    for k in keys:
        os.environ.pop(k, None)
    os.environ["LONGVT_PROTOCOL"] = "upstream"
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def scored(style: str = "non_think"):
    """Every (benchmark, yaml, doc name, reply, built-in acc, our acc) of the corpus; `style` picks our processor
    (non_think: the YAML's; think / tool: that style's, for the unchanged-chain check)."""
    from longvt_plugins.lmms_eval.datacheck import benchmark_module

    out = []
    with builtin_tasks() as (mods, _), upstream_judge_off():
        for bench, yaml_name, name, doc in cases():
            utils = benchmark_module(yaml_name.split("/")[0])
            ours = _our_processor(utils, yaml_name.replace("non_think", style))
            for reply in replies(doc):
                want = builtin_acc(mods, bench, doc, reply)
                got = ours(dict(doc), [reply])["acc"]
                out.append((bench, yaml_name, name, reply, want, got))
    return out


def non_think_differences() -> list[str]:
    return [
        f"{yaml_name} {name} {reply!r}: built-in {want}, ours {got}"
        for _, yaml_name, name, reply, want, got in scored()
        if want != got
    ]
