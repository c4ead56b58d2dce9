"""The v2 recipe's data step (`miniature.v2.train.build_training_rows`): sharded render + traces + drills, every
row valid for the lmms-engine dataset (the same checks it runs), and the SFT command it feeds resumable."""

from __future__ import annotations

import json

import pytest


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    from longvt_plugins.miniature.v2.train import build_training_rows

    work = tmp_path_factory.mktemp("v2train")
    return work, build_training_rows(work, 3, shards=2)


def test_training_rows_are_traces_repeated_plus_drills_and_all_valid(data):
    from longvt_plugins.core.row_kinds import check_sft_row
    from longvt_plugins.core.rowfile import check_rows
    from longvt_plugins.miniature.v2.train import TRACE_REPEATS

    work, report = data
    assert report["traces"] == 3 and report["rejected"] == {} and report["drills"] > 3
    # one one-frame drill per colour a trace shows, plus its skim/crop listings: drills stay a minority
    assert report["drills"] < 12 * report["traces"]
    train = check_rows(report["paths"]["train"], check_sft_row)  # raises on the first bad row
    assert len(train.rows) == TRACE_REPEATS * report["traces"] + report["drills"]
    assert json.loads((work / "data" / "report.json").read_text()) == report
    # shards render disjoint videos: three distinct traces, ids from both shards
    ids = [row["id"] for _, row in check_rows(report["paths"]["traces"]).rows]
    assert len(set(ids)) == 3


def test_sft_passes_the_gpu_settings_to_the_trainer_and_resumes(data, monkeypatch):
    """What `sft --gpu` hands the trainer (`run.train`, which the v1 tests run for real on CPU): no CPU shims,
    the CUDA overrides, and no wipe of an interrupted run."""
    from longvt_plugins.miniature import run
    from longvt_plugins.miniature.v2 import train

    seen = []
    monkeypatch.setattr(run, "train", lambda *a, **kw: seen.append((a, kw)) or {"wall_s": 0, "history": []})
    monkeypatch.setattr("longvt_plugins.miniature.v2.student.make_student_v2", lambda out, size: out)
    monkeypatch.setattr("longvt_plugins.miniature.v2.student.parameter_count", lambda path: 0)
    work, _ = data
    train.sft(work, "s", drill_steps=2, steps=3, gpu=True)
    (drills_args, drills_kw), (sft_args, sft_kw) = seen
    assert drills_kw["steps"] == 2 and sft_kw["steps"] == 3
    assert all(kw["cpu"] is False and kw["fresh"] is False for kw in (drills_kw, sft_kw))
    assert set(train.GPU_OVERRIDES) <= set(sft_kw["overrides"])
    assert sft_args[0] == work / "sft-s-drills"  # stage 2 starts from stage 1
