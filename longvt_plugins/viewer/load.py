"""Read traces from whatever a run left behind: one trace JSON, a JSONL of traces or eval samples, a verl dump.

- a trace file (`longvt ask --json`, pipeline output): one `longvt.trace/v1` object;
- JSONL: each line a trace, or an lmms-eval sample with a trace somewhere inside it (as an object or a JSON
  string, e.g. in `resps`); the sample's target and score fill the trace's when it has none;
- a verl rollout dump (`trainer.rollout_data_dir`: `<step>.jsonl` lines of input/output/gts/score): text only,
  so the trace is rebuilt from the hermes tags - calls, tool responses with their "<12.0s>" frame labels, answer.

Lines that hold none of these are skipped and counted, never silently: `LoadReport.skipped` says which and why.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from longvt_plugins.core.answer import extract_answer
from longvt_plugins.core.toolcall import parse_tool_calls
from longvt_plugins.core.trace import TRACE_SCHEMA_VERSION, CropRecord, Trace, TraceFormatError, TurnRecord


@dataclass
class LoadReport:
    traces: list[Trace] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # "file:line: why"


def load_traces(path: str | Path) -> LoadReport:
    """All traces under `path` (a file, or a directory of .json / .jsonl files, e.g. a verl dump dir)."""
    path = Path(path)
    report = LoadReport()
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist")
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.suffix in (".json", ".jsonl"))
        if not files:
            raise TraceFormatError(f"{path} holds no .json or .jsonl files")
        for f in files:
            _load_file(f, report)
    else:
        _load_file(path, report)
    return report


def _load_file(path: Path, report: LoadReport) -> None:
    text = path.read_text(encoding="utf-8")
    stripped = text.lstrip()
    if path.suffix == ".json" or (stripped.startswith("{") and "\n{" not in stripped):
        try:
            whole = json.loads(text)
        except json.JSONDecodeError:
            whole = None
        if whole is not None:
            items = whole if isinstance(whole, list) else [whole]
            for i, item in enumerate(items):
                _take(item, f"{path}:{i + 1}", report)
            return
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as exc:
            report.skipped.append(f"{path}:{n}: not JSON ({exc.msg})")
            continue
        _take(item, f"{path}:{n}", report)


def _take(item: Any, where: str, report: LoadReport) -> None:
    try:
        trace = to_trace(item)
    except TraceFormatError as exc:
        report.skipped.append(f"{where}: {exc}")
        return
    if trace is None:
        report.skipped.append(f"{where}: no trace, eval sample or verl rollout record in it")
        return
    report.traces.append(trace)


def to_trace(item: Any) -> Trace | None:
    if isinstance(item, dict) and item.get("schema") == TRACE_SCHEMA_VERSION:
        return Trace.from_dict(item)
    if isinstance(item, dict) and "output" in item and "input" in item:
        return from_verl_record(item)
    found = _find_trace(item, depth=0)
    if found is None:
        return None
    trace = Trace.from_dict(found)
    if isinstance(item, dict):
        _fill_from_sample(trace, item)
    return trace


def _find_trace(value: Any, depth: int) -> dict | None:
    if depth > 5:
        return None
    if isinstance(value, dict):
        if value.get("schema") == TRACE_SCHEMA_VERSION:
            return value
        children = list(value.values())
    elif isinstance(value, list):
        children = value
    elif isinstance(value, str) and TRACE_SCHEMA_VERSION in value and value.lstrip().startswith("{"):
        try:
            return _find_trace(json.loads(value), depth + 1)
        except json.JSONDecodeError:
            return None
    else:
        return None
    for child in children:
        found = _find_trace(child, depth + 1)
        if found is not None:
            return found
    return None


def _fill_from_sample(trace: Trace, sample: dict) -> None:
    """An lmms-eval sample knows the target and the task's score; the trace may have been written before both."""
    if trace.ground_truth is None and isinstance(sample.get("target"), (str, int, float)):
        trace.ground_truth = str(sample["target"])
    if trace.score is None:
        for key in ("acc_score", "acc", "score"):
            value = sample.get(key)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                trace.score = {"score": float(value), "correct": value >= 1.0, "method": f"sample:{key}"}
                break
    for key in ("doc_id", "task"):
        if key in sample:
            trace.meta.setdefault(key, sample[key])


# ------------------------------------------------------------------------------------------------ verl dumps
_TOOL_RESPONSE = re.compile(
    r"(?:\buser\s*)?<tool_response>(.*?)</tool_response>\s*(?:assistant\b\s*)?", re.DOTALL
)
_FRAME_LABEL = re.compile(r"<(\d+(?:\.\d+)?)s>")
_DURATION = re.compile(
    r"(?:duration|lasts|long)\D{0,20}?(\d+(?:\.\d+)?)\s*(?:s\b|sec|seconds)", re.IGNORECASE
)


def from_verl_record(record: dict) -> Trace:
    """A Trace rebuilt from one line of verl's rollout dump (special tokens already stripped by verl)."""
    prompt, output = str(record.get("input", "")), str(record.get("output", ""))
    question = prompt
    user_at = prompt.rfind("user\n")
    if user_at != -1:
        question = prompt[user_at + len("user\n") :]
    question = re.sub(r"\s*assistant\s*$", "", question).strip()
    turns, crops = [], []
    pieces = _TOOL_RESPONSE.split(output)  # text, response, text, response, ..., text
    for k in range(0, len(pieces), 2):
        text = pieces[k].strip()
        if not text and k == len(pieces) - 1:
            break
        parsed = parse_tool_calls(text)
        turn = TurnRecord(
            index=len(turns) + 1,
            content=parsed.content,
            raw_text=text,
            tool_calls=[
                {"id": c.id or f"call_{k}", "name": c.name, "arguments": dict(c.arguments)}
                for c in parsed.calls
            ],
            tool_call_errors=list(parsed.errors),
            call_format="hermes" if parsed.calls else "none",
        )
        response = pieces[k + 1] if k + 1 < len(pieces) else None
        for call in turn.tool_calls:
            args = call["arguments"]
            start, end = _num(args.get("start_time")), _num(args.get("end_time"))
            stamps = [float(t) for t in _FRAME_LABEL.findall(response or "")]
            ok = response is not None and "error" not in (response or "").lower()[:80]
            crop = CropRecord(
                index=len(crops) + 1,
                turn=turn.index,
                call_id=call["id"],
                arguments=args,
                ok=ok,
                start=start if ok else None,
                end=end if ok else None,
                timestamps=stamps if ok else [],
                text=(response or "").strip(),
                error=None if ok else (response or "no tool response").strip()[:300],
            )
            crops.append(crop)
            turn.crops.append(crop.index)
            turn.frames.extend(crop.timestamps)
        turns.append(turn)
    answer = extract_answer(output)
    duration_match = _DURATION.search(prompt)
    gts = record.get("gts")
    score = None
    for key in ("acc", "score"):
        value = record.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            score = {"score": float(value), "correct": value >= 1.0, "method": f"verl:{key}"}
            break
    return Trace(
        question=question,
        video={"path": "", "duration": float(duration_match.group(1)) if duration_match else None},
        skim={"timestamps": [], "elapsed_s": 0.0},
        messages=[],
        turns=turns,
        crops=crops,
        stop_reason="answer" if answer is not None else "no_answer",
        final_answer=answer,
        ground_truth=None if gts is None else (gts if isinstance(gts, str) else json.dumps(gts)),
        score=score,
        backend={"name": "verl-rollout"},
        meta={"source": "verl-rollout", "step": record.get("step")},
    )


def _num(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None
