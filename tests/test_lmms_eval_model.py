"""Our lmms-eval chat model against a real HTTP server on 127.0.0.1 speaking the OpenAI protocol with tool calls:
the tool runs on the real video, limits hold, and every failure is a reported sample, never a crashed run."""

from __future__ import annotations

import copy
import json

import pytest

from longvt_plugins.lmms_eval.overlay import build_overlay
from longvt_plugins.testing.openai_server import OpenAIStubServer
from longvt_plugins.testing.sample_benchmarks import window_reader_policy, write_sample_benchmarks

TASKS = [
    "longvtp_videosiah_tool",
    "longvtp_lvbench_tool",
    "longvtp_videomme_sub_think",
    "longvtp_lvbench_non_think",
]


@pytest.fixture(scope="module")
def env():
    mp = pytest.MonkeyPatch()
    mp.setenv("LONGVT_JUDGE_CACHE", "off")
    mp.delenv("LONGVT_JUDGE_BASE_URL", raising=False)
    mp.delenv("LLM_AS_A_JUDGE_BASE", raising=False)
    yield mp
    mp.undo()


@pytest.fixture(scope="module")
def tasks(tmp_path_factory, env):
    from lmms_eval.tasks import TaskManager, get_task_dict

    sample = write_sample_benchmarks(tmp_path_factory.mktemp("bench"))
    env.setenv("LONGVT_EVAL_VIDEO_ROOT", str(sample.video_root))
    overlay = build_overlay(tmp_path_factory.mktemp("tasks") / "t", sample.data)
    manager = TaskManager("ERROR", include_path=str(overlay), include_defaults=False)
    return get_task_dict(TASKS, manager, task_type="chat")


def make_model(cls_name="LongVTAgent", **args):
    from lmms_eval.models import get_model

    cls = get_model({"LongVTAgent": "longvt_agent", "LongVTAgentHF": "longvt_agent_hf"}[cls_name])
    return cls(**args)


def evaluate(model, task_name, task, docs=None):
    """What lmms-eval's evaluator does for one chat task: requests in, responses out, process_results."""
    from lmms_eval.api.instance import Instance

    split = task.config.test_split
    model.task_dict = {task_name: task.dataset}
    all_docs = list(task.test_docs())
    ids = range(len(all_docs)) if docs is None else docs
    requests = [
        Instance(
            "generate_until",
            ("", task.doc_to_messages, copy.deepcopy(task.config.generation_kwargs), i, task_name, split),
            idx=0,
            metadata={"task": task_name, "doc_id": i, "repeats": 1},
        )
        for i in ids
    ]
    outputs = model.generate_until(requests)
    return [task.config.process_results(all_docs[i], [out.text]) for i, out in zip(ids, outputs, strict=True)]


def test_crops_the_named_window_of_the_real_video_and_answers_from_its_frames(tasks):
    with OpenAIStubServer(window_reader_policy, model="policy") as server:
        model = make_model(base_url=server.base_url, max_frames=8, concurrency=2)
        scores = evaluate(model, "longvtp_lvbench_tool", tasks["longvtp_lvbench_tool"])
    assert [s["acc"] for s in scores] == [1.0]  # only the right window's frames show the asked colour
    assert [s["format"] for s in scores] == [1.0]
    log = scores[0]["longvt"]
    assert log["stop_reason"] == "answer" and log["tool_calls"] == 1
    crop = log["crops"][0]
    start, end = crop["window"]
    assert crop["ok"] and crop["frames"] == len(crop["timestamps"]) > 0
    assert all(start <= t <= end for t in crop["timestamps"])
    assert log["frames_seen"] == log["skim_frames"] + crop["frames"]
    # The wire: native tool_calls out, a tool message with the same call id and one image per frame back.
    first, second = server.requests
    assert first["tools"][0]["function"]["name"] == "crop_video"
    assert set(first["tools"][0]["function"]["parameters"]["properties"]) == {"start_time", "end_time"}
    assistant = next(m for m in second["messages"] if m["role"] == "assistant")
    tool_msg = next(m for m in second["messages"] if m["role"] == "tool")
    assert tool_msg["tool_call_id"] == assistant["tool_calls"][0]["id"]
    images = [p for p in tool_msg["content"] if p.get("type") == "image_url"]
    assert len(images) == crop["frames"]
    stamps = [p["text"] for p in tool_msg["content"] if p.get("type") == "text"]
    assert any(f"{crop['timestamps'][0]:.1f}" in s for s in stamps)  # each frame carries its timestamp
    prompt = " ".join(p.get("text", "") for p in first["messages"][-1]["content"] if p.get("type") == "text")
    assert "30.0" in prompt  # the duration is in the prompt
    assert "lv_1.mp4" not in json.dumps(first)  # no video path is ever shown to the model
    assert scores[0]["protocol"]["id"] == log["protocol_id"]
    assert scores[0]["protocol"]["max_new_tokens"] == 49152


