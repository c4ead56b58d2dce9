"""Hermes tool calls as Qwen2.5-VL / Qwen3-VL write them: `<tool_call>{"name": ..., "arguments": {...}}</tool_call>`.

Parsing is json only (never eval). Whatever cannot be understood becomes an entry in `errors`: a sentence the
model can read in the next turn, never an exception. Rendering matches our chat template byte for byte, so a
rendered call tokenizes exactly like the template's rendering of the same assistant message.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "ToolCall",
    "ParsedToolCalls",
    "parse_tool_calls",
    "render_tool_call",
    "render_tool_response",
    "render_tool_turn",
    "tool_response_parts",
    "TOOL_CALL_OPEN",
    "TOOL_CALL_CLOSE",
]

TOOL_CALL_OPEN = "<tool_call>"
TOOL_CALL_CLOSE = "</tool_call>"
TOOL_RESPONSE_OPEN = "<tool_response>"
TOOL_RESPONSE_CLOSE = "</tool_response>"
_BLOCK = re.compile(r"<tool_call>(.*?)(?:</tool_call>|$)", re.DOTALL)
_PREVIEW = 80


def _new_id() -> str:
    return "call_" + uuid.uuid4().hex[:16]


@dataclass
class ToolCall:
    name: str
    arguments: dict[str, Any]
    id: str = field(default_factory=_new_id)

    def to_openai(self) -> dict[str, Any]:
        """The OpenAI chat `tool_calls` entry (arguments as a JSON string, as the API sends them)."""
        return {
            "id": self.id,
            "type": "function",
            "function": {"name": self.name, "arguments": json.dumps(self.arguments, ensure_ascii=False)},
        }

    @classmethod
    def from_openai(cls, entry: dict[str, Any]) -> ToolCall:
        """From an OpenAI `tool_calls` entry. Raises ValueError with a readable message on bad input."""
        fn = entry.get("function", entry)
        args = _arguments(fn.get("arguments", {}))
        if not isinstance(fn.get("name"), str) or not fn["name"]:
            raise ValueError("tool call has no function name")
        return cls(fn["name"], args, entry.get("id") or _new_id())


@dataclass
class ParsedToolCalls:
    calls: list[ToolCall]
    errors: list[str]  # one sentence per block that could not be used, written for the model
    content: str  # the message text with the tool-call blocks taken out


def _preview(text: str) -> str:
    text = text.strip()
    return text if len(text) <= _PREVIEW else text[: _PREVIEW - 3] + "..."


def _arguments(raw: Any) -> dict[str, Any]:
    if isinstance(raw, str):
        raw = json.loads(raw) if raw.strip() else {}
    if not isinstance(raw, dict):
        raise ValueError(f'"arguments" must be a JSON object, got {type(raw).__name__}')
    return raw


def _decode(body: str) -> Any:
    """json.loads, tolerating surrounding whitespace, a ```json fence, and stray closing braces after the object
    (a frequent small-model slip), but nothing else."""
    text = body.strip()
    if text.startswith("```"):
        text = re.sub(r"^```(?:json)?\s*|\s*```$", "", text)
    obj, end = json.JSONDecoder().raw_decode(text)
    rest = text[end:].strip()
    if rest.strip("}"):
        raise json.JSONDecodeError("unexpected text after the JSON object", text, end)
    return obj


def parse_tool_calls(text: str, *, closed_only: bool = False) -> ParsedToolCalls:
    """Every `<tool_call>` block in `text`, in order. An unterminated final block (generation stopped at
    `</tool_call>` or ran out of tokens) is still parsed if its JSON is complete, unless `closed_only`: reading
    back a finished transcript, only closed blocks are calls the environment was handed."""
    if not isinstance(text, str):
        return ParsedToolCalls([], [f"expected the message text, got {type(text).__name__}"], "")
    calls: list[ToolCall] = []
    errors: list[str] = []
    for n, m in enumerate(_BLOCK.finditer(text), start=1):
        body = m.group(1)
        closed = m.group(0).endswith(TOOL_CALL_CLOSE)
        if closed_only and not closed:
            continue
        where = f"tool call {n}"
        try:
            payload = _decode(body)
        except (ValueError, RecursionError) as e:
            hint = "" if closed else " (the block has no closing </tool_call>)"
            errors.append(f"{where} is not valid JSON{hint}: {e}. It was: {_preview(body)}")
            continue
        if not isinstance(payload, dict):
            errors.append(f'{where} must be a JSON object with "name" and "arguments", got: {_preview(body)}')
            continue
        name = payload.get("name")
        if not isinstance(name, str) or not name.strip():
            errors.append(f'{where} has no "name" (a string naming the function): {_preview(body)}')
            continue
        raw_args = payload.get("arguments", payload.get("parameters", {}))
        try:
            args = _arguments(raw_args)
        except (ValueError, RecursionError) as e:
            errors.append(f'{where} ({name}): "arguments" is not a JSON object ({e}).')
            continue
        calls.append(ToolCall(name.strip(), args, str(payload.get("id") or _new_id())))
    content = _BLOCK.sub("", text).strip()
    return ParsedToolCalls(calls, errors, content)


def render_tool_call(call: ToolCall) -> str:
    """`<tool_call>\\n{"name": ..., "arguments": ...}\\n</tool_call>`, exactly as our chat template writes it."""
    args = json.dumps(call.arguments, ensure_ascii=False)
    return f'{TOOL_CALL_OPEN}\n{{"name": {json.dumps(call.name, ensure_ascii=False)}, "arguments": {args}}}\n{TOOL_CALL_CLOSE}'


def render_tool_response(text: str) -> str:
    """One `<tool_response>` block; images, if any, are placed inside by the chat template / processor."""
    return f"{TOOL_RESPONSE_OPEN}\n{text}\n{TOOL_RESPONSE_CLOSE}"


def tool_response_parts(parts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A multimodal tool response as OpenAI content parts (text and frames), wrapped like `render_tool_response`:
    for servers that read tool calls from hermes text and so get tool results as a user turn."""
    return [
        {"type": "text", "text": TOOL_RESPONSE_OPEN + "\n"},
        *parts,
        {"type": "text", "text": "\n" + TOOL_RESPONSE_CLOSE},
    ]


def render_tool_turn(texts: list[str]) -> str:
    """A whole tool turn as the Qwen templates put it: a user turn holding one block per tool response."""
    body = "".join("\n" + render_tool_response(t) for t in texts)
    return f"<|im_start|>user{body}<|im_end|>\n"
