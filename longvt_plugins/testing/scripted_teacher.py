"""A scripted "teacher" for `OpenAIStubServer`: answers every pipeline request from what the request really holds.

It is how tests (and `longvt pipeline` demos without a GPU) run every stage over real HTTP: it reads the frames a
stage sends (decoding the JPEGs) and names the scene by its background brightness, which is what our synthetic
videos (`longvt_plugins.testing.videos`) make unique per scene. So a caption only comes out right if the right
clip's frames reached the request, and an agent's answer only if its crop really returned frames of the asked
window. It knows nothing else about any video.

Request kinds are told apart by the pipeline prompt they carry; `bad_qa_for` names QA requests to answer with
text that is not JSON (to exercise failure records).
"""

from __future__ import annotations

import base64
import io
import json
import re

import numpy as np

from longvt_plugins.core.prompts import load_prompt

# Background grey levels of the synthetic videos' scenes (testing/videos.py `_BACKGROUNDS`).
BACKGROUNDS = (20, 150, 60, 200, 35, 120, 240, 90)


def scene_label(level: int) -> str:
    return f"background {level}"


def frame_level(url: str) -> int:
    """The scene background of one data-URL frame: median grey of a band above the shape and below the text."""
    from PIL import Image

    raw = base64.b64decode(url.split(",", 1)[1])
    img = np.asarray(Image.open(io.BytesIO(raw)).convert("L"), dtype=np.float32)
    h = img.shape[0]
    band = img[int(h * 0.15) : max(int(h * 0.15) + 1, int(h * 0.22)), :]
    value = float(np.median(band))
    return min(BACKGROUNDS, key=lambda b: abs(b - value))


def _images(messages: list[dict]) -> list[str]:
    urls = []
    for m in messages:
        content = m.get("content")
        if isinstance(content, list):
            for p in content:
                if isinstance(p, dict) and p.get("type") == "image_url":
                    urls.append(p["image_url"]["url"])
    return urls


def _text(messages: list[dict]) -> str:
    out = []
    for m in messages:
        c = m.get("content")
        if isinstance(c, str):
            out.append(c)
        elif isinstance(c, list):
            out.extend(p.get("text", "") for p in c if isinstance(p, dict))
    return "\n".join(out)


_EVENT = re.compile(r"Video_event (\d+) \[([\d.]+) - ([\d.]+)\]: (.*)")
_LABEL = re.compile(r"background (\d+)")


class ScriptedTeacher:
    """Callable handler: `OpenAIStubServer(ScriptedTeacher())`."""

    def __init__(self, bad_qa_for: set[str] | None = None):
        self.bad_qa_for = set(bad_qa_for or ())
        self.prompts = {
            k: load_prompt(f"pipeline_{k}")[:60] for k in ("caption", "merge_same_event", "summary", "qa")
        }
        self.prompts["filter_text"] = load_prompt("pipeline_filter_text")[:60]
        self.prompts["filter_vl"] = load_prompt("pipeline_filter_vl")[:60]

    def __call__(self, body: dict):
        messages = body.get("messages", [])
        text = _text(messages)
        if body.get("tools") or any(m.get("role") == "tool" for m in messages):
            return self._agent(messages, text)
        if self.prompts["caption"] in text:
            levels = [frame_level(u) for u in _images(messages)]
            level = max(set(levels), key=levels.count)
            return f"A {scene_label(level)} scene with a coloured shape drifting to the right."
        if self.prompts["merge_same_event"] in text:
            a, b = (_LABEL.findall(text) + ["?", "?"])[:2]
            return "yes" if a == b else "no"
        if self.prompts["summary"] in text:
            return "A synthetic video of shapes on backgrounds of changing brightness."
        if self.prompts["qa"] in text:
            events = _EVENT.findall(text)
            label = _LABEL.search(events[0][3]).group(0)
            if label in self.bad_qa_for:
                return "Sure! Here is a great question about the video (sorry, no JSON today)."
            s, e = float(events[0][1]), float(events[0][2])
            q = f"Which background level is shown at the start of the part of the video from {s:g} to {e:g} seconds?"
            return json.dumps({"question": q, "answer": label, "start_time": s, "end_time": e})
        if self.prompts["filter_text"] in text:
            pairs = json.loads(text.split("Pairs: ", 1)[1].strip())
            verdicts = [
                {"id": p["id"], "keep": True, "reason": "specific", "rank": i + 1}
                for i, p in enumerate(pairs)
            ]
            return json.dumps({"verdicts": verdicts})
        if self.prompts["filter_vl"] in text:
            levels = [frame_level(u) for u in _images(messages)]
            answer = _LABEL.search(text.split("Answer:", 1)[1]).group(0)
            return "0.95" if scene_label(levels[0]) == answer else "0.2"
        return "I do not know this request."

    def _agent(self, messages: list[dict], text: str):
        """Turn 1: crop the window the question names. Turn 2: answer from the crop's first frame."""
        if not any(m.get("role") == "tool" for m in messages):
            m = re.search(r"from ([\d.]+) to ([\d.]+) seconds", text)
            s, e = (float(m.group(1)), float(m.group(2))) if m else (0.0, 2.0)
            call = {
                "function": {
                    "name": "crop_video",
                    "arguments": {"start_time": s, "end_time": min(e, s + 4.0)},
                }
            }
            return {"content": "<think>I need a closer look at that part.</think>", "tool_calls": [call]}
        tool_idx = max(i for i, m in enumerate(messages) if m.get("role") == "tool")
        crop_images = _images(messages[tool_idx:])
        if not crop_images:
            return "<think>The crop returned nothing.</think><answer>unknown</answer>"
        level = frame_level(crop_images[0])
        return f"<think>The cropped frames show the scene.</think><answer>{scene_label(level)}</answer>"
