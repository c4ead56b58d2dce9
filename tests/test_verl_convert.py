"""QA rows -> verl RL parquet, through the real CLI, and back in through verl's RLHFDataset with the tiny processor."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner


def _qa_file(tmp_path, video, missing):
    records = [
        {
            "qa_id": "a",
            "question": "What shape is on screen at 45 s?",
            "answer": "square",
            "video": video,
            "segment": [40, 60],
        },
        {
            "id": "b",
            "question": "Which colour comes first?",
            "answer": "red",
            "video_path": video,
            "start_time": 0,
            "end_time": 20,
        },
        {
            "qa_id": "c",
            "question": "Pick one.",
            "answer": "B",
            "video": video,
            "options": ["A. red", "B. blue"],
        },
        {"qa_id": "d", "question": "Lost video?", "answer": "x", "video": missing},
        {"qa_id": "e", "question": "No answer?", "answer": "", "video": video},
        {"qa_id": "f", "question": "Too late?", "answer": "y", "video": video, "segment": [200, 230]},
        {"qa_id": "g", "question": "Odd span?", "answer": "z", "video": video, "segment": [1, 2, 3]},
    ]
    path = tmp_path / "qa.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


@pytest.fixture(scope="module")
def converted(sample_video, tmp_path_factory):
    from longvt_plugins.cli import app

    tmp = tmp_path_factory.mktemp("to-verl")
    qa = _qa_file(tmp, str(sample_video.path), str(tmp / "gone.mp4"))
    out = tmp / "rl.parquet"
    args = ["data", "to-verl", str(qa), "--out", str(out), "--max-frames", "8", "--max-pixels", str(56 * 56)]
    result = CliRunner().invoke(app, args)
    return out, result, CliRunner().invoke(app, [*args, "--strict"])


def test_cli_writes_usable_rows_and_reports_the_rest(converted, sample_video):
    out, result, strict = converted
    assert result.exit_code == 0, result.output
    assert "wrote 3 rows" in result.output and "rejected 4 samples" in result.output
    assert strict.exit_code == 1  # --strict turns rejects into a failure

    rejected = [json.loads(line) for line in open(str(out) + ".rejected.jsonl")]
    by_id = {r["sample"]["qa_id"]: r["reason"] for r in rejected}
    assert set(by_id) == {"d", "e", "f", "g"}
    assert "video unusable" in by_id["d"] and "gone.mp4" in by_id["d"]
    assert "empty answer" in by_id["e"]
    assert "outside the 120.00s video" in by_id["f"]
    assert "unreadable segment [1, 2, 3]" in by_id["g"]

    rows = pq.read_table(out).to_pylist()
    assert [r["extra_info"]["qa_id"] for r in rows] == ["a", "b", "c"]
    for i, row in enumerate(rows):
        extra = row["extra_info"]
        assert extra["index"] == i and extra["duration"] == pytest.approx(sample_video.duration, abs=0.3)
        assert extra["tools_kwargs"] == {  # every registry tool's resources; no subtitles in these rows
            "crop_video": {"create_kwargs": {"video_path": str(sample_video.path)}},
            "zoom_frame": {"create_kwargs": {"video_path": str(sample_video.path)}},
            "search_subtitles": {"create_kwargs": {"subtitle_path": None}},
        }
        assert extra["evidence_box"] is None
        assert row["videos"] == [
            {
                "video": str(sample_video.path),
                "fps": 1.0,
                "min_frames": 4,
                "max_frames": 8,
                "min_pixels": 784,
                "max_pixels": 3136,
            }
        ]
        assert (
            row["prompt"][1]["content"].startswith("<video>")
            and row["prompt"][1]["content"].count("<video>") == 1
        )
        assert (
            "crop_video" in row["prompt"][1]["content"]
            and str(sample_video.path) not in row["prompt"][1]["content"]
        )
    assert [r["extra_info"]["video_segment"] for r in rows] == [[40.0, 60.0], [0.0, 20.0], None]
    assert rows[2]["extra_info"]["question"] == "Pick one.\nA. red\nB. blue"
    assert rows[2]["reward_model"] == {"style": "model", "ground_truth": "B"}


def test_rows_load_in_verls_rlhf_dataset_with_the_tiny_processor(converted, tiny_model_dir, sample_video):
    from omegaconf import OmegaConf
    from verl.utils import hf_processor, hf_tokenizer
    from verl.utils.dataset.rl_dataset import RLHFDataset

    from longvt_plugins.testing.tiny_model import chat_template_text

    out, _, _ = converted
    tokenizer, processor = hf_tokenizer(str(tiny_model_dir)), hf_processor(str(tiny_model_dir))
    tokenizer.chat_template = processor.chat_template = chat_template_text()
    config = OmegaConf.create(
        {
            "max_prompt_length": 4096,
            "filter_overlong_prompts": True,  # verl tokenises every row, video included, to measure it
            "filter_overlong_prompts_workers": None,  # in-process: a forked filter worker can deadlock on
            # the threads (decoders, torch) earlier tests left in this process
            "return_raw_chat": True,
            "cache_dir": str(out.parent / "cache"),
        }
    )
    dataset = RLHFDataset(str(out), tokenizer, config, processor)
    assert len(dataset) == 3  # no row was dropped as unreadable or too long

    item = dataset[0]
    assert item["tools_kwargs"]["crop_video"]["create_kwargs"]["video_path"] == str(sample_video.path)
    assert item["extra_info"]["video_segment"] == [40.0, 60.0]
    (video_part,) = [p for p in item["raw_prompt"][1]["content"] if p["type"] == "video"]
    assert video_part["max_frames"] == 8 and video_part["fps"] == 1.0

    # verl's own decode of the prompt (qwen_vl_utils) gives exactly the frames the prompt text announces.
    _, videos, _ = RLHFDataset._process_multi_modal_info(item["raw_prompt"], 14, config)
    ((frames, metadata),) = videos
    text = item["raw_prompt"][1]["content"][1]["text"]
    announced = re.search(r"The (\d+) frames above", text)
    assert announced and int(announced.group(1)) == frames.shape[0] == len(metadata["frames_indices"])


def test_longvt_release_rows_convert_with_a_path_map(tmp_path, sample_video):
    from longvt_plugins.verl.convert import convert, read_samples

    released = "/pfs/training-data/videos/sample_2min.mp4"  # where the upstream rows say the video is
    row = {
        "data_source": "hacs",
        "prompt": [
            {"role": "system", "content": "sys"},
            {
                "role": "user",
                "content": f"<video>What is shown? Think first, call **crop_video** if needed. The Video path for this video is: {released}",
            },
        ],
        "videos": [{"video": f"file://{released}", "fps": 1.0, "max_pixels": 151200}],
        "reward_model": {"style": "rule", "ground_truth": "a circle"},
        "extra_info": {"index": 7, "question": "What is shown?", "video_segment": [10.0, 20.0]},
    }
    src = tmp_path / "rl_selfqa.parquet"
    pq.write_table(pa.Table.from_pylist([row]), src)
    report = convert(
        read_samples(src),
        tmp_path / "out.parquet",
        path_map={"/pfs/training-data/videos": str(Path(sample_video.path).parent)},
    )
    assert report.ok and report.written == 1
    (out,) = pq.read_table(tmp_path / "out.parquet").to_pylist()
    assert out["data_source"] == "hacs" and out["reward_model"]["ground_truth"] == "a circle"
    assert out["extra_info"]["video_path"] == str(sample_video.path)
    assert out["extra_info"]["video_segment"] == [10.0, 20.0] and out["extra_info"]["qa_id"] == "7"
    assert "/pfs/" not in out["prompt"][1]["content"]


def test_unknown_input_format_is_a_clear_error(tmp_path):
    from longvt_plugins.cli import app

    bad = tmp_path / "qa.csv"
    bad.write_text("question,answer\n")
    result = CliRunner().invoke(app, ["data", "to-verl", str(bad), "--out", str(tmp_path / "o.parquet")])
    assert result.exit_code == 2 and "expected one of .jsonl, .json, .parquet" in result.output
    assert not (tmp_path / "o.parquet").exists()


SRT = "1\n00:00:40,000 --> 00:00:44,000\nLook, the yellow square appears now\n\n2\n00:01:30,000 --> 00:01:33,000\nA blue circle\n"


def test_subtitles_and_evidence_boxes_reach_the_tools_and_the_reward(tmp_path, sample_video):
    """A source row's subtitle file and evidence box: written where search_subtitles, zoom_frame and the zoom_iou
    reward read them; the row's tools_kwargs drive the real verl tools (the shipped all-tools config)."""
    import asyncio
    from types import SimpleNamespace

    import numpy as np
    from verl.tools.tool_registry import load_all_tools

    from longvt_plugins.core.rewards import compute_reward
    from longvt_plugins.core.rewards.evidence import parse_evidence_box
    from longvt_plugins.verl.convert import convert, read_samples
    from longvt_plugins.verl.plugin import resource_path

    video = Path(sample_video.path)
    (tmp_path / "subs").mkdir()
    (tmp_path / "subs" / "v.srt").write_text(SRT, encoding="utf-8")
    (tmp_path / "bad.srt").write_text("1\nnot a time line\nhello\n", encoding="utf-8")
    base = {"question": "What appears?", "answer": "square", "video": str(video)}
    records = [
        {**base, "qa_id": "point", "subtitle_path": "subs/v.srt",  # relative: resolved under video_root
         "evidence_box": {"bbox": [100, 200, 400, 600], "time": 42}},
        {**base, "qa_id": "span", "evidence_box": json.dumps({"bbox": [0, 0, 500, 500], "time": [40, 50]})},
        {**base, "qa_id": "bare", "evidence_box": [250, 0, 750, 500], "subtitles": str(tmp_path / "subs/v.srt")},
        {**base, "qa_id": "plain"},
        {**base, "qa_id": "no-file", "subtitle_path": str(tmp_path / "gone.srt")},
        {**base, "qa_id": "unparsable", "subtitle_path": str(tmp_path / "bad.srt")},
        {**base, "qa_id": "inverted", "evidence_box": {"bbox": [500, 0, 100, 100], "time": 3}},
        {**base, "qa_id": "late", "evidence_box": {"bbox": [0, 0, 10, 10], "time": [500, 510]}},
    ]  # fmt: skip
    src = tmp_path / "qa.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in records))
    out = tmp_path / "rl.parquet"
    report = convert(read_samples(src), out, video_root=tmp_path)

    reasons = {r["sample"]["qa_id"]: r["reason"] for r in report.rejected}
    assert set(reasons) == {"no-file", "unparsable", "inverted", "late"} and report.written == 4
    assert reasons["no-file"].startswith("subtitle file unusable: ") and "gone.srt" in reasons["no-file"]
    assert "subtitle file unusable" in reasons["unparsable"] and "bad.srt" in reasons["unparsable"]
    assert reasons["inverted"].startswith("unreadable evidence_box")
    assert "evidence_box time [500.0, 510.0] lies outside the 120.00s video" in reasons["late"]

    rows = {r["extra_info"]["qa_id"]: r for r in pq.read_table(out).to_pylist()}
    srt = str(tmp_path / "subs" / "v.srt")
    kwargs = {k: r["extra_info"]["tools_kwargs"] for k, r in rows.items()}
    assert [kwargs[k]["search_subtitles"]["create_kwargs"]["subtitle_path"] for k in rows] == [
        srt,
        None,
        srt,
        None,
    ]
    assert all(kw["zoom_frame"] == kw["crop_video"] == {"create_kwargs": {"video_path": str(video)}}
               for kw in kwargs.values())  # fmt: skip
    boxes = {k: r["extra_info"]["evidence_box"] for k, r in rows.items()}
    assert boxes == {
        "point": {
            "bbox": [100.0, 200.0, 400.0, 600.0],
            "time": [41.5, 42.5],
        },  # the reward's 0.5 s either side
        "span": {"bbox": [0.0, 0.0, 500.0, 500.0], "time": [40.0, 50.0]},
        "bare": {"bbox": [250.0, 0.0, 750.0, 500.0], "time": None},
        "plain": None,
    }
    # The reward reads the written box as it reads the source's, also as verl hands it (numpy arrays).
    for record in records[:4]:
        written = boxes[record["qa_id"]]
        want = parse_evidence_box(record.get("evidence_box"))
        assert parse_evidence_box(written) == want
        if written is not None:
            as_verl = {k: None if v is None else np.asarray(v) for k, v in written.items()}
            assert parse_evidence_box(as_verl) == want
    scored = asyncio.run(
        compute_reward(
            "<answer>square</answer>",
            "square",
            evidence_box=boxes["point"],
            zooms=[[42.0, 100, 200, 400, 600]],
        )
    )
    assert scored["has_evidence_box"] == 1.0 and scored["zoom_iou"] == 1.0

    # verl's own loader builds the three tools from the shipped config; each reads only its entry of the row.
    tools = {t.name: t for t in load_all_tools(
        tool_config_path=resource_path("verl/tool_config_tools.yaml"), function_tool_path=None)}  # fmt: skip

    async def call(name, row, arguments):
        tool = tools[name]
        instance_id, _ = await tool.create(
            create_kwargs=row["extra_info"]["tools_kwargs"][name]["create_kwargs"]
        )
        try:
            return await tool.execute(instance_id, arguments, agent_data=SimpleNamespace(extra_fields={}))
        finally:
            await tool.release(instance_id)

    found, _, _ = asyncio.run(call("search_subtitles", rows["point"], {"query": "yellow square"}))
    assert "[40.0s - 44.0s] Look, the yellow square appears now" in found.text
    none, _, _ = asyncio.run(call("search_subtitles", rows["plain"], {"query": "yellow square"}))
    assert "no subtitles" in none.text
    zoomed, _, info = asyncio.run(
        call("zoom_frame", rows["point"], {"time": 42, "bbox": [100, 200, 400, 600]})
    )
    assert info["ok"] is True and len(zoomed.image) == 1 and "the frame at 42.0s" in zoomed.text
