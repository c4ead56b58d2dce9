"""One sample under one protocol: what the agent loop asks a protocol, in one object.

The loop (core.agent) stays protocol-agnostic: it asks the session for the first messages, the tools, each tool
turn's content, the turn cap, and - before every request - how many new tokens still fit. A request that
cannot fit (no room left in the context, or more images than the server takes) gets `0`, and the loop ends the
sample as `context_exhausted` instead of sending a request the server would refuse.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from longvt_plugins.core.families import DEFAULT_FAMILY
from longvt_plugins.core.protocols import messages as wire
from longvt_plugins.core.protocols.context import (
    clamp_new_tokens,
    count_images,
    estimate_tokens,
    prompt_tokens_from_error,
    serve_limits_all,
)
from longvt_plugins.core.protocols.spec import Protocol

SAFETY_TURNS = 64  # upstream has no turn cap; the context ends a sample long before this


@dataclass
class ProtocolSession:
    protocol: Protocol
    style: str
    benchmark: str | None = None
    multiple_choice: bool = False
    patch_size: int = 14
    max_images: int | None = None  # the server's --limit-mm-per-prompt; default: what the protocol needs
    max_model_len: int | None = None  # the server's --max-model-len; default: the protocol's
    _base_tokens: int | None = field(default=None, repr=False)
    _base_index: int = field(default=0, repr=False)
    _prompt_path: str = field(
        default="", repr=False
    )  # the video path the first turn named (upstream's checks)

    def __post_init__(self) -> None:
        self.protocol.style(self.style)  # an unknown style fails here, not mid-run
        if self.max_images is None:
            self.max_images = serve_limits_all(self.protocol, patch_size=self.patch_size).images
        if self.max_model_len is None:
            self.max_model_len = self.protocol.tokens.max_model_len

    # ------------------------------------------------------------------ what is sent
    def tools(self) -> list[dict[str, Any]]:
        return wire.tools_for(self.protocol, self.style)

    def initial_messages(
        self,
        question: str,
        frames: list[Any],
        timestamps: list[float],
        info: Any,
        video_path: str,
        *,
        family: str = DEFAULT_FAMILY,
        label_times: list[float] | None = None,
    ) -> list[dict[str, Any]]:
        self._prompt_path = video_path
        return wire.initial_messages(
            self.protocol,
            style=self.style,
            question=question,
            frames=frames,
            timestamps=timestamps,
            info=info,
            video_path=video_path,
            benchmark=self.benchmark,
            multiple_choice=self.multiple_choice,
            family=family,
            label_times=label_times,
        )

    def tool_content(self, result: Any, family: str = DEFAULT_FAMILY) -> list[dict[str, Any]]:
        return wire.tool_content(self.protocol, result, family)

    # ------------------------------------------------------------------ how calls are run
    def run_crop(self, tool: Any, arguments: dict[str, Any], *, calls_made: int | None = None) -> Any:
        """One crop_video call on the bound tool, with the protocol's checks and texts -> CropResult.
        `calls_made`: the trajectory's crop calls before this one (upstream has no cap and ignores it)."""
        if self.protocol.tool.checks == "upstream":
            from longvt_plugins.core.protocols import upstream_tool

            return upstream_tool.execute(tool, arguments, self._prompt_path)
        return tool.execute(arguments, calls_made=calls_made)

    def unknown_tool_text(self, name: str) -> str | None:
        """The tool message for a call of a tool that does not exist (None: the caller's own text)."""
        if self.protocol.tool.checks == "upstream":
            from longvt_plugins.core.protocols.upstream_tool import unknown_tool_text

            return unknown_tool_text(name)
        return None

    def calls_per_turn(self, default: int) -> int:
        """How many calls of one turn run: every one (upstream), the protocol's budget, else the caller's."""
        if self.protocol.tool.all_calls_run:
            return 10**9
        named = self.protocol.tool.calls_per_turn
        return default if named is None else named

    def frames_per_turn(self) -> int | None:
        """The crop frames one turn may return, shared by its crop_video calls (None: each crop's own cap)."""
        return self.protocol.tool.frames_per_turn

    def resends_server_text(self) -> bool:
        """Whether an assistant turn with tool calls goes back with the server's text untouched (lmms-eval's
        async_openai) rather than without its trailing whitespace (ours: hermes templates add the separator)."""
        return self.protocol.wire == "lmms_eval_async_openai"

    def ends_on_malformed_call(self) -> bool:
        return self.protocol.tool.malformed_call == "end"

    def shape(self, request: dict[str, Any]) -> dict[str, Any]:
        return wire.shape_request(self.protocol, request)

    # ------------------------------------------------------------------ limits
    def turn_cap(self) -> int:
        return self.protocol.turn_cap or SAFETY_TURNS

    def max_tool_calls(self) -> int | None:
        return self.protocol.max_tool_calls

    def new_tokens(self) -> int:
        return self.protocol.tokens.new_tokens(self.style, self.benchmark)

    def prompt_tokens(self, messages: list[dict[str, Any]], tools: list[dict] | None = None) -> int:
        """The next request's prompt size: the server's own count of the last one plus an estimate of the rest."""
        if self._base_tokens is None:
            return estimate_tokens(messages, tools, self.patch_size)
        return self._base_tokens + estimate_tokens(messages[self._base_index :], None, self.patch_size)

    def next_request(
        self, messages: list[dict[str, Any]], tools: list[dict] | None, generated: int
    ) -> tuple[int, str | None]:
        """(`max_tokens` for the next request, None) - or (0, why the sample must stop before sending it):
        `token_budget` when the trajectory's budget is spent, `context_exhausted` when the request cannot fit."""
        total = self.protocol.tokens.max_total_tokens
        wanted = self.new_tokens() if total is None else min(self.new_tokens(), total - generated)
        if wanted <= 0:
            return 0, "token_budget"
        sent = wire.sent_messages(self.protocol, messages)
        if self.max_images is not None and count_images(sent) > self.max_images:
            return 0, "context_exhausted"
        # When earlier rounds are left out (upstream), the server's count of the last request no longer applies.
        prompt = (
            self.prompt_tokens(messages, tools)
            if len(sent) == len(messages)
            else estimate_tokens(sent, tools)
        )
        room = clamp_new_tokens(wanted, prompt, self.max_model_len)
        return (room, None) if room > 0 else (0, "context_exhausted")

    def retry_room(self, refusal: str, asked: int) -> int | None:
        """After the server refused a request as too long: a smaller `max_tokens` that fits the prompt size it
        reported, or None (it did not say, or nothing fits) - then the sample is `context_exhausted`."""
        prompt = prompt_tokens_from_error(refusal)
        if prompt is None:
            return None
        room = clamp_new_tokens(asked, prompt, self.max_model_len)
        return room if 0 < room < asked else None

    def observe(self, sent: int, prompt_tokens: int | None, completion_tokens: int | None) -> None:
        """After a reply to a request of `sent` messages: remember the server's count (the reply is message
        `sent`, so what follows it is estimated next time)."""
        if prompt_tokens is None:
            return
        self._base_tokens = int(prompt_tokens) + int(completion_tokens or 0)
        self._base_index = sent + 1
