"""Video-MME with subtitles: multiple choice A-D (fields: videoID, question, options, answer)."""

from longvt_plugins.lmms_eval.breakdown import agreement, by_group, count  # noqa: F401  (aggregations)
from longvt_plugins.lmms_eval.results import protocol_card  # noqa: F401  (the `protocol` metric's aggregation)
from longvt_plugins.lmms_eval.tasklib import (
    Benchmark,
    as_str,
    options_block,
    parse_srt,
    style_of,
    subtitles_at,
    video_root,
)

CACHE = "videomme"


def _srt(doc):
    return video_root(CACHE) / "subtitle" / f"{doc['videoID']}.srt"


def _subtitles(doc, samples: int) -> str:
    path = _srt(doc)
    if not path.is_file():
        return "No subtitles available."
    cues = parse_srt(path.read_text(encoding="utf-8", errors="replace"))
    duration = 0.0
    try:
        from longvt_plugins.core.video import probe

        duration = probe(BENCH.video_path(doc)).duration
    except Exception:  # no video or unreadable: sample over the subtitles' own span instead
        duration = 0.0
    lines = subtitles_at(cues, duration, samples)
    return "\n".join(lines) if lines else "No subtitles available."


def _question(doc, kwargs):
    question = f"{as_str(doc['question'])}\n{options_block(doc.get('options'))}"
    # Subtitles go into the prompt only (kwargs come from the task YAML); the judge sees the bare question.
    samples = kwargs.get("subtitle_samples")
    if samples is None:
        return question
    return (
        f"This video's subtitles are listed below:\n{_subtitles(doc, int(samples))}\n"
        "Select the best answer to the following multiple-choice question based on the video and the subtitles.\n"
        f"{question}"
    )


def _framings(doc, kwargs):
    """The question as `--protocol upstream` sends it in this task's style (core.protocols.upstream_questions:
    LongVT's subtitle prompt for tool and think, lmms-eval's built-in videomme_w_subtitle prompt for non-think).

    Upstream's run stopped on a bad SRT or video; here the reason goes along and only that protocol's sample fails.
    """
    if kwargs.get("subtitle_samples") is None:
        return {}
    from longvt_plugins.core.protocols import subtitles, upstream_questions

    try:
        path = _srt(doc)
        srt = path.read_text(encoding="utf-8") if path.is_file() else None
        block = subtitles.NO_SUBTITLES
        if srt is not None:  # upstream read fps and frame count (OpenCV) only for a video with subtitles
            from longvt_plugins.core.video import probe

            info = probe(BENCH.video_path(doc))
            block = subtitles.subtitle_block(srt, info.fps, info.num_frames)
        text = upstream_questions.videomme(style_of(kwargs), block, doc["question"], list(doc["options"]))
        return {"upstream": text}
    except Exception as exc:
        return {"upstream!error": f"{type(exc).__name__}: {exc}"}


def _resources(doc, kwargs):
    """`subtitles: tool` (`longvtp_videomme_subsearch_tool`): the doc's SRT goes to the agent as the search_subtitles tool's file
    instead of a prompt block; a video without one gets the tool's "no subtitles" answer."""
    if kwargs.get("subtitles") != "tool":
        return {}
    path = _srt(doc)
    return {"subtitle_path": str(path)} if path.is_file() else {}


def _judge_questions(doc, kwargs):
    from longvt_plugins.core.protocols import upstream_questions

    return {"upstream": upstream_questions.videomme_judge(doc["question"], list(doc["options"]))}


BENCH = Benchmark(
    CACHE,
    video=lambda doc: f"data/{doc['videoID']}.mp4",
    video_alternatives=(".MP4", ".mkv"),
    question=_question,
    target=lambda doc: doc["answer"],
    options=lambda doc: "".join(chr(ord("A") + i) for i in range(len(doc.get("options") or "ABCD"))),
    # Video-MME reports accuracy per video length (short / medium / long) and per task type.
    groups=lambda doc: {"by_duration": doc.get("duration"), "by_category": doc.get("task_type")},
    framings=_framings,
    judge_questions=_judge_questions,
    resources=_resources,
    benchmark="videomme",  # under upstream, its non-think rows are scored by lmms-eval's built-in task
)

doc_to_visual = BENCH.doc_to_visual
doc_to_text = BENCH.doc_to_text
doc_to_messages = BENCH.doc_to_messages
doc_to_target = BENCH.doc_to_target
process_non_think = BENCH.process_non_think
process_think = BENCH.process_think
process_tool = BENCH.process_tool