def test_judge_decides_open_answers_and_its_verdict_is_counted(tasks, monkeypatch):
    def judge(body):
        prompt = body["messages"][-1]["content"]
        ref = prompt.split("[Reference]:")[1].split("\n")[0].strip()
        ans = prompt.split("[Model answer]:")[1].split("\n")[0].strip()
        return "TRUE" if ans.lower() in ref.lower() else "FALSE"

    with (
        OpenAIStubServer(window_reader_policy) as server,
        OpenAIStubServer(judge, model="judge") as judge_server,
    ):
        monkeypatch.setenv("LONGVT_JUDGE_BASE_URL", judge_server.base_url)
        model = make_model(base_url=server.base_url, max_frames=8)
        scores = evaluate(model, "longvtp_videosiah_tool", tasks["longvtp_videosiah_tool"])
        judged = len(judge_server.requests)
    # The policy answers "blue" for "blue triangle": no rule match, so the judge (TRUE) decides.
    assert [s["acc"] for s in scores] == [1.0, 1.0]
    assert [s["judge_fallback"] for s in scores] == [0.0, 0.0]
    assert [s["longvt"]["scoring"]["method"] for s in scores] == ["judge", "judge"]
    assert judged == 2
    assert scores[0]["protocol"]["judge"]["configured"] is True


def test_malformed_tool_arguments_are_reported_to_the_model_and_the_log(tasks):
    def policy(body):
        if not any(m["role"] == "tool" for m in body["messages"]):
            bad = {"id": "call_bad", "function": {"name": "crop_video", "arguments": "{start_time: 3, end"}}
            return {"content": "<think>crop</think>", "tool_calls": [bad]}
        return "<think>The tool said my call was broken.</think><answer>A</answer>"

    with OpenAIStubServer(policy) as server:
        model = make_model(base_url=server.base_url, max_frames=4)
        scores = evaluate(model, "longvtp_lvbench_tool", tasks["longvtp_lvbench_tool"])
        tool_msg = next(m for m in server.requests[1]["messages"] if m["role"] == "tool")
    log = scores[0]["longvt"]
    assert scores[0]["failed"] == 0.0 and log["stop_reason"] == "answer"
    assert (
        log["turns"][0]["tool_call_errors"] and "not a JSON object" in log["turns"][0]["tool_call_errors"][0]
    )
    assert log["crops"][0]["ok"] is False and "not a JSON object" in log["crops"][0]["error"]
    assert "not a JSON object" in json.dumps(tool_msg)  # the model was told why
    assert tool_msg["tool_call_id"] == "call_bad"


def test_a_model_that_never_stops_calling_tools_is_cut_off_at_the_turn_cap(tasks):
    def policy(body):
        return {
            "content": "<think>again</think>",
            "tool_calls": [
                {"function": {"name": "crop_video", "arguments": {"start_time": 1, "end_time": 3}}}
            ],
        }

    with OpenAIStubServer(policy) as server:
        model = make_model(base_url=server.base_url, max_frames=4, max_turns=4, max_tool_calls=2)
        scores = evaluate(model, "longvtp_lvbench_tool", tasks["longvtp_lvbench_tool"])
        requests = len(server.requests)
    log = scores[0]["longvt"]
    assert requests == 4 and len(log["turns"]) == 4
    assert log["stop_reason"] == "max_turns"
    assert [c["ok"] for c in log["crops"]] == [True, True, False, False]  # the call cap refuses the rest
    assert scores[0]["failed"] == 0.0 and scores[0]["acc"] == 0.0 and scores[0]["format"] == 0.0
    assert scores[0]["tool_calls"] == 4.0


@pytest.mark.parametrize(
    "mode,reason", [("server_error", "HTTP 500"), ("hang", "timed out"), ("garbage", "")]
)
def test_a_failing_server_gives_failed_samples_with_reasons_not_a_crash(tasks, mode, reason):
    with OpenAIStubServer(window_reader_policy, mode=mode, hang_seconds=30) as server:
        model = make_model(
            base_url=server.base_url, model_version="policy", max_frames=4, timeout=1, max_retries=0
        )
        scores = evaluate(model, "longvtp_videosiah_tool", tasks["longvtp_videosiah_tool"])
    for s in scores:
        assert (s["failed"], s["acc"], s["format"]) == (1.0, 0.0, 0.0)
        assert reason in s["longvt"]["failure"]
        assert s["longvt"]["scoring"]["method"] == "failed"


