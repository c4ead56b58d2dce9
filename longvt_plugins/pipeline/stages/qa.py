"""Stage `qa`: one fine-grained question per group of consecutive events (upstream default: 15 per group).

The reply must be a JSON object with question, answer, start_time, end_time; the span must lie inside the
group's events. A reply that is not (after retries) becomes a failure record quoting it.
"""

from __future__ import annotations

from longvt_plugins.core.prompts import load_prompt
from longvt_plugins.pipeline.llm import ReplyError, parse_json_object
from longvt_plugins.pipeline.stages.base import Stage
from longvt_plugins.pipeline.stages.merge import event_lines
from longvt_plugins.pipeline.units import Unit


def validate_qa(obj: dict, span: tuple[float, float], tolerance: float = 1.0) -> dict:
    """The schema of data/schemas/qa_reply.schema.json, checked by hand (clear messages, no extra dependency)."""
    q, a = obj.get("question"), obj.get("answer")
    if not isinstance(q, str) or not q.strip():
        raise ReplyError("'question' must be a non-empty string")
    if not isinstance(a, str | int | float) or not str(a).strip():
        raise ReplyError("'answer' must be a non-empty string")
    try:
        s, e = float(obj["start_time"]), float(obj["end_time"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ReplyError("'start_time' and 'end_time' must be numbers (seconds)") from exc
    if not s < e:
        raise ReplyError(f"start_time {s} must be before end_time {e}")
    lo, hi = span
    if s < lo - tolerance or e > hi + tolerance:
        raise ReplyError(f"span [{s}, {e}] lies outside the events shown [{lo}, {hi}]")
    return {"question": q.strip(), "answer": str(a).strip(), "start": max(lo, s), "end": min(hi, e)}


class QAStage(Stage):
    name = "qa"
    upstream = ("merge",)
    defaults = {"group_size": 15, "max_tokens": 512}

    def plan(self, inputs):
        size = max(1, int(self.options["group_size"]))
        units = []
        for v in inputs["merge"]:
            events = v["events"]
            for g, first in enumerate(range(0, len(events), size)):
                group = events[first : first + size]
                payload = {"path": v["path"], "duration": v["duration"], "first": first, "events": group}
                units.append(Unit(f"{v['video_id']}/g{g:04d}", v["video_id"], payload))
        return units, []

    def run(self, unit):
        p = unit.payload
        events = p["events"]
        span = (events[0]["start"], events[-1]["end"])
        prompt = f"{load_prompt('pipeline_qa')}\n\n{event_lines(events, p['first'])}"

        def parse(text: str) -> dict:
            return validate_qa(parse_json_object(text), span)

        qa = self.client.chat_parsed(
            [{"role": "user", "content": prompt}],
            parse,
            what="a valid QA JSON object",
            max_tokens=int(self.options["max_tokens"]),
        )
        return [
            {
                "id": f"{unit.key}/q0",
                "video_id": unit.video_id,
                "path": p["path"],
                "duration": p["duration"],
                "group": unit.key,
                "group_start": span[0],
                "group_end": span[1],
                "events": [e["id"] for e in events],
                **qa,
            }
        ]


STAGE = QAStage
