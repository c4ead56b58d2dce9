"""crop_video under `--protocol upstream` against what LongVT's MCP server answered (issue 25 item 3).

The server's own function was run on the clip this file writes (facts and commit in tests/upstream_facts.py); each
refused call must read the same here, each good call give the same number of frames at the same size - and the
bound video must stay the only file the tool opens, whatever path the model names.
"""

from __future__ import annotations

import pytest
import upstream_facts as facts

from longvt_plugins.core.budget import CropBudget
from longvt_plugins.core.crop_tool import CropVideoTool
from longvt_plugins.core.protocols import UPSTREAM, upstream_tool
from longvt_plugins.testing.videos import make_synthetic_video


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    path = tmp_path_factory.mktemp("mcp") / "clip.mp4"
    c = facts.MCP_CLIP
    make_synthetic_video(path, duration=c["duration"], fps=c["fps"], width=c["width"], height=c["height"])
    return str(path)


def _args(path, start, end, clip):
    named = {"video_path": clip if path == "<clip>" else path, "start_time": start, "end_time": end}
    return {k: v for k, v in named.items() if v is not None}


def tool_differences(clip: str) -> list[str]:
    tool = CropVideoTool(clip, budget=CropBudget(**UPSTREAM.crop.to_dict()))
    out = []
    for (path, start, end), text in facts.MCP_ERRORS.items():
        got = upstream_tool.execute(tool, _args(path, start, end, clip), clip)
        if got.ok or got.text != text:
            out.append(f"{(path, start, end)}: {got.text!r} != {text!r}")
    for (start, end), (count, size) in facts.MCP_OK.items():
        got = upstream_tool.execute(tool, _args("<clip>", start, end, clip), clip)
        if not got.ok or len(got.frames) != count or got.frames[0].size != size:
            out.append(f"{(start, end)}: ok={got.ok} {len(got.frames)} frames")
    return out


def test_every_answer_is_the_mcp_servers(clip):
    assert tool_differences(clip) == []


def test_integers_read_as_pydantic_floats_and_the_prompt_path_is_the_bound_video(clip):
    tool = CropVideoTool(clip)
    assert upstream_tool.execute(tool, {"video_path": clip, "start_time": 2, "end_time": 30}, clip).text == (
        "end_time (30.0s) exceeds video duration (12.00s)"
    )
    assert upstream_tool.unknown_tool_text("zoom") == "Unknown tool: zoom"


def test_a_path_that_exists_is_still_never_opened(clip, tmp_path, monkeypatch):
    other = tmp_path / "other.mp4"
    make_synthetic_video(other, duration=4.0, fps=5.0, width=32, height=32)
    opened = []
    monkeypatch.setattr(upstream_tool, "sample_window", lambda path, *a, **k: opened.append(path))
    tool = CropVideoTool(clip)
    got = upstream_tool.execute(tool, {"video_path": str(other), "start_time": 0, "end_time": 2}, clip)
    assert got.text == f"Video file not found: {other}" and opened == []  # upstream would have cropped it


@pytest.mark.parametrize(
    "mutation",
    [
        ("clamp", lambda a: {**a, "end_time": min(a["end_time"], 12.0)} if a.get("end_time") else a),
        ("ignore the path", lambda a: {**a, "video_path": "<bound>"}),
    ],
    ids=lambda m: m[0],
)
def test_mutations_are_caught(clip, monkeypatch, mutation):
    """Our old behaviours (clamping, cropping the bound video whatever path was named) must fail the check."""
    real = upstream_tool._execute
    _, change = mutation

    def mutated(tool, arguments, prompt_path):
        args = change(dict(arguments))
        if args.get("video_path") == "<bound>":
            args["video_path"] = prompt_path
        return real(tool, args, prompt_path)

    monkeypatch.setattr(upstream_tool, "_execute", mutated)
    assert tool_differences(clip)


def test_the_next_request_is_sized_as_sent_without_the_earlier_rounds():
    """Upstream resends only the latest round's tool outputs: the image limit applies to what is sent."""
    from longvt_plugins.core.protocols import LONGVT_PLUGINS
    from longvt_plugins.core.protocols.session import ProtocolSession

    image = {"type": "image", "image": None, "width": 28, "height": 28}
    frames = [dict(image) for _ in range(4)]
    messages = [{"role": "user", "content": frames + [{"type": "text", "text": "Q"}]}]
    for n in range(2):  # two tool rounds of 4 frames each
        messages.append({"role": "assistant", "content": "", "tool_calls": [{"id": f"c{n}"}]})
        messages.append(
            {"role": "tool", "tool_call_id": f"c{n}", "name": "crop_video", "content": list(frames)}
        )
    assert ProtocolSession(UPSTREAM, "tool", max_images=8).next_request(messages, [], 0)[1] is None
    assert ProtocolSession(LONGVT_PLUGINS, "tool", max_images=8).next_request(messages, [], 0)[1] == (
        "context_exhausted"
    )
