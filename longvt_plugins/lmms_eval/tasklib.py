"""What our lmms-eval task folders share: where videos are, how a doc becomes chat messages, how it is scored.

Each `eval_tasks/<benchmark>/utils.py` is a few lines that name its fields and call into here, so the four
benchmarks cannot drift apart in prompt style, video lookup or scoring (upstream copies these per task).

Styles (the `style` kwarg, set per task YAML in `lmms_eval_specific_kwargs`):
  non_think  the question and a "answer directly" instruction; no system prompt, no tools.
  think      a system prompt asking for <think>...</think><answer>...</answer>; no tools.
  tool       the question and the tool-use format instruction; the task also offers crop_video to our models
             through `generation_kwargs.longvt_tools` (other models ignore the key).
"""

from __future__ import annotations

import html
import os
import re
from pathlib import Path
from typing import Any

from longvt_plugins.core.prompts import load_prompt
from longvt_plugins.core.style import check_style

# Which core/prompts file each style's prompt key falls back to. A task YAML names a prompt file as
# `{prompt: <name>}` (e.g. VideoMMMU's pre_prompt); a plain string there is used as it is (a per-model override).
DEFAULT_PROMPTS = {
    "think_system_prompt": "task_think_system",
    "tool_post_prompt": "task_tool_post",
    "non_think_post_prompt": "task_non_think_post",
    "mcq_non_think_post_prompt": "task_mcq_non_think_post",
}


def prompt_kwarg(kwargs: dict | None, key: str) -> str:
    """The text of prompt `key` in a task's lmms_eval_specific_kwargs: a named prompt, a literal, or the default."""
    value = (kwargs or {}).get(key)
    if value is None:
        return load_prompt(DEFAULT_PROMPTS[key]) if key in DEFAULT_PROMPTS else ""
    if isinstance(value, dict):
        if set(value) != {"prompt"}:
            raise ValueError(f"{key}: a prompt reference is {{prompt: <name>}}, got {value!r}")
        return load_prompt(str(value["prompt"]))
    return str(value)


class VideoMissing(FileNotFoundError):
    """The doc's video is not where the task looked; the message says where, and how to point elsewhere."""


# ------------------------------------------------------------------------------------------ video lookup
def video_root(cache_name: str) -> Path:
    """Where a benchmark's videos live: $LONGVT_EVAL_VIDEO_ROOT/<cache_name>, else $HF_HOME/<cache_name>.

    `<cache_name>` is the task's `dataset_kwargs.cache_dir`, i.e. where lmms-eval unpacks the video archives;
    the names match the upstream tasks', so an existing lmms-eval cache is reused as is.
    """
    base = os.environ.get("LONGVT_EVAL_VIDEO_ROOT") or os.environ.get("HF_HOME") or "~/.cache/huggingface"
    return Path(os.path.expanduser(base)) / cache_name


def resolve_video(relative: str, cache_name: str, *, alternatives: tuple[str, ...] = ()) -> str:
    """The absolute path of one video: an absolute path in the doc wins (local datasets), else the root's file.

    `alternatives` are other suffixes to try (".MP4", ".mkv") because some benchmarks mix containers.
    """
    candidates = [Path(relative)] if os.path.isabs(relative) else [video_root(cache_name) / relative]
    base = candidates[0]
    for suffix in alternatives:
        candidates.append(base.with_suffix(suffix))
    for path in candidates:
        if path.is_file():
            return str(path)
    raise VideoMissing(
        f"video for this doc not found: {base} (set LONGVT_EVAL_VIDEO_ROOT to the folder that holds "
        f"'{cache_name}/', or let lmms-eval download the benchmark into $HF_HOME/{cache_name})"
    )


# ------------------------------------------------------------------------------------------ prompts
def options_block(options: list[str] | None) -> str:
    """Options as "A. text" lines; options that already start with their letter are kept as they are."""
    if not options:
        return ""
    lines = []
    for i, option in enumerate(options):
        letter = chr(ord("A") + i)
        text = str(option).strip()
        if re.match(rf"^\(?{letter}[.):]\s", text):
            lines.append(text)
        else:
            lines.append(f"{letter}. {text}")
    return "\n".join(lines)


def style_of(kwargs: dict | None) -> str:
    return check_style((kwargs or {}).get("style", "non_think"))


