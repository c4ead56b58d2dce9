"""Docs whose question text upstream's own task code was run on (outputs: tests/upstream_facts.py, or live).

The docs carry what makes prompts differ: whitespace at a question's or option's edge (LongVT's doc_to_messages
strip the text, lmms-eval's automatic messages do not), options with and without their letters, an LVBench row with
its options inline and one with a separate list, VideoMMMU multiple-choice and open rows. Shared by
tests/test_upstream_prompts.py (through the task folders) and the mutation check in tests/test_upstream_facts.py.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from pathlib import Path

import upstream_facts as facts

VIDEOMME_DOCS = {
    # videoID "nosub": no subtitle file, so no video is read (upstream: "No subtitles available").
    "edges": {
        "videoID": "nosub",
        "question": " What is shown first? ",
        "options": ["A. a cat", "B. a dog", "C. a bird", "D. a fish "],
        "answer": "B",
    },
    "plain": {
        "videoID": "nosub",
        "question": "Q?",
        "options": ["A. x", "B. y", "C. z", "D. w"],
        "answer": "A",
    },
}

LVBENCH_DOCS = {
    # lmms-lab/LVBench rows carry the options inside the question; some copies add a separate list.
    "inline": {
        "video_path": "v1.mp4",
        "question": "Which colour is the car?\n(A) red\n(B) blue\n(C) green\n(D) white",
        "answer": "B",
    },
    "inline_edges": {
        "video_path": "v1.mp4",
        "question": "\nWhen does it rain?\n(A) 00:10\n(B) 01:00\n(C) never\n(D) 02:00 ",
        "answer": "C",
    },
    "list": {
        "video_path": "v1.mp4",
        "question": "Who speaks first? ",
        "options": ["the host", "the guest", "nobody", "both"],
        "answer": "A",
    },
}

VIDEOMMMU_DOCS = {
    "mcq": {
        "id": "validation_Art_Theory_1",
        "question": " Which period is shown? ",
        "options": ["Baroque", "Gothic", "Rococo ", "Modern"],
        "answer": "B",
        "question_type": "multiple-choice",
    },
    "mcq_lettered": {
        "id": "validation_Math_2",
        "question": "What is x?",
        "options": ["A. 1", "B. 2", "C. 3"],
        "answer": "C",
        "question_type": "multiple-choice",
    },
    "mcq_half_lettered": {  # not every option starts with its letter: all get one more
        "id": "validation_Physics_3",
        "question": "Which force?",
        "options": ["A. gravity", "friction"],
        "answer": "A",
        "question_type": "multiple-choice",
    },
    "open": {
        "id": "validation_Economics_4",
        "question": "How much is the tax?\n",
        "options": [],
        "answer": "12",
        "question_type": "open",
    },
}

# VideoMMMU subsets by the text upstream built: adaptation has a pre-prompt, the other two a note after the options.
VIDEOMMMU_SUBSETS = ("adaptation", "comprehension", "perception")

SIAH_DOCS = {
    "edges": {"video_path": "v1.mp4", "question": " Where does the speaker stand? ", "answer": "stage"},
    "plain": {"video_path": "v1.mp4", "question": "What is on the table?", "answer": "a cup"},
}
STYLES = ("tool", "think", "non_think")


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _yaml_kwargs(path) -> dict:
    """lmms_eval_specific_kwargs.default of a task YAML, read without lmms-eval's !function tags."""
    import yaml

    text = "\n".join(line for line in path.read_text().splitlines() if "!function" not in line)
    return dict(yaml.safe_load(text)["lmms_eval_specific_kwargs"]["default"])


@contextlib.contextmanager
def builtin_tasks():
    """lmms-eval 0.7.3's own task utils (videomme, lvbench, videommmu, longvt), pointed at an empty cache folder
    with placeholder videos (their existence checks), and each one's default kwargs from its installed YAML."""
    import importlib

    with tempfile.TemporaryDirectory() as root:
        old_home = os.environ.get("HF_HOME")
        os.environ.setdefault("HF_HOME", root)  # videommmu/utils.py reads it at import
        try:
            mods = {
                name: importlib.import_module(f"lmms_eval.tasks.{name}.utils")
                for name in ("videomme", "lvbench", "videommmu", "longvt")
            }
        finally:
            if old_home is None:
                os.environ.pop("HF_HOME", None)
        for doc in SIAH_DOCS.values():
            Path(root, "longvt_benchmark").mkdir(exist_ok=True)
            Path(root, "longvt_benchmark", doc["video_path"]).touch()
        saved = {name: mods[name].base_cache_dir for name in ("videomme", "longvt") if mods.get(name)}
        try:
            for name in saved:
                mods[name].base_cache_dir = root  # no subtitle files there: "No subtitles available"
            kwargs = {
                "videomme": _yaml_kwargs(facts.lmms_eval_file("tasks/videomme/videomme_w_subtitle.yaml")),
                "lvbench": _yaml_kwargs(facts.lmms_eval_file("tasks/lvbench/lvbench.yaml")),
                "videommmu": _yaml_kwargs(facts.lmms_eval_file("tasks/videommmu/_default_template_yaml")),
                "longvt_non_think": _yaml_kwargs(facts.lmms_eval_file("tasks/longvt/longvt_non_think.yaml")),
                "longvt_tool": _yaml_kwargs(facts.lmms_eval_file("tasks/longvt/longvt_tool.yaml")),
            }
            yield mods, kwargs
        finally:
            for name, value in saved.items():
                mods[name].base_cache_dir = value


