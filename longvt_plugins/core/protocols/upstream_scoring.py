"""LongVT's evaluation scorer, rebuilt from its documented behaviour: the `upstream` protocol's scoring chain.

LongVT scored every benchmark - multiple choice included - with one chain over the *whole* response string the
harness returned (every assistant turn, tool markers and all): the first `<answer>` block (else the last
`\\boxed{}`, else a trailing number), a letter parser for single-letter ground truths, a length-relaxed string
match otherwise, math-verify, then a binary LLM judge; a response with no usable format that is short gets a
second judge call on the whole text. Format is 1 (think/answer layout or a box), 0.8 (long, math-like, with some
answer) or 0. The differential tests (tests/test_upstream_scoring_differential.py) score a corpus with lmms-eval's
own copy of this scorer and with this module and require equal scores.

Written for longvt-plugins from the facts recorded in tests/upstream_facts.py; no upstream code is copied. The
judge is passed in (`judge(prediction, ground_truth, question) -> int`), so this module does no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

LETTERS = ("A", "B", "C", "D", "E", "F", "G", "H")
SECOND_JUDGE_MAX_CHARS = 500  # a format-0 response shorter than this is judged whole, a second time
RELAX = 0.9  # containment counts when the shorter string is at least this share of the longer

UpstreamJudge = Callable[[str, str, str | None], int]  # (prediction, ground truth, question) -> verdict

_ANSWER = re.compile(r"<answer>(.*?)</answer>", re.DOTALL)
_THINK_ANSWER = re.compile(r"<think>.*</think>.*<answer>.*</answer>", re.DOTALL)
_ANALYSIS_ANSWER = re.compile(r"<analysis>.*</analysis>.*<answer>.*</answer>", re.DOTALL)

# Two copies of the scorer exist. "longvt": LongVT's custom_rewards/lmms_lab_recipe.py, what its task folders
# (VideoMME, LVBench, VideoMMMU, and VideoSIAH before lmms-eval shipped the task) scored with. "lmms_eval_0.7.3":
# lmms-eval's tasks/_task_utils/reasoning_utils.py, which its built-in `longvt` task uses and which wins over
# LongVT's copy of that task on 0.7.3: it also accepts <analysis> in place of <think>, and treats any ground
# truth the letter parser reads a letter from (e.g. "Bob" -> "B") as multiple choice, compared case-blind.
RECIPES = ("longvt", "lmms_eval_0.7.3")
_TRAILING_NUMBER = re.compile(r"\b(\d+(?:\.\d+)?)\b(?:\s*\.?\s*$)")
_MATHY = re.compile(r"[=\+\-\*/\(\)\[\]\\]")


def last_boxed(text: str) -> str:
    """The content of the last brace-balanced `\\boxed{...}` ("" when none closes)."""
    found = ""
    start = text.find("\\boxed{")
    while start != -1:
        depth, i = 0, start + len("\\boxed")
        while i < len(text):
            if text[i] == "{":
                depth += 1
            elif text[i] == "}":
                depth -= 1
                if depth == 0:
                    found = text[start + len("\\boxed{") : i]
                    break
            i += 1
        start = text.find("\\boxed{", start + 1)
    return found


def extract(text: str) -> str:
    """The first `<answer>` of the whole text, else the last box, else the last line's trailing number."""
    m = _ANSWER.search(text)
    if m:
        return m.group(1)
    boxed = last_boxed(text)
    if boxed:
        return boxed
    for line in reversed(text.strip().split("\n")):
        if line.strip():
            number = _TRAILING_NUMBER.search(line)
            if number:
                return number.group(1)
    return ""


def format_score(text: str, recipe: str = "longvt") -> float:
    if _THINK_ANSWER.fullmatch(text):
        return 1.0
    if recipe == "lmms_eval_0.7.3" and _ANALYSIS_ANSWER.fullmatch(text):
        return 1.0
    if last_boxed(text):
        return 1.0
    if len(text.strip()) > 50 and _MATHY.search(text) and extract(text):
        return 0.8
    return 0.0


def drop_final_period(text: str) -> str:
    return (text[:-1] if text.endswith(".") else text).strip()


# The letter parser: each rule yields (letter, position, rule); the highest-ranked rule wins, then the earliest
# position. A later occurrence is where a rule "finds" a letter (its last one), except the phrase rule (first
# letter after the phrase) and start/end.
_RANK = {
    "start": 10,
    "end": 9,
    "numbered": 8,
    "phrase": 7,
    "parentheses": 6,
    "period": 5,
    "colon": 4,
    "right_paren": 3,
    "space": 2,
    "dash": 1,
    "underscore": 1,
    "equals": 1,
    "fallback": 0,
}
_SHAPES = (
    ("parentheses", "({})"),
    ("period", "{}."),
    ("colon", "{}:"),
    ("right_paren", "{})"),
    ("space", "{} "),
    ("dash", "{}-"),
    ("underscore", "{}_"),
    ("equals", "{}="),
)
_PHRASES = (
    "the answer is",
    "answer is",
    "the correct answer is",
    "correct answer is",
    "the answer",
    "answer",
    "correct answer",
    "the correct answer",
    "the best answer is",
    "best answer is",
    "the best answer",
    "best answer",
    "the option is",
    "option is",
    "the correct option is",
    "correct option is",
    "the choice is",
    "choice is",
    "the correct choice is",
    "correct choice is",
    "i choose",
    "i select",
    "i pick",
    "my answer is",
    "my choice is",
)


