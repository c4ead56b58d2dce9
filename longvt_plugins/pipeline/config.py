"""Pipeline configuration: one YAML file (see data/configs/*.yaml), validated up front with clear errors.

A config names the work directory, the video manifest, a default model endpoint, and per-stage options. Any
stage may override the endpoint (`stages.caption.model: {...}`) so captions can come from a VLM on one server
and text filtering from an LLM on another. Unknown keys are errors, not silently ignored (a typo in
`threshhold` must not fall back to the default without telling anyone).
"""

from __future__ import annotations

import copy
import os
from pathlib import Path

import yaml

# Every stage, in pipeline order. The CLI and the runner take names from here.
STAGE_ORDER = ("detect", "caption", "merge", "qa", "filter-text", "filter-vl", "traces", "export")

ENDPOINT_DEFAULTS = {
    "base_url": None,  # falls back to $LONGVT_PIPELINE_BASE_URL, then $OPENAI_BASE_URL
    "model": None,  # falls back to $LONGVT_PIPELINE_MODEL, then the server's first model
    "api_key": None,  # falls back to $LONGVT_PIPELINE_API_KEY, $OPENAI_API_KEY, then "EMPTY"
    "timeout": 120.0,
    "retries": 3,  # transport retries (429 / 5xx / timeouts), done by the openai SDK
    "json_retries": 2,  # extra attempts when a reply that must be JSON (or yes/no, a score) is not
    "temperature": 0.2,
    "max_tokens": 1024,
    "concurrency": 8,  # requests in flight per stage (thread pool size)
}

TOP_DEFAULTS = {
    "workdir": "runs/pipeline",
    "videos": None,  # a JSONL / JSON manifest of {"video_id", "path"}; paths relative to the manifest
    "model": {},
    "stages": {},
}


class ConfigError(ValueError):
    """The pipeline configuration is invalid; the message says which key and why."""


def _stage_defaults() -> dict[str, dict]:
    from longvt_plugins.pipeline.stages import stage_class

    return {name: stage_class(name).defaults for name in STAGE_ORDER}


def _check_keys(given: dict, allowed: dict, where: str) -> None:
    unknown = sorted(set(given) - set(allowed))
    if unknown:
        raise ConfigError(
            f"{where}: unknown key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(allowed))}"
        )


class PipelineConfig:
    """Validated configuration. Picklable as `to_dict()` / `from_dict()` (process pools, Ray workers)."""

    def __init__(self, data: dict, base_dir: str | Path | None = None):
        if not isinstance(data, dict):
            raise ConfigError("the pipeline config must be a mapping")
        _check_keys(data, TOP_DEFAULTS, "config")
        self.base_dir = Path(base_dir or ".").resolve()
        merged = copy.deepcopy(TOP_DEFAULTS)
        merged.update(copy.deepcopy(data))
        model = merged.get("model") or {}
        if not isinstance(model, dict):
            raise ConfigError("config.model must be a mapping of endpoint settings")
        _check_keys(model, ENDPOINT_DEFAULTS, "config.model")
        stages = merged.get("stages") or {}
        if not isinstance(stages, dict):
            raise ConfigError("config.stages must be a mapping of stage name -> options")
        defaults = _stage_defaults()
        for name, opts in stages.items():
            if name not in defaults:
                raise ConfigError(f"config.stages: unknown stage {name!r}; stages: {', '.join(STAGE_ORDER)}")
            if opts is None:
                stages[name] = {}
                continue
            if not isinstance(opts, dict):
                raise ConfigError(f"config.stages.{name} must be a mapping")
            allowed = dict(defaults[name], model=None)
            _check_keys(opts, allowed, f"config.stages.{name}")
            for key in ("model", "judge"):
                if isinstance(opts.get(key), dict):
                    _check_keys(opts[key], ENDPOINT_DEFAULTS, f"config.stages.{name}.{key}")
        merged["model"], merged["stages"] = model, stages
        self.data = merged

    # ------------------------------------------------------------------------------------------ loading
    @classmethod
    def load(cls, path: str | Path, overrides: dict | None = None) -> PipelineConfig:
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"config file not found: {path}")
        try:
            data = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path}: not valid YAML ({exc})") from exc
        if overrides:
            data = {**data, **overrides}
        return cls(data, base_dir=path.parent)

    def to_dict(self) -> dict:
        return {"data": self.data, "base_dir": str(self.base_dir)}

    @classmethod
    def from_dict(cls, d: dict) -> PipelineConfig:
        return cls(d["data"], base_dir=d["base_dir"])

    # ------------------------------------------------------------------------------------------ access
    def _path(self, value: str | None) -> Path | None:
        if value is None:
            return None
        p = Path(os.path.expanduser(str(value)))
        return p if p.is_absolute() else (self.base_dir / p).resolve()

    @property
    def workdir(self) -> Path:
        return self._path(self.data["workdir"])  # type: ignore[return-value]

    @property
    def videos(self) -> Path | None:
        return self._path(self.data.get("videos"))

    def stage_options(self, name: str) -> dict:
        opts = copy.deepcopy(_stage_defaults()[name])
        opts.update({k: v for k, v in (self.data["stages"].get(name) or {}).items() if k != "model"})
        return opts

    def endpoint(self, stage: str, key: str = "model") -> dict:
        """Endpoint settings of a stage: defaults < config.model < config.stages.<stage>.<key> < env."""
        ep = dict(ENDPOINT_DEFAULTS)
        ep.update(self.data.get("model") or {})
        ep.update((self.data["stages"].get(stage) or {}).get(key) or {})
        ep["base_url"] = (
            ep["base_url"] or os.environ.get("LONGVT_PIPELINE_BASE_URL") or os.environ.get("OPENAI_BASE_URL")
        )
        ep["model"] = ep["model"] or os.environ.get("LONGVT_PIPELINE_MODEL")
        ep["api_key"] = (
            ep["api_key"]
            or os.environ.get("LONGVT_PIPELINE_API_KEY")
            or os.environ.get("OPENAI_API_KEY")
            or "EMPTY"
        )
        return ep
