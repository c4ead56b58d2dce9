"""Property tests: more than 10,000 generated argument sets thrown at a real crop tool on a real video.

Nothing may escape `execute`, every result is self-consistent, every error names its problem, and - watched two
ways, in-process and with strace on a subprocess - no file but the bound video is ever opened, even when the
arguments are full of other paths.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from longvt_plugins.core.crop_tool import CropBudget, CropVideoTool
from longvt_plugins.core.video import clear_reader_cache, probe

BATCH = 25
TOTAL = 10_000
BUDGET = CropBudget(max_frames=4, max_calls=10**9)


def crop_arguments(decoy: str = "/etc/passwd") -> st.SearchStrategy:
    """Plausible windows, edge numbers, numbers as strings, junk values, missing / extra / path keys, and whole
    argument payloads that are not objects at all. `decoy` is a path the tool must never open."""
    plausible = st.floats(-2, 130, allow_nan=False)
    edge = st.sampled_from([0, -0.0, 1e-9, 119.99, 120, 120.01, 1e308, -1e308, float("nan"), float("inf")])
    number = st.one_of(plausible, plausible, st.integers(-10, 200), edge, st.floats())
    as_text = st.one_of(
        number.map(str),
        plausible.map(lambda x: f"{x:.2f}s"),
        st.integers(0, 3).flatmap(lambda m: st.integers(0, 59).map(lambda s: f"{m}:{s:02d}")),
        st.sampled_from(["", " ", "ten", "1e400", "nan", "-inf", "0x10", "12,5", decoy, "../" + decoy]),
        st.text(max_size=12),
    )
    junk = st.one_of(st.none(), st.booleans(), st.lists(st.integers(), max_size=2), st.just({"t": 1}))
    value = st.one_of(number, number, as_text, junk)
    window = st.tuples(st.floats(0, 125), st.floats(0.01, 40)).map(
        lambda w: {"start_time": w[0], "end_time": w[0] + w[1]}
    )
    keyed = st.fixed_dictionaries(
        {},
        optional={
            "start_time": value,
            "end_time": value,
            "video_path": st.sampled_from([decoy, "../" + decoy, "/dev/zero", "file://" + decoy]),
            "path": st.just(decoy),
            "fps": number,
        },
    )
    obj = st.one_of(window, keyed, keyed)  # about 1 call in 6 decodes frames; the rest exercise the checks
    return st.one_of(
        obj,
        obj,
        obj.map(lambda d: json.dumps(d)),
        st.text(max_size=40),
        st.sampled_from(["{", "null", "[]", '{"start_time": 1', decoy]),
        st.integers(),
        st.none(),
        st.lists(st.floats(0, 100), max_size=3),
    )


def _numeric(v):
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    return float(v)


def check_result(arguments, result, info) -> None:
    """Invariants of one call; for plain numeric arguments, the exact verdict a careful reader would give."""
    assert isinstance(result.text, str) and result.text.startswith("crop_video"), result
    if result.ok:
        assert result.error is None and 1 <= len(result.frames) == len(result.timestamps) <= BUDGET.max_frames
        lo, hi = result.window
        assert 0 <= lo < hi <= info.duration + 1e-9
        assert result.timestamps == sorted(result.timestamps)
        assert lo - 1 / info.fps <= result.timestamps[0] and result.timestamps[-1] <= hi + 1e-6
    else:
        assert result.frames == [] and result.error in {"arguments", "window"}, result
    args = arguments
    if isinstance(arguments, str):
        try:
            args = json.loads(arguments)
        except ValueError:
            args = None
    if not isinstance(args, dict):
        if not result.ok:
            assert "JSON" in result.text, result.text
        return
    extra = set(args) - {"start_time", "end_time", "video_path"}
    missing = {"start_time", "end_time"} - set(args)
    if missing:
        assert not result.ok and "missing" in result.text and all(k in result.text for k in missing)
        return
    if extra:
        assert not result.ok and "unexpected argument" in result.text
        return
    s, e = _numeric(args["start_time"]), _numeric(args["end_time"])
    if s is None or e is None:
        return  # strings and junk: covered by the invariants above and the example tests
    if not (math.isfinite(s) and math.isfinite(e)):
        assert not result.ok and "finite" in result.text
    elif s < 0:
        assert not result.ok and "start_time must be >= 0" in result.text
    elif e <= s:
        assert not result.ok and "must be greater than start_time" in result.text
    elif s >= info.duration:
        assert not result.ok and "past the end of the video" in result.text
    else:
        first = math.ceil(s * info.fps)
        last = min(math.floor(min(e, info.duration) * info.fps), info.num_frames - 1)
        if first >= last:
            assert not result.ok and "shorter than one frame interval" in result.text, (s, e, result.text)
        else:
            assert result.ok, (s, e, result.text)
            assert result.window == (s, min(e, info.duration))
            assert ("cropped to" in result.text) == (e > info.duration)


@pytest.fixture(scope="module")
def small_video(fixture_cache) -> Path:
    from longvt_plugins.testing.videos import VideoManifest, make_synthetic_video

    path = fixture_cache / "videos" / "props_120s_64x48.mp4"
    if not Path(str(path) + ".json").exists():
        make_synthetic_video(
            path, duration=120.0, fps=4.0, width=64, height=48, scene_lengths=[30, 30, 30, 30]
        )
    return Path(VideoManifest.load(str(path) + ".json").path)


@pytest.fixture(scope="module")
def decoy(tmp_path_factory, small_video) -> Path:
    path = tmp_path_factory.mktemp("decoy") / "decoy.mp4"
    shutil.copy(small_video, path)  # a real, readable video: opening it would succeed, so it must be refused
    return path


@pytest.mark.slow
def test_ten_thousand_argument_sets_never_escape(small_video, decoy, monkeypatch):
    import longvt_plugins.core.video as V

    tool = CropVideoTool(small_video, BUDGET)
    info = probe(small_video)
    tool.execute({"start_time": 1, "end_time": 3})  # warm-up: lazy imports happen before we start watching

    opened: list[str] = []
    real_open_reader = V.open_reader

    def watched_open_reader(backend, path, size=None):  # every decoder opens its file through here
        opened.append(os.path.realpath(path))
        return real_open_reader(backend, path, size)

    monkeypatch.setattr(V, "open_reader", watched_open_reader)
    py_opened: list[str] = []
    watching = [False]

    def audit(event, args):  # Python-level opens (open(), os.open, io.open_code) anywhere in the process
        if (
            watching[0]
            and event in ("open", "os.open")
            and args
            and isinstance(args[0], (str, bytes, os.PathLike))
        ):
            py_opened.append(os.fsdecode(args[0]))

    sys.addaudithook(audit)  # cannot be removed; `watching` keeps it silent outside execute()
    calls = [0]

    @settings(
        max_examples=TOTAL // BATCH,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(st.lists(crop_arguments(str(decoy)), min_size=BATCH, max_size=BATCH))
    def run(batch):
        for arguments in batch:
            calls[0] += 1
            if calls[0] % 1000 == 0:
                clear_reader_cache()  # make the tool re-open its video now and then, under the watchers
            watching[0] = True  # only the tool's own opens count; hypothesis reads files of its own
            try:
                result = tool.execute(arguments)  # an exception here fails the test: nothing may escape
            finally:
                watching[0] = False
            check_result(arguments, result, info)

    run()
    assert calls[0] >= TOTAL
    real = os.path.realpath(small_video)
    assert opened and set(opened) == {real}, set(opened)
    assert set(py_opened) <= {real, str(small_video)}, set(py_opened)


def _strace_works() -> str | None:
    if not shutil.which("strace"):
        return "strace is not installed"
    probe_run = subprocess.run(["strace", "-f", "-e", "trace=openat", "true"], capture_output=True, text=True)
    return (
        None if probe_run.returncode == 0 else f"strace cannot trace here: {probe_run.stderr.strip()[:200]}"
    )


_CHILD = textwrap.dedent(
    """
    import json, os, sys
    from longvt_plugins.core.crop_tool import CropBudget, CropVideoTool
    from longvt_plugins.core.video import clear_reader_cache

    video, arguments_file = sys.argv[1], sys.argv[2]
    with open(arguments_file) as fh:
        batches = json.load(fh)
    tool = CropVideoTool(video, CropBudget(max_frames=4, max_calls=10**9))
    assert tool.execute({"start_time": 1, "end_time": 3}).ok  # warm-up: imports, libraries, prompt texts
    clear_reader_cache()  # the bound video must be opened again after the marker: the positive control
    try:
        open("/longvt-marker-begin")
    except OSError:
        pass
    ok = 0
    for n, arguments in enumerate(batches):
        if n and n % 250 == 0:
            clear_reader_cache()
        ok += tool.execute(arguments).ok
    try:
        open("/longvt-marker-end")
    except OSError:
        pass
    print(json.dumps({"calls": len(batches), "ok": ok}))
    """
)


@pytest.mark.slow
def test_strace_sees_only_the_bound_video_opened(small_video, decoy, tmp_path):
    """The decoders open files in C, where Python cannot see; strace can. Between two markers, a subprocess runs
    1,000 generated argument sets (full of the decoy's path) and the only file opened is the bound video."""
    why = _strace_works()
    if why:
        pytest.skip(why)
    pool: list = []

    @settings(
        max_examples=80,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(st.lists(crop_arguments(str(decoy)), min_size=BATCH, max_size=BATCH))
    def collect(batch):
        pool.extend(batch)

    collect()
    args_file = tmp_path / "arguments.json"
    args_file.write_text(json.dumps(pool))
    trace = tmp_path / "trace.txt"
    cmd = ["strace", "-f", "-qq", "-e", "trace=open,openat,openat2,creat", "-o", str(trace)]
    cmd += [sys.executable, "-c", _CHILD, str(small_video), str(args_file)]
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-2000:]
    summary = json.loads(run.stdout.strip().splitlines()[-1])
    assert summary["calls"] == len(pool) >= 1000 and summary["ok"] > 50

    lines = trace.read_text().splitlines()
    begin = next(i for i, line in enumerate(lines) if "/longvt-marker-begin" in line)
    end = next(i for i, line in enumerate(lines) if "/longvt-marker-end" in line)
    paths = set()
    for line in lines[begin + 1 : end]:
        if '"' in line and "open" in line:
            paths.add(line.split('"')[1])
    real = os.path.realpath(small_video)
    # Kernel interfaces are not files with anyone's data: FFmpeg reads /sys/devices/system/cpu/online to size its
    # decoder threads, the allocator reads /proc/sys/vm/overcommit_memory. Everything else must be the video.
    kernel_info = {p for p in paths if p.startswith(("/sys/", "/proc/"))}
    assert {os.path.realpath(p) for p in paths - kernel_info} == {real}, paths