def builtin_non_think(mods, kwargs, bench: str, doc: dict, subset: str | None = None) -> str:
    """What the built-in task upstream's non-think row ran sends as its text (automatic messages: doc_to_text)."""
    doc = dict(doc)
    if bench == "videomme":
        return mods["videomme"].videomme_doc_to_text_subtitle(doc, dict(kwargs["videomme"]))
    if bench == "lvbench":
        return mods["lvbench"].lvbench_doc_to_text(doc, dict(kwargs["lvbench"]))
    if bench == "videosiah":
        return mods["longvt"].longvt_doc_to_text(doc, dict(kwargs["longvt_non_think"]))
    mmmu = mods["videommmu"]
    if subset == "adaptation":
        return mmmu.videommmu_doc_to_text_adaptation(doc, dict(kwargs["videommmu"]))
    return mmmu.videommmu_doc_to_text_perception_comprehension(doc, dict(kwargs["videommmu"]))


def cases():
    """(benchmark, subset, doc name, doc) for every doc above."""
    for name, doc in VIDEOMME_DOCS.items():
        yield "videomme", None, name, doc
    for name, doc in LVBENCH_DOCS.items():
        yield "lvbench", None, name, doc
    for name, doc in VIDEOMMMU_DOCS.items():
        for subset in VIDEOMMMU_SUBSETS:
            yield "videommmu", subset, name, doc
    for name, doc in SIAH_DOCS.items():
        yield "videosiah", None, name, doc


def upstream_text(protocol, bench: str, subset: str | None, doc: dict, style: str) -> str:
    """Our text part under `protocol`, from the core framing (video-free: no subtitle file, as the docs say)."""
    from longvt_plugins.core.protocols import messages, subtitles
    from longvt_plugins.core.protocols import upstream_questions as uq

    q = str(doc["question"])
    if bench == "videomme":
        framed = uq.videomme(style, subtitles.NO_SUBTITLES, q, list(doc["options"]))
    elif bench == "lvbench":
        framed = uq.lvbench(style, q, doc.get("options"))
    elif bench == "videommmu":
        framed = uq.videommmu(style, subset, q, doc.get("options"), doc.get("question_type"))
    else:
        framed = uq.videosiah(style, q)
    return messages.user_text(protocol, style, framed, benchmark=bench)


def upstream_judge(bench: str, subset: str | None, doc: dict) -> str:
    from longvt_plugins.core.protocols import upstream_questions as uq

    q = str(doc["question"])
    if bench == "videomme":
        return uq.videomme_judge(q, list(doc["options"]))
    if bench == "lvbench":
        return uq.lvbench_judge(q)
    if bench == "videommmu":
        return uq.videommmu_judge(subset, q, doc.get("options"), doc.get("question_type"))
    return uq.videosiah_judge(q)


def question_differences(protocol=None) -> list[str]:
    """Every text part (tool, think, non-think) and judge question of our `upstream` against upstream's: LongVT's
    recorded outputs (tool / think / judge of VideoMME, LVBench, VideoMMMU) and lmms-eval 0.7.3's own task code,
    run here (non-think of all four, VideoSIAH's tool / think / judge)."""
    from longvt_plugins.core.protocols import UPSTREAM

    protocol = protocol or UPSTREAM
    out = []
    with builtin_tasks() as (mods, kwargs):
        for bench, subset, name, doc in cases():
            key = "/".join(p for p in (bench, subset, name) if p)
            for style in STYLES:
                ours = upstream_text(protocol, bench, subset, doc, style)
                if style == "non_think":
                    want = builtin_non_think(mods, kwargs, bench, doc, subset)
                    same = ours == want
                elif bench == "videosiah":
                    longvt = mods["longvt"]
                    if style == "tool":
                        msgs = longvt.longvt_tool_doc_to_messages(dict(doc), dict(kwargs["longvt_tool"]))
                    else:
                        msgs = longvt.longvt_doc_to_messages(dict(doc), dict(kwargs["longvt_tool"]))
                    want = [
                        p["text"]
                        for m in msgs
                        if m["role"] == "user"
                        for p in m["content"]
                        if p["type"] == "text"
                    ][0]
                    same = ours == want
                else:
                    want = facts.LONGVT_QUESTION_SHA256[key][style]
                    same = _sha(ours) == want
                if not same:
                    out.append(f"{key} {style}: ours {ours!r}, upstream {want!r}")
            judge = upstream_judge(bench, subset, doc)
            if bench == "videosiah":
                ok = judge == mods["longvt"].longvt_doc_to_text(dict(doc), None)
            else:
                ok = _sha(judge) == facts.LONGVT_QUESTION_SHA256[key]["judge"]
            if not ok:
                out.append(f"{key} judge: ours {judge!r}")
    return out
