"""The whole pipeline, end to end, on real encoded videos of different lengths and a real OpenAI-protocol server
on 127.0.0.1 (`OpenAIStubServer` + `ScriptedTeacher`, which answers from the frames each request carries).

Checked: every stage's output belongs to the right video (scene lists equal the manifests, captions / events /
QA / traces name the scene their frames show), bad inputs become failure records while the run finishes, records
match data/schemas/pipeline, the SFT rows load in the lmms-engine plugin and the RL rows in verl's RLHFDataset,
static shards add up to the local run, and a rerun is a no-op.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from longvt_plugins.pipeline.config import STAGE_ORDER, PipelineConfig
from longvt_plugins.pipeline.runner import run_pipeline, run_stage
from longvt_plugins.pipeline.store import read_jsonl, read_stage_records
from longvt_plugins.testing.scripted_teacher import ScriptedTeacher, scene_label

pytestmark = pytest.mark.slow  # one full pipeline run over HTTP is shared by the module (~15-45 s on 2 cores)

SCHEMAS = Path(__file__).resolve().parents[1] / "data" / "schemas" / "pipeline"
# (video id, duration, scene lengths): three lengths, one video with a single scene.
VIDEOS = [("clip_a", 20.0, [8, 12]), ("clip_b", 35.0, [5, 10, 12, 8]), ("clip_c", 12.0, [12])]
BAD_QA_LABEL = "background 60"  # clip_b's third scene starts a QA group whose reply is never JSON


@pytest.fixture(scope="module")
def dataset(fixture_cache, tmp_path_factory):
    """Manifests of the good videos and a video manifest (JSONL) that also lists three bad files."""
    from longvt_plugins.testing.videos import VideoManifest, make_synthetic_video

    folder = fixture_cache / "videos" / "pipeline"
    truth = {}
    for vid, duration, lengths in VIDEOS:
        path = folder / f"{vid}.mp4"
        meta = path.with_name(path.name + ".json")
        truth[vid] = (
            VideoManifest.load(meta)
            if meta.exists()
            else make_synthetic_video(path, duration=duration, fps=4.0, scene_lengths=lengths, gop=8)
        )
    tmp = tmp_path_factory.mktemp("pipeline-inputs")
    (tmp / "empty.mp4").write_bytes(b"")
    (tmp / "notes.mp4").write_text("this is a text file, not a video\n")
    good = Path(truth["clip_a"].path).read_bytes()
    (tmp / "truncated.mp4").write_bytes(good[: len(good) // 3])
    lines = [{"video_id": vid, "path": truth[vid].path, "split": "train"} for vid, _, _ in VIDEOS]
    lines += [{"video_id": n, "path": f"{n}.mp4"} for n in ("empty", "notes", "truncated")]
    (tmp / "videos.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    return tmp / "videos.jsonl", truth


@pytest.fixture(scope="module")
def teacher():
    from longvt_plugins.testing.openai_server import OpenAIStubServer

    with OpenAIStubServer(ScriptedTeacher(bad_qa_for={BAD_QA_LABEL}), model="teacher") as server:
        yield server


def write_config(folder: Path, manifest: Path, base_url: str, **stage_overrides) -> Path:
    stages = {
        "detect": {"workers": 1, "chunk_seconds": 10},  # every video longer than 10 s runs as chunks
        "caption": {"max_frames": 4},
        "qa": {"group_size": 2},
        "filter-vl": {"max_frames": 4},
        "traces": {"skim_max_frames": 8, "max_turns": 3, "crop_max_frames": 4, "require_overlap": True},
    }
    for k, v in stage_overrides.items():
        stages.setdefault(k, {}).update(v)
    cfg = {
        "workdir": "work",
        "videos": str(manifest),
        "model": {
            "base_url": base_url,
            "model": "teacher",
            "concurrency": 4,
            "retries": 0,
            "json_retries": 1,
        },
        "stages": stages,
    }
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "pipeline.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


@pytest.fixture(scope="module")
def reference(dataset, teacher, tmp_path_factory):
    """One uninterrupted local run of every stage."""
    manifest, truth = dataset
    cfg = PipelineConfig.load(write_config(tmp_path_factory.mktemp("reference"), manifest, teacher.base_url))
    summaries = run_pipeline(cfg)
    return cfg, truth, {s.stage: s for s in summaries}


def stage_files(workdir: Path) -> dict[str, list[dict]]:
    return {s: read_stage_records(workdir, s) for s in STAGE_ORDER} | {
        f"{s}/failures": read_stage_records(workdir, s, "failures") for s in STAGE_ORDER
    }


def comparable(files: dict[str, list[dict]]) -> dict[str, list]:
    """Records without what legitimately differs between runs (wall times, run folders, trace timestamps)."""
    out = {}
    for key, rows in files.items():
        if key == "traces":
            rows = [
                {k: r[k] for k in ("id", "accepted", "reason", "final_answer", "crops", "score")}
                for r in rows
            ]
        elif key == "export":
            rows = [{k: r[k] for k in ("id", "rows", "rejected")} for r in rows]
        out[key] = rows
    return out


# ------------------------------------------------------------------------------------------ attribution
def test_scene_lists_equal_the_ground_truth_of_each_video(reference):
    cfg, truth, _ = reference
    videos = {v["video_id"]: v for v in read_stage_records(cfg.workdir, "detect")}
    assert sorted(videos) == sorted(truth)
    for vid, manifest in truth.items():
        assert videos[vid]["cuts"] == pytest.approx(manifest.cuts), vid
        got = [t for s in videos[vid]["scenes"] for t in (s["start"], s["end"])]
        assert got == pytest.approx([t for s in manifest.scenes for t in (s.start, s.end)])
        assert videos[vid]["stats"]["chunks"] == -(-manifest.duration // 10)
        clips = videos[vid]["clips"]
        assert all(c["end"] - c["start"] <= 10.0 + 1e-6 for c in clips)  # max_clip_seconds
        assert clips[0]["start"] == 0.0 and clips[-1]["end"] == pytest.approx(manifest.duration)


def test_captions_events_qa_and_traces_name_the_scene_their_frames_show(reference):
    cfg, truth, _ = reference
    captions = read_stage_records(cfg.workdir, "caption")
    assert {c["video_id"] for c in captions} == set(truth)
    for c in captions:
        scene = truth[c["video_id"]].scene_at((c["start"] + c["end"]) / 2)
        assert scene_label(scene.background) in c["caption"], c["id"]
    for v in read_stage_records(cfg.workdir, "merge"):
        scenes = truth[v["video_id"]].scenes
        got = [t for e in v["events"] for t in (e["start"], e["end"])]
        assert got == pytest.approx([t for s in scenes for t in (s.start, s.end)])
        assert v["summary"]
    qas = read_stage_records(cfg.workdir, "qa")
    for q in qas:
        assert q["answer"] == scene_label(truth[q["video_id"]].scene_at(q["start"]).background)
        assert q["id"].startswith(q["video_id"] + "/")
    traces = read_stage_records(cfg.workdir, "traces")
    assert [t["id"] for t in traces] == [q["id"] for q in qas]
    for t in traces:
        assert t["accepted"], t["reason"]
        assert t["trace"]["video"]["path"] == truth[t["video_id"]].path
        assert t["crops"] and t["crops"][0][0] == pytest.approx(t["start"])  # the crop the teacher asked for


# ------------------------------------------------------------------------------------------ bad inputs
def test_bad_videos_and_non_json_replies_are_failure_records_and_the_run_finishes(reference):
    cfg, _, summaries = reference
    failures = {f["id"]: f for f in read_stage_records(cfg.workdir, "detect", "failures")}
    assert {k: failures[k]["error"] for k in failures} == {
        "empty": "EmptyVideoFile",
        "notes": "NotAVideo",
        "truncated": "CorruptVideo",
    }
    assert "0 bytes" in failures["empty"]["reason"] and "truncated" in failures["truncated"]["reason"]
    qa_failures = read_stage_records(cfg.workdir, "qa", "failures")
    assert [f["id"] for f in qa_failures] == ["clip_b/g0001"]
    assert "not a valid QA JSON object after 2 attempts" in qa_failures[0]["reason"]
    assert "no JSON today" in qa_failures[0]["reason"]  # the reply is quoted
    assert summaries["export"].records == 3 and summaries["qa"].failures == 1


def test_records_match_the_published_schemas(reference):
    import jsonschema

    cfg, _, _ = reference
    names = {"filter-text": "filter_text", "filter-vl": "filter_vl"}
    for stage in STAGE_ORDER:
        schema = json.loads((SCHEMAS / f"{names.get(stage, stage)}.schema.json").read_text())
        rows = read_stage_records(cfg.workdir, stage)
        assert rows, stage
        for row in rows:
            jsonschema.validate(row, schema)
        for row in read_stage_records(cfg.workdir, stage, "failures"):
            jsonschema.validate(row, json.loads((SCHEMAS / "failure.schema.json").read_text()))
    sft_schema = json.loads((SCHEMAS.parent / "sft_trace.schema.json").read_text())
    for row in read_jsonl(cfg.workdir / "export" / "sft.jsonl"):
        jsonschema.validate(row, sft_schema)  # the lmms-engine plugin's published row schema
    for row in read_jsonl(cfg.workdir / "export" / "eval.jsonl"):
        jsonschema.validate(row, json.loads((SCHEMAS / "eval_row.schema.json").read_text()))


# ------------------------------------------------------------------------------------------ products
def test_sft_rows_load_and_encode_in_the_lmms_engine_plugin(reference, tiny_model_dir):
    from lmms_engine.datasets.processor.config import ProcessorConfig

    from longvt_plugins.core.trace_rows import parse_row
    from longvt_plugins.lmms_engine.media import MediaLoader
    from longvt_plugins.lmms_engine.processor import LongVTQwen25VLProcessor

    cfg, _, _ = reference
    rows = read_jsonl(cfg.workdir / "export" / "sft.jsonl")
    assert len(rows) == len(read_stage_records(cfg.workdir, "traces"))
    processor = LongVTQwen25VLProcessor(
        ProcessorConfig(processor_name=str(tiny_model_dir), processor_type="longvt_qwen2_5_vl")
    )
    processor.build()
    # The dataset's own crop budget (128 frames) differs from the teacher's (4): the row's recorded budget wins,
    # so the replayed crops are the frames the teacher's text talks about.
    loader = MediaLoader(crop_budget={"max_frames": 128})
    taught = {r["id"]: r["trace"]["crops"] for r in read_stage_records(cfg.workdir, "traces")}
    for row in rows[:1]:
        parsed = parse_row(row, row["id"])
        sample = loader.load(parsed)
        # The skim as timestamped frames (as the agent shows it at eval time), then the replayed crop's frames.
        assert not sample.videos and sample.images
        skim = row["messages"][1]["content"][0]["video_url"]
        assert skim["as_frames"] is True
        first = sample.messages[1]["content"]
        assert first[0]["text"].startswith("<") and first[1] == {"type": "image"}
        skim_frames = sum(p["type"] == "image" for p in first)
        crop_frames = sum(len(c["timestamps"]) for c in taught[row["id"]] if c["ok"])
        assert skim_frames and len(sample.images) == skim_frames + crop_frames
        encoded = processor.encode_sample(sample, tools=parsed.tools)
        trained = [t for t in encoded["labels"].tolist() if t != -100]
        assert trained  # assistant tokens are trained, the rest masked


def test_rl_rows_load_in_verls_dataset(reference, tiny_model_dir):
    from transformers import AutoProcessor, AutoTokenizer

    from longvt_plugins.testing.verl_rollout import compose_recipe, load_batch

    cfg, _, _ = reference
    rl = cfg.workdir / "export" / "rl.parquet"
    n_qa = len([q for q in read_stage_records(cfg.workdir, "filter-vl") if q["keep"]])
    config = compose_recipe(
        [
            f"actor_rollout_ref.model.path={tiny_model_dir}",
            f"data.train_files={rl}",
            f"data.val_files={rl}",
            "data.max_prompt_length=8192",
        ]
    )
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    processor = AutoProcessor.from_pretrained(tiny_model_dir)
    batch, dataset = load_batch(config, rl, tokenizer, processor)
    assert len(dataset) == n_qa
    qa_ids = [e["qa_id"] for e in batch.non_tensor_batch["extra_info"]]
    assert qa_ids == [q["id"] for q in read_stage_records(cfg.workdir, "filter-vl") if q["keep"]]
    kwargs = batch.non_tensor_batch["tools_kwargs"][0]
    assert Path(kwargs["crop_video"]["create_kwargs"]["video_path"]).is_file()


# ------------------------------------------------------------------------------------------ resume / shards
def test_a_second_run_skips_everything_and_rewrites_the_same_records(reference, teacher):
    cfg, _, _ = reference
    before = stage_files(cfg.workdir)
    requests = len(teacher.requests)
    summaries = run_pipeline(cfg)
    assert all(s.ran == 0 for s in summaries), [(s.stage, s.ran) for s in summaries]
    assert len(teacher.requests) == requests  # nothing asked again
    assert stage_files(cfg.workdir) == before


def test_retry_failed_runs_only_the_failed_units_again(reference, teacher, tmp_path):
    cfg, _, _ = reference
    requests = len(teacher.requests)
    s = run_stage(cfg, "qa", retry_failed=True)
    assert s.ran == 1 and s.failures == 1  # the scripted reply is still not JSON
    assert len(teacher.requests) - requests == 2  # one attempt + one json retry


def test_static_shards_add_up_to_the_local_run(reference, dataset, teacher, tmp_path):
    cfg, _, _ = reference
    sharded = PipelineConfig.load(write_config(tmp_path, dataset[0], teacher.base_url))
    for index in range(2):
        for stage in ("detect", "caption", "merge", "qa"):
            run_stage(sharded, stage, num_shards=2, shard_index=index)
    assert list((sharded.workdir / "detect").glob("records.shard-0000*-of-00002.jsonl"))
    for stage in ("detect", "caption", "merge", "qa"):
        assert read_stage_records(sharded.workdir, stage) == read_stage_records(cfg.workdir, stage), stage
        assert read_stage_records(sharded.workdir, stage, "failures") == read_stage_records(
            cfg.workdir, stage, "failures"
        )


def test_cli_status_counts_every_stage(reference):
    from typer.testing import CliRunner

    from longvt_plugins.cli import app

    cfg, _, summaries = reference
    result = CliRunner().invoke(app, ["pipeline", "status", str(cfg.base_dir / "pipeline.yaml"), "--json"])
    assert result.exit_code == 0, result.output
    rows = {r["stage"]: r for r in json.loads(result.output)}
    assert all(rows[s]["state"] == "complete" for s in STAGE_ORDER)
    assert rows["detect"]["failures"] == 3 and rows["qa"]["records"] == summaries["qa"].records


def test_cli_rejects_a_config_typo_with_exit_code_2(tmp_path):
    from typer.testing import CliRunner

    from longvt_plugins.cli import app

    bad = tmp_path / "p.yaml"
    bad.write_text("workdir: w\nstages:\n  qa: {group_sise: 3}\n")
    result = CliRunner().invoke(app, ["pipeline", "run", str(bad)])
    assert result.exit_code == 2
    assert "group_sise" in result.output


# ------------------------------------------------------------------------------------------ kill / Ray
@pytest.mark.slow
def test_sigkill_in_the_middle_of_a_stage_then_resume_gives_identical_outputs(reference, dataset, tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    from longvt_plugins.pipeline.store import Journal
    from longvt_plugins.testing.openai_server import OpenAIStubServer

    cfg_ref, _, _ = reference
    # A slower teacher so that `caption` is still running when the kill comes.
    with OpenAIStubServer(ScriptedTeacher(bad_qa_for={BAD_QA_LABEL}), model="teacher", delay=0.4) as slow:
        cfg_path = write_config(tmp_path, dataset[0], slow.base_url)
        work = tmp_path / "work"
        log = open(tmp_path / "run.log", "wb")
        cmd = [sys.executable, "-m", "longvt_plugins.cli", "pipeline", "run", str(cfg_path), "-q"]
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        journal = work / "caption" / "journal.jsonl"
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and proc.poll() is None:
            if journal.exists() and journal.read_bytes().count(b"\n") >= 3:
                break
            time.sleep(0.02)
        assert proc.poll() is None, (tmp_path / "run.log").read_text()[-2000:]
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        log.close()
        assert not (work / "caption" / "state.json").exists()  # it died inside the stage
        done_before = len(Journal(journal).load())
        assert 3 <= done_before < 12

        cfg = PipelineConfig.load(cfg_path)
        summaries = {s.stage: s for s in run_pipeline(cfg)}
    assert summaries["detect"].ran == 0 and summaries["caption"].skipped == done_before
    assert comparable(stage_files(work)) == comparable(stage_files(cfg_ref.workdir))
    for stage in STAGE_ORDER:
        lines = [json.loads(x)["unit"] for x in (work / stage / "journal.jsonl").read_text().splitlines()]
        assert len(lines) == len(set(lines)), f"{stage}: a unit was journaled twice"


@pytest.mark.slow
def test_ray_in_local_mode_writes_exactly_the_local_runs_records(reference, dataset, teacher, tmp_path):
    import ray

    from longvt_plugins.pipeline.ray_engine import task_options
    from longvt_plugins.pipeline.units import build_stage, decode_threads

    cfg_ref, _, _ = reference
    cfg = PipelineConfig.load(write_config(tmp_path, dataset[0], teacher.base_url))
    ray.init(
        num_cpus=1, include_dashboard=False, log_to_driver=False
    )  # few workers: Ray is slow to start here
    try:
        summaries = run_pipeline(cfg, engine="ray", workers=1)  # one task at a time: one worker process
        # A decoding task decodes with the one CPU it asked for, not FFmpeg's all-cores default.
        detect_task = ray.remote(**task_options(build_stage("detect", cfg)))(decode_threads)
        assert ray.get(detect_task.remote()) == 1
    finally:
        ray.shutdown()
    assert [s.stage for s in summaries] == list(STAGE_ORDER)
    assert comparable(stage_files(cfg.workdir)) == comparable(stage_files(cfg_ref.workdir))
