"""Miniature LongVT, learning side: a shortened run from scratch - stage-7 traces, `longvt train sft` (the real
lmms-engine CLI), held-out evaluation through run_agent - teaches the student the trace's structure (think, then
a crop_video call); the untrained student does neither. The shipped checkpoint crops the asked scene and answers
the demo question exactly."""

from __future__ import annotations

import pytest

from longvt_plugins.miniature import task

# Sized to take a few minutes on 2 idle cores: format and calling are learned long before accuracy.
# One question per video.
CI_TRAIN_VIDEOS, CI_TEST_VIDEOS, CI_STEPS = 192, 8, 300


@pytest.mark.slow
def test_a_short_run_from_scratch_learns_the_format_on_held_out_items(tmp_path):
    from longvt_plugins.miniature import run

    student = run.build_student(tmp_path)
    # Traces and direct rows only: the reading drills serve perception, which needs the full run; in 300 steps
    # they would take three quarters of the rows.
    data = run.build_data(tmp_path, "train", CI_TRAIN_VIDEOS, drills=False, trace_repeats=1)
    assert data["rejections"]["accepted"] == CI_TRAIN_VIDEOS
    trained = run.train(student, data["train"], tmp_path / "sft", steps=CI_STEPS,
                        overrides=("trainer_args.save_steps=100000",))  # fmt: skip
    losses = [float(h["loss"]) for h in trained["history"] if "loss" in h]
    assert losses and losses[-1] < losses[0] / 2

    held_out = task.make_split(tmp_path / "videos", "test", CI_TEST_VIDEOS)
    after = _first_turns(tmp_path / "sft", held_out)
    before = _first_turns(student, held_out[:2])
    # Learned in a short run: the first turn has the teacher's structure - "<think>Asked: X. Skim: ...</think>"
    # then a <tool_call> - on held-out videos. (A parseable call, valid windows and the answer turn need the full
    # run: 1,000 steps give 100 % valid calls, BENCHMARKS.md; at 300 steps the call's JSON is not yet right.)
    assert sum(after) >= 0.8 * len(after), after
    # The same check fails for the untrained student (random weights never produce the structure).
    assert not any(before), before


def _first_turns(model, items) -> list[bool]:
    from longvt_plugins.miniature.evaluate import evaluate

    firsts: list[str] = []
    evaluate(model, items, on_trace=lambda trace, row: firsts.append(trace.turns[0].raw_text or ""))
    return [
        f.startswith("<think>Asked: ") and "Skim: " in f and "</think>" in f and "<tool_call>" in f
        for f in firsts
    ]


@pytest.mark.slow
def test_the_shipped_checkpoint_crops_the_asked_scene_and_answers_the_demo_question(tmp_path):
    """The main job's model: on the demo question (a seed range no split uses) it makes one valid call on exactly
    the asked scene, reads the flash and gives the exact answer, in the trained format."""
    from longvt_plugins.core.agent import run_agent
    from longvt_plugins.core.backends import GenerationParams, TransformersBackend
    from longvt_plugins.miniature.demo import demo_item, shipped_checkpoint
    from longvt_plugins.miniature.evaluate import trace_metrics

    item = demo_item(tmp_path)
    trace = run_agent(item.path, item.question, TransformersBackend(shipped_checkpoint(), device="cpu"),
                      task.agent_budgets(), params=GenerationParams(temperature=0.0))  # fmt: skip
    m = trace_metrics(trace, item)
    assert (
        trace.stop_reason == "answer"
        and m["format_ok"]
        and m["valid_calling_turns"] == m["calling_turns"] == 1
    )
    assert trace.crop_windows == [(item.start, item.end)] and m["iou"] == 1.0
    assert trace.final_answer == item.answer
