"""VideoSIAH-Eval: open-ended questions about one segment of a long video (fields: video_path, question, answer)."""

from longvt_plugins.core.protocols import upstream_questions
from longvt_plugins.lmms_eval.breakdown import agreement, count  # noqa: F401  (aggregations)
from longvt_plugins.lmms_eval.results import protocol_card  # noqa: F401  (the `protocol` metric's aggregation)
from longvt_plugins.lmms_eval.tasklib import Benchmark, as_str, style_of


def _framings(doc, kwargs):
    # lmms-eval's `longvt` tasks: the row's question, stripped by the tool and think tasks only.
    return {"upstream": upstream_questions.videosiah(style_of(kwargs), str(doc["question"]))}


def _judge_questions(doc, kwargs):
    return {"upstream": upstream_questions.videosiah_judge(str(doc["question"]))}


BENCH = Benchmark(
    "longvt_benchmark",  # = dataset_kwargs.cache_dir in _default_template_yaml
    video=lambda doc: doc["video_path"],
    question=lambda doc, kwargs: as_str(doc["question"]),
    target=lambda doc: doc["answer"],
    framings=_framings,
    judge_questions=_judge_questions,
)

doc_to_visual = BENCH.doc_to_visual
doc_to_text = BENCH.doc_to_text
doc_to_messages = BENCH.doc_to_messages
doc_to_target = BENCH.doc_to_target
process_non_think = BENCH.process_non_think
process_think = BENCH.process_think
process_tool = BENCH.process_tool
