"""Which validator a row file gets: SFT/RFT traces (`sft`) or RL/QA records (`rl`), or `auto` by the first row.

`longvt data check` runs these; the lmms-engine dataset runs the `sft` one and the verl converter the `rl` one
(through `verl.convert.read_samples`, which applies the same field rules), so a file that passes the check is the
file the hosts accept.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from longvt_plugins.core.row_fields import ANSWER, OPTIONS, TEXT, row_problems
from longvt_plugins.core.rowfile import read_records
from longvt_plugins.core.trace_rows import BadRow, parse_row, row_id_of

KINDS = ("auto", "sft", "rl")
# QA / RL record fields that readers coerce with str() or iterate (verl.convert reads these).
QA_FIELDS = {
    "question": TEXT,
    "answer": ANSWER,
    "ground_truth": ANSWER,
    "options": OPTIONS,
    "data_source": TEXT,
}
LONGVT_RL_FIELDS = {"data_source": TEXT}


def check_sft_row(row: dict[str, Any], where: str) -> None:
    """Raise BadRow when the row breaks the trace grammar (data/schemas/sft_trace.md)."""
    parse_row(row, row_id_of(row, where))


def is_longvt_rl_row(row: dict[str, Any]) -> bool:
    """LongVT's released RL rows (verl-0.4 layout) carry `prompt` and `reward_model`."""
    return "prompt" in row and "reward_model" in row


def rl_row_problems(row: dict[str, Any], longvt: bool | None = None) -> list[str]:
    longvt = is_longvt_rl_row(row) if longvt is None else longvt
    return row_problems(row, LONGVT_RL_FIELDS if longvt else QA_FIELDS)


def check_rl_row(row: dict[str, Any], where: str) -> None:
    problems = rl_row_problems(row)
    if not problems and not is_longvt_rl_row(row) and not isinstance(row.get("question"), str):
        problems = ["no 'question' (a string)"]
    if problems:
        raise BadRow(row_id_of(row, where), "; ".join(problems))


def detect_kind(path: str | Path) -> str:
    """`sft` when the first readable row has `messages`, else `rl`."""
    first = next((r.row for r in read_records(path) if r.row is not None), None)
    return "sft" if first is not None and "messages" in first else "rl"


def validator(kind: str, path: str | Path) -> Callable[[dict[str, Any], str], None]:
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
    if kind == "auto":
        kind = detect_kind(path)
    return check_sft_row if kind == "sft" else check_rl_row
