"""`longvt_tool_agent`: verl's `ToolAgentLoop` with the three things LongVT needs on top.

1. Every bad tool call ends as a tool message the model reads, never as a silently ended trajectory: unparseable
   `<tool_call>` blocks (via the `longvt_hermes` parser), unknown tool names, and samples without `tools_kwargs`
   (mixed tool / no-tool data, which verl 0.9.1 answers with a `NoneType` error text).
2. Per-trajectory counters (`counters.py`) with defaults filled for trajectories that never called a tool, so the
   reward sees the same keys for every sample.
3. Each frame a tool returns is preceded by its timestamp. verl builds a tool message as "all images, then the
   text"; the tool tags each frame with its times, and this loop writes the labels in front of their frames before
   the message is tokenised, as the policy's family reads time (from the checkpoint's config: Qwen2.5-VL `<t s>`
   per frame, Qwen3-VL its processor's `<t seconds>` per pair of frames). The model then sees exactly
   `CropResult.content_parts(family)`, the layout our SFT traces and evaluation use.
4. The protocol's per-turn budget, when the tool YAML (top-level `turn_budget:`) or the agent-loop config
   (`turn_budget=` kwarg) asks for one: at most `calls_per_turn` calls of a turn run, each call beyond gets an error
   tool message in its place, and the turn's crops share `frames_per_turn` frames. The numbers are the protocol's
   (`ToolSpec`, read through `ProtocolSession` as the core agent reads them) and the refusal texts and the frame
   share are `core.budget`'s, the core agent's own. Without `turn_budget` (the crop-only `tool_config.yaml`) verl's
   `multi_turn.max_parallel_calls` decides, as before.

Everything else (generation, token bookkeeping, masks, multimodal inputs) is verl's own code.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from omegaconf import OmegaConf
from verl.experimental.agent_loop.agent_loop import register
from verl.experimental.agent_loop.tool_agent_loop import ToolAgentLoop
from verl.tools.schemas import ToolResponse

from longvt_plugins.core.budget import share_turn_frames, turn_calls_refusal, turn_frames_refusal
from longvt_plugins.core.crop_tool import CROP_VIDEO_SCHEMA, timestamped_parts
from longvt_plugins.core.families import DEFAULT_FAMILY, QWEN3_VL, model_family
from longvt_plugins.core.protocols import get_protocol
from longvt_plugins.core.protocols.session import ProtocolSession
from longvt_plugins.verl.counters import (
    INVALID_TOOL_CALLS,
    TURN_REFUSED_CALLS,
    fill_defaults,
    trajectory_counters,
)
from longvt_plugins.verl.names import (
    AGENT_LOOP_NAME,
    FRAME_LABEL_KEY,
    FRAME_TIME_KEY,
    TURN_BUDGET_KEY,
    TURN_MAX_FRAMES_ATTR,
)
from longvt_plugins.verl.tool_parser import INVALID_TOOL_CALL, LongVTHermesToolParser, invalid_call_error

logger = logging.getLogger(__name__)

CROP_NAME = CROP_VIDEO_SCHEMA["function"]["name"]
DEFAULT_TURN_PROTOCOL = "longvt-tools"
_TURN_BUDGET_FIELDS = ("protocol", "calls_per_turn", "frames_per_turn")
_TURN_REFUSALS_ATTR = "_longvt_turn_refusals"  # id(tool call) -> refusal text, for the turn being answered


@dataclass(frozen=True)
class TurnBudget:
    """The per-turn budget the loop applies: calls of one turn that run, and the crop frames they share (None:
    each crop its own cap)."""

    calls_per_turn: int
    frames_per_turn: int | None


def turn_budget_from_config(config: Mapping[str, Any] | None, default_calls: int = 1) -> TurnBudget | None:
    """The budget a `turn_budget:` mapping asks for; None: no per-turn budget (verl decides, as before).

    `protocol` (default `longvt-tools`) names where the numbers come from: the protocol's `ToolSpec`, read through
    `ProtocolSession` as the core agent reads them; `calls_per_turn` / `frames_per_turn` override them. A protocol
    that names no per-turn budget (`upstream`, `longvt-plugins`) and no override gives None. Unknown keys fail."""
    if config is None:
        return None
    config = dict(config)
    unknown = sorted(set(config) - set(_TURN_BUDGET_FIELDS))
    if unknown:
        raise ValueError(
            f"{TURN_BUDGET_KEY} has unknown key(s) {unknown}; allowed: {list(_TURN_BUDGET_FIELDS)}"
        )
    protocol = get_protocol(config.get("protocol") or DEFAULT_TURN_PROTOCOL)
    named = protocol.tool.calls_per_turn is not None or protocol.tool.frames_per_turn is not None
    overrides = {k: config[k] for k in ("calls_per_turn", "frames_per_turn") if config.get(k) is not None}
    if not named and not overrides:
        return None
    session = ProtocolSession(protocol, "tool")
    frames = overrides.get("frames_per_turn", session.frames_per_turn())
    budget = TurnBudget(
        calls_per_turn=int(overrides.get("calls_per_turn", session.calls_per_turn(default_calls))),
        frames_per_turn=None if frames is None else int(frames),
    )
    if budget.calls_per_turn < 1 or (budget.frames_per_turn is not None and int(budget.frames_per_turn) < 1):
        raise ValueError(f"{TURN_BUDGET_KEY}: calls_per_turn and frames_per_turn must be >= 1, got {budget}")
    return budget


@functools.lru_cache(maxsize=16)
def _tool_yaml_turn_budget(path: str) -> Mapping[str, Any] | None:
    """The tool YAML's top-level `turn_budget:` (verl reads only `tools:`); read once per worker and path."""
    from verl.utils.import_utils import resolve_config_path

    loaded = OmegaConf.load(resolve_config_path(path))
    value = loaded.get(TURN_BUDGET_KEY)
    return None if value is None else OmegaConf.to_container(value, resolve=True)


