"""Our lmms-eval task folders: every YAML loads through the real TaskManager, resolves to our file (not a
built-in of the same family), and runs its hooks on local data in each benchmark's own schema."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from longvt_plugins.core.prompts import load_prompt
from longvt_plugins.lmms_eval import TASK_PREFIX, tasks_path
from longvt_plugins.lmms_eval.overlay import OverlayError, build_overlay
from longvt_plugins.lmms_eval.runner import list_tasks
from longvt_plugins.lmms_eval.tasklib import (
    VideoMissing,
    build_messages,
    options_block,
    parse_srt,
    resolve_video,
    subtitles_at,
)

_ALL_TASKS, OUR_GROUPS = list_tasks()
# The paper's four benchmarks. The synthetic miniature task (its own budgets, two styles, data made by
# `python -m longvt_plugins.miniature`) is run through the lmms-eval CLI by `miniature.run.run_lmms_eval`.
OUR_TASKS = [t for t in _ALL_TASKS if t.benchmark != "longvtp_miniature"]
BENCHMARKS = ["longvtp_lvbench", "longvtp_videomme", "longvtp_videommmu", "longvtp_videosiah"]
# Ours beyond the paper (issue 27): Video-MME with the subtitles as the search_subtitles tool (longvt-tools).
TOOLS_TASKS = ["longvtp_videomme_subsearch_tool"]
PAPER_TASKS = [t for t in OUR_TASKS if t.name not in TOOLS_TASKS]


def test_four_benchmarks_in_three_styles_with_the_papers_token_budgets():
    by_bench: dict[str, set[str]] = {}
    for t in OUR_TASKS:
        by_bench.setdefault(t.benchmark, set()).add(t.style)
        assert t.name.startswith(TASK_PREFIX)
        assert t.max_new_tokens == {"tool": 49152, "think": 4096, "non_think": 128}[t.style]
    assert sorted(by_bench) == BENCHMARKS
    assert all(styles == {"non_think", "think", "tool"} for styles in by_bench.values())
    assert len(PAPER_TASKS) == 18  # VideoMMMU: 3 subsets x 3 styles
    assert sorted((t.name, t.style) for t in OUR_TASKS if t.name in TOOLS_TASKS) == [
        (n, "tool") for n in TOOLS_TASKS
    ]
    assert sorted(OUR_GROUPS) == [f"longvtp_videommmu_{s}" for s in ("non_think", "think", "tool")]


@pytest.fixture(scope="module")
def task_index():
    """The real TaskManager with lmms-eval's ~1,900 built-in YAMLs present, plus our folder."""
    from lmms_eval.tasks import TaskManager

    return TaskManager("ERROR", include_path=str(tasks_path()))


@pytest.mark.slow
def test_every_task_resolves_to_our_file_with_the_builtins_present(task_index):
    index = task_index.task_index
    ours = tasks_path()
    for t in OUR_TASKS:
        assert t.name in index, t.name
        assert Path(index[t.name]["yaml_path"]).resolve() == t.path.resolve()
        assert Path(index[t.name]["yaml_path"]).resolve().is_relative_to(ours)
    for group in OUR_GROUPS:
        assert Path(index[group]["yaml_path"]).resolve().is_relative_to(ours)
    for tag in ("longvtp_tool", "longvtp_think", "longvtp_non_think", "longvtp_all"):
        assert index[tag]["type"] == "tag"
    # The built-in families we shadow by purpose are still there, untouched, under their own names.
    for builtin in ("longvt", "videomme_w_subtitle", "lvbench", "video_mmmu_perception"):
        assert builtin in index
        assert not Path(index[builtin]["yaml_path"]).resolve().is_relative_to(ours)
    # ...and no name of ours collides with a built-in (a collision would silently run the built-in).
    assert not any(Path(index[t.name]["yaml_path"]).resolve().parent.parent != ours for t in OUR_TASKS)


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    from longvt_plugins.testing.sample_benchmarks import write_sample_benchmarks

    return write_sample_benchmarks(tmp_path_factory.mktemp("bench"))


