"""The v2 oracle teacher (an `OpenAIStubServer` handler) and two baseline policies built from the same reading.

The teacher answers only from the pixels and text in the request, as v1's does:

- first turn: it reads the asked colour from the question (any case or spelling) and every skim frame's colour.
  If a skim frame has the asked colour, it crops from the skim frame before the first such frame to the skim
  frame after the last one (0 / the video's end when there is none): two timestamps its listing names, and a
  window that always holds the whole scene (`layout.bracket`):
  `<think>Asked: red. Skim: 0s slate, 4s slate, 8s red, 12s red, 16s navy. Red at 8-12s. Crop 4-16s.</think>`
  + crop_video(4, 16). The listing stops at the first frame after the asked scene.
- counterfactual (no skim frame has the asked colour): the whole skim is listed, then "No red scene." and
  `<answer>none</answer>`, with no crop. Why no crop: the skim shows every scene at least twice, so absence is
  decided by the skim; cropping a random scene would teach the student to crop whatever it is asked.
- after the crop: `<think>Crop: 4s slate, 5s red, 6s white, ... The blink is white.</think><answer>white</answer>`,
  the blink being the first crop frame in a blink colour. A crop that missed it answers "unknown" (rejected).

`QuestionBlind` crops the first salient scene of the skim whatever is asked; `SkimOnly` never crops, answers
"none" when the asked colour is absent and otherwise a fixed guess: the measured baselines of docs/miniature.md.
"""

from __future__ import annotations

import re

from longvt_plugins.miniature.task import FLASH_COLOURS, SCENE_COLOURS
from longvt_plugins.miniature.teacher import _frames, _listing, _text
from longvt_plugins.miniature.v2.splits import NONE_ANSWER

_ASKED = re.compile(r"\b(" + "|".join(SCENE_COLOURS) + r")\b", re.IGNORECASE)
_DURATION = re.compile(r"long \(([\d.]+) s\)")


def _request(body: dict):
    """(skim frames, question text after the skim summary, duration, last tool message or None)."""
    messages = body.get("messages", [])
    user = next(m for m in messages if m.get("role") == "user")
    tools = [m for m in messages if m.get("role") == "tool" or "<tool_response>" in _text(m.get("content"))]
    text = _text(user["content"])
    duration = _DURATION.search(text)
    return (
        _frames(user["content"]),
        text.split("The video is", 1)[-1],
        float(duration.group(1)) if duration else None,
        tools[-1] if tools else None,
    )


def _crop_answer(tool_message) -> str:
    crop = _frames(tool_message["content"])
    blinks = [c for _, c in crop if c in FLASH_COLOURS]
    if not blinks:
        return f"<think>Crop: {_listing(crop)}. No blink.</think><answer>unknown</answer>"
    return f"<think>Crop: {_listing(crop)}. The blink is {blinks[0]}.</think><answer>{blinks[0]}</answer>"


def _crop_turn(asked: str, target: str, skim: list[tuple[float, str]], duration: float | None):
    """The first turn that crops the scene of colour `target` (the oracle: target = asked)."""
    at = [i for i, (_, c) in enumerate(skim) if c == target]
    first, last = at[0], at[-1]
    start = skim[first - 1][0] if first > 0 else 0.0
    end = skim[last + 1][0] if last + 1 < len(skim) else (duration or skim[last][0])
    shown = skim[: last + 2]
    args = {"start_time": float(start), "end_time": float(end)}
    return {
        "content": (
            f"<think>Asked: {asked}. Skim: {_listing(shown)}. {target.capitalize()} at "
            f"{skim[first][0]:g}-{skim[last][0]:g}s. Crop {start:g}-{end:g}s.</think>"
        ),
        "tool_calls": [{"function": {"name": "crop_video", "arguments": args}}],
    }


def _absent_turn(asked: str, skim: list[tuple[float, str]]) -> str:
    return f"<think>Asked: {asked}. Skim: {_listing(skim)}. No {asked} scene.</think><answer>{NONE_ANSWER}</answer>"


class OracleTeacherV2:
    """Callable handler: `OpenAIStubServer(OracleTeacherV2())`."""

    def target(self, asked: str, skim: list[tuple[float, str]]) -> str | None:
        """The colour of the scene to crop (None: the asked scene is not in the skim)."""
        return asked if any(c == asked for _, c in skim) else None

    def __call__(self, body: dict):
        skim, question, duration, tool = _request(body)
        found = _ASKED.search(question)
        if found is None:
            return "<think>I cannot tell which scene is asked about.</think><answer>unknown</answer>"
        if tool is not None:
            return _crop_answer(tool)
        asked = found.group(1).lower()
        target = self.target(asked, skim)
        return _absent_turn(asked, skim) if target is None else _crop_turn(asked, target, skim, duration)


class QuestionBlind(OracleTeacherV2):
    """Crops the first salient scene of the skim, whatever the question names (answers from that crop)."""

    def target(self, asked, skim):
        return next((c for _, c in skim if c in SCENE_COLOURS), None)


class SkimOnly(OracleTeacherV2):
    """Reads the question and the skim but never crops: "none" when the asked colour is absent, else `guess`."""

    def __init__(self, guess: str):
        self.guess = guess

    def __call__(self, body):
        skim, question, _, _ = _request(body)
        found = _ASKED.search(question)
        asked = found.group(1).lower() if found else ""
        if self.target(asked, skim) is None:
            return _absent_turn(asked, skim)
        return f"<think>Asked: {asked}. The skim shows no blink.</think><answer>{self.guess}</answer>"
