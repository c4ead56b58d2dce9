"""Stage `traces`: real iMCoTT traces. A teacher model runs the core agent loop on each kept QA's video (real
skim, real crop_video calls on the file), the judge checks its final answer against the QA's answer, and
accepted traces are also written as SFT rows in the lmms-engine plugin's schema (data/schemas/sft_trace.md).

A rejected trace (wrong answer, no answer, a transcript that fails the RL format check, no crop overlapping the
evidence span when that is required) is a record with `accepted: false` and the reason; `finalize` counts the
reasons. A teacher server that fails is a failure record (retry with `--retry-failed`).

What the student is shown is what the teacher was shown: the SFT row presents the skim as timestamped frames
(the agent's own presentation) with the skim budget of the run, and each replayed crop carries the crop budget the
teacher's call ran with, so the replay re-makes the same frames the teacher's text talks about.
"""

from __future__ import annotations

from longvt_plugins.core.budget import CropBudget, FrameBudget
from longvt_plugins.pipeline.stages.base import Stage
from longvt_plugins.pipeline.units import Unit, UnitFailed


def qa_segment(qa: dict) -> list[float] | None:
    """A QA record's evidence span as [start, end]; None when it has none (the answer is not in the video)."""
    return None if qa.get("start") is None or qa.get("end") is None else [qa["start"], qa["end"]]


def _overlaps(windows: list[tuple[float, float]], start: float, end: float) -> bool:
    return any(min(b, end) > max(a, start) for a, b in windows)


def sft_row_from_trace(trace, qa: dict) -> dict:
    """An SFT row (lmms-engine plugin schema): the skim as a video part with the skim budget, presented as
    timestamped frames (`as_frames`), the agent's text,
    assistant turns with their crop_video calls, and tool turns replayed by the crop tool at training time with
    the crop budget the teacher ran (so the frames the text talks about are the frames replayed)."""
    from longvt_plugins.core.agent import AgentBudgets
    from longvt_plugins.core.crop_tool import CROP_VIDEO_SCHEMA

    budgets = AgentBudgets.from_dict(trace.budgets)
    skim = {k: v for k, v in budgets.skim.to_dict().items() if k != "patch_size" and v is not None}
    crop = budgets.crop.frames().to_dict()
    first_user = next(m for m in trace.messages if m["role"] == "user")
    texts = [p["text"] for p in first_user["content"] if isinstance(p, dict) and p.get("type") == "text"]
    # The per-frame "<t s>" labels belong to the skim frames the video part re-creates; keep the rest.
    texts = [t for t in texts if not (t.startswith("<") and t.endswith("s>"))]
    # "<t s>" label + image per skim frame, exactly as the agent shows them
    video = {"url": trace.video["path"], **skim, "as_frames": True}
    system = next((m["content"] for m in trace.messages if m["role"] == "system"), "")
    messages: list[dict] = [
        {"role": "system", "content": [{"type": "text", "text": system}]},
        {
            "role": "user",
            "content": [
                {"type": "video_url", "video_url": video},
                *[{"type": "text", "text": t} for t in texts],
            ],
        },
    ]
    for turn in trace.turns:
        msg: dict = {"role": "assistant", "content": [{"type": "text", "text": turn.content}]}
        calls = [c for c in turn.tool_calls if c["name"] == CROP_VIDEO_SCHEMA["function"]["name"]]
        if calls:
            msg["tool_calls"] = [
                {"type": "function", "function": {"name": c["name"], "arguments": c["arguments"]}}
                for c in calls
            ]
        messages.append(msg)
        messages.extend({"role": "tool", "name": c["name"], "replay": True, "budget": crop} for c in calls)
    return {
        "id": qa["id"],
        "video": trace.video["path"],
        "messages": messages,
        "tools": [CROP_VIDEO_SCHEMA],
        "source": f"longvt pipeline traces ({trace.backend.get('model', '?')})",
        "meta": {"qa_id": qa["id"], "video_id": qa["video_id"], "segment": qa_segment(qa)},
    }


def rejection_reasons(trace, score: dict, evidence: tuple[float, float], require_overlap: bool) -> list[str]:
    """Why a trace may not become training data (empty: keep it). Also used for RFT self-distillation."""
    from longvt_plugins.core.answer import check_format  # the RL format reward's own check
    from longvt_plugins.core.trace import transcript  # the text that check reads, as eval scores it

    reasons = []
    if trace.stop_reason != "answer":
        reasons.append(f"no final answer ({trace.stop_reason})")
    elif not score.get("correct"):
        reasons.append(f"answer judged wrong ({score.get('method')})")
    # A QA without an evidence span (start/end null) asks about something the video does not show (the
    # miniature v2's counterfactuals, answered "none"): the answer is right without a crop.
    no_evidence = evidence[0] is None or evidence[1] is None
    if not trace.crop_windows:
        if not no_evidence:
            reasons.append("no successful crop_video call")
    elif require_overlap and not no_evidence and not _overlaps(trace.crop_windows, *evidence):
        reasons.append("no crop overlaps the evidence span")
    fmt = check_format(transcript(trace))
    if not fmt.ok:
        reasons.append(f"format: {fmt.reason}")
    return reasons


