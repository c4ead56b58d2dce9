"""`zoom_frame(time, bbox)` (issue 27): a region of one moment of a REAL encoded video, at more pixels than the skim.

The video has four coloured quadrants that swap sides at 2 s, so a zoom's colour says which region and which moment
it came from; an independent decode (PyAV, full resolution, PIL crop and resize) says its pixels are the region's.
Also: clamping and refusals with readable texts, the label, both families' content parts, the call cap, a fuzz of
3,000+ hostile calls (3 per turn, run concurrently as the agent runs a turn) that may open no file but the video, the
verl BaseTool round trip, the agent under `longvt-tools`, and the zoom IoU reward term.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from fractions import Fraction
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from longvt_plugins.core import video as video_module
from longvt_plugins.core.budget import SKIM, CropBudget, ZoomBudget
from longvt_plugins.core.tools import SampleResources, bind_tools, get_tool
from longvt_plugins.core.tools.zoom_frame import ZoomFrameTool, parse_zoom_arguments
from longvt_plugins.core.video import clear_reader_cache, sample_video

W, H, FPS, N = 320, 240, 10, 40  # 4 s; the quadrants swap left and right at frame 20 (2.0 s)
RED, GREEN, BLUE, YELLOW = (255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0)
# Quadrant colours before 2 s: top-left, top-right, bottom-left, bottom-right; mirrored left-right after.
BEFORE = {"tl": RED, "tr": GREEN, "bl": BLUE, "br": YELLOW}
AFTER = {"tl": GREEN, "tr": RED, "bl": YELLOW, "br": BLUE}
BOXES = {
    "tl": [40, 40, 460, 460],
    "tr": [540, 40, 960, 460],
    "bl": [40, 540, 460, 960],
    "br": [540, 540, 960, 960],
}


def _frame(i: int) -> np.ndarray:
    a = np.zeros((H, W, 3), np.uint8)
    a[: H // 2, : W // 2], a[: H // 2, W // 2 :] = RED, GREEN
    a[H // 2 :, : W // 2], a[H // 2 :, W // 2 :] = BLUE, YELLOW
    return np.ascontiguousarray(a[:, ::-1] if i >= N // 2 else a)


@pytest.fixture(scope="module")
def quadrants(tmp_path_factory) -> str:
    import av

    path = tmp_path_factory.mktemp("zoom") / "quadrants.mp4"
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=Fraction(FPS))
        stream.width, stream.height, stream.pix_fmt = W, H, "yuv420p"
        stream.gop_size = FPS  # a keyframe a second: seeking as in real footage
        stream.options = {"preset": "ultrafast", "bf": "0", "crf": "10"}
        for i in range(N):
            for packet in stream.encode(av.VideoFrame.from_ndarray(_frame(i), format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return str(path)


def _mean(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("RGB"), dtype=float).reshape(-1, 3).mean(0)


# ------------------------------------------------------------------------------------------------ what it returns
@pytest.mark.parametrize("t, colours", [(0.5, BEFORE), (1.0, BEFORE), (3.0, AFTER), (3.9, AFTER)])
def test_the_zoom_shows_that_region_at_that_moment(quadrants, t, colours):
    tool = ZoomFrameTool(quadrants, ZoomBudget(max_calls=10))
    for name, box in BOXES.items():
        result = tool.execute({"time": t, "bbox": box})
        assert result.ok, result.text
        assert np.abs(_mean(result.frames[0]) - colours[name]).max() < 12, (name, t, _mean(result.frames[0]))


def test_the_pixels_are_the_regions_pixels_enlarged(quadrants):
    """An independent decode of the same frame (PyAV at full resolution, PIL crop, PIL bicubic) agrees."""
    import av

    box = [100, 250, 700, 900]  # straddles all four quadrants: edges included
    result = ZoomFrameTool(quadrants).execute({"time": 2.5, "bbox": box})
    assert result.ok and result.indices == [25] and result.timestamps == [2.5]
    left, top, right, bottom = result.pixels
    assert (left, top, right, bottom) == (32, 60, 224, 216)  # 0.1*320, 0.25*240, 0.7*320, 0.9*240
    with av.open(quadrants) as container:
        frame = [f for i, f in enumerate(container.decode(video=0)) if i == 25][0].to_ndarray(format="rgb24")
    want = Image.fromarray(frame[top:bottom, left:right]).resize(result.size, Image.BICUBIC)
    got = np.asarray(result.frames[0], dtype=float)
    assert got.shape == (result.size[1], result.size[0], 3)
    assert np.abs(got - np.asarray(want, dtype=float)).mean() < 2.0


def test_the_region_gets_more_pixels_than_the_skim_gave_it(quadrants):
    skim = sample_video(quadrants, SKIM)
    skim_h, skim_w = skim.size
    budget = ZoomBudget()
    for box in ([0, 0, 1000, 1000], [0, 0, 500, 500], [400, 400, 500, 500], [0, 0, 1000, 40]):
        result = ZoomFrameTool(quadrants, budget).execute({"time": 1, "bbox": box})
        w, h = result.size
        area = (box[2] - box[0]) * (box[3] - box[1]) / 1e6
        assert w * h > skim_w * skim_h * area, (box, result.size)
        assert budget.min_pixels <= w * h <= budget.max_pixels and w % 28 == 0 and h % 28 == 0
    # Qwen3-VL's patch (16): multiples of 32
    result = ZoomFrameTool(quadrants, ZoomBudget(patch_size=16)).execute(
        {"time": 1, "bbox": [0, 0, 500, 500]}
    )
    assert result.size[0] % 32 == 0 and result.size[1] % 32 == 0


def test_label_names_the_region_the_frame_and_its_time(quadrants):
    result = ZoomFrameTool(quadrants).execute({"time": 1, "bbox": [0, 0, 500, 500]})
    assert result.text == (
        "zoom_frame: the frame at 1.0s, region x 0..500, y 0..500 of the 1000x1000 frame "
        "(pixels 0..160 x 0..120 of the 320x240 video), shown at 280x196."
    )
    assert result.window is None and result.region == (0.0, 0.0, 500.0, 500.0)
    near = ZoomFrameTool(quadrants).execute('{"time": "1.04s", "bbox": "[0, 0, 500, 500]"}')
    assert near.ok and near.timestamps == [1.0]
    assert near.text.endswith("You asked for 1.04s; this is the nearest frame.")


def test_content_parts_for_both_families(quadrants):
    result = ZoomFrameTool(quadrants).execute({"time": 3, "bbox": [0, 0, 500, 500]})
    for family, label in (("qwen2_5_vl", "<3.0s>"), ("qwen3_vl", "<3.0 seconds>")):
        parts = result.content_parts(family)
        assert [p["type"] for p in parts] == ["text", "image", "text"]
        assert parts[0]["text"] == label and parts[1]["image"] is result.frames[0]
        assert parts[2]["text"] == result.text
    failed = ZoomFrameTool(quadrants).execute({"time": 3})
    assert failed.content_parts("qwen3_vl") == [{"type": "text", "text": failed.text}]


def test_values_outside_the_frame_are_clamped_and_said(quadrants):
    result = ZoomFrameTool(quadrants).execute({"time": 0, "bbox": [-100, "-5", 520, 1e6]})
    assert result.ok and result.region == (0.0, 0.0, 520.0, 1000.0)
    assert "x1 -100 was clamped to 0. y1 -5 was clamped to 0. y2 1e+06 was clamped to 1000." in result.text
    assert result.text.startswith(
        "zoom_frame: the frame at 0.0s, region x 0..520, y 0..1000 of the 1000x1000"
    )
    # The last frame, at the very end of the video.
    end = ZoomFrameTool(quadrants).execute({"time": 4.0, "bbox": [0, 0, 500, 500]})
    assert end.ok and end.indices == [N - 1] and np.abs(_mean(end.frames[0]) - AFTER["tl"]).max() < 12


HOSTILE = [
    (None, "must be a JSON object"),
    ([], "must be a JSON object"),
    ("not json", "not valid JSON"),
    ({}, "missing time and bbox"),
    ({"time": 1}, "missing bbox"),
    ({"bbox": [0, 0, 10, 10]}, "missing time"),
    (
        {"time": 1, "bbox": [0, 0, 500, 500], "video_path": "/etc/passwd"},
        'unexpected argument(s) "video_path"',
    ),
    ({"time": -1, "bbox": [0, 0, 500, 500]}, "time must be >= 0"),
    ({"time": math.nan, "bbox": [0, 0, 500, 500]}, "finite"),
    ({"time": "soon", "bbox": [0, 0, 500, 500]}, "time must be a number of seconds"),
    ({"time": True, "bbox": [0, 0, 500, 500]}, "time must be a number of seconds"),
    ({"time": 99, "bbox": [0, 0, 500, 500]}, "past the end of the video (4.00 s)"),
    ({"time": 1, "bbox": [0, 0, 500]}, "got 3 items"),
    ({"time": 1, "bbox": {"x1": 0}}, "bbox must be a list of 4 numbers"),
    ({"time": 1, "bbox": "0,0,5,5"}, "bbox must be a list of 4 numbers"),
    ({"time": 1, "bbox": [0, 0, "wide", 500]}, "x2 must be a number from 0 to 1000"),
    ({"time": 1, "bbox": [0, 0, math.inf, 500]}, "x2 must be a finite number"),
    ('{"time": 1, "bbox": [0, 0, 1%s, 500]}' % ("0" * 400), "x2 must be a finite number"),
    ('{"time": 1%s, "bbox": [0, 0, 500, 500]}' % ("0" * 400), "time must be a finite number"),
    ({"time": 1, "bbox": [0, 0, None, 500]}, "x2 must be a number from 0 to 1000"),
    ({"time": 1, "bbox": [0, False, 500, 500]}, "y1 must be a number"),
    ({"time": 1, "bbox": [500, 0, 400, 500]}, "empty or inverted: it needs x1 < x2"),
    ({"time": 1, "bbox": [0, 500, 500, 500]}, "empty or inverted"),
    ({"time": 1, "bbox": [1200, 0, 1500, 100]}, "empty or inverted after clamping to the frame"),
    ({"time": 1, "bbox": [0, 0, 5, 500]}, "at least 10 (of 1000)"),
]


@pytest.mark.parametrize("arguments, fragment", HOSTILE)
def test_bad_calls_get_a_readable_error(quadrants, arguments, fragment):
    result = ZoomFrameTool(quadrants).execute(arguments)
    assert not result.ok and result.frames == [] and result.error in ("arguments", "window")
    assert result.text.startswith("zoom_frame error:") and fragment in result.text, result.text
    assert 'Call zoom_frame with {"time": 12.5, "bbox": [250, 100, 750, 600]}' in result.text


def test_call_cap_bad_video_and_bugs_are_texts(quadrants, tmp_path, monkeypatch):
    tool = ZoomFrameTool(quadrants, ZoomBudget(max_calls=2))
    assert tool.execute({"time": 1, "bbox": [0, 0, 500, 500]}).ok and not tool.execute({}).ok
    capped = tool.execute({"time": 1, "bbox": [0, 0, 500, 500]})
    assert capped.error == "call_limit" and "call limit of 2 zooms" in capped.text
    assert tool.execute({"time": 1, "bbox": [0, 0, 500, 500]}, calls_made=1).ok  # the host's count wins
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\x00" * 1000)
    broken = ZoomFrameTool(bad).execute({"time": 1, "bbox": [0, 0, 500, 500]})
    assert broken.error == "video" and broken.text.startswith("zoom_frame error: the video cannot be read")

    def boom(*a, **k):
        raise RuntimeError("decoder exploded")

    monkeypatch.setattr("longvt_plugins.core.tools.zoom_frame.frame_at", boom)
    internal = ZoomFrameTool(quadrants).execute({"time": 1, "bbox": [0, 0, 500, 500]})
    assert internal.error == "internal" and "RuntimeError: decoder exploded" in internal.text
    assert internal.text.startswith("zoom_frame error:")


def test_registry_binds_it_to_the_samples_video_with_the_crop_budget(quadrants):
    entry = get_tool("zoom_frame")
    assert entry.reads == ("video_path",) and entry.parse_arguments is parse_zoom_arguments
    tools = bind_tools(
        ["zoom_frame"], SampleResources(video_path=quadrants), CropBudget(max_calls=3, patch_size=16)
    )
    zoom = tools["zoom_frame"]
    assert (zoom.budget.max_calls, zoom.budget.patch_size) == (3, 16)
    assert zoom.video_path == os.path.realpath(quadrants)
    with pytest.raises(ValueError, match="needs the sample's video_path"):
        bind_tools(["zoom_frame"], SampleResources(subtitle_path="x.srt"), CropBudget())


# ------------------------------------------------------------------------------------------------------ the fuzz
def hostile_arguments(decoy: str):
    number = st.one_of(
        st.integers(-5000, 5000),
        st.integers(),  # unbounded: JSON integers too big for a float
        st.floats(allow_nan=True, allow_infinity=True),
        st.sampled_from(["12", "1e3", "-0", "nan", "inf", "5s", "1:02", "", " 7 ", decoy]),
    )
    box = st.one_of(
        st.lists(number, min_size=4, max_size=4),
        st.lists(number, max_size=6),
        st.lists(st.integers(0, 1000), min_size=4, max_size=4).map(
            lambda b: [b[0], b[1], b[0] + b[2] + 10, b[1] + b[3] + 10]
        ),
        st.lists(st.integers(0, 1000), min_size=4, max_size=4).map(json.dumps),
        st.just(decoy),
        st.dictionaries(st.text(max_size=5), number, max_size=3),
        st.none(),
    )
    good = st.fixed_dictionaries(
        {
            "time": st.floats(0, 4.5, allow_nan=False),
            "bbox": st.tuples(
                st.integers(0, 900), st.integers(0, 900), st.integers(20, 1200), st.integers(20, 1200)
            ).map(lambda b: [b[0], b[1], b[0] + b[2], b[1] + b[3]]),
        }
    )
    obj = st.dictionaries(
        st.sampled_from(["time", "bbox", "video_path", "path", "file", "x1", decoy]),
        st.one_of(number, box, st.just(decoy)),
        max_size=4,
    )
    return st.one_of(
        good,
        good,
        obj,
        obj.map(lambda d: json.dumps(d, default=str)),
        st.fixed_dictionaries({"time": number, "bbox": box}),
        st.text(max_size=40),
        st.sampled_from(["{", "null", "[]", '{"time": 1', decoy, f'{{"video_path": "{decoy}"}}']),
        st.binary(max_size=20),
        st.integers(),
        st.none(),
    )


@pytest.mark.timeout(300)
def test_fuzz_never_escapes_never_silent_and_opens_only_the_bound_video(quadrants, tmp_path, monkeypatch):
    decoy = tmp_path / "decoy.mp4"
    decoy.write_bytes(Path(quadrants).read_bytes())  # a real, playable video: opening it would succeed
    decoy = str(decoy)
    tool = ZoomFrameTool(quadrants, ZoomBudget(max_calls=10**9))
    for warm in ({"time": 1, "bbox": [0, 0, 500, 500]}, b"{}", '{"time": 1e999, "bbox": "[1]"}'):
        tool.execute(warm)  # lazy imports (qwen_vl_utils, codecs) happen before we watch
    for codec in ("utf-8", "utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be"):
        tool.execute("{}".encode(codec))  # json's lazy codec imports for bytes arguments

    opened: list[str] = []  # Python-level opens anywhere in the process
    decoded: list[str] = []  # files the decoders were asked to open (they open them in C)
    watching = [False]

    def audit(event, args):
        if (
            watching[0]
            and event in ("open", "os.open")
            and args
            and isinstance(args[0], (str, bytes, os.PathLike))
        ):
            opened.append(os.path.realpath(os.fsdecode(args[0])))

    sys.addaudithook(audit)  # cannot be removed; `watching` keeps it silent outside the calls
    real_open_reader = video_module.open_reader

    def recording_open_reader(backend, path, size=None):
        decoded.append(os.path.realpath(path))
        return real_open_reader(backend, path, size)

    monkeypatch.setattr(video_module, "open_reader", recording_open_reader)
    clear_reader_cache()
    tool._info = None  # probe again under the watcher (the positive control)
    counts = {"calls": 0, "ok": 0, "errors": 0, "escaped": 0, "empty": 0}
    latencies: list[float] = []

    def one(arguments):
        t0 = time.perf_counter()
        try:
            result = tool.execute(arguments)
        except BaseException:  # noqa: BLE001 - counted, then failed below
            counts["escaped"] += 1
            return None
        if result.ok:
            latencies.append(time.perf_counter() - t0)
        return result

    pool = ThreadPoolExecutor(max_workers=3, thread_name_prefix="zoom-fuzz")

    @settings(
        max_examples=1050,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(st.lists(hostile_arguments(decoy), min_size=3, max_size=3))
    def turn(batch):  # one assistant turn: 3 calls, run concurrently as the core agent runs them
        counts["calls"] += len(batch)
        if counts["calls"] % 600 < 3:
            clear_reader_cache()  # re-open the bound video now and then, under the watcher
        watching[0] = True
        try:
            results = list(pool.map(one, batch))
        finally:
            watching[0] = False
        for result in results:
            assert result is not None
            if not (isinstance(result.text, str) and result.text.strip()):
                counts["empty"] += 1
            elif result.ok:
                counts["ok"] += 1
                assert result.text.startswith("zoom_frame: the frame at") and len(result.frames) == 1
            else:
                counts["errors"] += 1
                assert result.text.startswith("zoom_frame error:") and result.error in ("arguments", "window")

    try:
        turn()
    finally:
        pool.shutdown()
    assert counts["calls"] >= 3000 and counts["escaped"] == 0 and counts["empty"] == 0, counts
    assert counts["ok"] > 300 and counts["errors"] > 1000, counts  # both sides of the contract were exercised
    assert set(opened) <= {os.path.realpath(quadrants)}, set(opened)
    watching[0] = True  # the watcher itself works: a Python open of the video is seen
    with open(quadrants, "rb"):
        pass
    watching[0] = False
    assert opened[-1] == os.path.realpath(quadrants)
    assert decoded and set(decoded) == {os.path.realpath(quadrants)}, set(decoded)
    latencies.sort()
    print(
        f"\nzoom fuzz: {counts}; decoder opens {len(decoded)}, python opens {len(opened) - 1}; zoom latency "
        f"median {latencies[len(latencies) // 2] * 1e3:.1f} ms, p90 {latencies[int(len(latencies) * 0.9)] * 1e3:.1f} ms"
    )


# ----------------------------------------------------------------------------------------------------------- verl
def _load_verl(tmp_path, config="{type: native, max_calls: 3}"):
    from verl.tools.tool_registry import load_all_tools

    path = tmp_path / "tools.yaml"
    path.write_text(
        f"tools:\n  - class_name: longvt_plugins.verl.zoom_tool.ZoomFrameTool\n    config: {config}\n"
    )
    (tool,) = load_all_tools(tool_config_path=str(path), function_tool_path=None)
    return tool


async def _verl_call(tool, agent_data, tools_kwargs, arguments):
    # What verl's ToolAgentLoop._call_tool does with a row's tools_kwargs for one call.
    kwargs = tools_kwargs.get(tool.name, {})
    instance_id, _ = await tool.create(create_kwargs=kwargs.get("create_kwargs", {}))
    try:
        return await tool.execute(instance_id, arguments, agent_data=agent_data)
    finally:
        await tool.release(instance_id)


def test_verl_tool_round_trip(quadrants, tmp_path):
    from longvt_plugins.verl.agent_loop import interleave_frame_labels
    from longvt_plugins.verl.zoom_tool import ZoomFrameTool as VerlZoom

    tool = _load_verl(tmp_path)
    assert isinstance(tool, VerlZoom) and tool.name == "zoom_frame" and tool.budget.max_calls == 3
    assert sorted(tool.tool_schema.function.parameters.properties) == ["bbox", "time"]
    row = {"zoom_frame": {"create_kwargs": {"video_path": quadrants}}}
    calls = [
        {"time": 3.0, "bbox": [540, 40, 960, 460]},
        {"time": 1, "bbox": [500, 0, 400, 10]},
        '{"time": 0.5, "bbox": [0, 0, 500, 500]}',
        {"time": 0.5, "bbox": [0, 0, 500, 500]},  # the 4th: over the cap of 3
    ]
    trajectory = SimpleNamespace(extra_fields={})

    async def scenario():  # the calls of one turn, run together as verl runs parallel calls
        return await asyncio.gather(*(_verl_call(tool, trajectory, row, a) for a in calls))

    got = asyncio.run(scenario())
    core = ZoomFrameTool(quadrants, ZoomBudget(max_calls=3))
    first, _, metrics = got[0]
    want = core.execute(calls[0])
    assert first.text == want.text and metrics == {"ok": True, "size": list(want.size)}
    (image,) = first.image
    assert np.array_equal(np.asarray(image), np.asarray(want.frames[0]))
    assert np.abs(_mean(image) - RED).max() < 12  # top-right after 2 s
    assert got[1][0].text == core.execute(calls[1]).text and got[1][2]["ok"] is False
    assert got[3][0].text.startswith("zoom_frame error: the call limit of 3 zooms")
    fields = trajectory.extra_fields
    assert (fields["zoom_calls"], fields["zoom_errors"], fields["tool_call_counts"]) == (4, 2, 4)
    # In completion order (the calls ran concurrently): the successful ones only.
    assert sorted(fields["zoom_regions"]) == [[0.5, 0.0, 0.0, 500.0, 500.0], [3.0, 540.0, 40.0, 960.0, 460.0]]
    assert tool._videos == {}  # every instance released
    # The loop writes the time label in front of the image, for either family.
    for family, label in (("qwen2_5_vl", "<3.0s>"), ("qwen3_vl", "<3.0 seconds>")):
        message = {
            "role": "tool",
            "content": [{"type": "image", "image": image}, {"type": "text", "text": first.text}],
        }
        interleave_frame_labels([message], family)
        assert [p.get("text") for p in message["content"]] == [label, None, first.text]
    # No video on the row; a bad config key.
    response, _, metrics = asyncio.run(_verl_call(tool, None, {}, calls[0]))
    assert metrics == {"ok": False, "error": "no_video"} and response.text.startswith("zoom_frame error:")
    with pytest.raises(ValueError, match="unknown key.*max_pixel"):
        _load_verl(tmp_path, "{type: native, max_pixel: 3}")
    with pytest.raises(ValueError, match="min_pixels .* > max_pixels"):
        _load_verl(tmp_path, "{type: native, min_pixels: 9000, max_pixels: 100}")


def test_verl_tool_hostile_calls_are_texts(quadrants, tmp_path):
    tool = _load_verl(tmp_path, "{type: native, max_calls: 1000}")
    row = {"zoom_frame": {"create_kwargs": {"video_path": quadrants}}}
    trajectory = SimpleNamespace(extra_fields={})

    async def scenario():
        return [await _verl_call(tool, trajectory, row, a) for a, _ in HOSTILE]

    for (arguments, fragment), (response, reward, metrics) in zip(
        HOSTILE, asyncio.run(scenario()), strict=True
    ):
        assert metrics["ok"] is False and reward == 0.0 and response.image is None
        assert response.text.startswith("zoom_frame error:") and fragment in response.text, arguments
    assert (
        trajectory.extra_fields["zoom_errors"] == len(HOSTILE)
        and trajectory.extra_fields["zoom_regions"] == []
    )


# ------------------------------------------------------------------------------------------- agent and reward
def test_agent_runs_zoom_frame_under_longvt_tools(quadrants):
    from longvt_plugins.core.agent import AgentBudgets, run_agent
    from longvt_plugins.core.backends import OpenAIBackend
    from longvt_plugins.core.protocols import LONGVT_TOOLS
    from longvt_plugins.core.protocols.messages import shape_request
    from longvt_plugins.core.protocols.session import ProtocolSession
    from longvt_plugins.testing.openai_server import OpenAIStubServer

    def script(body):
        if not [m for m in body["messages"] if m["role"] == "tool"]:
            calls = [
                {
                    "id": "z1",
                    "function": {"name": "zoom_frame", "arguments": {"time": 3, "bbox": [0, 500, 500, 1000]}},
                },
                {
                    "id": "z2",
                    "function": {"name": "zoom_frame", "arguments": {"time": 3, "bbox": [9, 9, 9, 9]}},
                },
            ]
            return {"content": "<think>zoom</think>", "tool_calls": calls}
        return "<think>seen</think><answer>yellow</answer>"

    budgets = AgentBudgets(skim=SKIM.replace(max_frames=4), crop=CropBudget(max_frames=4))
    with OpenAIStubServer(script, model="policy") as server:
        backend = OpenAIBackend(
            server.base_url, "policy", max_retries=0, shape=lambda r: shape_request(LONGVT_TOOLS, r)
        )
        trace = run_agent(
            quadrants, "Colour?", backend, budgets, session=ProtocolSession(LONGVT_TOOLS, "tool")
        )
        requests = list(server.requests)
    assert trace.stop_reason == "answer" and trace.final_answer == "yellow"
    assert "zoom_frame" in [t["function"]["name"] for t in requests[0]["tools"]]
    zoom, bad = trace.crops
    assert (
        zoom.ok
        and zoom.timestamps == [3.0]
        and zoom.start is None
        and "region x 0..500, y 500..1000" in zoom.text
    )
    assert not bad.ok and bad.text.startswith("zoom_frame error:") and "empty or inverted" in bad.text
    replies = [m for m in requests[1]["messages"] if m["role"] == "tool"]
    assert [p["type"] for p in replies[0]["content"]][:3] == ["text", "image_url", "text"]
    assert replies[0]["content"][0]["text"] == "<3.0s>" and replies[1]["content"] == [
        {"type": "text", "text": bad.text}
    ]


def _zoom_call(t, box):
    return f'<tool_call>\n{{"name": "zoom_frame", "arguments": {{"time": {t}, "bbox": {box}}}}}\n</tool_call>'


async def test_zoom_iou_reward_counts_only_with_an_evidence_box():
    from longvt_plugins.core.rewards import compute_reward
    from longvt_plugins.verl.reward import compute_score

    text = "<think>skim</think>\n"  # a verl-decoded trajectory: two zooms, then the answer
    for box in ([0, 0, 500, 500], [-50, 0, 500, 1000]):
        text += (
            _zoom_call(3, box)
            + "\nuser\n<tool_response>\nzoom\n</tool_response>\nassistant\n<think>look</think>\n"
        )
    text += "<answer>B</answer>"
    plain = await compute_reward(text, "B")
    assert plain["zoom_iou"] == 0.0 and plain["has_evidence_box"] == 0.0 and plain["score"] == 2.0
    evidence = {"bbox": [0, 0, 500, 500], "time": [2.5, 3.5]}
    # From the text: the last zoom (clamped to [0, 0, 500, 1000]) covers the box and as much again.
    result = await compute_reward(text, "B", evidence_box=evidence)
    assert result["zoom_iou"] == pytest.approx(0.5) and result["has_evidence_box"] == 1.0
    assert result["score"] == pytest.approx(2.5)
    # The tool's record wins over the text; a zoom outside the evidence's time earns nothing.
    assert (await compute_reward(text, "B", evidence_box=evidence, zooms=[[3.0, 0, 0, 500, 500]]))[
        "zoom_iou"
    ] == 1.0
    assert (await compute_reward(text, "B", evidence_box=evidence, zooms=[[1.0, 0, 0, 500, 500]]))[
        "zoom_iou"
    ] == 0.0
    assert (await compute_reward(text, "B", evidence_box=evidence, zooms=[]))["zoom_iou"] == 0.0  # all failed
    point = {"bbox": [0, 0, 500, 500], "time": 3.4}  # a point in time: 0.5 s either side
    assert (await compute_reward(text, "B", evidence_box=point, zooms=[[3.0, 0, 0, 500, 500]]))[
        "zoom_iou"
    ] == 1.0
    bare = json.dumps([250, 0, 750, 500])  # a bare box, as a JSON string: any time
    assert (await compute_reward(text, "B", evidence_box=bare, zooms=[[9.0, 0, 0, 500, 500]]))[
        "zoom_iou"
    ] == pytest.approx(1 / 3)
    for bad in ([1, 2, 3], {"bbox": [5, 5, 1, 1]}, "nope", {"bbox": [0, 0, 9, 9], "time": "later"}):
        assert (await compute_reward(text, "B", evidence_box=bad))["has_evidence_box"] == 0.0
    # A fake zoom the model wrote outside any tool call earns nothing; nor does a refused call's box.
    fake = "<think>x</think>zoom_frame: region x 0..500<answer>B</answer>"
    assert (await compute_reward(fake, "B", evidence_box=evidence))["zoom_iou"] == 0.0
    # verl: the evidence from extra_info, the regions from the tool's counters (as numpy arrays from parquet).
    info = {"evidence_box": evidence, "zoom_regions": np.array([[3.0, 0, 0, 500, 500]]), "crop_windows": []}
    scored = await compute_score("longvt", text, "B", info, judge="rule")
    assert (
        scored["zoom_iou"] == 1.0 and scored["reward_error"] == 0.0 and scored["score"] == pytest.approx(3.0)
    )
    off = await compute_score("longvt", text, "B", info, judge="rule", zoom_iou_weight=0.0)
    assert off["zoom_iou"] == 1.0 and off["score"] == pytest.approx(2.0)
