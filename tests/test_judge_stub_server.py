"""The OpenAI-protocol stub server itself, driven by the real ``openai`` SDK over loopback HTTP."""

from __future__ import annotations

import asyncio
import json
import urllib.request

import openai
import pytest

from longvt_plugins.testing.openai_server import Fault, OpenAIStubServer, closed_port_url

MESSAGES = [{"role": "user", "content": "hello"}]


def _client(server, **kw) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.base_url, api_key="x", max_retries=0, **kw)


def test_scripted_text_tool_calls_models_and_recording():
    def handler(body):
        if body["messages"][-1]["content"] == "crop":
            return {
                "content": None,
                "tool_calls": [
                    {"function": {"name": "crop_video", "arguments": {"start_time": 1, "end_time": 4}}}
                ],
            }
        return f"echo: {body['messages'][-1]['content']}"

    with OpenAIStubServer(handler, model="judge-7b") as server:
        assert server.base_url.startswith("http://127.0.0.1:") and server.base_url.endswith("/v1")
        client = _client(server)
        assert [m.id for m in client.models.list()] == ["judge-7b"]
        reply = client.chat.completions.create(model="judge-7b", messages=MESSAGES)
        assert reply.choices[0].message.content == "echo: hello" and reply.choices[0].finish_reason == "stop"
        call = client.chat.completions.create(
            model="judge-7b", messages=[{"role": "user", "content": "crop"}]
        )
        assert call.choices[0].finish_reason == "tool_calls"
        tool_call = call.choices[0].message.tool_calls[0]
        assert tool_call.function.name == "crop_video" and json.loads(tool_call.function.arguments) == {
            "start_time": 1,
            "end_time": 4,
        }
        assert [r["messages"][-1]["content"] for r in server.requests] == ["hello", "crop"]
        assert server.request_count == 3  # the models listing counts as a request too
        assert server.stats()["chat_requests"] == 2


def test_streaming_reply_is_assembled_by_the_sdk():
    with OpenAIStubServer(lambda body: "streamed text") as server:
        chunks = list(_client(server).chat.completions.create(model="m", messages=MESSAGES, stream=True))
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        assert text == "streamed text"


def test_full_response_passthrough_and_async_handler():
    async def handler(body):
        await asyncio.sleep(0.01)
        return {
            "id": "x",
            "object": "chat.completion",
            "created": 0,
            "model": "m",
            "choices": [
                {"index": 0, "message": {"role": "assistant", "content": "raw"}, "finish_reason": "length"}
            ],
        }

    with OpenAIStubServer(handler) as server:
        reply = _client(server).chat.completions.create(model="m", messages=MESSAGES)
        assert reply.choices[0].finish_reason == "length" and reply.choices[0].message.content == "raw"


@pytest.mark.parametrize(
    ("mode", "error"),
    [
        ("rate_limit", openai.RateLimitError),
        ("server_error", openai.InternalServerError),
        ("hang", openai.APITimeoutError),
        ("drop", openai.APIConnectionError),
    ],
)
def test_failure_modes_reach_the_sdk_as_their_real_errors(mode, error):
    with OpenAIStubServer(mode=mode, retry_after=7) as server:
        with pytest.raises(error) as info:
            _client(server, timeout=0.5).chat.completions.create(model="m", messages=MESSAGES)
        if mode == "rate_limit":
            assert info.value.response.headers["retry-after"] == "7"


def test_garbage_think_and_nonsense_modes():
    with OpenAIStubServer(lambda body: "1", mode="garbage") as server:
        client = _client(server)
        with pytest.raises(json.JSONDecodeError):
            client.chat.completions.create(model="m", messages=MESSAGES)
        server.mode = "think"
        text = client.chat.completions.create(model="m", messages=MESSAGES).choices[0].message.content
        assert text.startswith("<think>") and text.endswith("</think>\n\n1")
        server.mode = "nonsense"
        text = client.chat.completions.create(model="m", messages=MESSAGES).choices[0].message.content
        assert text and "1" not in text


def test_queued_faults_then_default_mode():
    with OpenAIStubServer(lambda body: "ok") as server:
        server.queue("server_error", Fault("rate_limit", retry_after=0))
        client = _client(server)
        with pytest.raises(openai.InternalServerError):
            client.chat.completions.create(model="m", messages=MESSAGES)
        with pytest.raises(openai.RateLimitError):
            client.chat.completions.create(model="m", messages=MESSAGES)
        assert client.chat.completions.create(model="m", messages=MESSAGES).choices[0].message.content == "ok"
        assert [status for _, _, status in server.log] == [500, 429, 200]


def test_handler_fault_for_one_request_only():
    with OpenAIStubServer(
        lambda body: Fault("server_error") if "bad" in body["messages"][-1]["content"] else "fine"
    ) as s:
        client = _client(s)
        with pytest.raises(openai.InternalServerError):
            client.chat.completions.create(model="m", messages=[{"role": "user", "content": "bad"}])
        assert (
            client.chat.completions.create(model="m", messages=MESSAGES).choices[0].message.content == "fine"
        )


def test_bad_requests_and_unknown_paths_get_clear_errors():
    with OpenAIStubServer() as server:
        request = urllib.request.Request(
            server.base_url + "/chat/completions", data=b"{not json", method="POST"
        )
        with pytest.raises(urllib.error.HTTPError) as info:
            urllib.request.urlopen(request, timeout=5)
        assert info.value.code == 400
        with pytest.raises(urllib.error.HTTPError) as info:
            urllib.request.urlopen(server.base_url + "/embeddings", timeout=5)
        assert info.value.code == 404
    with pytest.raises(ValueError, match="unknown stub server mode"):
        OpenAIStubServer(mode="explode")


def test_down_server_refuses_connections():
    url = closed_port_url()
    with pytest.raises(openai.APIConnectionError):
        openai.OpenAI(base_url=url, api_key="x", max_retries=0, timeout=2).models.list()
    server = OpenAIStubServer().start()
    url = server.base_url
    server.stop()
    with pytest.raises(openai.APIConnectionError):
        openai.OpenAI(base_url=url, api_key="x", max_retries=0, timeout=2).models.list()


async def test_many_concurrent_requests_are_served_concurrently():
    async with OpenAIStubServer(delay=0.2) as server:
        client = openai.AsyncOpenAI(base_url=server.base_url, api_key="x", max_retries=0)
        replies = await asyncio.gather(
            *[client.chat.completions.create(model="m", messages=MESSAGES) for _ in range(64)]
        )
        await client.close()
        assert len(replies) == 64
        # all 64 were open at once: the server does not serialise them
        assert server.max_in_flight == 64
        assert server.in_flight == 0
