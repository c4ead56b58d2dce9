"""The global-to-local loop: skim the whole video, crop the windows that matter, answer from what was seen.

One loop for every caller (lmms-eval model, pipeline trace generation, `longvt ask`), over any `Backend`:

  1. probe the video and skim it (frames + timestamps + duration, decision 2);
  2. ask the model, with the crop_video schema offered as a tool (style "tool");
  3. run each call on the tool bound to *this* video (decision 1) and append the frames it returns, each beside
     its timestamp, as a tool response;
  4. repeat until the model answers or a limit stops it: turns, total generated tokens, per-turn tokens, crops.

Whatever happens - a random model's word salad, a malformed call, a dead server - the result is a complete
`Trace` whose `stop_reason` says why it ended. Bad budgets are a programming error and raise at once.
"""

from __future__ import annotations

import base64
import io
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, is_dataclass, replace
from pathlib import Path
from typing import Any

from longvt_plugins.core.answer import extract_answer
from longvt_plugins.core.backends import (
    AssistantTurn,
    Backend,
    BackendError,
    ContextExhausted,
    GenerationParams,
)
from longvt_plugins.core.crop_tool import (
    CROP_VIDEO_SCHEMA,
    CropBudget,
    CropVideoTool,
    skim_text,
    timestamped_parts,
)
from longvt_plugins.core.prompts import load_prompt
from longvt_plugins.core.trace import CropRecord, Trace, TurnRecord, frame_key
from longvt_plugins.core.video import VideoError, probe, sample_video

STYLES = ("tool", "think", "direct")
TOOL_NAME = CROP_VIDEO_SCHEMA["function"]["name"]


@dataclass
class AgentBudgets:
    """Every limit of one run. Defaults follow LongVT's RL/eval settings scaled to a 7B on one GPU.

    Skim: 1 fps up to 64 frames of at most 224x224 px (~64 visual tokens each for Qwen2.5-VL), so a long video
    costs ~4k prompt tokens before any crop. Turns: 5 crops + 1 answer (LongVT RL allows 5 tool calls).
    Tokens: 4096 per turn, 16384 over the run (LongVT's max response length).
    """

    skim_fps: float = 1.0
    skim_min_frames: int = 4
    skim_max_frames: int = 64
    skim_min_pixels: int = 28 * 28
    skim_max_pixels: int = 224 * 224
    crop: CropBudget = field(default_factory=CropBudget)
    max_turns: int = 6
    max_new_tokens: int = 4096  # per assistant turn
    max_total_tokens: int = 16384  # generated tokens over all turns
    max_calls_per_turn: int = 1  # extra calls in one turn get an error response, not a crop
    patch_size: int = 14  # 14 for Qwen2.5-VL, 16 for Qwen3-VL; an in-process backend's own value wins

    def validate(self) -> None:
        positive = ("skim_fps", "skim_max_frames", "max_turns", "max_new_tokens", "max_total_tokens")
        for name in positive:
            if not getattr(self, name) > 0:
                raise ValueError(f"AgentBudgets.{name} must be > 0, got {getattr(self, name)!r}")
        if self.skim_min_frames > self.skim_max_frames:
            raise ValueError(
                f"skim_min_frames {self.skim_min_frames} > skim_max_frames {self.skim_max_frames}"
            )
        if self.skim_min_pixels > self.skim_max_pixels:
            raise ValueError(
                f"skim_min_pixels {self.skim_min_pixels} > skim_max_pixels {self.skim_max_pixels}"
            )
        if self.max_calls_per_turn < 1:
            raise ValueError("max_calls_per_turn must be >= 1")

    def to_dict(self) -> dict[str, Any]:
        d = {k: v for k, v in self.__dict__.items() if k != "crop"}
        d["crop"] = asdict(self.crop) if is_dataclass(self.crop) else dict(vars(self.crop))
        return d


@dataclass
class AgentEvent:
    """Progress, for live displays: kind is "skim", "turn", "crop" or "stop"; data is what happened."""

    kind: str
    data: dict[str, Any]


