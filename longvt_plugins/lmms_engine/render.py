"""Render a trace with our tool chat template and give every token its loss label.

Why not lmms-engine's own renderer: it encodes each message on its own with a template that ignores `tools`,
renders a `tool` turn as `<|im_start|>tool` and trains on it, and unmasks every special token everywhere. We render
the whole conversation with the same template the verl rollout and the eval server use, and cut it at group
boundaries (consecutive tool messages are one user turn, as the template merges them). Each cut is tokenized on its
own, exactly as the rollout tokenizes it: the prompt (and each tool turn) through the template, the generation
prompt `<|im_start|>assistant\\n` apart from what the model generated after it.

Trained tokens = what the policy generates in RL: an assistant turn's content and its closing `<|im_end|>`.
Everything else is -100: system, user, tool responses, the `<|im_start|>assistant\\n` header, the newline after
`<|im_end|>`, and every vision token.
An assistant message with `loss_span` (a piece of its text) is trained on the last occurrence of that piece
only: the rest of the turn, its `<|im_end|>` included, is context (a drill that teaches one step of a turn in the
turn's own prompt); `loss_span: ""` makes the whole turn context.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

IGNORE = -100
ASSISTANT_HEADER = "<|im_start|>assistant\n"
TURN_END = "<|im_end|>"


class TemplateError(ValueError):
    """The chat template does not render append-only, so turns cannot be cut out of it."""


@dataclass
class Segment:
    text: str
    trained: bool


def _groups(messages: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    groups: list[list[dict[str, Any]]] = []
    for m in messages:
        if groups and m["role"] == "tool" and groups[-1][-1]["role"] == "tool":
            groups[-1].append(m)
        else:
            groups.append([m])
    return groups


def template_view(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Only what the template reads (role, content parts, tool_calls); placeholder refs are dropped."""
    view = []
    for m in messages:
        parts = [
            {"type": p["type"], **({"text": p["text"]} if p["type"] == "text" else {})} for p in m["content"]
        ]
        v = {"role": m["role"], "content": parts}
        if m.get("tool_calls"):
            v["tool_calls"] = m["tool_calls"]
        if m.get("loss_span") is not None:
            v["loss_span"] = m["loss_span"]  # not read by the template; `segments` cuts the turn with it
        view.append(v)
    return view


def segments(
    processor, messages: list[dict[str, Any]], tools=None, chat_template: str | None = None
) -> list[Segment]:
    """Cut the rendered conversation into trained / not-trained text segments (see the module docstring)."""
    msgs = template_view(messages)

    def render(upto: list[dict[str, Any]]) -> str:
        return processor.apply_chat_template(
            upto, tools=tools, chat_template=chat_template, tokenize=False, add_generation_prompt=False
        )

    out: list[Segment] = []
    done: list[dict[str, Any]] = []
    prev = ""
    for group in _groups(msgs):
        done = done + group
        text = render(done)
        if not text.startswith(prev):
            raise TemplateError(f"rendering is not append-only at a {group[0]['role']} turn")
        delta, prev = text[len(prev) :], text
        if group[0]["role"] != "assistant":
            out.append(Segment(delta, False))
            continue
        if not delta.startswith(ASSISTANT_HEADER) or TURN_END not in delta:
            raise TemplateError("an assistant turn must render as <|im_start|>assistant\\n ... <|im_end|>")
        body_end = delta.rindex(TURN_END) + len(TURN_END)
        out.append(Segment(ASSISTANT_HEADER, False))
        body = delta[len(ASSISTANT_HEADER) : body_end]
        span = group[0].get("loss_span")
        if span == "":
            out.append(Segment(body, False))
        elif span:
            at = body.rfind(span)
            if at < 0:
                raise TemplateError(f"loss_span {span!r} is not in the rendered turn")
            out.extend(
                s
                for s in (
                    Segment(body[:at], False),
                    Segment(span, True),
                    Segment(body[at + len(span) :], False),
                )
                if s.text
            )
        else:
            out.append(Segment(body, True))
        if delta[body_end:]:
            out.append(Segment(delta[body_end:], False))
    return out


VIDEO_SLOT = "<|vision_start|><|video_pad|><|vision_end|>"


def _timed_videos(text: str, video_labels: list[list[str]], start: int) -> tuple[str, int]:
    """Qwen3-VL: each video slot becomes one slot per temporal patch, each after its time label, as its
    processor writes it (`<t seconds><|vision_start|><|video_pad|><|vision_end|>` per patch)."""
    pieces = text.split(VIDEO_SLOT)
    out, k = [pieces[0]], start
    for piece in pieces[1:]:
        if k >= len(video_labels):
            raise ValueError("the template rendered more video slots than the sample has videos")
        out.append("".join(label + VIDEO_SLOT for label in video_labels[k]) + piece)
        k += 1
    return "".join(out), k


def encode(
    processor,
    messages: list[dict[str, Any]],
    *,
    image_tokens: list[int],
    video_tokens: list[int],
    tools=None,
    chat_template: str | None = None,
    video_labels: list[list[str]] | None = None,
) -> tuple[list[int], list[int]]:
    """Token ids and labels of a conversation, vision pads expanded to each item's token count, in order.

    `video_labels` (Qwen3-VL): per video, the time label of each temporal patch; each video then renders as one
    slot per patch and `video_tokens` holds one count per patch (all videos' patches, in order)."""
    tok = processor.tokenizer
    image_id = tok.convert_tokens_to_ids(processor.image_token)
    video_id = tok.convert_tokens_to_ids(processor.video_token)
    ids: list[int] = []
    labels: list[int] = []
    n_img = n_vid = 0
    n_timed = 0
    for seg in segments(processor, messages, tools, chat_template):
        text = seg.text
        if video_labels is not None and VIDEO_SLOT in text:
            text, n_timed = _timed_videos(text, video_labels, n_timed)
        for t in tok(text, add_special_tokens=False)["input_ids"]:
            if t == image_id or t == video_id:
                counts, k = (image_tokens, n_img) if t == image_id else (video_tokens, n_vid)
                if k >= len(counts):
                    kind = "image" if t == image_id else "video"
                    raise ValueError(f"the template rendered more {kind} slots than the sample has {kind}s")
                ids.extend([t] * counts[k])
                labels.extend([IGNORE] * counts[k])
                if t == image_id:
                    n_img += 1
                else:
                    n_vid += 1
                continue
            ids.append(t)
            labels.append(t if seg.trained else IGNORE)
    if n_img != len(image_tokens) or n_vid != len(video_tokens):
        raise ValueError(
            f"the sample has {len(image_tokens)} images / {len(video_tokens)} videos but the template rendered "
            f"{n_img} / {n_vid} slots"
        )
    return ids, labels
