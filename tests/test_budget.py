"""`core.budget`: one FrameBudget shape for every sampler, and every flag set / option set built from its fields."""

from __future__ import annotations

import dataclasses
import re

import pytest
from typer.testing import CliRunner

from longvt_plugins.cli import app
from longvt_plugins.core.agent import AgentBudgets
from longvt_plugins.core.budget import PAPER_SKIM, SKIM, CropBudget, FrameBudget
from longvt_plugins.core.video import sample_video, sample_window

FIELDS = FrameBudget.field_names()


def test_from_dict_keeps_types_and_rejects_unknown_keys():
    got = FrameBudget.from_dict({"fps": "2", "max_frames": "8"}, SKIM)
    assert got == SKIM.replace(fps=2.0, max_frames=8) and isinstance(got.fps, float)
    with pytest.raises(ValueError, match="max_framez"):
        FrameBudget.from_dict({"max_framez": 8})
    with pytest.raises(ValueError, match="min_pixels"):
        FrameBudget(min_pixels=10**6).validate()
    # The crop budget is a FrameBudget plus the tool's limits; its sampling part is the plain FrameBudget.
    crop = CropBudget.from_dict({"max_calls": "3", "backend": "pyav", "max_frames": 4})
    assert (crop.max_calls, crop.backend, crop.frames()) == (
        3,
        "pyav",
        FrameBudget(min_frames=2, max_frames=4),
    )


def test_options_with_a_prefix_override_only_what_is_set():
    options = {"crop_max_frames": 4, "crop_fps": None, "skim_max_frames": 9, "other": 1}
    assert FrameBudget.from_options(options, "crop_", SKIM) == SKIM.replace(max_frames=4)
    assert set(FrameBudget.option_names("skim_")) == {f"skim_{f}" for f in FIELDS}


def test_a_budget_and_its_keyword_form_sample_the_same_frames(short_video):
    budget = FrameBudget(fps=2.0, min_frames=2, max_frames=6, max_pixels=64 * 64)
    a = sample_window(short_video.path, 1.0, 4.0, budget)
    b = sample_window(short_video.path, 1.0, 4.0, **dataclasses.asdict(budget))
    assert a.indices == b.indices and a.size == b.size and len(a) == 6
    whole = sample_video(short_video.path, budget.replace(max_frames=4))
    assert len(whole) == 4 and whole.window == (0.0, whole.info.duration)


def test_traces_recorded_before_framebudget_still_give_their_budgets():
    legacy = {
        "skim_fps": 2.0,
        "skim_max_frames": 8,
        "patch_size": 16,
        "crop": {"max_frames": 4},
        "max_turns": 3,
    }
    got = AgentBudgets.from_dict(legacy)
    assert got.skim == SKIM.replace(fps=2.0, max_frames=8, patch_size=16)
    assert got.crop == CropBudget(max_frames=4) and got.max_turns == 3
    assert AgentBudgets.from_dict(got.to_dict()) == got


def _flags(*args: str) -> set[str]:
    result = CliRunner().invoke(app, [*args, "--help"], env={"COLUMNS": "300", "NO_COLOR": "1"})
    assert result.exit_code == 0, result.output
    return set(re.findall(r"--[a-z][a-z-]+", result.output))


def test_every_cli_budget_flag_set_is_built_from_the_dataclass():
    def dashed(prefix: str, cls=FrameBudget, skip=()) -> set[str]:
        return {"--" + (prefix + f).replace("_", "-") for f in cls.field_names() if f not in skip}

    assert dashed("skim_") | dashed("crop_", CropBudget) <= _flags("ask")
    assert dashed("", skip=("total_pixels", "patch_size")) <= _flags("data", "to-verl")


def test_pipeline_and_eval_option_sets_are_built_from_the_dataclass():
    from longvt_plugins.core.protocols import get_protocol
    from longvt_plugins.lmms_eval.model import CROP_ARGS, SKIM_ARGS
    from longvt_plugins.pipeline.stages.teacher_traces import TracesStage

    assert set(FrameBudget.option_names("skim_")) | set(CropBudget.option_names("crop_")) <= set(
        TracesStage.defaults
    )
    assert set(SKIM_ARGS) == set(FIELDS) and {f"crop_{f}" for f in FIELDS} <= set(CROP_ARGS)
    assert get_protocol("upstream").skim == PAPER_SKIM and get_protocol("longvt-plugins").skim == SKIM
