"""Miniature LongVT: rows of the miniature run's exported eval.jsonl (fields: video (absolute), question, answer)."""

from longvt_plugins.lmms_eval.breakdown import agreement, count  # noqa: F401  (aggregations)
from longvt_plugins.lmms_eval.results import protocol_card  # noqa: F401  (the `protocol` metric's aggregation)
from longvt_plugins.lmms_eval.tasklib import Benchmark, as_str

BENCH = Benchmark(
    "longvt_miniature",
    video=lambda doc: doc["video"],
    question=lambda doc, kwargs: as_str(doc["question"]),
    target=lambda doc: doc["answer"],
)

doc_to_visual = BENCH.doc_to_visual
doc_to_text = BENCH.doc_to_text
doc_to_messages = BENCH.doc_to_messages
doc_to_target = BENCH.doc_to_target
process_non_think = BENCH.process_non_think
process_tool = BENCH.process_tool
