"""The prompt styles, named once: every host (eval task YAMLs, verl conversion, `longvt ask`) uses these words.

`tool`: skim + crop_video, reason in <think>, answer in <answer>. `think`: reason, no tool. `non_think`: a short
answer, no reasoning (the eval tasks' `*_non_think` names). Each style's instructions are `agent_<style>` in
`core/prompts/`.
"""

from __future__ import annotations

from typing import Literal, get_args

Style = Literal["tool", "think", "non_think"]
STYLES: tuple[str, ...] = get_args(Style)


def check_style(style: str) -> str:
    """`style` if it is one of STYLES, else ValueError listing them."""
    if style not in STYLES:
        raise ValueError(f"unknown style {style!r}; expected one of {', '.join(STYLES)}")
    return style
