"""What has a pipeline run done so far: per stage, over all its shard files, read from disk only."""

from __future__ import annotations

import json
from pathlib import Path

from longvt_plugins.pipeline.config import STAGE_ORDER
from longvt_plugins.pipeline.store import Journal


def pipeline_status(workdir: str | Path) -> list[dict]:
    rows = []
    for name in STAGE_ORDER:
        folder = Path(workdir) / name
        journals = sorted(folder.glob("journal*.jsonl"))
        states = [json.loads(p.read_text()) for p in sorted(folder.glob("state*.json"))]
        done = ok = 0
        for path in journals:
            entries = Journal(path).load()
            done += len(entries)
            ok += sum(1 for e in entries.values() if e.get("ok"))
        records = sum(_count(p) for p in folder.glob("records*.jsonl"))
        failures = sum(_count(p) for p in folder.glob("failures*.jsonl"))
        if states and all(s.get("complete") for s in states):
            state = "complete"
        elif journals:
            state = "in progress"
        else:
            state = "not started"
        rows.append(
            {
                "stage": name,
                "state": state,
                "units_done": done,
                "units_ok": ok,
                "records": records,
                "failures": failures,
                "shards": max(1, len(journals)) if journals else 0,
            }
        )
    return rows


def _count(path: Path) -> int:
    with open(path, "rb") as fh:
        return sum(1 for line in fh if line.strip())
