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
from typing import Any

from verl.tools.schemas import ToolResponse

from longvt_plugins.core.budget import ZoomBudget
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
from longvt_plugins.verl.tool import VideoBoundTool, budget_from_fields, label_frames

NO_VIDEO_TEXT = (
    "zoom_frame error: no video is attached to this question, so nothing can be zoomed. "
    "Answer from the frames you have already seen."
)


def budget_from_config(config: dict[str, Any] | None) -> ZoomBudget:
    """A `ZoomBudget` from the tool YAML's `config`; an unknown key or a bad value is an error, not a default."""
    return budget_from_fields(ZoomBudget, "zoom_frame", config).validate()


class ZoomFrameTool(VideoBoundTool):
    """verl's view of `zoom_frame(time, bbox)`, bound per call to the sample's video."""

    SCHEMA = ZOOM_FRAME_SCHEMA
    BOUND = BoundZoomTool
    read_budget = staticmethod(budget_from_config)

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
        label_frames(result)  # the loop labels the image for its policy's family, as it does a crop's frames
        (image,) = result.frames
        region = [float(result.timestamps[0]), *map(float, result.region)]
        append_in_call_order(kwargs.get("agent_data"), counters, ZOOM_REGIONS, calls_made, region)
        return ToolResponse(image=[image], text=result.text), 0.0, {"ok": True, "size": list(result.size)}
