"""Miniature LongVT, data side: the task really needs the crop, stage 7 keeps only well-formed traces, and the SFT
row shows the student exactly the prompt the agent shows it at evaluation (same text, same frames)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from longvt_plugins.miniature import task


@pytest.fixture(scope="module")
def mini_items(tmp_path_factory):
    """One question per video; the first video of each asked colour, so a colour names one item."""
    items, colours = [], set()
    for item in task.make_split(tmp_path_factory.mktemp("mini") / "videos", "val", 16):
        if item.colour not in colours:
            colours.add(item.colour)
            items.append(item)
    assert len(items) >= 5 and {"red", "blue"} <= colours
    return items


def _colours(frames) -> list[str]:
    return [task.nearest_colour(np.asarray(f)) for f in frames]


def test_skim_locates_the_asked_scene_but_never_shows_a_flash_and_the_crop_does(mini_items):
    from longvt_plugins.core.crop_tool import CropVideoTool
    from longvt_plugins.core.video import sample_video

    for item in mini_items:
        video = task.MiniVideo.load(item.path + ".json")
        skim = sample_video(item.path, task.agent_budgets().skim)
        seen = _colours(skim.frames)
        assert seen == [s.colour for s in video.scenes]  # one skim frame per scene, read right
        # the asked scene is the one coloured skim frame, and its timestamp falls inside the evidence window
        coloured = [t for t, c in zip(skim.timestamps, seen, strict=True) if c not in task.PLAIN_COLOURS]
        assert seen.count(item.colour) == 1 and len(coloured) == 1 and item.start <= coloured[0] < item.end
        assert not set(seen) & set(task.FLASH_COLOURS)  # the skim never shows the answer
        for scene in video.scenes:  # each scene's crop shows its own flash and only that
            crop = CropVideoTool(item.path, budget=task.crop_budget()).execute(
                {"start_time": scene.start, "end_time": scene.end}
            )
            flashes = [c for c in _colours(crop.frames) if c in task.FLASH_COLOURS]
            assert flashes and set(flashes) == {scene.flash_colour}, (item, scene)
        assert item.answer == video.scenes[int(item.start // task.SCENE_SECONDS)].flash_colour


class _Sloppy:
    """The oracle teacher, but some answers break the format the RL format reward checks."""

    def __init__(self):
        from longvt_plugins.miniature.teacher import OracleTeacher

        self.teacher, self.calls = OracleTeacher(), 0

    def __call__(self, body):
        out = self.teacher(body)
        question = next(m for m in body["messages"] if m["role"] == "user")["content"][-1]["text"]
        if isinstance(out, str) and " red " in question:  # final turn without <think>
            return out.split("</think>", 1)[1]
        if isinstance(out, str) and " blue " in question:  # text outside the tags
            return "Sure! " + out
        return out


def test_traces_stage_rejects_missing_think_and_text_outside_tags_with_counted_reasons(tmp_path, mini_items):
    from longvt_plugins.miniature.data import build_traces
    from longvt_plugins.pipeline.store import read_stage_records

    out = build_traces(tmp_path / "pipe", mini_items, teacher=_Sloppy(), direct_every=0)
    records = {
        r["question"].split(" the ")[1].split()[0]: r for r in read_stage_records(tmp_path / "pipe", "traces")
    }
    assert not records["red"]["accepted"]
    assert records["red"]["reason"] == "format: a tool call must be followed by a new <think>"
    assert not records["blue"]["accepted"]
    assert records["blue"]["reason"].startswith("format: text outside the tags")
    others = [r for c, r in records.items() if c not in ("red", "blue")]
    n = len(mini_items) - 2
    assert all(r["accepted"] for r in others) and len(others) == n
    assert out["rejections"]["accepted"] == n
    assert sum(out["rejections"]["rejected"].values()) == 2
    assert len(open(out["sft"]).readlines()) == n  # only accepted traces are exported


def test_sft_row_renders_the_same_prompt_and_frames_as_the_agent(tmp_path, mini_items):
    """Training and evaluation show the initial video the same way: timestamped skim frames (and the replayed crop
    with the teacher's budget), so the SFT text and images equal what run_agent sends the model."""
    from longvt_plugins.core.agent import run_agent
    from longvt_plugins.core.backends import AssistantTurn, TransformersBackend, Usage, turn_from_text
    from longvt_plugins.core.trace_rows import parse_row
    from longvt_plugins.lmms_engine.media import MediaLoader
    from longvt_plugins.lmms_engine.processor import longvt_template
    from longvt_plugins.miniature.data import build_traces
    from longvt_plugins.miniature.model import make_student

    student = make_student(tmp_path / "student")
    out = build_traces(tmp_path / "pipe", mini_items[:2], direct_every=0)
    row = json.loads(open(out["sft"]).readline())
    item = next(i for i in mini_items if i.id == row["id"])
    assistant = [m for m in row["messages"] if m["role"] == "assistant"]

    real = TransformersBackend(student, device="cpu")
    seen: list[tuple[str, list]] = []

    class Replay:  # renders with the real backend, answers with the teacher's recorded turns
        patch_size = real.patch_size

        def describe(self):
            return {"name": "replay"}

        def generate(self, messages, tools, params) -> AssistantTurn:
            seen.append(real.render(messages, tools))
            m = assistant[len(seen) - 1]
            text = m["content"][0]["text"]
            for c in m.get("tool_calls", []):
                text += "\n<tool_call>\n" + json.dumps({"name": c["function"]["name"], "arguments": {
                    "start_time": c["function"]["arguments"]["start_time"],
                    "end_time": c["function"]["arguments"]["end_time"]}}) + "\n</tool_call>"  # fmt: skip
            return turn_from_text(text, usage=Usage(0, 1), finish_reason="stop")

    trace = run_agent(item.path, item.question, Replay(), task.agent_budgets())
    assert trace.stop_reason == "answer" and len(seen) == 2

    parsed = parse_row(row, row["id"])
    material = MediaLoader(None).load(parsed)
    sft_text = real.processor.tokenizer.apply_chat_template(
        material.messages, tools=parsed.tools, chat_template=longvt_template(), tokenize=False
    )
    final_prompt, final_images = seen[-1]
    assert sft_text.startswith(final_prompt)  # every token before the last answer is the eval prompt
    assert sft_text[len(final_prompt) :] == assistant[-1]["content"][0]["text"] + "<|im_end|>\n"
    assert len(material.images) == len(final_images) == 16  # 8 skim frames + 8 crop frames
    for a, b in zip(material.images, final_images, strict=True):
        assert np.array_equal(np.asarray(a), np.asarray(b))


def test_reading_drills_show_exactly_the_frames_their_answers_name(tmp_path, mini_items):
    """The perception drills mixed into SFT: every colour an answer names is the colour of the frame it labels (as
    the lmms-engine loader decodes it), one skim and one crop drill per trace (one question per video), and each
    frame alone."""
    from longvt_plugins.core.trace_rows import parse_row
    from longvt_plugins.lmms_engine.media import MediaLoader
    from longvt_plugins.miniature.data import _LISTED, build_traces

    out = build_traces(tmp_path / "pipe", mini_items[:3], direct_every=0)
    rows = [json.loads(line) for line in open(out["train"])]
    drills = [r for r in rows if r["meta"].get("style") == "drill"]
    traces = [r for r in rows if r["meta"].get("style") not in ("drill", "asked")]
    assert len(traces) == 3
    # The asked drills: each trace's own prompt, then "<think>Asked: X." trained on X alone.
    steps = [json.loads(line) for line in open(out["asked"])]
    assert [r for r in rows if r["meta"].get("style") == "asked"] == steps
    asked = [r for r in steps if r["id"].endswith("-asked")]
    assert len(asked) == 3
    by_id = {r["id"]: r for r in traces}
    for r, item in zip(asked, mini_items[:3], strict=True):
        trace = by_id[r["id"].removesuffix("-asked")]
        assert r["messages"][:-1] == trace["messages"][:2] and r["tools"] == trace["tools"]
        assert r["messages"][-1]["content"][0]["text"] == f"<think>Asked: {item.colour}."
        assert r["messages"][-1]["loss_span"] == f" {item.colour}" and item.colour in item.question
        assert parse_row(r, r["id"]).messages[-1]["loss_span"] == f" {item.colour}"
        # the other one-token steps of the same trace: the match decision and the answer word
        trace_id = r["id"].removesuffix("-asked")
        mine = {d["id"].rsplit("-", 1)[1]: d for d in steps if d["id"].startswith(trace_id + "-")}
        found = mine["found"]["messages"][-1]
        assert found["content"][0]["text"].endswith(f"s {item.colour}:") and found["loss_span"] == ":"
        if "next" in mine:  # the entry before the asked scene: not it
            assert mine["next"]["messages"][-1]["loss_span"] == ","
            assert item.colour not in mine["next"]["messages"][-1]["content"][0]["text"].split("Skim:")[1]
        answer = mine["answer"]["messages"]
        assert answer[-1]["loss_span"] == item.answer and answer[-1]["content"][0]["text"].endswith(
            f"<answer>{item.answer}</answer>"
        )
        assert [m.get("loss_span") for m in answer if m["role"] == "assistant"] == ["", item.answer]
    multi = [r for r in drills if "-read-" in r["id"]]
    single = [r for r in drills if "-frame-" in r["id"]]
    assert sorted(r["id"].rsplit("-", 1)[1] for r in multi) == ["crop"] * 3 + ["skim"] * 3
    assert single and all(r["messages"][1]["content"][1]["type"] == "image_url" for r in single)
    for r in drills:
        assert "tools" not in r  # no tools block: a short prompt is the point of a drill
        parsed = parse_row(r, r["id"])
        material = MediaLoader(None).load(parsed)
        answer = r["messages"][-1]["content"][0]["text"]
        listed = _LISTED.findall(answer)
        assert [c for _, c in listed] == _colours(material.images), r["id"]
        labels = [p["text"] for m in material.messages for p in m["content"]
                  if p.get("type") == "text" and p["text"].startswith("<")]  # fmt: skip
        assert [float(t) for t, _ in listed] == [float(x.strip("<s>")) for x in labels]
    assert all(_LISTED.findall(r["messages"][-1]["content"][0]["text"])[0][1] in task.FLASH_COLOURS
               for r in single if "crop frame" in r["source"])  # fmt: skip
