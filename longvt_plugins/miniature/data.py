"""Miniature data through the real pipeline: QA records -> stage 7 (traces, oracle teacher over HTTP) -> export.

The task generator stands in for stages 1-6 (its questions are known-good by construction), so its items are
written as the `filter-vl` stage's records; from there the pipeline's own `traces` and `export` stages run
unchanged, and `export/sft.jsonl` is the training file. Direct-style rows (same skim, same question, the
direct instruction, no tool) are derived from the same accepted traces so one model also learns the no-tool
baseline style it is compared against.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from longvt_plugins.miniature.task import MiniItem, agent_budgets


def qa_records(items: list[MiniItem]) -> list[dict]:
    return [{**asdict(i), "keep": True} for i in items]


def seed_pipeline(workdir: Path, items: list[MiniItem]) -> None:
    """Write the items as the finished `filter-vl` stage of a pipeline work directory."""
    from longvt_plugins.pipeline.store import StageFiles, write_json_atomic, write_jsonl_atomic

    files = StageFiles(workdir, "filter-vl")
    rows = sorted(qa_records(items), key=lambda r: r["id"])
    write_jsonl_atomic(files.records, rows)
    write_jsonl_atomic(files.failures, [])
    write_json_atomic(files.state, {"stage": "filter-vl", "complete": True, "records": len(rows), "failures": 0,
                                    "units": len(rows), "num_shards": 1, "shard_index": 0})  # fmt: skip


def pipeline_config(workdir: Path, base_url: str, *, temperature: float = 0.0):
    from longvt_plugins.pipeline.config import PipelineConfig

    b = agent_budgets()
    # the stage's skim_<field> / crop_<field> options (FrameBudget / CropBudget fields)
    frames = {**{f"skim_{k}": v for k, v in b.skim.to_dict().items()},
              **{f"crop_{k}": v for k, v in b.crop.to_dict().items()}}  # fmt: skip
    return PipelineConfig(
        {
            "workdir": str(workdir),
            "model": {"base_url": base_url, "model": "oracle-teacher", "concurrency": 2, "retries": 0},
            "stages": {
                "traces": {
                    "max_turns": b.max_turns, "max_new_tokens": b.max_new_tokens,
                    "max_total_tokens": b.max_total_tokens, "temperature": temperature,
                    "require_overlap": True, **frames,
                },
                "export": {"products": ["sft", "eval"]},
            },
        }
    )  # fmt: skip


def direct_row(sft_row: dict) -> dict:
    """The same sample in direct style: the skim and question with the direct instruction, then only the answer."""
    from longvt_plugins.core.agent import instruction
    from longvt_plugins.core.answer import extract_answer

    msgs = sft_row["messages"]
    user = json.loads(json.dumps(msgs[1]))
    tool_instr, direct_instr = instruction("tool"), instruction("non_think")
    for part in user["content"]:
        if part.get("type") == "text" and tool_instr in part["text"]:
            part["text"] = part["text"].replace(tool_instr, direct_instr)
    final = msgs[-1]["content"][0]["text"]
    answer = extract_answer(final)
    return {
        "id": sft_row["id"] + "-direct",
        "video": sft_row["video"],
        "messages": [
            msgs[0],
            user,
            {"role": "assistant", "content": [{"type": "text", "text": f"<answer>{answer}</answer>"}]},
        ],
        "source": "miniature direct-style row (derived from " + sft_row["id"] + ")",
        "meta": dict(sft_row.get("meta") or {}, style="non_think"),
    }


def build_traces(workdir: str | Path, items: list[MiniItem], *, direct_every: int = 4, teacher=None) -> dict:
    """Run stage 7 (+ export) over the items with the oracle teacher on a loopback OpenAI server.

    `teacher`: another OpenAI handler (tests use a misbehaving one). Returns {"sft": path, "eval": path,
    "train": path (sft + direct rows), "traces": stage summary, "export": ..., "rejections": counts by reason}.
    """
    from longvt_plugins.miniature.teacher import OracleTeacher
    from longvt_plugins.pipeline.runner import run_stage
    from longvt_plugins.pipeline.store import read_jsonl, write_jsonl_atomic
    from longvt_plugins.testing.openai_server import OpenAIStubServer

    workdir = Path(workdir)
    seed_pipeline(workdir, items)
    with OpenAIStubServer(teacher or OracleTeacher(), model="oracle-teacher") as server:
        config = pipeline_config(workdir, server.base_url)
        traces = run_stage(config, "traces")
    export = run_stage(config, "export")
    sft = workdir / "export" / "sft.jsonl"
    rows = read_jsonl(sft)
    # A direct-style copy of every `direct_every`-th trace (0: none): enough to learn the style, cheap to train.
    train = rows + ([direct_row(r) for r in rows[::direct_every]] if direct_every else [])
    write_jsonl_atomic(workdir / "export" / "train.jsonl", train)
    rejections = json.loads((workdir / "traces" / "rejections.json").read_text())
    return {
        "sft": str(sft),
        "eval": str(workdir / "export" / "eval.jsonl"),
        "train": str(workdir / "export" / "train.jsonl"),
        "traces": traces.to_dict(),
        "export": export.to_dict(),
        "rejections": rejections,
    }
