"""Non-think rows under `upstream`, scored by lmms-eval's built-in tasks' own `process_results`.

Upstream ran the non-think rows of VideoMME (with subtitles), LVBench and VideoMMMU with lmms-eval's built-in
tasks (`videomme_w_subtitle`, `lvbench`, `video_mmmu_*`), so those tasks' own `process_results` scored them: the
first option letter their parser finds (`extract_mcq_answer`), VideoMMMU's MMMU parsers (open rows: numbers and
normalised strings); no judge, no format. Nothing of that is re-implemented here: the installed package's functions
are called on the doc and the response exactly as lmms-eval hands them to the built-in task (the reasoning-tag
stripping before `process_results` is lmms-eval's own and the same for our task: neither sets `reasoning_tags`).

Per item: VideoMME `videomme_perception_score.score`; LVBench `lvbench_score`; VideoMMMU
`evaluate_videommmu([its mmmu_acc record])` - the per-item form of its aggregation (whose overall accuracy is the
mean of these over the items).
"""

from __future__ import annotations

import importlib
import os
import threading
from typing import Any

BENCHMARKS = ("videomme", "lvbench", "videommmu")

# VideoMME's process_results copies these into its record (breakdowns); they do not change the score. A local copy
# of the dataset without them is still scored (None) instead of stopping the run with a KeyError.
_VIDEOMME_RECORD_ONLY = ("question_id", "duration", "domain", "sub_category", "task_type", "videoID")

_lock = threading.Lock()


def task_utils(benchmark: str):
    """lmms-eval's built-in task module of a benchmark (`lmms_eval.tasks.<name>.utils`).

    `videommmu/utils.py` reads `os.environ["HF_HOME"]` at import (only for its video paths, which are not used
    here): where HF_HOME is unset, it is set to huggingface's default for the import and removed again.
    """
    if benchmark not in BENCHMARKS:
        raise ValueError(f"no built-in non-think scorer for {benchmark!r} (have {BENCHMARKS})")
    name = f"lmms_eval.tasks.{benchmark}.utils"
    with _lock:
        unset = "HF_HOME" not in os.environ
        if unset:
            os.environ["HF_HOME"] = os.path.expanduser("~/.cache/huggingface")
        try:
            return importlib.import_module(name)
        finally:
            if unset:
                os.environ.pop("HF_HOME", None)


def score(benchmark: str, doc: dict, response: str) -> tuple[float, Any]:
    """(acc, the built-in task's parsed prediction) of one non-think response."""
    utils = task_utils(benchmark)
    results = [response]
    if benchmark == "videomme":
        full = {key: None for key in _VIDEOMME_RECORD_ONLY}
        full.update(doc)
        record = utils.videomme_process_results(full, results)["videomme_perception_score"]
        return float(record["score"]), record["pred_answer"]
    if benchmark == "lvbench":
        out = utils.lvbench_process_results(dict(doc), results)
        return float(out["lvbench_score"]), utils.extract_characters_regex(response)
    record = utils.videommmu_process_results(dict(doc), results)["mmmu_acc"]
    _, metrics = utils.evaluate_videommmu([record])
    return float(metrics["acc"]), record["parsed_pred"]
