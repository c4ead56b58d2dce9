"""Pooled video readers are closed at interpreter exit.

A script that crops a 720p video and exits could abort during shutdown ("pure virtual method called", rc 134, or a
segfault, rc 139): decord readers left in `core.video`'s pool were destroyed after the C++ objects they use. Seen
here on a 2-minute 720p25 H.264 video in 5 of 8 runs of one crop and 2 of 4 runs of 40 crops; never on the small
videos a test can afford to encode, so the test below checks the cure (the exit hook really runs and leaves the pool
empty and closed, and the process exits 0) rather than the crash itself."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from longvt_plugins.core import video as V
from longvt_plugins.testing.videos import make_synthetic_video

# The checker's exit hook is registered before core.video is imported, so it runs after core.video's (atexit runs
# hooks last-registered first) and sees what the pool looks like once the hook is done.
_CHILD = textwrap.dedent(
    """
    import atexit, sys

    def report():
        from longvt_plugins.core import video
        print(f"idle readers at exit: {sum(len(v) for v in video._POOL._idle.values())}, closed: {video._POOL._closed}")

    atexit.register(report)

    from longvt_plugins.core.crop_tool import CropBudget, CropVideoTool
    from longvt_plugins.core.tools.zoom_frame import ZoomFrameTool
    from longvt_plugins.core import video

    path = sys.argv[1]
    crop = CropVideoTool(path, CropBudget(max_calls=10**9))
    zoom = ZoomFrameTool(path)
    for i in range(40):
        start = (i * 0.37) % 6
        assert crop.execute({"start_time": start, "end_time": start + 1.5 + i % 3}).ok
    assert zoom.execute({"time": 2.0, "bbox": [100, 100, 600, 700]}).ok
    print(f"idle readers before exit: {sum(len(v) for v in video._POOL._idle.values())}")
    """
)


def test_script_of_many_crops_exits_cleanly_with_the_pool_closed(tmp_path):
    manifest = make_synthetic_video(tmp_path / "v.mp4", duration=8.0, fps=8.0, width=320, height=192)
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD, manifest.path], capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, (proc.returncode, proc.stderr[-2000:])
    lines = proc.stdout.splitlines()
    before = next(line for line in lines if line.startswith("idle readers before exit"))
    assert int(before.rsplit(" ", 1)[1]) >= 2  # the probe's native reader and the crops' scaled ones
    assert "idle readers at exit: 0, closed: True" in lines, proc.stdout


class _Reader:
    closed = False

    def close(self):
        self.closed = True


def test_a_reader_given_back_after_the_exit_hook_is_closed_not_pooled():
    pool = V._ReaderPool(4)
    with pool.reader("k", _Reader) as early:
        pass
    assert not early.closed  # pooled for the next call
    pool.clear(for_good=True)
    assert early.closed
    with pool.reader("k", _Reader) as late:
        assert late is not early
    assert late.closed and not pool._idle
