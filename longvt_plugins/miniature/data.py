"""Miniature data through the real pipeline: QA records -> stage 7 (traces, oracle teacher over HTTP) -> export.

The task generator stands in for stages 1-6 (its questions are known-good by construction), so its items are
written as the `filter-vl` stage's records; from there the pipeline's own `traces` and `export` stages run
unchanged, and `export/sft.jsonl` is the training file. Direct-style rows (same skim, same question, the
direct instruction, no tool) are derived from the same accepted traces so one model also learns the no-tool
baseline style it is compared against.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict
from pathlib import Path

from longvt_plugins.core.families import DEFAULT_FAMILY
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


def pipeline_config(workdir: Path, base_url: str, *, temperature: float = 0.0, budgets=None,
                    model: str = "oracle-teacher", export: dict | None = None, family: str | None = None):  # fmt: skip
    """Stage 7 + export of a miniature work directory; `budgets` / `model` / `export`: another task family's (v2).
    `family`: how the teacher is shown frame times (the student checkpoint's family; None: the stage's default)."""
    from longvt_plugins.pipeline.config import PipelineConfig

    # frames of one visual token in the student's family
    b = budgets or agent_budgets(family or DEFAULT_FAMILY)
    # the stage's skim_<field> / crop_<field> options (FrameBudget / CropBudget fields)
    frames = {**{f"skim_{k}": v for k, v in b.skim.to_dict().items()},
              **{f"crop_{k}": v for k, v in b.crop.to_dict().items()}}  # fmt: skip
    return PipelineConfig(
        {
            "workdir": str(workdir),
            "model": {"base_url": base_url, "model": model, "concurrency": 2, "retries": 0},
            "stages": {
                "traces": {
                    "max_turns": b.max_turns, "max_new_tokens": b.max_new_tokens,
                    "max_total_tokens": b.max_total_tokens, "temperature": temperature,
                    "require_overlap": True, **frames, **({"family": family} if family else {}),
                },
                "export": export or {"products": ["sft", "eval"]},
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


_ASKED = re.compile(r"^<think>Asked: (\w+)\.")


def asked_drill(sft_row: dict) -> dict | None:
    """The trace's own prompt, then "<think>Asked: X." with the loss on X alone (`loss_span`).

    Why: copying the asked colour from the question is the step the one-stage student did not learn (it wrote one
    colour for most questions of a video: 5/40 held-out). Isolated, it is learned in 200-300 steps; with the loss
    on the whole turn - even on a turn of six tokens, five of them trivial - it stays at chance for 600 steps
    (`benchmarks/miniature_asked_copy.py`). Learned first, on its own, it survives the full SFT that follows.
    """
    msgs = sft_row["messages"]
    first = next((m for m in msgs if m.get("role") == "assistant"), None)
    text = "".join(p.get("text", "") for p in (first or {}).get("content") or [])
    m = _ASKED.match(text)
    if m is None:
        return None
    return _step_drill(sft_row, "asked", msgs[: msgs.index(first)], m.group(0), f" {m.group(1)}")


def _step_drill(sft_row: dict, kind: str, messages: list[dict], turn: str, span: str) -> dict:
    return {
        **{k: v for k, v in sft_row.items() if k not in ("messages", "id", "source", "meta")},
        "id": f"{sft_row['id']}-{kind}",
        "messages": [
            *messages,
            {"role": "assistant", "content": [{"type": "text", "text": turn}], "loss_span": span},
        ],
        "source": f"miniature {kind} drill (one step of {sft_row['id']})",
        # "asked": every one-token step drill (asked colour, match decision, answer word), apart from reading drills
        "meta": dict(sft_row.get("meta") or {}, style="asked"),
    }


def _palette_words():
    from longvt_plugins.miniature.task import PALETTE

    return re.compile(r"\b(?:" + "|".join(PALETTE) + r")\b")


def step_drills(sft_row: dict) -> list[dict]:
    """The other steps that are one token in a long turn, drilled like `asked_drill` (loss on that token alone):

    - the match decision: the first turn cut after a skim colour, the loss on what follows it - "," (or, inside a
      Qwen3-VL pair, the pair's next colour) for the frame before the asked scene (not it), ":" for the asked
      scene's frame (found);
    - the answer: the whole trace as context (earlier turns untrained), the loss on the colour inside <answer>.
      (Without this drill a student wrote "The flash is grey." and then <answer>white</answer>.)
    """
    msgs = sft_row["messages"]
    firsts = [i for i, m in enumerate(msgs) if m.get("role") == "assistant"]
    if len(firsts) < 2:
        return []
    text = "".join(p.get("text", "") for p in msgs[firsts[0]]["content"])
    head, sep, _ = text.partition(": found")
    skim_at = head.find("Skim:")
    words = list(_palette_words().finditer(head, skim_at)) if skim_at >= 0 else []
    out = []
    if sep and words:
        out.append(_step_drill(sft_row, "found", msgs[: firsts[0]], head + ":", ":"))
        if len(words) > 1:
            # After the colour before the asked one: "," (Qwen2.5-VL, or the end of a Qwen3-VL pair) or, inside a
            # Qwen3-VL pair, the pair's next colour - either way, not ":".
            end = words[-2].end()
            follow = "," if head[end] == "," else head[end : words[-1].end()]
            out.append(_step_drill(sft_row, "next", msgs[: firsts[0]], head[:end] + follow, follow))
    final = "".join(p.get("text", "") for p in msgs[firsts[-1]]["content"])
    answer = re.search(r"<answer>(\w+)</answer>", final)
    if answer:
        context = [dict(m, loss_span="") if m.get("role") == "assistant" else m for m in msgs[: firsts[-1]]]
        out.append(_step_drill(sft_row, "answer", context, final, answer.group(1)))
    return out


PERCEPTION_PROMPT = "Name the colour of every frame, with its timestamp."


def perception_rows(sft_row: dict, *, family: str = DEFAULT_FAMILY) -> list[dict]:
    """Short reading drills from one accepted trace (the frames and the listing its teacher wrote; no tools block):

    - the skim frames -> every one of them read ("Skim: 0s red, 18s blue, ..."; the trace's own think stops at the
      asked scene);
    - the crop's frames (the same window and crop budget as the replayed tool turn) -> "Crop: ... The flash is X."

    Why: a model trained from scratch must first learn to read its frames. In a full trace the ~16 listed colours
    sit behind a ~600-token prompt (system, tools block, instructions), and attention spread over it learned to
    repeat one colour for every frame (the listing at chance after 375 steps). A drill shows the same frames with a
    one-line prompt: the LLaVA-style perception data mixed into instruction tuning, here derived from the traces.
    """
    msgs = sft_row["messages"]
    skim = next(p for p in msgs[1]["content"] if p.get("type") == "video_url")
    out = [_drill(sft_row, "skim", skim["video_url"], f"Skim: {_read(skim['video_url'], family)}.")]
    calls = msgs[2].get("tool_calls") or []
    tool = next((m for m in msgs[3:] if m.get("role") == "tool"), None)
    final = next((m for m in msgs[3:] if m.get("role") == "assistant"), None)
    if calls and tool and final:
        args = calls[0]["function"]["arguments"]
        budget = {k: v for k, v in (tool.get("budget") or {}).items() if k in ("fps", "min_frames", "max_frames",
                                                                             "min_pixels", "max_pixels")}  # fmt: skip
        crop = {"url": skim["video_url"]["url"], **budget, "as_frames": True,
                "video_start": float(args["start_time"]), "video_end": float(args["end_time"])}  # fmt: skip
        text = final["content"][0]["text"]
        listing = text.removeprefix("<think>").split("</think>")[0]
        out.append(_drill(sft_row, "crop", crop, listing))
    return out


_LISTED = re.compile(r"(\d+(?:\.\d+)?)s (\w+)")  # one frame per label (Qwen2.5-VL listings)


def frame_drills(sft_row: dict, folder: Path, drills: list[dict] | None = None, *,
                 family: str = DEFAULT_FAMILY) -> list[dict]:  # fmt: skip
    """One-frame reading drills: the skim's coloured frame and its first dull one, and the crop's flash frames, each
    alone with its label -> "18s red.".

    Why: with eight frames in a row the student has two things to learn at once - which frame to look at and what
    its colour is called - and neither gets a clear gradient without the other (after 500 steps on full traces and
    eight-frame drills it still named one colour for every frame; logits moved < 0.1 when every frame changed).
    With one frame, where to look is trivial and the frame -> colour-word mapping is learned first. The frames are
    the ones the agent decodes (same budgets, `core.video.sample_window`), saved losslessly; each is labelled as
    `family` labels one frame alone (Qwen3-VL: its own time, a pair of one).
    """
    from longvt_plugins.core.crop_tool import label_times, timestamped_parts
    from longvt_plugins.core.video import sample_window
    from longvt_plugins.miniature.task import FLASH_COLOURS, PLAIN_COLOURS
    from longvt_plugins.miniature.teacher import parse_listing

    rows = []
    for drill in perception_rows(sft_row, family=family) if drills is None else drills:
        plain_kept = False
        spec = drill["messages"][1]["content"][0]["video_url"]
        got = sample_window(
            spec["url"], spec.get("video_start"), spec.get("video_end"), _budget(spec, family)
        )
        listed = [c for _, cs in parse_listing(drill["messages"][2]["content"][0]["text"]) for c in cs]
        kind = drill["id"].rsplit("-", 1)[-1]
        own = label_times(family, got.timestamps, got.indices, got.info.fps)
        frames = zip(listed, got.to_pil(), got.timestamps, own, strict=True)
        for colour, frame, t, t_label in frames:
            if kind == "crop" and colour not in FLASH_COLOURS:
                continue  # the skim already shows every scene colour; from a crop, its flash
            if kind == "skim" and colour in PLAIN_COLOURS:
                # one dull frame per skim: seven would make "a dull colour" most of what the drills teach
                if plain_kept:
                    continue
                plain_kept = True
            png = folder / f"{Path(spec['url']).stem}_{t:.2f}.png"
            if not png.exists():
                png.parent.mkdir(parents=True, exist_ok=True)
                frame.save(png)
            label = timestamped_parts([frame], [t_label], family)[0]["text"]  # "<18.0s>" / "<18.0 seconds>"
            stamp = f"{float(re.sub(r'[^0-9.]', '', label)):g}"  # as the teacher writes a label it read
            rows.append({
                "id": f"{sft_row['id']}-frame-{t:.2f}",
                "video": sft_row["video"],
                "messages": [
                    sft_row["messages"][0],
                    {"role": "user", "content": [{"type": "text", "text": label},
                                                 {"type": "image_url", "image_url": {"url": str(png)}},
                                                 {"type": "text", "text": PERCEPTION_PROMPT}]},  # fmt: skip
                    {"role": "assistant", "content": [{"type": "text", "text": f"{stamp}s {colour}."}]},
                ],
                "source": f"miniature one-frame drill ({kind} frame of {sft_row['id']})",
                "meta": dict(sft_row.get("meta") or {}, style="drill"),
            })  # fmt: skip
    return rows


def _budget(spec: dict, family: str):
    """A video part's frame budget, resized as `family` is (the rows leave the patch size to the host, which takes
    the model's: lmms_engine.media); without it a Qwen3-VL drill frame would be cut at 28x28, not the agent's 32x32."""
    from longvt_plugins.core.budget import FrameBudget
    from longvt_plugins.core.families import PATCH_SIZES

    fields = ("fps", "min_frames", "max_frames", "min_pixels", "max_pixels")
    return FrameBudget(**{k: spec[k] for k in fields}, patch_size=PATCH_SIZES[family])


def _read(spec: dict, family: str = DEFAULT_FAMILY) -> str:
    """Every frame of a video part read the teacher's way (decoded with the part's budget, labelled as `family` is
    shown them, nearest palette colour): the trace's own think stops at the asked scene, a drill lists them all."""
    from longvt_plugins.core.crop_tool import label_times, timestamped_parts
    from longvt_plugins.core.video import sample_window
    from longvt_plugins.miniature.teacher import _listing, read_groups

    got = sample_window(spec["url"], spec.get("video_start"), spec.get("video_end"), _budget(spec, family))
    stamps = label_times(family, got.timestamps, got.indices, got.info.fps)
    return _listing(read_groups(timestamped_parts(got.to_pil(), stamps, family)))


