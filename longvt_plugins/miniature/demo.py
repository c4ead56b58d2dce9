"""The README main job's inputs: the shipped miniature checkpoint and a demo video from its own seed range.

The checkpoint (~3.5 MB) ships inside the package (`longvt_plugins/miniature/checkpoint/`);
`python -m longvt_plugins.miniature checkpoint` rebuilds it from scratch. The demo video is built on first use
(under the LONGVT cache) from the "demo" seed range, which no training, tuning or test split uses; the demo
question was fixed before training: the one question of the first demo video.
"""

from __future__ import annotations

from pathlib import Path

from longvt_plugins.miniature.task import MiniItem, make_split


def shipped_checkpoint() -> Path:
    path = Path(__file__).resolve().parent / "checkpoint"
    if not (path / "model.safetensors").exists():
        raise FileNotFoundError(
            f"no miniature checkpoint at {path}; build it with `python -m longvt_plugins.miniature checkpoint`"
        )
    return path


def demo_item(cache_dir: str | Path | None = None) -> MiniItem:
    from longvt_plugins.core.paths import cache_root

    root = Path(cache_dir) if cache_dir else cache_root(create=True)
    return make_split(root / "miniature", "demo", 1)[0]
