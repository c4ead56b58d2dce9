"""Read the dataset's row files ourselves, checked line by line, instead of through lmms-engine's loader.

Why: lmms-engine 0.1.4 reads JSONL with `jsonlines` inside a `multiprocessing.Pool`; one truncated line raises an
error the pool cannot pass back, and the build hangs forever (seen > 14 min). Our reader (`core.rowfile`) names the
file and line, and the trace grammar (`core.trace_rows`) is checked on every row before anything is trained, so
`on_bad_row: raise` stops on the first bad row in file order and `skip` leaves it out and counts it.

Formats read here: `json` / `jsonl` (dataset_path) and `yaml` (inline `datasets:` or a YAML file of them) whose
entries are json / jsonl / parquet. Anything else (arrow, hf_dataset, csv entries) stays with lmms-engine's loader;
those rows are still checked one by one when they are measured or loaded.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from longvt_plugins.core.rowfile import Skipped, check_rows
from longvt_plugins.core.trace_rows import CropReplay, parse_row, row_id_of
from longvt_plugins.lmms_engine.media import MediaLoader

OURS = ("json", "jsonl", "parquet")


@dataclass
class Loaded:
    rows: list[dict[str, Any]] = field(default_factory=list)
    places: list[str] = field(default_factory=list)  # FILE:LINE of each row
    folders: list[str | None] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)


def dataset_files(config) -> list[tuple[str, str | None, str]] | None:
    """(path, data_folder, data_type) of every file the config names, or None when one is not ours to read."""
    fmt = config.dataset_format
    if fmt in ("json", "jsonl"):
        entries = [{"path": config.dataset_path, "data_type": fmt}]
    elif fmt == "yaml":
        entries = config.datasets
        if entries is None and config.dataset_path:
            entries = (yaml.safe_load(Path(config.dataset_path).read_text()) or {}).get("datasets")
        entries = entries or []
    else:
        return None
    files = [(e.get("path"), e.get("data_folder") or None, e.get("data_type", "json")) for e in entries]
    if not files or any(kind not in OURS or not path for path, _, kind in files):
        return None
    return files


def _stored(row: dict[str, Any]) -> dict[str, Any]:
    """The fields the trace reader uses, with `messages` / `tools` as JSON text: one Arrow type per column
    whatever shapes the parts have (rows from several files share one table)."""
    rid = row.get("id")
    tools = row.get("tools")
    return {
        "id": None if rid in (None, "") else str(rid),
        "messages": row["messages"] if isinstance(row["messages"], str) else json.dumps(row["messages"]),
        "tools": tools if tools is None or isinstance(tools, str) else json.dumps(tools),
        "video": row["video"] if isinstance(row.get("video"), str) else None,  # replay checked its type
    }


def _media_checker(folder: str | None):
    """The trace grammar, then every media file the row names must exist (a cheap stat, no decoding), so that
    `raise` names the first bad row in file order whatever is wrong with it."""
    loader = MediaLoader(folder)

    def check(row: dict[str, Any], where: str) -> None:
        trace = parse_row(row, row_id_of(row, where))
        for ref in trace.media:
            url = ref.video if isinstance(ref, CropReplay) else ref.url
            if not url.startswith(("data:", "http://", "https://")):
                loader.path(url, trace.row_id)

    return check


def load_checked(files: list[tuple[str, str | None, str]], on_bad: str) -> Loaded:
    """Every row of the files, in order, checked (grammar, media files present); raises RowFileError
    (on_bad="raise") at the first bad one, or skips and lists it (on_bad="skip")."""
    out = Loaded()
    for path, folder, _ in files:
        checked = check_rows(path, _media_checker(folder), on_bad=on_bad)
        out.rows += [_stored(row) for _, row in checked.rows]
        out.places += [where for where, _ in checked.rows]
        out.folders += [folder] * len(checked.rows)
        out.skipped += checked.skipped
    return out
