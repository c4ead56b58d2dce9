"""Request bodies, side by side: lmms-eval 0.7.3's own `async_openai` with its own `longvt` task utils, and our
`longvt_agent --protocol upstream` with our VideoSIAH task, against one recording server on 127.0.0.1 that gives
both the same scripted replies (issue 25, "What to build" 1).

The tool conversation has three calls in one turn (an end past the video, a good window, a wrong path), then a
good call and an unknown tool, then a third round (so the first round's outputs must be gone from the request),
then a malformed call (the loop must end without a retry). Think and non-think rows send one request each.

What runs for real: async_openai's loop, its message building (`ChatMessages.to_openai_messages`, qwen-vl-utils'
`fetch_video`), lmms-eval's `longvt` task's `doc_to_messages` / `doc_to_text`, `MCPClient.convert_result_to_openai_format`.
What does not: LongVT's MCP server over stdio. lmms-eval 0.7.3's `MCPClient` does not run with the installed mcp
2.3.0 (it passes `read_timeout_seconds=timedelta(...)`, which mcp 2.x adds to a float: TypeError; and it reads
`Tool.inputSchema`, renamed `input_schema`), and LongVT's server imports `mcp.server.fastmcp` (renamed in 2.x).
So the harness's `mcp_client` is an in-process stand-in that answers as that server does - the recorded schema,
our `upstream_tool` (its texts are checked against the server's own in tests/test_upstream_tool.py), PNG frames.

Compared: every byte of every request body as parsed JSON, frames replaced by "<image WxH>" (so their count and
sizes are compared); the skim frames' pixels differ by the decoders (see the test's comment and docs/protocols.md).
"""

from __future__ import annotations

import base64
import io
import json
import os

import numpy as np
import pytest
from PIL import Image

from longvt_plugins.core.budget import CropBudget
from longvt_plugins.core.crop_tool import CropVideoTool
from longvt_plugins.core.prompts import load_prompt
from longvt_plugins.core.protocols import UPSTREAM, upstream_tool
from longvt_plugins.lmms_eval.datacheck import benchmark_module, load_rows
from longvt_plugins.testing.openai_server import OpenAIStubServer

pytest.importorskip("lmms_eval.models.chat.async_openai")


def _call(cid: str, args: dict, name: str = "crop_video") -> dict:
    # vLLM's hermes parser hands arguments back as json.dumps(..., ensure_ascii=False)
    return {"id": cid, "function": {"name": name, "arguments": json.dumps(args, ensure_ascii=False)}}


def scripted(video: str, style: str = "tool"):
    """One reply per tool round, decided by how many tool-call turns the request already holds."""

    def handler(body):
        if style != "tool":
            return "<think>plain</think><answer>A</answer>"
        rounds = sum(1 for m in body["messages"] if m.get("tool_calls"))
        if rounds == 0:
            calls = [
                _call("c0", {"video_path": video, "start_time": 2, "end_time": 40}),
                _call("c1", {"video_path": video, "start_time": 1, "end_time": 3}),
                _call("c2", {"video_path": "/elsewhere/v.mp4", "start_time": 1, "end_time": 2}),
            ]
            return {"content": "<think>three at once</think>\n", "tool_calls": calls}
        if rounds == 1:
            calls = [
                _call("c3", {"video_path": video, "start_time": 4, "end_time": 8}),
                _call("c4", {}, "zoom"),
            ]
            return {"content": None, "tool_calls": calls}
        if rounds == 2:
            return {
                "content": "<think>once more</think>",
                "tool_calls": [_call("c5", {"video_path": video, "start_time": 0, "end_time": 2})],
            }
        broken = (
            '<think>t</think><tool_call>{"name": "crop_video", "arguments": {"start_time": 1,</tool_call>'
        )
        return {"content": broken, "finish_reason": "stop"}

    return handler


