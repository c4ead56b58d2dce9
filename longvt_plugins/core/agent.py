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
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, fields, replace
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
from longvt_plugins.core.budget import (
    SKIM,
    CropBudget,
    FrameBudget,
    share_turn_frames,
    turn_calls_refusal,
    turn_frames_refusal,
)
from longvt_plugins.core.crop_tool import (
    CROP_VIDEO_SCHEMA,
    CropVideoTool,
    label_times,
    skim_text,
    timestamped_parts,
)
from longvt_plugins.core.families import DEFAULT_FAMILY, check_family
from longvt_plugins.core.prompts import load_prompt
from longvt_plugins.core.style import check_style
from longvt_plugins.core.tools import SampleResources, bind_tools
from longvt_plugins.core.trace import CropRecord, Trace, TurnRecord, frame_key
from longvt_plugins.core.video import VideoError, probe, sample_video

__all__ = ["AgentBudgets", "AgentEvent", "run_agent", "score_trace", "serialise_messages"]

TOOL_NAME = CROP_VIDEO_SCHEMA["function"]["name"]


@dataclass
class AgentBudgets:
    """Every limit of one run. Defaults follow LongVT's RL/eval settings scaled to a 7B on one GPU.

    Frames: the skim is `budget.SKIM`, each crop `CropBudget()` (see core/budget.py). Turns: 5 crops + 1 answer
    (LongVT RL allows 5 tool calls). Tokens: 4096 per turn, 16384 over the run (LongVT's max response length).
    """

    skim: FrameBudget = SKIM
    crop: CropBudget = field(default_factory=CropBudget)
    max_turns: int = 6
    max_new_tokens: int = 4096  # per assistant turn
    max_total_tokens: int = 16384  # generated tokens over all turns
    max_calls_per_turn: int = 1  # extra calls in one turn get an error response, not a crop

    def validate(self) -> None:
        for name in ("max_turns", "max_new_tokens", "max_total_tokens"):
            if not getattr(self, name) > 0:
                raise ValueError(f"AgentBudgets.{name} must be > 0, got {getattr(self, name)!r}")
        try:
            self.skim.validate()
        except ValueError as exc:
            raise ValueError(f"AgentBudgets.skim: {exc}") from None
        if self.max_calls_per_turn < 1:
            raise ValueError("max_calls_per_turn must be >= 1")

    def with_patch_size(self, patch: int) -> AgentBudgets:
        """Frames are resized to multiples of the model's patch * merge: both budgets take the model's patch."""
        if self.skim.patch_size == patch and self.crop.patch_size == patch:
            return self
        return replace(
            self, skim=self.skim.replace(patch_size=patch), crop=replace(self.crop, patch_size=patch)
        )

    def to_dict(self) -> dict[str, Any]:
        d = {f.name: getattr(self, f.name) for f in fields(self)}
        d["skim"], d["crop"] = self.skim.to_dict(), asdict(self.crop)
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> AgentBudgets:
        """The budgets a trace recorded (`Trace.budgets`); also reads traces written before `FrameBudget`, whose
        skim settings were flat `skim_<field>` keys. Keys this version does not know are ignored."""
        data = dict(data or {})
        skim = {k[len("skim_") :]: data.pop(k) for k in list(data) if k.startswith("skim_")}
        if "patch_size" in data:
            skim.setdefault("patch_size", data.pop("patch_size"))
        skim.update(data.pop("skim", None) or {})
        crop = data.pop("crop", None) or {}
        rest = {f.name: data[f.name] for f in fields(cls) if f.name in data}
        return cls(skim=FrameBudget.from_dict(skim, SKIM), crop=CropBudget.from_dict(crop), **rest)


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
    return load_prompt(f"agent_{check_style(style)}").strip()


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
    subtitle_path: str | Path | None = None,
) -> Trace:
    """Run the loop on one video and question; always returns a complete Trace (see `Trace.stop_reason`).

    `subtitle_path`: the sample's own subtitle file (SRT/WebVTT), read only by `search_subtitles` when the
    protocol offers that tool (`longvt-tools`); other protocols never open it.

    `session` (a `core.protocols.session.ProtocolSession`): the protocol decides the first turn, the tools, each
    tool turn, the frame budgets, the turn cap and each request's `max_tokens` (clamped to the context left);
    `budgets` (only its max_calls_per_turn is kept, unless the protocol names its own) and `style` are then taken
    from it.
    """
    if session is not None:
        budgets, style = session_budgets(session, budgets), session.style
    budgets = budgets or AgentBudgets()
    budgets.validate()
    # An in-process backend knows its own patch size; a server's is the budgets' own.
    budgets = budgets.with_patch_size(getattr(backend, "patch_size", None) or budgets.skim.patch_size)
    instructions = instruction(style)
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
    run = _Run(trace, backend, budgets, params or GenerationParams(), on_event, thumbnails, thumbnail_size)
    run.session = session
    if not run.skim(video_path, question, instructions):
        return run.finish()
    run.tools = session.tools() if session is not None else ([CROP_VIDEO_SCHEMA] if style == "tool" else [])
    if run.tools:
        # Every offered schema names a registry tool, bound to this sample's own files (decision 1).
        resources = SampleResources(
            video_path=str(video_path), subtitle_path=None if subtitle_path is None else str(subtitle_path)
        )
        run.bound = bind_tools([t["function"]["name"] for t in run.tools], resources, budgets.crop)
        run.tool = run.bound.get(TOOL_NAME)
    for turn_no in range(1, budgets.max_turns + 1):
        stop = run.turn(turn_no)
        if stop is not None:
            break
    else:
        stop = "max_turns"
    trace.stop_reason = stop
    if trace.final_answer is None and trace.turns:
        trace.final_answer = extract_answer(trace.turns[-1].raw_text)
    return run.finish()