class TracesStage(Stage):
    name = "traces"
    upstream = ("filter-vl",)
    defaults = {
        "judge": None,  # endpoint settings for the answer judge; None: $LONGVT_JUDGE_* or rule-based scoring
        "require_overlap": False,  # also demand a crop that overlaps the QA's evidence span
        "native_tools": True,  # False for servers without tool-call parsing (calls read from <tool_call> text)
        # How the teacher is shown frame times (core/families.py): the family of the student the rows are for, so
        # the times its text names are the labels the student reads. None: from the served model's name.
        "family": None,
        # skim_<field> / crop_<field> for every FrameBudget / CropBudget field; None keeps core.budget's preset
        **dict.fromkeys(FrameBudget.option_names("skim_")),
        **dict.fromkeys(CropBudget.option_names("crop_")),
        "max_turns": 6,
        "max_new_tokens": 2048,
        "max_total_tokens": 8192,
        "temperature": 0.2,
    }

    def plan(self, inputs):
        return [Unit(q["id"], q["video_id"], q) for q in inputs["filter-vl"] if q.get("keep")], []

    def _backend(self):
        from longvt_plugins.core.backends import BackendError, OpenAIBackend

        ep = self.config.endpoint(self.name)
        if not ep.get("base_url"):
            raise UnitFailed("no teacher endpoint: set stages.traces.model.base_url (or model.base_url)")
        try:
            return OpenAIBackend(
                ep["base_url"],
                ep.get("model"),
                api_key=ep.get("api_key"),
                timeout=float(ep["timeout"]),
                max_retries=int(ep["retries"]),
                native_tools=bool(self.options["native_tools"]),
                family=self.options.get("family"),
            )
        except (BackendError, Exception) as exc:
            raise UnitFailed(f"teacher endpoint unusable: {exc}") from exc

    def _judge_config(self):
        from longvt_plugins.core.judge import JudgeConfig

        j = self.options.get("judge") or {}
        keep = ("base_url", "model", "api_key", "timeout", "retries", "concurrency")
        return JudgeConfig.from_env(cache_path="off", **{k: j[k] for k in keep if j.get(k) is not None})

    def run(self, unit):
        from longvt_plugins.core.agent import AgentBudgets, run_agent, score_trace
        from longvt_plugins.core.backends import GenerationParams
        from longvt_plugins.core.budget import SKIM

        q, o = unit.payload, self.options
        budgets = AgentBudgets(
            skim=FrameBudget.from_options(o, "skim_", SKIM),
            crop=CropBudget.from_options(o, "crop_", CropBudget()),
            max_turns=int(o["max_turns"]),
            max_new_tokens=int(o["max_new_tokens"]),
            max_total_tokens=int(o["max_total_tokens"]),
        )
        trace = run_agent(
            q["path"],
            q["question"],
            self._backend(),
            budgets,
            params=GenerationParams(temperature=float(o["temperature"])),
            ground_truth=q["answer"],
            trace_id=q["id"],
            meta={"qa_id": q["id"], "video_id": q["video_id"], "segment": [q["start"], q["end"]]},
        )
        if trace.stop_reason in ("backend_error", "video_error"):
            raise UnitFailed(f"trace generation failed ({trace.stop_reason}): {trace.error}")
        score = score_trace(trace, self._judge_config()) or {}
        reasons = rejection_reasons(trace, score, (q["start"], q["end"]), bool(o["require_overlap"]))
        accepted = not reasons
        record = {
            "id": q["id"],
            "video_id": q["video_id"],
            "path": q["path"],
            "question": q["question"],
            "answer": q["answer"],
            "start": q["start"],
            "end": q["end"],
            "accepted": accepted,
            "reason": "; ".join(reasons) or "accepted",
            "score": score,
            "final_answer": trace.final_answer,
            "crops": [list(w) for w in trace.crop_windows],
            "trace": trace.to_dict(thumbnails=False),
        }
        if accepted:
            record["sft_row"] = sft_row_from_trace(trace, q)
        return [record]

    def finalize(self, records, failures):
        """Count rejections by reason (logged in the stage's `rejections.json`)."""
        import json
        from collections import Counter

        counts = Counter(
            reason for r in records if not r.get("accepted") for reason in r["reason"].split("; ")
        )
        path = self.config.workdir / self.name / "rejections.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"accepted": sum(bool(r.get("accepted")) for r in records),
                                    "rejected": dict(sorted(counts.items()))}, indent=1))  # fmt: skip
        return records, failures


STAGE = TracesStage
