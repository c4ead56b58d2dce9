"""Real bad files - empty, truncated, not a video, audio only, undecodable frames - give typed, readable errors
from every backend, and the crop tool turns them into text for the model instead of raising."""

from __future__ import annotations

import wave
from pathlib import Path

import pytest

from longvt_plugins.core import video as V
from longvt_plugins.core.crop_tool import CropVideoTool
from longvt_plugins.core.decoders import BACKEND_ORDER


@pytest.fixture(params=BACKEND_ORDER)
def backend(request) -> str:
    problem = V.available_backends()[request.param]
    if problem is not None:
        pytest.skip(f"{request.param} not usable here: {problem}")
    return request.param


def _faststart_video(path: Path) -> bytes:
    """An MP4 with its index (moov) before the media data, so a cut-off copy still has a complete index."""
    import av

    from longvt_plugins.testing.videos import plan_scenes, render_frame

    scenes = plan_scenes(30.0, [10, 10, 10], 4.0)
    with av.open(str(path), "w", options={"movflags": "faststart"}) as c:
        s = c.add_stream("libx264", rate=4)
        s.width, s.height, s.pix_fmt, s.gop_size = 160, 96, "yuv420p", 8
        for i in range(120):
            frame = av.VideoFrame.from_ndarray(render_frame(scenes[i // 40], i / 4, 160, 96), format="rgb24")
            for p in s.encode(frame):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    return path.read_bytes()


@pytest.fixture(scope="module")
def bad_files(tmp_path_factory, request) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("bad")
    sample = request.getfixturevalue("sample_video")
    out: dict[str, Path] = {}
    out["empty"] = root / "empty.mp4"
    out["empty"].write_bytes(b"")
    data = Path(sample.path).read_bytes()
    out["truncated"] = root / "truncated.mp4"  # index at the end: half the file has no index at all
    out["truncated"].write_bytes(data[: len(data) // 2])
    fast = _faststart_video(root / "fast.mp4")
    out["truncated_faststart"] = root / "truncated_faststart.mp4"  # index intact, media data cut off
    out["truncated_faststart"].write_bytes(fast[: len(fast) // 2])
    zeroed = bytearray(fast)
    mdat = zeroed.find(b"mdat")
    zeroed[mdat + 4 :] = bytes(len(zeroed) - mdat - 4)
    out["undecodable"] = root / "undecodable.mp4"  # valid index, every frame's data zeroed
    out["undecodable"].write_bytes(bytes(zeroed))
    out["text"] = root / "notes.mp4"
    out["text"].write_text("these are meeting notes, not a video\n" * 40)
    out["png"] = root / "frame.mp4"
    from PIL import Image

    Image.new("RGB", (64, 48), (200, 10, 10)).save(out["png"], format="PNG")
    out["audio"] = root / "audio.mp4"
    with wave.open(str(out["audio"]), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\x00\x01" * 8000)
    out["directory"] = root / "folder.mp4"
    out["directory"].mkdir()
    out["missing"] = root / "missing.mp4"
    return out


EXPECTED = {
    "empty": (V.EmptyVideoFile, "empty"),
    "truncated": (V.CorruptVideo, "truncated or damaged"),
    "undecodable": (V.NoDecodableFrames, "cannot be decoded"),
    "text": (V.NotAVideo, "not a video"),
    "audio": (V.NotAVideo, "no video stream"),
    "directory": (V.NotAVideo, "directory"),
    "missing": (V.VideoNotFound, "not found"),
}


@pytest.mark.parametrize("kind", sorted(EXPECTED))
def test_bad_file_gives_typed_error(bad_files, backend, kind):
    cls, fragment = EXPECTED[kind]
    with pytest.raises(cls, match=fragment) as err:
        V.probe(bad_files[kind], backend=backend)
    assert str(bad_files[kind].name) in str(err.value)
    assert err.value.path is not None


def test_truncated_faststart_fails_on_the_lost_frames(bad_files, backend):
    """The index survives, the data does not: either the backend refuses the file, or it serves the frames
    that exist and fails clearly (CorruptVideo) on the ones that were cut off - never garbage frames."""
    path = bad_files["truncated_faststart"]
    try:
        info = V.probe(path, backend=backend)
    except V.CorruptVideo as e:
        assert "truncated or damaged" in str(e)
        return
    first = V.sample_window(path, 0, 2, backend=backend)
    assert len(first) >= 2
    with pytest.raises(V.CorruptVideo, match="decoding frames"):
        V.sample_window(path, 0, info.duration, fps=4.0, max_frames=512, backend=backend)


def test_png_is_not_a_window_source(bad_files):
    """A still image opens as a one-frame 'video' in FFmpeg; a crop of it is refused clearly, not crashed."""
    with pytest.raises(V.VideoError) as err:
        V.sample_window(bad_files["png"], 0, 1)
    assert err.value.args[0]


@pytest.mark.parametrize("kind", sorted(EXPECTED) + ["truncated_faststart", "png"])
def test_crop_tool_reports_bad_video_as_text(bad_files, kind):
    tool = CropVideoTool(bad_files[kind])
    result = tool.execute({"start_time": 0, "end_time": 5})
    assert not result.ok and result.frames == []
    assert result.error in {"video", "window"}
    assert "crop_video" in result.text and len(result.text) < 600
