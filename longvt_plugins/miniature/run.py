"""The miniature LongVT recipe end to end: task data -> stage-7 traces -> `longvt train sft` -> held-out eval.

    python -m longvt_plugins.miniature all --work runs/miniature      # everything, from scratch
    python -m longvt_plugins.miniature checkpoint                      # rebuild the shipped demo checkpoint

Every step writes under the work directory (gitignored): videos/, pipeline/ (the pipeline's work dir), student/,
sft/ (the trained checkpoint), eval-*.json.
"""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

from longvt_plugins.core.families import QWEN2_5_VL, checkpoint_family
from longvt_plugins.miniature import task

RECIPE = Path(__file__).resolve().parents[2] / "recipes" / "miniature"
# Sizes of the default run (the CI test passes smaller ones).
# One question per video (task.items_of): 800 training traces, 40 held-out questions.
TRAIN_VIDEOS, TEST_VIDEOS, SFT_STEPS, RFT_STEPS = 800, 40, 1700, 60
# The first SFT stage: the drills alone (reading and one-step drills, data.py), long enough for the copies to form.
DRILL_STEPS = 800
# Each whole trace twice in the second stage's mix (with 7,900 drill rows beside 800 traces, one copy left the
# traces' call JSON and answer endings undertrained: 65 % in format, 73 % valid calls).
TRACE_REPEATS = 2
# RFT samples near-greedy: the SFT model's format breaks at higher temperatures (well-formed on CPU: 64/64 greedy,
# 52/64 at 0.1, 15/64 at 0.7; BENCHMARKS.md, GPU runs), and a kept trace must be correct and well-formed.
RFT_TEMPERATURE = 0.1
# What a checkpoint needs to load and run (the trainer's own files stay in the run folder).
SHIPPED_FILES = (
    "config.json",
    "generation_config.json",
    "model.safetensors",
    "tokenizer.json",
    "tokenizer_config.json",
    "processor_config.json",
    "chat_template.jinja",
)


def build_student(work: Path, seed: int = 0, *, arch: str = QWEN2_5_VL) -> Path:
    """The untrained student of family `arch` in work/student (kept when it exists and is of that family)."""
    from longvt_plugins.miniature.model import make_student

    out = work / "student"
    if not (out / "config.json").exists():
        make_student(out, seed=seed, arch=arch)
    elif checkpoint_family(out) != arch:
        raise ValueError(f"{out} holds a {checkpoint_family(out)} student, not {arch}: use another --work")
    return out


def build_data(work: Path, split: str, videos: int, *, direct_every: int = 4, drills: bool = True,
               trace_repeats: int = TRACE_REPEATS, family: str = QWEN2_5_VL) -> dict:  # fmt: skip
    """Task videos -> stage-7 traces -> rows; `family`: the student's (`checkpoint_family` of it)."""
    from longvt_plugins.miniature.data import build_traces

    t0 = time.perf_counter()
    items = task.make_split(work / "videos", split, videos)
    t1 = time.perf_counter()
    out = build_traces(work / f"pipeline-{split}", items, direct_every=direct_every, drills=drills,
                       trace_repeats=trace_repeats, family=family)  # fmt: skip
    out.update(items=len(items), videos_s=round(t1 - t0, 1), traces_s=round(time.perf_counter() - t1, 1))
    return out


_LOG = re.compile(r"\{'loss': .*?\}")


