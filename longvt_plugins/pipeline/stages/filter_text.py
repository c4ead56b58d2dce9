"""Stage `filter-text`: an LLM rejects QA pairs that are answerable blind, ambiguous, leak timestamps,
subjective, or need outside knowledge, and ranks the rest. One unit per video (it sees the video's summary).

Every QA keeps a record with `keep`, `reason` and `rank`, so rejections can be counted and read later; only
`keep: true` pairs go on to `filter-vl`. `keep_top` caps kept pairs per video (best ranks first).
"""

from __future__ import annotations

import json

from longvt_plugins.core.prompts import load_prompt
from longvt_plugins.pipeline.llm import ReplyError, parse_json_object
from longvt_plugins.pipeline.stages.base import Stage
from longvt_plugins.pipeline.units import Unit


def parse_verdicts(text: str, ids: list[str]) -> dict[str, dict]:
    obj = parse_json_object(text)
    verdicts = obj.get("verdicts")
    if not isinstance(verdicts, list):
        raise ReplyError("expected {'verdicts': [...]}")
    out: dict[str, dict] = {}
    for v in verdicts:
        if not isinstance(v, dict) or str(v.get("id")) not in ids or not isinstance(v.get("keep"), bool):
            raise ReplyError("each verdict needs a known 'id' and a boolean 'keep'")
        rank = v.get("rank")
        if v["keep"] and not isinstance(rank, int):
            raise ReplyError("a kept pair needs an integer 'rank'")
        out[str(v["id"])] = {
            "keep": v["keep"],
            "reason": str(v.get("reason", "")),
            "rank": rank if v["keep"] else None,
        }
    missing = [i for i in ids if i not in out]
    if missing:
        raise ReplyError(f"no verdict for {', '.join(missing)}")
    return out


class FilterTextStage(Stage):
    name = "filter-text"
    upstream = ("qa", "merge")
    defaults = {"keep_top": 0, "max_tokens": 1024}  # keep_top 0: keep every pair that passes

    def plan(self, inputs):
        summaries = {v["video_id"]: v.get("summary", "") for v in inputs["merge"]}
        by_video: dict[str, list[dict]] = {}
        for qa in inputs["qa"]:
            by_video.setdefault(qa["video_id"], []).append(qa)
        return [
            Unit(vid, vid, {"summary": summaries.get(vid, ""), "qas": sorted(qas, key=lambda q: q["id"])})
            for vid, qas in sorted(by_video.items())
        ], []

    def run(self, unit):
        qas = unit.payload["qas"]
        ids = [q["id"] for q in qas]
        listing = json.dumps(
            [{"id": q["id"], "question": q["question"], "answer": q["answer"]} for q in qas],
            ensure_ascii=False,
        )
        prompt = (
            f"{load_prompt('pipeline_filter_text')}\n\nSummary: {unit.payload['summary']}\n\nPairs: {listing}"
        )
        verdicts = self.client.chat_parsed(
            [{"role": "user", "content": prompt}],
            lambda t: parse_verdicts(t, ids),
            what="a verdict for every pair (JSON)",
            max_tokens=int(self.options["max_tokens"]),
        )
        top = int(self.options["keep_top"] or 0)
        if top > 0:
            kept = sorted((i for i in ids if verdicts[i]["keep"]), key=lambda i: (verdicts[i]["rank"], i))
            for i in kept[top:]:
                verdicts[i].update(keep=False, reason=f"ranked {verdicts[i]['rank']}, below the top {top}")
        return [{**q, "text_filter": verdicts[q["id"]], "keep": verdicts[q["id"]]["keep"]} for q in qas]


STAGE = FilterTextStage
