"""Reading a model's response: the final answer, the option letter, the format check and the crop windows.

Everything here works on verl's decoded ``solution_str`` (special tokens stripped, so a tool turn reads
``...</tool_call>\\nuser\\n<tool_response>\\n...\\n</tool_response>\\nassistant\\n<think>...``) as well as on
the raw chat text with ``<|im_start|>`` markers. Model text is parsed with regexes and ``json.loads`` only,
never ``eval`` / ``literal_eval``; tool calls only by ``core.toolcall`` and the crop tool's argument check.
"""

from __future__ import annotations

import math
import re
import string
from dataclasses import dataclass

from longvt_plugins.core.toolcall import parse_tool_calls

DEFAULT_OPTIONS = "ABCDEFGHIJ"

_SPECIAL_TOKEN = re.compile(r"<\|[a-z_]+\|>")
_ANSWER = re.compile(r"<answer>(.*?)</answer>", re.DOTALL | re.IGNORECASE)
_THINK_CLOSED = re.compile(r"<think>.*?</think>", re.DOTALL | re.IGNORECASE)
# A decoded tool turn: optional role word, the response block, optional role word of the next assistant turn.
_TOOL_TURN = re.compile(
    r"(?:^|\n)\s*(?:user|tool)?\s*<tool_response>.*?</tool_response>\s*(?:assistant\b)?", re.DOTALL
)


def strip_special_tokens(text: str) -> str:
    """Drop ``<|im_start|>``-style markers so raw chat text reads like verl's decoded string."""
    return _SPECIAL_TOKEN.sub("", text)


def _boxed(text: str) -> str | None:
    """Content of the last ``\\boxed{...}``, braces balanced (``\\boxed{\\frac{1}{2}}`` -> ``\\frac{1}{2}``)."""
    start = text.rfind("\\boxed{")
    while start != -1:
        depth, i = 0, start + len("\\boxed")
        for j in range(i, len(text)):
            if text[j] == "{":
                depth += 1
            elif text[j] == "}":
                depth -= 1
                if depth == 0:
                    return text[i + 1 : j].strip()
        start = text.rfind("\\boxed{", 0, start)  # unbalanced: try an earlier one
    return None


def final_turn(text: str) -> str:
    """The text after the last tool response: the model's closing turn (the whole text if no tool was used)."""
    text = strip_special_tokens(text)
    idx = text.rfind("</tool_response>")
    if idx == -1:
        return text
    tail = text[idx + len("</tool_response>") :]
    return re.sub(r"^\s*assistant\b", "", tail)


def extract_answer(text: str | None) -> str | None:
    """The final answer: the last ``<answer>...</answer>`` of the closing turn, else its last ``\\boxed{}``.

    Returns ``None`` when the response commits to no answer (no tag, no box): a truncated or tagless reply must
    not be graded as if it had answered. Surrounding whitespace and a trailing period are removed.
    """
    if not text:
        return None
    tail = final_turn(text)
    matches = _ANSWER.findall(tail)
    if matches:
        answer = matches[-1]
    else:
        boxed = _boxed(_THINK_CLOSED.sub("", tail))
        if boxed is None:
            return None
        answer = boxed
    answer = answer.strip()
    inner = _boxed(answer)  # "<answer>\boxed{B}</answer>"
    if inner is not None and answer.startswith("\\boxed{"):
        answer = inner
    return answer.rstrip(".").strip()


# Multiple-choice letters, from the most explicit phrasing to the loosest; the first family that matches wins.
_L = r"\(?\[?([A-Z])\]?\)?"
_CHOICE_PATTERNS = [
    # the whole answer is the letter: "B", "(B)", "B.", "[B]", "B)" possibly followed by the option's text
    re.compile(rf"^\s*(?:option\s+|choice\s+)?{_L}\s*(?:$|[.:)]\s*|\s+[-–:]\s*)", re.IGNORECASE),
    # "The answer is (B)", "Answer: B", "the correct option is C", "I choose D", "Option B"
    re.compile(
        rf"(?:answer|option|choice|choose|select|pick)\s*(?:is|:|would be|should be|=)?\s*(?:option\s*)?{_L}(?![A-Za-z])",
        re.IGNORECASE,
    ),
    re.compile(r"\(([A-Z])\)"),  # "(B)" anywhere
]