def train(model: Path, train_jsonl: str | list[str], out: Path, *, stage: str = "sft", steps: int | None = None,
          overrides: tuple[str, ...] = (), cpu: bool = True, fresh: bool = True) -> dict:  # fmt: skip
    """`longvt train <stage>` (the real lmms-engine CLI through our launcher) on the miniature recipe.

    cpu: run with the CPU shims (False on a GPU host, with `use_cpu=false` among the overrides). fresh: start over
    (False: the trainer resumes from the last checkpoint an interrupted run left in `out`)."""
    files = [train_jsonl] if isinstance(train_jsonl, str) else list(train_jsonl)
    datasets = "[" + ", ".join(f'{{path: {f}, data_folder: "", data_type: jsonl}}' for f in files) + "]"
    cmd = [
        sys.executable, "-m", "longvt_plugins.cli", "train", stage, *(["--cpu-shims"] if cpu else []),
        "--config", str(RECIPE / f"{stage}.yaml"),
        f"model_config.load_from_pretrained_path={model}",
        f"dataset_config.processor_config.processor_name={model}",
        f"dataset_config.datasets={datasets}",
        f"trainer_args.output_dir={out}",
        *([f"trainer_args.max_steps={steps}"] if steps else []),
        *overrides,
    ]  # fmt: skip
    # One thread: a 0.8M-parameter model is bound by per-op latency, and two OpenMP threads on a busy 2-core
    # machine spin-wait for each other (measured ~3x slower).
    env = dict(
        os.environ, TOKENIZERS_PARALLELISM="false", OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "1")
    )
    # (A free rendezvous port for the one process: the launcher's single_process_rendezvous.)
    # Every call trains from `model`: checkpoints left in `out` by an earlier run would be resumed by the trainer
    # (seen: a re-run went on from the old run's step 1,000 for one step and kept none of the new start).
    if fresh and out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    with open(out / "train.log", "a") as fh:  # streamed, so a long run can be watched; a resumed run appends
        # cwd: Hydra writes its outputs/ folder into the working directory
        proc = subprocess.run(cmd, env=env, stdout=fh, stderr=subprocess.STDOUT, text=True, cwd=out)
    wall = time.perf_counter() - t0
    log = (out / "train.log").read_text()
    if proc.returncode != 0:
        raise RuntimeError(f"training failed (exit {proc.returncode}); last output:\n{log[-4000:]}")
    history = []
    for m in _LOG.finditer(log):
        try:
            history.append(ast.literal_eval(m.group(0)))
        except (ValueError, SyntaxError):
            continue
    return {"wall_s": round(wall, 1), "history": history, "output_dir": str(out)}


def write_json(path: Path, obj) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=1, default=str))


def run_all(work: Path, *, train_videos: int = TRAIN_VIDEOS, test_videos: int = TEST_VIDEOS,
            steps: int = SFT_STEPS, arch: str = QWEN2_5_VL) -> dict:  # fmt: skip
    """`arch`: the student's model family; the rows and the evaluation follow its checkpoint's config."""
    from longvt_plugins.miniature.evaluate import evaluate

    work = Path(work).resolve()
    report: dict = {}
    student = build_student(work, arch=arch)
    report["data"] = build_data(work, "train", train_videos, family=checkpoint_family(student))
    start = student
    if report["data"].get("drills"):
        # Stage 1: the drills alone, so the two copies (frame -> colour word, question -> "Asked: X") form where no
        # shortcut competes; in whole traces the listing can just repeat the asked colour (its last entry is it).
        report["sft_drills"] = train(student, report["data"]["drills"], work / "sft-drills", steps=DRILL_STEPS,
                                     overrides=("trainer_args.save_steps=100000",))  # fmt: skip
        start = work / "sft-drills"
    report["sft"] = train(start, report["data"]["train"], work / "sft", steps=steps)
    report["sft"]["steps"] = steps
    test = task.make_split(work / "videos", "test", test_videos)
    for style in ("tool", "non_think"):
        res = evaluate(work / "sft", test, style=style)
        write_json(work / f"eval-sft-{style}.json", res)
        report[f"eval_{style}"] = res["summary"]
    write_json(work / "report.json", report)
    return report


def self_distill(
    model: Path, items, out_jsonl: Path, *, temperature: float = RFT_TEMPERATURE, seed: int = 0
) -> dict:
    """RFT data: sample the model on fresh items and keep the traces stage 7 would keep, as SFT rows."""
    from dataclasses import asdict

    from longvt_plugins.core.agent import run_agent
    from longvt_plugins.core.answer import rule_score
    from longvt_plugins.core.backends import GenerationParams, TransformersBackend
    from longvt_plugins.pipeline.stages.teacher_traces import rejection_reasons, sft_row_from_trace
    from longvt_plugins.pipeline.store import write_jsonl_atomic

    backend = TransformersBackend(model, device="cpu")
    rows, reasons = [], {}
    for i, item in enumerate(items):
        trace = run_agent(
            item.path, item.question, backend, task.agent_budgets(backend.family),
            params=GenerationParams(temperature=temperature, seed=seed + i), ground_truth=item.answer,
            trace_id=item.id,
        )  # fmt: skip
        # The answer is one colour word: exact rule scoring, as in evaluate().
        score = {"correct": rule_score(trace.final_answer, item.answer) >= 1.0, "method": "rule"}
        why = rejection_reasons(trace, score, (item.start, item.end), True)
        for r in why:
            reasons[r] = reasons.get(r, 0) + 1
        if not why:
            rows.append(sft_row_from_trace(trace, asdict(item)))
    write_jsonl_atomic(out_jsonl, rows)
    return {"sampled": len(items), "kept": len(rows), "rejected": reasons, "temperature": temperature,
            "path": str(out_jsonl)}  # fmt: skip


