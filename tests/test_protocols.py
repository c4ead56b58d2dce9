"""The Protocol object: names, card, overrides, server sizing, wire shape and the scoring chain."""

from __future__ import annotations

import json

import pytest

from longvt_plugins.core.protocols import LONGVT_PLUGINS, UPSTREAM, get_protocol, protocol_names
from longvt_plugins.core.protocols.context import (
    clamp_new_tokens,
    is_context_error,
    serve_limits,
    serve_limits_all,
)
from longvt_plugins.core.protocols.messages import shape_request, tool_content, user_text
from longvt_plugins.core.protocols.scoring import JudgeUnreachable, Verdict, score_answer


def test_named_protocols_and_aliases():
    assert protocol_names() == ["upstream", "longvt-plugins", "longvt-tools"]
    assert get_protocol("custom") is LONGVT_PLUGINS
    assert get_protocol("paper") is UPSTREAM  # the old name's purpose: numbers comparable with the paper
    with pytest.raises(ValueError, match="known"):
        get_protocol("nope")


def test_card_covers_every_field_and_changes_with_any_of_them():
    card = UPSTREAM.card()
    for key in (
        "prompts",
        "presentation",
        "tool",
        "skim",
        "crop",
        "tokens",
        "scoring",
        "chat_template",
        "wire",
    ):
        assert key in card
    assert set(card["prompt_sha256"]) >= {"upstream_tool", "upstream_think_system", "upstream_video_path"}
    assert card["id"] == UPSTREAM.card()["id"]  # deterministic
    assert card["id"] != LONGVT_PLUGINS.card()["id"]
    assert UPSTREAM.for_model("x/LongVT-SFT").card()["id"] != card["id"]
    json.dumps(card)


def test_overrides_rename_the_protocol():
    changed = UPSTREAM.with_overrides(skim_max_frames=64, max_model_len=32768)
    assert changed.name == "upstream+custom"
    assert changed.skim.max_frames == 64 and changed.tokens.max_model_len == 32768
    assert UPSTREAM.with_overrides(skim_max_frames=None) is UPSTREAM
    with pytest.raises(ValueError):
        UPSTREAM.with_overrides(skim_colour=1)


def test_sft_checkpoint_gets_512_frames():
    assert UPSTREAM.for_model("longvideotool/LongVT-SFT").skim.max_frames == 512
    assert UPSTREAM.for_model("longvideotool/LongVT-RFT").skim.max_frames == 768


def test_serve_limits_follow_the_protocol():
    lim = serve_limits(UPSTREAM, "tool")
    # 768 skim frames + 5 assumed crops x 128 frames; 50,176 px = 64 visual tokens (+2 markers) per frame.
    assert lim.images == 768 + 5 * 128
    assert lim.skim_tokens == 768 * 66
    assert lim.max_model_len == 128000
    ours = serve_limits(LONGVT_PLUGINS, "think")
    assert ours.images == 64 and ours.crops_assumed == 0
    assert serve_limits_all(LONGVT_PLUGINS).images == 64 + 5 * 128
    assert serve_limits_all(UPSTREAM).vllm_args()[:2] == [
        "--limit-mm-per-prompt",
        '{"image": 1408, "video": 0}',
    ]


def test_clamp_and_context_errors():
    assert clamp_new_tokens(49152, 100000, 128000) == 28000 - 256  # a margin for the server's own count
    assert clamp_new_tokens(4096, 130000, 128000) == 0
    assert is_context_error(
        "This model's maximum context length is 32768 tokens. However, you requested 40000"
    )
    assert is_context_error("At most 768 image(s) may be provided in one prompt.")
    assert not is_context_error("invalid api key")


def test_user_text_per_benchmark_and_style():
    assert user_text(UPSTREAM, "tool", "Q?").endswith(
        "Q? Think first, call **crop_video** if needed, then "
        "answer. Format strictly as:  <think>...</think>  "
        "<tool_call>...</tool_call> (if tools needed)  "
        "<answer>...</answer>."
    )
    assert user_text(UPSTREAM, "tool", "Q?", benchmark="videomme") == "Q?"
    assert user_text(UPSTREAM, "think", "Q?") == "Q?"
    assert (
        user_text(UPSTREAM, "non_think", "Q?")
        == "Q? Answer the question directly with a short answer or phrase"
    )
    # The multiple-choice benchmarks' non-think rows are lmms-eval's built-in tasks: their framing is the whole
    # prompt (tests/test_upstream_prompts.py), nothing follows it; the question keeps its whitespace.
    for bench in ("videomme", "lvbench", "videommmu"):
        assert user_text(UPSTREAM, "non_think", " Q? ", benchmark=bench, multiple_choice=True) == " Q? "


