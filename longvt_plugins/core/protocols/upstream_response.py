"""The response string a trajectory becomes under `upstream`: what lmms-eval 0.7.3's `async_openai` returns.

Upstream scores that whole string (its first `<answer>` wins, its length decides a second judge call, its layout
decides the format score), so the `upstream` protocol hands the scorer the same string, not our transcript:
each turn's text as the server returned it, then for every call `<tool_call>NAME ARGS</tool_call></tool_response>`
(sic: no opening tag), one `<image_url>` per frame or the error text, and `</tool_response>`. A tool-call turn
whose text was null (empty) reads as the TypeError text the harness appends ("Error: " only on the first turn).
Facts: tests/upstream_facts.py (async_openai.py of lmms-eval 0.7.3).
"""

from __future__ import annotations

import json
from typing import Any

_NONE_TEXT = 'can only concatenate str (not "NoneType") to str'


def upstream_response(trace: Any, error_prompt: str = "upstream_tool_error") -> str:
    from longvt_plugins.core.prompts import load_prompt

    crops = {c.index: c for c in trace.crops}
    out: list[str] = []
    for n, turn in enumerate(trace.turns):
        if turn.tool_calls and turn.call_format == "native":
            # The server's text untouched; vLLM's hermes parser sends null (never "") when nothing came before
            # the calls, and the harness then appends the TypeError text.
            text = turn.raw_text or None
        else:
            text = turn.content if turn.tool_calls else turn.raw_text
        if text is None:
            text = f"Error: {_NONE_TEXT}" if n == 0 else _NONE_TEXT
        out.append(text)
        for call, index in zip(turn.tool_calls, turn.crops, strict=False):
            # vLLM's hermes parser hands the arguments back as json.dumps(..., ensure_ascii=False).
            args = json.dumps(call.get("arguments"), ensure_ascii=False)
            out.append(f"<tool_call>{call.get('name')} {args}</tool_call></tool_response>")
            crop = crops.get(index)
            if crop is not None and crop.ok:
                out.append("<image_url>" * len(crop.timestamps))
            elif crop is not None and crop.error == crop.text:  # refused before the tool ran (unknown tool)
                out.append(crop.text or "")
            elif crop is not None:  # the tool message's one text part, as the MCP error result reads
                out.append(load_prompt(error_prompt).format(problem=crop.text or ""))
            out.append("</tool_response>")
    return "".join(out)
