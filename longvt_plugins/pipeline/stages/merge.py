"""Stage `merge`: adjacent clip captions that show the same event become one event; plus a per-video summary.

One unit per video. The same-event question is asked for each adjacent pair of clips (yes/no); the summary is
one call over the events. Events keep their clip ids and time span, so QA spans trace back to frames.
"""

from __future__ import annotations

from longvt_plugins.core.prompts import load_prompt
from longvt_plugins.pipeline.llm import ReplyError, parse_yes_no
from longvt_plugins.pipeline.stages.base import Stage
from longvt_plugins.pipeline.units import Unit


def _non_empty(text: str) -> str:
    if not text.strip():
        raise ReplyError("expected a summary, got an empty reply")
    return text.strip()


def event_lines(events: list[dict], first_index: int = 0) -> str:
    return "\n".join(
        f"Video_event {first_index + i} [{e['start']:.1f} - {e['end']:.1f}]: {e['caption']}"
        for i, e in enumerate(events)
    )


class MergeStage(Stage):
    name = "merge"
    upstream = ("caption", "detect")
    defaults = {"summary": True, "max_tokens": 512}

    def plan(self, inputs):
        clips: dict[str, list[dict]] = {}
        for c in inputs["caption"]:
            clips.setdefault(c["video_id"], []).append(c)
        units = []
        for v in inputs["detect"]:
            got = sorted(clips.get(v["video_id"], []), key=lambda c: c["start"])
            if not got:
                continue  # every clip failed: those failures are already recorded by `caption`
            payload = {
                "path": v["path"],
                "duration": v["duration"],
                "clips": got,
                "expected": len(v["clips"]),
            }
            units.append(Unit(v["video_id"], v["video_id"], payload))
        return units, []

    def run(self, unit):
        clips = unit.payload["clips"]
        groups = [[clips[0]]]
        for prev, cur in zip(clips, clips[1:], strict=False):
            question = (
                f"{load_prompt('pipeline_merge_same_event')}\n\nClip A [{prev['start']:.1f} - {prev['end']:.1f}]: "
                f"{prev['caption']}\nClip B [{cur['start']:.1f} - {cur['end']:.1f}]: {cur['caption']}"
            )
            same = self.client.chat_parsed(
                [{"role": "user", "content": question}], parse_yes_no, what="yes or no", max_tokens=8
            )
            if same:
                groups[-1].append(cur)
            else:
                groups.append([cur])
        events = [
            {
                "id": f"{unit.video_id}/ev{k:04d}",
                "start": g[0]["start"],
                "end": g[-1]["end"],
                "clips": [c["id"] for c in g],
                "caption": " ".join(c["caption"] for c in g),
            }
            for k, g in enumerate(groups)
        ]
        summary = ""
        if self.options["summary"]:
            prompt = f"{load_prompt('pipeline_summary')}\n\n{event_lines(events)}"
            summary = self.client.chat_parsed(
                [{"role": "user", "content": prompt}],
                _non_empty,
                what="a summary",
                max_tokens=int(self.options["max_tokens"]),
            )
        return [
            {
                "id": unit.video_id,
                "video_id": unit.video_id,
                "path": unit.payload["path"],
                "duration": unit.payload["duration"],
                "events": events,
                "summary": summary,
                "missing_clips": unit.payload["expected"] - len(clips),
            }
        ]


STAGE = MergeStage
