"""The HTML trace viewer: real traces rendered, loaded from every supported source, opened in headless Chromium."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from test_agent_support import crop_then_answer
from typer.testing import CliRunner

from longvt_plugins.cli import app
from longvt_plugins.core.agent import AgentBudgets, run_agent, score_trace
from longvt_plugins.core.backends import OpenAIBackend
from longvt_plugins.core.budget import SKIM
from longvt_plugins.core.crop_tool import CropBudget
from longvt_plugins.core.judge import JudgeConfig
from longvt_plugins.core.trace import Trace
from longvt_plugins.testing.openai_server import OpenAIStubServer
from longvt_plugins.viewer import load_traces, render_html, write_html

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def _scripted_trace(
    video: str, start: float, end: float, answer: str, truth: str | None, thumbnails: bool = True
) -> Trace:
    budgets = AgentBudgets(skim=SKIM.replace(max_frames=12), crop=CropBudget(max_frames=8))
    with OpenAIStubServer(crop_then_answer(start, end, answer), model="scripted-policy") as server:
        trace = run_agent(
            video,
            "Which coloured shape is shown in the scene that starts at 60 seconds?",
            OpenAIBackend(server.base_url, "scripted-policy", max_retries=0),
            budgets,
            ground_truth=truth,
            thumbnails=thumbnails,
        )
    if truth is not None:
        score_trace(trace, judge_config=JudgeConfig(base_url=None))
    return trace


@pytest.fixture(scope="module")
def traces(sample_video) -> list[Trace]:
    """Three real runs on the real video: correct, incorrect, unscored."""
    return [
        _scripted_trace(sample_video.path, 60, 70, "yellow square", "yellow square"),
        _scripted_trace(sample_video.path, 40, 48, "green triangle", "yellow square"),
        _scripted_trace(sample_video.path, 100, 119, "cyan square", None),
    ]


def test_single_trace_page_has_timeline_crops_thumbnails_and_outcome(traces):
    t = traces[0]
    page = render_html([t])
    assert page.count('class="skim-tick"') == len(t.skim["timestamps"]) == 12
    assert 'class="crop-window" data-crop="1" data-start="60.000" data-end="70.000"' in page
    assert page.count('<figure class="frame-thumb"') == t.frames_seen
    assert page.count("data:image/jpeg;base64,") == t.frames_seen
    assert "yellow square" in page and "stop: answer" in page
    assert 'id="index"' not in page  # one trace: no index


def test_view_resamples_missing_thumbnails_from_the_video(tmp_path, sample_video, traces):
    bare = _scripted_trace(sample_video.path, 60, 70, "yellow square", "yellow square", thumbnails=False)
    assert bare.thumbnails == {}
    bare.save(tmp_path / "bare.json")
    result = CliRunner().invoke(app, ["view", str(tmp_path / "bare.json"), "-o", str(tmp_path / "bare.html")])
    assert result.exit_code == 0, result.output
    assert f"re-sampled {traces[0].frames_seen} frame thumbnails" in " ".join(result.output.split())
    page = (tmp_path / "bare.html").read_text()
    # Same video, same budgets: the very thumbnails the run itself would have stored.
    for key, url in traces[0].thumbnails.items():
        assert url in page, key


def test_untrusted_text_is_escaped(traces):
    t = Trace.from_json(traces[0].to_json())
    t.question = '<script>alert(1)</script><img src="https://example.com/x.png">'
    t.turns[0].content = "</pre><script>steal()</script>"
    t.thumbnails[next(iter(t.thumbnails))] = 'javascript:alert(1)"'
    page = render_html([t])
    assert "<script>alert(1)" not in page and "<script>steal()" not in page
    assert "https://example.com" not in page.replace("&quot;https://example.com", "")
    assert "javascript:" not in page


def test_loads_trace_json_samples_jsonl_and_verl_dump(tmp_path, traces):
    single = traces[0].save(tmp_path / "one.json")
    assert load_traces(single).traces[0].to_dict() == traces[0].to_dict()

    samples = tmp_path / "samples.jsonl"
    lines = [
        {"doc_id": 0, "target": "yellow square", "resps": [[traces[1].to_json()]], "acc_score": 0.0},
        {"doc_id": 1, "trace": traces[2].to_dict(), "target": "cyan square", "acc_score": 1.0},
        {"doc_id": 2, "resps": [["plain text, no trace"]]},
    ]
    samples.write_text("\n".join(json.dumps(x) for x in lines) + "\nnot json\n")
    report = load_traces(samples)
    assert [t.id for t in report.traces] == [traces[1].id, traces[2].id]
    assert report.traces[1].ground_truth == "cyan square" and report.traces[1].score["score"] == 1.0
    assert len(report.skipped) == 2 and "not JSON" in report.skipped[1]

    dump = tmp_path / "rollouts"
    dump.mkdir()
    record = {
        "input": "system\nYou are a helpful assistant.\nuser\nThe video is 2:00 long (120.0 s). Which shape?\nassistant\n",
        "output": '<think>look</think>\n<tool_call>\n{"name": "crop_video", "arguments": {"start_time": 60, '
        '"end_time": 70}}\n</tool_call>user\n<tool_response>\n<60.0s><61.0s><62.0s>crop_video returned 3 frames'
        "\n</tool_response>assistant\n<think>yellow</think><answer>yellow square</answer>",
        "gts": "yellow square",
        "score": 2.4,
        "acc": 1.0,
        "step": 3,
    }
    (dump / "3.jsonl").write_text(json.dumps(record) + "\n")
    (v,) = load_traces(dump).traces
    assert v.question.endswith("Which shape?") and v.video["duration"] == 120.0
    assert [(c.start, c.end, c.timestamps) for c in v.crops] == [(60.0, 70.0, [60.0, 61.0, 62.0])]
    assert v.final_answer == "yellow square" and v.score["correct"] is True and len(v.turns) == 2
    assert 'data-start="60.000"' in render_html([v])


def _browser():
    if not CHROMIUM.exists():
        pytest.skip("/usr/bin/chromium is absent (Debian package `chromium`; CI installs it)")
    from playwright.sync_api import sync_playwright

    return sync_playwright()


def _open(p, html: Path):
    browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.goto(html.as_uri())
    page.wait_for_load_state("load")
    return browser, page, requests


def _save_artifact(shot: Path) -> None:
    artifacts = ROOT / "artifacts"
    artifacts.mkdir(exist_ok=True)
    shutil.copy(shot, artifacts / shot.name)


def test_trace_page_in_headless_chromium(tmp_path, traces):
    html = write_html([traces[0]], tmp_path / "trace.html")
    with _browser() as p:
        browser, page, requests = _open(p, html)
        try:
            t = traces[0]
            assert page.locator(".timeline svg").count() == 1
            assert page.locator(".timeline .skim-tick").count() == len(t.skim["timestamps"])
            window = page.locator("rect.crop-window")
            assert window.count() == 1
            assert (window.get_attribute("data-start"), window.get_attribute("data-end")) == (
                "60.000",
                "70.000",
            )
            assert window.bounding_box()["width"] > 20  # drawn, not collapsed: 10 s of a 120 s timeline
            thumbs = page.locator("figure.frame-thumb img")
            assert thumbs.count() == t.frames_seen
            # Every thumbnail decoded (no broken image) - the page is readable from disk alone.
            assert page.evaluate("[...document.images].every(i => i.complete && i.naturalWidth > 0)")
            crop_captions = page.locator("li.turn figure.frame-thumb figcaption").all_inner_texts()
            assert crop_captions == [f"{ts:.1f}s" for ts in t.crops[0].timestamps]
            assert "yellow square" in page.locator("dl.outcome").inner_text()
            shot = tmp_path / "viewer_trace.png"
            page.screenshot(path=str(shot), full_page=True)
        finally:
            browser.close()
    assert all(u.startswith(("file:", "data:")) for u in requests), requests  # no network from the page
    assert shot.stat().st_size > 10_000
    _save_artifact(shot)


def test_index_filters_in_headless_chromium(tmp_path, traces):
    html = write_html(traces, tmp_path / "run.html")
    with _browser() as p:
        browser, page, requests = _open(p, html)
        try:
            rows = page.locator("tr.trace-row")
            assert rows.count() == 3
            visible = lambda: page.locator("tr.trace-row:not(.hidden)").count()  # noqa: E731
            page.select_option("#filter-correct", "correct")
            assert visible() == 1 and page.locator("section.trace:not(.hidden)").count() == 1
            page.select_option("#filter-correct", "incorrect")
            assert visible() == 1
            page.select_option("#filter-correct", "unscored")
            assert visible() == 1
            page.select_option("#filter-correct", "all")
            page.select_option("#filter-crops", "1")
            assert visible() == 3
            page.select_option("#filter-crops", "0")
            assert visible() == 0 and page.locator("#filter-count").inner_text() == "0 shown"
            page.select_option("#filter-crops", "any")
            shot = tmp_path / "viewer_index.png"
            page.screenshot(path=str(shot), full_page=False)
        finally:
            browser.close()
    assert all(u.startswith(("file:", "data:")) for u in requests), requests
    _save_artifact(shot)
