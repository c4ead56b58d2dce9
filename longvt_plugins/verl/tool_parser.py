"""A hermes tool-call parser for verl's agent loop that never drops a bad call silently.

verl's own `hermes` parser logs and discards a `<tool_call>` block whose JSON does not parse; the model then gets
no tool turn at all and the trajectory just ends, so it never learns what it did wrong. This parser uses
`core.toolcall.parse_tool_calls` (the same parser the agent, eval and SFT paths use) and hands every malformed block
to the agent loop as a call to `INVALID_TOOL_CALL`, whose arguments carry the error text. `LongVTToolAgentLoop`
answers such a call with that text as a tool message; verl's stock `tool_agent` answers it with its own
"Unknown function" message. Either way the trajectory continues and the mistake is visible to the model.
"""

from __future__ import annotations

import json

from verl.experimental.agent_loop.tool_parser import FunctionCall, ToolParser

from longvt_plugins.core.toolcall import parse_tool_calls
from longvt_plugins.verl.names import TOOL_PARSER_NAME

# A name no real tool can have (it is not a valid OpenAI function name), so it can never shadow one.
INVALID_TOOL_CALL = "<invalid_tool_call>"


def invalid_call(error: str) -> FunctionCall:
    return FunctionCall(name=INVALID_TOOL_CALL, arguments=json.dumps({"error": error}, ensure_ascii=False))


def invalid_call_error(call_arguments: str) -> str:
    """The error text carried by an `invalid_call`."""
    try:
        return str(json.loads(call_arguments)["error"])
    except (ValueError, KeyError, TypeError):
        return "The tool call could not be parsed."


@ToolParser.register(TOOL_PARSER_NAME)
class LongVTHermesToolParser(ToolParser):
    """`<tool_call>{"name": ..., "arguments": {...}}</tool_call>`, with parse errors kept as calls."""

    async def extract_tool_calls(
        self, responses_ids: list[int], tools=None
    ) -> tuple[str, list[FunctionCall]]:
        # Decoding is fast next to a generation; verl's own parser offloads it only to stay off the loop.
        text = self.tokenizer.decode(responses_ids)
        parsed = parse_tool_calls(text)
        calls = [
            FunctionCall(
                name=call.name,
                arguments=json.dumps(call.arguments, ensure_ascii=False),
                tool_call_id=call.id or None,
            )
            for call in parsed.calls
        ]
        calls.extend(invalid_call(str(error)) for error in parsed.errors)
        return parsed.content, calls
