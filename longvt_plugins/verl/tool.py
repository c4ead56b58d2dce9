"""`crop_video` as a verl 0.9.1 native tool (`verl.tools.base_tool.BaseTool`), on top of `core.crop_tool`.

Tool YAML (shipped as `longvt_plugins/verl/tool_config.yaml`)::

    tools:
      - class_name: longvt_plugins.verl.tool.CropVideoTool
        config: {type: native, fps: 1.0, max_frames: 128, max_pixels: 50176, max_calls: 5}

How verl drives it, and what that means here:

- verl calls `create(create_kwargs=row.extra_info.tools_kwargs.crop_video.create_kwargs)` before every call, so the
  sample's video arrives as `create_kwargs["video_path"]`. The model never names a file.
- One tool object serves every trajectory of a worker and each call gets a new instance id, so per-trajectory state
  (call count, errors, windows) lives in `agent_data.extra_fields` (see `counters.py`), never on the tool.
- Decoding runs in a thread: it must not block the event loop that all trajectories of the worker share.
- Frames go back as `ToolResponse(image=[...])`: verl 0.9.1 aborts the trajectory on `video=`. Each frame carries its
  timestamp label in `Image.info`, which `LongVTToolAgentLoop` puts in front of it; the summary text lists them too,
  so the model sees the timestamps under verl's stock `tool_agent` loop as well.
- Every failure (bad arguments, a window outside the video, an unreadable file, the call cap) is an error text for
  the model, never an exception: `core.crop_tool.CropVideoTool.execute` never raises.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections import OrderedDict
from typing import Any
from uuid import uuid4

from verl.tools.base_tool import BaseTool
from verl.tools.schemas import OpenAIFunctionToolSchema, ToolResponse

from longvt_plugins.core.crop_tool import CROP_VIDEO_SCHEMA, CropBudget, timestamped_parts
from longvt_plugins.core.crop_tool import CropVideoTool as BoundCropTool
from longvt_plugins.core.families import QWEN3_VL
from longvt_plugins.verl.counters import (
    CROP_CALLS,
    CROP_ERRORS,
    CROP_FRAMES,
    CROP_WINDOWS,
    append_in_call_order,
    fill_defaults,
    trajectory_counters,
)
from longvt_plugins.verl.names import FRAME_LABEL_KEY, FRAME_TIME_KEY, TURN_MAX_FRAMES_ATTR

# Keys of the tool YAML's `config` that verl itself reads.
_VERL_KEYS = {"type"}
NO_VIDEO_TEXT = (
    "crop_video error: no video is attached to this question, so nothing can be cropped. "
    "Answer from the frames you have already seen."
)


def budget_from_fields(budget_cls, tool_name: str, config: dict[str, Any] | None):
    """A `budget_cls` (a budget dataclass of core.budget) from a tool YAML's `config`; an unknown key is an error,
    not a silent default. Every video tool of ours reads its YAML this way."""
    config = dict(config or {})
    keys = {f.name for f in dataclasses.fields(budget_cls)}
    unknown = sorted(set(config) - keys - _VERL_KEYS)
    if unknown:
        raise ValueError(
            f"{tool_name} tool config has unknown key(s) {unknown}; allowed: {sorted(keys | _VERL_KEYS)}"
        )
    return budget_cls(**{k: v for k, v in config.items() if k in keys})


def budget_from_config(config: dict[str, Any] | None) -> CropBudget:
    """A `CropBudget` from the tool YAML's `config`; an unknown key is an error, not a silent default."""
    return budget_from_fields(CropBudget, "crop_video", config)


def label_frames(result) -> None:
    """Put each returned frame's time label in its `Image.info`: the loop writes it in front of the frame for its
    policy's family (it knows the checkpoint; a tool does not)."""
    qwen3_times = result.label_times(QWEN3_VL)
    for part, frame, t in zip(
        timestamped_parts(result.frames, result.timestamps)[::2], result.frames, qwen3_times, strict=True
    ):
        frame.info[FRAME_LABEL_KEY] = part["text"]
        frame.info[FRAME_TIME_KEY] = t


