"""`zoom_frame` as a verl 0.9.1 native tool (`verl.tools.base_tool.BaseTool`), on top of `core.tools.zoom_frame`.

Tool YAML (shipped beside crop_video and search_subtitles in `longvt_plugins/verl/tool_config_tools.yaml`)::

    tools:
      - class_name: longvt_plugins.verl.zoom_tool.ZoomFrameTool
        config: {type: native, max_calls: 5, min_pixels: 50176, max_pixels: 200704, patch_size: 14}

As `CropVideoTool`: the sample's video arrives per call as `create_kwargs["video_path"]`
(`extra_info.tools_kwargs.zoom_frame.create_kwargs`), per-trajectory counts and the regions returned live in
`agent_data.extra_fields` (`counters.py`: `zoom_calls`, `zoom_errors`, `zoom_regions`), decoding runs in a thread,
and the image carries its time label in `Image.info`, which `LongVTToolAgentLoop` writes in front of it. Every
failure is the core tool's error text, never an exception.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections import OrderedDict
from typing import Any
from uuid import uuid4

from verl.tools.base_tool import BaseTool
from verl.tools.schemas import OpenAIFunctionToolSchema, ToolResponse

from longvt_plugins.core.budget import ZoomBudget
from longvt_plugins.core.crop_tool import timestamped_parts
from longvt_plugins.core.families import QWEN3_VL
from longvt_plugins.core.tools.zoom_frame import ZOOM_FRAME_SCHEMA
from longvt_plugins.core.tools.zoom_frame import ZoomFrameTool as BoundZoomTool
from longvt_plugins.verl.counters import (
    ZOOM_CALLS,
    ZOOM_ERRORS,
    ZOOM_REGIONS,
    append_in_call_order,
    fill_defaults,
    trajectory_counters,
)
from longvt_plugins.verl.names import FRAME_LABEL_KEY, FRAME_TIME_KEY

_BUDGET_KEYS = {f.name for f in dataclasses.fields(ZoomBudget)}
_VERL_KEYS = {"type"}
NO_VIDEO_TEXT = (
    "zoom_frame error: no video is attached to this question, so nothing can be zoomed. "
    "Answer from the frames you have already seen."
)


def budget_from_config(config: dict[str, Any] | None) -> ZoomBudget:
    """A `ZoomBudget` from the tool YAML's `config`; an unknown key or a bad value is an error, not a default."""
    config = dict(config or {})
    unknown = sorted(set(config) - _BUDGET_KEYS - _VERL_KEYS)
    if unknown:
        raise ValueError(
            f"zoom_frame tool config has unknown key(s) {unknown}; allowed: {sorted(_BUDGET_KEYS | _VERL_KEYS)}"
        )
    return ZoomBudget(**{k: v for k, v in config.items() if k in _BUDGET_KEYS}).validate()


class ZoomFrameTool(BaseTool):
    """verl's view of `zoom_frame(time, bbox)`, bound per call to the sample's video."""

    cache_size = 256  # bound tools per video, so a trajectory's second zoom does not probe the file again

    def __init__(self, config: dict[str, Any], tool_schema: OpenAIFunctionToolSchema | None = None):
        # Cheap on purpose: verl also builds this tool on the driver, only to read its schema.
        self.budget = budget_from_config(config)
        schema = tool_schema or OpenAIFunctionToolSchema.model_validate(ZOOM_FRAME_SCHEMA)
        super().__init__(config, schema)
        self._videos: dict[str, str | None] = {}  # instance id -> video path, from create() to release()
        self._bound: OrderedDict[str, BoundZoomTool] = OrderedDict()

    async def create(
        self, instance_id: str | None = None, create_kwargs: dict[str, Any] | None = None, **kwargs
    ) -> tuple[str, ToolResponse]:
        instance_id = instance_id or uuid4().hex
        video_path = (create_kwargs or {}).get("video_path") or kwargs.get("video_path")
        self._videos[instance_id] = str(video_path) if video_path else None
        return instance_id, ToolResponse()

    async def execute(
        self, instance_id: str, parameters: dict[str, Any], **kwargs
    ) -> tuple[ToolResponse, float, dict[str, Any]]:
        counters = trajectory_counters(kwargs.get("agent_data"))
        calls_made = int(counters[ZOOM_CALLS])
        # Count before decoding: parallel calls of one trajectory each see their own position under the cap.
        counters[ZOOM_CALLS] = calls_made + 1
        fill_defaults(counters)
        video_path = self._videos.get(instance_id)
        if not video_path:
            counters[ZOOM_ERRORS] += 1
            return ToolResponse(text=NO_VIDEO_TEXT), 0.0, {"ok": False, "error": "no_video"}
        result = await asyncio.to_thread(
            self._bound_tool(video_path).execute, parameters, calls_made=calls_made
        )
        if not result.ok:
            counters[ZOOM_ERRORS] += 1
            return ToolResponse(text=result.text), 0.0, {"ok": False, "error": result.error}
        # The loop labels the image for its policy's family, as it does a crop's frames.
        (image,) = result.frames
        image.info[FRAME_LABEL_KEY] = timestamped_parts(result.frames, result.timestamps)[0]["text"]
        image.info[FRAME_TIME_KEY] = result.label_times(QWEN3_VL)[0]
        region = [float(result.timestamps[0]), *map(float, result.region)]
        append_in_call_order(kwargs.get("agent_data"), counters, ZOOM_REGIONS, calls_made, region)
        return ToolResponse(image=[image], text=result.text), 0.0, {"ok": True, "size": list(result.size)}

    async def release(self, instance_id: str, **kwargs) -> None:
        self._videos.pop(instance_id, None)

    def _bound_tool(self, video_path: str) -> BoundZoomTool:
        tool = self._bound.get(video_path)
        if tool is None:
            tool = self._bound[video_path] = BoundZoomTool(video_path, self.budget)
            while len(self._bound) > self.cache_size:
                self._bound.popitem(last=False)
        else:
            self._bound.move_to_end(video_path)
        return tool
