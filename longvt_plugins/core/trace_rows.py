"""Read one SFT/RFT trace row (our schema, LongVT's released rows, or lmms-engine's own) into a checked form.

Nothing here decodes media or imports a host framework: this is the cheap validation that runs before any
video is opened, so a malformed row is reported with its id and never costs a decode (or a crash mid-epoch).
The schema is documented in data/schemas/sft_trace.md.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from longvt_plugins.core.crop_tool import ARGUMENT_NAMES, CROP_VIDEO_NAME, CROP_VIDEO_SCHEMA
from longvt_plugins.core.toolcall import parse_tool_calls

ROLES = ("system", "user", "assistant", "tool")
# Keys of a video part that are sampling settings for that one video (anything else is ignored).
VIDEO_OPTION_KEYS = ("fps", "min_frames", "max_frames", "min_pixels", "max_pixels", "total_pixels")


class BadRow(ValueError):
    """A row that cannot become a training sample. `row_id` says which one; the message says why."""

    def __init__(self, row_id: str, reason: str):
        super().__init__(f"row {row_id}: {reason}")
        self.row_id = row_id
        self.reason = reason


@dataclass
class ImageRef:
    url: str  # a path (joined with the dataset's data_folder) or a data: URL


@dataclass
class VideoRef:
    url: str
    start: float | None = None  # a sub-clip: seconds into the video
    end: float | None = None
    options: dict[str, Any] = field(default_factory=dict)  # per-video sampling settings (VIDEO_OPTION_KEYS)
    # Present the video as the agent does at eval time: a "<t s>" text label before each sampled frame image,
    # instead of one native video part (docs/architecture.md, "How the model sees a video").
    as_frames: bool = False


@dataclass
class CropReplay:
    """A tool turn whose frames are re-made by running the crop tool on the call the assistant made."""

    video: str
    arguments: dict[str, Any]
    budget: dict[str, Any] | None = None  # the crop budget the trace was made with (FrameBudget fields)


@dataclass
class TraceRow:
    row_id: str
    # Messages in the chat template's input form. Media parts are placeholders {"type": "image"|"video", "ref": i}
    # indexing `media`; a replayed tool turn has content None until the crop tool has been run.
    messages: list[dict[str, Any]]
    media: list[ImageRef | VideoRef | CropReplay]
    tools: list[dict[str, Any]] | None = None

    @property
    def videos(self) -> list[str]:
        return [m.url for m in self.media if isinstance(m, VideoRef)]


def row_id_of(row: dict[str, Any], fallback: str) -> str:
    rid = row.get("id") if isinstance(row, dict) else None
    return str(rid) if rid not in (None, "") else fallback


def _loads(value: Any, what: str, rid: str) -> Any:
    if isinstance(value, str | bytes):
        try:
            return json.loads(value)
        except json.JSONDecodeError as e:
            raise BadRow(rid, f"{what} is not valid JSON ({e.msg} at char {e.pos})") from None
    return value


def _clean(d: Any) -> Any:
    """Drop the None fields Arrow adds when rows with different part shapes share one struct column."""
    if isinstance(d, dict):
        return {k: _clean(v) for k, v in d.items() if v is not None}
    if isinstance(d, list):
        return [_clean(v) for v in d]
    return d


def _parse_arguments(raw: Any, rid: str, where: str) -> dict[str, Any]:
    args = raw
    if isinstance(raw, str):
        try:
            args = json.loads(raw) if raw.strip() else {}
        except json.JSONDecodeError as e:
            raise BadRow(rid, f"{where}: tool-call arguments are not valid JSON ({e.msg})") from None
    if not isinstance(args, dict):
        raise BadRow(rid, f"{where}: tool-call arguments must be a JSON object, got {type(args).__name__}")
    return args


def _canonical_tools(tools: list[Any]) -> list[Any]:
    """Our crop_video schema in its defined key order, whatever order the row stored it in.

    The chat template renders `tool | tojson` without sorting, and a JSONL written with sorted keys (the
    pipeline's store does this) would otherwise show the model a different tools block than RL and eval do.
    """
    return [CROP_VIDEO_SCHEMA if t == CROP_VIDEO_SCHEMA else t for t in tools]


def _ordered_arguments(name: str, args: dict[str, Any]) -> dict[str, Any]:
    """crop_video arguments as the schema lists them (start_time, end_time), the order the template writes."""
    if name != CROP_VIDEO_NAME:
        return args
    return {**{k: args[k] for k in ARGUMENT_NAMES if k in args}, **args}


def _structured_calls(msg: dict[str, Any], rid: str, where: str) -> list[dict[str, Any]]:
    raw = msg.get("tool_calls") or []
    if not isinstance(raw, list):
        raise BadRow(rid, f"{where}: tool_calls must be a list, got {type(raw).__name__}")
    calls = []
    for j, call in enumerate(raw):
        fn = call.get("function", call) if isinstance(call, dict) else None
        if not isinstance(fn, dict) or not fn.get("name"):
            raise BadRow(rid, f"{where}: tool_calls[{j}] has no function name")
        args = _parse_arguments(fn.get("arguments", {}), rid, f"{where} tool_calls[{j}]")
        args = _ordered_arguments(fn["name"], args)
        calls.append({"type": "function", "function": {"name": fn["name"], "arguments": args}})
    return calls


def _inline_calls(text: str, rid: str, where: str) -> list[dict[str, Any]]:
    """Hermes <tool_call> blocks written inline in assistant text (LongVT's released rows do this)."""
    if "<tool_call>" not in text:
        return []
    parsed = parse_tool_calls(text)
    if parsed.errors:
        raise BadRow(rid, f"{where}: malformed <tool_call>: {parsed.errors[0]}")
    return [
        {"type": "function", "function": {"name": c.name, "arguments": dict(c.arguments)}}
        for c in parsed.calls
    ]


def _part(p: Any, rid: str, where: str, media: list, role: str) -> dict[str, Any]:
    if isinstance(p, str):
        return {"type": "text", "text": p}
    if not isinstance(p, dict):
        raise BadRow(rid, f"{where}: a content part must be an object or a string, got {type(p).__name__}")
    kind = p.get("type") or next(
        (k for k in ("text", "image_url", "image", "video_url", "video") if k in p), None
    )
    if kind == "text":
        if not isinstance(p.get("text"), str):
            raise BadRow(rid, f"{where}: text part without a string 'text'")
        return {"type": "text", "text": p["text"]}
    if kind in ("image_url", "image"):
        src = p.get(kind)
        url = src.get("url") if isinstance(src, dict) else src
        if not isinstance(url, str) or not url:
            raise BadRow(rid, f"{where}: image part without a url")
        media.append(ImageRef(url))
        return {"type": "image", "ref": len(media) - 1}
    if kind in ("video_url", "video"):
        src = p.get(kind)
        spec = dict(src) if isinstance(src, dict) else {"url": src}
        url = spec.get("url") or spec.get("video")
        if not isinstance(url, str) or not url:
            raise BadRow(rid, f"{where}: video part without a url")
        start, end = spec.get("video_start"), spec.get("video_end")
        for name, v in (("video_start", start), ("video_end", end)):
            if v is not None and not isinstance(v, int | float):
                raise BadRow(rid, f"{where}: {name} must be a number, got {v!r}")
        if start is not None and end is not None and end <= start:
            raise BadRow(rid, f"{where}: video_end ({end}) must be greater than video_start ({start})")
        opts = {k: spec[k] for k in VIDEO_OPTION_KEYS if spec.get(k) is not None}
        media.append(VideoRef(url, start, end, opts, as_frames=bool(spec.get("as_frames"))))
        return {"type": "video", "ref": len(media) - 1}
    raise BadRow(rid, f"{where}: unknown content part type {kind!r} in a {role} turn")


def parse_row(row: dict[str, Any], row_id: str) -> TraceRow:
    """Check one row and bring it to the template's input form. Raises BadRow with the reason."""
    if not isinstance(row, dict):
        raise BadRow(row_id, f"a row must be an object, got {type(row).__name__}")
    messages = _clean(_loads(row.get("messages"), "messages", row_id))
    if not isinstance(messages, list) or not messages:
        raise BadRow(row_id, "empty conversation (no messages)")
    tools = _clean(_loads(row.get("tools"), "tools", row_id)) or None
    if tools is not None and not isinstance(tools, list):
        raise BadRow(row_id, "tools must be a list of function schemas")
    if tools:
        tools = _canonical_tools(tools)

    media: list[ImageRef | VideoRef | CropReplay] = []
    out: list[dict[str, Any]] = []
    # Calls of the last assistant turn not yet answered by a tool turn, and where that turn is.
    pending_calls: list[dict[str, Any]] = []
    caller = ""
    for i, msg in enumerate(messages):
        where = f"messages[{i}]"
        if not isinstance(msg, dict):
            raise BadRow(row_id, f"{where} is not an object")
        role = msg.get("role")
        if role not in ROLES:
            raise BadRow(row_id, f"{where}: unknown role {role!r} (expected one of {', '.join(ROLES)})")
        content = msg.get("content")
        answers_call = role == "tool" or (role == "user" and _is_tool_response(content))
        if answers_call and not pending_calls:
            raise BadRow(row_id, f"{where}: a tool response that answers no tool call (no call before it)")
        if pending_calls and not answers_call:
            raise BadRow(
                row_id, _unanswered(caller, pending_calls, f"the next turn ({where}) has role {role}")
            )
        if role == "tool" and msg.get("replay"):
            call = pending_calls.pop(0)["function"]
            video = msg.get("video") or row.get("video") or next(iter(_videos(media)), None)
            if not video:
                raise BadRow(row_id, f"{where}: nothing to replay the crop on (no video in the row)")
            if not isinstance(video, str):
                raise BadRow(
                    row_id, f"{where}: the video to replay on must be a path, got {type(video).__name__}"
                )
            budget = msg.get("budget") or None
            if budget is not None and not isinstance(budget, dict):
                raise BadRow(row_id, f"{where}: budget must be an object of FrameBudget fields")
            media.append(CropReplay(video, dict(call["arguments"]), budget))
            out.append({"role": "tool", "content": None, "ref": len(media) - 1})
            continue
        if content is None:
            content = []
        if isinstance(content, str):
            content = [{"type": "text", "text": content}]
        if not isinstance(content, list):
            raise BadRow(row_id, f"{where}: content must be a string or a list of parts")
        parts = [_part(p, row_id, f"{where}.content[{j}]", media, role) for j, p in enumerate(content)]
        new = {"role": role, "content": parts}
        if role == "assistant":
            if any(p["type"] != "text" for p in parts):
                raise BadRow(row_id, f"{where}: an assistant turn may only hold text")
            calls = _structured_calls(msg, row_id, where)
            text = "".join(p["text"] for p in parts)
            inline = _inline_calls(text, row_id, where)
            span = msg.get("loss_span")
            if span is not None:
                # Only this piece of the turn carries the loss (a drill that teaches one step in its real context);
                # "" = none of it (a context turn of a drill).
                if not isinstance(span, str) or span not in text:
                    raise BadRow(row_id, f'{where}: loss_span must be a piece of the turn\'s text (or "")')
                new["loss_span"] = span
            if calls:
                new["tool_calls"] = calls
            pending_calls, caller = calls + inline, where
        elif answers_call:
            answered = pending_calls.pop(0)["function"]["name"]
            if role == "tool" and not parts:
                raise BadRow(row_id, f"{where}: an empty tool turn (no text, no frames) for {answered}")
            if role == "tool" and answered == CROP_VIDEO_NAME and all(p["type"] == "text" for p in parts):
                # The crop tool always returns frames (its errors are replayed, not stored): frames missing
                # here would teach the model to answer "from" a crop it never saw.
                raise BadRow(
                    row_id, f"{where}: a crop_video tool turn without frames (no image or video part)"
                )
        out.append(new)
    if pending_calls:
        raise BadRow(row_id, _unanswered(caller, pending_calls, "the row ends there"))
    if not any(m["role"] == "assistant" for m in out):
        raise BadRow(row_id, "no assistant turn: nothing to train on")
    return TraceRow(row_id, out, media, tools)


def _is_tool_response(content: Any) -> bool:
    """A user turn that carries a tool's output as text (`<tool_response>...`), as some released rows write it."""
    if isinstance(content, list):
        content = next(
            (p.get("text") for p in content if isinstance(p, dict) and p.get("type") == "text"), ""
        )
    return isinstance(content, str) and content.lstrip().startswith("<tool_response>")


def _unanswered(caller: str, calls: list[dict[str, Any]], why: str) -> str:
    names = ", ".join(c["function"]["name"] for c in calls)
    return f"{caller}: a tool call ({names}) without a tool response: {why}"


def _videos(media: list) -> list[str]:
    return [m.url for m in media if isinstance(m, VideoRef)]
