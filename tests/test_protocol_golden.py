"""Golden request bodies: what each protocol sends for one item of each benchmark, per style, over real HTTP.

The first request of every (protocol, benchmark, style) is built by the protocol's request builder, sent by the
real OpenAI backend to the stand-in server, and the body the server received is compared with
tests/golden/protocols/<protocol>.json (images shown as "<image WxH>"). The facts behind the `upstream` goldens
(LongVT eval: no system prompt in tool tasks, the tool prompt's exact text, none for the reported VideoMME task,
untimestamped PNG frames, the path line, the MCP schema with video_path, 49,152 tokens, only max_tokens and
temperature) are also asserted one by one, so a regenerated golden cannot quietly drift from them.

Regenerate after a deliberate change: LONGVT_UPDATE_GOLDEN=1 pytest tests/test_protocol_golden.py
"""

from __future__ import annotations

import base64
import io
import json
import os
from pathlib import Path

import pytest
from PIL import Image

from longvt_plugins.core.backends import GenerationParams, OpenAIBackend
from longvt_plugins.core.protocols import LONGVT_PLUGINS, STYLES, UPSTREAM
from longvt_plugins.core.protocols.messages import initial_messages, shape_request, tools_for
from longvt_plugins.core.video import probe, sample_video
from longvt_plugins.lmms_eval.datacheck import benchmark_module, load_rows
from longvt_plugins.testing.openai_server import OpenAIStubServer

GOLDEN = Path(__file__).parent / "golden" / "protocols"
BENCHMARKS = ("longvtp_videosiah", "longvtp_videomme", "longvtp_lvbench", "longvtp_videommmu")
TOOL_PROMPT = (
    "Think first, call **crop_video** if needed, then answer. Format strictly as:  <think>...</think>  "
    "<tool_call>...</tool_call> (if tools needed)  <answer>...</answer>."
)
# verl-free facts from the MCP server's signature (inventory §2.1 / §2.4): raw inputSchema, no `required`.
UPSTREAM_SCHEMA = {
    "type": "function",
    "function": {
        "name": "crop_video",
        "description": "Crop a video to a specified duration.",
        "parameters": {
            "properties": {
                "video_path": {
                    "default": None,
                    "description": "Path to the video file",
                    "title": "Video Path",
                    "type": "string",
                },
                "start_time": {
                    "default": None,
                    "description": "Start time in seconds",
                    "title": "Start Time",
                    "type": "number",
                },
                "end_time": {
                    "default": None,
                    "description": "End time in seconds, must be > start_time",
                    "title": "End Time",
                    "type": "number",
                },
            },
            "title": "crop_videoArguments",
            "type": "object",
        },
    },
}


def test_upstream_schema_is_what_the_mcp_server_signature_generates():
    """LongVT's MCP server declares crop_video(video_path, start_time, end_time) with these descriptions, all
    defaulting to None; FastMCP sends pydantic's JSON schema of that signature as the tool's parameters."""
    from typing import Annotated

    from pydantic import BaseModel, Field

    class crop_videoArguments(BaseModel):  # noqa: N801  (the name is part of the schema: its "title")
        video_path: Annotated[str, Field(description="Path to the video file")] = None
        start_time: Annotated[float, Field(description="Start time in seconds")] = None
        end_time: Annotated[float, Field(description="End time in seconds, must be > start_time")] = None

    generated = json.dumps(crop_videoArguments.model_json_schema())
    assert json.dumps(UPSTREAM.tool_schema()["function"]["parameters"]) == generated
    assert UPSTREAM.tool_schema() == UPSTREAM_SCHEMA


def _placeholder(url: str) -> str:
    head, data = url.split(",", 1)
    image = Image.open(io.BytesIO(base64.b64decode(data)))
    return f"<image {image.format} {image.width}x{image.height}>"


def _normalise(body: dict, video_root: Path) -> dict:
    """Images as placeholders, the temporary folder as <root>: the rest is compared byte for byte."""
    text = json.dumps(body)
    out = json.loads(text.replace(str(video_root), "<root>"))
    for message in out["messages"]:
        if isinstance(message.get("content"), list):
            for part in message["content"]:
                if part.get("type") == "image_url":
                    part["image_url"]["url"] = _placeholder(part["image_url"]["url"])
    return out