EventHook = Callable[[AgentEvent], None]


def thumbnail_data_url(image: Any, size: int = 160) -> str:
    """A small JPEG of a frame as a data: URI - what the viewer shows; deterministic for the same pixels."""
    thumb = image.convert("RGB")
    thumb.thumbnail((size, size))
    buf = io.BytesIO()
    thumb.save(buf, format="JPEG", quality=80)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode()


class _FrameBook:
    """Names every frame shown to the model and, when asked, keeps a small thumbnail of it for the viewer."""

    def __init__(self, trace: Trace, thumbnails: bool, size: int) -> None:
        self.trace, self.thumbnails, self.size = trace, thumbnails, size

    def part(self, image: Any, source: str, timestamp: float) -> dict[str, Any]:
        key = frame_key(source, timestamp)
        if self.thumbnails and key not in self.trace.thumbnails:
            self.trace.thumbnails[key] = thumbnail_data_url(image, self.size)
        return {"type": "image", "image": image, "timestamp": float(timestamp), "frame": key}


def instruction(style: str) -> str:
    if style not in STYLES:
        raise ValueError(f"unknown style {style!r}; expected one of {STYLES}")
    return load_prompt(f"agent_{style}").strip()


def run_agent(
    video_path: str | Path,
    question: str,
    backend: Backend,
    budgets: AgentBudgets | None = None,
    *,
    style: str = "tool",
    params: GenerationParams | None = None,
    ground_truth: str | None = None,
    thumbnails: bool = False,
    thumbnail_size: int = 160,
    on_event: EventHook | None = None,
    trace_id: str | None = None,
    meta: dict[str, Any] | None = None,
    session: Any = None,
) -> Trace:
    """Run the loop on one video and question; always returns a complete Trace (see `Trace.stop_reason`).

    `session` (a `core.protocols.session.ProtocolSession`): the protocol decides the first turn, the tools, each
    tool turn, the frame budgets, the turn cap and each request's `max_tokens` (clamped to the context left);
    `budgets` and `style` are then taken from it.
    """
    if session is not None:
        budgets, style = session_budgets(session, budgets), _AGENT_STYLE[session.style]
    budgets = budgets or AgentBudgets()
    budgets.validate()
    # Frames are resized to multiples of the model's patch * merge: an in-process backend knows its own patch.
    patch = getattr(backend, "patch_size", None) or budgets.patch_size
    if patch != budgets.patch_size or patch != budgets.crop.patch_size:
        budgets = replace(budgets, patch_size=patch, crop=replace(budgets.crop, patch_size=patch))
    instructions = instruction(style)
    params = params or GenerationParams()
    emit = on_event or (lambda event: None)
    started = time.perf_counter()
    trace = Trace(
        question=question,
        video={"path": os.path.abspath(video_path), "duration": None},
        skim={"timestamps": [], "elapsed_s": 0.0},
        messages=[],
        turns=[],
        crops=[],
        stop_reason="video_error",
        ground_truth=ground_truth,
        style=style,
        backend=backend.describe(),
        budgets=budgets.to_dict(),
        meta=dict(meta or {}),
    )
    if trace_id:
        trace.id = trace_id
    book = _FrameBook(trace, thumbnails, thumbnail_size)
    timings = {"skim_s": 0.0, "generate_s": 0.0, "tool_s": 0.0}

    # ---- 1. the global skim
    try:
        info = probe(video_path)
        t0 = time.perf_counter()
        skim = sample_video(
            video_path,
            fps=budgets.skim_fps,
            min_frames=budgets.skim_min_frames,
            max_frames=budgets.skim_max_frames,
            min_pixels=budgets.skim_min_pixels,
            max_pixels=budgets.skim_max_pixels,
            patch_size=budgets.patch_size,
        )
        timings["skim_s"] = time.perf_counter() - t0
    except VideoError as exc:
        trace.error = str(exc)
        return _finish(trace, [], timings, started, emit)
    trace.video = {
        "path": os.path.abspath(video_path),
        "duration": info.duration,
        "fps": info.fps,
        "width": info.width,
        "height": info.height,
        "num_frames": info.num_frames,
    }
    stamps = [float(t) for t in skim.timestamps]
    trace.skim = {
        "timestamps": stamps,
        "elapsed_s": timings["skim_s"],
        "frame_size": list(skim.size),
        "sample_fps": skim.sample_fps,
    }
    if session is not None:
        messages = session.initial_messages(
            question, skim.to_pil(), stamps, info, os.path.abspath(video_path)
        )
        messages[-1]["content"] = _tag_images(messages[-1]["content"], book, "skim", stamps)
    else:
        # Frames first, each after its "<t s>" label, then the duration/timestamp summary, then the question.
        parts = _tag_images(timestamped_parts(skim.to_pil(), stamps), book, "skim", stamps)
        parts.append({"type": "text", "text": skim_text(info, stamps)})
        parts.append({"type": "text", "text": f"\n{question}\n\n{instructions}"})
        messages = [
            {"role": "system", "content": load_prompt("agent_system").strip()},
            {"role": "user", "content": parts},
        ]
    emit(
        AgentEvent("skim", {"frames": len(stamps), "duration": info.duration, "elapsed_s": timings["skim_s"]})
    )

    # ---- 2-4. the loop
    tools = session.tools() if session is not None else ([CROP_VIDEO_SCHEMA] if style == "tool" else [])
    tool = CropVideoTool(str(video_path), budget=budgets.crop) if tools else None
    used = 0
    stop: str | None = None
    for turn_no in range(1, budgets.max_turns + 1):
        remaining = budgets.max_total_tokens - used
        if remaining <= 0:
            stop = "token_budget"
            break
        turn_params = replace(params, max_tokens=min(budgets.max_new_tokens, remaining))
        if session is not None:
            room, why = session.next_request(messages, tools, used)
            if why is not None:
                stop = why
                break
            turn_params = replace(params, max_tokens=room)
        t0 = time.perf_counter()
        try:
            try:
                out = backend.generate(messages, tools, turn_params)
            except ContextExhausted as exc:
                # Our estimate of the prompt was short: once more with what the server says is left.
                room = session.retry_room(str(exc), turn_params.max_tokens) if session is not None else None
                if room is None:
                    raise
                out = backend.generate(messages, tools, replace(turn_params, max_tokens=room))
        except ContextExhausted as exc:  # the server says the request does not fit: not a model failure
            timings["generate_s"] += time.perf_counter() - t0
            trace.error = str(exc)
            stop = "context_exhausted"
            break
        except BackendError as exc:
            timings["generate_s"] += time.perf_counter() - t0
            trace.error = str(exc)
            stop = "backend_error"
            break
        gen_s = time.perf_counter() - t0
        timings["generate_s"] += gen_s
        if session is not None:
            session.observe(len(messages), out.usage.prompt_tokens, out.usage.completion_tokens)
        # A server that reports no usage is charged by text length, so the budget still holds.
        used += (
            out.usage.completion_tokens
            if out.usage.completion_tokens is not None
            else len(out.raw_text) // 4 + 1
        )
        record = TurnRecord(
            index=turn_no,
            content=out.content,
            raw_text=out.raw_text,
            tool_call_errors=list(out.tool_call_errors),
            call_format=out.call_format,
            finish_reason=out.finish_reason,
            prompt_tokens=out.usage.prompt_tokens,
            completion_tokens=out.usage.completion_tokens,
            generate_s=gen_s,
        )
        trace.turns.append(record)
        calls = _calls_with_ids(out, turn_no) if tools else []
        record.tool_calls = [{"id": c[0], "name": c[1], "arguments": c[2]} for c in calls]
        assistant: dict[str, Any] = {
            "role": "assistant",
            "content": out.content,
            "raw_text": out.raw_text,
            "call_format": out.call_format,
        }
        if calls:
            assistant["tool_calls"] = [
                {"id": cid, "type": "function", "function": {"name": name, "arguments": args}}
                for cid, name, args in calls
            ]
        messages.append(assistant)
        emit(
            AgentEvent(
                "turn", {"turn": turn_no, "record": record, "budget_left": budgets.max_total_tokens - used}
            )
        )

        parse_errors = out.tool_call_errors if (tools and out.call_format == "hermes") else []
        if calls or parse_errors:
            t_tool = time.perf_counter()
            for i, (cid, name, args) in enumerate(calls):
                messages.append(
                    _run_call(trace, tool, book, budgets, record, i, cid, name, args, emit, session)
                )
            for k, err in enumerate(parse_errors):
                text = f'Error: {err} Write the call as <tool_call>{{"name": ..., "arguments": {{...}}}}</tool_call>.'
                messages.append(
                    {
                        "role": "tool",
                        "tool_call_id": f"error_{turn_no}_{k}",
                        "name": TOOL_NAME,
                        "content": [{"type": "text", "text": text}],
                    }
                )
            record.tool_s = time.perf_counter() - t_tool
            timings["tool_s"] += record.tool_s
            continue
        answer = extract_answer(out.raw_text)
        if answer is not None:
            trace.final_answer = answer
            stop = "answer"
        else:
            stop = "length" if out.finish_reason == "length" else "no_answer"
        break
    else:
        stop = "max_turns"
    trace.stop_reason = stop
    if trace.final_answer is None and trace.turns:
        trace.final_answer = extract_answer(trace.turns[-1].raw_text)
    return _finish(trace, messages, timings, started, emit)


