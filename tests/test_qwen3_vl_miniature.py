"""The miniature recipe with a Qwen3-VL student (`python -m longvt_plugins.miniature all --arch qwen3_vl`): the
student is built with Qwen3-VL's classes, its projector puts each palette frame on its colour word (deepstack
silenced), the teacher's rows show the Qwen3-VL time labels exactly as the agent's prompt does, and the real
`longvt train sft` CLI trains it."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from longvt_plugins.core.families import QWEN3_VL
from longvt_plugins.miniature import task

SECONDS = re.compile(r"<(\d+\.\d) seconds>")


@pytest.fixture(scope="module")
def student(tmp_path_factory):
    from longvt_plugins.miniature.model import make_student

    return make_student(tmp_path_factory.mktemp("q3student") / "student", arch=QWEN3_VL)


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    return tmp_path_factory.mktemp("q3mini")


@pytest.fixture(scope="module")
def data(work, student):
    """Two questions through stage 7 and the exporter, the family read from the student's checkpoint."""
    from longvt_plugins.core.families import checkpoint_family
    from longvt_plugins.miniature import run

    out = run.build_data(work, "val", 2, direct_every=1, family=checkpoint_family(student))
    assert out["rejections"]["accepted"] == 2
    return out


def test_the_student_is_a_qwen3_vl_whose_frames_read_as_their_colour_words(student):
    import torch
    from PIL import Image
    from transformers import AutoProcessor, Qwen3VLForConditionalGeneration

    from longvt_plugins.core.families import checkpoint_family
    from longvt_plugins.miniature.model import IMAGE_FEATURE_NORM

    assert checkpoint_family(student) == QWEN3_VL
    model = Qwen3VLForConditionalGeneration.from_pretrained(student).eval()
    proc = AutoProcessor.from_pretrained(student)
    names = list(task.PALETTE)
    frames = [Image.fromarray(task.colour_frame(n)).resize((32, 32), Image.BICUBIC) for n in names]
    px = proc.image_processor(images=frames, return_tensors="pt")
    assert px["image_grid_thw"].tolist() == [[1, 2, 2]] * len(names)  # one visual token per frame
    with torch.no_grad():
        out = model.model.visual(px["pixel_values"], grid_thw=px["image_grid_thw"])
    tokens = out.pooler_output
    ids = [proc.tokenizer.encode(" " + n, add_special_tokens=False)[0] for n in names]
    words = model.get_input_embeddings().weight[ids].detach()
    cos = torch.nn.functional.cosine_similarity(tokens[:, None], words[None], dim=-1)
    # each frame's token points at its own colour word, far closer than at any other, at the calibrated scale
    assert torch.equal(cos.argmax(1), torch.arange(len(names)))
    assert float(cos.diagonal().min()) > 0.95
    assert abs(float(tokens.norm(dim=-1).mean()) - IMAGE_FEATURE_NORM) < 0.5
    # deepstack adds nothing to the LM's first layers (it would add random-tower noise to the frame's token)
    assert out.deepstack_features and all(float(f.abs().max()) == 0.0 for f in out.deepstack_features)


