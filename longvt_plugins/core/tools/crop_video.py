"""`crop_video(start_time, end_time)` in the registry: `core.crop_tool` as it is (schema, checks, execution, texts)."""

from __future__ import annotations

from longvt_plugins.core.budget import CropBudget
from longvt_plugins.core.crop_tool import (
    CROP_VIDEO_NAME,
    CROP_VIDEO_SCHEMA,
    CropVideoTool,
    parse_crop_arguments,
)
from longvt_plugins.core.tools.base import SampleResources, ToolEntry


def bind(resources: SampleResources, budget: CropBudget) -> CropVideoTool:
    if resources.video_path is None:
        raise ValueError("crop_video needs the sample's video_path")
    return CropVideoTool(str(resources.video_path), budget=budget)


TOOL = ToolEntry(
    name=CROP_VIDEO_NAME,
    schema=CROP_VIDEO_SCHEMA,
    parse_arguments=parse_crop_arguments,
    bind=bind,
    reads=("video_path",),
    doc="A denser resample of one time window of the sample's video, every frame labelled with its time.",
)
