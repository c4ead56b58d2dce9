"""`search_subtitles` as a verl 0.9.1 native tool (`verl.tools.base_tool.BaseTool`), on top of `core.tools`.

Tool YAML (shipped beside crop_video as `longvt_plugins/verl/tool_config_tools.yaml`)::

    tools:
      - class_name: longvt_plugins.verl.search_tool.SearchSubtitlesTool
        config: {type: native, max_calls: 5}

Like `CropVideoTool`: verl calls `create(create_kwargs=row.extra_info.tools_kwargs.search_subtitles.create_kwargs)`
before every call, so the sample's own subtitle file arrives as `create_kwargs["subtitle_path"]`; the model never
names a file. Per-trajectory call counts live in `agent_data.extra_fields` (`counters.py`), the search runs in a
thread (the first call of a file builds its index), and every failure - bad arguments, no or unreadable subtitles,
the call cap - is the core tool's error text, never an exception.
"""

from __future__ import annotations

import asyncio
from typing import Any
from uuid import uuid4

from verl.tools.base_tool import BaseTool
from verl.tools.schemas import OpenAIFunctionToolSchema, ToolResponse

from longvt_plugins.core.tools.search_subtitles import SEARCH_SUBTITLES_SCHEMA
from longvt_plugins.core.tools.search_subtitles import SearchSubtitlesTool as BoundSearchTool
from longvt_plugins.verl.counters import SEARCH_CALLS, SEARCH_ERRORS, fill_defaults, trajectory_counters

_CONFIG_KEYS = {"type", "max_calls"}  # `type` is verl's own


def max_calls_from_config(config: dict[str, Any] | None) -> int:
    """The per-trajectory call cap from the tool YAML's `config`; an unknown key is an error, not a default."""
    config = dict(config or {})
    unknown = sorted(set(config) - _CONFIG_KEYS)
    if unknown:
        raise ValueError(
            f"search_subtitles tool config has unknown key(s) {unknown}; allowed: {sorted(_CONFIG_KEYS)}"
        )
    max_calls = int(config.get("max_calls", 5))
    if max_calls < 1:
        raise ValueError(f"search_subtitles max_calls must be >= 1, got {max_calls}")
    return max_calls


class SearchSubtitlesTool(BaseTool):
    """verl's view of `search_subtitles(query, start_time, end_time)`, bound per call to the sample's subtitles."""

    def __init__(self, config: dict[str, Any], tool_schema: OpenAIFunctionToolSchema | None = None):
        # Cheap on purpose: verl also builds this tool on the driver, only to read its schema.
        self.max_calls = max_calls_from_config(config)
        schema = tool_schema or OpenAIFunctionToolSchema.model_validate(SEARCH_SUBTITLES_SCHEMA)
        super().__init__(config, schema)
        self._subtitles: dict[
            str, str | None
        ] = {}  # instance id -> subtitle path, from create() to release()

    async def create(
        self, instance_id: str | None = None, create_kwargs: dict[str, Any] | None = None, **kwargs
    ) -> tuple[str, ToolResponse]:
        instance_id = instance_id or uuid4().hex
        path = (create_kwargs or {}).get("subtitle_path") or kwargs.get("subtitle_path")
        self._subtitles[instance_id] = str(path) if path else None
        return instance_id, ToolResponse()

    async def execute(
        self, instance_id: str, parameters: dict[str, Any], **kwargs
    ) -> tuple[ToolResponse, float, dict[str, Any]]:
        counters = trajectory_counters(kwargs.get("agent_data"))
        calls_made = int(counters[SEARCH_CALLS])
        # Count before searching: parallel calls of one trajectory each see their own position under the cap.
        counters[SEARCH_CALLS] = calls_made + 1
        fill_defaults(counters)
        tool = BoundSearchTool(self._subtitles.get(instance_id), max_calls=self.max_calls)
        result = await asyncio.to_thread(tool.execute, parameters, calls_made=calls_made)
        if not result.ok:
            counters[SEARCH_ERRORS] += 1
            return ToolResponse(text=result.text), 0.0, {"ok": False, "error": result.error}
        return ToolResponse(text=result.text), 0.0, {"ok": True, "hits": len(result.hits)}

    async def release(self, instance_id: str, **kwargs) -> None:
        self._subtitles.pop(instance_id, None)
