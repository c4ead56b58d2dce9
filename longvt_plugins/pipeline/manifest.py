"""The pipeline's input: a manifest of videos, JSONL (one object a line) or a JSON list.

Each entry is `{"video_id": "...", "path": "..."}`; a relative path is relative to the manifest's folder. Extra
keys (source, license, split) are kept and travel with the video's records. `video_id` may be left out, then the
file name without extension is used; two videos with one id are an error, since every result is keyed by it.
"""

from __future__ import annotations

import json
from pathlib import Path

from longvt_plugins.pipeline.config import ConfigError


def load_manifest(path: str | Path) -> list[dict]:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"video manifest not found: {path}")
    text = path.read_text(encoding="utf-8")
    try:
        if text.lstrip().startswith("["):
            entries = json.loads(text)
        else:
            entries = [json.loads(line) for line in text.splitlines() if line.strip()]
    except ValueError as exc:
        raise ConfigError(f"{path}: not JSON / JSONL ({exc})") from exc
    videos, seen = [], set()
    for i, e in enumerate(entries, 1):
        if isinstance(e, str):
            e = {"path": e}
        if not isinstance(e, dict) or not e.get("path"):
            raise ConfigError(f"{path}: entry {i} needs a 'path'")
        p = Path(e["path"]).expanduser()
        if not p.is_absolute():
            p = (path.parent / p).resolve()
        vid = str(e.get("video_id") or p.stem)
        if vid in seen:
            raise ConfigError(f"{path}: video_id {vid!r} appears twice (results are keyed by it)")
        seen.add(vid)
        videos.append({**e, "video_id": vid, "path": str(p)})
    return videos
