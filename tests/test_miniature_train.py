"""Miniature LongVT, learning side: a shortened run from scratch - stage-7 traces, `longvt train sft` (the real
lmms-engine CLI), held-out evaluation through run_agent - teaches the student the trace format and to call
crop_video; the untrained student does neither. The shipped checkpoint does the same on the demo question."""

from __future__ import annotations

import pytest

from longvt_plugins.miniature import task

# Sized to take a few minutes on 2 idle cores: format and calling are learned long before accuracy.
CI_TRAIN_VIDEOS, CI_TEST_VIDEOS, CI_STEPS = 24, 1, 300


@pytest.mark.slow
def test_a_short_run_from_scratch_learns_the_format_on_held_out_items(tmp_path):
    from longvt_plugins.miniature import run
    from longvt_plugins.miniature.evaluate import evaluate

    student = run.build_student(tmp_path)
    data = run.build_data(tmp_path, "train", CI_TRAIN_VIDEOS)
    assert data["rejections"]["accepted"] == CI_TRAIN_VIDEOS * task.SCENES
    trained = run.train(student, data["train"], tmp_path / "sft", steps=CI_STEPS,
                        overrides=("trainer_args.save_steps=100000",))  # fmt: skip
    losses = [float(h["loss"]) for h in trained["history"] if "loss" in h]
    assert losses and losses[-1] < losses[0] / 2

    held_out = task.make_split(tmp_path / "videos", "test", CI_TEST_VIDEOS)
    after = evaluate(tmp_path / "sft", held_out)["summary"]
    before = evaluate(student, held_out[:2])["summary"]
    # Learned in a short run: the first turn is <think>...</think> plus one parsed crop_video call with numeric
    # start/end. (Valid windows and the full think/call/think/answer trace need the full run - 500 steps give
    # 100 % on both, BENCHMARKS.md; at 120-200 steps end_time is not yet reliably after start_time.)
    assert after["well_formed_call"] >= 0.6, after  # 200 steps gave 5/8, 500 steps (full run) 8/8
    # The same check fails for the untrained student (random weights never produce the format).
    assert before["well_formed_call"] < 0.8 and before["format_ok"] < 0.8, before


@pytest.mark.slow
def test_the_shipped_checkpoint_calls_crop_video_on_a_whole_scene_and_answers_in_format(tmp_path):
    """What the shipped model has learned (format, valid calls, scene-sized windows); not yet which scene."""
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
    ((start, end),) = trace.crop_windows
    assert end - start == task.SCENE_SECONDS and start % task.SCENE_SECONDS == 0
    assert trace.final_answer in task.FLASH_COLOURS
