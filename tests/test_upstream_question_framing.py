"""The question text under `--protocol upstream` against what LongVT's own code produced (issue 25 item 6).

VideoMME: the inputs below were given to LongVT's `videomme_doc_to_text_subtitle` (commit in tests/upstream_facts.py)
and the SHA-256 of each text it returned is recorded there. Here the same inputs go through our VideoMME tool
task's question framing (`longvt_framings["upstream"]`, built by core.protocols.subtitles) and must give the same bytes -
set order, first <font> match only, no unescaping, "No subtitles available" without a period. Under
`longvt-plugins` the model keeps our framing. LVBench: upstream sends the row's question alone.
"""

from __future__ import annotations

import hashlib

import pytest
import upstream_facts as facts
from upstream_subtitle_inputs import DOC, SRTS, VIDEOS, subtitle_differences

from longvt_plugins.core.protocols import LONGVT_PLUGINS, UPSTREAM
from longvt_plugins.core.protocols import subtitles as sub
from longvt_plugins.lmms_eval.datacheck import benchmark_module
from longvt_plugins.lmms_eval.model import LongVTAgent
from longvt_plugins.testing.videos import make_synthetic_video


@pytest.fixture(scope="module")
def videomme_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("subs")
    base = root / "videomme"
    (base / "subtitle").mkdir(parents=True)
    for vid, (duration, fps) in VIDEOS.items():
        make_synthetic_video(base / "data" / f"{vid}.mp4", duration=duration, fps=fps, width=32, height=32)
        if SRTS[vid] is not None:
            (base / "subtitle" / f"{vid}.srt").write_text(SRTS[vid])
    return root


@pytest.fixture
def bench(videomme_root, monkeypatch):
    monkeypatch.setenv("LONGVT_EVAL_VIDEO_ROOT", str(videomme_root))
    return benchmark_module("longvtp_videomme").BENCH


@pytest.mark.parametrize("vid", sorted(facts.SUBTITLE_OUTPUT_SHA256))
def test_upstream_framing_is_byte_identical_to_longvts_output(bench, vid):
    doc = {**DOC, "videoID": vid}
    text = bench.framings(doc, {"style": "tool", "subtitle_samples": 32})["upstream"]
    assert hashlib.sha256(text.encode()).hexdigest() == facts.SUBTITLE_OUTPUT_SHA256[vid], text
    if vid == "short":
        assert text == facts.SUBTITLE_SHORT_TEXT
    if vid == "long":
        lines = text.split("\n")[1:]
        assert lines[: len(facts.SUBTITLE_LONG_FIRST_LINES)] == facts.SUBTITLE_LONG_FIRST_LINES
        assert lines[:31] != sorted(lines[:31], key=lambda t: int(t.split()[-1])), "set order, not time order"


def test_the_model_sends_its_protocols_framing(bench):
    doc = {**DOC, "videoID": "short"}
    messages = bench.doc_to_messages(doc, {"style": "tool", "subtitle_samples": 32})
    _, upstream_q, mcq = LongVTAgent._read_messages(messages, UPSTREAM.question_framing)
    _, ours_q, _ = LongVTAgent._read_messages(messages, LONGVT_PLUGINS.question_framing)
    assert mcq and upstream_q == facts.SUBTITLE_SHORT_TEXT
    assert ours_q.startswith("This video's subtitles are listed below:\nhello") and "&amp;" not in ours_q
    # A framing the task could not build fails that protocol's sample (upstream's run stopped there).
    messages[-1]["content"][1]["longvt_framings"] = {"upstream!error": "ValueError: bad time"}
    with pytest.raises(ValueError, match="bad time"):
        LongVTAgent._read_messages(messages, "upstream")


def test_video_free_check_agrees():  # what the mutation check in test_upstream_facts.py runs
    assert subtitle_differences() == []


def test_no_subtitle_text_and_block_rules():
    assert sub.subtitle_block(None, 5.0, 30) == facts.SUBTITLE_NONE
    assert sub.subtitle_block("", 5.0, 30) == ""
    assert sub.HEADER == facts.SUBTITLE_HEADER and sub.OPTION_PROMPT == facts.SUBTITLE_OPTION_PROMPT
    assert sub.FRAME_NUM == facts.SUBTITLE_FRAME_NUM and sub._FONT.pattern == facts.SUBTITLE_FONT_PATTERN


def test_lmms_evals_own_videomme_subtitles_pick_the_same_lines(videomme_root, bench, monkeypatch):
    """Differential against running code: lmms-eval 0.7.3's built-in `videomme_w_subtitle` (the task upstream's
    non-think row used) picks subtitles by the same rules; its prompt around them is its own."""
    from lmms_eval.tasks.videomme import utils as builtin

    monkeypatch.setattr(builtin, "base_cache_dir", str(videomme_root))
    for vid in VIDEOS:
        doc = {**DOC, "videoID": vid}
        theirs = builtin.videomme_doc_to_text_subtitle(doc, {"frame_num": 32})
        ours = bench.framings(doc, {"style": "tool", "subtitle_samples": 32})["upstream"]
        block = ours.removeprefix(sub.HEADER).split(f"\n{sub.OPTION_PROMPT}\n")[0]
        assert theirs.startswith(sub.HEADER + block + "\n" + sub.OPTION_PROMPT + " Respond with only"), vid


def test_lvbench_upstream_question_is_the_rows_question_alone():
    """LongVT's lvbench_doc_to_text returns doc["question"]: options given as a separate list are not shown."""
    bench = benchmark_module("longvtp_lvbench").BENCH
    doc = {
        "video_path": "/v.mp4",
        "question": "Which?\n(A) red\n(B) blue",
        "options": ["red", "blue"],
        "answer": "A",
    }
    assert bench.framings(doc, {"style": "tool"})["upstream"] == doc["question"]
    assert bench.question(doc, {}).endswith("A. red\nB. blue")  # ours shows the list too
    # The non-think row is lmms-eval's built-in lvbench, which lists them (tests/test_upstream_prompts.py).
    assert "(A) red\n(B) blue\nAnswer" in bench.framings(doc, {"style": "non_think"})["upstream"]
