"""The crop_video tool on a real video: schema, every validation rule with the text the model reads, clamping,
timestamped content parts, the skim text, and the call cap."""

from __future__ import annotations

import json
import threading

import pytest
from PIL import Image

from longvt_plugins.core.crop_tool import (
    CROP_VIDEO_SCHEMA,
    CropBudget,
    CropVideoTool,
    format_timestamps,
    parse_crop_arguments,
    skim_text,
)
from longvt_plugins.core.video import probe
from longvt_plugins.core.video import sample_video as skim_video


@pytest.fixture
def tool(sample_video) -> CropVideoTool:
    return CropVideoTool(sample_video.path, CropBudget(max_calls=1000))


def test_schema_has_no_path_and_is_valid_openai():
    fn = CROP_VIDEO_SCHEMA["function"]
    assert CROP_VIDEO_SCHEMA["type"] == "function" and fn["name"] == "crop_video"
    props = fn["parameters"]["properties"]
    assert set(props) == {"start_time", "end_time"} and fn["parameters"]["required"] == [
        "start_time",
        "end_time",
    ]
    assert all(p["type"] == "number" and p["description"] for p in props.values())
    assert "path" not in json.dumps(CROP_VIDEO_SCHEMA)
    json.dumps(CROP_VIDEO_SCHEMA)  # serialisable as-is for any OpenAI-compatible server


def test_successful_crop_tells_the_model_what_it_got(tool, sample_video):
    r = tool.execute({"start_time": 14, "end_time": 22})
    assert r.ok and r.error is None and r.window == (14.0, 22.0)
    assert len(r.frames) == len(r.timestamps) == 8
    assert all(isinstance(f, Image.Image) for f in r.frames)
    assert r.timestamps[0] == 14.0 and r.timestamps[-1] == 22.0
    assert "8 frames of 14.00s-22.00s" in r.text and "14.0, 15.25, 16.25" in r.text
    # The frames show what the ground truth says is on screen at their timestamps (cut at 15 s).
    for frame, t in zip(r.frames, r.timestamps, strict=True):
        corner = sum(frame.getpixel((frame.width - 2, frame.height - 2))) / 3
        assert abs(corner - sample_video.scene_at(t).background) < 15, t


def test_content_parts_interleave_timestamps_and_frames(tool):
    r = tool.execute({"start_time": 30, "end_time": 34})
    parts = r.content_parts()
    assert [p["type"] for p in parts] == ["text", "image"] * len(r.frames) + ["text"]
    assert [p["text"] for p in parts[0:-1:2]] == [f"<{t}s>" for t in format_timestamps(r.timestamps)]
    assert parts[1]["image"] is r.frames[0] and parts[-1]["text"] == r.text


def test_timestamp_labels_are_exact_to_the_millisecond():
    assert format_timestamps([1.0, 2.0]) == ["1.0", "2.0"]
    assert format_timestamps([1.0, 1.04, 15.25]) == ["1.0", "1.04", "15.25"]
    assert format_timestamps([3.958333, 3.9617, 120.0]) == ["3.958", "3.962", "120.0"]


def test_end_past_the_video_is_clamped_and_said(tool):
    r = tool.execute({"start_time": 100, "end_time": 500})
    assert r.ok and r.window == (100.0, 120.0) and r.requested == (100.0, 500.0)
    assert "past the end of the video; cropped to 120.00s" in r.text


@pytest.mark.parametrize(
    ("arguments", "fragment"),
    [
        ({"start_time": 5}, "missing end_time"),
        ({}, "missing start_time and end_time"),
        ({"start_time": 1, "end_time": 2, "fps": 30}, 'unexpected argument(s) "fps"'),
        ({"start_time": "ten", "end_time": 20}, "start_time must be a number of seconds"),
        ({"start_time": [1], "end_time": 20}, "start_time must be a number of seconds, got list"),
        ({"start_time": True, "end_time": 20}, "start_time must be a number"),
        ({"start_time": None, "end_time": 20}, "start_time must be a number"),
        ({"start_time": float("nan"), "end_time": 20}, "finite"),
        ({"start_time": 1, "end_time": float("inf")}, "end_time must be a finite number"),
        ({"start_time": 1, "end_time": "nan"}, "end_time must be a finite number"),
        ({"start_time": -3, "end_time": 20}, "start_time must be >= 0"),
        ({"start_time": 20, "end_time": 20}, "end_time (20) must be greater than start_time (20)"),
        ({"start_time": 30, "end_time": 10}, "must be greater than start_time"),
        ({"start_time": 120, "end_time": 130}, "at or past the end of the video (120.00 s)"),
        ({"start_time": 1e300, "end_time": 1e301}, "at or past the end of the video"),
        ({"start_time": 10, "end_time": 10.1}, "shorter than one frame interval"),
        ("{not json", "not valid JSON"),
        ("[1, 2]", "must be a JSON object"),
        (42, "must be a JSON object"),
        (None, "must be a JSON object"),
    ],
)
def test_bad_arguments_get_a_readable_error(tool, arguments, fragment):
    r = tool.execute(arguments)
    assert not r.ok and r.frames == [] and r.error in {"arguments", "window"}
    assert fragment in r.text, r.text
    assert "The video is 120.00 s long" in r.text  # every error says what a valid call looks like


