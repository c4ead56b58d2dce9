"""Answers our model generated, saved as each doc finishes, so a run that stops later loses none of them.

lmms-eval generates every doc before it scores any, and writes nothing if scoring stops (a judge that fails
mid-run, a killed process): hours of generation were lost. Its own `--use_cache` stores answers only once the
whole generation pass has returned, and only their text; our per-sample record (trace summary, failure, protocol
card) would be gone. So the model (`answers_dir=`) appends one JSONL line per finished doc - key, text, token
counts, record - flushed and fsynced, one file per task; with `resume=true` a doc whose key is saved is served
from here instead of the backend, and its record is filed again for the scorer.

The key is everything that decides the answer: the protocol card without the server's address (the same model
moved to another host answers alike), the task, the doc's content, the sampling settings and the repeat index.
A doc whose request failed is not saved: a resumed run asks for it again. A line cut short by a kill is skipped.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import threading
from pathlib import Path
from typing import Any

_STORES: list[AnswerStore] = []  # every store of this process, for the judge-stop message (`judge_stop`)
_STORES_LOCK = threading.Lock()


def answer_key(card: dict, task: str, doc_key: str, gen_kwargs: dict, repeat: int) -> str:
    model = {k: v for k, v in (card.get("model") or {}).items() if k != "base_url"}
    identity = {k: v for k, v in card.items() if k not in ("id", "judge", "model")}
    sampling = {k: gen_kwargs.get(k) for k in ("temperature", "top_p", "do_sample", "seed")}
    blob = json.dumps(
        [identity, model, task, doc_key, sampling, repeat], sort_keys=True, default=str, ensure_ascii=False
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:32]


class AnswerStore:
    """One folder of `<task>.jsonl` files. `reuse`: serve saved answers (else they are only written)."""

    def __init__(self, folder: str | os.PathLike, *, reuse: bool = False) -> None:
        self.folder = Path(folder).expanduser().resolve()
        self.reuse = reuse
        self.written = 0
        self.reused = 0
        self._lock = threading.Lock()
        self._saved: dict[str, dict[str, Any]] = self._read() if reuse else {}
        with _STORES_LOCK:
            _STORES.append(self)

    def _file(self, task: str) -> Path:
        return self.folder / (re.sub(r"[^A-Za-z0-9_.-]", "_", task) + ".jsonl")

    def _read(self) -> dict[str, dict[str, Any]]:
        saved: dict[str, dict[str, Any]] = {}
        for path in sorted(self.folder.glob("*.jsonl")):
            for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
                try:
                    entry = json.loads(line)
                except json.JSONDecodeError:  # the last line of a killed run may be cut short
                    continue
                if isinstance(entry, dict) and isinstance(entry.get("key"), str):
                    saved[entry["key"]] = entry  # a later line for the same key wins
        return saved

    def get(self, key: str) -> dict[str, Any] | None:
        if not self.reuse:
            return None
        with self._lock:
            entry = self._saved.get(key)
            if entry is not None:
                self.reused += 1
            return entry

    def put(self, task: str, key: str, entry: dict[str, Any]) -> None:
        line = json.dumps({"key": key, "task": task, **entry}, ensure_ascii=False, default=str)
        with self._lock:
            self.folder.mkdir(parents=True, exist_ok=True)
            with open(self._file(task), "a", encoding="utf-8") as fh:
                fh.write(line + "\n")
                fh.flush()
                os.fsync(fh.fileno())  # the point of the store: on disk before anything can stop the run
            self.written += 1


def saved_answers_note() -> str:
    """Where this process's answers are, for the one line a stopped run prints (a sentence it continues)."""
    with _STORES_LOCK:
        stores = [s for s in _STORES if s.written or s.reused]
    if not stores:
        return (
            "The answers of this run are not saved (longvt models save them with answers_dir=, other models "
            "with lmms-eval's --use_cache): rerun"
        )
    count = sum(s.written + s.reused for s in stores)
    where = ", ".join(sorted({str(s.folder) for s in stores}))
    return (
        f"{count} generated answers are saved in {where}: rerun with --resume (lmms-eval: model arg "
        "resume=true) once the judge answers again to score them without generating them again"
    )
