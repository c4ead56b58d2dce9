"""The v2 recipe's data step (`miniature.v2.train.build_training_rows`): sharded render + traces + drills, every
row valid for the lmms-engine dataset (the same checks it runs), and the SFT command it feeds resumable."""

from __future__ import annotations

import json

import pytest


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    from longvt_plugins.miniature.v2.train import build_training_rows

    work = tmp_path_factory.mktemp("v2train")
    return work, build_training_rows(work, 3, shards=2)


def test_training_rows_are_traces_repeated_plus_drills_and_all_valid(data):
    from longvt_plugins.core.row_kinds import check_sft_row
    from longvt_plugins.core.rowfile import check_rows
    from longvt_plugins.miniature.v2.train import ASKED_REPEATS, TRACE_REPEATS

    work, report = data
    assert report["traces"] == 3 and report["rejected"] == {} and report["drills"] > 3
    # one one-frame drill per colour a trace shows, plus its skim/crop listings: drills stay a minority
    assert report["drills"] < 12 * report["traces"]
    train = check_rows(report["paths"]["train"], check_sft_row)  # raises on the first bad row
    assert len(train.rows) == TRACE_REPEATS * report["traces"] + report["drills"]
    assert json.loads((work / "data" / "report.json").read_text()) == report
    # each trace's asked drill (the loss on the asked colour alone), ASKED_REPEATS times
    drills = [row for _, row in check_rows(report["paths"]["drills"]).rows]
    asked = [d for d in drills if d["id"].endswith("-asked")]
    assert len(asked) == ASKED_REPEATS * report["traces"]
    assert all(
        d["messages"][-1]["loss_span"].strip() in d["messages"][-1]["content"][0]["text"] for d in asked
    )
    # shards render disjoint videos: three distinct traces, ids from both shards
    ids = [row["id"] for _, row in check_rows(report["paths"]["traces"]).rows]
    assert len(set(ids)) == 3


def test_sft_passes_the_gpu_settings_to_the_trainer_and_resumes(data, monkeypatch):
    """What `sft --gpu` hands the trainer (`run.train`, which the v1 tests run for real on CPU): no CPU shims,
    the CUDA overrides, and no wipe of an interrupted run."""
    from longvt_plugins.miniature import run
    from longvt_plugins.miniature.v2 import train

    seen = []
    monkeypatch.setattr(run, "train", lambda *a, **kw: seen.append((a, kw)) or {"wall_s": 0, "history": []})
    monkeypatch.setattr("longvt_plugins.miniature.v2.student.make_student_v2", lambda out, size, **kw: out)
    monkeypatch.setattr("longvt_plugins.miniature.v2.student.parameter_count", lambda path: 0)
    work, _ = data
    train.sft(work, "s", drill_steps=2, steps=3, gpu=True)
    (drills_args, drills_kw), (sft_args, sft_kw) = seen
    assert drills_kw["steps"] == 2 and sft_kw["steps"] == 3
    assert all(kw["cpu"] is False and kw["fresh"] is False for kw in (drills_kw, sft_kw))
    assert set(train.GPU_OVERRIDES) <= set(sft_kw["overrides"])
    assert sft_args[0] == work / "sft-s-drills"  # stage 2 starts from stage 1


