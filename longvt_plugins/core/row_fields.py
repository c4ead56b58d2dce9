"""Type checks for the fields a QA or benchmark row carries, shared by the verl converter and `check-data`.

Why: the readers downstream coerce with `str()` and iterate with `for`, so a wrong type does not fail, it makes a
wrong sample: options stored as one string become one option per character, a question stored as a number
becomes its digits. A field of the wrong type is therefore reported with its name, type and value, never
converted.
"""

from __future__ import annotations

from typing import Any

TEXT = "text"  # a string
ANSWER = "answer"  # a string or a number (a numeric ground truth is fine as its decimal text)
OPTIONS = "options"  # a list of strings (or numbers)
SEGMENT = "segment"  # [start, end] seconds, numbers, start < end
NUMBER = "number"
KINDS = (TEXT, ANSWER, OPTIONS, SEGMENT, NUMBER)


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def field_problem(name: str, value: Any, kind: str) -> str | None:
    """Why `value` cannot serve as field `name` of this kind (None: it can). None values are not checked here:
    whether a field may be missing is the caller's rule."""
    if value is None:
        return None
    if kind == TEXT and not isinstance(value, str):
        return f"field {name!r} must be a string, got {type(value).__name__} {_shown(value)}"
    if kind == ANSWER and not (isinstance(value, str) or _is_number(value)):
        return f"field {name!r} must be a string or a number, got {type(value).__name__} {_shown(value)}"
    if kind == NUMBER and not _is_number(value):
        return f"field {name!r} must be a number, got {type(value).__name__} {_shown(value)}"
    if kind == OPTIONS:
        if isinstance(value, str):
            return (
                f"field {name!r} is one string; it must be a list with one entry per option ({_shown(value)})"
            )
        if not isinstance(value, list | tuple) or not all(isinstance(o, str) or _is_number(o) for o in value):
            return f"field {name!r} must be a list of strings, got {_shown(value)}"
    if kind == SEGMENT:
        ok = isinstance(value, list | tuple) and len(value) == 2 and all(_is_number(v) for v in value)
        if not ok:
            return f"field {name!r} must be [start, end] in seconds, got {_shown(value)}"
        if not value[0] < value[1]:
            return f"field {name!r} must have start < end, got {_shown(value)}"
    return None


def row_problems(row: dict[str, Any], kinds: dict[str, str]) -> list[str]:
    """Every field of `kinds` present in the row with the wrong type."""
    found = (field_problem(name, row.get(name), kind) for name, kind in kinds.items())
    return [p for p in found if p]
