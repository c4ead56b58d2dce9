"""`longvtp_videomme_subsearch_tool`: Video-MME with its subtitles given as the search_subtitles tool (issue 27) instead
of a prompt block. Through lmms-eval's own task loading and our chat model against an OpenAI-protocol server on
127.0.0.1: the prompt carries no subtitle lines, the tool is offered and answers from the doc's own SRT, and a
protocol without the tool fails the doc with the reason instead of answering without subtitles."""

from __future__ import annotations

import copy
import json

import pytest

from longvt_plugins.lmms_eval.overlay import build_overlay
from longvt_plugins.testing.openai_server import OpenAIStubServer
from longvt_plugins.testing.sample_benchmarks import write_sample_benchmarks

TASK = "longvtp_videomme_subsearch_tool"


@pytest.fixture(scope="module")
def task(tmp_path_factory):
    from lmms_eval.tasks import TaskManager, get_task_dict

    mp = pytest.MonkeyPatch()
    mp.setenv("LONGVT_JUDGE_CACHE", "off")
    mp.delenv("LONGVT_JUDGE_BASE_URL", raising=False)
    sample = write_sample_benchmarks(tmp_path_factory.mktemp("bench"))
    mp.setenv("LONGVT_EVAL_VIDEO_ROOT", str(sample.video_root))
    overlay = build_overlay(tmp_path_factory.mktemp("tasks") / "t", sample.data)
    manager = TaskManager("ERROR", include_path=str(overlay), include_defaults=False)
    yield get_task_dict([TASK], manager, task_type="chat")[TASK]
    mp.undo()


def _evaluate(model, task):
    from lmms_eval.api.instance import Instance

    docs = list(task.test_docs())
    model.task_dict = {TASK: task.dataset}
    requests = [
        Instance(
            "generate_until",
            (
                "",
                task.doc_to_messages,
                copy.deepcopy(task.config.generation_kwargs),
                i,
                TASK,
                task.config.test_split,
            ),
            idx=0,
            metadata={"task": TASK, "doc_id": i, "repeats": 1},
        )
        for i in range(len(docs))
    ]
    outputs = model.generate_until(requests)
    return [task.config.process_results(docs[i], [o.text]) for i, o in enumerate(outputs)]


def _policy(body):
    """Search the subtitles once, then answer A."""
    if not any(m["role"] == "tool" for m in body["messages"]):
        call = {"function": {"name": "search_subtitles", "arguments": {"query": "shapes show"}}}
        return {"content": "<think>What is said?</think>", "tool_calls": [call]}
    return "<think>heard it</think><answer>A</answer>"


def _model(base_url, protocol):
    from lmms_eval.models import get_model

    return get_model("longvt_agent")(base_url=base_url, protocol=protocol, max_frames=8)


def test_the_subtitles_come_as_the_search_tool_not_as_a_prompt_block(task):
    doc = next(iter(task.test_docs()))
    (user,) = [m for m in task.doc_to_messages(doc) if m["role"] == "user"]
    question = next(p for p in user["content"] if p.get("longvt_role") == "question")
    assert question["longvt_resources"]["subtitle_path"].endswith(f"videomme/subtitle/{doc['videoID']}.srt")
    assert "subtitles are listed" not in question["text"] and "Welcome" not in question["text"]

    with OpenAIStubServer(_policy, model="policy") as server:
        scores = _evaluate(_model(server.base_url, "longvt-tools"), task)
    assert len(scores) == 2 and all(s["failed"] == 0.0 for s in scores)
    assert len(server.requests) == 4  # two docs (run concurrently): a search, then an answer each
    for request in server.requests:
        names = [t["function"]["name"] for t in request["tools"]]
        assert names == ["crop_video", "search_subtitles", "zoom_frame"]
        tools = [m for m in request["messages"] if m["role"] == "tool"]
        before = json.dumps([m for m in request["messages"] if m["role"] != "tool"])
        assert "Welcome to the shapes show" not in before  # never in the prompt
        if tools:
            (tool,) = tools
            text = tool["content"] if isinstance(tool["content"], str) else json.dumps(tool["content"])
            assert "[1.0s - 4.0s] Welcome to the shapes show." in text  # the doc's own SRT, markup removed
    assert sum(1 for r in server.requests if any(m["role"] == "tool" for m in r["messages"])) == 2
    assert all(s["longvt"]["tool_calls"] == 1 for s in scores)


def test_a_protocol_without_the_tool_fails_the_doc_with_the_reason(task):
    with OpenAIStubServer(_policy, model="policy") as server:
        scores = _evaluate(_model(server.base_url, "longvt-plugins"), task)
    assert [s["failed"] for s in scores] == [1.0, 1.0] and not server.requests
    assert all("run it with protocol=longvt-tools" in s["longvt"]["failure"] for s in scores)