class InProcessMCP:
    """Stands in for LongVT's MCP server behind lmms-eval's MCPClient (see the module docstring for why)."""

    def __init__(self, video: str) -> None:
        from lmms_eval.mcp.client import MCPClient

        self.video = video
        self.tool = CropVideoTool(video, budget=CropBudget(**UPSTREAM.crop.to_dict()))
        self.convert_result_to_openai_format = MCPClient.convert_result_to_openai_format.__get__(self)

    async def get_function_list(self):
        return [UPSTREAM.tool_schema()]

    async def run_tool(self, name: str, args: dict):
        from mcp.types import CallToolResult, ImageContent, TextContent

        if name != "crop_video":
            return CallToolResult(
                content=[TextContent(type="text", text=f"Unknown tool: {name}")], isError=True
            )
        got = upstream_tool.execute(self.tool, args, self.video)
        if not got.ok:
            text = load_prompt("upstream_tool_error").format(problem=got.text)
            return CallToolResult(content=[TextContent(type="text", text=text)], isError=True)
        images = []
        for frame in got.frames:
            buf = io.BytesIO()
            frame.save(buf, format="PNG")
            data = base64.b64encode(buf.getvalue()).decode()
            images.append(ImageContent(type="image", data=data, mimeType="image/png"))
        return CallToolResult(content=images, isError=False)


@pytest.fixture(scope="module")
def siah(tmp_path_factory):
    from longvt_plugins.testing.sample_benchmarks import write_sample_benchmarks

    sample = write_sample_benchmarks(tmp_path_factory.mktemp("diff"), duration=12.0)
    doc = load_rows("longvtp_videosiah", sample.data["longvtp_videosiah"])[0]
    return doc


def run_theirs(server, doc, style: str) -> str:
    from lmms_eval.api.instance import Instance
    from lmms_eval.api.task import ConfigurableMessagesTask
    from lmms_eval.models.chat.async_openai import AsyncOpenAIChat
    from lmms_eval.tasks.longvt import utils

    # LongVT's run_eval.sh model args; the MCP server is passed to every task.
    model = AsyncOpenAIChat(
        model_version="policy",
        base_url=server.base_url,
        api_key="x",
        fps=1,
        max_frames=768,
        max_pixels=50176,
        num_cpus=1,
        max_retries=1,
    )
    model.mcp_client = InProcessMCP(doc["video_path"])
    if style == "tool":
        build, tokens = utils.longvt_tool_doc_to_messages, 4096
    elif style == "think":
        build, tokens = utils.longvt_doc_to_messages, 4096
    else:  # longvt_non_think.yaml: no doc_to_messages, so lmms-eval's auto messages of doc_to_text
        kwargs = {
            "pre_prompt": "",
            "post_prompt": "Answer the question directly with a short answer or phrase",
        }
        build = lambda d: ConfigurableMessagesTask._build_user_turn(  # noqa: E731
            utils.longvt_doc_to_visual(d), utils.longvt_doc_to_text(d, kwargs)
        )
        tokens = 128
    model.task_dict = {"longvt": {"test": [doc]}}
    request = Instance(
        "generate_until",
        ("", build, {"max_new_tokens": tokens}, 0, "longvt", "test"),
        0,
        metadata={"task": "longvt", "doc_id": 0, "repeats": 1},
    )
    return model.generate_until([request])[0].text


def run_ours(server, doc, style: str) -> str:
    from lmms_eval.api.instance import Instance

    from longvt_plugins.lmms_eval.model import LongVTAgent

    bench = benchmark_module("longvtp_videosiah").BENCH
    model = LongVTAgent(
        model="policy", base_url=server.base_url, api_key="x", protocol="upstream", max_retries=0
    )
    model.task_dict = {"longvtp_videosiah_" + style: {"test": [doc]}}
    build = lambda d: bench.doc_to_messages(d, {"style": style})  # noqa: E731
    gen = {"longvt_style": style, "temperature": 0}
    task = "longvtp_videosiah_" + style
    request = Instance(
        "generate_until",
        ("", build, gen, 0, task, "test"),
        0,
        metadata={"task": task, "doc_id": 0, "repeats": 1},
    )
    return model._one(request).text


def _normalised(body: dict, frames: list) -> dict:
    body = json.loads(json.dumps(body))
    for message in body["messages"]:
        for part in message.get("content") or [] if isinstance(message.get("content"), list) else []:
            if part.get("type") == "image_url":
                raw = base64.b64decode(part["image_url"]["url"].split(",", 1)[1])
                image = Image.open(io.BytesIO(raw)).convert("RGB")
                frames.append(np.asarray(image).astype(int))
                part["image_url"]["url"] = f"<image {image.width}x{image.height}>"
    return body


