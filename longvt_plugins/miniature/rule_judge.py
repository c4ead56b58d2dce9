"""A rule-backed judge behind the real OpenAI protocol, for miniature RL where no judge LLM exists.

The GPU host has no judge weights (issue 24 allows this stand-in, labelled as such). The reward's accuracy term still
goes through our `JudgeClient` over HTTP, as it would to a served 72B judge; only the server's answer is a rule. It
reads the prompt our client renders (`core/prompts/judge_grade.txt` or `judge_equivalence.txt`: the last
`[Reference]:` line and the candidate after it) and says "1" / "TRUE" when the candidate names the reference
colour and no other palette word ("brown" is right, "brown or white" is not), else "0" / "FALSE".
Its model name is `rule-judge`, so every judge request, cache key and result records that no LLM judged.

    python -m longvt_plugins.miniature.rule_judge --url-file /tmp/judge.url   # serves until killed
"""

from __future__ import annotations

import argparse
import re
import time
from pathlib import Path

from longvt_plugins.miniature.task import FLASH_COLOURS, PLAIN_COLOURS, SCENE_COLOURS

MODEL_NAME = "rule-judge"
PALETTE = {*SCENE_COLOURS, *PLAIN_COLOURS, *FLASH_COLOURS, "none", "unknown"}
_CANDIDATE = re.compile(r"\[(?:Candidate|Model answer)\]:(.*?)(?:\nScore:|\n\nReply with|\Z)", re.DOTALL)


def verdict(prompt: str) -> bool | None:
    """Whether the candidate in a rendered judge prompt names the reference and nothing else from the palette;
    None when the prompt is not one of ours."""
    if "[Reference]:" not in prompt:
        return None
    tail = prompt.rsplit("[Reference]:", 1)[1]
    reference = tail.split("\n", 1)[0].strip().lower()
    found = _CANDIDATE.search(tail)
    if found is None:
        return None
    words = set(re.findall(r"[a-z]+", found.group(1).lower()))
    return reference in words and words & PALETTE == {reference}


def handler(body: dict) -> str:
    messages = body.get("messages") or [{}]
    content = messages[-1].get("content")
    prompt = content if isinstance(content, str) else "".join(p.get("text", "") for p in content or [])
    ok = verdict(prompt)
    if "Reply with one word" in prompt:
        return "TRUE" if ok else "FALSE"
    return "1" if ok else "0"


def serve():
    from longvt_plugins.testing.openai_server import OpenAIStubServer

    return OpenAIStubServer(handler, model=MODEL_NAME).start()


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m longvt_plugins.miniature.rule_judge")
    ap.add_argument("--url-file", type=Path, help="write the server's /v1 base URL here once it listens")
    a = ap.parse_args(argv)
    server = serve()
    if a.url_file:
        a.url_file.write_text(server.base_url)
    print(server.base_url, flush=True)
    try:
        while True:
            time.sleep(3600)
    finally:
        server.stop()


if __name__ == "__main__":
    main()