def test_frame_marker_keeps_each_frames_colour_and_adds_one_shared_frame_direction(tmp_path):
    """`calibrate_projector(frame_marker=1)`: a palette frame's token is still its colour word's direction (the
    largest cosine among the palette words, the same norm) plus one direction shared by every frame and orthogonal
    to every palette word, so a frame of red and the word " red" no longer coincide after the layer norm."""
    import torch
    from PIL import Image
    from transformers import AutoProcessor, Qwen2_5_VLForConditionalGeneration

    from longvt_plugins.miniature.model import IMAGE_FEATURE_NORM
    from longvt_plugins.miniature.task import FRAME_PIXELS, PALETTE, colour_frame
    from longvt_plugins.miniature.v2.student import make_student_v2

    cos = torch.nn.functional.cosine_similarity
    seen = {}
    for marker in (0.0, 1.0):
        path = make_student_v2(tmp_path / f"m{marker:g}", "xs", frame_marker=marker)
        model = Qwen2_5_VLForConditionalGeneration.from_pretrained(path)
        proc = AutoProcessor.from_pretrained(path)
        side = int(FRAME_PIXELS**0.5)
        frames = [Image.fromarray(colour_frame(n)).resize((side, side)) for n in PALETTE]
        px = proc.image_processor(
            images=frames, return_tensors="pt", min_pixels=FRAME_PIXELS, max_pixels=FRAME_PIXELS
        )
        with torch.no_grad():
            out = model.model.visual(px["pixel_values"], grid_thw=px["image_grid_thw"])
            tokens = getattr(out, "pooler_output", out)
            ids = [proc.tokenizer.encode(" " + n, add_special_tokens=False)[0] for n in PALETTE]
            words = model.get_input_embeddings().weight[ids]
        sims = cos(tokens[:, None], words[None], dim=-1)  # (frame, word)
        assert torch.equal(sims.argmax(1), torch.arange(len(PALETTE)))  # each frame reads as its own colour
        assert torch.allclose(tokens.norm(dim=-1), torch.full((len(PALETTE),), IMAGE_FEATURE_NORM), atol=1e-2)
        seen[marker] = (tokens, words, sims.diagonal())
    assert torch.allclose(seen[0.0][2], torch.ones(len(PALETTE)), atol=1e-3)  # no marker: frame == word
    tokens, words, diag = seen[1.0]
    assert torch.allclose(diag, torch.full_like(diag, 2**-0.5), atol=1e-3)  # half colour, half "frame"
    basis, _ = torch.linalg.qr(words.T)
    rest = tokens - (tokens @ basis) @ basis.T  # what is left outside the palette words' span
    assert torch.allclose(cos(rest, rest[:1], dim=-1), torch.ones(len(PALETTE)), atol=1e-3)


def test_tie_case_starts_each_cased_colour_next_to_its_lower_case_word(tmp_path):
    """`tie_case_variants`: " Red" / " RED" (own tokens of the v2 BPE) start as " red" plus one direction per case
    style, so a copy of the question's " RED" already points at " red"; other words stay unrelated."""
    import torch
    from transformers import AutoTokenizer, Qwen2_5_VLForConditionalGeneration

    from longvt_plugins.miniature.task import SCENE_COLOURS
    from longvt_plugins.miniature.v2.student import make_student_v2

    cos = torch.nn.functional.cosine_similarity
    tied, plain = (make_student_v2(tmp_path / n, "xs", tie_case=t) for n, t in (("t", True), ("p", False)))
    for path, low in ((tied, 0.8), (plain, None)):
        emb = Qwen2_5_VLForConditionalGeneration.from_pretrained(path).get_input_embeddings().weight.detach()
        tok = AutoTokenizer.from_pretrained(path)
        one = lambda w, tok=tok: tok.encode(" " + w, add_special_tokens=False)[0]  # noqa: E731
        for word in SCENE_COLOURS:
            for cased in (word.capitalize(), word.upper()):
                sim = float(cos(emb[one(word)], emb[one(cased)], dim=0))
                assert (sim > low) if low else (abs(sim) < 0.5), (word, cased, sim)
        # a different colour's cased form stays far from this colour
        assert abs(float(cos(emb[one("red")], emb[one("Blue")], dim=0))) < 0.5


