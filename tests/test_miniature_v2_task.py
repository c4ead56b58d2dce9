"""Miniature task family v2, the generator: disjoint seeded splits, question wording, and the promises every
video keeps (the skim sees each scene but never a blink; a crop of the scene sees its blink), checked on planned
layouts and on a rendered video decoded through the real sampler and crop tool."""

from __future__ import annotations

import random
import re
from collections import Counter

import numpy as np
import pytest

from longvt_plugins.miniature import task as v1
from longvt_plugins.miniature.v2 import layout, questions, splits
from longvt_plugins.miniature.v2.render import load_layout


def test_split_seeds_are_disjoint_from_v1_and_from_each_other():
    ranges = sorted((s.seed_base, s.seed_base + splits.SEED_RANGE, name) for name, s in splits.SPLITS.items())
    for (_, end, a), (start, _, b) in zip(ranges, ranges[1:], strict=False):
        assert end <= start, (a, b)
    v1_top = max(v1.SPLIT_SEEDS.values()) + splits.SEED_RANGE  # v1 uses base + index, index < 100,000
    assert min(s.seed_base for s in splits.SPLITS.values()) >= v1_top
    with pytest.raises(ValueError):
        splits.plan_item("train", splits.SEED_RANGE, "/nonexistent")  # an index past the range is refused


def test_held_out_phrasings_are_apart_from_every_training_template():
    train, held = questions.TRAIN_TEMPLATES, questions.HELDOUT_TEMPLATES
    assert len(set(train)) == len(train) >= 20 and len(set(held)) == len(held) >= 10
    for h in held:
        core = h.lower().rstrip("?.")
        assert not any(core in t.lower() for t in train), h  # no training template equals or contains it
    palette = re.compile(r"\b(" + "|".join(v1.PALETTE) + r")\b", re.IGNORECASE)
    for t in train + held:  # the asked colour is the question's only palette word
        assert "{colour}" in t and not palette.search(t.format(colour="", cw="colour")), t


def test_training_questions_span_spellings_cases_and_endings():
    items = [splits.plan_item("train", i, "/nonexistent")[1] for i in range(240)]
    seen = Counter()
    for it in items:
        assert it.template.startswith("train:") and re.search(it.colour, it.question, re.IGNORECASE)
        seen.update([it.wording["spelling"], it.wording["case"], f"end_dropped={it.wording['end_dropped']}"])
    assert {"colour", "color", *questions.CASES, "end_dropped=True", "end_dropped=False"} <= set(seen)
    assert len({it.template for it in items}) == len(questions.TRAIN_TEMPLATES)
    assert any(it.question.isupper() for it in items) and any(not it.question.endswith("?") for it in items)
    assert 0.08 < sum(it.counterfactual for it in items) / len(items) < 0.3  # about a sixth


@pytest.mark.parametrize("split", list(splits.SPLITS))
def test_planned_layouts_keep_every_promise(split):
    spec = splits.SPLITS[split]
    for i in range(25):
        video, item = splits.plan_item(split, i, "/nonexistent")
        assert layout.check(video) is None
        assert len(video.scenes) in spec.scene_counts and video.duration in spec.durations
        salient = [s for s in video.scenes if s.salient]
        assert len(salient) in layout.SALIENT_COUNTS
        assert len({s.colour for s in salient}) == len({s.blink_colour for s in salient}) == len(salient)
        lengths = [s.end - s.start for s in video.scenes]
        assert sum(lengths) == video.duration and (len(set(lengths)) > 1 or len(lengths) == 1)
        if item.counterfactual:
            assert item.answer == splits.NONE_ANSWER and item.start is None
            assert item.colour in v1.SCENE_COLOURS and item.colour not in {s.colour for s in video.scenes}
        else:
            scene = video.scenes[item.asked_scene]
            assert scene.salient and (scene.colour, scene.blink_colour) == (item.colour, item.answer)
            assert (item.start, item.end) == (scene.start, scene.end)
    if spec.counterfactual_share in (0.0, 1.0):
        flags = {splits.plan_item(split, i, "/nonexistent")[1].counterfactual for i in range(25)}
        assert flags == {spec.counterfactual_share == 1.0}


def test_training_never_draws_the_held_out_lengths():
    shapes = [splits.draw_shape(splits.SPLITS["train"], random.Random(i)) for i in range(400)]
    counts, durations = {n for n, _ in shapes}, {d for _, d in shapes}
    assert not counts & set(splits.HELD_SCENE_COUNTS) and not durations & set(splits.HELD_DURATIONS)
    assert min(counts) == 4 and max(counts) == 16 and min(durations) == 64 and max(durations) == 512
    assert len({len(layout.skim_indices(d)) for d in durations}) > 10  # skim sizes 16..64 frames


def _colours(frames) -> list[str]:
    return [v1.nearest_colour(np.asarray(f)) for f in frames]


def test_rendered_video_skim_never_shows_a_blink_and_each_crop_shows_its_own(tmp_path):
    from longvt_plugins.core.crop_tool import CropVideoTool
    from longvt_plugins.core.video import sample_video

    # the first short in-distribution video (fast to render and decode)
    index = next(i for i in range(50) if splits.plan_item("a_new_seeds", i, tmp_path)[0].duration <= 96)
    (item,) = splits.make_split(tmp_path, "a_new_seeds", 1, first=index)
    video = load_layout(item.path)
    skim = sample_video(item.path, layout.skim_budget())
    seen = _colours(skim.frames)
    assert seen == [video.colour_at(int(t)) for t in skim.timestamps]  # read right, frame by frame
    assert {video.scenes[k].colour for k in range(len(video.scenes))} == set(
        seen
    )  # every scene is in the skim
    assert not set(seen) & set(v1.FLASH_COLOURS)  # and no blink ever is
    skim_idx = layout.skim_indices(video.duration)
    for scene in video.scenes:
        for start, end in (layout.bracket(scene, skim_idx, video.duration), (scene.start, scene.end)):
            crop = CropVideoTool(item.path, budget=layout.crop_budget()).execute(
                {"start_time": start, "end_time": end}
            )
            blinks = [c for c in _colours(crop.frames) if c in v1.FLASH_COLOURS]
            assert len(blinks) >= 2 and set(blinks) == {scene.blink_colour}, (scene, start, end)