def _json_object(arguments: Any) -> bool:
    try:
        return isinstance(json.loads(arguments), dict)
    except (TypeError, ValueError):
        return False


def _info(part: dict[str, Any]) -> dict[str, Any]:
    image = part.get("image") if part.get("type") == "image" else None
    return getattr(image, "info", None) or {}


def interleave_frame_labels(messages: list[dict[str, Any]], family: str = DEFAULT_FAMILY) -> None:
    """Put each labelled image's time label right before it, in place (only tool messages are touched).
    Qwen3-VL: the tool's frames are labelled in pairs by `crop_tool.timestamped_parts`, from their times."""
    for message in messages:
        content = message.get("content")
        if message.get("role") != "tool" or not isinstance(content, list):
            continue
        timed = [p for p in content if FRAME_TIME_KEY in _info(p)]
        if family == QWEN3_VL and timed:
            frames = [p["image"] for p in timed]
            labelled = timestamped_parts(frames, [_info(p)[FRAME_TIME_KEY] for p in timed], family)
            rest = [p for p in content if FRAME_TIME_KEY not in _info(p)]
            message["content"] = labelled + rest
            continue
        parts: list[dict[str, Any]] = []
        for part in content:
            label = _info(part).get(FRAME_LABEL_KEY)
            if label:
                parts.append({"type": "text", "text": label})
            parts.append(part)
        message["content"] = parts