def test_sft_row_shows_the_qwen3_vl_labels_exactly_as_the_agent_prompt(work, student, data):
    """The teacher ran through stage 7 with the student's family: its listing names the `<t seconds>` labels the
    agent shows (one per pair of frames), and the SFT row renders to the agent's own prompt and frames."""
    from longvt_plugins.core.agent import run_agent
    from longvt_plugins.core.backends import AssistantTurn, TransformersBackend, Usage, turn_from_text
    from longvt_plugins.core.trace_rows import parse_row
    from longvt_plugins.lmms_engine.media import MediaLoader
    from longvt_plugins.miniature.teacher import parse_listing

    row = json.loads(open(data["sft"]).readline())
    item = next(i for i in task.make_split(work / "videos", "val", 2) if i.id == row["id"])
    assistant = [m for m in row["messages"] if m["role"] == "assistant"]

    real = TransformersBackend(student, device="cpu")
    assert real.family == QWEN3_VL
    seen: list[tuple[str, list]] = []

    class Replay:  # renders with the real backend, answers with the teacher's recorded turns
        patch_size = real.patch_size
        family = real.family

        def describe(self):
            return {"name": "replay"}

        def generate(self, messages, tools, params) -> AssistantTurn:
            seen.append(real.render(messages, tools))
            m = assistant[len(seen) - 1]
            text = m["content"][0]["text"]
            for c in m.get("tool_calls", []):
                args = {k: c["function"]["arguments"][k] for k in ("start_time", "end_time")}
                text += "\n<tool_call>\n" + json.dumps({"name": c["function"]["name"], "arguments": args})
                text += "\n</tool_call>"
            return turn_from_text(text, usage=Usage(0, 1), finish_reason="stop")

    trace = run_agent(item.path, item.question, Replay(), task.agent_budgets(QWEN3_VL))
    assert trace.stop_reason == "answer" and len(seen) == 2
    final_prompt, final_images = seen[-1]

    parsed = parse_row(row, row["id"])
    material = MediaLoader(None, family=QWEN3_VL).load(parsed)
    sft_text = real.processor.tokenizer.apply_chat_template(
        material.messages, tools=parsed.tools, chat_template=real.chat_template, tokenize=False
    )
    assert sft_text.startswith(final_prompt)  # every token before the last answer is the eval prompt
    assert sft_text[len(final_prompt) :].startswith(assistant[-1]["content"][0]["text"])
    assert len(material.images) == len(final_images) == 16  # 8 skim frames + 8 crop frames
    for a, b in zip(material.images, final_images, strict=True):
        assert np.array_equal(np.asarray(a), np.asarray(b))

    # Qwen3-VL labels: one per pair of frames, the pair's mean time (skim at 0, 18, 36, ... 127 s at 1 fps).
    skim_part, crop_part = final_prompt.split("<tool_response>")[:2]
    skim_labels = SECONDS.findall(skim_part)
    assert skim_labels == ["9.0", "45.0", "82.0", "118.0"] and not re.search(r"<[\d.]+s>", final_prompt)
    assert skim_part.count("<|image_pad|>") == 8
    k = int(item.start // task.SCENE_SECONDS)
    crop_labels = [float(x) for x in SECONDS.findall(crop_part)]  # 8 crop frames: 4 pairs inside the scene
    assert len(crop_labels) == 4 and item.start < crop_labels[0] < crop_labels[-1] < item.end
    # The teacher's text names exactly those labels, each followed by the colours of its frames, in order.
    first, last = assistant[0]["content"][0]["text"], assistant[-1]["content"][0]["text"]
    skim_listed = parse_listing(first.split("Skim:")[1])
    assert [float(t) for t, _ in skim_listed] == [float(x) for x in skim_labels[: len(skim_listed)]]
    assert [c for _, cs in skim_listed for c in cs][-1] == item.colour
    assert len([c for _, cs in skim_listed for c in cs]) == k + 1  # read up to the asked scene, no further
    crop_listed = parse_listing(last.split("Crop:")[1])
    assert [float(t) for t, _ in crop_listed] == [float(x) for x in SECONDS.findall(crop_part)]
    assert all(len(cs) == 2 for _, cs in crop_listed)
    assert f"Crop {item.start:g}-{item.end:g}s." in first and last.endswith(f"<answer>{item.answer}</answer>")


def test_qwen3_vl_drills_and_a_few_sft_steps_through_the_real_cli(tmp_path, student, data):
    """The reading drills label frames as Qwen3-VL does (a lone frame: its own time), and `longvt train sft` (the
    real lmms-engine CLI, the miniature recipe) trains the Qwen3-VL student on the rows."""
    from PIL import Image

    from longvt_plugins.core.families import checkpoint_family
    from longvt_plugins.miniature import run

    rows = [json.loads(line) for line in open(data["train"])]
    single = [r for r in rows if "-frame-" in r["id"]]
    assert single
    for r in single:
        # the frame the agent decodes: 32x32, one Qwen3-VL token (not Qwen2.5-VL's 28x28)
        assert Image.open(r["messages"][1]["content"][1]["image_url"]["url"]).size == (32, 32)
        label = r["messages"][1]["content"][0]["text"]
        answer = r["messages"][-1]["content"][0]["text"]
        assert SECONDS.fullmatch(label) and answer.startswith(f"{float(SECONDS.match(label).group(1)):g}s ")
    skim_drills = [r for r in rows if r["id"].endswith("-read-skim")]
    assert skim_drills and all(
        r["messages"][-1]["content"][0]["text"].startswith("Skim: 9s ") for r in skim_drills
    )
    trained = run.train(student, data["train"], tmp_path / "sft", steps=2,
                        overrides=("trainer_args.save_steps=100000", "trainer_args.logging_steps=1"))  # fmt: skip
    losses = [float(h["loss"]) for h in trained["history"] if "loss" in h]
    assert len(losses) == 2 and all(np.isfinite(losses))
    assert checkpoint_family(tmp_path / "sft") == QWEN3_VL


@pytest.mark.slow
def test_a_short_qwen3_vl_run_from_scratch_learns_the_format_on_held_out_items(tmp_path):
    """The Qwen3-VL twin of test_miniature_train's learning run (same sizes, seeded): after 300 SFT steps on
    stage-7 traces the first turn has the teacher's structure on held-out videos; the untrained student never."""
    from test_miniature_train import CI_STEPS, CI_TEST_VIDEOS, CI_TRAIN_VIDEOS, _first_turns

    from longvt_plugins.core.families import checkpoint_family
    from longvt_plugins.miniature import run

    student = run.build_student(tmp_path, arch=QWEN3_VL)
    data = run.build_data(tmp_path, "train", CI_TRAIN_VIDEOS, drills=False, trace_repeats=1,
                          family=checkpoint_family(student))  # fmt: skip
    assert data["rejections"]["accepted"] == CI_TRAIN_VIDEOS
    trained = run.train(student, data["train"], tmp_path / "sft", steps=CI_STEPS,
                        overrides=("trainer_args.save_steps=100000",))  # fmt: skip
    losses = [float(h["loss"]) for h in trained["history"] if "loss" in h]
    assert losses and losses[-1] < losses[0] / 2

    held_out = task.make_split(tmp_path / "videos", "test", CI_TEST_VIDEOS)
    after = _first_turns(tmp_path / "sft", held_out)
    before = _first_turns(student, held_out[:2])
    assert sum(after) >= 0.8 * len(after), after
    assert not any(before), before
