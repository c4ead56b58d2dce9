"""lmms-eval aggregations beyond a mean: accuracy per group, stop-reason counts, judge/rule agreement.

Each sample's `process_results` returns, per metric, the value these functions aggregate:
  by_duration / by_category   {"group": "short", "acc": 1.0}   -> "long 0.412 (n=900) | medium ... | short ..."
  context_exhausted           1.0 / 0.0                        -> count of samples that ran out of context
  judge_fallbacks             1.0 / 0.0                        -> count of samples scored by rule for want of a judge
  judge_rule_agreement        True / False / None              -> share of multiple-choice items where the judge
                                                                  agrees with the option letter ("n/a" if never asked)
The summaries are strings because lmms-eval prints every aggregate in its console table; the per-sample values
stay in the samples file for anyone who wants to recompute them.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any


def group_accuracy(items: list[Any]) -> dict[str, tuple[float, int]]:
    sums: dict[str, list[float]] = defaultdict(list)
    for item in items:
        if isinstance(item, dict) and item.get("group") not in (None, ""):
            sums[str(item["group"])].append(float(item.get("acc") or 0.0))
    return {g: (sum(v) / len(v), len(v)) for g, v in sorted(sums.items())}


def by_group(items: list[Any]) -> str:
    groups = group_accuracy(items)
    if not groups:
        return "n/a"
    return " | ".join(f"{g} {acc:.3f} (n={n})" for g, (acc, n) in groups.items())


def count(items: list[Any]) -> int:
    return int(sum(1 for item in items if item and float(item) > 0))


def agreement(items: list[Any]) -> float | str:
    asked = [bool(i) for i in items if i is not None]
    return sum(asked) / len(asked) if asked else "n/a"