_AGENT_STYLE = {"tool": "tool", "think": "think", "non_think": "direct"}
_NO_CAP = 10**9  # a protocol without a crop cap or trajectory budget (upstream)


def session_budgets(session: Any, base: AgentBudgets | None) -> AgentBudgets:
    """The protocol's frames, turn cap and token budgets; the caller's max_calls_per_turn stays."""
    p = session.protocol
    base = base or AgentBudgets()
    return replace(
        base,
        skim_fps=p.skim.fps,
        skim_min_frames=p.skim.min_frames,
        skim_max_frames=p.skim.max_frames,
        skim_min_pixels=p.skim.min_pixels,
        skim_max_pixels=p.skim.max_pixels,
        crop=replace(
            base.crop,
            fps=p.crop.fps,
            min_frames=p.crop.min_frames,
            max_frames=p.crop.max_frames,
            min_pixels=p.crop.min_pixels,
            max_pixels=p.crop.max_pixels,
            max_calls=p.max_tool_calls if p.max_tool_calls is not None else _NO_CAP,
        ),
        max_turns=session.turn_cap(),
        max_new_tokens=session.new_tokens(),
        max_total_tokens=p.tokens.max_total_tokens or _NO_CAP,
        patch_size=session.patch_size,
    )


def _calls_with_ids(out: AssistantTurn, turn_no: int) -> list[tuple[str, str, dict[str, Any]]]:
    # Every call needs an id that is unique in the conversation: servers pair each tool message with one.
    calls, seen = [], set()
    for i, c in enumerate(out.tool_calls):
        cid = c.id if c.id and c.id not in seen else f"call_{turn_no}_{i}"
        seen.add(cid)
        calls.append((cid, c.name, dict(c.arguments)))
    return calls


