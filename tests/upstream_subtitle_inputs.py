"""The VideoMME subtitle inputs LongVT's `videomme_doc_to_text_subtitle` was run on (outputs: tests/upstream_facts.py).

Shared by tests/test_upstream_question_framing.py (through the task folder, real videos) and the mutation check in
tests/test_upstream_facts.py (`subtitle_differences`, no video needed: fps and frame count are given).
"""

from __future__ import annotations

import hashlib

import upstream_facts as facts

FONT = '<font color="white" size=".72c">{}</font>'
DOC = {"question": "Q?", "options": ["A. x", "B. y"], "answer": "A"}
# videoID -> (duration s, fps); frames = duration * fps. "nosub" has no .srt file, "empty" an empty one.
VIDEOS = {"long": (200.0, 2.0), "short": (12.0, 5.0), "nosub": (6.0, 5.0), "empty": (6.0, 5.0)}


def _stamp(t: float) -> str:
    ms = int(round(t * 1000))
    h, ms = divmod(ms, 3600000)
    m, ms = divmod(ms, 60000)
    s, ms = divmod(ms, 1000)
    return f"{h:02d}:{m:02d}:{s:02d},{ms:03d}"


def long_srt() -> str:
    """200 one-second cues: the 32 picked cue numbers reach past the set's table size, so set order != time order."""
    blocks = []
    for i in range(200):
        text = FONT.format(f"cue {i}")
        if i % 17 == 3:  # two matches in one cue: only the first is kept
            text = FONT.format(f"first {i}") + " " + FONT.format(f"second {i}")
        if i % 23 == 5:  # no white font: dropped
            text = f"plain {i}"
        blocks.append(f"{i + 1}\n{_stamp(i)} --> {_stamp(i + 1)}\n{text}")
    return "\n\n".join(blocks) + "\n"


SHORT_SRT = (
    "\n\n".join(
        [
            f"1\n00:00:00,500 --> 00:00:03,000\n{FONT.format('hello')}",
            f"2\n00:00:02,000 --> 00:00:05,000\n{FONT.format('overlap')}\n{FONT.format('line two')}",
            f"3\n00:00:00,500 --> 00:00:03,000\n{FONT.format('same range later')}",  # same range: last text
            '4\n00:00:07,000 --> 00:00:11,900\n<font color="yellow">not white</font>',
            f"5\n00:00:09,000 --> 00:00:12,000\n{FONT.format('a &amp; b')}",
        ]
    )
    + "\n"
)
SRTS = {"long": long_srt(), "short": SHORT_SRT, "nosub": None, "empty": ""}


def subtitle_differences() -> list[str]:
    """Our upstream framing (core.protocols.subtitles) against LongVT's recorded outputs, video-free."""
    from longvt_plugins.core.protocols import subtitles

    out = []
    for vid, (duration, fps) in VIDEOS.items():
        block = subtitles.subtitle_block(SRTS[vid], fps, int(round(duration * fps)))
        text = subtitles.videomme_question(block, DOC["question"], DOC["options"])
        if hashlib.sha256(text.encode()).hexdigest() != facts.SUBTITLE_OUTPUT_SHA256[vid]:
            out.append(f"{vid}: {text[:200]!r}")
    return out
