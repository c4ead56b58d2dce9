"""The miniature teacher: an OpenAI-protocol handler (for `OpenAIStubServer`) that plays LongVT's teacher model.

It answers only from what the request really holds: it decodes the skim frames it was sent, finds the one whose
colour the question names, crops that frame's scene, then names the flash colour it finds in the frames the crop
returned. A crop that returned the wrong frames gives a wrong (or no) answer, which the traces stage rejects.
The only task knowledge it has is the scene grid (`SCENE_SECONDS`), which is what a student must infer.

It reads frames the way the student's family is shown them (`core.families`): Qwen2.5-VL gets a `<18.0s>` label
before each frame, Qwen3-VL a `<9.0 seconds>` label before each pair of frames. Its listing names every label it
read, then the colours of the frames under it ("18s navy" / "9s slate navy"), so the text it writes refers only to
labels the student is also shown; the crop window comes from the frame's own time, which the skim text lists.
"""

from __future__ import annotations

import base64
import io
import re

import numpy as np

from longvt_plugins.miniature.task import FLASH_COLOURS, PALETTE, SCENE_COLOURS, SCENE_SECONDS, nearest_colour

# Qwen2.5-VL "<18.0s>" (one frame) or Qwen3-VL "<9.0 seconds>" (a temporal patch of two frames)
_LABEL = re.compile(r"^<([\d.]+)(?:s| seconds)>$")
_SKIM_TIMES = re.compile(r"timestamps \(seconds\): ([\d., ]+)")
_ASKED = re.compile(r"\b(" + "|".join(SCENE_COLOURS) + r")\b")


def _colour(part: dict) -> str:
    """The palette colour of an image part: a request's base64 `image_url`, or an agent part's PIL `image`."""
    from PIL import Image

    if part.get("type") == "image":
        return nearest_colour(np.asarray(part["image"].convert("RGB")))
    raw = base64.b64decode(part["image_url"]["url"].split(",", 1)[1])
    return nearest_colour(np.asarray(Image.open(io.BytesIO(raw)).convert("RGB")))


def read_groups(content) -> list[tuple[float, list[str]]]:
    """(label time, colours of the frames under it) for every time label followed by images: one frame per label
    for Qwen2.5-VL, a pair for Qwen3-VL. Works on a request's content and on `crop_tool.timestamped_parts`."""
    out: list[tuple[float, list[str]]] = []
    stamp = None
    for p in content if isinstance(content, list) else []:
        if p.get("type") == "text":
            m = _LABEL.match(p.get("text", "").strip())
            if m:
                stamp = float(m.group(1))
                out.append((stamp, []))
        elif p.get("type") in ("image_url", "image") and stamp is not None:
            out[-1][1].append(_colour(p))
    return [g for g in out if g[1]]


def _frames(content) -> list[tuple[float, str]]:
    """(label time, colour) of every image part that follows a time label (one entry per frame)."""
    return [(t, c) for t, cs in read_groups(content) for c in cs]


def _skim_times(text: str) -> list[float]:
    """Every skim frame's own time, from the skim text (the labels of a Qwen3-VL pair are the pair's mean)."""
    m = _SKIM_TIMES.search(text)
    return [float(x) for x in m.group(1).replace(" ", "").strip(",.").split(",")] if m else []


def _text(content) -> str:
    if isinstance(content, str):
        return content
    return "".join(p.get("text", "") for p in content or [] if p.get("type") == "text")


def _listing(groups: list[tuple[float, str | list[str]]]) -> str:
    """What the teacher saw, label by label ("0s red, 18s blue, ..."; Qwen3-VL: "9s red blue, 45s ..."): the think
    text names every frame's colour, so the student learns to read each frame (dense supervision) before it picks
    one, instead of having to discover the colour -> timestamp lookup from the crop arguments alone."""
    return ", ".join(f"{t:g}s {cs if isinstance(cs, str) else ' '.join(cs)}" for t, cs in groups)


def parse_listing(text: str) -> list[tuple[str, list[str]]]:
    """A listing back into (label as written, colours): the inverse of `_listing` on a think text."""
    return [(m.group(1), m.group(2).split()) for m in _LISTED.finditer(text)]


_LISTED = re.compile(
    r"(\d+(?:\.\d+)?)s ((?:" + "|".join(PALETTE) + r")(?: (?:" + "|".join(PALETTE) + r"))*)\b"
)


def _num(x: float) -> float:
    return float(round(x, 1))


class OracleTeacher:
    """Callable handler: `OpenAIStubServer(OracleTeacher())`."""

    def __call__(self, body: dict):
        messages = body.get("messages", [])
        user = next(m for m in messages if m.get("role") == "user")
        tool_msgs = [
            m for m in messages if m.get("role") == "tool" or "<tool_response>" in _text(m.get("content"))
        ]
        asked = _ASKED.search(_text(user["content"]).split("The video is", 1)[-1])
        if asked is None:
            return "<think>I cannot tell which scene is asked about.</think><answer>unknown</answer>"
        colour = asked.group(1)
        if not tool_msgs:
            skim = read_groups(user["content"])
            frames = [(i, c) for i, c in enumerate(c for _, cs in skim for c in cs)]
            seen = [i for i, c in frames if c == colour]
            if not seen:
                return f"<think>No {colour} scene in the skim.</think><answer>unknown</answer>"
            times = _skim_times(_text(user["content"]))
            # the frame's own time: its label for Qwen2.5-VL; for Qwen3-VL the skim text's list (a label is a mean)
            t = times[seen[0]] if len(times) == len(frames) else skim[seen[0]][0]
            k = int(t // SCENE_SECONDS)
            args = {"start_time": _num(k * SCENE_SECONDS), "end_time": _num((k + 1) * SCENE_SECONDS)}
            # The skim is read up to the asked scene and no further: the window then follows from the last
            # timestamp written, a few tokens back (a lookup of the match in a full listing is an induction step a
            # tiny student learns late: with it, 1,000 steps named the wrong scene on most held-out questions).
            upto, left = [], seen[0] + 1
            for stamp, cs in skim:
                if left <= 0:
                    break
                upto.append((stamp, cs[:left]))
                left -= len(cs)
            return {
                "content": (
                    f"<think>Asked: {colour}. Skim: {_listing(upto)}: found. "
                    f"Crop {args['start_time']:g}-{args['end_time']:g}s.</think>"
                ),
                "tool_calls": [{"function": {"name": "crop_video", "arguments": args}}],
            }
        crop = read_groups(tool_msgs[-1]["content"])
        flashes = [c for _, cs in crop for c in cs if c in FLASH_COLOURS]
        if not flashes:
            return f"<think>Crop: {_listing(crop)}. No flash.</think><answer>unknown</answer>"
        return (
            f"<think>Crop: {_listing(crop)}. The flash is {flashes[0]}.</think><answer>{flashes[0]}</answer>"
        )