def _run_call(
    trace: Trace,
    tool: CropVideoTool,
    book: _FrameBook,
    budgets: AgentBudgets,
    record: TurnRecord,
    position: int,
    call_id: str,
    name: str,
    args: dict[str, Any],
    emit: EventHook,
    session: Any = None,
) -> dict[str, Any]:
    """Run one call (or refuse it with a reason the model can read); returns the tool message."""
    refusal = None
    if name != TOOL_NAME:
        refusal = f"Error: unknown tool {name!r}; the only tool is {TOOL_NAME}."
    elif position >= budgets.max_calls_per_turn:
        refusal = (
            f"Error: only {budgets.max_calls_per_turn} {TOOL_NAME} call(s) per turn are run; this one was skipped. "
            "Look at the frames you got, then call again if needed."
        )
    elif "__invalid__" in args:
        refusal = f"Error: the arguments of this call are not a JSON object: {args['__invalid__']!r}"
    index = len(trace.crops) + 1
    t0 = time.perf_counter()
    if refusal is not None:
        crop = CropRecord(
            index=index,
            turn=record.index,
            call_id=call_id,
            arguments=args,
            ok=False,
            text=refusal,
            error=refusal,
        )
        content: list[dict[str, Any]] = [{"type": "text", "text": refusal}]
    else:
        result = tool.execute(args)
        stamps = [float(t) for t in result.timestamps]
        parts = session.tool_content(result) if session is not None else result.content_parts()
        content = _tag_images(parts, book, f"crop{index}", stamps)
        window = result.window if result.ok else None
        crop = CropRecord(
            index=index,
            turn=record.index,
            call_id=call_id,
            arguments=args,
            ok=bool(result.ok),
            start=float(window[0]) if window else None,
            end=float(window[1]) if window else None,
            timestamps=stamps,
            text=result.text,
            error=None if result.ok else f"{result.error}: {result.text}",
        )
        record.frames.extend(stamps)
    crop.elapsed_s = time.perf_counter() - t0
    trace.crops.append(crop)
    record.crops.append(index)
    emit(AgentEvent("crop", {"crop": crop}))
    return {"role": "tool", "tool_call_id": call_id, "name": name, "content": content}


