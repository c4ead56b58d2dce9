"""The pipeline's stages, one module each; `stage_class(name)` maps a stage name to its class."""

from __future__ import annotations

import importlib

_MODULES = {
    "detect": "detect",
    "caption": "caption",
    "merge": "merge",
    "qa": "qa",
    "filter-text": "filter_text",
    "filter-vl": "filter_vl",
    "traces": "teacher_traces",
    "export": "export",
}


def stage_class(name: str):
    if name not in _MODULES:
        raise KeyError(f"unknown stage {name!r}; stages: {', '.join(_MODULES)}")
    module = importlib.import_module(f"longvt_plugins.pipeline.stages.{_MODULES[name]}")
    return module.STAGE
