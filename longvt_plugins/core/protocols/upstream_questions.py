"""Each benchmark's question text as upstream's tasks built it: the `upstream` protocol's question framing.

Rebuilt from behaviour - lmms-eval 0.7.3's built-in tasks are run against these in tests/test_upstream_prompts.py,
LongVT's task folders' outputs are recorded in tests/upstream_facts.py - not from their code. Which task built the
text, per style:

- tool, think: LongVT's task folders. Their `doc_to_messages` strip the text (then " " + the tool prompt, or the
  think system prompt); VideoMME's reported tool task has none, so lmms-eval's automatic messages send its
  `doc_to_text` as it is, unstripped.
- non_think: lmms-eval's built-in tasks for VideoMME / LVBench / VideoMMMU (`videomme_w_subtitle`, `lvbench`,
  `video_mmmu`; LongVT's README table) and `longvt_non_think` for VideoSIAH, all through the automatic messages:
  not stripped, and for the three multiple-choice benchmarks the whole prompt (nothing is added after it).
- the judge: what LongVT's `process_results` hands its scorer as the question: VideoMME's text without subtitles,
  LVBench's and VideoSIAH's row question, VideoMMMU's task text with its pre-prompt (all unstripped).

Wordings are prompt files (`PROMPTS`, hashed into the protocol card); this module only joins them as upstream did.
"""

from __future__ import annotations

from longvt_plugins.core.prompts import load_prompt
from longvt_plugins.core.protocols import subtitles

VIDEOMME_MCQ = "upstream_videomme_mcq"  # the built-in task's option prompt ("... Respond with only ...")
VIDEOMME_ANSWER_CUE = "upstream_videomme_answer_cue"  # its last line
LVBENCH_NON_THINK = "upstream_lvbench_non_think"  # the built-in lvbench.yaml's post_prompt (no period)
VIDEOMMMU_MCQ_PRE = "upstream_videommmu_mcq_pre"  # pre_prompt + mcq_prompt of both VideoMMMU task folders
VIDEOMMMU_OPEN_PRE = "upstream_videommmu_open_pre"  # pre_prompt + open_ended_prompt
VIDEOMMMU_QUIZ = "upstream_videommmu_quiz"  # perception_and_comprehension_prompt, after the options
PROMPTS = (
    VIDEOMME_MCQ,
    VIDEOMME_ANSWER_CUE,
    LVBENCH_NON_THINK,
    VIDEOMMMU_MCQ_PRE,
    VIDEOMMMU_OPEN_PRE,
    VIDEOMMMU_QUIZ,
)
_LONGVT_STRIPS = ("tool", "think")  # LongVT's doc_to_messages strip; lmms-eval's automatic messages do not


def _as_sent(text: str, style: str) -> str:
    return text.strip() if style in _LONGVT_STRIPS else text


# ------------------------------------------------------------------------------------------ VideoMME
def videomme(style: str, subtitle_block: str, question: str, options: list[str]) -> str:
    """VideoMME with subtitles: LongVT's subtitle prompt (tool: as it is, think: stripped); non_think: the built-in
    `videomme_w_subtitle` prompt (the same subtitle lines, its own option prompt, "The best answer is:")."""
    if style == "non_think":
        choices = "\n".join(str(option) for option in options)
        return (
            f"{subtitles.HEADER}{subtitle_block}\n{load_prompt(VIDEOMME_MCQ)}\n{question}\n{choices}\n"
            f"{load_prompt(VIDEOMME_ANSWER_CUE)}"
        )
    text = subtitles.videomme_question(subtitle_block, question, options)
    return text.strip() if style == "think" else text  # the tool task has no doc_to_messages


def videomme_judge(question: str, options: list[str]) -> str:
    """LongVT's VideoMME scorer's question: its option prompt, the question and the options, no subtitles."""
    choices = "\n".join(str(option) for option in options)
    return f"{subtitles.OPTION_PROMPT}\n{question}\n{choices}"


# ------------------------------------------------------------------------------------------ LVBench
def lvbench(style: str, question: str, options: list[str] | None) -> str:
    """LongVT's LVBench tasks send the row's question alone (a separate options list is never shown); the built-in
    `lvbench` task adds a list as "(A) ..." lines and its post prompt."""
    if style == "non_think":
        if options:
            question += "\n" + "\n".join(f"({chr(ord('A') + i)}) {opt}" for i, opt in enumerate(options))
        return f"{question}\n{load_prompt(LVBENCH_NON_THINK)}"
    return _as_sent(question, style)


def lvbench_judge(question: str) -> str:
    return question


# ------------------------------------------------------------------------------------------ VideoMMMU
def videommmu_options(options: list[str]) -> str:
    """Options as both VideoMMMU task folders list them: as given when every one starts with its "X.", else each
    prefixed "X. " (so a half-lettered list gets a second letter)."""
    letters = [chr(ord("A") + i) for i in range(len(options))]
    if all(str(option).startswith(f"{letter}.") for option, letter in zip(options, letters, strict=True)):
        return "\n".join(str(option) for option in options)
    return "\n".join(f"{letter}. {option}" for letter, option in zip(letters, options, strict=True))


def videommmu_text(subset: str, question: str, options: list[str] | None, question_type: str | None) -> str:
    """The `doc_to_text` of both LongVT's and the built-in VideoMMMU tasks (equal with the built-in's empty
    mcq_post_prompt): adaptation puts its pre-prompt first (options only for "multiple-choice" rows); perception
    and comprehension list the options whatever the type, then the quiz note - and have no pre-prompt."""
    if subset == "adaptation":
        if question_type == "multiple-choice":
            body = f"{question}\n{videommmu_options(list(options or []))}"
            return f"{load_prompt(VIDEOMMMU_MCQ_PRE)}\n{body}"
        return f"{load_prompt(VIDEOMMMU_OPEN_PRE)}\n{question}"
    if subset in ("perception", "comprehension"):
        return f"{question}\n{videommmu_options(list(options or []))}\n{load_prompt(VIDEOMMMU_QUIZ)}"
    raise ValueError(f"unknown VideoMMMU subset {subset!r} (adaptation, comprehension, perception)")


def videommmu(style: str, subset: str, question: str, options, question_type) -> str:
    return _as_sent(videommmu_text(subset, question, options, question_type), style)


def videommmu_judge(subset: str, question: str, options, question_type) -> str:
    return videommmu_text(subset, question, options, question_type)


# ------------------------------------------------------------------------------------------ VideoSIAH
def videosiah(style: str, question: str) -> str:
    """lmms-eval's `longvt` tasks: the row's question (stripped by the tool and think tasks' doc_to_messages)."""
    return _as_sent(question, style)


def videosiah_judge(question: str) -> str:
    return question