def differences(doc, style: str) -> tuple[list[str], list[float]]:
    """(what differs between the two sides' requests and response strings, mean |pixel diff| per frame)."""
    bodies, answers = {}, {}
    for side, run in (("theirs", run_theirs), ("ours", run_ours)):
        with OpenAIStubServer(scripted(doc["video_path"], style), model="policy") as server:
            answers[side] = run(server, doc, style)
            bodies[side] = list(server.requests)
    out = []
    if len(bodies["ours"]) != len(bodies["theirs"]):
        out.append(f"{len(bodies['ours'])} requests, async_openai sent {len(bodies['theirs'])}")
    theirs_frames, ours_frames = [], []
    for n, (mine, want) in enumerate(zip(bodies["ours"], bodies["theirs"], strict=False)):
        if _normalised(mine, ours_frames) != _normalised(want, theirs_frames):
            out.append(f"request {n + 1} differs")
    if answers["ours"] != answers["theirs"]:  # the response string the scorer reads
        out.append("response string differs")
    if len(ours_frames) != len(theirs_frames):
        out.append("frame count differs")
    diffs = [
        float(np.abs(a - b).mean())
        for a, b in zip(ours_frames, theirs_frames, strict=False)
        if a.shape == b.shape
    ]
    return out, diffs


@pytest.mark.parametrize("style", ["tool", "think", "non_think"])
def test_request_bodies_equal_async_openais(siah, style):
    found, diffs = differences(siah, style)
    assert found == []
    # Frames: the same count and sizes (checked above). Pixels are not compared strictly: where both decoders
    # read the same frame they differ by the resize only (mean |diff| about 2/255), but lmms-eval's fetch_video
    # (decord get_batch on the full-size stream) returned an earlier scene's frame at 2 to 4 of the 12 skim
    # positions of this clip, varying from run to run; core.video returns the right ones.
    assert diffs and min(diffs) < 8.0, f"mean |pixel difference| per frame: {[round(d, 1) for d in diffs]}"


TOOL_MUTATIONS = {
    "one call per turn": {"all_calls_run": False},
    "retry a malformed call": {"malformed_call": "retry"},
    "our crop checks (clamping, any path)": {"checks": "longvt-plugins"},
}


@pytest.mark.parametrize("name", sorted(TOOL_MUTATIONS))
def test_each_tool_rule_reverted_is_caught(siah, name, monkeypatch):
    import dataclasses

    from longvt_plugins.core.protocols import named

    tool = dataclasses.replace(UPSTREAM.tool, **TOOL_MUTATIONS[name])
    monkeypatch.setitem(named.PROTOCOLS, "upstream", dataclasses.replace(UPSTREAM, tool=tool))
    assert differences(siah, "tool")[0], f"the differential does not notice: {name}"


def test_the_tool_conversation_shows_each_upstream_rule(siah):
    """What the tool bodies hold, read from lmms-eval's run (so the comparison above covers these)."""
    with OpenAIStubServer(scripted(siah["video_path"]), model="policy") as server:
        run_theirs(server, siah, "tool")
        first, second, third, _ = server.requests
    tools = [m for m in second["messages"] if m["role"] == "tool"]
    texts = [t["content"][0].get("text", "<image>") for t in tools]
    assert texts[0] == "Error executing tool crop_video: end_time (40.0s) exceeds video duration (12.00s)"
    assert texts[1] == "<image>"  # every call of the turn ran
    assert texts[2] == "Error executing tool crop_video: Video file not found: /elsewhere/v.mp4"
    assert second["messages"][1] == {"role": "assistant", "content": "<think>three at once</think>\n"}
    assert [t["content"][0].get("text", "image") for t in third["messages"] if t["role"] == "tool"][1] == (
        "Unknown tool: zoom"
    )
    assert sum(m["role"] == "tool" for m in third["messages"]) == 2  # only the latest round's outputs


def test_think_and_non_think_prompts_are_lmms_evals():
    assert os.path.basename(__file__)  # the bodies are compared above; this names the prompt files they pin
    assert (
        load_prompt("upstream_non_think").strip()
        == "Answer the question directly with a short answer or phrase"
    )
