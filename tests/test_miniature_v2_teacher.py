"""Miniature task family v2, the teacher side: the oracle teacher is right on every held-out set through the real
agent loop (real skim, real crop_video on rendered videos, the v2 scoring hooks of `miniature.evaluate`); the two
baselines do exactly what they are defined to do; and the pipeline's traces + export stages turn v2 questions,
counterfactuals included, into SFT, RL and eval rows."""

from __future__ import annotations

import json

import pytest

from longvt_plugins.miniature.v2 import baselines, layout, splits
from longvt_plugins.miniature.v2.render import load_layout
from longvt_plugins.miniature.v2.teacher import OracleTeacherV2, QuestionBlind, SkimOnly

PER_SET = 2  # CI size; `python -m longvt_plugins.miniature.v2 sets` scores >= 80 per set


@pytest.fixture(scope="module")
def held_out(tmp_path_factory):
    root = tmp_path_factory.mktemp("v2")
    return {name: splits.make_split(root, name, PER_SET) for name in splits.HELD_OUT_SETS}


@pytest.mark.parametrize("name", splits.HELD_OUT_SETS)
def test_oracle_teacher_is_right_on_every_held_out_set(held_out, name):
    res = baselines.score(OracleTeacherV2(), held_out[name])
    s = res["summary"]
    assert s["accuracy"] == 1.0 and s["format_ok"] == 1.0, res["rows"]
    if name == "d_absent":  # the defined answer, from the skim alone: no crop of any scene
        assert s["none_rate"] == 1.0 and s["cropped_on_counterfactual"] == 0 and s["mean_iou"] is None
    else:  # one valid crop that holds the whole asked scene
        assert s["valid_call_rate"] == 1.0 and s["false_none"] == 0 and s["mean_iou"] > 0.5
        for row, item in zip(res["rows"], held_out[name], strict=True):
            ((start, end),) = row["windows"]
            assert start <= item.start < item.end <= end


def test_baselines_score_what_their_definition_predicts(held_out):
    items = held_out["a_new_seeds"] + held_out["c_new_lengths"] + held_out["d_absent"]
    guess = "white"
    blind = baselines.score(QuestionBlind(), items)["rows"]
    skim = baselines.score(SkimOnly(guess), items)["rows"]
    for item, b, s in zip(items, blind, skim, strict=True):
        video = load_layout(item.path)
        first_salient = next(x for x in video.scenes if x.salient)
        # question-blind: crops the first salient scene whatever is asked, so it is right only when that scene
        # is the asked one, and never says "none"
        assert b["cropped"] and not b["said_none"]
        assert b["correct"] == (not item.counterfactual and item.asked_scene == first_salient.index)
        # skim-only: never crops; "none" exactly when the asked colour is absent, else the fixed guess
        assert not s["cropped"] and s["said_none"] == item.counterfactual
        assert s["correct"] == (item.counterfactual or item.answer == guess)


def test_pipeline_turns_v2_questions_into_sft_rl_and_eval_rows(tmp_path, held_out):
    import pyarrow.parquet as pq

    from longvt_plugins.miniature.v2.data import build_rows

    items = [held_out["a_new_seeds"][0], held_out["d_absent"][0]]
    out = build_rows(tmp_path / "pipe", items)
    assert out["rejections"] == {"accepted": 2, "rejected": {}}
    sft = {r["id"]: r for r in map(json.loads, open(out["sft"]))}
    real, absent = sft[items[0].id], sft[items[1].id]
    # the asked scene's trace: one crop_video call on the teacher's bracket, replayed with the v2 crop budget
    video = load_layout(items[0].path)
    want = layout.bracket(
        video.scenes[items[0].asked_scene], layout.skim_indices(video.duration), video.duration
    )
    (call,) = real["messages"][2]["tool_calls"]
    assert (call["function"]["arguments"]["start_time"], call["function"]["arguments"]["end_time"]) == want
    assert real["messages"][3]["budget"]["max_frames"] == layout.crop_budget().max_frames
    assert real["meta"]["segment"] == [items[0].start, items[0].end]
    # the counterfactual: one turn, the whole skim read, "none", no tool turn
    assert [m["role"] for m in absent["messages"]] == ["system", "user", "assistant"]
    text = absent["messages"][2]["content"][0]["text"]
    assert text.endswith(f"No {items[1].colour} scene.</think><answer>none</answer>")
    assert absent["meta"]["segment"] is None
    skim = absent["messages"][1]["content"][0]["video_url"]
    assert skim["as_frames"] and skim["max_frames"] == layout.skim_budget().max_frames
    rl = {r["extra_info"]["qa_id"]: r for r in pq.read_table(out["rl"]).to_pylist()}
    assert rl[items[0].id]["extra_info"]["video_segment"] == [items[0].start, items[0].end]
    assert rl[items[1].id]["extra_info"]["video_segment"] is None
    assert len(rl[items[1].id]["images"]) == len(layout.skim_indices(int(items[1].duration)))
    evals = {r["id"]: r for r in map(json.loads, open(out["eval"]))}
    assert evals[items[1].id]["segment"] is None and evals[items[1].id]["answer"] == splits.NONE_ANSWER
