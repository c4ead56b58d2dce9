"""The one trace format: what the agent saw, said and did, for eval samples, pipeline traces and the viewer.

Frames are referenced by key and timestamp ("skim@12.000", "crop2@31.500"), never embedded as pixels, so a trace
of a 128-frame run stays a few kB. Optional `thumbnails` (small JPEG data URIs keyed by the same frame keys) exist
only so the HTML viewer can show what the model looked at without the video at hand.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from longvt_plugins.core.toolcall import ToolCall, render_tool_call, render_tool_response

TRACE_SCHEMA_VERSION = "longvt.trace/v1"

# Why a run ended. "answer" is the only success; everything else says which limit or failure stopped it.
STOP_REASONS = (
    "answer",  # the model gave an <answer> in a turn without tool calls
    "no_answer",  # the model stopped without a tool call and without an <answer>
    "max_turns",  # the turn cap was reached while the model was still calling tools
    "token_budget",  # the total generated-token budget was spent
    "length",  # one turn hit its max_new_tokens and had nothing to act on
    "context_exhausted",  # the next request could not fit the server's context / image limit (not a failure)
    "backend_error",  # the model server / in-process model failed; `error` says how
    "video_error",  # the video could not be probed or skimmed; `error` says why
)


def frame_key(source: str, timestamp: float) -> str:
    """The stable name of one frame in a trace: where it came from and when it is in the video."""
    return f"{source}@{timestamp:.3f}"


@dataclass
class CropRecord:
    """One crop_video call: what the model asked for, what window was sampled, which frames came back."""

    index: int  # 1-based, in call order over the whole trace
    turn: int  # the assistant turn that made the call
    call_id: str
    arguments: dict[str, Any]  # as the model wrote them (after JSON parsing)
    ok: bool
    start: float | None = None  # the window actually sampled (None when the call failed)
    end: float | None = None
    timestamps: list[float] = field(default_factory=list)
    text: str = ""  # the text part of the tool response the model read
    error: str | None = None
    elapsed_s: float = 0.0
    notes: list[str] = field(
        default_factory=list
    )  # what the tool noticed (e.g. a video_path it did not open)


@dataclass
class TurnRecord:
    """One assistant turn and the tool work it caused."""

    index: int  # 1-based
    content: str  # the reasoning/answer text, tool-call markup removed
    raw_text: str  # exactly what the model produced (hermes <tool_call> text included)
    tool_calls: list[dict[str, Any]] = field(default_factory=list)  # {"id", "name", "arguments"}
    tool_call_errors: list[str] = field(default_factory=list)
    call_format: str = "none"  # "native" (server tool_calls), "hermes" (<tool_call> text) or "none"
    finish_reason: str = "stop"
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    generate_s: float = 0.0
    tool_s: float = 0.0
    crops: list[int] = field(default_factory=list)  # CropRecord.index values made in this turn
    frames: list[float] = field(default_factory=list)  # timestamps of frames returned after this turn


@dataclass
class Trace:
    question: str
    video: dict[str, Any]  # path, duration, fps, width, height (the probe)
    skim: dict[str, Any]  # timestamps (list), elapsed_s, and the budget used
    messages: list[dict[str, Any]]  # the full conversation; images as {"type": "image", "frame", "timestamp"}
    turns: list[TurnRecord]
    crops: list[CropRecord]
    stop_reason: str
    final_answer: str | None = None
    ground_truth: str | None = None
    score: dict[str, Any] | None = None  # {"score", "correct", "method", "fallback", "reason"}
    error: str | None = None
    style: str = "tool"
    backend: dict[str, Any] = field(default_factory=dict)  # name, model, and what identifies the weights
    budgets: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)  # total_s, skim_s, generate_s, tool_s
    thumbnails: dict[str, str] = field(default_factory=dict)  # frame key -> data:image/jpeg;base64,...
    meta: dict[str, Any] = field(default_factory=dict)
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    created_at: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))
    schema: str = TRACE_SCHEMA_VERSION

    # -------------------------------------------------------------------------------------------- derived
    @property
    def usage(self) -> dict[str, int]:
        return {
            "prompt_tokens": sum(t.prompt_tokens or 0 for t in self.turns),
            "completion_tokens": sum(t.completion_tokens or 0 for t in self.turns),
        }

    @property
    def crop_windows(self) -> list[tuple[float, float]]:
        return [(c.start, c.end) for c in self.crops if c.ok and c.start is not None and c.end is not None]

    @property
    def frames_seen(self) -> int:
        return len(self.skim.get("timestamps", [])) + sum(len(c.timestamps) for c in self.crops)

    # -------------------------------------------------------------------------------------------- JSON
    def to_dict(self, *, thumbnails: bool = True) -> dict[str, Any]:
        d = asdict(self)
        d["usage"] = self.usage
        if not thumbnails:
            d["thumbnails"] = {}
        return d

    def to_json(self, *, indent: int | None = None, thumbnails: bool = True) -> str:
        return json.dumps(self.to_dict(thumbnails=thumbnails), indent=indent, ensure_ascii=False)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Trace:
        if not isinstance(d, dict):
            raise TraceFormatError(f"a trace is a JSON object, got {type(d).__name__}")
        schema = d.get("schema")
        if schema != TRACE_SCHEMA_VERSION:
            raise TraceFormatError(f"not a {TRACE_SCHEMA_VERSION} trace (schema={schema!r})")
        known = {f.name for f in fields(cls)}
        missing = [
            k
            for k in ("question", "video", "skim", "messages", "turns", "crops", "stop_reason")
            if k not in d
        ]
        if missing:
            raise TraceFormatError(f"trace is missing {', '.join(missing)}")
        kw = {k: v for k, v in d.items() if k in known}
        try:
            kw["turns"] = [TurnRecord(**t) for t in d["turns"]]
            kw["crops"] = [CropRecord(**c) for c in d["crops"]]
        except TypeError as exc:
            raise TraceFormatError(f"malformed turn or crop record: {exc}") from exc
        return cls(**kw)

    @classmethod
    def from_json(cls, text: str | bytes | dict[str, Any]) -> Trace:
        if isinstance(text, dict):
            return cls.from_dict(text)
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise TraceFormatError(f"trace is not valid JSON: {exc}") from exc
        return cls.from_dict(data)

    def save(self, path: str | Path, *, thumbnails: bool = True) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".partial")
        tmp.write_text(self.to_json(indent=1, thumbnails=thumbnails))
        tmp.replace(path)  # atomic: a crash never leaves half a trace behind
        return path

    @classmethod
    def load(cls, path: str | Path) -> Trace:
        return cls.from_json(Path(path).read_text())


def transcript(trace: Any) -> str:
    """The assistant side of a trace as one string, in the shape the format check and answer parser read.

    One definition for eval scoring (lmms_eval) and the pipeline's format check on teacher traces.

    Each turn's text, its tool calls rendered by `core.toolcall` as the chat template writes them, and the tool's reply
    text as a `<tool_response>` block (the frames themselves are not text). Tool calls are re-rendered from the parsed
    calls, so a server's native tool_calls and in-process hermes text give the same transcript.
    """
    crops = {c.index: c for c in trace.crops}
    parts: list[str] = []
    for turn in trace.turns:
        text = (turn.content or "").strip()
        if text:
            parts.append(text)
        for call in turn.tool_calls:
            parts.append(render_tool_call(ToolCall(call.get("name"), call.get("arguments"))))
        replies = [crops[i] for i in turn.crops if i in crops]
        for error in turn.tool_call_errors:
            parts.append(render_tool_response(str(error)))
        for crop in replies:
            body = crop.text if crop.ok else f"Error: {crop.error or crop.text}"
            parts.append(render_tool_response(body))
    return "\n".join(parts)


class TraceFormatError(ValueError):
    """A file or object that is not a trace of this schema version."""


_NUM = {"type": "number"}
_OPT_NUM = {"type": ["number", "null"]}
_OPT_INT = {"type": ["integer", "null"]}
_OPT_STR = {"type": ["string", "null"]}
_STRS = {"type": "array", "items": {"type": "string"}}
_NUMS = {"type": "array", "items": _NUM}

# JSON Schema (draft 2020-12) of Trace.to_dict(); tests validate real traces against it.
TRACE_JSON_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "https://longvt-plugins/schemas/trace-v1.json",
    "title": "LongVT agent trace",
    "type": "object",
    "required": [
        "schema",
        "id",
        "created_at",
        "question",
        "video",
        "skim",
        "messages",
        "turns",
        "crops",
        "stop_reason",
        "final_answer",
        "usage",
        "timings",
        "budgets",
        "backend",
        "style",
    ],
    "properties": {
        "schema": {"const": TRACE_SCHEMA_VERSION},
        "id": {"type": "string", "minLength": 1},
        "created_at": {"type": "string"},
        "question": {"type": "string"},
        "video": {
            "type": "object",
            "required": ["path", "duration"],
            "properties": {"path": {"type": "string"}, "duration": _OPT_NUM, "fps": _OPT_NUM},
        },
        "skim": {
            "type": "object",
            "required": ["timestamps"],
            "properties": {"timestamps": _NUMS, "elapsed_s": _NUM},
        },
        "messages": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["role", "content"],
                "properties": {
                    "role": {"enum": ["system", "user", "assistant", "tool"]},
                    "content": {
                        "anyOf": [
                            {"type": "string"},
                            {
                                "type": "array",
                                "items": {
                                    "oneOf": [
                                        {
                                            "type": "object",
                                            "required": ["type", "text"],
                                            "properties": {
                                                "type": {"const": "text"},
                                                "text": {"type": "string"},
                                            },
                                        },
                                        {
                                            "type": "object",
                                            "required": ["type", "frame", "timestamp"],
                                            "properties": {
                                                "type": {"const": "image"},
                                                "frame": {"type": "string"},
                                                "timestamp": _NUM,
                                            },
                                            "not": {"required": ["image"]},  # no pixels inside messages
                                        },
                                    ]
                                },
                            },
                        ]
                    },
                    "tool_calls": {"type": "array"},
                    "tool_call_id": {"type": "string"},
                },
            },
        },
        "turns": {
            "type": "array",
            "items": {
                "type": "object",
                "required": [
                    "index",
                    "content",
                    "raw_text",
                    "tool_calls",
                    "finish_reason",
                    "prompt_tokens",
                    "completion_tokens",
                    "generate_s",
                    "tool_s",
                    "crops",
                    "frames",
                ],
                "properties": {
                    "index": {"type": "integer", "minimum": 1},
                    "content": {"type": "string"},
                    "raw_text": {"type": "string"},
                    "tool_calls": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["id", "name", "arguments"],
                            "properties": {"id": {"type": "string"}, "name": {"type": "string"}},
                        },
                    },
                    "tool_call_errors": _STRS,
                    "call_format": {"enum": ["native", "hermes", "none"]},
                    "finish_reason": {"type": "string"},
                    "prompt_tokens": _OPT_INT,
                    "completion_tokens": _OPT_INT,
                    "generate_s": _NUM,
                    "tool_s": _NUM,
                    "crops": {"type": "array", "items": {"type": "integer"}},
                    "frames": _NUMS,
                },
            },
        },
        "crops": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["index", "turn", "call_id", "arguments", "ok", "start", "end", "timestamps"],
                "properties": {
                    "index": {"type": "integer", "minimum": 1},
                    "turn": {"type": "integer", "minimum": 1},
                    "call_id": {"type": "string"},
                    "arguments": {"type": "object"},
                    "ok": {"type": "boolean"},
                    "start": _OPT_NUM,
                    "end": _OPT_NUM,
                    "timestamps": _NUMS,
                    "text": {"type": "string"},
                    "error": _OPT_STR,
                    "elapsed_s": _NUM,
                    "notes": {"type": "array", "items": {"type": "string"}},
                },
            },
        },
        "stop_reason": {"enum": list(STOP_REASONS)},
        "final_answer": _OPT_STR,
        "ground_truth": _OPT_STR,
        "score": {
            "type": ["object", "null"],
            "properties": {
                "score": _NUM,
                "correct": {"type": ["boolean", "null"]},
                "method": {"type": "string"},
            },
        },
        "error": _OPT_STR,
        "style": {"type": "string"},
        "backend": {"type": "object"},
        "budgets": {"type": "object"},
        "timings": {"type": "object", "additionalProperties": _NUM},
        "usage": {
            "type": "object",
            "required": ["prompt_tokens", "completion_tokens"],
            "properties": {"prompt_tokens": {"type": "integer"}, "completion_tokens": {"type": "integer"}},
        },
        "thumbnails": {
            "type": "object",
            "additionalProperties": {"type": "string", "pattern": "^data:image/(jpeg|png);base64,"},
        },
        "meta": {"type": "object"},
    },
}
