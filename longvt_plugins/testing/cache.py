"""Where built fixtures (tiny model, sample videos) are cached: $LONGVT_CACHE, else ~/.cache/longvt."""

from __future__ import annotations

import os
from pathlib import Path


def cache_root() -> Path:
    root = Path(os.environ.get("LONGVT_CACHE") or Path.home() / ".cache" / "longvt")
    root.mkdir(parents=True, exist_ok=True)
    return root