def _parts(question: str, kwargs: dict | None, *, multiple_choice: bool) -> tuple[str, str, str]:
    """(system prompt, question with its pre-prompt, style instruction) of one doc."""
    style = style_of(kwargs)
    pre = prompt_kwarg(kwargs, "pre_prompt").rstrip("\n")
    text = "\n".join(p for p in (pre, question) if p).strip()
    if style == "non_think":
        post = prompt_kwarg(
            kwargs, "mcq_non_think_post_prompt" if multiple_choice else "non_think_post_prompt"
        )
    elif style == "tool":
        post = prompt_kwarg(kwargs, "tool_post_prompt")
    else:
        post = prompt_kwarg(kwargs, "post_prompt")
    system = prompt_kwarg(kwargs, "think_system_prompt") if style == "think" else ""
    return system, text, post


def build_text(question: str, kwargs: dict | None, *, multiple_choice: bool) -> str:
    """The prompt as one string, for lmms-eval's simple (non-chat) models, which take no system prompt."""
    system, text, post = _parts(question, kwargs, multiple_choice=multiple_choice)
    return "\n".join(p for p in (system, text, post) if p)


def build_messages(
    video: str,
    question: str,
    kwargs: dict | None,
    *,
    multiple_choice: bool,
    framings: dict[str, str] | None = None,
    resources: dict[str, str] | None = None,
) -> list[dict]:
    """The lmms-eval chat messages for one doc in the task's style (`kwargs` = lmms_eval_specific_kwargs).

    The question and the style's instruction are separate text parts, and the question part is marked
    (`longvt_role`, `longvt_mcq`: ignored by lmms-eval's message schema): our agent models bring their own
    instruction (the protocol's, which may differ for multiple choice) and
    frame timestamps, so they read only the question; every other chat model reads both parts.
    `framings` (framing name -> question text) go on the question part as `longvt_framings`: the question as
    another protocol words it (`Protocol.question_framing`); our models send that one instead.
    `resources` (e.g. `{"subtitle_path": ...}`) go on the question part as `longvt_resources`: the doc's own files
    that our models bind to the tools their protocol offers (search_subtitles reads `subtitle_path`).
    """
    system, text, post = _parts(question, kwargs, multiple_choice=multiple_choice)
    part = {"type": "text", "text": text, "longvt_role": "question", "longvt_mcq": multiple_choice}
    if framings:
        part["longvt_framings"] = dict(framings)
    if resources:
        part["longvt_resources"] = dict(resources)
    content: list[dict] = [{"type": "video", "url": video}, part]
    if post:
        content.append({"type": "text", "text": "\n" + post})
    messages: list[dict] = []
    if system:
        messages.append({"role": "system", "content": [{"type": "text", "text": system}]})
    messages.append({"role": "user", "content": content})
    return messages


# ------------------------------------------------------------------------------------------ subtitles
_SRT_TIME = re.compile(r"(\d+):(\d+):(\d+)[,.](\d+)\s*-->\s*(\d+):(\d+):(\d+)[,.](\d+)")
_TAG = re.compile(r"<[^>]+>")


def parse_srt(text: str) -> list[tuple[float, float, str]]:
    """(start, end, text) cues of an SRT file; markup such as <font> is dropped, malformed blocks are skipped."""
    cues = []
    for block in re.split(r"\n\s*\n", text.replace("\r\n", "\n").strip()):
        lines = [line for line in block.split("\n") if line.strip()]
        for i, line in enumerate(lines):
            m = _SRT_TIME.search(line)
            if not m:
                continue
            h1, m1, s1, ms1, h2, m2, s2, ms2 = (int(g) for g in m.groups())
            start = h1 * 3600 + m1 * 60 + s1 + ms1 / 1000
            end = h2 * 3600 + m2 * 60 + s2 + ms2 / 1000
            body = html.unescape(_TAG.sub("", " ".join(lines[i + 1 :]))).strip()
            if body:
                cues.append((start, end, body))
            break
    return cues


def subtitles_at(cues: list[tuple[float, float, str]], duration: float, samples: int) -> list[str]:
    """Subtitle lines shown at `samples` evenly spaced moments, in order, each once.

    This follows the VideoMME-with-subtitles protocol: the subtitles given are those of the sampled frames, not
    the whole transcript (which would dwarf the question for hour-long videos).
    """
    if not cues:
        return []
    if samples <= 0:
        return list(dict.fromkeys(c[2] for c in cues))
    span = duration if duration and duration > 0 else max(c[1] for c in cues)
    times = [span * (i + 0.5) / samples for i in range(samples)]
    picked: dict[int, None] = {}
    for t in times:
        for idx, (start, end, _) in enumerate(cues):
            if start <= t < end:
                picked[idx] = None
    return [cues[i][2] for i in sorted(picked)]


