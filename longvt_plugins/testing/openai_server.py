"""An OpenAI-protocol chat-completions server on 127.0.0.1 for tests and benchmarks.

It stands in for what cannot run on a CPU test machine (a vLLM / SGLang server, a 72B judge) and speaks the
real wire protocol, so the code under test uses its real client (the ``openai`` SDK, aiohttp, ...).

Usage::

    from longvt_plugins.testing.openai_server import OpenAIStubServer, Fault, closed_port_url

    def handler(body: dict):                       # the request JSON of one POST /v1/chat/completions
        return "Judgement: 1"                      # str -> assistant text
        # or {"content": "...", "tool_calls": [{"function": {"name": "crop_video",
        #                                         "arguments": {"start_time": 1, "end_time": 5}}}]}
        # or a full chat.completion dict (has "choices"): sent unchanged
        # or Fault("rate_limit") to misbehave on this one request

    with OpenAIStubServer(handler, model="judge-7b") as server:      # also ``async with``
        client = openai.OpenAI(base_url=server.base_url, api_key="x")  # base_url ends in /v1
        ...
        server.requests        # list of request bodies (dicts) of every POST /v1/chat/completions, in order
        server.request_count   # every HTTP request received (chat + models + unknown paths)
        server.max_in_flight   # most chat requests that were open at the same time

The handler may also be ``async def``. A sync handler runs on the server's event loop: keep it quick and use
``delay=`` (or ``await asyncio.sleep`` in an async handler) for latency, so concurrency stays real.

Misbehaviour, per server or per request:

- ``delay=0.2``: every chat reply waits this long (asyncio sleep: thousands can wait at once).
- ``mode=``: the default behaviour of every chat request; change it any time (``server.mode = "server_error"``).
  ``"ok"`` (the handler's reply), ``"rate_limit"`` (HTTP 429 with ``Retry-After: retry_after``),
  ``"server_error"`` (HTTP 500), ``"unauthorized"`` (HTTP 401, a wrong API key: not worth retrying),
  ``"hang"`` (no reply for ``hang_seconds``; the client's timeout fires first),
  ``"garbage"`` (HTTP 200 whose body is not JSON), ``"nonsense"`` (a valid reply whose text is word salad),
  ``"think"`` (the handler's text after a ``<think>...</think>`` block, as reasoning models answer),
  ``"drop"`` (the connection is closed with no response at all).
- ``server.queue("rate_limit", "server_error")``: one-shot modes taken by the next chat requests, in order,
  before falling back to ``mode``; e.g. "fail twice, then answer".
- a handler returning ``Fault(kind, retry_after=...)`` misbehaves on that request only.
- "down": ``closed_port_url()`` gives a ``/v1`` URL on a port nobody listens on; ``server.stop()`` also makes
  the server's own URL refuse connections.

Server limits, as vLLM enforces them (HTTP 400 with vLLM's wording, the request is still recorded):

- ``max_images=N``: a request with more than N ``image_url`` parts is refused (``--limit-mm-per-prompt``).
- ``max_model_len=N``: a request whose estimated prompt tokens plus ``max_tokens`` exceed N is refused
  (``--max-model-len``). Prompt tokens are estimated as each image's ``image_tokens`` plus 1 per 4 characters of
  everything else; ``server.last_prompt_tokens`` holds the last estimate, and it is what ``usage`` reports.

GET /stub/stats returns ``stats()`` (request_count, chat_requests, in_flight, max_in_flight) without being
counted, for a server running in another process (benchmarks do this to keep the client's GIL out of the way).
GET /v1/models lists ``models`` (default: ``[model]``). ``"stream": true`` requests get one SSE chunk with the
whole reply and ``data: [DONE]``. Nothing here touches the network beyond 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import socket
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

MODES = ("ok", "rate_limit", "server_error", "unauthorized", "hang", "garbage", "nonsense", "think", "drop")

Handler = Callable[[dict], Any]


@dataclass(frozen=True)
class Fault:
    """Returned by a handler (or queued) to make one request misbehave; ``kind`` is one of ``MODES``."""

    kind: str
    retry_after: float | None = None

    def __post_init__(self) -> None:
        if self.kind not in MODES:
            raise ValueError(f"unknown stub server mode {self.kind!r}; expected one of {MODES}")


def closed_port_url() -> str:
    """A ``http://127.0.0.1:<port>/v1`` URL where nothing listens (connection refused): a judge that is down."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


