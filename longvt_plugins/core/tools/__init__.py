"""The tool registry: every tool a host can offer, one file each (see `base.py` for what a tool provides).

Hosts enumerate `REGISTRY` (or `tool_schemas`) and bind the tools a protocol offers with `bind_tools`; adding a tool
is a new file here and one line in `_TOOLS`, no adapter change.
"""

from __future__ import annotations

from typing import Any

from longvt_plugins.core.budget import CropBudget
from longvt_plugins.core.tools import crop_video, search_subtitles, zoom_frame
from longvt_plugins.core.tools.base import BoundTool, SampleResources, ToolEntry

__all__ = [
    "REGISTRY",
    "BoundTool",
    "SampleResources",
    "ToolEntry",
    "bind_tools",
    "get_tool",
    "tool_names",
    "tool_schemas",
]

_TOOLS: tuple[ToolEntry, ...] = (crop_video.TOOL, search_subtitles.TOOL, zoom_frame.TOOL)
REGISTRY: dict[str, ToolEntry] = {t.name: t for t in _TOOLS}


def tool_names() -> list[str]:
    return list(REGISTRY)


def get_tool(name: str) -> ToolEntry:
    try:
        return REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown tool {name!r}; registered: {', '.join(REGISTRY)}") from None


def tool_schemas(names: list[str] | tuple[str, ...] | None = None) -> list[dict[str, Any]]:
    """Fresh copies of the schemas of `names` (default: every registered tool), in that order."""
    return [get_tool(n).fresh_schema() for n in (tool_names() if names is None else names)]


def bind_tools(
    names: list[str] | tuple[str, ...], resources: SampleResources, budget: CropBudget
) -> dict[str, BoundTool]:
    """The named tools bound to one sample, by name; each counts its own calls against `budget.max_calls`."""
    return {name: get_tool(name).bind(resources, budget) for name in dict.fromkeys(names)}
