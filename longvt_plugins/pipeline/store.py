"""On-disk state of a stage: an append-only journal of finished units, and the final records / failures files.

Layout (one folder per stage, `sfx` = `""` or `.shard-00002-of-00008` under static sharding)::

    <workdir>/<stage>/journal<sfx>.jsonl    one line per finished unit: {"unit", "ok", "records" | "reason"}
    <workdir>/<stage>/records<sfx>.jsonl    the stage's output, one record per line, sorted by "id"
    <workdir>/<stage>/failures<sfx>.jsonl   {"id", "stage", "reason", "error"} sorted by "id"
    <workdir>/<stage>/state<sfx>.json       counts + "complete": true once records/failures are written

Why a journal of whole units: a unit (one clip, one video chunk, one QA) is written with a single `write()` of
one line on an O_APPEND descriptor, so a reader sees all of a unit's records or none. A run killed mid-write
can leave at most a torn last line; `Journal.load()` cuts it off before appending again. Resume = skip every
unit already in the journal, which can neither duplicate nor lose a unit.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path


def shard_suffix(num_shards: int = 1, shard_index: int = 0) -> str:
    return "" if num_shards <= 1 else f".shard-{shard_index:05d}-of-{num_shards:05d}"


def _dumps(obj) -> str:
    return json.dumps(obj, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


class Journal:
    """Append-only JSONL of finished units, keyed by unit key; the last entry of a key wins."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.entries: dict[str, dict] = {}

    def load(self) -> dict[str, dict]:
        """Read every complete line; truncate a torn tail left by a killed writer."""
        self.entries = {}
        if not self.path.exists():
            return self.entries
        data = self.path.read_bytes()
        good_end = 0
        pos = 0
        while pos < len(data):
            nl = data.find(b"\n", pos)
            if nl < 0:
                break  # no newline: the writer died mid-line
            line = data[pos:nl]
            try:
                entry = json.loads(line)
            except ValueError:
                break  # a torn line: everything after it was written later and is also suspect
            if isinstance(entry, dict) and "unit" in entry:
                self.entries[str(entry["unit"])] = entry
            pos = nl + 1
            good_end = pos
        if good_end < len(data):
            with open(self.path, "r+b") as fh:
                fh.truncate(good_end)
                fh.flush()
                os.fsync(fh.fileno())
        return self.entries

    def append(self, entry: dict, *, sync: bool = False) -> None:
        line = (_dumps(entry) + "\n").encode("utf-8")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            written = os.write(fd, line)
            while written < len(line):  # a short write on a regular file is rare; finish it in order
                written += os.write(fd, line[written:])
            if sync:
                os.fsync(fd)
        finally:
            os.close(fd)
        self.entries[str(entry["unit"])] = entry

    def done(self, *, retry_failed: bool = False) -> set[str]:
        return {k for k, e in self.entries.items() if e.get("ok") or not retry_failed}


def write_jsonl_atomic(path: str | Path, rows: Iterable[dict]) -> int:
    """Write rows to a temp file and rename it over `path`: readers see the old file or the new one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    n = 0
    with open(tmp, "w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(_dumps(row) + "\n")
            n += 1
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    return n


def write_json_atomic(path: str | Path, obj) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(obj, indent=2, sort_keys=True))
    os.replace(tmp, path)


def read_jsonl(path: str | Path) -> list[dict]:
    rows = []
    with open(path, encoding="utf-8") as fh:
        for i, line in enumerate(fh, 1):
            line = line.strip()
            if not line:
                continue
            try:
                rows.append(json.loads(line))
            except ValueError as exc:
                raise ValueError(f"{path}:{i}: not a JSON line ({exc})") from exc
    return rows


class StageFiles:
    """Paths of one stage (one shard of it) under a work directory."""

    def __init__(self, workdir: str | Path, stage: str, num_shards: int = 1, shard_index: int = 0):
        self.dir = Path(workdir) / stage
        sfx = shard_suffix(num_shards, shard_index)
        self.journal = self.dir / f"journal{sfx}.jsonl"
        self.records = self.dir / f"records{sfx}.jsonl"
        self.failures = self.dir / f"failures{sfx}.jsonl"
        self.state = self.dir / f"state{sfx}.json"


def read_stage_records(workdir: str | Path, stage: str, kind: str = "records") -> list[dict]:
    """Final records of a stage over every shard file that exists, deduplicated by id, sorted by id."""
    folder = Path(workdir) / stage
    by_id: dict[str, dict] = {}
    for path in sorted(folder.glob(f"{kind}*.jsonl")):
        for row in read_jsonl(path):
            by_id[str(row["id"])] = row
    return [by_id[k] for k in sorted(by_id)]