def _tag_images(
    parts: list[dict], book: _FrameBook, source: str, stamps: list[float]
) -> list[dict[str, Any]]:
    """Give each image part its frame key and timestamp (images come in timestamp order)."""
    frames = iter(stamps)
    out = []
    for part in parts:
        if part.get("type") == "image":
            out.append(book.part(part["image"], source, next(frames)))
        else:
            out.append({"type": "text", "text": part.get("text", "")})
    return out


def _finish(trace: Trace, messages: list[dict], timings: dict, started: float, emit: EventHook) -> Trace:
    trace.messages = serialise_messages(messages)
    trace.timings = {"total_s": time.perf_counter() - started, **timings}
    emit(AgentEvent("stop", {"trace": trace}))
    return trace


def serialise_messages(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The conversation as JSON: image parts keep their frame key and timestamp, never their pixels."""
    out = []
    for m in messages:
        m2: dict[str, Any] = {"role": m["role"]}
        content = m.get("content")
        if isinstance(content, list):
            m2["content"] = [
                {"type": "image", "frame": p["frame"], "timestamp": p["timestamp"]}
                if p.get("type") == "image"
                else {"type": "text", "text": p.get("text", "")}
                for p in content
            ]
        else:
            m2["content"] = content or ""
        for key in ("tool_calls", "tool_call_id", "name", "call_format"):
            if key in m:
                m2[key] = m[key]
        out.append(m2)
    return out


def score_trace(trace: Trace, judge_config: Any = None) -> dict[str, Any] | None:
    """Score the final answer against `trace.ground_truth`: the LLM judge if one is configured, else by rule.

    The judge path is the evaluation protocol (binary equivalence); a judge that fails falls back to the rule
    score and says so. Sets and returns `trace.score` (None when there is no ground truth).
    """
    if trace.ground_truth is None:
        return None
    from longvt_plugins.core.answer import rule_score
    from longvt_plugins.core.judge import JudgeClient, JudgeConfig

    config = judge_config if judge_config is not None else JudgeConfig.from_env()
    if config.base_url:
        result = JudgeClient(config).equivalent_sync(trace.question, trace.final_answer, trace.ground_truth)
        score = {
            "score": float(result.score),
            "correct": result.score >= 1.0,
            "method": "rule" if result.fallback else "judge",
            "fallback": bool(result.fallback),
            "reason": result.reason,
        }
    else:
        value = rule_score(trace.final_answer, trace.ground_truth)
        score = {
            "score": value,
            "correct": value >= 1.0,
            "method": "rule",
            "fallback": False,
            "reason": "no judge configured (set LONGVT_JUDGE_BASE_URL to grade with an LLM judge)",
        }
    trace.score = score
    return score
