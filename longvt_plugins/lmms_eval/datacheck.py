"""Check a local copy of a benchmark against what our tasks read, before a long run finds out doc by doc.

For each benchmark: the annotation fields each task reads (and how many rows lack them), the videos (and
subtitles) the docs point to, and the `question_type` values present with how many rows of each carry options
(VideoMMMU shows options for every row that has them, so a type we did not expect is worth seeing).
The video lookup is the task's own (`BENCH.video_path` in the benchmark's utils.py): what is checked is what runs.
"""

from __future__ import annotations

import importlib.util
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from longvt_plugins.core.row_fields import ANSWER, OPTIONS, TEXT, row_problems
from longvt_plugins.core.rowfile import RowFileError, read_records
from longvt_plugins.lmms_eval import tasks_path

# What each benchmark's utils.py reads from a row (required) and what the results breakdowns read (optional).
FIELDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "longvtp_videosiah": (("video_path", "question", "answer"), ()),
    "longvtp_videomme": (("videoID", "question", "options", "answer"), ("duration", "domain", "task_type")),
    "longvtp_videommmu": (("id", "question", "answer"), ("options", "question_type")),
    "longvtp_lvbench": (("video_path", "question", "answer"), ("question_type",)),
}
# The types the tasks read the fields as: a wrong type would not fail, it would build a wrong prompt (options
# stored as one string become one option per character).
FIELD_KINDS: dict[str, dict[str, str]] = {
    "longvtp_videosiah": {"video_path": TEXT, "question": TEXT, "answer": ANSWER},
    "longvtp_videomme": {"videoID": TEXT, "question": TEXT, "options": OPTIONS, "answer": TEXT},
    "longvtp_videommmu": {"id": TEXT, "question": TEXT, "options": OPTIONS, "answer": ANSWER},
    "longvtp_lvbench": {"video_path": TEXT, "question": TEXT, "answer": ANSWER},
}
MAX_ERRORS = 20
SUBSETS = {"longvtp_videommmu": ("adaptation", "comprehension", "perception")}
EXAMPLES = 3


@dataclass
class CheckReport:
    benchmark: str
    source: str
    rows: int = 0
    missing_fields: dict[str, int] = field(default_factory=dict)
    missing_optional: dict[str, int] = field(default_factory=dict)
    missing_videos: int = 0
    video_examples: list[str] = field(default_factory=list)
    missing_subtitles: int | None = None
    question_types: dict[str, dict[str, int]] = field(default_factory=dict)
    option_layouts: dict[str, int] = field(default_factory=dict)  # lmms_eval.option_layout
    protocol_notes: list[str] = field(
        default_factory=list
    )  # where the copy's layout changes `upstream`'s text
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.errors or self.missing_videos or any(self.missing_fields.values())) and self.rows > 0

    def to_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "ok": self.ok}


def _read_rows(path: Path, problems: list[str]) -> list[dict]:
    """The rows of one file or saved dataset folder; a line that is not a JSON object is left out and named in
    `problems` (FILE:LINE: reason), so one bad line does not hide the rest of the report."""
    if path.is_dir() and ((path / "dataset_dict.json").is_file() or (path / "dataset_info.json").is_file()):
        from datasets import DatasetDict, load_from_disk

        ds = load_from_disk(str(path))
        if isinstance(ds, DatasetDict):
            return [row for split in ds.values() for row in split]
        return list(ds)
    rows = []
    for record in read_records(path):
        if record.problem is not None:
            problems.append(f"{record.where}: {record.problem}")
        else:
            rows.append(record.row)
    return rows


def load_rows(benchmark: str, path: Path, problems: list[str] | None = None) -> list[dict]:
    problems = [] if problems is None else problems
    subsets = SUBSETS.get(benchmark)
    if subsets and path.is_dir() and not (path / "dataset_dict.json").is_file():
        rows = []
        for subset in subsets:
            found = [path / f"{subset}{s}" for s in (".jsonl", ".json", ".parquet")]
            hit = next((f for f in found if f.is_file()), None)
            if hit is None:
                raise ValueError(f"{path}: no {subset}.jsonl / .json / .parquet")
            rows += _read_rows(hit, problems)
        return rows
    return _read_rows(path, problems)


def benchmark_module(benchmark: str):
    path = tasks_path() / benchmark / "utils.py"
    name = f"_longvt_check_{benchmark}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _empty(value: Any) -> bool:
    return value is None or (isinstance(value, (str, list, tuple, dict)) and len(value) == 0)


def check_benchmark(benchmark: str, data: str | Path) -> CheckReport:
    if not benchmark.startswith("longvtp_"):
        benchmark = f"longvtp_{benchmark}"
    path = Path(data).expanduser()
    report = CheckReport(benchmark, str(path))
    if benchmark not in FIELDS:
        report.errors.append(f"unknown benchmark; known: {', '.join(FIELDS)}")
        return report
    if not path.exists():
        report.errors.append(f"{path}: no such file or folder")
        return report
    try:
        rows = load_rows(benchmark, path, report.errors)
    except RowFileError as exc:  # already names the file (and line)
        report.errors.append(str(exc))
        return report
    except Exception as exc:
        report.errors.append(f"cannot read {path}: {type(exc).__name__}: {exc}")
        return report
    report.rows = len(rows)
    for n, row in enumerate(rows, start=1):
        for problem in row_problems(row, FIELD_KINDS.get(benchmark, {})):
            report.errors.append(f"row {n}: {problem}")
    if len(report.errors) > MAX_ERRORS:
        report.errors[MAX_ERRORS:] = [f"... and {len(report.errors) - MAX_ERRORS} more problems"]
    required, optional = FIELDS[benchmark]
    report.missing_fields = {f: sum(1 for r in rows if _empty(r.get(f))) for f in required}
    report.missing_optional = {f: sum(1 for r in rows if _empty(r.get(f))) for f in optional}
    types: dict[str, Counter] = {}
    for row in rows:
        kind = str(row.get("question_type") or "(none)")
        types.setdefault(kind, Counter())["rows"] += 1
        if not _empty(row.get("options")):
            types[kind]["with_options"] += 1
    if any(r.get("question_type") is not None for r in rows):
        report.question_types = {k: dict(v) for k, v in sorted(types.items())}
    if benchmark in ("longvtp_lvbench", "longvtp_videomme"):
        from longvt_plugins.lmms_eval.option_layout import layouts

        report.option_layouts, report.protocol_notes = layouts(benchmark, rows)
    bench = benchmark_module(benchmark).BENCH
    for row in rows:
        try:
            bench.video_path(row)
        except Exception as exc:  # VideoMissing, or a row the lookup cannot read (missing id field)
            report.missing_videos += 1
            if len(report.video_examples) < EXAMPLES:
                report.video_examples.append(str(exc))
    if benchmark == "longvtp_videomme":
        from longvt_plugins.lmms_eval.tasklib import video_root

        subs = video_root(bench.cache) / "subtitle"
        ids = {str(r.get("videoID")) for r in rows if r.get("videoID")}
        report.missing_subtitles = sum(1 for i in ids if not (subs / f"{i}.srt").is_file())
    return report
