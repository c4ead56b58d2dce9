"""Where longvt keeps files it can rebuild: judge verdicts, token-length caches, built test fixtures.

One root for all of them, so a user moves or clears everything with one setting: ``$LONGVT_CACHE``, else
``$XDG_CACHE_HOME/longvt``, else ``~/.cache/longvt``.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["cache_root"]


def cache_root(*, create: bool = False) -> Path:
    """The cache root. Reading it touches no disk unless ``create`` asks for the folder to exist."""
    explicit = os.environ.get("LONGVT_CACHE")
    if explicit:
        root = Path(explicit)
    else:
        root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "longvt"
    if create:
        root.mkdir(parents=True, exist_ok=True)
    return root
