"""Registration through the `verl.plugins` entry point, the tool on its own, and the tool-call parser."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from types import SimpleNamespace

import pytest

REGISTRATION_PROBE = """
import json, sys
import verl  # the only import: the entry point must do the rest
from verl.experimental.agent_loop.agent_loop import _agent_loop_registry
from verl.experimental.agent_loop.tool_parser import ToolParser
from omegaconf import OmegaConf
from longvt_plugins.verl.plugin import check_registration
ok, report = check_registration()
print(json.dumps({
    "plugin_loaded_by_verl": "longvt_plugins.verl.plugin" in sys.modules,
    "agent_loop": _agent_loop_registry.get("longvt_tool_agent"),
    "parser": "longvt_hermes" in ToolParser._registry,
    "resolver": OmegaConf.has_resolver("longvt.template"),
    "ok": ok, "report": report,
}))
"""


@pytest.mark.slow
def test_import_verl_registers_everything_through_the_entry_point():
    # A fresh interpreter: nothing of ours is imported before `import verl`.
    done = subprocess.run([sys.executable, "-c", REGISTRATION_PROBE], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["plugin_loaded_by_verl"]
    assert result["agent_loop"] == {"_target_": "longvt_plugins.verl.agent_loop.LongVTToolAgentLoop"}
    assert result["parser"] and result["resolver"]
    assert result["ok"], result["report"]


def test_check_registration_notices_a_missing_registration(monkeypatch):
    from verl.experimental.agent_loop import agent_loop

    from longvt_plugins.verl import plugin

    assert plugin.check_registration()[0]
    monkeypatch.delitem(agent_loop._agent_loop_registry, "longvt_tool_agent")
    ok, report = plugin.check_registration()
    assert not ok and "MISSING agent loop 'longvt_tool_agent'" in report


def test_a_failing_registration_is_reported_not_swallowed(monkeypatch, caplog):
    from longvt_plugins.verl import plugin

    def broken():
        raise ImportError("No module named 'cachetools'")

    monkeypatch.setattr(plugin, "_register_agent_loop", broken)
    plugin.register()
    try:
        assert "cachetools" in caplog.text
        assert "error while registering agent_loop: ImportError" in plugin.check_registration()[1]
    finally:
        monkeypatch.undo()
        plugin.register()
    assert "error while registering" not in plugin.check_registration()[1]


def test_resolvers_give_the_template_and_packaged_files():
    from omegaconf import OmegaConf

    from longvt_plugins.testing.tiny_model import chat_template_text
    from longvt_plugins.verl import plugin

    plugin.register()
    cfg = OmegaConf.create(
        {"t": "${longvt.template:qwen2_5_vl_tools}", "p": "${longvt.resource:verl/tool_config.yaml}"}
    )
    assert cfg.t == chat_template_text()
    assert cfg.p.endswith("longvt_plugins/verl/tool_config.yaml")
    with pytest.raises(Exception, match="no chat template named 'qwen9'"):
        _ = OmegaConf.create({"t": "${longvt.template:qwen9}"}).t


# ------------------------------------------------------------------------------------------------- the tool
def _tool(**config):
    from longvt_plugins.verl.tool import CropVideoTool

    return CropVideoTool({"type": "native", "max_frames": 8, "max_pixels": 56 * 56, **config})


async def _call(tool, agent_data, video_path, arguments):
    instance_id, _ = await tool.create(create_kwargs={"video_path": video_path} if video_path else {})
    try:
        return await tool.execute(instance_id, arguments, agent_data=agent_data)
    finally:
        await tool.release(instance_id)


def test_tool_returns_timestamped_frames_and_counts_per_trajectory(short_video):
    from longvt_plugins.verl.names import FRAME_LABEL_KEY

    tool = _tool(max_calls=2)
    first, second = SimpleNamespace(extra_fields={}), SimpleNamespace(extra_fields={})

    async def scenario():
        ok = await _call(tool, first, short_video.path, {"start_time": 4.0, "end_time": 8.0})
        other = await _call(tool, second, short_video.path, {"start_time": 0, "end_time": 2})
        again = await _call(tool, first, short_video.path, {"start_time": 8.0, "end_time": 12.0})
        capped = await _call(tool, first, short_video.path, {"start_time": 0, "end_time": 1})
        return ok, other, again, capped

    (response, reward, metrics), other, again, capped = asyncio.run(scenario())
    assert metrics == {"ok": True, "frames": len(response.image)} and reward == 0.0
    assert response.video is None and len(response.image) >= 2
    labels = [frame.info[FRAME_LABEL_KEY] for frame in response.image]
    stamps = [float(label.strip("<>s")) for label in labels]
    assert stamps == sorted(stamps) and 4.0 <= stamps[0] and stamps[-1] <= 8.0
    assert all(label[1:-2] in response.text for label in labels)  # the summary lists them too
    # Counters are per trajectory even though one tool object served both.
    assert first.extra_fields["crop_calls"] == 3 and second.extra_fields["crop_calls"] == 1
    assert first.extra_fields["crop_windows"] == [[4.0, 8.0], [8.0, 12.0]]
    assert capped[0].image is None and "call limit of 2" in capped[0].text
    assert first.extra_fields["crop_errors"] == 1 and second.extra_fields["crop_errors"] == 0
    assert first.extra_fields["tool_call_counts"] == 3


def test_tool_without_a_video_answers_with_an_error_text():
    agent_data = SimpleNamespace(extra_fields={})
    response, _, metrics = asyncio.run(_call(_tool(), agent_data, None, {"start_time": 0, "end_time": 5}))
    assert "no video is attached" in response.text and metrics["ok"] is False
    assert agent_data.extra_fields["crop_errors"] == 1


def test_tool_with_an_unreadable_video_answers_with_an_error_text(tmp_path):
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 64)  # starts like an MP4, holds nothing
    response, _, metrics = asyncio.run(_call(_tool(), None, str(broken), {"start_time": 0, "end_time": 5}))
    assert "cannot be read" in response.text and metrics == {"ok": False, "error": "video"}


def test_tool_config_with_an_unknown_key_fails_loudly():
    with pytest.raises(ValueError, match="unknown key.*max_frame"):
        _tool(max_frame=8)


# ------------------------------------------------------------------------------------------------ the parser
@pytest.fixture(scope="module")
def tokenizer():
    from longvt_plugins.testing.tiny_model import build_tokenizer

    return build_tokenizer()


def test_parser_keeps_malformed_calls_as_visible_errors(tokenizer):
    from longvt_plugins.verl.tool_parser import INVALID_TOOL_CALL, LongVTHermesToolParser, invalid_call_error

    text = (
        "<think>two looks</think>\n"
        '<tool_call>\n{"name": "crop_video", "arguments": {"start_time": 1.5, "end_time": 3}}\n</tool_call>\n'
        '<tool_call>\n{"name": "crop_video", "arguments": {"start_time": 3,}}\n</tool_call><|im_end|>'
    )
    content, calls = asyncio.run(LongVTHermesToolParser(tokenizer).extract_tool_calls(tokenizer.encode(text)))
    assert [c.name for c in calls] == ["crop_video", INVALID_TOOL_CALL]
    assert json.loads(calls[0].arguments) == {"start_time": 1.5, "end_time": 3}
    assert "JSON" in invalid_call_error(calls[1].arguments)
    assert "<tool_call>" not in content and "two looks" in content


def test_parser_agrees_with_verls_hermes_on_good_calls(tokenizer):
    from verl.experimental.agent_loop.tool_parser import HermesToolParser

    from longvt_plugins.verl.tool_parser import LongVTHermesToolParser

    text = '<tool_call>\n{"name": "crop_video", "arguments": {"start_time": 10, "end_time": 20.5}}\n</tool_call><|im_end|>'
    ids = tokenizer.encode(text)
    _, ours = asyncio.run(LongVTHermesToolParser(tokenizer).extract_tool_calls(ids))
    _, theirs = asyncio.run(HermesToolParser(tokenizer).extract_tool_calls(ids))
    assert [(c.name, json.loads(c.arguments)) for c in ours] == [
        (c.name, json.loads(c.arguments)) for c in theirs
    ]


def test_frame_labels_move_in_front_of_their_frames():
    from PIL import Image

    from longvt_plugins.verl.agent_loop import interleave_frame_labels
    from longvt_plugins.verl.names import FRAME_LABEL_KEY

    frames = [Image.new("RGB", (28, 28)) for _ in range(2)]
    for frame, label in zip(frames, ["<1.0s>", "<2.5s>"], strict=True):
        frame.info[FRAME_LABEL_KEY] = label
    messages = [
        {"role": "user", "content": [{"type": "image", "image": frames[0]}]},  # not a tool turn: untouched
        {
            "role": "tool",
            "content": [{"type": "image", "image": f} for f in frames] + [{"type": "text", "text": "s"}],
        },
    ]
    interleave_frame_labels(messages)
    assert len(messages[0]["content"]) == 1
    assert [p.get("text", "img") for p in messages[1]["content"]] == ["<1.0s>", "img", "<2.5s>", "img", "s"]