def test_upstream_wire_splits_assistant_turns_and_keeps_two_params():
    request = {
        "model": "m",
        "messages": [
            {"role": "user", "content": "q"},
            {
                "role": "assistant",
                "content": "<think>look</think>",
                "tool_calls": [
                    {"id": "c1", "type": "function", "function": {"name": "crop_video", "arguments": "{}"}}
                ],
            },
            {"role": "tool", "tool_call_id": "c1", "content": [{"type": "text", "text": "x"}]},
        ],
        "max_tokens": 10,
        "temperature": 0.0,
        "top_p": 1.0,
        "seed": 3,
        "tools": [],
        "tool_choice": "auto",
    }
    body = shape_request(UPSTREAM, request)
    assert set(body) == {"model", "messages", "max_tokens", "temperature", "tools", "tool_choice"}
    roles = [m["role"] for m in body["messages"]]
    assert roles == ["user", "assistant", "assistant", "tool"]
    assert body["messages"][0]["content"] == [{"type": "text", "text": "q"}]
    assert body["messages"][1] == {"role": "assistant", "content": "<think>look</think>"}
    assert "content" not in body["messages"][2]
    assert body["messages"][3] == {
        "role": "tool",
        "name": "crop_video",
        "content": [{"type": "text", "text": "x"}],
    }
    assert shape_request(LONGVT_PLUGINS, request)["messages"] == request["messages"]


def test_tool_content_wording():
    from PIL import Image

    from longvt_plugins.core.crop_tool import CropResult

    frames = [Image.new("RGB", (28, 28)) for _ in range(2)]
    ok = CropResult(ok=True, text="summary", frames=frames, timestamps=[1.0, 2.0], window=(1.0, 2.0))
    assert [p["type"] for p in tool_content(UPSTREAM, ok)] == ["image", "image"]  # frames, no text
    ours = tool_content(LONGVT_PLUGINS, ok)
    assert [p.get("text") for p in ours if p["type"] == "text"] == ["<1.0s>", "<2.0s>", "summary"]
    bad = CropResult(ok=False, text="end_time must be > start_time", error="window")
    assert tool_content(UPSTREAM, bad) == [
        {"type": "text", "text": "Error executing tool crop_video: end_time must be > start_time"}
    ]


# ------------------------------------------------------------------------------------------ scoring chain
class RecordingJudge:
    def __init__(self, score=1.0, unreachable=False):
        self.calls, self.score, self.unreachable = [], score, unreachable

    def __call__(self, question, answer, ground_truth):
        self.calls.append((question, answer, ground_truth))
        return Verdict(self.score, unreachable=self.unreachable, reason="down" if self.unreachable else "")


def test_multiple_choice_is_decided_by_the_letter_whatever_the_judge_says():
    # Ours only: upstream runs its whole chain on multiple choice too (tests/test_upstream_scoring_differential.py).
    judge = RecordingJudge(score=1.0)
    s = score_answer(
        LONGVT_PLUGINS.scoring, "B", "C", question="q", options="ABCD", judge=judge, calibrate=True
    )
    assert s.acc == 0.0 and s.method == "choice" and s.judge_agrees is False
    s = score_answer(
        LONGVT_PLUGINS.scoring, "C. red", "C", question="q", options="ABCD", judge=judge, calibrate=True
    )
    assert s.acc == 1.0 and s.judge_agrees is True
    assert len(judge.calls) == 2
    quiet = RecordingJudge()
    score_answer(LONGVT_PLUGINS.scoring, "C", "C", question="q", options="ABCD", judge=quiet)
    assert quiet.calls == []  # no calibration asked: the judge is not called


def test_rule_and_math_verify_answers_never_reach_the_judge():
    judge = RecordingJudge(score=0.0)
    assert score_answer(UPSTREAM.scoring, "a red car", "red car", question="q", judge=judge).method == "rule"
    s = score_answer(UPSTREAM.scoring, "\\frac{1}{2}", "0.5", question="q", judge=judge)
    assert s.method == "math_verify" and s.acc == 1.0
    assert judge.calls == []
    s = score_answer(
        UPSTREAM.scoring, "a crimson automobile", "red car", question="q", judge=RecordingJudge(1.0)
    )
    assert s.method == "judge" and s.acc == 1.0