class VideoBoundTool(BaseTool):
    """What every video tool of ours shares in verl: the sample's video per instance (from `create_kwargs`), and one
    core tool bound per video, cached, so a trajectory's second call does not probe the file again. A subclass names
    its schema (`SCHEMA`), its core tool class (`BOUND`), its budget reader and its `execute`."""

    SCHEMA: dict[str, Any]
    BOUND: type
    cache_size = 256

    @staticmethod
    def read_budget(config: dict[str, Any] | None):
        raise NotImplementedError

    def __init__(self, config: dict[str, Any], tool_schema: OpenAIFunctionToolSchema | None = None):
        # Cheap on purpose: verl also builds this tool on the driver (RLHFDataset), only to read its schema.
        self.budget = self.read_budget(config)
        schema = tool_schema or OpenAIFunctionToolSchema.model_validate(self.SCHEMA)
        super().__init__(config, schema)
        self._videos: dict[str, str | None] = {}  # instance id -> video path, from create() to release()
        self._bound: OrderedDict[str, Any] = OrderedDict()

    async def create(
        self, instance_id: str | None = None, create_kwargs: dict[str, Any] | None = None, **kwargs
    ) -> tuple[str, ToolResponse]:
        instance_id = instance_id or uuid4().hex
        video_path = (create_kwargs or {}).get("video_path") or kwargs.get("video_path")
        self._videos[instance_id] = str(video_path) if video_path else None
        return instance_id, ToolResponse()

    async def release(self, instance_id: str, **kwargs) -> None:
        self._videos.pop(instance_id, None)

    def _bound_tool(self, video_path: str):
        tool = self._bound.get(video_path)
        if tool is None:
            tool = self._bound[video_path] = self.BOUND(video_path, self.budget)
            while len(self._bound) > self.cache_size:
                self._bound.popitem(last=False)
        else:
            self._bound.move_to_end(video_path)
        return tool


class CropVideoTool(VideoBoundTool):
    """verl's view of `crop_video(start_time, end_time)`, bound per call to the sample's video."""

    SCHEMA = CROP_VIDEO_SCHEMA
    BOUND = BoundCropTool
    read_budget = staticmethod(budget_from_config)

    async def execute(
        self, instance_id: str, parameters: dict[str, Any], **kwargs
    ) -> tuple[ToolResponse, float, dict[str, Any]]:
        counters = trajectory_counters(kwargs.get("agent_data"))
        calls_made = int(counters[CROP_CALLS])
        # Count before decoding: parallel calls of one trajectory must each see their own position under the cap.
        counters[CROP_CALLS] = calls_made + 1
        fill_defaults(counters)  # keeps tool_call_counts right under verl's stock tool_agent loop too
        video_path = self._videos.get(instance_id)
        if not video_path:
            counters[CROP_ERRORS] += 1
            return ToolResponse(text=NO_VIDEO_TEXT), 0.0, {"ok": False, "error": "no_video"}

        tool = self._bound_tool(video_path)
        # The turn's crop frames shared by its crops (longvt_tool_agent's per-turn budget), else the tool's cap.
        turn_max_frames = getattr(kwargs.get("agent_data"), TURN_MAX_FRAMES_ATTR, None)
        if turn_max_frames is not None:
            tool = tool.with_max_frames(turn_max_frames)
        result = await asyncio.to_thread(tool.execute, parameters, calls_made=calls_made)
        if not result.ok:
            counters[CROP_ERRORS] += 1
            return ToolResponse(text=result.text), 0.0, {"ok": False, "error": result.error}

        label_frames(result)
        counters[CROP_FRAMES] += len(result.frames)
        window = [float(result.window[0]), float(result.window[1])]
        append_in_call_order(kwargs.get("agent_data"), counters, CROP_WINDOWS, calls_made, window)
        response = (
            ToolResponse(image=result.frames, text=result.text)
            if result.frames
            else ToolResponse(text=result.text)
        )
        return response, 0.0, {"ok": True, "frames": len(result.frames)}
