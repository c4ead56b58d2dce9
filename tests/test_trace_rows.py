"""Row checks that run before any decode: every malformed row is a BadRow naming the row and the reason."""

from __future__ import annotations

import json

import pytest

from longvt_plugins.core.trace_rows import BadRow, CropReplay, VideoRef, parse_row, row_id_of


def _row(messages, **extra):
    return {"id": "r1", "messages": messages, **extra}


USER = {
    "role": "user",
    "content": [{"type": "video_url", "video_url": {"url": "/v.mp4"}}, {"type": "text", "text": "q"}],
}


def test_structured_and_inline_tool_calls_are_parsed_and_replay_is_bound_to_the_call():
    msgs = [
        USER,
        {
            "role": "assistant",
            "content": "<think>a</think>",
            "tool_calls": [
                {
                    "type": "function",
                    "function": {"name": "crop_video", "arguments": '{"start_time": 1, "end_time": 3}'},
                }
            ],
        },
        {"role": "tool", "replay": True},
        {
            "role": "assistant",
            "content": '<tool_call>{"name": "crop_video", "arguments": {"start_time": 4, "end_time": 6}}</tool_call>',
        },
        {"role": "tool", "replay": True},
        {"role": "assistant", "content": "<answer>x</answer>"},
    ]
    row = parse_row(_row(json.dumps(msgs)), "r1")
    crops = [m for m in row.media if isinstance(m, CropReplay)]
    assert [c.arguments for c in crops] == [
        {"start_time": 1, "end_time": 3},
        {"start_time": 4, "end_time": 6},
    ]
    # bound to the row's video, never to a path the model wrote
    assert all(c.video == "/v.mp4" for c in crops)
    assert row.messages[1]["tool_calls"][0]["function"]["arguments"] == {"start_time": 1, "end_time": 3}
    assert isinstance(row.media[0], VideoRef)


def test_arrow_null_fields_are_ignored():
    # What a parquet / jsonl struct column gives back when parts of different shapes share one schema.
    msgs = [
        {
            "role": "user",
            "content": [{"type": "text", "text": "q", "image_url": None, "video_url": None}],
            "tool_calls": None,
        },
        {
            "role": "assistant",
            "content": [{"type": "text", "text": "a", "image_url": None, "video_url": None}],
        },
    ]
    row = parse_row(_row(msgs), "r1")
    assert row.messages[0]["content"] == [{"type": "text", "text": "q"}]


@pytest.mark.parametrize(
    "messages, reason",
    [
        ([], "empty conversation"),
        (None, "empty conversation"),
        ("{not json", "not valid JSON"),
        ([USER], "no assistant turn"),
        ([USER, {"role": "robot", "content": "x"}], "unknown role"),
        (
            [USER, {"role": "assistant", "content": "<tool_call>{bad json</tool_call>"}],
            "malformed <tool_call>",
        ),
        (
            [
                USER,
                {
                    "role": "assistant",
                    "content": "",
                    "tool_calls": [{"function": {"name": "crop_video", "arguments": "{oops"}}],
                },
            ],
            "not valid JSON",
        ),
        (
            [USER, {"role": "tool", "replay": True}, {"role": "assistant", "content": "a"}],
            "answers no tool call",
        ),
        (
            [
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "video_url",
                            "video_url": {"url": "/v.mp4", "video_start": 5, "video_end": 2},
                        }
                    ],
                },
                {"role": "assistant", "content": "a"},
            ],
            "video_end",
        ),
        (
            [USER, {"role": "assistant", "content": [{"type": "image_url", "image_url": {"url": "x.png"}}]}],
            "only hold text",
        ),
        (
            [{"role": "user", "content": [{"type": "audio_url"}]}, {"role": "assistant", "content": "a"}],
            "unknown content part",
        ),
    ],
)
def test_malformed_rows_name_the_row_and_the_reason(messages, reason):
    with pytest.raises(BadRow) as err:
        parse_row(_row(messages), "shard3#17")
    assert err.value.row_id == "shard3#17"
    assert reason in err.value.reason
    assert "shard3#17" in str(err.value)


def test_row_id_falls_back_to_the_position():
    assert row_id_of({"id": "abc"}, "#3") == "abc"
    assert row_id_of({"id": ""}, "#3") == "#3"
    assert row_id_of({}, "#3") == "#3"


def test_a_loss_span_trains_only_that_piece_of_the_turn(tiny_model_dir):
    # A drill row: the real prompt, then a turn whose loss is on one word (the rest of the turn is context).
    from transformers import AutoProcessor

    from longvt_plugins.lmms_engine import render

    turn = "<think>Asked: red. Skim: 0s red: found.</think>"
    row = parse_row(_row([{"role": "user", "content": "Which colour flashes during the red scene?"},
                          {"role": "assistant", "content": turn, "loss_span": " red"}]), "r")  # fmt: skip
    processor = AutoProcessor.from_pretrained(tiny_model_dir)
    ids, labels = render.encode(processor, row.messages, image_tokens=[], video_tokens=[])
    tok = processor.tokenizer
    assert tok.decode([t for t, lab in zip(ids, labels, strict=True) if lab != render.IGNORE]) == " red"
    # the cut turn tokenizes exactly as the whole turn does (the span sits between word boundaries)
    plain = dict(row.messages[1])
    plain.pop("loss_span")
    whole, whole_labels = render.encode(processor, [row.messages[0], plain], image_tokens=[], video_tokens=[])
    assert ids == whole and sum(lab != render.IGNORE for lab in whole_labels) > 10
    # the last occurrence carries the loss; "" makes the whole turn context
    last = parse_row(_row([{"role": "user", "content": "q"},
                           {"role": "assistant", "content": turn, "loss_span": " red"}]), "r")  # fmt: skip
    ids, labels = render.encode(processor, last.messages, image_tokens=[], video_tokens=[])
    trained = [i for i, lab in enumerate(labels) if lab != render.IGNORE]
    assert tok.decode([ids[i] for i in trained]) == " red"
    assert tok.decode(ids[: trained[0]]).endswith("Skim: 0s")  # "Skim: 0s red", not "Asked: red"
    none = parse_row(_row([{"role": "user", "content": "q"},
                           {"role": "assistant", "content": turn, "loss_span": ""}]), "r")  # fmt: skip
    assert set(render.encode(processor, none.messages, image_tokens=[], video_tokens=[])[1]) == {
        render.IGNORE
    }
    with pytest.raises(BadRow, match="loss_span"):
        parse_row(_row([{"role": "user", "content": "q"},
                        {"role": "assistant", "content": turn, "loss_span": " blue"}]), "r")  # fmt: skip
