"""`Protocol`: everything that shapes an evaluation request and its score, as one named, frozen object.

Two runs are comparable only if every field here is equal; the protocol card written with each sample is generated
from this object (`Protocol.card()`), so nothing that shapes a request can be left out of the card by accident.
The named protocols are in `named.py`; the request builder that reads them is `messages.py`.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, replace
from functools import cache
from importlib import resources
from typing import Any

from longvt_plugins.core.budget import FrameBudget, ZoomBudget
from longvt_plugins.core.style import check_style

SCORING_STEPS = ("choice", "rule", "math_verify", "judge")


@dataclass(frozen=True)
class Presentation:
    """How frames and the video reach the model.

    timestamps: a `<t s>` label before every frame (skim and crop); duration_text: the skim summary (duration and
    frame times) after the frames; path_text: a prompt name whose text is appended to the user turn with the
    video's path (upstream's MCP mode: the model must copy the path into its calls); image_format: what every
    frame is encoded as on the wire.
    """

    timestamps: bool
    duration_text: bool
    path_text: str | None = None
    image_format: str = "png"


@dataclass(frozen=True)
class StylePrompt:
    """The texts of one style: a system prompt and the instruction after the question (prompt names).

    `joiner` goes between the question and the instruction. `mcq_instruction` replaces `instruction` for
    multiple-choice items when set. `per_benchmark` overrides the instruction for one benchmark ("" = none).
    `strip_question` False: the question is sent with the whitespace the task's framing gave it (upstream's
    tasks decided per task whether to strip; `core.protocols.upstream_questions`).
    """

    system: str | None = None
    instruction: str | None = None
    mcq_instruction: str | None = None
    joiner: str = " "
    per_benchmark: tuple[tuple[str, str], ...] = ()
    strip_question: bool = True

    def instruction_for(self, benchmark: str | None, multiple_choice: bool) -> str | None:
        for name, prompt in self.per_benchmark:
            if name == benchmark:
                return prompt or None
        if multiple_choice and self.mcq_instruction:
            return self.mcq_instruction
        return self.instruction


@dataclass(frozen=True)
class ToolSpec:
    """The crop tool as the model sees it.

    schema: "ours" (`core.crop_tool.CROP_VIDEO_SCHEMA`) or a JSON file name in this package. offered_in: the
    styles whose requests carry `tools` (upstream offers the tool in every style: its eval passes the MCP server
    to every task). response: the wording of a successful tool turn ("frames_only" = the frames and no text,
    else a prompt name); error: a prompt name with `{problem}`.
    """

    schema: str = "ours"
    offered_in: tuple[str, ...] = ("tool",)
    response: str = "crop_result"
    error: str = "crop_error"
    parser: str = "hermes"
    # "longvt-plugins": core.crop_tool's checks (clamps an end past the video, hints in every error);
    # "upstream": LongVT's MCP server's checks and texts (core.protocols.upstream_tool), still bound to one video.
    checks: str = "longvt-plugins"
    all_calls_run: bool = (
        False  # False: the caller's calls-per-turn cap holds (ours: 1); True: every call runs
    )
    malformed_call: str = "retry"  # "retry": the model is told how to write the call; "end": the sample ends
    # Registry tools (core.tools) offered beside crop_video in the same styles, e.g. ("search_subtitles",).
    also_offered: tuple[str, ...] = ()
    # The per-turn budget (None: not named; the caller's max_calls_per_turn holds and crops keep their own cap).
    # calls_per_turn: calls of one turn that run (concurrently), the rest are refused with a readable error;
    # frames_per_turn: the crop frames of one turn, shared equally by its crop_video calls.
    calls_per_turn: int | None = None
    frames_per_turn: int | None = None


@dataclass(frozen=True)
class TokenSpec:
    """Token budgets: new tokens per request per style, over a whole trajectory, and the server's context.

    `per_benchmark` holds (benchmark, style, tokens) exceptions: upstream's task YAMLs differ per benchmark
    (LVBench and VideoSIAH tool tasks kept 4,096 when VideoMME and VideoMMMU were raised to 49,152).
    """

    max_new_tokens: tuple[tuple[str, int], ...] = (("tool", 4096), ("think", 4096), ("non_think", 128))
    max_total_tokens: int | None = (
        16384  # None: no trajectory budget (upstream applies max_tokens per request)
    )
    max_model_len: int = 131072  # the server's context (Qwen2.5-VL-7B: 128k); requests are clamped to fit
    per_benchmark: tuple[tuple[str, str, int], ...] = ()

    def new_tokens(self, style: str, benchmark: str | None = None) -> int:
        for name, for_style, tokens in self.per_benchmark:
            if name == benchmark and for_style == style:
                return tokens
        return dict(self.max_new_tokens)[style]

    def largest(self, style: str) -> int:
        """The most any benchmark asks for in one request of this style (server sizing)."""
        return max([self.new_tokens(style)] + [n for _, s, n in self.per_benchmark if s == style])


@dataclass(frozen=True)
class ScoringSpec:
    """How an answer becomes a score. `chain`: steps tried in order until one says correct; a multiple-choice
    item is decided by the option letter alone whatever the chain says (the judge may still be asked, for the
    judge/rule agreement figure). `judge_prompt`: prompt name; `judge_model`: what the numbers were made with."""

    chain: tuple[str, ...] = ("choice", "rule", "judge")
    judge_prompt: str = "judge_equivalence"
    judge_model: str | None = None
    answer_source: str = "answer_tag"  # "answer_tag": <answer>, then \\boxed, then a trailing line
    # Set: LongVT's own scorer decides (core.protocols.upstream_scoring, that recipe) over the harness's whole
    # response string - `chain`, `answer_source` and `judge_prompt` then only describe it for the card.
    recipe: str | None = None
    # Benchmarks whose non-think rows are scored by lmms-eval's built-in task's own `process_results` (its option
    # letter / MMMU parser; no judge, no format), as upstream ran them (`lmms_eval.builtin_scoring`).
    non_think_builtin: tuple[str, ...] = ()


@dataclass(frozen=True)
class Protocol:
    name: str
    description: str
    prompts: tuple[tuple[str, StylePrompt], ...]
    presentation: Presentation
    tool: ToolSpec
    skim: FrameBudget  # the whole-video skim
    crop: FrameBudget  # one crop_video call's frames (its call cap is max_tool_calls)
    tokens: TokenSpec
    scoring: ScoringSpec
    chat_template: (
        str  # what the server must be started with (a file in longvt_plugins/templates, or "model")
    )
    wire: str = (
        "openai"  # "openai" or "lmms_eval_async_openai": how a conversation continues after a tool call
    )
    request_params: tuple[str, ...] = ("max_tokens", "temperature", "top_p")
    turn_cap: int | None = 6  # assistant turns; None: upstream has none (the context ends the sample)
    max_tool_calls: int | None = 5
    skim_frames_by_model: tuple[tuple[str, int], ...] = ()  # e.g. the SFT checkpoint's own frame count
    # Whose wording a benchmark's question carries where the two differ (VideoMME's subtitle block): a task
    # offers each framing on its question part (`longvt_framings`), the model picks this protocol's.
    question_framing: str = "longvt-plugins"
    # Prompt names the question framing joins into the question text (hashed into the card with the others).
    question_prompts: tuple[str, ...] = ()
    notes: tuple[str, ...] = field(default=())

    # ------------------------------------------------------------------ lookups
    def style(self, style: str) -> StylePrompt:
        return dict(self.prompts)[check_style(style)]

    def offers_tool(self, style: str) -> bool:
        return style in self.tool.offered_in

    def for_model(self, model: str | None) -> Protocol:
        """The protocol as it applies to one checkpoint (upstream's SFT checkpoint was evaluated at 512 frames)."""
        for suffix, frames in self.skim_frames_by_model:
            if model and str(model).rstrip("/").lower().endswith(suffix.lower()):
                return replace(self, skim=replace(self.skim, max_frames=frames))
        return self

    def with_overrides(self, **values: Any) -> Protocol:
        """A copy with budgets changed (`skim_max_frames=512`, `crop_max_pixels=...`, `max_model_len=...`,
        `max_new_tokens=...`, `turn_cap=...`); the result is renamed `<name>+custom` so it can never pass for the named protocol."""
        if not values:
            return self
        out = self
        for key, value in values.items():
            if value is None:
                continue
            if key.startswith("skim_") or key.startswith("crop_"):
                part, attr = key.split("_", 1)
                # FrameBudget.from_dict keeps each field's type and names the fields when one is unknown.
                out = replace(out, **{part: FrameBudget.from_dict({attr: value}, getattr(out, part))})
            elif key in ("max_model_len", "max_total_tokens"):
                out = replace(out, tokens=replace(out.tokens, **{key: int(value)}))
            elif key == "max_new_tokens":  # every style's and benchmark's per-request budget
                per_style = tuple((style, int(value)) for style, _ in out.tokens.max_new_tokens)
                out = replace(out, tokens=replace(out.tokens, max_new_tokens=per_style, per_benchmark=()))
            elif key in ("turn_cap", "max_tool_calls"):
                out = replace(out, **{key: int(value)})
            else:
                raise ValueError(f"unknown protocol override {key!r}")
        if out != self and not out.name.endswith("+custom"):
            out = replace(out, name=f"{self.name}+custom")
        return out

    # ------------------------------------------------------------------ the card
    def texts(self) -> dict[str, str]:
        """Every prompt text this protocol can send, by name (hashed into the card)."""
        from longvt_plugins.core.prompts import load_prompt

        names: set[str] = set()
        for _, sp in self.prompts:
            names.update(n for n in (sp.system, sp.instruction, sp.mcq_instruction) if n)
            names.update(p for _, p in sp.per_benchmark if p)
        names.update(
            n for n in (self.presentation.path_text, self.scoring.judge_prompt, self.tool.error) if n
        )
        names.update(self.question_prompts)
        if self.tool.response != "frames_only":
            names.add(self.tool.response)
        return {name: load_prompt(name) for name in sorted(names)}

    def tool_schema(self) -> dict[str, Any]:
        """The crop_video schema exactly as this protocol sends it (a fresh copy: callers may change it)."""
        if self.tool.schema == "ours":
            from longvt_plugins.core.crop_tool import CROP_VIDEO_SCHEMA

            return json.loads(json.dumps(CROP_VIDEO_SCHEMA))
        return json.loads(_schema_file(self.tool.schema))

    def card(self) -> dict[str, Any]:
        """The protocol as JSON: every field, plus a hash of each prompt text and of the tool schema as sent."""
        body = asdict(self)
        if not self.scoring.non_think_builtin:  # unset: the card (and its id) as before
            del body["scoring"]["non_think_builtin"]
        if not self.tool.also_offered:  # crop_video alone: the card (and its id) as before
            del body["tool"]["also_offered"]
        else:
            from longvt_plugins.core.tools import tool_schemas

            body["also_offered_schema_sha256"] = {
                s["function"]["name"]: _sha(json.dumps(s, sort_keys=True))
                for s in tool_schemas(self.tool.also_offered)
            }
        if (
            "zoom_frame" in self.tool.also_offered
        ):  # the zoom image's pixel range shapes requests: on the card
            zoom = ZoomBudget()
            body["zoom_pixels"] = {"min_pixels": zoom.min_pixels, "max_pixels": zoom.max_pixels}
        for key in ("calls_per_turn", "frames_per_turn"):  # no per-turn budget named: the card as before
            if body["tool"][key] is None:
                del body["tool"][key]
        body["prompt_sha256"] = {name: _sha(text) for name, text in self.texts().items()}
        body["tool_schema_sha256"] = _sha(json.dumps(self.tool_schema(), sort_keys=True))
        body["id"] = _sha(json.dumps(body, sort_keys=True, default=str))
        return body


@cache
def _schema_file(name: str) -> str:
    return resources.files(__package__).joinpath(name).read_text(encoding="utf-8")


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]
