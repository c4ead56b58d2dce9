"""core.video against qwen_vl_utils.fetch_video (the reference the model was trained with) on real encoded videos,
on every decoder backend that works here, plus ground-truth timestamps and the reader pool."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from longvt_plugins.core import video as V
from longvt_plugins.core.decoders import BACKEND_ORDER


def _backend(name: str) -> str:
    problem = V.available_backends()[name]
    if problem is not None:
        pytest.skip(f"{name} not usable here: {problem}")
    return name


@pytest.fixture(params=BACKEND_ORDER)
def backend(request) -> str:
    return _backend(request.param)


def _reference(path, start, end, *, fps, min_frames, max_frames, min_pixels, max_pixels):
    """What upstream LongVT's crop and lmms-engine's video loader compute for the same request."""
    from qwen_vl_utils import fetch_video

    ele = {
        "type": "video",
        "video": str(path),
        "fps": fps,
        "min_frames": min_frames,
        "max_frames": max_frames,
        "min_pixels": min_pixels,
        "max_pixels": max_pixels,
    }
    if start is not None:
        ele["video_start"] = start
    if end is not None:
        ele["video_end"] = end
    video, meta = fetch_video(ele, return_video_metadata=True)
    frames = video.permute(0, 2, 3, 1).numpy()
    times = [i / meta["fps"] for i in meta["frames_indices"]]
    return frames, list(meta["frames_indices"]), times


WINDOWS = [
    (None, None),
    (0.0, 12.0),
    (3.5, 8.0),
    (1.01, 1.2),
    (11.0, 20.0),
    (3.9, 4.1),
    (0.0, 0.5),
    (7.3, None),
]
BUDGETS = [
    dict(fps=1.0, min_frames=2, max_frames=128, min_pixels=28 * 28, max_pixels=224 * 224),
    dict(fps=2.0, min_frames=4, max_frames=8, min_pixels=28 * 28, max_pixels=112 * 112),
    dict(fps=8.0, min_frames=4, max_frames=16, min_pixels=200 * 200, max_pixels=448 * 448),
    dict(fps=0.5, min_frames=1, max_frames=768, min_pixels=56 * 56, max_pixels=64 * 28 * 28),
]


@pytest.mark.parametrize(
    "budget", BUDGETS, ids=lambda b: f"fps{b['fps']}-max{b['max_frames']}-px{b['max_pixels']}"
)
def test_matches_fetch_video_on_grid(short_video, backend, budget):
    for start, end in WINDOWS:
        ref_frames, ref_idx, ref_times = _reference(short_video.path, start, end, **budget)
        got = V.sample_window(short_video.path, start, end, backend=backend, **budget)
        where = f"{backend} window={start}-{end} budget={budget}"
        assert got.indices == ref_idx, where
        assert got.timestamps == pytest.approx(ref_times, abs=1e-5), where
        ours = np.stack(got.frames)
        assert ours.dtype == np.uint8 and ours.shape == ref_frames.shape, where
        # Same frames, same resize: only PIL-vs-torch bicubic rounding (and, for PyAV, its RGB conversion) differ.
        diff = np.abs(ours.astype(np.float32) - ref_frames)
        assert diff.mean() < 1.0 and np.percentile(diff, 99.9) <= 8, where


def test_matches_fetch_video_on_long_low_fps_video(sample_video, backend):
    budget = dict(fps=1.0, min_frames=2, max_frames=128, min_pixels=28 * 28, max_pixels=224 * 224)
    for start, end in [(None, None), (14.0, 16.0), (59.9, 61.3), (100.0, 130.0), (0.26, 0.8)]:
        _, ref_idx, ref_times = _reference(sample_video.path, start, end, **budget)
        got = V.sample_window(sample_video.path, start, end, backend=backend, **budget)
        assert got.indices == ref_idx
        assert got.timestamps == pytest.approx(ref_times, abs=1e-5)


def test_timestamps_are_the_frames_true_time(short_video, backend):
    """Each frame shows the scene the ground truth says is on screen at its timestamp, across a cut at 4 s.
    The bottom-right corner is plain background, whose grey level differs by scene."""
    got = V.sample_window(short_video.path, 3.9, 4.1, fps=24.0, backend=backend, max_pixels=320 * 240)
    assert got.indices == [94, 95, 97, 98]
    assert got.timestamps == pytest.approx([94 / 24, 95 / 24, 97 / 24, 98 / 24], abs=1e-6)
    for frame, t in zip(got.frames, got.timestamps, strict=True):
        expected = short_video.scene_at(t).background
        corner = frame[-4:-2, -4:-2].astype(float).mean()
        assert abs(corner - expected) < 12, (t, corner, expected)


def test_probe_reports_what_the_file_is(short_video, backend):
    info = V.probe(short_video.path, backend=backend)
    assert info.num_frames == 288 and info.fps == pytest.approx(24.0)
    assert info.duration == pytest.approx(12.0)
    assert (info.width, info.height, info.codec) == (320, 240, "h264")


def test_whole_video_skim_uses_the_same_budget_rules(sample_video):
    skim = V.sample_video(sample_video.path, fps=1.0, max_frames=16)
    assert len(skim) == 16 and skim.indices[0] == 0 and skim.indices[-1] == sample_video.num_frames - 1
    assert skim.window == (0.0, pytest.approx(120.0))
    assert skim.timestamps[-1] == pytest.approx((sample_video.num_frames - 1) / sample_video.fps)
    pil = skim.to_pil()
    assert pil[0].size == (skim.size[1], skim.size[0]) and pil[0].mode == "RGB"


def test_qwen3_patch_size_rounds_to_32(short_video):
    got = V.sample_window(short_video.path, 0, 4, patch_size=16, max_pixels=256 * 256)
    h, w = got.size
    assert h % 32 == 0 and w % 32 == 0


@pytest.mark.parametrize(
    ("start", "end", "fragment"),
    [(5.0, 5.01, "at least 2 source frames"), (float("nan"), 3.0, "finite"), (1.0, float("inf"), "finite")],
)
def test_bad_windows_raise_invalid_window(short_video, start, end, fragment):
    with pytest.raises(V.InvalidWindow, match=fragment):
        V.sample_window(short_video.path, start, end)


def test_empty_pixel_budget_is_refused(short_video):
    with pytest.raises(V.InvalidBudget, match="pixel budget"):
        V.sample_window(short_video.path, 0, 4, min_pixels=224 * 224, max_pixels=28 * 28)


def test_unknown_or_unusable_backend_is_a_clear_error(short_video):
    with pytest.raises(V.BackendUnavailable, match="unknown video backend"):
        V.probe(short_video.path, backend="opencv")
    broken = [k for k, v in V.available_backends().items() if v]
    for name in broken:
        with pytest.raises(V.BackendUnavailable, match="not usable"):
            V.probe(short_video.path, backend=name)


def test_available_backends_really_decode(short_video):
    """A backend reported as working decodes a real frame; one reported broken says why."""
    problems = V.available_backends()
    assert set(problems) == set(BACKEND_ORDER)
    assert problems["decord"] is None and problems["pyav"] is None  # both are hard dependencies
    for name, why in problems.items():
        if why is None:
            assert V.sample_window(short_video.path, 0, 1, backend=name).frames[0].shape[2] == 3
        else:
            assert isinstance(why, str) and why


def test_env_var_picks_the_backend(short_video, monkeypatch):
    monkeypatch.setenv("LONGVT_VIDEO_BACKEND", "pyav")
    assert V.default_backend() == "pyav"
    assert V.sample_window(short_video.path, 0, 2).backend == "pyav"
    monkeypatch.setenv("LONGVT_VIDEO_BACKEND", "nope")
    with pytest.raises(V.BackendUnavailable):
        V.default_backend()


def test_reader_pool_reuses_one_open_reader(short_video, monkeypatch):
    from longvt_plugins.core import decoders

    opened = []
    real = decoders.open_reader

    def counting(backend, path):
        opened.append(path)
        return real(backend, path)

    V.clear_reader_cache()
    monkeypatch.setattr(V, "open_reader", counting)
    for start in range(0, 10, 2):
        V.sample_window(short_video.path, start, start + 2, backend="decord")
    assert len(opened) == 1


def test_threads_get_correct_frames_concurrently(short_video):
    """Concurrent crops of one video (GRPO rollouts of one prompt) each get their own reader and right frames."""
    windows = [(s, s + 1.5) for s in np.linspace(0, 10, 12)]
    expected = {w: V.sample_window(short_video.path, *w, backend="decord") for w in windows}
    errors: list[BaseException] = []

    def worker(w):
        try:
            for _ in range(3):
                got = V.sample_window(short_video.path, *w, backend="decord")
                assert got.indices == expected[w].indices
                assert all(np.array_equal(a, b) for a, b in zip(got.frames, expected[w].frames, strict=True))
        except BaseException as e:  # collected and re-raised in the main thread
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(w,)) for w in windows]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[0]


def test_replaced_file_is_not_served_from_a_stale_reader(tmp_path):
    from longvt_plugins.testing.videos import make_synthetic_video

    path = tmp_path / "v.mp4"
    make_synthetic_video(path, duration=4.0, fps=4.0, width=64, height=48)
    assert V.probe(path).num_frames == 16
    make_synthetic_video(tmp_path / "w.mp4", duration=6.0, fps=4.0, width=64, height=48)
    (tmp_path / "w.mp4").replace(path)
    assert V.probe(path).num_frames == 24
