"""Built fixtures (tiny model, sample videos) live under core's cache root, created on first use."""

from __future__ import annotations

from pathlib import Path

from longvt_plugins.core import paths


def cache_root() -> Path:
    return paths.cache_root(create=True)
