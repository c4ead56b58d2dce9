"""The runner's bookkeeping: journal appends, torn-tail repair, resume without duplicates, failure records,
config validation, deterministic sharding. No video, no model: a tiny stage of our own drives the real runner."""

from __future__ import annotations

import json

import pytest

from longvt_plugins.pipeline import runner, units
from longvt_plugins.pipeline.config import ConfigError, PipelineConfig
from longvt_plugins.pipeline.store import Journal, read_jsonl, shard_suffix


def test_journal_cuts_a_torn_tail_and_keeps_every_complete_line(tmp_path):
    j = Journal(tmp_path / "journal.jsonl")
    j.append({"unit": "a", "ok": True, "records": [{"id": "a"}]})
    j.append({"unit": "b", "ok": True, "records": [{"id": "b"}]})
    with open(j.path, "ab") as fh:  # what a writer killed mid-line leaves behind
        fh.write(b'{"unit": "c", "ok": tr')
    entries = Journal(j.path).load()
    assert sorted(entries) == ["a", "b"]
    assert j.path.read_bytes().endswith(b"\n")  # the torn bytes are gone, appends start on a clean line
    Journal(j.path).append({"unit": "c", "ok": True, "records": [{"id": "c"}]})
    assert sorted(Journal(j.path).load()) == ["a", "b", "c"]


def test_journal_drops_everything_after_a_corrupt_line(tmp_path):
    path = tmp_path / "journal.jsonl"
    path.write_text('{"unit": "a", "ok": true}\nnot json\n{"unit": "b", "ok": true}\n')
    assert sorted(Journal(path).load()) == ["a"]


def test_last_entry_of_a_key_wins_and_failures_count_as_done_unless_retried(tmp_path):
    j = Journal(tmp_path / "j.jsonl")
    j.append({"unit": "a", "ok": False, "reason": "down"})
    j.append({"unit": "b", "ok": True, "records": []})
    assert j.done() == {"a", "b"}
    assert j.done(retry_failed=True) == {"b"}
    j.append({"unit": "a", "ok": True, "records": []})
    assert Journal(j.path).load()["a"]["ok"] is True


def test_shard_of_is_stable_and_covers_every_shard():
    ids = [f"video{i}" for i in range(200)]
    shards = [runner.shard_of(v, 4) for v in ids]
    assert set(shards) == {0, 1, 2, 3}
    assert shards == [runner.shard_of(v, 4) for v in ids]  # no per-process hash salt
    assert runner.shard_of("x", 1) == 0
    assert shard_suffix(4, 2) == ".shard-00002-of-00004" and shard_suffix() == ""


@pytest.mark.parametrize(
    "data, match",
    [
        ({"workdir": "w", "stages": {"detct": {}}}, "unknown stage 'detct'"),
        ({"workdir": "w", "stages": {"detect": {"threshhold": 3}}}, "unknown key.*threshhold"),
        ({"workdir": "w", "model": {"base_ur1": "x"}}, "config.model: unknown key.*base_ur1"),
        (
            {"workdir": "w", "stages": {"traces": {"judge": {"modle": "j"}}}},
            "stages.traces.judge: unknown key",
        ),
        ({"workdir": "w", "vidoes": "m.jsonl"}, "config: unknown key.*vidoes"),
        ([1, 2], "must be a mapping"),
    ],
)
def test_config_typos_are_errors_that_name_the_key(data, match, tmp_path):
    with pytest.raises(ConfigError, match=match):
        PipelineConfig(data, base_dir=tmp_path)


def test_config_paths_resolve_relative_to_the_file_and_endpoints_layer(tmp_path, monkeypatch):
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    monkeypatch.delenv("LONGVT_PIPELINE_BASE_URL", raising=False)
    cfg_file = tmp_path / "sub" / "p.yaml"
    cfg_file.parent.mkdir()
    cfg_file.write_text(
        "workdir: out\nvideos: m.jsonl\nmodel: {base_url: http://a/v1, model: big}\n"
        "stages:\n  qa: {group_size: 3, model: {model: small}}\n"
    )
    cfg = PipelineConfig.load(cfg_file)
    assert cfg.workdir == tmp_path / "sub" / "out" and cfg.videos == tmp_path / "sub" / "m.jsonl"
    assert cfg.endpoint("qa")["model"] == "small" and cfg.endpoint("qa")["base_url"] == "http://a/v1"
    assert cfg.endpoint("caption")["model"] == "big"
    assert cfg.stage_options("qa")["group_size"] == 3 and "model" not in cfg.stage_options("qa")
    assert PipelineConfig.from_dict(cfg.to_dict()).data == cfg.data
    with pytest.raises(ConfigError, match="not valid YAML"):
        (tmp_path / "bad.yaml").write_text("a: [1,\n")
        PipelineConfig.load(tmp_path / "bad.yaml")


