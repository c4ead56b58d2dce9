"""Scripted policies on v2 sets, scored like a trained model: the oracle teacher, and the two baselines that show
the question and the crop are both needed (docs/miniature.md, "Task family v2").

Each policy is an OpenAI-protocol handler behind `OpenAIStubServer`; `run_agent` drives it (real skim, real
crop_video calls on the real files) and `miniature.evaluate.evaluate` scores it with the v2 hooks.

    python -m longvt_plugins.miniature.v2 sets --work runs/v2 --items 80
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from longvt_plugins.miniature.v2 import scoring
from longvt_plugins.miniature.v2.splits import HELD_OUT_SETS, NONE_ANSWER, make_split, plan_item
from longvt_plugins.miniature.v2.teacher import OracleTeacherV2, QuestionBlind, SkimOnly


def majority_answer(split: str = "train", items: int = 2000) -> str:
    """The most frequent real answer among a split's first questions (planned, not rendered): the best guess a
    policy that never crops can make."""
    answers = Counter(plan_item(split, i, "/nonexistent")[1].answer for i in range(items))
    answers.pop(NONE_ANSWER, None)
    return answers.most_common(1)[0][0]


def policies() -> dict:
    return {
        "oracle": OracleTeacherV2(),
        "question_blind": QuestionBlind(),
        "skim_only": SkimOnly(majority_answer()),
    }


def score(handler, items) -> dict:
    """{"summary", "rows"} of a policy on items, through the agent loop and the v2 scoring."""
    from longvt_plugins.core.backends import OpenAIBackend
    from longvt_plugins.miniature.evaluate import evaluate
    from longvt_plugins.testing.openai_server import OpenAIStubServer

    with OpenAIStubServer(handler, model="policy") as server:
        backend = OpenAIBackend(server.base_url, "policy", max_retries=0)
        return evaluate(None, items, backend=backend, **scoring.hooks())


def measure_sets(work: str | Path, *, items: int = 80, sets=HELD_OUT_SETS, which=None) -> dict:
    """Generate (or reuse) `items` questions per held-out set under `work/videos` and score each policy on each:
    {set: {policy: summary}}."""
    out: dict = {}
    chosen = {k: v for k, v in policies().items() if which is None or k in which}
    for name in sets:
        questions = make_split(Path(work) / "videos", name, items)
        out[name] = {p: score(h, questions)["summary"] for p, h in chosen.items()}
    return out