def test_unreachable_judge_stops_unless_rule_fallback():
    down = RecordingJudge(unreachable=True)
    with pytest.raises(JudgeUnreachable, match="judge-fallback rule"):
        score_answer(LONGVT_PLUGINS.scoring, "crimson", "red", question="q", judge=down)
    s = score_answer(LONGVT_PLUGINS.scoring, "crimson", "red", question="q", judge=down, fallback="rule")
    assert s.fallback and s.method == "rule_fallback" and s.acc == 0.0
    with pytest.raises(JudgeUnreachable):
        score_answer(LONGVT_PLUGINS.scoring, "B", "B", question="q", options="AB", judge=down, calibrate=True)


def test_replay_scores_identically():
    judge = RecordingJudge(score=1.0)
    items = [("B", "B", "AB"), ("red", "red", None), ("crimson", "red", None), (None, "A", "AB")]
    first = [score_answer(UPSTREAM.scoring, a, g, question="q", options=o, judge=judge) for a, g, o in items]
    second = [score_answer(UPSTREAM.scoring, a, g, question="q", options=o, judge=judge) for a, g, o in items]
    assert first == second


def test_session_clamps_each_request_to_the_context_left():
    from PIL import Image

    from longvt_plugins.core.protocols.session import ProtocolSession

    frame = Image.new("RGB", (224, 224))  # 64 visual tokens + 2 markers
    msgs = [
        {
            "role": "user",
            "content": [{"type": "image", "image": frame}] * 10 + [{"type": "text", "text": "q"}],
        }
    ]
    s = ProtocolSession(UPSTREAM, "tool", max_model_len=55_000)
    assert s.turn_cap() == 64 and s.max_tool_calls() is None
    room, stop = s.next_request(msgs, s.tools(), 0)
    assert stop is None and room == 49152  # ~850 prompt tokens leave room for the full budget
    s.observe(1, prompt_tokens=10_000, completion_tokens=500)
    msgs += [
        {"role": "assistant", "content": "x"},
        {"role": "tool", "content": [{"type": "image", "image": frame}]},
    ]
    room, stop = s.next_request(msgs, s.tools(), 500)
    assert stop is None and 55_000 - 10_500 - 66 - 20 - 256 < room < 55_000 - 10_500 - 66 - 256
    s.observe(3, prompt_tokens=54_990, completion_tokens=10)
    assert s.next_request(msgs, s.tools(), 510) == (0, "context_exhausted")
    few = ProtocolSession(UPSTREAM, "tool", max_images=5)
    assert few.next_request(msgs, few.tools(), 0) == (0, "context_exhausted")
    ours = ProtocolSession(LONGVT_PLUGINS.with_overrides(max_total_tokens=16384), "tool")
    assert ours.next_request(msgs[:1], ours.tools(), 16384) == (0, "token_budget")
    assert ours.next_request(msgs[:1], ours.tools(), 15000)[0] == 16384 - 15000  # the trajectory's budget
    refusal = (
        "maximum context length is 55000 tokens. However, you requested 60000 tokens (54000 in the messages"
    )
    assert s.retry_room(refusal, 6000) == 55_000 - 54_000 - 256
    assert s.retry_room("request has 54900 input tokens", 6000) is None  # nothing fits
    assert s.retry_room("At most 3 image(s)", 6000) is None


def test_serve_args_command_prints_vllm_flags_from_the_protocol():
    from typer.testing import CliRunner

    from longvt_plugins.cli import app

    out = CliRunner().invoke(app, ["eval", "serve-args", "--protocol", "upstream", "--no-template"])
    assert out.exit_code == 0, out.output
    assert (
        out.output.strip() == "--chat-template-content-format openai "
        """--limit-mm-per-prompt '{"image": 1408, "video": 0}' --max-model-len 128000"""
    )
    with_template = CliRunner().invoke(app, ["eval", "serve-args", "--protocol", "upstream"]).output.split()
    assert with_template[0] == "--chat-template" and with_template[1].endswith(
        "qwen2_5_vl_tools_compact.jinja"
    )
    sft = CliRunner().invoke(app, ["eval", "serve-args", "--model", "org/LongVT-SFT", "--json"])
    assert json.loads(sft.output)["images"] == 512 + 5 * 128
    bad = CliRunner().invoke(app, ["eval", "serve-args", "--protocol", "fast"])
    assert bad.exit_code != 0


def test_eval_card_says_how_the_initial_video_is_shown():
    """Our SFT rows show the skim as timestamped frames (`as_frames`); the card records what eval showed."""
    from longvt_plugins.lmms_eval.protocol import build_card

    def card(protocol):
        return build_card(protocol=protocol, model={}, style="tool", tool_parser="hermes", judge={})

    assert card(LONGVT_PLUGINS)["initial_video"].startswith("timestamped frames")
    assert "without timestamp labels" in card(UPSTREAM)["initial_video"]
    assert card(LONGVT_PLUGINS)["id"] != card(UPSTREAM)["id"]