def test_v2_sft_row_renders_the_same_prompt_and_frames_as_the_agent(data, tmp_path):
    """A v2 trace row (64-frame skim, then a crop) shows the student what run_agent shows it at evaluation: the
    same text and the same frames, so a trained listing names the frames the evaluated model sees."""
    import numpy as np

    from longvt_plugins.core.agent import run_agent
    from longvt_plugins.core.backends import AssistantTurn, TransformersBackend, Usage, turn_from_text
    from longvt_plugins.core.rowfile import check_rows
    from longvt_plugins.core.trace_rows import parse_row
    from longvt_plugins.lmms_engine.media import MediaLoader
    from longvt_plugins.lmms_engine.processor import longvt_template
    from longvt_plugins.miniature.v2.layout import agent_budgets
    from longvt_plugins.miniature.v2.student import make_student_v2

    work, report = data
    rows = [row for _, row in check_rows(report["paths"]["traces"]).rows]
    row = next(r for r in rows if any(m["role"] == "tool" for m in r["messages"]))
    assistant = [m for m in row["messages"] if m["role"] == "assistant"]
    user = next(m for m in row["messages"] if m["role"] == "user")
    video = next(p["video_url"]["url"] for p in user["content"] if p["type"] == "video_url")
    question = user["content"][-1]["text"].split("\n")[1]
    real = TransformersBackend(make_student_v2(tmp_path / "student", "xs"), device="cpu")
    seen: list = []

    class Replay:  # renders with the real backend, answers with the teacher's recorded turns
        patch_size = real.patch_size

        def describe(self):
            return {"name": "replay"}

        def generate(self, messages, tools, params) -> AssistantTurn:
            seen.append(real.render(messages, tools))
            m = assistant[len(seen) - 1]
            text = m["content"][0]["text"]
            for c in m.get("tool_calls", []):
                a = c["function"]["arguments"]
                text += "\n<tool_call>\n" + json.dumps({"name": "crop_video", "arguments": {
                    "start_time": a["start_time"], "end_time": a["end_time"]}}) + "\n</tool_call>"  # fmt: skip
            return turn_from_text(text, usage=Usage(0, 1), finish_reason="stop")

    trace = run_agent(video, question, Replay(), agent_budgets())
    assert trace.stop_reason == "answer" and len(seen) == 2
    parsed = parse_row(row, row["id"])
    material = MediaLoader(None).load(parsed)
    sft_text = real.processor.tokenizer.apply_chat_template(
        material.messages, tools=parsed.tools, chat_template=longvt_template(), tokenize=False
    )
    final_prompt, final_images = seen[-1]
    assert sft_text.startswith(final_prompt)
    assert sft_text[len(final_prompt) :] == assistant[-1]["content"][0]["text"] + "<|im_end|>\n"
    assert len(material.images) == len(final_images) > 16 + 4  # the whole skim and the crop
    for a, b in zip(material.images, final_images, strict=True):
        assert np.array_equal(np.asarray(a), np.asarray(b))


def test_probe_scores_every_trained_token_of_each_turn_by_kind(data, tmp_path):
    """`v2.probe` on an untrained student: one asked colour per trace, turn 2 only for traces that crop, every
    trained token counted once, and no whole turn right (an untrained model reproduces none)."""
    from longvt_plugins.core.rowfile import check_rows
    from longvt_plugins.miniature.v2.probe import probe_rows
    from longvt_plugins.miniature.v2.student import make_student_v2

    _, report = data
    rows = [row for _, row in check_rows(report["paths"]["traces"]).rows]
    out = probe_rows(make_student_v2(tmp_path / "student", "xs"), rows)
    cropping = sum(any(m["role"] == "tool" for m in r["messages"]) for r in rows)
    assert out["rows"] == len(rows) and out["tokens"]["turn1/asked"] == len(rows)
    turn2 = sum(n for k, n in out["tokens"].items() if k.startswith("turn2/"))
    assert (turn2 > 0) == (cropping > 0)
    assert all(0.0 <= v <= 1.0 for v in out["token_accuracy"].values())
    assert out["turn_exact"]["turn1"] == 0.0
    # every digit of the listing's timestamps is a "digit" token, every skim reading a "colour" token
    first = [next(m for m in r["messages"] if m["role"] == "assistant")["content"][0]["text"] for r in rows]
    skim_words = sum(len(t.split("Skim:")[1].split(",")) for t in first)
    assert out["tokens"]["turn1/colour"] >= skim_words
