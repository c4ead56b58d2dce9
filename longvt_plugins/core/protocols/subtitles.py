"""VideoMME's subtitle prompt as LongVT's eval wrote it (the `upstream` protocol's question framing).

Rebuilt from the behaviour of LongVT's `videomme_doc_to_text_subtitle` (facts and outputs recorded in
tests/upstream_facts.py), not from its code. What makes it differ from our framing (lmms_eval.tasklib.subtitles_at):
- cues are picked at `linspace(0, frames - 1, 32)` *frame indices* (int-truncated), each cue's times turned into
  frames with `int(t * fps)`;
- the picked cue numbers go through a Python `set`, and that set's iteration order is the order of the lines.
  The numbers are ints, whose hash is themselves (never randomised by PYTHONHASHSEED), so the order is
  deterministic: the same insertions into a CPython set give the same order. We make the same insertions;
- only the first `<font color="white" size=".72c">` match of each cue is kept, cues without one are dropped,
  nothing is unescaped;
- an SRT (read as text, so CRLF is already "\\n") is split on "\\n\\n"; a block needs three lines; a repeated
  time range keeps its first place and its last text; a malformed time line raises (upstream's run stopped);
- no subtitle file gives "No subtitles available" (no period); an empty file gives an empty block.
"""

from __future__ import annotations

import re

import numpy as np

HEADER = "This video's subtitles are listed below: \n"
NO_SUBTITLES = "No subtitles available"
OPTION_PROMPT = (
    "Select the best answer to the following multiple-choice question based on the video and the subtitles."
)
FRAME_NUM = 32  # LongVT's _default_template_yaml: lmms_eval_specific_kwargs.default.frame_num
_FONT = re.compile(r'<font color="white" size=".72c">(.*?)</font>')


def _seconds(stamp: str) -> float:
    hours, minutes, rest = stamp.split(":")
    secs, millis = rest.split(",")
    # The same float arithmetic, in the same order, so int(t * fps) lands on the same frame.
    return int(hours) * 3600 + int(minutes) * 60 + int(secs) + int(millis) / 1000


def srt_cues(text: str) -> list[tuple[float, float, str]]:
    """(start, end, text) per block; a repeated (start, end) keeps its first position and its last text."""
    cues: dict[tuple[float, float], str] = {}
    for block in text.split("\n\n"):
        if not block.strip():
            continue
        lines = block.split("\n")
        if len(lines) < 3:
            continue
        start, end = lines[1].split(" --> ")
        cues[(_seconds(start), _seconds(end))] = " ".join(lines[2:])
    return [(start, end, body) for (start, end), body in cues.items()]


def subtitle_block(srt_text: str | None, fps: float, total_frames: int, frame_num: int = FRAME_NUM) -> str:
    """The subtitle lines upstream put in the prompt; `srt_text` None = the video has no subtitle file."""
    if srt_text is None:
        return NO_SUBTITLES
    frames = [(int(s * fps), int(e * fps), body) for s, e, body in srt_cues(srt_text)]
    if frame_num == -1:
        frame_num = total_frames
    picked = []
    for frame in np.linspace(0, total_frames - 1, frame_num, dtype=int).tolist():
        for index, (first, last, _) in enumerate(frames):
            if first <= frame < last:
                picked.append(index)
    lines = []
    for index in list(set(picked)):  # the set's order, as upstream (see the module docstring)
        match = _FONT.findall(frames[index][2])
        if match:
            lines.append(match[0])
    return "\n".join(lines)


def videomme_question(subtitles: str, question: str, options: list[str]) -> str:
    """The whole question text: header, subtitle lines, the option prompt, the question, the options as given."""
    choices = "\n".join(str(option) for option in options)
    return f"{HEADER}{subtitles}\n{OPTION_PROMPT}\n{question}\n{choices}"
