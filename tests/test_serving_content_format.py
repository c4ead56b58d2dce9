"""Our chat templates rendered in both of vLLM's content formats (issue 25 item 9).

vLLM hands a chat template either the message contents as OpenAI part lists ("openai") or flattened to one string
("string"). Facts about "string" (vllm/entrypoints/chat_utils.py, `_get_full_multimodal_text_prompt`, the default
`interleave_strings=False`, in vLLM 0.12 as in later releases): the text parts are joined with "\\n", and one
placeholder per image (Qwen2.5-VL: <|vision_start|><|image_pad|><|vision_end|>) is put in front, each followed by
"\\n". Which format a server uses is detected from the template unless `--chat-template-content-format` says it;
`longvt eval serve-args` now says "openai". This test shows what "string" would do to each protocol's first turn.
"""

from __future__ import annotations

from importlib import resources

from PIL import Image
from transformers.utils.chat_template_utils import render_jinja_template

from longvt_plugins.core.protocols import LONGVT_PLUGINS, UPSTREAM
from longvt_plugins.core.protocols.messages import initial_messages

PLACEHOLDER = "<|vision_start|><|image_pad|><|vision_end|>"


class _Info:
    duration, fps, num_frames = 12.0, 4.0, 48


def _first_turn(protocol):
    frames = [Image.new("RGB", (28, 28)) for _ in range(3)]
    messages = initial_messages(
        protocol,
        style="tool",
        question="What is shown?",
        frames=frames,
        timestamps=[0.0, 6.0, 11.0],
        info=_Info(),
        video_path="/v/clip.mp4",
        benchmark="videosiah",
    )
    # What vLLM gives the template in "openai" format: image parts reduced to {"type": "image"}.
    return [
        {**m, "content": [{"type": p["type"]} if p["type"] == "image" else p for p in m["content"]]}
        if isinstance(m["content"], list)
        else m
        for m in messages
    ]


def as_string_format(messages):
    """vLLM's "string" content format: placeholders first, then the texts joined with "\\n"."""
    out = []
    for m in messages:
        if not isinstance(m["content"], list):
            out.append(m)
            continue
        images = sum(p["type"] == "image" for p in m["content"])
        texts = "\n".join(p["text"] for p in m["content"] if p["type"] == "text")
        out.append({**m, "content": "\n".join([PLACEHOLDER] * images + [texts])})
    return out


def _render(protocol, messages):
    template = resources.files("longvt_plugins.templates").joinpath(protocol.chat_template).read_text()
    out, _ = render_jinja_template(
        conversations=[messages],
        tools=[protocol.tool_schema()],
        chat_template=template,
        add_generation_prompt=True,
    )
    return out[0]


def test_upstream_first_turn_gains_newlines_in_string_format():
    messages = _first_turn(UPSTREAM)
    openai, string = _render(UPSTREAM, messages), _render(UPSTREAM, as_string_format(messages))
    question = "What is shown? " + "Think first, call **crop_video** if needed"
    # openai: frames back to back, the question right after, the path line as written ("\nVideo 0 ...").
    assert PLACEHOLDER * 3 + question in openai
    assert "<answer>...</answer>.\nVideo 0 has video path: /v/clip.mp4" in openai
    # string: a newline after every frame, and one more between the question and the path line.
    assert (PLACEHOLDER + "\n") * 3 + question in string
    assert "<answer>...</answer>.\n\nVideo 0 has video path: /v/clip.mp4" in string
    assert openai != string


def test_ours_loses_its_timestamp_labels_beside_the_frames_in_string_format():
    messages = _first_turn(LONGVT_PLUGINS)
    openai, string = _render(LONGVT_PLUGINS, messages), _render(LONGVT_PLUGINS, as_string_format(messages))
    assert "<0.0s>" + PLACEHOLDER + "<6.0s>" + PLACEHOLDER + "<11.0s>" + PLACEHOLDER in openai
    # string: all frames first, then the labels as a list: no frame sits beside its time any more.
    assert (PLACEHOLDER + "\n") * 3 + "<0.0s>\n<6.0s>\n<11.0s>" in string