def as_str(value: Any) -> str:
    return "" if value is None else str(value).strip()


# ------------------------------------------------------------------------------------------ one benchmark
class Benchmark:
    """The lmms-eval hooks of one benchmark, from three small field readers.

    video(doc) -> path relative to the benchmark's video root (or absolute); question(doc, kwargs) -> the question
    text (options included); target(doc) -> the reference answer; options(doc) -> "ABCD" for multiple choice.
    A task folder's utils.py binds these methods to the names its YAMLs reference.
    """

    def __init__(
        self,
        cache: str,
        *,
        video,
        question,
        target,
        options=None,
        video_alternatives=(),
        groups=None,
        framings=None,
        judge_questions=None,
        benchmark=None,
        resources=None,
    ) -> None:
        self.cache = cache
        # "videomme", "lvbench", "videommmu": the name a protocol's per-benchmark settings use (builtin scoring)
        self.benchmark = benchmark
        # doc, kwargs -> {framing name: question text}: the question as another protocol words it (VideoMME)
        self._framings = framings
        # doc, kwargs -> {framing name: question text}: the question that protocol's scorer gives its judge
        self._judge_questions = judge_questions
        self._groups = groups  # doc -> {"by_duration": ..., "by_category": ...}: the results breakdowns
        # doc, kwargs -> {"subtitle_path": ...}: the doc's files the tools read (VideoMME's SRT as search_subtitles)
        self._resources = resources
        self._video, self._question, self._target, self._options = video, question, target, options
        self.video_alternatives = tuple(video_alternatives)

    def video_path(self, doc: dict) -> str:
        return resolve_video(self._video(doc), self.cache, alternatives=self.video_alternatives)

    def question(self, doc: dict, kwargs: dict | None = None) -> str:
        return self._question(doc, kwargs or {})

    def options(self, doc: dict) -> str | None:
        return self._options(doc) if self._options else None

    def doc_to_visual(self, doc: dict) -> list[str]:
        return [self.video_path(doc)]

    def doc_to_text(self, doc: dict, lmms_eval_specific_kwargs: dict | None = None) -> str:
        mcq = bool(self.options(doc))
        return build_text(
            self.question(doc, lmms_eval_specific_kwargs), lmms_eval_specific_kwargs, multiple_choice=mcq
        )

    def doc_to_messages(self, doc: dict, lmms_eval_specific_kwargs: dict | None = None) -> list[dict]:
        mcq = bool(self.options(doc))
        question = self.question(doc, lmms_eval_specific_kwargs)
        return build_messages(
            self.video_path(doc),
            question,
            lmms_eval_specific_kwargs,
            multiple_choice=mcq,
            framings=self.framings(doc, lmms_eval_specific_kwargs),
            resources=self._resources(doc, lmms_eval_specific_kwargs or {}) if self._resources else None,
        )

    def framings(self, doc: dict, kwargs: dict | None = None) -> dict[str, str]:
        return self._framings(doc, kwargs or {}) if self._framings else {}

    def judge_questions(self, doc: dict, kwargs: dict | None = None) -> dict[str, str]:
        return self._judge_questions(doc, kwargs or {}) if self._judge_questions else {}

    def doc_to_target(self, doc: dict) -> str:
        return as_str(self._target(doc))

    def process(self, doc: dict, results: list, style: str, kwargs: dict | None = None) -> dict:
        """One doc's metrics; `kwargs` are the task's lmms_eval_specific_kwargs where the judge's question needs
        them (lmms-eval hands process_results none: see `processor`)."""
        from longvt_plugins.lmms_eval.results import process

        # The judge sees the question with its options, so it can match an answer given as the option's text;
        # under a protocol with its own judge question (upstream's scorer), that one.
        return process(
            doc,
            results,
            style=style,
            question=self.question(doc),
            ground_truth=self.doc_to_target(doc),
            options=self.options(doc),
            groups=self._groups(doc) if self._groups else None,
            judge_questions=self.judge_questions(doc, {"style": style, **(kwargs or {})}),
            benchmark=self.benchmark,
        )

    def processor(self, style: str, **kwargs):
        """A process_results function for one style with fixed task kwargs (e.g. VideoMMMU's subset)."""
        return lambda doc, results: self.process(doc, results, style, kwargs)

    def process_non_think(self, doc: dict, results: list) -> dict:
        return self.process(doc, results, "non_think")

    def process_think(self, doc: dict, results: list) -> dict:
        return self.process(doc, results, "think")

    def process_tool(self, doc: dict, results: list) -> dict:
        return self.process(doc, results, "tool")