class _Run:
    """The state of one `run_agent` call and its steps: skim, one turn, the turn's tool calls, finish."""

    def __init__(self, trace, backend, budgets, params, on_event, thumbnails, thumbnail_size) -> None:
        self.trace, self.backend, self.budgets, self.params = trace, backend, budgets, params
        self.emit: EventHook = on_event or (lambda event: None)
        self.book = _FrameBook(trace, thumbnails, thumbnail_size)
        self.started = time.perf_counter()
        self.timings = {"skim_s": 0.0, "generate_s": 0.0, "tool_s": 0.0}
        self.messages: list[dict[str, Any]] = []
        self.tool: CropVideoTool | None = None  # only when the crop tool is offered
        self.tools: list[dict[str, Any]] = []  # the schemas offered
        self.bound: dict[str, Any] = {}  # each offered schema's registry tool, bound to this sample
        self.session: Any = None  # a ProtocolSession, when a protocol shapes the run
        self.calls_made: dict[
            str, int
        ] = {}  # calls that reached each tool so far (refused ones do not count)
        self.used = 0  # generated tokens so far
        # The model family the backend serves (its checkpoint's config); servers we know nothing of: Qwen2.5-VL.
        self.family: str = check_family(getattr(backend, "family", None) or DEFAULT_FAMILY)

    def skim(self, video_path: str | Path, question: str, instructions: str) -> bool:
        """Sample the whole video and write the first user message; False (trace.error set) if the video fails."""
        trace = self.trace
        try:
            info = probe(video_path)
            t0 = time.perf_counter()
            skim = sample_video(video_path, self.budgets.skim)
            self.timings["skim_s"] = time.perf_counter() - t0
        except VideoError as exc:
            trace.error = str(exc)
            return False
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
            "elapsed_s": self.timings["skim_s"],
            "frame_size": list(skim.size),
            "sample_fps": skim.sample_fps,
        }
        # How the model reads frame times (Qwen2.5-VL: "<t s>" per frame; Qwen3-VL: its processor's
        # "<t seconds>" per pair of frames), from the backend's checkpoint config (core/families.py).
        family = self.family
        labels = label_times(family, stamps, skim.indices, skim.info.fps)
        if self.session is not None:
            self.messages = self.session.initial_messages(
                question,
                skim.to_pil(),
                stamps,
                info,
                os.path.abspath(video_path),
                family=family,
                label_times=labels,
            )
            last = self.messages[-1]
            last["content"] = _tag_images(last["content"], self.book, "skim", stamps)
        else:
            # Frames first, each after its time label, then the duration/timestamp summary, then the question.
            parts = _tag_images(timestamped_parts(skim.to_pil(), labels, family), self.book, "skim", stamps)
            parts.append({"type": "text", "text": skim_text(info, stamps)})
            parts.append({"type": "text", "text": f"\n{question}\n\n{instructions}"})
            self.messages = [
                {"role": "system", "content": load_prompt("agent_system").strip()},
                {"role": "user", "content": parts},
            ]
        self.emit(
            AgentEvent(
                "skim",
                {"frames": len(stamps), "duration": info.duration, "elapsed_s": self.timings["skim_s"]},
            )
        )
        return True

    def turn(self, turn_no: int) -> str | None:
        """One assistant turn and its tool calls; the stop reason when the run ends here, else None."""
        budgets, trace = self.budgets, self.trace
        remaining = budgets.max_total_tokens - self.used
        if remaining <= 0:
            return "token_budget"
        tools = self.tools
        # The budget (or the protocol's room) caps each turn; the caller's params.max_tokens can only lower it.
        asked = self.params.max_tokens
        cap = min(budgets.max_new_tokens, remaining)
        if self.session is not None:
            room, why = self.session.next_request(self.messages, tools, self.used)
            if why is not None:
                return why
            cap = room
        turn_params = replace(self.params, max_tokens=cap if asked is None else min(cap, asked))
        t0 = time.perf_counter()
        try:
            try:
                out = self.backend.generate(self.messages, tools, turn_params)
            except ContextExhausted as exc:
                # Our estimate of the prompt was short: once more with what the server says is left.
                room = self.session.retry_room(str(exc), turn_params.max_tokens) if self.session else None
                if room is None:
                    raise
                out = self.backend.generate(self.messages, tools, replace(turn_params, max_tokens=room))
        except ContextExhausted as exc:  # the server says the request does not fit: not a model failure
            self.timings["generate_s"] += time.perf_counter() - t0
            trace.error = str(exc)
            return "context_exhausted"
        except BackendError as exc:
            self.timings["generate_s"] += time.perf_counter() - t0
            trace.error = str(exc)
            return "backend_error"
        gen_s = time.perf_counter() - t0
        self.timings["generate_s"] += gen_s
        if self.session is not None:
            self.session.observe(len(self.messages), out.usage.prompt_tokens, out.usage.completion_tokens)
        # A server that reports no usage is charged by text length, so the budget still holds.
        self.used += (
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
        if out.tool_call_errors and self.session is not None and self.session.ends_on_malformed_call():
            # upstream: vLLM's hermes parser returns no call at all when any block is malformed; the turn ends
            # "stop" and so does the harness's loop (no retry message)
            calls = []
        record.tool_calls = [{"id": c[0], "name": c[1], "arguments": c[2]} for c in calls]
        assistant = _assistant_message(out, calls)
        if (
            calls
            and out.call_format == "native"
            and self.session is not None
            and self.session.resends_server_text()
        ):
            assistant["content"] = out.raw_text  # as the server wrote it (async_openai resends it untouched)
        self.messages.append(assistant)
        self.emit(
            AgentEvent(
                "turn",
                {"turn": turn_no, "record": record, "budget_left": budgets.max_total_tokens - self.used},
            )
        )
        parse_errors = out.tool_call_errors if (tools and out.call_format == "hermes") else []
        if self.session is not None and self.session.ends_on_malformed_call():
            parse_errors = []
        if calls or parse_errors:
            self.run_tools(record, calls, parse_errors)
            return None
        answer = extract_answer(out.raw_text)
        if answer is not None:
            trace.final_answer = answer
            return "answer"
        return "length" if out.finish_reason == "length" else "no_answer"

    def run_tools(self, record: TurnRecord, calls: list, parse_errors: list[str]) -> None:
        """Answer every call of the turn (and every unparsable one) with a tool message, in call order.

        The calls the turn's budget admits run concurrently (decoding releases the GIL); each tool still sees its
        own call count in call order, so the results are those of running the calls one after another."""
        t_tool = time.perf_counter()
        plans = self.plan_turn(calls)
        runnable = [k for k, plan in enumerate(plans) if plan[0] is None]
        outcomes: dict[int, tuple[Any, float]] = {}
        if len(runnable) > 1:
            with ThreadPoolExecutor(max_workers=len(runnable), thread_name_prefix="longvt-tool") as pool:
                futures = {
                    k: pool.submit(self.execute_call, calls[k][1], calls[k][2], plans[k]) for k in runnable
                }
                outcomes = {k: f.result() for k, f in futures.items()}
        else:
            outcomes = {k: self.execute_call(calls[k][1], calls[k][2], plans[k]) for k in runnable}
        for k, (cid, name, args) in enumerate(calls):
            self.messages.append(self.record_call(record, cid, name, args, plans[k][0], outcomes.get(k)))
        for k, err in enumerate(parse_errors):
            text = f'Error: {err} Write the call as <tool_call>{{"name": ..., "arguments": {{...}}}}</tool_call>.'
            self.messages.append(
                {
                    "role": "tool",
                    "tool_call_id": f"error_{record.index}_{k}",
                    "name": TOOL_NAME,
                    "content": [{"type": "text", "text": text}],
                }
            )
        record.tool_s = time.perf_counter() - t_tool
        self.timings["tool_s"] += record.tool_s

    def plan_turn(self, calls: list) -> list[tuple[str | None, int, Any]]:
        """For each call, in call order: (refusal text or None, the tool's calls made before it, the tool that
        runs it). Refused calls never reach a tool, so they do not count against its cap."""
        refusals = [self.refusal(k, name, args) for k, (_, name, args) in enumerate(calls)]
        frames = self.session.frames_per_turn() if self.session is not None else None
        crop_tool = self.tool
        if frames is not None and self.tool is not None:
            # The turn's crop frames are shared equally by its crops (core.budget.share_turn_frames, which verl's
            # longvt_tool_agent uses too); crops beyond what the budget can give the minimum frames are refused.
            crops = [k for k, (_, name, _) in enumerate(calls) if name == TOOL_NAME and refusals[k] is None]
            running, max_frames = share_turn_frames(frames, len(crops), self.tool.budget)
            for k in crops[running:]:
                refusals[k] = turn_frames_refusal(frames, TOOL_NAME)
            if max_frames is not None:
                crop_tool = self.tool.with_max_frames(max_frames)
        plans: list[tuple[str | None, int, Any]] = []
        for (_, name, _), refusal in zip(calls, refusals, strict=True):
            if refusal is not None:
                plans.append((refusal, 0, None))
                continue
            made = self.calls_made.get(name, 0)
            self.calls_made[name] = made + 1
            plans.append((None, made, crop_tool if name == TOOL_NAME else self.bound[name]))
        return plans

    def refusal(self, position: int, name: str, args: dict[str, Any]) -> str | None:
        """Why a call is not run (text the model reads), or None when it runs."""
        if name not in self.bound:
            own = self.session.unknown_tool_text(name) if self.session is not None else None
            if own or len(self.bound) <= 1:
                return own or f"Error: unknown tool {name!r}; the only tool is {TOOL_NAME}."
            return f"Error: unknown tool {name!r}; the tools are {', '.join(self.bound)}."
        per_turn = self.budgets.max_calls_per_turn
        if self.session is not None:
            per_turn = self.session.calls_per_turn(per_turn)
        over = turn_calls_refusal(position, per_turn, name, TOOL_NAME)
        if over is not None:
            return over
        if "__invalid__" in args:
            return f"Error: the arguments of this call are not a JSON object: {args['__invalid__']!r}"
        return None

    def execute_call(self, name: str, args: dict[str, Any], plan: tuple) -> tuple[Any, float]:
        """Run one admitted call on its tool (any thread); (result, seconds). Tools never raise."""
        _, made, tool = plan
        t0 = time.perf_counter()
        if name != TOOL_NAME:  # another registry tool: its own checks and rendering
            result = tool.execute(args, calls_made=made)
        elif self.session is not None:
            result = self.session.run_crop(tool, args, calls_made=made)
        else:
            result = tool.execute(args, calls_made=made)
        return result, time.perf_counter() - t0

    def record_call(
        self,
        record: TurnRecord,
        call_id: str,
        name: str,
        args: dict[str, Any],
        refusal: str | None,
        outcome: tuple[Any, float] | None,
    ) -> dict[str, Any]:
        """The trace record and the tool message of one call (run, or refused with a reason the model reads)."""
        trace = self.trace
        index = len(trace.crops) + 1
        if refusal is not None or outcome is None:
            text = refusal or "Error: this call was not run."
            crop = CropRecord(
                index=index,
                turn=record.index,
                call_id=call_id,
                arguments=args,
                ok=False,
                text=text,
                error=text,
            )
            content: list[dict[str, Any]] = [{"type": "text", "text": text}]
            crop.elapsed_s = 0.0
        else:
            result, elapsed = outcome
            stamps = [float(t) for t in result.timestamps]
            if name != TOOL_NAME:
                parts = result.content_parts(self.family)
            elif self.session is not None:
                parts = self.session.tool_content(result, self.family)
            else:
                parts = result.content_parts(self.family)
            content = _tag_images(parts, self.book, f"crop{index}", stamps)
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
                notes=list(result.notes),
                error=None if result.ok else f"{result.error}: {result.text}",
            )
            record.frames.extend(stamps)
            crop.elapsed_s = elapsed
        trace.crops.append(crop)
        record.crops.append(index)
        self.emit(AgentEvent("crop", {"crop": crop}))
        return {"role": "tool", "tool_call_id": call_id, "name": name, "content": content}

    def finish(self) -> Trace:
        trace = self.trace
        trace.messages = serialise_messages(self.messages)
        trace.timings = {"total_s": time.perf_counter() - self.started, **self.timings}
        self.emit(AgentEvent("stop", {"trace": trace}))
        return trace


