"""LVBench: multiple-choice questions on hour-long videos (fields: video_path, question, answer, options?)."""

import re

from longvt_plugins.core.protocols import upstream_questions
from longvt_plugins.lmms_eval.breakdown import agreement, count  # noqa: F401  (aggregations)
from longvt_plugins.lmms_eval.results import protocol_card  # noqa: F401  (the `protocol` metric's aggregation)
from longvt_plugins.lmms_eval.tasklib import Benchmark, as_str, options_block, style_of

_INLINE_OPTION = re.compile(r"^\(([A-Z])\)", re.MULTILINE)


def _question(doc, kwargs):
    # The released annotations carry the options inside the question ("(A) ...\n(B) ..."); some copies add a
    # separate `options` list.
    question = as_str(doc["question"])
    options = doc.get("options")
    return f"{question}\n{options_block(options)}" if options else question


def _options(doc):
    if doc.get("options"):
        return "".join(chr(ord("A") + i) for i in range(len(doc["options"])))
    letters = _INLINE_OPTION.findall(as_str(doc["question"]))
    return "".join(letters) or "ABCD"


def _framings(doc, kwargs):
    # LongVT's LVBench tasks send the row's question (stripped): a separate `options` list is never shown; the
    # non-think row is lmms-eval's built-in `lvbench`, which lists it as "(A) ..." (core.protocols.upstream_questions).
    text = upstream_questions.lvbench(style_of(kwargs), str(doc["question"]), doc.get("options"))
    return {"upstream": text}


def _judge_questions(doc, kwargs):
    return {"upstream": upstream_questions.lvbench_judge(str(doc["question"]))}


BENCH = Benchmark(
    "lvbench",
    video=lambda doc: doc["video_path"],
    question=_question,
    target=lambda doc: doc["answer"],
    options=_options,
    framings=_framings,
    judge_questions=_judge_questions,
    benchmark="lvbench",  # under upstream, its non-think rows are scored by lmms-eval's built-in task
)

doc_to_visual = BENCH.doc_to_visual
doc_to_text = BENCH.doc_to_text
doc_to_messages = BENCH.doc_to_messages
doc_to_target = BENCH.doc_to_target
process_non_think = BENCH.process_non_think
process_think = BENCH.process_think
process_tool = BENCH.process_tool
