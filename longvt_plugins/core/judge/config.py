"""How to reach the judge (``JudgeConfig``, filled from the environment) and what one verdict is (``JudgeResult``)."""

from __future__ import annotations

import os
from dataclasses import dataclass, fields
from typing import Any

from longvt_plugins.core.paths import cache_root

_DISABLED = {"", "0", "off", "none", "false", "no"}


@dataclass(frozen=True)
class JudgeConfig:
    """How to reach the judge. ``JudgeConfig.from_env(**overrides)`` fills unset fields from the environment."""

    base_url: str | None = None  # ".../v1"; None means no judge: every verdict is the rule fallback
    model: str | None = None  # None: the first model listed by GET /v1/models, asked on first use
    api_key: str = "EMPTY"
    timeout: float = 60.0  # seconds per HTTP attempt
    concurrency: int = 32  # open requests per process, all event loops together
    retries: int = 3  # extra attempts after the first, for transient failures only
    backoff_base: float = 0.5  # first backoff in seconds, doubled each retry, with jitter
    backoff_max: float = 30.0  # cap of one backoff, and of a honoured Retry-After
    cache_path: str | None = None  # SQLite file; None: no cache
    temperature: float = 0.0  # deterministic verdicts are what make the cache sound
    max_tokens: int = 1024  # room for a thinking judge's <think> block before its verdict

    def __post_init__(self) -> None:
        if self.concurrency < 1:
            raise ValueError(f"judge concurrency must be >= 1, got {self.concurrency}")
        if self.retries < 0:
            raise ValueError(f"judge retries must be >= 0, got {self.retries}")
        if self.timeout <= 0:
            raise ValueError(f"judge timeout must be > 0, got {self.timeout}")

    @classmethod
    def from_env(cls, **overrides: Any) -> JudgeConfig:
        """Overrides that are not None win; then ``LONGVT_JUDGE_*``; then upstream's ``LLM_AS_A_JUDGE_BASE``.

        The cache defaults to ``$LONGVT_JUDGE_CACHE``, else ``judge_cache.sqlite`` under the cache root
        (``core.paths.cache_root``); ``cache_path="off"`` (or the env set to ``off``) disables it.
        """
        known = {f.name for f in fields(cls)}
        unknown = set(overrides) - known
        if unknown:
            raise TypeError(f"unknown judge settings {sorted(unknown)}; known: {sorted(known)}")
        env = os.environ
        values: dict[str, Any] = {
            "base_url": env.get("LONGVT_JUDGE_BASE_URL") or env.get("LLM_AS_A_JUDGE_BASE") or None,
            "model": env.get("LONGVT_JUDGE_MODEL") or None,
            "api_key": env.get("LONGVT_JUDGE_API_KEY") or "EMPTY",
        }
        for name, kind in (("timeout", float), ("concurrency", int), ("retries", int)):
            raw = env.get(f"LONGVT_JUDGE_{name.upper()}")
            if raw:
                try:
                    values[name] = kind(raw)
                except ValueError as exc:
                    raise ValueError(
                        f"LONGVT_JUDGE_{name.upper()}={raw!r} is not a valid {kind.__name__}"
                    ) from exc
        cache = env.get("LONGVT_JUDGE_CACHE")
        if cache is None:
            cache = str(cache_root() / "judge_cache.sqlite")
        values["cache_path"] = cache
        values.update({k: v for k, v in overrides.items() if v is not None})
        if isinstance(values["cache_path"], str | os.PathLike):
            values["cache_path"] = (
                None if str(values["cache_path"]).lower() in _DISABLED else str(values["cache_path"])
            )
        return cls(**values)


@dataclass(frozen=True)
class JudgeResult:
    """One verdict. ``score`` is 0 / 0.5 / 1 for ``grade`` and 0 / 1 for ``equivalent``."""

    score: float
    fallback: bool = False  # True: the judge failed and ``score`` is the rule-based score
    cached: bool = False
    reason: str = ""
    reply: str | None = None  # the judge's raw text, when there was one
    attempts: int = 0  # HTTP attempts spent on this verdict (0 when cached or no judge)
