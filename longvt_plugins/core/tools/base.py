"""What every tool of the registry provides (`ToolEntry`) and what a tool bound to one sample looks like.

A tool is one file in this package defining a module-level `TOOL = ToolEntry(...)`: its OpenAI function schema, its
argument parser (hostile input -> `ArgumentError` with a model-readable text), and `bind`, which returns an object
with `execute(arguments, *, calls_made=None)` that never raises and is tied to the sample's own resources (the model
never names a file). A result has `ok`, `text`, `error`, `frames`, `timestamps`, `window`, `notes`, and
`content_parts(family)`: the tool message's content parts (the rendering).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from longvt_plugins.core.budget import CropBudget


@dataclass(frozen=True)
class SampleResources:
    """The files one sample's tools may read, resolved by the host from its own data (never from a model call)."""

    video_path: str | None = None
    subtitle_path: str | None = None  # SRT / WebVTT (a transcript from any ASR is the same format)


class BoundTool(Protocol):
    name: str
    schema: dict[str, Any]

    def execute(self, arguments: Any, *, calls_made: int | None = None) -> Any: ...


@dataclass(frozen=True)
class ToolEntry:
    name: str
    schema: dict[str, Any]  # the function schema as sent; `ToolEntry.fresh_schema()` gives a copy to change
    parse_arguments: Callable[[Any], Any]  # raises ArgumentError with a text the model reads
    # bind(resources, budget): the tool for one sample; budget.max_calls caps this tool's calls per trajectory
    bind: Callable[[SampleResources, CropBudget], BoundTool]
    reads: tuple[str, ...]  # the SampleResources fields the tool opens (nothing else, ever)
    doc: str = ""

    def fresh_schema(self) -> dict[str, Any]:
        return json.loads(json.dumps(self.schema))
