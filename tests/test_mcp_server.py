"""The MCP crop_video server: path confinement (.., symlinks, absolute paths), and real crops served to the real
`mcp` client - in-process and over stdio from a subprocess started the way lmms-eval starts MCP servers."""

from __future__ import annotations

import base64
import io
import os
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
from mcp import Client, StdioServerParameters
from PIL import Image

import longvt_plugins.mcp_server as mcp_server
from longvt_plugins.core.crop_tool import CropBudget, CropVideoTool
from longvt_plugins.mcp_server import PathRefused, build_server, resolve_inside


@pytest.fixture(scope="module")
def layout(tmp_path_factory, sample_video) -> dict[str, Path]:
    """root/ holds videos (one in a subfolder, one symlink in, one symlink out); outside/ holds a real video that
    would play perfectly well if the server ever let a path reach it."""
    base = tmp_path_factory.mktemp("mcp")
    root, outside = base / "root", base / "outside"
    (root / "sub").mkdir(parents=True)
    outside.mkdir()
    shutil.copy(sample_video.path, root / "clip.mp4")
    shutil.copy(sample_video.path, root / "sub" / "nested.mp4")
    shutil.copy(sample_video.path, outside / "secret.mp4")
    (root / "link_in.mp4").symlink_to(root / "clip.mp4")
    (root / "link_out.mp4").symlink_to(outside / "secret.mp4")
    (root / "dir_out").symlink_to(outside)
    return {"base": base, "root": root, "outside": outside}


@pytest.mark.parametrize(
    "name", ["clip.mp4", "sub/nested.mp4", "./sub/../clip.mp4", "link_in.mp4", " clip.mp4 "]
)
def test_paths_inside_the_root_resolve(layout, name):
    got = resolve_inside(layout["root"].resolve(), name)
    assert got.is_file() and layout["root"].resolve() in got.parents


def test_absolute_and_file_url_inside_the_root_resolve(layout):
    root = layout["root"].resolve()
    assert resolve_inside(root, str(root / "clip.mp4")) == root / "clip.mp4"
    assert resolve_inside(root, "file://" + str(root / "clip.mp4")) == root / "clip.mp4"


@pytest.mark.parametrize(
    ("name", "fragment"),
    [
        ("../outside/secret.mp4", "outside the video root"),
        ("sub/../../outside/secret.mp4", "outside the video root"),
        ("link_out.mp4", "outside the video root"),
        ("dir_out/secret.mp4", "outside the video root"),
        ("ABS_OUTSIDE", "outside the video root"),
        ("/etc/passwd", "outside the video root"),
        ("file:///etc/passwd", "outside the video root"),
        ("missing.mp4", "not a file"),
        ("sub", "not a file"),
        ("", "non-empty string"),
        ("clip.mp4\x00.txt", "NUL"),
    ],
)
def test_paths_outside_the_root_are_refused(layout, name, fragment):
    if name == "ABS_OUTSIDE":
        name = str(layout["outside"] / "secret.mp4")
    with pytest.raises(PathRefused, match=fragment) as err:
        resolve_inside(layout["root"].resolve(), name)
    if (
        str(layout["outside"]) not in name
    ):  # echoing the caller's own path is fine; revealing a link's target is not
        assert str(layout["outside"]) not in str(err.value)


def test_non_string_path_is_refused(layout):
    with pytest.raises(PathRefused):
        resolve_inside(layout["root"].resolve(), 42)


def test_root_must_be_a_directory(layout):
    with pytest.raises(NotADirectoryError):
        build_server(layout["root"] / "clip.mp4")


def _frames(content) -> tuple[list[str], list[np.ndarray], str]:
    labels, frames = [], []
    for part in content[:-1]:
        if part.type == "text":
            labels.append(part.text)
        else:
            assert part.mime_type == "image/png"
            frames.append(np.asarray(Image.open(io.BytesIO(base64.b64decode(part.data))).convert("RGB")))
    return labels, frames, content[-1].text


async def test_in_process_client_gets_the_same_crop_as_the_tool(layout):
    server = build_server(layout["root"])
    async with Client(server) as client:
        tools = (await client.list_tools()).tools
        assert [t.name for t in tools] == ["crop_video", "zoom_frame"]
        assert tools[0].input_schema["required"] == ["video_path", "start_time", "end_time"]
        result = await client.call_tool(
            "crop_video", {"video_path": "clip.mp4", "start_time": 14, "end_time": 22}
        )
    assert not result.is_error
    labels, frames, summary = _frames(result.content)
    local = CropVideoTool(layout["root"] / "clip.mp4", CropBudget(max_calls=10)).execute(
        {"start_time": 14, "end_time": 22}
    )
    assert labels == [f"<{t}s>" for t in ("14.0", "15.25", "16.25", "17.5", "18.5", "19.75", "20.75", "22.0")]
    assert summary == local.text
    assert all(
        np.array_equal(a, np.asarray(b)) for a, b in zip(frames, local.frames, strict=True)
    )  # PNG: lossless