def test_manifest_rejects_duplicate_ids_and_resolves_relative_paths(tmp_path):
    from longvt_plugins.pipeline.manifest import load_manifest

    m = tmp_path / "m.jsonl"
    m.write_text('{"path": "a.mp4"}\n{"video_id": "b", "path": "/abs/b.mp4", "split": "train"}\n')
    v = load_manifest(m)
    assert v[0] == {"path": str(tmp_path / "a.mp4"), "video_id": "a"}
    assert v[1]["split"] == "train"
    m.write_text('{"video_id": "a", "path": "x.mp4"}\n{"video_id": "a", "path": "y.mp4"}\n')
    with pytest.raises(ConfigError, match="appears twice"):
        load_manifest(m)
    m.write_text('{"video_id": "a"}\n')
    with pytest.raises(ConfigError, match="needs a 'path'"):
        load_manifest(m)


def test_run_unit_turns_any_exception_into_a_failure_entry():
    class Boom:
        name = "boom"

        def run(self, unit):
            raise KeyError("no such clip")

    entry = units.run_unit(Boom(), units.Unit("k", "v", {}))
    assert entry["ok"] is False and entry["unit"] == "k" and "no such clip" in entry["reason"]
    assert entry["error"] == "KeyError" and "Traceback" in entry["trace"]


def test_a_stage_without_its_input_says_which_stage_to_run_first(tmp_path):
    cfg = PipelineConfig({"workdir": str(tmp_path / "w")}, base_dir=tmp_path)
    with pytest.raises(runner.StageNotReady, match="run `detect` first"):
        runner.run_stage(cfg, "caption")
    with pytest.raises(ValueError, match="without --num-shards"):
        runner.run_stage(cfg, "export", num_shards=2)


def test_failure_records_file_is_sorted_json_lines(tmp_path):
    from longvt_plugins.pipeline.store import write_jsonl_atomic

    n = write_jsonl_atomic(tmp_path / "f.jsonl", [{"id": "b"}, {"id": "a"}])
    assert n == 2 and [r["id"] for r in read_jsonl(tmp_path / "f.jsonl")] == ["b", "a"]
    assert not list(tmp_path.glob(".*.tmp"))
    assert json.loads((tmp_path / "f.jsonl").read_text().splitlines()[0]) == {"id": "b"}


def test_each_worker_process_decodes_with_its_share_of_the_cpus():
    # Without the budget, W processes each start FFmpeg's default thread count and oversubscribe the cores.
    workers = 2
    with runner.process_pool(workers) as pool:
        budgets = {pool.submit(units.decode_threads).result() for _ in range(4)}
    assert budgets == {max(1, units.available_cpus() // workers)}


@pytest.mark.parametrize(("option", "env", "expected"), [("auto", None, 0), ("auto", "3", 3), (2, "3", 2)])
def test_detect_threads_option_follows_the_workers_budget_unless_set(
    option, env, expected, monkeypatch, tmp_path
):
    if env is None:
        monkeypatch.delenv(units.DECODE_THREADS_ENV, raising=False)
    else:
        monkeypatch.setenv(units.DECODE_THREADS_ENV, env)
    cfg = PipelineConfig(
        {"workdir": str(tmp_path), "stages": {"detect": {"threads": option}}}, base_dir=tmp_path
    )
    assert units.build_stage("detect", cfg)._cut_options().threads == expected


@pytest.mark.parametrize("name", ["pipeline.yaml", "pipeline_local_test.yaml"])
def test_shipped_configs_load_and_build_every_stage(name):
    from pathlib import Path

    from longvt_plugins.pipeline.config import STAGE_ORDER

    cfg = PipelineConfig.load(Path(__file__).resolve().parents[1] / "data" / "configs" / name)
    for stage in STAGE_ORDER:
        units.build_stage(stage, cfg)
    assert units.build_stage("detect", cfg)._cut_options().threshold == 27.0