_NO_CAP = 10**9  # a protocol without a crop cap or trajectory budget (upstream)


def session_budgets(session: Any, base: AgentBudgets | None = None) -> AgentBudgets:
    """The protocol's frames, turn cap and token budgets; the caller's max_calls_per_turn stays."""
    p = session.protocol
    base = base or AgentBudgets()
    crop = CropBudget(
        **p.crop.to_dict(), max_calls=p.max_tool_calls if p.max_tool_calls is not None else _NO_CAP
    )
    return replace(
        base,
        skim=p.skim,
        crop=replace(crop, backend=base.crop.backend),
        max_turns=session.turn_cap(),
        max_new_tokens=session.new_tokens(),
        max_total_tokens=p.tokens.max_total_tokens or _NO_CAP,
    ).with_patch_size(session.patch_size)


def _assistant_message(out: AssistantTurn, calls: list[tuple[str, str, dict[str, Any]]]) -> dict[str, Any]:
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
    return assistant


def _calls_with_ids(out: AssistantTurn, turn_no: int) -> list[tuple[str, str, dict[str, Any]]]:
    # Every call needs an id that is unique in the conversation: servers pair each tool message with one.
    calls, seen = [], set()
    for i, c in enumerate(out.tool_calls):
        cid = c.id if c.id and c.id not in seen else f"call_{turn_no}_{i}"
        seen.add(cid)
        calls.append((cid, c.name, dict(c.arguments)))
    return calls


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
