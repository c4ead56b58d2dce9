"""How a v2 question is worded: the training templates, the held-out phrasings, and the surface variants.

A question names the asked scene by its colour (`{colour}`, what the skim shows) and asks for the colour that
blinks in it (`{cw}`: "colour" or "color"). Each rendered question also draws a case variant and keeps or drops its
final punctuation, so the student meets "color"/"colour", "RED"/"Red"/"red" and a missing "?" in training.

HELDOUT_TEMPLATES were written apart from the training ones, with verbs and nouns the training set never uses
(flicker, glimpse, hue, stretch, footage, ...): set (b) asks them on in-distribution videos, and nothing trained on
(templates, teacher text, tokenizer corpus) contains them (tests/test_miniature_v2_task.py).
No template holds a palette word besides the slot: the teacher finds the asked colour as the one such word.
"""

from __future__ import annotations

import random

TRAIN_TEMPLATES = (
    "What {cw} flashes during the {colour} scene?",
    "Which {cw} briefly appears in the {colour} part of the video?",
    "What {cw} blinks in the {colour} scene?",
    "During the {colour} scene, what {cw} flashes?",
    "In the {colour} scene, which {cw} appears for a moment?",
    "What is the {cw} of the flash in the {colour} scene?",
    "Name the {cw} that flashes in the {colour} scene.",
    "Which {cw} flashes while the video is {colour}?",
    "What {cw} shows up briefly during the {colour} section?",
    "The video has a {colour} scene. What {cw} flashes in it?",
    "Tell me which {cw} blinks during the {colour} part.",
    "What short flash of {cw} is hidden in the {colour} scene?",
    "Look at the {colour} scene: what {cw} flashes there?",
    "When the screen is {colour}, what {cw} flashes?",
    "Which {cw} blinks while the {colour} scene plays?",
    "What {cw} does the {colour} scene flash?",
    "Find the {colour} scene. Which {cw} flashes in it?",
    "Identify the {cw} of the brief flash in the {colour} scene.",
    "What {cw} appears for an instant in the {colour} segment?",
    "During the {colour} part of the video, which {cw} blinks?",
    "What {cw} is the blink inside the {colour} scene?",
    "Which {cw} interrupts the {colour} scene?",
    "What {cw} do you see flash in the {colour} scene?",
    "In the {colour} section, what {cw} is flashed?",
)

# Set (b) only. Never rendered into training data, never in the tokenizer's corpus.
HELDOUT_TEMPLATES = (
    "Inside the {colour} stretch, what {cw} flickers by?",
    "Which {cw} pops up for a split second while everything is {colour}?",
    "Give the {cw} of the fleeting frame within the {colour} clip.",
    "Somewhere in the {colour} portion there is a quick glimpse of another {cw}. Which one?",
    "What {cw} momentarily replaces {colour} on screen?",
    "Tell me the hue that sneaks into the {colour} shot.",
    "The {colour} episode hides a brief {cw}; what is it?",
    "Which {cw} can be spotted flickering amid the {colour} footage?",
    "If you watch the {colour} sequence closely, which {cw} comes and goes?",
    "What {cw} twinkles within the {colour} interval?",
    "Report the {cw} that glints during the {colour} stretch of footage.",
    "Amid the {colour} frames, a different {cw} flickers: name it.",
)

TEMPLATE_SETS = {"train": TRAIN_TEMPLATES, "heldout": HELDOUT_TEMPLATES}
SPELLINGS = ("colour", "color")
# How the whole question is cased; "as_written" keeps the template's own sentence case.
CASES = ("as_written", "lower", "upper", "title", "capital_colour")


def _case(text: str, colour: str, case: str) -> str:
    if case == "lower":
        return text.lower()
    if case == "upper":
        return text.upper()
    if case == "title":
        return text.title()
    if case == "capital_colour":
        return text.replace(colour, colour.capitalize())
    return text


def render_question(template: str, colour: str, rng: random.Random) -> tuple[str, dict]:
    """One question from a template, with a drawn spelling, case and ending; returns (text, what was drawn)."""
    spelling, case = rng.choice(SPELLINGS), rng.choice(CASES)
    text = _case(template.format(colour=colour, cw=spelling), colour, case)
    drop_end = rng.random() < 0.3
    if drop_end:
        text = text.rstrip("?.")
    return text, {"spelling": spelling, "case": case, "end_dropped": drop_end}