def _drill(sft_row: dict, kind: str, video: dict, answer: str) -> dict:
    return {
        "id": f"{sft_row['id']}-read-{kind}",
        "video": sft_row["video"],
        "messages": [
            sft_row["messages"][0],
            {
                "role": "user",
                "content": [
                    {"type": "video_url", "video_url": video},
                    {"type": "text", "text": PERCEPTION_PROMPT},
                ],
            },  # fmt: skip
            {"role": "assistant", "content": [{"type": "text", "text": answer}]},
        ],
        "source": f"miniature reading drill ({kind} frames of {sft_row['id']})",
        "meta": dict(sft_row.get("meta") or {}, style="drill"),
    }


def build_traces(workdir: str | Path, items: list[MiniItem], *, direct_every: int = 4, drills: bool = True,
                 trace_repeats: int = 1, teacher=None, family: str = DEFAULT_FAMILY) -> dict:  # fmt: skip
    """Run stage 7 (+ export) over the items with the oracle teacher on a loopback OpenAI server.

    `teacher`: another OpenAI handler (tests use a misbehaving one). `family`: the student's (its checkpoint's
    config, `core.families.checkpoint_family`): the teacher is shown frame times as the student will be, so its
    text names the labels the student reads. `trace_repeats`: how many times each accepted
    trace appears in the training file (the whole traces are what the model must generate; the drills are many
    short rows beside them). Returns {"sft": path, "eval": path,
    "train": path (sft + direct rows + drills), "asked": path of the one-step drills, "drills": path of all the
    drills (the first SFT stage; both None without drills), "traces": stage summary, "export": ...,
    "rejections": counts by reason}.
    """
    from longvt_plugins.miniature.teacher import OracleTeacher
    from longvt_plugins.pipeline.runner import run_stage
    from longvt_plugins.pipeline.store import read_jsonl, write_jsonl_atomic
    from longvt_plugins.testing.openai_server import OpenAIStubServer

    workdir = Path(workdir)
    seed_pipeline(workdir, items)
    with OpenAIStubServer(teacher or OracleTeacher(), model="oracle-teacher") as server:
        config = pipeline_config(workdir, server.base_url, family=family)
        traces = run_stage(config, "traces")
    export = run_stage(config, "export")
    sft = workdir / "export" / "sft.jsonl"
    rows = read_jsonl(sft)
    # A direct-style copy of every `direct_every`-th trace (0: none): enough to learn the style, cheap to train.
    train = rows * trace_repeats + ([direct_row(r) for r in rows[::direct_every]] if direct_every else [])
    if drills:  # one skim drill per video, one crop drill per trace
        seen: set[str] = set()
        frames: dict[str, dict] = {}
        for r in rows:
            listing = perception_rows(
                r, family=family
            )  # decoded once, used for the listing drills and the one-frame drills
            for d in listing:
                key = json.dumps(d["messages"][1], sort_keys=True)
                if key not in seen:
                    seen.add(key)
                    train.append(d)
            for d in frame_drills(r, workdir / "export" / "frames", listing, family=family):
                frames.setdefault(d["messages"][1]["content"][1]["image_url"]["url"], d)
        train += list(frames.values())
    asked = [d for d in map(asked_drill, rows) if d is not None] if drills else []
    asked += [d for r in rows for d in step_drills(r)] if drills else []
    train += asked
    write_jsonl_atomic(workdir / "export" / "train.jsonl", train)
    # The first SFT stage's rows: every drill (reading and one-step), none of the whole traces.
    stage_one = [r for r in train if r["meta"].get("style") in ("drill", "asked")]
    write_jsonl_atomic(workdir / "export" / "drills.jsonl", stage_one)
    write_jsonl_atomic(workdir / "export" / "asked.jsonl", asked)
    rejections = json.loads((workdir / "traces" / "rejections.json").read_text())
    return {
        "sft": str(sft),
        "asked": str(workdir / "export" / "asked.jsonl") if asked else None,
        "drills": str(workdir / "export" / "drills.jsonl") if drills else None,
        "eval": str(workdir / "export" / "eval.jsonl"),
        "train": str(workdir / "export" / "train.jsonl"),
        "traces": traces.to_dict(),
        "export": export.to_dict(),
        "rejections": rejections,
    }