@pytest.mark.parametrize(
    "name", ["../outside/secret.mp4", "link_out.mp4", "ABS_OUTSIDE", "dir_out/secret.mp4"]
)
async def test_client_is_refused_outside_the_root(layout, name, monkeypatch):
    opened = []
    monkeypatch.setattr(mcp_server, "CropVideoTool", lambda p, b: opened.append(p) or CropVideoTool(p, b))
    if name == "ABS_OUTSIDE":
        name = str(layout["outside"] / "secret.mp4")
    async with Client(build_server(layout["root"])) as client:
        result = await client.call_tool("crop_video", {"video_path": name, "start_time": 0, "end_time": 4})
    assert result.is_error and "outside the video root" in result.content[0].text
    assert opened == []  # refused before any tool (or decoder) saw the path


async def test_bad_window_comes_back_as_an_error_result(layout):
    async with Client(build_server(layout["root"])) as client:
        result = await client.call_tool(
            "crop_video", {"video_path": "clip.mp4", "start_time": 50, "end_time": 10}
        )
    assert result.is_error and "must be greater than start_time" in result.content[0].text


async def test_zoom_frame_is_served_root_confined_with_the_tools_pixels(layout, monkeypatch):
    from longvt_plugins.core.tools.zoom_frame import ZoomFrameTool

    async with Client(build_server(layout["root"])) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
        assert tools["zoom_frame"].input_schema["required"] == ["video_path", "time", "bbox"]
        result = await client.call_tool(
            "zoom_frame", {"video_path": "sub/nested.mp4", "time": 14, "bbox": [0, 0, 500, 500]}
        )
        bad = await client.call_tool(
            "zoom_frame", {"video_path": "clip.mp4", "time": 14, "bbox": [5, 5, 1, 1]}
        )
        opened = []
        monkeypatch.setattr(mcp_server, "ZoomFrameTool", lambda p, b: opened.append(p) or ZoomFrameTool(p, b))
        refused = await client.call_tool(
            "zoom_frame", {"video_path": "link_out.mp4", "time": 1, "bbox": [0, 0, 500, 500]}
        )
    assert not result.is_error
    labels, frames, label = _frames(result.content)
    local = ZoomFrameTool(layout["root"] / "clip.mp4").execute({"time": 14, "bbox": [0, 0, 500, 500]})
    assert (
        labels == ["<14.0s>"] and label == local.text and label.startswith("zoom_frame: the frame at 14.0s")
    )
    assert np.array_equal(frames[0], np.asarray(local.frames[0]))  # PNG: lossless
    assert (
        bad.is_error and "zoom_frame error: the box [5, 5, 1, 1] is empty or inverted" in bad.content[0].text
    )
    assert refused.is_error and "outside the video root" in refused.content[0].text and opened == []


@pytest.mark.slow
async def test_stdio_subprocess_started_like_lmms_eval(layout):
    """lmms-eval starts `python <server file>` with no arguments; the root then comes from LONGVT_VIDEO_ROOT.
    Running the file as a script must not let our `verl/` / `lmms_eval/` folders shadow the real packages."""
    env = {**os.environ, "LONGVT_VIDEO_ROOT": str(layout["root"])}
    params = StdioServerParameters(command=sys.executable, args=[mcp_server.__file__], env=env)
    async with Client(params) as client:
        ok = await client.call_tool(
            "crop_video", {"video_path": "sub/nested.mp4", "start_time": 0, "end_time": 6}
        )
        refused = await client.call_tool(
            "crop_video", {"video_path": "link_out.mp4", "start_time": 0, "end_time": 6}
        )
    assert not ok.is_error
    labels, frames, summary = _frames(ok.content)
    # 25 source frames, 6 sampled at linspace(0, 24, 6) -> 0, 5, 10, 14, 19, 24 at 4 fps
    assert labels == ["<0.0s>", "<1.25s>", "<2.5s>", "<3.5s>", "<4.75s>", "<6.0s>"]
    assert len(frames) == 6 and frames[0].shape[2] == 3 and "6 frames of 0.00s-6.00s" in summary
    assert refused.is_error and "outside the video root" in refused.content[0].text


@pytest.mark.slow
async def test_cli_command_serves_over_stdio(layout):
    """`longvt mcp-serve --video-root DIR`, through the real CLI entry module."""
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "longvt_plugins.cli", "mcp-serve", "--video-root", str(layout["root"])],
        env=dict(os.environ),
    )
    async with Client(params) as client:
        result = await client.call_tool(
            "crop_video", {"video_path": "clip.mp4", "start_time": 100, "end_time": 999}
        )
    assert not result.is_error and "cropped to 120.00s" in result.content[-1].text