@pytest.fixture(scope="module")
def loaded_tasks(sample, tmp_path_factory, monkeypatch_module):
    """Every one of our tasks, fully loaded (`!function` resolved, local data read) by lmms-eval itself."""
    from lmms_eval.tasks import TaskManager, get_task_dict

    monkeypatch_module.setenv("LONGVT_EVAL_VIDEO_ROOT", str(sample.video_root))
    overlay = build_overlay(tmp_path_factory.mktemp("tasks") / "t", sample.data)
    manager = TaskManager("ERROR", include_path=str(overlay), include_defaults=False)
    return get_task_dict([t.name for t in OUR_TASKS], manager, task_type="chat")


@pytest.fixture(scope="module")
def monkeypatch_module():
    mp = pytest.MonkeyPatch()
    yield mp
    mp.undo()


def _leaf_tasks(task_dict):
    for key, value in task_dict.items():
        if isinstance(value, dict):
            yield from _leaf_tasks(value)
        else:
            yield (key if isinstance(key, str) else key.group_name), value


def test_every_task_loads_and_builds_messages_from_local_data(loaded_tasks, sample):
    tasks = dict(_leaf_tasks(loaded_tasks))
    assert sorted(tasks) == sorted(t.name for t in OUR_TASKS)
    for name, task in tasks.items():
        docs = list(task.test_docs())
        assert docs, name
        doc = docs[0]
        kwargs = task.lmms_eval_specific_kwargs
        messages = task.config.doc_to_messages(doc, lmms_eval_specific_kwargs=kwargs)
        user = messages[-1]["content"]
        video = next(p["url"] for p in user if p["type"] == "video")
        assert Path(video).is_file() and Path(video).is_relative_to(sample.video_root.resolve()), (
            name,
            video,
        )
        question = next(p["text"] for p in user if p.get("longvt_role") == "question")
        style = name.rsplit("_", 2)[-1] if not name.endswith("non_think") else "non_think"
        assert (messages[0]["role"] == "system") == (style == "think"), name
        assert task.config.generation_kwargs["longvt_style"] == style
        assert task.config.generation_kwargs["until"] == []
        if style != "non_think":
            assert task.config.reasoning_tags == "none"  # <think> must reach the format check
        # lmms-eval's own message schema accepts what we build (our extra key is ignored by it).
        from lmms_eval.protocol import ChatMessages

        ChatMessages(messages=messages)
        assert (
            task.config.doc_to_text(doc, lmms_eval_specific_kwargs=kwargs).count(question.splitlines()[0])
            == 1
        )
        resources = next(p for p in user if p.get("longvt_role") == "question").get("longvt_resources")
        if name in TOOLS_TASKS:  # the subtitles as the search tool's file, not as lines in the prompt
            assert "subtitles are listed below" not in question and "Welcome" not in question
            assert Path(resources["subtitle_path"]).read_text().count("Welcome to the shapes show.") == 1
        elif name.startswith("longvtp_videomme"):
            assert "subtitles are listed below" in question and "Welcome to the shapes show." in question
            assert "<font" not in question and resources is None


