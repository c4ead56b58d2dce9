"""Support for the agent / backend / viewer / ask tests (no tests here): a scripted policy speaking OpenAI."""

from __future__ import annotations

import base64
import io
import json

import numpy as np
from PIL import Image


def tool_messages(body: dict) -> list[dict]:
    return [m for m in body["messages"] if m["role"] == "tool"]


def crop_then_answer(start: float, end: float, answer: str):
    """Policy script: crop [start, end] on the first request, answer once a tool result came back."""

    def handler(body: dict):
        if not tool_messages(body):
            return {
                "content": "<think>The skim is too sparse around that moment; look closer.</think>",
                "tool_calls": [
                    {
                        "id": "call_crop_1",
                        "function": {
                            "name": "crop_video",
                            "arguments": {"start_time": start, "end_time": end},
                        },
                    }
                ],
            }
        return f"<think>The cropped frames show it.</think><answer>{answer}</answer>"

    return handler


def images_after_labels(content: list[dict]) -> list[tuple[float, np.ndarray]]:
    """(timestamp, pixels) for every image_url part that follows a "<t s>" text part in an OpenAI message."""
    out, label = [], None
    for part in content:
        if part["type"] == "text" and part["text"].startswith("<") and part["text"].endswith("s>"):
            label = float(part["text"][1:-2])
        elif part["type"] == "image_url":
            url = part["image_url"]["url"]
            assert url.startswith("data:image/png;base64,"), url[:40]
            pixels = np.asarray(Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))).convert("RGB"))
            out.append((label, pixels))
            label = None
    return out


def full_completion(content: str | None, tool_calls: list[dict] | None, completion_tokens: int) -> dict:
    """A complete chat.completion body with the usage we choose (to test the token budget exactly)."""
    message: dict = {"role": "assistant", "content": content}
    if tool_calls:
        message["tool_calls"] = [
            {
                "id": c.get("id", f"call_{i}"),
                "type": "function",
                "function": {"name": c["name"], "arguments": json.dumps(c["arguments"])},
            }
            for i, c in enumerate(tool_calls)
        ]
    return {
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "created": 0,
        "model": "scripted",
        "choices": [
            {"index": 0, "message": message, "finish_reason": "tool_calls" if tool_calls else "stop"}
        ],
        "usage": {
            "prompt_tokens": 10,
            "completion_tokens": completion_tokens,
            "total_tokens": 10 + completion_tokens,
        },
    }