def extract_choice(text: str | None, options: str = DEFAULT_OPTIONS) -> str | None:
    """The option letter a response picked, or ``None``.

    Looks at the extracted answer first (``<answer>B. red</answer>``), else at the closing turn with its
    ``<think>`` removed. Only capital letters in ``options`` count, so "A man walks in" is not option A.
    """
    if not text:
        return None
    answer = extract_answer(text)
    candidates = [answer] if answer else []
    candidates.append(_THINK_CLOSED.sub("", final_turn(text)).strip())
    for candidate in candidates:
        boxed = _boxed(candidate)
        if boxed:
            candidate = boxed
        for pattern in _CHOICE_PATTERNS:
            for match in reversed(list(pattern.finditer(candidate))):
                letter = match.group(1)
                if letter in options and (pattern is not _CHOICE_PATTERNS[0] or letter.isupper()):
                    return letter
    return None


# ----------------------------------------------------------------------------------------------- format
@dataclass(frozen=True)
class FormatCheck:
    ok: bool
    reason: str


_BLOCK = re.compile(r"<(think|tool_call|answer)>(.*?)</\1>", re.DOTALL)
_ANY_TAG = re.compile(r"</?(?:think|tool_call|answer|tool_response)>")


def check_format(solution_str: str) -> FormatCheck:
    """``<think>`` -> (``<tool_call>`` -> tool response -> ``<think>``)* -> ``<answer>``, nothing else around.

    Each block is closed, blocks do not nest, only whitespace sits between them, and exactly one answer ends
    the response. Tool responses are the environment's text, so they are removed before checking.
    """
    text = strip_special_tokens(solution_str or "").strip()
    if not text:
        return FormatCheck(False, "empty response")
    text = re.sub(r"^assistant\s*\n", "", text)
    if text.count("<tool_response>") != text.count("</tool_response>"):
        return FormatCheck(False, "unclosed tool response")
    text = _TOOL_TURN.sub("\n<RESP/>\n", text)
    sequence: list[str] = []
    pos = 0
    for match in _BLOCK.finditer(text):
        gap = text[pos : match.start()].replace("<RESP/>", " RESP ").split()
        if any(token != "RESP" for token in gap):
            return FormatCheck(False, f"text outside the tags before <{match.group(1)}>")
        sequence.extend(gap)
        if _ANY_TAG.search(match.group(2)):
            return FormatCheck(False, f"nested tag inside <{match.group(1)}>")
        sequence.append(match.group(1))
        pos = match.end()
    rest = text[pos:].replace("<RESP/>", " RESP ").split()
    if rest:
        return FormatCheck(False, "text or unclosed tag after the last block")
    if not sequence or sequence[0] != "think":
        return FormatCheck(False, "does not start with <think>")
    if sequence[-1] != "answer":
        return FormatCheck(False, "does not end with <answer>")
    if sequence.count("answer") != 1:
        return FormatCheck(False, "more than one <answer>")
    # Between the first think and the answer: repeated (tool_call, optional RESP, think) units.
    body = sequence[1:-1]
    i = 0
    while i < len(body):
        if body[i] != "tool_call":
            return FormatCheck(False, f"expected <tool_call> after <think>, got {body[i]}")
        i += 1
        if i < len(body) and body[i] == "RESP":
            i += 1
        if i >= len(body) or body[i] != "think":
            return FormatCheck(False, "a tool call must be followed by a new <think>")
        i += 1
    return FormatCheck(True, "ok")