@pytest.fixture(scope="module")
def bodies(tmp_path_factory):
    from longvt_plugins.testing.sample_benchmarks import write_sample_benchmarks

    root = tmp_path_factory.mktemp("golden")
    sample = write_sample_benchmarks(root, duration=12.0)
    old = os.environ.get("LONGVT_EVAL_VIDEO_ROOT")
    os.environ["LONGVT_EVAL_VIDEO_ROOT"] = str(sample.video_root)
    out: dict[str, dict] = {}
    try:
        with OpenAIStubServer(lambda body: "<answer>A</answer>", model="policy") as server:
            for protocol in (UPSTREAM, LONGVT_PLUGINS):
                backend = OpenAIBackend(
                    server.base_url, "policy", shape=lambda req, p=protocol: shape_request(p, req)
                )
                for bench in BENCHMARKS:
                    module = benchmark_module(bench)
                    doc = load_rows(bench, sample.data[bench])[0]
                    video = module.BENCH.video_path(doc)
                    info = probe(video)
                    skim = sample_video(
                        video,
                        fps=protocol.skim.fps,
                        min_frames=protocol.skim.min_frames,
                        max_frames=protocol.skim.max_frames,
                        min_pixels=protocol.skim.min_pixels,
                        max_pixels=protocol.skim.max_pixels,
                    )
                    for style in STYLES:
                        kwargs = {"style": style}
                        if bench == "longvtp_videomme":
                            kwargs["subtitle_samples"] = 32
                        if bench == "longvtp_videommmu":
                            kwargs["subset"] = "adaptation"
                        # The question as this protocol words it in this style (upstream's task texts).
                        question = module.BENCH.framings(doc, kwargs).get(
                            protocol.question_framing, module.BENCH.question(doc, kwargs).strip()
                        )
                        messages = initial_messages(
                            protocol,
                            style=style,
                            question=question,
                            frames=skim.to_pil(),
                            timestamps=list(skim.timestamps),
                            info=info,
                            video_path=video,
                            benchmark=bench.removeprefix("longvtp_"),
                            multiple_choice=bool(module.BENCH.options(doc)),
                        )
                        params = GenerationParams(
                            max_tokens=protocol.tokens.new_tokens(style, bench.removeprefix("longvtp_")),
                            temperature=0.0,
                        )
                        backend.generate(messages, tools_for(protocol, style), params)
                        body = _normalise(server.requests[-1], sample.video_root)
                        out[f"{protocol.name}/{bench}/{style}"] = body
    finally:
        if old is None:
            os.environ.pop("LONGVT_EVAL_VIDEO_ROOT", None)
        else:
            os.environ["LONGVT_EVAL_VIDEO_ROOT"] = old
    return out


@pytest.mark.parametrize("protocol", ["upstream", "longvt-plugins"])
def test_request_bodies_match_golden(bodies, protocol):
    got = {k.split("/", 1)[1]: v for k, v in bodies.items() if k.startswith(protocol + "/")}
    path = GOLDEN / f"{protocol}.json"
    if os.environ.get("LONGVT_UPDATE_GOLDEN"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(got, indent=1, ensure_ascii=False, sort_keys=True) + "\n")
    want = json.loads(path.read_text())
    assert sorted(got) == sorted(want)
    for key in want:
        assert got[key] == want[key], f"{protocol} {key} differs from its golden body"


def _texts(message):
    return [p["text"] for p in message["content"] if p.get("type") == "text"]


def test_upstream_bodies_carry_the_reference_facts(bodies):
    for key, body in bodies.items():
        if not key.startswith("upstream/"):
            continue
        _, bench, style = key.split("/")
        assert set(body) == {"model", "messages", "max_tokens", "temperature", "tools", "tool_choice"}, key
        assert (
            body["tools"] == [UPSTREAM_SCHEMA] and body["tool_choice"] == "auto"
        )  # MCP offered to every task
        # LongVT's task YAMLs: VideoSIAH and LVBench tool tasks kept 4,096 (tests/upstream_facts.py).
        tool = 4096 if bench in ("longvtp_videosiah", "longvtp_lvbench") else 49152
        # Non-think rows of the multiple-choice benchmarks: lmms-eval's built-in tasks (16 / 16 / 1,024).
        non_think = {"longvtp_videomme": 16, "longvtp_lvbench": 16, "longvtp_videommmu": 1024}.get(bench, 128)
        assert body["max_tokens"] == {"tool": tool, "think": 4096, "non_think": non_think}[style]
        user = body["messages"][-1]
        assert user["role"] == "user"
        images = [p for p in user["content"] if p["type"] == "image_url"]
        assert images and all(p["image_url"]["url"].startswith("<image PNG") for p in images)
        texts = _texts(user)
        assert not any(t.startswith("<") and t.endswith("s>") for t in texts), "no timestamp labels upstream"
        assert texts[-1].startswith("\nVideo 0 has video path: <root>/")
        assert user["content"][: len(images)] == images, "frames first, then the text"
        if style == "tool":
            assert [m["role"] for m in body["messages"]] == ["user"]
            if bench == "longvtp_videomme":
                assert "crop_video" not in texts[0]  # videomme_w_subtitle_reward_tool sends no tool prompt
            else:
                assert texts[0].endswith(" " + TOOL_PROMPT)
        if style == "think":
            system = body["messages"][0]
            assert system["role"] == "system" and len(system["content"]) == 1
            assert system["content"][0]["text"].startswith("You are a helpful assistant. When the user asks")


def test_longvt_plugins_bodies_are_ours(bodies):
    for key, body in bodies.items():
        if not key.startswith("longvt-plugins/"):
            continue
        style = key.split("/")[2]
        assert "top_p" in body
        assert ("tools" in body) == (style == "tool")
        if style == "tool":
            props = body["tools"][0]["function"]["parameters"]["properties"]
            assert set(props) == {"start_time", "end_time"}  # never a path
        texts = _texts(body["messages"][-1])
        assert texts[0].startswith("<0") and texts[0].endswith("s>"), "every frame labelled with its time"
        assert any("long (" in t for t in texts), "the duration is stated"
        assert not any("video path" in t for t in texts)