def _default_handler(body: dict) -> str:
    return "OK"


def _estimate_tokens(value: Any) -> int:
    # Rough and deterministic: clients only need plausible usage numbers, not a tokenizer.
    return max(1, len(json.dumps(value, ensure_ascii=False)) // 4)


def _normalise_tool_calls(tool_calls: list[dict]) -> list[dict]:
    out = []
    for i, call in enumerate(tool_calls):
        fn = dict(call.get("function") or {})
        if not isinstance(fn.get("arguments", ""), str):
            fn["arguments"] = json.dumps(fn["arguments"])
        fn.setdefault("arguments", "{}")
        out.append(
            {"id": call.get("id") or f"call_{uuid.uuid4().hex[:12]}_{i}", "type": "function", "function": fn}
        )
    return out


class OpenAIStubServer:
    """A real aiohttp server in a background thread; see the module docstring for the API."""

    def __init__(
        self,
        handler: Handler | None = None,
        *,
        model: str = "stub-model",
        models: list[str] | None = None,
        mode: str = "ok",
        delay: float = 0.0,
        retry_after: float = 1.0,
        hang_seconds: float = 3600.0,
        think_text: str = "Let me compare the two answers carefully.",
        max_images: int | None = None,
        max_model_len: int | None = None,
        image_tokens: int = 66,
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"unknown stub server mode {mode!r}; expected one of {MODES}")
        self.handler: Handler = handler or _default_handler
        self.model = model
        self.models = list(models) if models is not None else [model]
        self.mode = mode
        self.delay = float(delay)
        self.retry_after = float(retry_after)
        self.hang_seconds = float(hang_seconds)
        self.think_text = think_text
        self.max_images = max_images
        self.max_model_len = max_model_len
        self.image_tokens = int(image_tokens)
        self.last_prompt_tokens: int | None = None

        self.requests: list[dict] = []
        self.log: list[tuple[str, str, int]] = []  # (method, path, status) of every HTTP request
        self.in_flight = 0
        self.max_in_flight = 0
        self._queued: deque[Fault] = deque()
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._port: int | None = None

    # ----------------------------------------------------------------------------------------- lifecycle
    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("OpenAIStubServer is not started; use it as a context manager or call start()")
        return self._port

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def request_count(self) -> int:
        with self._lock:
            return len(self.log)

    def start(self) -> OpenAIStubServer:
        if self._thread is not None:
            return self
        ready = threading.Event()
        errors: list[BaseException] = []

        def serve() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self._setup())
            except BaseException as exc:  # surfaced to the caller of start()
                errors.append(exc)
                ready.set()
                loop.close()
                return
            ready.set()
            loop.run_forever()
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

        self._thread = threading.Thread(target=serve, name="openai-stub-server", daemon=True)
        self._thread.start()
        ready.wait()
        if errors:
            self._thread = None
            raise RuntimeError("OpenAIStubServer failed to start") from errors[0]
        return self

    async def _setup(self) -> None:
        # handler_cancellation: a client that times out and disconnects ends its handler, so in_flight stays true.
        app = web.Application(handler_args={"max_field_size": 1 << 20})
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_get("/v1/models", self._models)
        app.router.add_get("/stub/stats", self._stats)
        app.router.add_route("*", "/{tail:.*}", self._unknown)
        self._runner = web.AppRunner(
            app, handle_signals=False, shutdown_timeout=0.5, handler_cancellation=True, access_log=None
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0, backlog=1024, reuse_address=True)
        await site.start()
        self._port = site._server.sockets[0].getsockname()[1]  # port 0 -> the one the OS picked

    def stop(self) -> None:
        """Close the server; its URL then refuses connections (the "down" case)."""
        if self._thread is None or self._loop is None:
            return
        loop = self._loop
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), loop).result(timeout=30)
        loop.call_soon_threadsafe(loop.stop)
        self._thread.join(timeout=30)
        self._thread = None
        self._loop = None

    def __enter__(self) -> OpenAIStubServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def __aenter__(self) -> OpenAIStubServer:
        return await asyncio.to_thread(self.start)

    async def __aexit__(self, *exc: object) -> None:
        await asyncio.to_thread(self.stop)

    # ----------------------------------------------------------------------------------------- scripting
    def queue(self, *kinds: str | Fault) -> None:
        """Make the next chat requests misbehave, one kind each, in order; then ``mode`` applies again."""
        with self._lock:
            for kind in kinds:
                self._queued.append(kind if isinstance(kind, Fault) else Fault(kind))

    def reset(self) -> None:
        """Forget recorded requests and counters (not the mode)."""
        with self._lock:
            self.requests.clear()
            self.log.clear()
            self._queued.clear()
            self.max_in_flight = self.in_flight

    # ----------------------------------------------------------------------------------------- handlers
    def _record(self, request: web.Request, status: int) -> None:
        with self._lock:
            self.log.append((request.method, request.path, status))

    async def _unknown(self, request: web.Request) -> web.Response:
        self._record(request, 404)
        return web.json_response(
            {"error": {"message": f"no route {request.path}", "type": "not_found"}}, status=404
        )

    async def _stats(self, request: web.Request) -> web.Response:
        # Not recorded in the log: lets a server in another process be inspected without disturbing its counts.
        return web.json_response(self.stats())

    def stats(self) -> dict:
        with self._lock:
            return {
                "request_count": len(self.log),
                "chat_requests": len(self.requests),
                "in_flight": self.in_flight,
                "max_in_flight": self.max_in_flight,
            }

    async def _models(self, request: web.Request) -> web.Response:
        self._record(request, 200)
        data = [{"id": m, "object": "model", "created": 0, "owned_by": "longvt-stub"} for m in self.models]
        return web.json_response({"object": "list", "data": data})

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        with self._lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            return await self._chat_inner(request)
        finally:
            with self._lock:
                self.in_flight -= 1

    async def _chat_inner(self, request: web.Request) -> web.StreamResponse:
        try:
            body = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            self._record(request, 400)
            return web.json_response(
                {"error": {"message": "request body is not JSON", "type": "bad_request"}}, status=400
            )
        with self._lock:
            self.requests.append(body)
            fault = self._queued.popleft() if self._queued else None
        refusal = self._over_limits(body)
        if refusal is not None:
            self._record(request, 400)
            return web.json_response(
                {"error": {"message": refusal, "type": "BadRequestError", "code": 400}}, status=400
            )
        if fault is None and self.mode != "ok":
            fault = Fault(self.mode)
        if self.delay > 0:
            await asyncio.sleep(self.delay)

        if fault is None or fault.kind in ("think", "nonsense"):
            reply = self.handler(body)
            if inspect.isawaitable(reply):
                reply = await reply
            if isinstance(reply, Fault):
                fault = reply
        if fault is not None and fault.kind not in ("think", "nonsense"):
            return await self._misbehave(request, fault)

        if fault is not None and fault.kind == "nonsense":
            reply = "Purple turtles enjoy the quiet of a library on Tuesdays."
        payload = self._completion(body, reply, think=fault is not None and fault.kind == "think")
        self._record(request, 200)
        if body.get("stream"):
            return await self._stream(request, payload)
        return web.json_response(payload)

    def _prompt_tokens(self, body: dict) -> int:
        images, chars = 0, 0
        for message in body.get("messages", []):
            content = message.get("content")
            if isinstance(content, list):
                for part in content:
                    if part.get("type") == "image_url":
                        images += 1
                    else:
                        chars += len(json.dumps(part, ensure_ascii=False))
            else:
                chars += len(json.dumps(content, ensure_ascii=False))
            chars += len(json.dumps(message.get("tool_calls") or "", ensure_ascii=False))
        return images * self.image_tokens + max(1, chars // 4)

    def _over_limits(self, body: dict) -> str | None:
        """vLLM's refusal text when a request breaks the server's limits, else None."""
        images = sum(
            1
            for m in body.get("messages", [])
            if isinstance(m.get("content"), list)
            for p in m["content"]
            if p.get("type") == "image_url"
        )
        if self.max_images is not None and images > self.max_images:
            return f"At most {self.max_images} image(s) may be provided in one prompt."
        prompt = self._prompt_tokens(body)
        self.last_prompt_tokens = prompt
        wanted = int(body.get("max_tokens") or body.get("max_completion_tokens") or 0)
        if self.max_model_len is not None and prompt + wanted > self.max_model_len:
            return (
                f"This model's maximum context length is {self.max_model_len} tokens. However, you requested "
                f"{prompt + wanted} tokens ({prompt} in the messages, {wanted} in the completion). Please reduce "
                "the length of the messages or completion."
            )
        return None

    async def _misbehave(self, request: web.Request, fault: Fault) -> web.StreamResponse:
        kind = fault.kind
        if kind == "rate_limit":
            wait = self.retry_after if fault.retry_after is None else fault.retry_after
            self._record(request, 429)
            return web.json_response(
                {"error": {"message": "rate limited by stub", "type": "rate_limit_exceeded", "code": "429"}},
                status=429,
                headers={"Retry-After": f"{wait:g}"},
            )
        if kind == "server_error":
            self._record(request, 500)
            return web.json_response(
                {"error": {"message": "stub internal error", "type": "server_error"}}, status=500
            )
        if kind == "unauthorized":
            self._record(request, 401)
            return web.json_response(
                {
                    "error": {
                        "message": "invalid api key",
                        "type": "invalid_request_error",
                        "code": "invalid_api_key",
                    }
                },
                status=401,
            )
        if kind == "garbage":
            self._record(request, 200)
            return web.Response(text="<html>\x00not json{{{", content_type="application/json")
        if kind == "hang":
            self._record(request, 0)
            await asyncio.sleep(self.hang_seconds)
            return web.json_response({"error": {"message": "hung", "type": "timeout"}}, status=504)
        if kind == "drop":
            self._record(request, 0)
            if request.transport is not None:
                request.transport.abort()
            raise asyncio.CancelledError  # no response at all: the client sees a dropped connection
        raise ValueError(f"unhandled fault {kind!r}")

    def _completion(self, body: dict, reply: Any, *, think: bool) -> dict:
        if isinstance(reply, dict) and "choices" in reply:
            return reply
        if isinstance(reply, dict):
            message: dict[str, Any] = {"role": "assistant", "content": reply.get("content")}
            if reply.get("tool_calls"):
                message["tool_calls"] = _normalise_tool_calls(reply["tool_calls"])
            finish = reply.get("finish_reason") or ("tool_calls" if message.get("tool_calls") else "stop")
        else:
            message = {"role": "assistant", "content": "" if reply is None else str(reply)}
            finish = "stop"
        if think:
            message["content"] = f"<think>\n{self.think_text}\n</think>\n\n{message.get('content') or ''}"
        prompt_tokens = (
            self._prompt_tokens(body)
            if self.max_model_len is not None
            else _estimate_tokens(body.get("messages", []))
        )
        completion_tokens = _estimate_tokens(message)
        return {
            "id": f"chatcmpl-{uuid.uuid4().hex}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model") or self.model,
            "choices": [{"index": 0, "message": message, "finish_reason": finish, "logprobs": None}],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        }

    async def _stream(self, request: web.Request, payload: dict) -> web.StreamResponse:
        response = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
        )
        await response.prepare(request)
        choice = payload["choices"][0]
        delta = {k: v for k, v in choice["message"].items() if v is not None}
        if "tool_calls" in delta:
            delta["tool_calls"] = [dict(call, index=i) for i, call in enumerate(delta["tool_calls"])]
        base = {k: payload[k] for k in ("id", "created", "model")} | {"object": "chat.completion.chunk"}
        chunks = [
            base | {"choices": [{"index": 0, "delta": delta, "finish_reason": None}]},
            base | {"choices": [{"index": 0, "delta": {}, "finish_reason": choice["finish_reason"]}]},
        ]
        for chunk in chunks:
            await response.write(f"data: {json.dumps(chunk)}\n\n".encode())
        await response.write(b"data: [DONE]\n\n")
        await response.write_eof()
        return response