def format_score(solution_str: str) -> float:
    """1.0 when ``check_format`` passes, else 0.0."""
    return 1.0 if check_format(solution_str).ok else 0.0


# ----------------------------------------------------------------------------------------------- crop windows
def crop_windows(text: str, tool_name: str | None = None) -> list[tuple[float, float]]:
    """``(start, end)`` of every ``crop_video`` call in the response that the tool would accept, in order.

    The calls are read by ``toolcall.parse_tool_calls`` and their arguments by the tool's own
    ``parse_crop_arguments``, so the reward sees exactly the window the tool was asked to crop ("1:02:03",
    "12 sec" included). Calls that do not parse, name another tool, or that the tool rejects earn no IoU.
    """
    # Imported here: the tool module loads numpy and the video stack, which text parsing must not pay for.
    from longvt_plugins.core.crop_tool import CROP_VIDEO_NAME, ArgumentError, parse_crop_arguments

    tool_name = tool_name or CROP_VIDEO_NAME
    windows = []
    for call in parse_tool_calls(text or "", closed_only=True).calls:
        if call.name != tool_name:
            continue
        try:
            start, end, _ = parse_crop_arguments(call.arguments)
        except ArgumentError:
            continue
        windows.append((start, end))
    return windows


def count_tool_calls(text: str) -> int:
    """Number of closed ``<tool_call>`` blocks the model wrote (parsable or not)."""
    parsed = parse_tool_calls(text or "", closed_only=True)
    return len(parsed.calls) + len(parsed.errors)


def temporal_iou(pred: tuple[float, float] | None, gt: tuple[float, float] | None) -> float:
    """Intersection over union of two time windows; 0 for a missing, empty or reversed window."""
    if pred is None or gt is None:
        return 0.0
    (ps, pe), (gs, ge) = pred, gt
    if pe <= ps or ge <= gs:
        return 0.0
    inter = max(0.0, min(pe, ge) - max(ps, gs))
    union = max(pe, ge) - min(ps, gs)
    return inter / union if union > 0 else 0.0


# ----------------------------------------------------------------------------------------------- rule match
_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCT = str.maketrans({c: " " for c in string.punctuation})


def normalize_text(text: str) -> str:
    """Lowercase, punctuation and articles removed, whitespace collapsed: "The cat." == "cat"."""
    text = _ARTICLES.sub(" ", text.lower().translate(_PUNCT))
    return " ".join(text.split())


def _as_number(text: str) -> float | None:
    cleaned = text.replace(",", "").strip().rstrip("%").strip()
    try:
        return float(cleaned)
    except ValueError:
        return None


def rule_score(answer: str | None, ground_truth: str, options: str = DEFAULT_OPTIONS) -> float:
    """1.0 if the answer matches the ground truth by rule, else 0.0 (the fallback when no judge answers).

    - ground truth is an option letter: the letter the answer picked must equal it;
    - numbers compare as numbers ("3.0" == "3", "1,000" == "1000");
    - otherwise normalised exact match, or relaxed containment where the shorter string is at least 90% of the
      longer one (so "red car" does not match "a red car parked outside the shop").
    """
    if answer is None:
        return 0.0
    gt = str(ground_truth).strip()
    gt_letter = gt.strip("().[] ").upper()
    if len(gt_letter) == 1 and gt_letter in options:
        picked = extract_choice(f"<answer>{answer}</answer>", options)
        return 1.0 if picked == gt_letter else 0.0
    a_num, g_num = _as_number(answer), _as_number(gt)
    if a_num is not None and g_num is not None:
        return 1.0 if math.isclose(a_num, g_num, rel_tol=1e-6, abs_tol=1e-9) else 0.0
    a, g = normalize_text(answer), normalize_text(gt)
    if not a or not g:
        return 0.0
    if a == g:
        return 1.0
    short, long_ = sorted((a, g), key=len)
    if short in long_ and len(short) >= 0.9 * len(long_):
        return 1.0
    return 0.0