@pytest.mark.parametrize(
    ("arguments", "window"),
    [
        ('{"start_time": 10, "end_time": 20}', (10.0, 20.0)),
        ({"start_time": "10", "end_time": " 20.5 "}, (10.0, 20.5)),
        ({"start_time": "10s", "end_time": "20 seconds"}, (10.0, 20.0)),
        ({"start_time": "0:10", "end_time": "0:00:20"}, (10.0, 20.0)),
        ({"start_time": 10, "end_time": 20, "video_path": "/etc/passwd"}, (10.0, 20.0)),
    ],
)
def test_number_strings_and_legacy_path_are_accepted(tool, arguments, window):
    r = tool.execute(arguments)
    assert r.ok, r.text
    assert r.window == window


def test_legacy_video_path_is_ignored_and_said(tool):
    r = tool.execute({"video_path": "/somewhere/else.mp4", "start_time": 1, "end_time": 3})
    assert r.ok and "video_path was ignored" in r.text


def test_call_cap_counts_per_tool_and_per_host_counter(sample_video):
    tool = CropVideoTool(sample_video.path, CropBudget(max_calls=2))
    assert tool.execute({"start_time": 0, "end_time": 2}).ok
    assert not tool.execute({"start_time": -1, "end_time": 2}).ok  # a bad call still counts
    capped = tool.execute({"start_time": 0, "end_time": 2})
    assert not capped.ok and capped.error == "call_limit" and "call limit of 2" in capped.text
    fresh = CropVideoTool(sample_video.path, CropBudget(max_calls=2))  # verl: new instance, host keeps count
    assert fresh.execute({"start_time": 0, "end_time": 2}, calls_made=1).ok
    assert fresh.execute({"start_time": 0, "end_time": 2}, calls_made=2).error == "call_limit"


def test_call_counter_is_thread_safe(sample_video):
    tool = CropVideoTool(sample_video.path, CropBudget(max_calls=10**6))
    threads = [
        threading.Thread(target=lambda: [tool.execute({"start_time": -1, "end_time": 1}) for _ in range(200)])
        for _ in range(8)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert tool.calls == 1600


def test_tool_is_bound_to_the_real_file(tmp_path, sample_video):
    """A symlink swapped after creation cannot redirect the tool: it resolved the path when it was created."""
    link = tmp_path / "video.mp4"
    link.symlink_to(sample_video.path)
    tool = CropVideoTool(link)
    other = tmp_path / "other.mp4"
    other.write_text("not a video")
    link.unlink()
    link.symlink_to(other)
    assert tool.execute({"start_time": 0, "end_time": 4}).ok


def test_missing_video_is_text_not_an_exception(tmp_path):
    r = CropVideoTool(tmp_path / "gone.mp4").execute({"start_time": 0, "end_time": 4})
    assert not r.ok and r.error == "video" and "not found" in r.text


def test_internal_errors_never_escape(tool, monkeypatch):
    import longvt_plugins.core.crop_tool as ct

    def boom(*a, **k):
        raise RuntimeError("decoder exploded")

    monkeypatch.setattr(ct, "sample_window", boom)
    r = tool.execute({"start_time": 0, "end_time": 4})
    assert not r.ok and r.error == "internal" and "decoder exploded" in r.text


def test_misconfigured_budget_is_not_blamed_on_the_model(sample_video):
    r = CropVideoTool(sample_video.path, CropBudget(min_pixels=224 * 224, max_pixels=28 * 28)).execute(
        {"start_time": 0, "end_time": 8}
    )
    assert not r.ok and r.error == "internal" and "misconfigured" in r.text and "pixel budget" in r.text


def test_parse_crop_arguments_returns_floats():
    assert parse_crop_arguments({"start_time": 1, "end_time": "2.5"}) == (1.0, 2.5, [])


def test_skim_text_gives_duration_and_every_timestamp(sample_video):
    skim = skim_video(sample_video.path, max_frames=8)
    text = skim_text(probe(sample_video.path), skim.timestamps)
    assert text.startswith("The video is 2:00 long (120.0 s). The 8 frames above")
    assert ", ".join(format_timestamps(skim.timestamps)) in text


def test_skim_text_for_an_hour_long_video():
    from longvt_plugins.core.video import VideoInfo

    info = VideoInfo("x.mp4", 3725.0, 25.0, 93125, 1280, 720, "h264")
    assert "1:02:05 long (3725.0 s)" in skim_text(info, [0.0, 1800.0])
