"""How a local benchmark copy writes its answer options, and where that changes what `--protocol upstream` sends.

Copies of one benchmark differ here (LVBench rows carry the options inside the question, "(A) ..." lines, and some
copies add a separate `options` list; VideoMME options may or may not start with their letter), and LongVT's tasks
send the row as it is: LVBench's question alone, VideoMME's options joined as given. Our tasks add or keep letters,
so a copy laid out unlike LongVT's gives `upstream` other option text than LongVT's runs saw. `longvt eval
check-data` reports the counts and these notes. (Which hub copy a folder came from is not told: no recorded facts
about the copies' own layouts are at hand offline.)
"""

from __future__ import annotations

import re
from collections import Counter

_INLINE = re.compile(r"^\(?A[.)]\s", re.MULTILINE)


def _lettered(options: list) -> bool:
    return all(re.match(rf"^\(?{chr(ord('A') + i)}[.):]\s", str(o).strip()) for i, o in enumerate(options))


def layout(row: dict) -> str:
    """One of: inline, list_lettered, list_bare, inline+list_lettered, inline+list_bare, none."""
    options = row.get("options")
    inline = bool(_INLINE.search(str(row.get("question") or "")))
    listed = ""
    if isinstance(options, (list, tuple)) and options:
        listed = "list_lettered" if _lettered(list(options)) else "list_bare"
    return "+".join(p for p in ("inline" if inline else "", listed) if p) or "none"


# (benchmark, layout) -> what `upstream` then sends, as LongVT's task code does with such rows. LongVT read
# lmms-lab/LVBench with the options inline (its lvbench utils parse "(A) ..." out of the question text).
_LIST_ONLY = (
    "LongVT's task sends the question alone, so `upstream` shows no options (LongVT's copy had them inline)"
)
_BOTH = "`upstream` shows the inline options only (LongVT's task ignores the list); longvt-plugins shows both"
UPSTREAM_NOTES = {
    ("longvtp_lvbench", "list_lettered"): _LIST_ONLY,
    ("longvtp_lvbench", "list_bare"): _LIST_ONLY,
    ("longvtp_lvbench", "inline+list_lettered"): _BOTH,
    ("longvtp_lvbench", "inline+list_bare"): _BOTH,
    (
        "longvtp_videomme",
        "list_bare",
    ): "LongVT's prompt joins the options as given: `upstream` sends them without letters",
}


def layouts(benchmark: str, rows: list[dict]) -> tuple[dict[str, int], list[str]]:
    """(rows per layout, the notes that apply to this copy)."""
    counts = Counter(layout(r) for r in rows)
    notes = [
        f"{n} rows {kind}: {UPSTREAM_NOTES[(benchmark, kind)]}"
        for kind, n in sorted(counts.items())
        if (benchmark, kind) in UPSTREAM_NOTES
    ]
    return dict(sorted(counts.items())), notes
