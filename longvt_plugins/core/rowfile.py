"""Read a file of rows (.jsonl / .json / .parquet) one record at a time, with the place of every problem.

One reader for every input surface (the lmms-engine SFT dataset, the verl converter, `longvt data check`,
`longvt eval check-data`): a malformed line, a value that is not an object, an unreadable file or an empty one is
reported as `FILE:LINE: reason` before any host framework sees the data. Host loaders fail worse: lmms-engine's
multiprocess JSONL loader hangs forever on one truncated line, `json.loads` over a whole file names the wrong line.

`check_rows` runs a row validator (e.g. `core.trace_rows.parse_row`) over the records and either stops at the first
problem (`on_bad="raise"`, the default everywhere) or skips and counts bad rows (`on_bad="skip"`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SUFFIXES = (".jsonl", ".json", ".parquet")
ON_BAD = ("raise", "skip")


class RowFileError(ValueError):
    """A file, or a row in it, that cannot be used; the message names the file and the line (or row)."""

    def __init__(self, where: str, reason: str):
        super().__init__(f"{where}: {reason}")
        self.where = where
        self.reason = reason


@dataclass(frozen=True)
class Record:
    """One record of a row file: where it is (`FILE:LINE` for JSONL, `FILE:row N` otherwise, 1-based), the
    parsed object, or why it could not be read."""

    where: str
    row: dict[str, Any] | None
    problem: str | None = None


@dataclass(frozen=True)
class Skipped:
    """A record left out: where it is, why, and the row's own id when the validator named one."""

    where: str
    reason: str
    row_id: str | None = None

    def __str__(self) -> str:
        return f"{self.where}: {'' if self.row_id is None else f'row {self.row_id}: '}{self.reason}"


@dataclass
class CheckedRows:
    """What `check_rows` kept and what it skipped (each skip with its place and reason)."""

    rows: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)

    @property
    def total(self) -> int:
        return len(self.rows) + len(self.skipped)

    def summary(self) -> str:
        return f"{len(self.rows)} rows kept, {len(self.skipped)} skipped of {self.total}"


def _object(value: Any, where: str) -> Record:
    if isinstance(value, dict):
        return Record(where, value)
    return Record(where, None, f"a row must be a JSON object, got {_type_name(value)}")


def _type_name(value: Any) -> str:
    return {type(None): "null", list: "an array", str: "a string", bool: "a boolean"}.get(
        type(value), "a number" if isinstance(value, int | float) else type(value).__name__
    )


def _jsonl(path: Path) -> Iterator[Record]:
    with path.open("rb") as f:
        for n, raw in enumerate(f, start=1):
            where = f"{path}:{n}"
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                yield Record(where, None, f"not UTF-8 text (byte {e.start})")
                continue
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except json.JSONDecodeError as e:
                cut = "" if raw.endswith(b"\n") else "; the file ends inside this line (truncated?)"
                yield Record(where, None, f"not valid JSON: {e.msg} (column {e.colno}){cut}")
                continue
            yield _object(value, where)


def _json(path: Path) -> Iterator[Record]:
    try:
        loaded = json.loads(path.read_bytes().decode("utf-8"))
    except UnicodeDecodeError as e:
        raise RowFileError(str(path), f"not UTF-8 text (byte {e.start})") from None
    except json.JSONDecodeError as e:
        if (
            e.msg == "Extra data" and e.lineno > 1
        ):  # JSON lines under a .json name (HF `to_json` writes these)
            yield from _jsonl(path)
            return
        raise RowFileError(f"{path}:{e.lineno}", f"not valid JSON: {e.msg} (column {e.colno})") from None
    items = loaded if isinstance(loaded, list) else [loaded]
    for n, value in enumerate(items, start=1):
        yield _object(value, f"{path}:row {n}")


def _parquet(path: Path) -> Iterator[Record]:
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except Exception as e:  # pyarrow raises ArrowInvalid / OSError for a truncated or foreign file
        raise RowFileError(str(path), f"not a readable parquet file ({type(e).__name__}: {e})") from None
    for n, value in enumerate(table.to_pylist(), start=1):
        yield _object(value, f"{path}:row {n}")


def read_records(path: str | Path) -> Iterator[Record]:
    """Every record of a .jsonl / .json / .parquet file, in file order. Raises RowFileError for a file that
    cannot be read at all (missing, a folder, another suffix, unparseable .json / .parquet, no rows)."""
    path = Path(path)
    if not path.exists():
        raise RowFileError(str(path), "no such file")
    if not path.is_file():
        raise RowFileError(str(path), "not a file (a folder?)")
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise RowFileError(str(path), f"expected one of {', '.join(SUFFIXES)}, got {suffix or 'no suffix'!r}")
    reader = {".jsonl": _jsonl, ".json": _json, ".parquet": _parquet}[suffix]
    empty = True
    for record in reader(path):
        empty = False
        yield record
    if empty:
        why = (
            "the file is empty" if path.stat().st_size == 0 else "the file holds no rows (only blank lines?)"
        )
        raise RowFileError(str(path), f"no rows: {why}")


def check_rows(
    paths: str | Path | list[str | Path],
    validate: Callable[[dict[str, Any], str], Any] | None = None,
    on_bad: str = "raise",
) -> CheckedRows:
    """Read and validate every row of the files. `validate(row, where)` raises ValueError (e.g. BadRow) for a
    row that must not become a sample. on_bad="raise": RowFileError at the first problem, in file order;
    "skip": the row is left out and counted in `skipped`."""
    if on_bad not in ON_BAD:
        raise ValueError(f"on_bad must be one of {', '.join(ON_BAD)}, got {on_bad!r}")
    out = CheckedRows()
    for path in paths if isinstance(paths, list) else [paths]:
        for record in read_records(path):
            problem, row_id = record.problem, None
            if problem is None and validate is not None:
                try:
                    validate(record.row, record.where)
                except ValueError as e:  # BadRow carries the row's id and the bare reason
                    problem, row_id = getattr(e, "reason", str(e)), getattr(e, "row_id", None)
            if problem is None:
                out.rows.append((record.where, record.row))
                continue
            skipped = Skipped(record.where, problem, row_id)
            if on_bad == "raise":
                raise RowFileError(record.where, str(skipped).removeprefix(f"{record.where}: "))
            out.skipped.append(skipped)
    return out
