"""What the judge is asked (the prompt, rendered) and how its reply is read (a grade or a TRUE/FALSE verdict).

A reply that does not state one verdict unambiguously reads as None: the client then falls back to the rule
score and says so, rather than guess.
"""

from __future__ import annotations

import re

from longvt_plugins.core.prompts import load_prompt

GRADE_PROMPT = "judge_grade"
EQUIVALENCE_PROMPT = "judge_equivalence"

_NUMBER = re.compile(r"(?<![\w.])(?:\d+(?:\.\d+)?|\.\d+)(?![\w.]*\d)")
_GRADE_LABEL = re.compile(
    r"(?:judge?ment|score|grade|rating|verdict|final answer|answer)\s*(?:is|:|=|-)\s*", re.IGNORECASE
)
_VERDICT_LABEL = re.compile(
    r"(?:judge?ment|verdict|final answer|answer|output|result)\s*(?:is|:|=|-)\s*", re.IGNORECASE
)
_VERDICT_WORD = re.compile(r"\b(true|false|yes|no|correct|incorrect|1|0)\b", re.IGNORECASE)
_VERDICT_VALUE = {
    "true": True,
    "yes": True,
    "correct": True,
    "1": True,
    "false": False,
    "no": False,
    "incorrect": False,
    "0": False,
}


def strip_thinking(text: str | None) -> str | None:
    """The reply after its ``<think>`` block; None when the thinking never ended (the verdict is missing)."""
    if text is None:
        return None
    if "</think>" in text:  # also covers templates that put the opening <think> in the prompt
        return text.rsplit("</think>", 1)[1].strip()
    if "<think>" in text:
        return text.split("<think>", 1)[0].strip() or None
    return text.strip()


def _plain(text: str) -> str:
    return re.sub(r"[*_`#]", "", text).strip()


def parse_grade(text: str | None) -> float | None:
    """0, 0.5 or 1 from a judge reply, or None when the reply does not say one of them unambiguously.

    Reads "1", "**0.5**", "Judgement: 1", "Score: 0.5 - partly right", "<think>..</think>1",
    "They agree, so: 1". "10", "2" or a number buried mid-sentence are not verdicts.
    """
    body = strip_thinking(text)
    if not body:
        return None
    body = _plain(body)
    labels = list(_GRADE_LABEL.finditer(body))
    if labels:
        segment = body[labels[-1].end() :]
        match = re.match(r"\s*[\[(]?\s*(\d+(?:\.\d+)?|\.\d+)(?![\w.]*\d)", segment)
        token = match.group(1) if match else None
    else:
        numbers = list(_NUMBER.finditer(body))
        token = None
        if numbers and not re.search(r"\w", body[: numbers[0].start()]):
            token = numbers[0].group(0)
        elif numbers and not re.search(r"\w", body[numbers[-1].end() :]):
            token = numbers[-1].group(0)
    if token is None:
        return None
    value = float(token)
    return value if value in (0.0, 0.5, 1.0) else None


def parse_verdict(text: str | None) -> bool | None:
    """True / False from a TRUE/FALSE judge reply ("TRUE.", "false", "**True**", "Answer: yes"), else None."""
    body = strip_thinking(text)
    if not body:
        return None
    body = _plain(body)
    labels = list(_VERDICT_LABEL.finditer(body))
    if labels:
        body = body[labels[-1].end() :]
    words = list(_VERDICT_WORD.finditer(body))
    if not words:
        return None
    first, last = words[0], words[-1]
    if not re.search(r"\w", body[: first.start()]):
        chosen = first
    elif not re.search(r"\w", body[last.end() :]):
        chosen = last
    else:
        return None
    if re.search(r"\bnot\s*$", body[: chosen.start()], re.IGNORECASE):
        return None  # "not true": a judge that talks instead of answering
    return _VERDICT_VALUE[chosen.group(1).lower()]


def render_prompt(name: str, *, question: str, answer: str, ground_truth: str) -> str:
    # str.replace, not str.format: answers and questions contain braces.
    text = load_prompt(name)
    for key, value in (("{question}", question), ("{ground_truth}", ground_truth), ("{answer}", answer)):
        text = text.replace(key, value)
    return text
