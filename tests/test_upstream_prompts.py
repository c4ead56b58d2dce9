"""The question text `--protocol upstream` sends, through our task folders and our model's reading of them, against
what upstream's own task code sends (issue 25: non-think prompts, VideoMMMU pre-prompts, judge question, stripping).

Non-think rows of VideoMME / LVBench / VideoMMMU: upstream ran lmms-eval's built-in tasks (`videomme_w_subtitle`,
`lvbench`, `video_mmmu`; VideoSIAH: `longvt_non_think`). Their `doc_to_text` is run here, with the kwargs of their
installed YAMLs, on the docs of tests/upstream_question_inputs.py, and must equal our whole text part byte for byte.
Tool and think rows: LongVT's own tasks, whose outputs on the same docs are recorded (SHA-256) in
tests/upstream_facts.py. The judge's question: what upstream's scorer was handed, through our `process_results`.
Under `longvt-plugins` nothing of this reaches the model: its text is our own question and instruction.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import upstream_facts as facts
import yaml
from upstream_question_inputs import (
    LVBENCH_DOCS,
    SIAH_DOCS,
    VIDEOMME_DOCS,
    VIDEOMMMU_DOCS,
    builtin_non_think,
    builtin_tasks,
    cases,
)

from longvt_plugins.core.protocols import LONGVT_PLUGINS, UPSTREAM, messages
from longvt_plugins.lmms_eval import results
from longvt_plugins.lmms_eval.datacheck import benchmark_module
from longvt_plugins.lmms_eval.model import LongVTAgent

TASKS = Path(__file__).resolve().parents[1] / "eval_tasks"
FOLDER = {
    "videomme": "longvtp_videomme",
    "lvbench": "longvtp_lvbench",
    "videommmu": "longvtp_videommmu",
    "videosiah": "longvtp_videosiah",
}


def _task_yaml(bench: str, subset: str | None, style: str) -> Path:
    folder = TASKS / FOLDER[bench]
    if bench == "videomme":
        return folder / f"longvtp_videomme_sub_{style}.yaml"
    if bench == "videommmu":
        return folder / f"longvtp_videommmu_{subset}_{style}.yaml"
    return folder / f"{FOLDER[bench]}_{style}.yaml"


def _task_kwargs(bench: str, subset: str | None, style: str) -> dict:
    text = _task_yaml(bench, subset, style).read_text()
    safe = "\n".join(line for line in text.splitlines() if "!function" not in line)
    return dict(yaml.safe_load(safe)["lmms_eval_specific_kwargs"]["default"])


@pytest.fixture(scope="module")
def video_root(tmp_path_factory):
    """Placeholder videos where our tasks look (the docs need none decoded: VideoMME's have no subtitles)."""
    root = tmp_path_factory.mktemp("videos")
    paths = [root / "videomme" / "data" / "nosub.mp4", root / "lvbench" / "v1.mp4"]
    paths.append(root / "longvt_benchmark" / "v1.mp4")
    mmmu = benchmark_module("longvtp_videommmu")
    paths += [root / "video_mmmu" / mmmu._video(doc) for doc in VIDEOMMMU_DOCS.values()]
    for path in paths:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()
    return root


@pytest.fixture
def tasks(video_root, monkeypatch):
    monkeypatch.setenv("LONGVT_EVAL_VIDEO_ROOT", str(video_root))


def sent_text(protocol, bench: str, subset: str | None, doc: dict, style: str) -> str:
    """The text part our model sends: the task's messages, read as the model reads them, with the protocol's
    instruction joined on (everything between the frames and the path line)."""
    kwargs = _task_kwargs(bench, subset, style)
    bench_utils = benchmark_module(FOLDER[bench])
    chat = bench_utils.BENCH.doc_to_messages(dict(doc), kwargs)
    _, question, mcq = LongVTAgent._read_messages(chat, protocol.question_framing)
    return messages.user_text(protocol, style, question, benchmark=bench, multiple_choice=mcq)


ALL = list(cases())


@pytest.mark.parametrize(("bench", "subset", "name", "doc"), ALL, ids=[f"{b}-{s}-{n}" for b, s, n, _ in ALL])
def test_non_think_text_is_the_builtin_tasks_doc_to_text(tasks, bench, subset, name, doc):
    with builtin_tasks() as (mods, kwargs):
        want = builtin_non_think(mods, kwargs, bench, doc, subset)
    assert sent_text(UPSTREAM, bench, subset, doc, "non_think") == want


@pytest.mark.parametrize("style", ["tool", "think"])
@pytest.mark.parametrize(
    ("bench", "subset", "name", "doc"),
    [c for c in ALL if c[0] != "videosiah"],
    ids=[f"{b}-{s}-{n}" for b, s, n, _ in ALL if b != "videosiah"],
)
def test_tool_and_think_text_is_longvts(tasks, bench, subset, name, doc, style):
    key = "/".join(p for p in (bench, subset, name) if p)
    got = sent_text(UPSTREAM, bench, subset, doc, style)
    assert hashlib.sha256(got.encode()).hexdigest() == facts.LONGVT_QUESTION_SHA256[key][style], got


def test_videosiah_text_is_lmms_evals_longvt_task(tasks):
    with builtin_tasks() as (mods, kwargs):
        for doc in SIAH_DOCS.values():
            tool = mods["longvt"].longvt_tool_doc_to_messages(dict(doc), dict(kwargs["longvt_tool"]))
            think = mods["longvt"].longvt_doc_to_messages(dict(doc), dict(kwargs["longvt_tool"]))
            assert sent_text(UPSTREAM, "videosiah", None, doc, "tool") == tool[0]["content"][1]["text"]
            assert sent_text(UPSTREAM, "videosiah", None, doc, "think") == think[1]["content"][1]["text"]


def test_whitespace_is_kept_where_upstream_kept_it(tasks):
    """LongVT's doc_to_messages strip; lmms-eval's automatic messages (VideoMME's tool task, every non-think row)
    do not. Our protocol strips always."""
    doc = VIDEOMME_DOCS["edges"]
    assert sent_text(UPSTREAM, "videomme", None, doc, "tool").endswith("D. a fish ")
    assert sent_text(UPSTREAM, "videomme", None, doc, "think").endswith("D. a fish")
    lv = LVBENCH_DOCS["inline_edges"]
    assert sent_text(UPSTREAM, "lvbench", None, lv, "think") == lv["question"].strip()
    siah = SIAH_DOCS["edges"]
    assert sent_text(UPSTREAM, "videosiah", None, siah, "non_think").startswith(siah["question"] + " ")
    assert not sent_text(LONGVT_PLUGINS, "videosiah", None, siah, "non_think").startswith(" ")


def test_videommmu_wording_and_quiz_note_placement(tasks):
    mcq = VIDEOMMMU_DOCS["mcq_lettered"]
    adaptation = sent_text(UPSTREAM, "videommmu", "adaptation", mcq, "think")
    assert adaptation.startswith(facts.VIDEOMMMU_ADAPTATION_MCQ_PRE + mcq["question"] + "\n")
    perception = sent_text(UPSTREAM, "videommmu", "perception", mcq, "think")
    assert perception == mcq["question"] + "\n" + "\n".join(mcq["options"]) + facts.VIDEOMMMU_QUIZ_NOTE


@pytest.mark.parametrize("style", ["non_think", "think", "tool"])
def test_longvt_plugins_keeps_its_own_text(tasks, style):
    for bench, subset, _, doc in ALL:
        chat = benchmark_module(FOLDER[bench]).BENCH.doc_to_messages(
            dict(doc), _task_kwargs(bench, subset, style)
        )
        part = next(p for p in chat[-1]["content"] if p.get("longvt_role") == "question")
        assert "upstream" in part["longvt_framings"]  # offered, and not taken
        want = messages.user_text(
            LONGVT_PLUGINS, style, part["text"].strip(), benchmark=bench, multiple_choice=part["longvt_mcq"]
        )
        assert sent_text(LONGVT_PLUGINS, bench, subset, doc, style) == want
        assert "The best answer is:" not in want and "multi-choice" not in want


def _judged_question(monkeypatch, process, doc, protocol: str) -> str | None:
    seen = {}

    def score(response, **kw):
        seen["question"] = kw["question"]
        return _null_score()

    monkeypatch.setattr(results, "score_response", score)
    monkeypatch.setenv("LONGVT_PROTOCOL", protocol)
    process(dict(doc), ["<answer>A</answer>"])
    return seen.get("question")  # None: no judge chain asked (a built-in task's own scorer decided)


def _null_score():
    from longvt_plugins.lmms_eval.scoring import Score

    return Score(0.0, 0.0, False, "stub", None, "")


@pytest.mark.parametrize("style", ["tool", "think", "non_think"])
def test_the_judge_gets_upstreams_question(tasks, monkeypatch, style):
    """What reaches the scorer as the question, through each task's own process_results (as its YAML names it)."""
    for bench, subset, name, doc in ALL:
        key = "/".join(p for p in (bench, subset, name) if p)
        module = benchmark_module(FOLDER[bench])
        text = _task_yaml(bench, subset, style).read_text()
        function = next(line.split("utils.")[1] for line in text.splitlines() if "process_results" in line)
        process = getattr(module, function.strip())
        got = _judged_question(monkeypatch, process, doc, "upstream")
        if style == "non_think" and bench != "videosiah":
            # upstream's built-in tasks scored these rows: no judge, no question (test_upstream_non_think_scoring)
            assert got is None, key
        elif bench == "videosiah":
            assert got == doc["question"], key
        else:
            assert hashlib.sha256(got.encode()).hexdigest() == facts.LONGVT_QUESTION_SHA256[key]["judge"], key
        assert _judged_question(monkeypatch, process, doc, "longvt-plugins") == module.BENCH.question(
            dict(doc)
        )