def ship(model_dir: Path) -> Path:
    """Copy a trained checkpoint into the package: the one `longvt ask` runs by default."""
    dest = Path(__file__).resolve().parent / "checkpoint"
    dest.mkdir(exist_ok=True)
    for name in SHIPPED_FILES:
        if (Path(model_dir) / name).exists():
            shutil.copy2(Path(model_dir) / name, dest / name)
    return dest


def run_rft(work: Path, *, videos: int = 64, steps: int = RFT_STEPS) -> dict:
    """One RFT round: self-distil the SFT model on the `rft` split, then `longvt train rft` from the SFT weights
    on the SFT data plus the kept traces, and evaluate on the held-out split."""
    from longvt_plugins.miniature.evaluate import evaluate

    work = Path(work).resolve()
    report = json.loads((work / "report.json").read_text())
    items = task.make_split(work / "videos", "rft", videos)
    report["rft_data"] = self_distill(work / "sft", items, work / "rft-data" / "self.jsonl")
    report["rft"] = train(work / "sft", [report["data"]["train"], report["rft_data"]["path"]], work / "rft",
                          stage="rft", steps=steps)  # fmt: skip
    report["rft"]["steps"] = steps
    test = task.make_split(work / "videos", "test", TEST_VIDEOS)
    res = evaluate(work / "rft", test, style="tool")
    write_json(work / "eval-rft-tool.json", res)
    report["eval_rft_tool"] = res["summary"]
    write_json(work / "report.json", report)
    return report


def lmms_eval_args(model: Path) -> str:
    """longvt_agent_hf model args that reproduce `task.agent_budgets()` (what the model was trained with)."""
    b = task.agent_budgets(checkpoint_family(model))
    s, c = b.skim, b.crop
    return (
        f"pretrained={model},fps={s.fps},min_frames={s.min_frames},max_frames={s.max_frames},"
        f"min_pixels={s.min_pixels},max_pixels={s.max_pixels},crop_fps={c.fps},"
        f"crop_max_frames={c.max_frames},crop_max_pixels={c.max_pixels},max_tool_calls={c.max_calls},"
        f"max_turns={b.max_turns},max_new_tokens={b.max_new_tokens},max_total_tokens={b.max_total_tokens}"
    )


def run_lmms_eval(work: Path, model: Path, *, videos: int = TEST_VIDEOS, limit: int | None = None) -> dict:
    """The held-out split through the real lmms-eval CLI (`longvt eval run`, model longvt_agent_hf)."""
    from dataclasses import asdict

    from longvt_plugins.pipeline.store import write_jsonl_atomic

    work = Path(work).resolve()
    items = task.make_split(work / "videos", "test", videos)
    data = work / "lmms-eval" / "test.jsonl"
    write_jsonl_atomic(data, [{**asdict(i), "video": i.path, "segment": [i.start, i.end]} for i in items])
    out = work / "lmms-eval" / "out"
    cmd = [
        sys.executable, "-m", "longvt_plugins.cli", "eval", "run", "--model", "longvt_agent_hf",
        "--model-args", lmms_eval_args(model),
        "--tasks", "longvtp_miniature_tool,longvtp_miniature_non_think",
        "--data", f"miniature={data}", "--output", str(out),
        "--", "--verbosity", "WARNING", *(["--limit", str(limit)] if limit else []),
    ]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LONGVT_JUDGE", "LLM_AS_A_JUDGE"))}
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=work)
    if proc.returncode != 0:
        raise RuntimeError(f"lmms-eval failed (exit {proc.returncode}):\n{proc.stderr[-4000:]}")
    results = json.loads(sorted(out.glob("*/*_results.json"))[-1].read_text())["results"]
    return {"wall_s": round(time.perf_counter() - t0, 1), "results": results}
