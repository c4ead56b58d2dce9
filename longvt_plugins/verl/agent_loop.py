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

Everything else (generation, token bookkeeping, masks, multimodal inputs) is verl's own code.
"""

from __future__ import annotations

import logging
from typing import Any

from verl.experimental.agent_loop.agent_loop import register
from verl.experimental.agent_loop.tool_agent_loop import ToolAgentLoop
from verl.tools.schemas import ToolResponse

from longvt_plugins.core.crop_tool import timestamped_parts
from longvt_plugins.core.families import DEFAULT_FAMILY, QWEN3_VL, model_family
from longvt_plugins.verl.counters import INVALID_TOOL_CALLS, fill_defaults, trajectory_counters
from longvt_plugins.verl.names import AGENT_LOOP_NAME, FRAME_LABEL_KEY, FRAME_TIME_KEY
from longvt_plugins.verl.tool_parser import INVALID_TOOL_CALL, LongVTHermesToolParser, invalid_call_error

logger = logging.getLogger(__name__)


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
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # How the policy reads frame times, from its checkpoint's config (never a setting).
        self.family = model_family(self.config.actor_rollout_ref.model.path)
        # Our parser returns the same calls as verl's hermes parser, plus the malformed ones as visible errors.
        if self.tool_parser_name == "hermes":
            self.tool_parser = LongVTHermesToolParser(self.tokenizer)

    async def run(self, sampling_params: dict[str, Any], **kwargs):
        output = await super().run(sampling_params, **kwargs)
        fill_defaults(output.extra_fields)
        return output

    async def _call_tool(self, tool_call, tools_kwargs, agent_data):
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