def test_process_results_scores_letters_without_a_judge(loaded_tasks, monkeypatch):
    monkeypatch.delenv("LONGVT_JUDGE_BASE_URL", raising=False)
    monkeypatch.delenv("LLM_AS_A_JUDGE_BASE", raising=False)
    tasks = dict(_leaf_tasks(loaded_tasks))
    task = tasks["longvtp_lvbench_tool"]
    doc = list(task.test_docs())[0]
    right, wrong = doc["answer"], "A" if doc["answer"] != "A" else "B"
    good = f"<think>look</think><answer>{right}</answer>"
    out = task.config.process_results(doc, [good])
    assert (out["acc"], out["format"], out["judge_fallback"], out["failed"]) == (1.0, 1.0, 0.0, 0.0)
    assert out["longvt"]["scoring"]["method"] == "choice"
    out = task.config.process_results(doc, [f"<answer>{wrong}</answer>"])
    assert (out["acc"], out["format"]) == (0.0, 0.0)  # no <think>: format fails in the tool style
    # An upstream API model's failure marker is a failed sample, not a wrong answer.
    out = task.config.process_results(doc, ["[LMMS_EVAL_REQUEST_FAILED after 5 retries] boom"])
    assert out["failed"] == 1.0 and "boom" in out["longvt"]["failure"]
    # Open question, no judge: not an exact match -> rule decides and the fallback is counted.
    siah = tasks["longvtp_videosiah_non_think"]
    doc = list(siah.test_docs())[0]
    assert siah.config.process_results(doc, [doc["answer"].upper() + "."])["acc"] == 1.0
    out = siah.config.process_results(doc, ["something else entirely"])
    assert (out["acc"], out["judge_fallback"]) == (0.0, 1.0)


# ---------------------------------------------------------------------------------------------- overlay
def test_overlay_rewires_only_the_named_benchmark(sample, tmp_path):
    out = build_overlay(tmp_path / "o", {"longvtp_videosiah": sample.data["longvtp_videosiah"]})
    siah = (out / "longvtp_videosiah" / "_default_template_yaml").read_text()
    assert "dataset_path: json" in siah and str(sample.data["longvtp_videosiah"]) in siah
    assert "cache_dir" not in siah and "longvideotool/VideoSIAH-Eval" not in siah
    assert "!function utils.doc_to_messages" in siah  # everything else as shipped
    untouched = (out / "longvtp_lvbench" / "_default_template_yaml").read_text()
    assert untouched == (tasks_path() / "longvtp_lvbench" / "_default_template_yaml").read_text()


def test_overlay_errors_say_what_is_wrong(sample, tmp_path):
    with pytest.raises(OverlayError, match="unknown benchmark"):
        build_overlay(tmp_path / "a", {"longvtp_nope": sample.data["longvtp_videosiah"]})
    with pytest.raises(OverlayError, match="no such file"):
        build_overlay(tmp_path / "b", {"longvtp_videosiah": tmp_path / "missing.jsonl"})
    bad = tmp_path / "data.csv"
    bad.write_text("x")
    with pytest.raises(OverlayError, match="expected .jsonl"):
        build_overlay(tmp_path / "c", {"longvtp_lvbench": bad})
    with pytest.raises(OverlayError, match="one file per subset"):
        build_overlay(tmp_path / "d", {"longvtp_videommmu": sample.data["longvtp_videosiah"]})
    empty = tmp_path / "mmmu"
    empty.mkdir()
    with pytest.raises(OverlayError, match=r"no \w+\.jsonl"):
        build_overlay(tmp_path / "e", {"longvtp_videommmu": empty})


# ---------------------------------------------------------------------------------------------- helpers
def test_missing_video_error_names_the_path_and_the_fix(tmp_path, monkeypatch):
    monkeypatch.setenv("LONGVT_EVAL_VIDEO_ROOT", str(tmp_path))
    with pytest.raises(VideoMissing, match="LONGVT_EVAL_VIDEO_ROOT") as err:
        resolve_video("x/y.mp4", "lvbench")
    assert str(tmp_path / "lvbench" / "x" / "y.mp4") in str(err.value)
    (tmp_path / "lvbench").mkdir()
    (tmp_path / "lvbench" / "v.MP4").write_bytes(b"0")
    assert resolve_video("v.mp4", "lvbench", alternatives=(".MP4",)).endswith("v.MP4")


