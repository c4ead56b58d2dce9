"""The miniature teacher: an OpenAI-protocol handler (for `OpenAIStubServer`) that plays LongVT's teacher model.

It answers only from what the request really holds: it decodes the skim frames it was sent, finds the one whose
colour the question names, crops that frame's scene, then names the flash colour it finds in the frames the crop
returned. A crop that returned the wrong frames gives a wrong (or no) answer, which the traces stage rejects.
The only task knowledge it has is the scene grid (`SCENE_SECONDS`), which is what a student must infer.
"""

from __future__ import annotations

import base64
import io
import re

import numpy as np

from longvt_plugins.miniature.task import FLASH_COLOURS, SCENE_COLOURS, SCENE_SECONDS, nearest_colour

_LABEL = re.compile(r"^<([\d.]+)s>$")
_ASKED = re.compile(r"\b(" + "|".join(SCENE_COLOURS) + r")\b")


def _colour(url: str) -> str:
    from PIL import Image

    raw = base64.b64decode(url.split(",", 1)[1])
    return nearest_colour(np.asarray(Image.open(io.BytesIO(raw)).convert("RGB")))


def _frames(content) -> list[tuple[float, str]]:
    """(timestamp, colour) of every image part that follows a "<t s>" label."""
    out, stamp = [], None
    for p in content if isinstance(content, list) else []:
        if p.get("type") == "text":
            m = _LABEL.match(p.get("text", "").strip())
            stamp = float(m.group(1)) if m else stamp
        elif p.get("type") == "image_url" and stamp is not None:
            out.append((stamp, _colour(p["image_url"]["url"])))
    return out


def _text(content) -> str:
    if isinstance(content, str):
        return content
    return "".join(p.get("text", "") for p in content or [] if p.get("type") == "text")


def _listing(frames: list[tuple[float, str]]) -> str:
    """What the teacher saw, frame by frame ("0s red, 18s blue, ..."): the think text names every frame's colour,
    so the student learns to read each frame (dense supervision) before it picks one, instead of having to
    discover the colour -> timestamp lookup from the crop arguments alone."""
    return ", ".join(f"{t:g}s {c}" for t, c in frames)


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
            skim = _frames(user["content"])
            seen = [t for t, c in skim if c == colour]
            if not seen:
                return f"<think>No {colour} scene in the skim.</think><answer>unknown</answer>"
            t = seen[0]
            k = int(t // SCENE_SECONDS)
            args = {"start_time": _num(k * SCENE_SECONDS), "end_time": _num((k + 1) * SCENE_SECONDS)}
            # The skim is read up to the asked scene and no further: the window then follows from the last
            # timestamp written, a few tokens back (a lookup of the match in a full listing is an induction step a
            # tiny student learns late: with it, 1,000 steps named the wrong scene on most held-out questions).
            upto = skim[: next(i for i, (_, c) in enumerate(skim) if c == colour) + 1]
            return {
                "content": (
                    f"<think>Asked: {colour}. Skim: {_listing(upto)}: found. "
                    f"Crop {args['start_time']:g}-{args['end_time']:g}s.</think>"
                ),
                "tool_calls": [{"function": {"name": "crop_video", "arguments": args}}],
            }
        crop = _frames(tool_msgs[-1]["content"])
        flashes = [c for _, c in crop if c in FLASH_COLOURS]
        if not flashes:
            return f"<think>Crop: {_listing(crop)}. No flash.</think><answer>unknown</answer>"
        return (
            f"<think>Crop: {_listing(crop)}. The flash is {flashes[0]}.</think><answer>{flashes[0]}</answer>"
        )
