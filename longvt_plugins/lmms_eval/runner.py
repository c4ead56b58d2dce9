"""`longvt eval` under the hood: build the lmms-eval command, run it, attach the protocol cards to its results.

lmms-eval runs as its own process (`python -m lmms_eval`), exactly as a user would start it, so its outputs stay
in its standard layout: `<output>/<model>/<stamp>_results.json` and `<stamp>_samples_<task>.jsonl`. Afterwards
the protocol cards found in the samples are added to the results JSON (`longvt_protocol`) and written beside
it (`<stamp>_protocol.json`). Our models save each answer as it is generated under `<output>/longvt_answers/`
(`answer_store`); `resume=True` serves the ones already there, so a run stopped while scoring loses nothing.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from longvt_plugins.lmms_eval import tasks_path
from longvt_plugins.lmms_eval.overlay import build_overlay


@dataclass
class EvalRun:
    model: str
    tasks: list[str]
    output: Path
    model_args: str = ""
    protocol: str = "longvt-plugins"
    judge_fallback: str = "stop"
    data: dict[str, str] = field(default_factory=dict)
    video_root: str | None = None
    limit: float | None = None
    extra_args: list[str] = field(default_factory=list)
    resume: bool = False  # serve the answers saved by an earlier run instead of generating them again

    def include_path(self) -> Path:
        if not self.data:
            return tasks_path()
        return build_overlay(self.output / ".longvt_tasks", self.data)

    def full_model_args(self) -> str:
        args = [a for a in self.model_args.split(",") if a.strip()] if self.model_args else []
        ours = self.model.startswith("longvt_agent")
        if ours and not any(a.startswith("protocol=") for a in args):
            args.append(f"protocol={self.protocol}")
        if ours and not any(a.startswith("answers_dir=") for a in args):
            args.append(f"answers_dir={self.answers_dir()}")
        if self.resume:
            if not ours:
                raise ValueError(
                    f"--resume serves answers saved by longvt models, not {self.model} (lmms-eval's --use_cache "
                    "keeps other models' answers)"
                )
            args.append("resume=true")
        return ",".join(args)

    def answers_dir(self) -> Path:
        return (self.output / "longvt_answers").expanduser().resolve()

    def command(self) -> list[str]:
        cmd = [sys.executable, "-m", "lmms_eval", "--model", self.model, "--tasks", ",".join(self.tasks)]
        model_args = self.full_model_args()
        if model_args:
            cmd += ["--model_args", model_args]
        cmd += [
            "--include_path",
            str(self.include_path()),
            "--output_path",
            str(self.output),
            "--log_samples",
        ]
        if self.limit is not None:
            cmd += ["--limit", f"{self.limit:g}"]
        return cmd + list(self.extra_args)

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        # Read by the scorer in the lmms-eval process: the chain of a non-longvt model's samples, and what an
        # unreachable judge does.
        env["LONGVT_PROTOCOL"] = self.protocol
        env["LONGVT_JUDGE_FALLBACK"] = self.judge_fallback
        if self.video_root:
            env["LONGVT_EVAL_VIDEO_ROOT"] = str(Path(self.video_root).expanduser().resolve())
        return env


def run(spec: EvalRun) -> tuple[int, list[Path]]:
    """Run lmms-eval; returns (exit code, results files it wrote). Cards are attached to each results file."""
    spec.output.mkdir(parents=True, exist_ok=True)
    started = time.time()
    code = subprocess.call(spec.command(), env=spec.env())
    written = [p for p in spec.output.glob("*/*_results.json") if p.stat().st_mtime >= started - 1]
    for path in written:
        attach_cards(path)
    return code, sorted(written)


def _samples_of(results: Path) -> list[Path]:
    stamp = results.name[: -len("_results.json")]
    return sorted(results.parent.glob(f"{stamp}_samples_*.jsonl"))


def attach_cards(results: Path) -> Path | None:
    """Collect the protocol cards from the samples beside `results`; add them to it and write `_protocol.json`.

    Returns the protocol file, or None when no sample carried a card (not a longvt model, or no --log_samples).
    """
    cards: dict[str, dict] = {}
    for samples in _samples_of(results):
        task = samples.stem.split("_samples_", 1)[1]
        with samples.open(encoding="utf-8") as fh:
            for line in fh:
                if not line.strip():
                    continue
                card = json.loads(line).get("protocol")
                if isinstance(card, dict) and card.get("id"):
                    cards.setdefault(task, {})[card["id"]] = card
    if not cards:
        return None
    by_task = {
        task: (next(iter(c.values())) if len(c) == 1 else list(c.values())) for task, c in cards.items()
    }
    data = json.loads(results.read_text())
    data["longvt_protocol"] = by_task
    names = sorted({c["protocol"] for per in cards.values() for c in per.values() if c.get("protocol")})
    if len(names) > 1:
        # One file, several protocols: its numbers must not be averaged or compared as if they were one run.
        data["longvt_protocol_warning"] = (
            f"tasks in this file ran under different protocols ({', '.join(names)}); their numbers are not "
            "comparable with each other"
        )
    tmp = results.with_name(results.name + ".partial")
    tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False, default=str))
    tmp.replace(results)
    out = results.with_name(results.name.replace("_results.json", "_protocol.json"))
    out.write_text(json.dumps(by_task, indent=2, ensure_ascii=False))
    return out


@dataclass
class TaskInfo:
    name: str
    benchmark: str
    style: str
    path: Path
    max_new_tokens: int | None


def list_tasks(root: Path | None = None) -> tuple[list[TaskInfo], dict[str, list[str]]]:
    """Our tasks and groups, read from the YAML files (no lmms-eval import: instant)."""
    root = root or tasks_path()
    tasks, groups = [], {}

    class _Loader(yaml.SafeLoader):
        pass

    _Loader.add_constructor("!function", lambda loader, node: None)
    for path in sorted(root.glob("*/*.yaml")):
        cfg = yaml.load(path.read_text(), Loader=_Loader) or {}
        if "group" in cfg:
            groups[cfg["group"]] = list(cfg.get("task") or [])
            continue
        if not isinstance(cfg.get("task"), str):
            continue
        style = ((cfg.get("lmms_eval_specific_kwargs") or {}).get("default") or {}).get("style", "?")
        tokens = (cfg.get("generation_kwargs") or {}).get("max_new_tokens")
        tasks.append(TaskInfo(cfg["task"], path.parent.name, style, path, tokens))
    return tasks, groups


def parse_data(values: list[str]) -> dict[str, str]:
    """`BENCH=PATH` pairs; BENCH may be given with or without the `longvtp_` prefix."""
    out = {}
    for value in values:
        m = re.match(r"^([A-Za-z0-9_]+)=(.+)$", value)
        if not m:
            raise ValueError(f"--data expects BENCHMARK=PATH, got {value!r}")
        bench = m.group(1) if m.group(1).startswith("longvtp_") else f"longvtp_{m.group(1)}"
        out[bench] = m.group(2)
    return out