def test_srt_parsing_and_subtitle_sampling():
    srt = (
        '1\r\n00:00:01,000 --> 00:00:03,500\r\n<font color="white">Hello &amp; welcome</font>\r\n\r\n'
        "2\n00:00:10,000 --> 00:00:12,000\nSecond line\nwraps here\n\nbroken block without time\n\n"
        "3\n01:00:00.000 --> 01:00:02.000\nAn hour in\n"
    )
    cues = parse_srt(srt)
    assert cues == [
        (1.0, 3.5, "Hello & welcome"),
        (10.0, 12.0, "Second line wraps here"),
        (3600.0, 3602.0, "An hour in"),
    ]
    assert subtitles_at(cues[:2], 12.0, 4) == [
        "Hello & welcome",
        "Second line wraps here",
    ]  # t = 1.5, 4.5, 7.5, 10.5
    assert subtitles_at(cues[:2], 12.0, 1) == []  # t = 6.0: nothing on screen
    assert subtitles_at(cues, 0, 0) == [c[2] for c in cues]


def test_options_and_message_shapes():
    assert options_block(["red", "B. blue", "(C) green"]) == "A. red\nB. blue\n(C) green"
    msgs = build_messages(
        "/v.mp4", "Q?", {"style": "tool", "tool_post_prompt": "USE TOOLS"}, multiple_choice=False
    )
    assert [p["type"] for p in msgs[0]["content"]] == ["video", "text", "text"]
    assert msgs[0]["content"][1] == {
        "type": "text",
        "text": "Q?",
        "longvt_role": "question",
        "longvt_mcq": False,
    }
    with pytest.raises(ValueError, match="unknown style"):
        build_messages("/v.mp4", "Q?", {"style": "chatty"}, multiple_choice=False)


def test_samples_of_a_task_yaml_are_valid_json_lines(sample):
    for path in list(sample.data.values()):
        files = [path] if path.is_file() else sorted(path.glob("*.jsonl"))
        for f in files:
            rows = [json.loads(line) for line in f.read_text().splitlines()]
            assert rows and all("question" in r and "answer" in r for r in rows)


def test_doc_key_matches_between_the_full_doc_and_lmms_evals_image_free_copy():
    from PIL import Image

    from longvt_plugins.lmms_eval.doc_identity import doc_key

    scored = {"id": "v_Art_1", "question": "Q?", "options": ["a", "b"], "meta": {"n": 1}}
    full = dict(scored, image_1=Image.new("RGB", (4, 4)), image_2=None, images=[Image.new("RGB", (2, 2))])
    assert doc_key(full) == doc_key(scored)
    assert doc_key(dict(scored, question="other")) != doc_key(scored)


def test_prompt_texts_live_only_in_core_prompts():
    """No task YAML, utils.py or module carries a copy of a prompt: they name a `core/prompts` file instead."""
    from importlib import resources

    repo = Path(__file__).resolve().parents[1]
    prompts = resources.files("longvt_plugins.core.prompts")
    # A copy would hold a prompt's first line; short lines (a heading, a format string) prove nothing.
    sentences = {
        p.name: p.read_text(encoding="utf-8").strip().splitlines()[0]
        for p in prompts.iterdir()
        if p.name.endswith(".txt")
    }
    sources = [*repo.glob("eval_tasks/**/*.yaml"), *repo.glob("eval_tasks/**/*.py")]
    sources += [*repo.glob("longvt_plugins/**/*.py"), *repo.glob("eval_tasks/**/_default_template_yaml")]
    for path in sources:
        text = path.read_text(encoding="utf-8")
        for name, sentence in sentences.items():
            if len(sentence) >= 40:
                assert sentence not in text, f"{path.relative_to(repo)} copies prompts/{name}"
    for path in repo.glob("eval_tasks/**/*.yaml"):
        for key, value in re.findall(r"^\s+(\w+_prompt): (.*)$", path.read_text(encoding="utf-8"), re.M):
            name = re.fullmatch(r"\{prompt: (\w+)\}", value.strip())
            assert name and load_prompt(name.group(1)), f"{path.name}: {key} is not a prompt reference"
