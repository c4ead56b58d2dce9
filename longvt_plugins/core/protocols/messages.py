"""What a protocol sends: the first user turn, the tools, each tool turn, and the request body on the wire.

The agent loop calls these instead of writing any prompt text itself, so `upstream` and `longvt-plugins` differ
only in their `Protocol` objects. Messages are the agent's own format (see `core.backends`): image parts hold PIL
images; the OpenAI backend encodes them and `shape_request` gives the body its protocol's wire shape.
"""

from __future__ import annotations

from typing import Any

from longvt_plugins.core.families import DEFAULT_FAMILY
from longvt_plugins.core.prompts import load_prompt
from longvt_plugins.core.protocols.spec import Protocol
from longvt_plugins.core.tools import tool_schemas


def tool_schema(protocol: Protocol) -> dict[str, Any]:
    return protocol.tool_schema()


def tools_for(protocol: Protocol, style: str) -> list[dict[str, Any]]:
    if not protocol.offers_tool(style):
        return []
    return [tool_schema(protocol)] + tool_schemas(protocol.tool.also_offered)


def user_text(
    protocol: Protocol,
    style: str,
    question: str,
    *,
    benchmark: str | None = None,
    multiple_choice: bool = False,
) -> str:
    """The question followed by the style's instruction, joined as the protocol joins them."""
    sp = protocol.style(style)
    name = sp.instruction_for(benchmark, multiple_choice)
    if sp.strip_question:
        question = question.strip()
    if not name:
        return question
    return f"{question}{sp.joiner}{load_prompt(name).strip()}"


def initial_messages(
    protocol: Protocol,
    *,
    style: str,
    question: str,
    frames: list[Any],
    timestamps: list[float],
    info: Any,
    video_path: str,
    benchmark: str | None = None,
    multiple_choice: bool = False,
    family: str = DEFAULT_FAMILY,
    label_times: list[float] | None = None,
) -> list[dict[str, Any]]:
    """The system turn (if any) and the first user turn: the skim frames, then the text, as the protocol says.
    `family`: how the model reads frame times (core/families.py); `label_times`: the times its labels are made
    from, when they differ from the decoder's `timestamps` (Qwen3-VL: frame index / video fps)."""
    from longvt_plugins.core.crop_tool import skim_text, timestamped_parts

    pres = protocol.presentation
    if pres.timestamps:
        parts = timestamped_parts(frames, timestamps if label_times is None else label_times, family)
    else:
        parts = [{"type": "image", "image": frame} for frame in frames]
    text = user_text(protocol, style, question, benchmark=benchmark, multiple_choice=multiple_choice)
    if pres.duration_text:
        parts.append({"type": "text", "text": skim_text(info, timestamps)})
        parts.append({"type": "text", "text": f"\n{text}"})
    else:
        parts.append({"type": "text", "text": text})
    if pres.path_text:
        parts.append({"type": "text", "text": load_prompt(pres.path_text).format(index=0, path=video_path)})
    messages: list[dict[str, Any]] = []
    system = protocol.style(style).system
    if system:
        messages.append({"role": "system", "content": load_prompt(system).strip()})
    messages.append({"role": "user", "content": parts})
    return messages


def tool_content(protocol: Protocol, result: Any, family: str = DEFAULT_FAMILY) -> list[dict[str, Any]]:
    """The content of one tool turn for a `CropResult`: frames (labelled or not) and the protocol's wording."""
    if not result.ok:
        text = result.text
        if protocol.tool.error != "crop_error":  # ours is already in result.text
            text = load_prompt(protocol.tool.error).format(problem=result.text)
        return [{"type": "text", "text": text}]
    if protocol.presentation.timestamps:
        from longvt_plugins.core.crop_tool import timestamped_parts

        parts = timestamped_parts(result.frames, result.label_times(family), family)
    else:
        parts = [{"type": "image", "image": frame} for frame in result.frames]
    if protocol.tool.response == "crop_result":
        parts.append({"type": "text", "text": result.text})
    elif protocol.tool.response != "frames_only":
        parts.append({"type": "text", "text": load_prompt(protocol.tool.response)})
    return parts


def shape_request(protocol: Protocol, request: dict[str, Any]) -> dict[str, Any]:
    """An OpenAI chat-completions body (as our backend builds it) in this protocol's wire shape.

    `lmms_eval_async_openai` is what lmms-eval 0.7.3's async_openai sends: system and user contents as lists of
    parts; after a tool call, the assistant's text (None when it wrote none) and its tool calls as two assistant
    messages, tool messages carrying the tool's name and no tool_call_id, and only the latest round's tool
    messages (its loop keeps every assistant turn but sends `messages + tool_messages` of the last round); and
    only `max_tokens` and `temperature` among the sampling parameters.
    """
    body = {
        k: v
        for k, v in request.items()
        if k in ("model", "messages", "tools", "tool_choice", "extra_body") or k in protocol.request_params
    }
    if protocol.wire == "openai":
        return body
    if protocol.wire != "lmms_eval_async_openai":
        raise ValueError(f"unknown wire shape {protocol.wire!r}")
    names: dict[str, str] = {}
    out: list[dict[str, Any]] = []
    for m in body.get("messages", []):
        if m.get("role") in ("system", "user") and isinstance(m.get("content"), str):
            # lmms-eval's ChatMessages turns every system/user content into a list of parts.
            out.append({"role": m["role"], "content": [{"type": "text", "text": m["content"]}]})
        elif m.get("role") == "assistant" and m.get("tool_calls"):
            for call in m["tool_calls"]:
                names[call.get("id", "")] = call["function"]["name"]
            out.append({"role": "assistant", "content": m.get("content")})
            out.append({"role": "assistant", "tool_calls": m["tool_calls"]})
        elif m.get("role") == "tool":
            name = m.get("name") or names.get(m.get("tool_call_id", ""), "crop_video")
            out.append({"role": "tool", "name": name, "content": m.get("content")})
        else:
            out.append(m)
    body["messages"] = _latest_round_only(out)
    return body


def _latest_round_only(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    last_assistant = max((i for i, m in enumerate(messages) if m.get("role") == "assistant"), default=-1)
    return [m for i, m in enumerate(messages) if m.get("role") != "tool" or i > last_assistant]


def sent_messages(protocol: Protocol, messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The agent's messages that reach the server under this protocol (for sizing the next request)."""
    return _latest_round_only(messages) if protocol.wire == "lmms_eval_async_openai" else messages