def test_a_doc_whose_video_is_missing_is_a_failed_sample_with_the_reason(tasks, monkeypatch):
    task = tasks["longvtp_lvbench_non_think"]
    with OpenAIStubServer(window_reader_policy) as server:
        model = make_model(base_url=server.base_url, max_frames=4)
        monkeypatch.setenv("LONGVT_EVAL_VIDEO_ROOT", "/nonexistent-root")  # the relative path cannot resolve
        scores = evaluate(model, "longvtp_lvbench_non_think", task)
    assert scores[0]["failed"] == 1.0
    assert (
        "VideoMissing" in scores[0]["longvt"]["failure"]
        and "/nonexistent-root" in scores[0]["longvt"]["failure"]
    )


def test_requests_in_flight_never_exceed_the_concurrency_limit(tasks):
    task = tasks["longvtp_videomme_sub_think"]
    with OpenAIStubServer(window_reader_policy, delay=0.2) as server:
        model = make_model(base_url=server.base_url, max_frames=4, concurrency=1)
        evaluate(model, "longvtp_videomme_sub_think", task, docs=[0, 1, 0, 1])
        assert server.max_in_flight == 1
        server.reset()
        model = make_model(base_url=server.base_url, max_frames=4, concurrency=2)
        scores = evaluate(model, "longvtp_videomme_sub_think", task, docs=[0, 1, 0, 1, 0, 1])
        assert server.max_in_flight <= 2
        # think style: no tools offered, one turn, and the answers still read the video (the skim here).
        assert all("tools" not in body for body in server.requests)
    assert all(s["failed"] == 0.0 and len(s["longvt"]["turns"]) == 1 for s in scores)


def test_model_args_are_checked_and_the_upstream_protocol_fills_the_budgets(tasks):
    with OpenAIStubServer(window_reader_policy) as server:
        with pytest.raises(TypeError, match="unknown model_args.*max_framez"):
            make_model(base_url=server.base_url, max_framez=3)
        with pytest.raises(ValueError, match="protocol"):
            make_model(base_url=server.base_url, protocol="fast")
        model = make_model(base_url=server.base_url, protocol="upstream", max_turns=3)
        sft = make_model(base_url=server.base_url, protocol="upstream", model_version="org/LongVT-SFT")
    b = model.budgets
    assert (b.skim.max_frames, b.skim.max_pixels, b.crop.max_frames, b.crop.max_pixels) == (
        768,
        50176,
        128,
        50176,
    )
    assert b.max_turns == 3  # an explicit model arg wins over the protocol, and renames it
    assert model.protocol.name == "upstream+custom" and sft.protocol.name == "upstream"
    assert sft.budgets.skim.max_frames == 512  # upstream evaluated its SFT checkpoint at 512 frames
    with pytest.raises(ValueError, match="base_url"):
        make_model()


def test_a_qwen3_vl_checkpoint_runs_the_same_task_with_its_own_template(tasks, fixture_cache):
    from transformers import AutoProcessor

    from longvt_plugins.testing.tiny_model import tiny_qwen3vl

    path = tiny_qwen3vl(fixture_cache)
    model = make_model("LongVTAgentHF", pretrained=str(path), max_frames=4, max_new_tokens=8, max_turns=2)
    # Chosen from the checkpoint's config (model_type), not by a flag: the checkpoint's own template (the tiny
    # one carries a copy of ours, as no real one can be downloaded here) and Qwen3-VL's 16-px patches.
    assert model.backend.family == "qwen3_vl" and model.backend.patch_size == 16
    assert model.backend.chat_template == AutoProcessor.from_pretrained(path).chat_template
    scores = evaluate(model, "longvtp_videosiah_tool", tasks["longvtp_videosiah_tool"], docs=[0])
    log = scores[0]["longvt"]
    assert scores[0]["failed"] == 0.0 and log["stop_reason"] not in ("backend_error", "video_error")
    assert log["skim_frames"] == 4 and log["usage"]["prompt_tokens"] > 0
    assert all(0 < (t["completion_tokens"] or 0) <= 8 for t in log["turns"])
    assert scores[0]["protocol"]["model"]["family"] == "qwen3_vl"


def test_a_request_for_a_doc_that_does_not_exist_is_an_empty_answer_not_a_crash(tasks):
    from lmms_eval.api.instance import Instance

    task = tasks["longvtp_lvbench_tool"]
    with OpenAIStubServer(window_reader_policy) as server:
        model = make_model(base_url=server.base_url, max_frames=4)
        model.task_dict = {"longvtp_lvbench_tool": task.dataset}
        args = (
            "",
            task.doc_to_messages,
            dict(task.config.generation_kwargs),
            99,
            "longvtp_lvbench_tool",
            "train",
        )
        (out,) = model.generate_until(
            [Instance("generate_until", args, 0, {"task": "x", "doc_id": 99, "repeats": 1})]
        )
        assert server.requests == []
    assert out.text == "" and out.token_counts.output_tokens == 0