def pick_letter(prediction: str) -> str:
    """The option letter a free-form prediction names ("" when none)."""
    if not prediction or not prediction.strip():
        return ""
    body = prediction.strip()
    for char in ",.!?;:'\"":
        body = body.strip(char)
    padded = f" {body} "
    found: list[tuple[str, int, str]] = []
    for rule, shape in _SHAPES:
        for letter in LETTERS:
            token = shape.format(letter)
            if token in padded:
                found.append((letter, padded.rfind(token), rule))
    lowered = padded.lower()
    for phrase in _PHRASES:
        at = lowered.find(phrase)
        if at != -1:
            for letter in LETTERS:
                pos = padded.find(letter, at)
                if pos != -1:
                    found.append((letter, pos, "phrase"))
    inner = padded.strip()
    found += [(letter, 0, "start") for letter in LETTERS if inner.startswith(letter)]
    found += [(letter, len(padded) - 1, "end") for letter in LETTERS if inner.endswith(letter)]
    for i, letter in enumerate(LETTERS):
        token = f"{i + 1}. {letter}"
        if token in padded:
            found.append((letter, padded.rfind(token), "numbered"))
    if not found:
        found = [(letter, padded.rfind(letter), "fallback") for letter in LETTERS if letter in padded]
    if not found:
        return ""
    return max(found, key=lambda c: (_RANK[c[2]], -c[1]))[0]


def relaxed_match(prediction: str, ground_truth: str, recipe: str = "longvt") -> float:
    if recipe == "lmms_eval_0.7.3":
        gt_letter = pick_letter(ground_truth)
        if gt_letter in LETTERS:
            return 1.0 if pick_letter(prediction).lower().strip() == gt_letter.lower().strip() else 0.0
    elif ground_truth in LETTERS:
        return 1.0 if pick_letter(prediction) == ground_truth else 0.0
    if prediction in ground_truth and len(prediction) >= RELAX * len(ground_truth):
        return 1.0
    if ground_truth in prediction and len(ground_truth) >= RELAX * len(prediction):
        return 1.0
    return 1.0 if prediction.strip() == ground_truth.strip() else 0.0


def math_verified(prediction: str, ground_truth: str) -> float:
    try:
        from math_verify import parse, verify

        return float(int(verify(parse(ground_truth), parse(prediction))))
    except Exception:  # not installed, or it raised on this input: "not equal by this rule", as upstream
        return 0.0


@dataclass(frozen=True)
class UpstreamScore:
    acc: float
    format: float
    answer: str  # what the chain compared (the extracted answer, its final period dropped)
    method: str  # "rule", "math_verify", "judge", "judge_whole", "none"
    judge_calls: int = 0


def score_response(
    response: str,
    ground_truth: str,
    *,
    question: str | None,
    judge: UpstreamJudge | None,
    recipe: str = "longvt",
) -> UpstreamScore:
    """acc and format of one (already stripped) response, as LongVT's scorer gives them."""
    if recipe not in RECIPES:
        raise ValueError(f"unknown upstream scoring recipe {recipe!r}; known: {RECIPES}")
    fmt = format_score(response, recipe)
    answer = drop_final_period(extract(response).strip())
    gt = drop_final_period(ground_truth)
    if relaxed_match(answer, gt, recipe):
        return UpstreamScore(1.0, fmt, answer, "rule")
    acc = math_verified(answer, gt)
    if acc:
        return UpstreamScore(acc, fmt, answer, "math_verify")
    if judge is None:
        return UpstreamScore(0.0, fmt, answer, "none")
    # The judge gets the extracted answer and the ground truth as given (not period-stripped).
    acc = float(judge(answer, ground_truth, question))
    if acc:
        return UpstreamScore(acc, fmt, answer, "judge", 1)
    if fmt == 0.0 and len(response) < SECOND_JUDGE_MAX_CHARS:
        acc = float(judge(response, ground_truth, question))
        return UpstreamScore(acc, fmt, answer, "judge_whole" if acc else "none", 2)
    return UpstreamScore(0.0, fmt, answer, "none", 1)


def judge_prompt(prediction: str, ground_truth: str, question: str | None) -> str:
    """Upstream's judge prompt, filled: with the question when the task gave one (every LongVT task does)."""
    from longvt_plugins.core.prompts import load_prompt

    if question is None:
        return load_prompt("upstream_judge").format(answer=ground_truth, prediction=prediction)
    # This prompt's text ends with a newline, which load_prompt drops from every file.
    text = load_prompt("upstream_judge_with_question") + "\n"
    return text.format(question=question, answer=ground_truth, prediction=prediction)