@register(AGENT_LOOP_NAME)
class LongVTToolAgentLoop(ToolAgentLoop):
    def __init__(self, *args, turn_budget: Mapping[str, Any] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        # The per-turn budget: the agent-loop config's `turn_budget`, else the tool YAML's, else none.
        if turn_budget is None:
            path = self.rollout_config.multi_turn.tool_config_path
            turn_budget = _tool_yaml_turn_budget(str(path)) if path else None
        elif not isinstance(turn_budget, Mapping):
            turn_budget = OmegaConf.to_container(turn_budget, resolve=True)
        self.turn_budget = turn_budget_from_config(turn_budget, default_calls=self.max_parallel_calls)
        if self.turn_budget is not None:
            # Every call of a turn reaches this loop, so the ones over the budget get their error message (verl
            # would drop calls past max_parallel_calls from the turn without a word).
            self.max_parallel_calls = 10**9
        # How the policy reads frame times, from its checkpoint's config (never a setting).
        self.family = model_family(self.config.actor_rollout_ref.model.path)
        # Our parser returns the same calls as verl's hermes parser, plus the malformed ones as visible errors.
        if self.tool_parser_name == "hermes":
            self.tool_parser = LongVTHermesToolParser(self.tokenizer)

    async def run(self, sampling_params: dict[str, Any], **kwargs):
        output = await super().run(sampling_params, **kwargs)
        fill_defaults(output.extra_fields)
        return output

    async def _handle_processing_tools_state(self, agent_data):
        if self.turn_budget is not None:
            self._plan_turn(agent_data)
        return await super()._handle_processing_tools_state(agent_data)

    def _plan_turn(self, agent_data) -> None:
        """Decide, before any call runs, which calls of this turn are refused and the crops' frame cap."""
        budget = self.turn_budget
        active_tools = getattr(agent_data, "_active_tools", self.tools)
        calls = list(agent_data.tool_calls or [])
        refusals: dict[int, str] = {}
        for position, call in enumerate(calls):
            text = turn_calls_refusal(position, budget.calls_per_turn, call.name, CROP_NAME)
            if text is not None:
                refusals[id(call)] = text
        max_frames = None
        crop_tool = active_tools.get(CROP_NAME)
        crop_budget = getattr(crop_tool, "budget", None)
        if budget.frames_per_turn is not None and crop_budget is not None:
            crops = [
                call
                for call in calls
                if call.name == CROP_NAME and id(call) not in refusals and _json_object(call.arguments)
            ]
            running, max_frames = share_turn_frames(budget.frames_per_turn, len(crops), crop_budget)
            for call in crops[running:]:
                refusals[id(call)] = turn_frames_refusal(budget.frames_per_turn, CROP_NAME)
        setattr(agent_data, _TURN_REFUSALS_ATTR, refusals)
        setattr(agent_data, TURN_MAX_FRAMES_ATTR, max_frames)

    async def _call_tool(self, tool_call, tools_kwargs, agent_data):
        refusal = getattr(agent_data, _TURN_REFUSALS_ATTR, {}).get(id(tool_call))
        if refusal is not None:  # over the turn's budget: never reaches a tool, so it takes none of its cap
            counters = trajectory_counters(agent_data)
            counters[TURN_REFUSED_CALLS] += 1
            fill_defaults(counters)
            return ToolResponse(text=refusal), 0.0, {"ok": False, "error": "turn_budget"}
        active_tools = getattr(agent_data, "_active_tools", self.tools)
        if tool_call.name == INVALID_TOOL_CALL or tool_call.name not in active_tools:
            counters = trajectory_counters(agent_data)
            counters[INVALID_TOOL_CALLS] += 1
            fill_defaults(counters)
            if tool_call.name == INVALID_TOOL_CALL:
                return ToolResponse(text=invalid_call_error(tool_call.arguments)), 0.0, {}
        # A parquet row without tools_kwargs arrives as None; verl would answer every call with a NoneType error.
        return await super()._call_tool(tool_call, tools_kwargs or {}, agent_data)

    async def ct_merge_context_msg(self, previous_messages, updated_messages, *args, **kwargs):
        interleave_frame_labels(updated_messages[len(previous_messages) :], self.family)
        return await super().ct_merge_context_msg(previous_messages, updated_messages, *args, **kwargs)
