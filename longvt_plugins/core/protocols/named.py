"""The named protocols: `upstream` (what released LongVT checkpoints were evaluated with), `longvt-plugins` (ours)
and `longvt-tools` (ours plus the registry's subtitle search).

Facts for `upstream` are those of LongVT's `examples/eval/run_eval.sh` + lmms-eval's `async_openai` with
`mcp_server_path` + LongVT's task folders + `custom_rewards/lmms_lab_recipe.py` (see docs/protocols.md for each
field's source and the places we could not match byte for byte).
"""

from __future__ import annotations

from dataclasses import replace

from longvt_plugins.core.budget import PAPER_SKIM, SKIM, CropBudget
from longvt_plugins.core.protocols import upstream_questions
from longvt_plugins.core.protocols.spec import (
    Presentation,
    Protocol,
    ScoringSpec,
    StylePrompt,
    TokenSpec,
    ToolSpec,
)
from longvt_plugins.core.style import STYLES

UPSTREAM = Protocol(
    name="upstream",
    description=(
        "LongVT's own evaluation of its released Qwen2.5-VL checkpoints: untimestamped PNG frames, the video path "
        "in the prompt, the MCP crop_video schema with video_path offered to every task, LongVT's prompts, "
        "49,152 new tokens per request for tool tasks, no turn cap, rule -> math-verify -> judge scoring."
    ),
    # The question text itself is the task's upstream framing (core.protocols.upstream_questions), whitespace
    # included: upstream's tasks strip it or not, task by task, so it is never stripped again here.
    prompts=(
        # Tool tasks: one user turn, question + " " + the tool prompt, no system prompt. The reported VideoMME
        # task (videomme_w_subtitle_reward_tool) has no doc_to_messages, so it sends no tool prompt at all.
        (
            "tool",
            StylePrompt(instruction="upstream_tool", per_benchmark=(("videomme", ""),), strip_question=False),
        ),
        ("think", StylePrompt(system="upstream_think_system", strip_question=False)),
        # Non-think: VideoSIAH is lmms-eval's longvt_non_think (question + " " + its post prompt); the three
        # multiple-choice benchmarks ran lmms-eval's built-in tasks, whose framing is the whole prompt.
        (
            "non_think",
            StylePrompt(
                instruction="upstream_non_think",
                per_benchmark=(("videomme", ""), ("lvbench", ""), ("videommmu", "")),
                strip_question=False,
            ),
        ),
    ),
    presentation=Presentation(
        timestamps=False, duration_text=False, path_text="upstream_video_path", image_format="png"
    ),
    tool=ToolSpec(
        schema="upstream_crop_video_schema.json",
        offered_in=STYLES,  # run_eval.sh passes mcp_server_path for every task
        response="frames_only",  # the MCP server returns ImageContent items and no text
        error="upstream_tool_error",
        parser="hermes",
        checks="upstream",  # the MCP server's checks and texts; the bound video stays the only file opened
        all_calls_run=True,  # async_openai runs every call of a turn
        malformed_call="end",  # vLLM's hermes parser returns no calls, finish_reason "stop": the loop ends
    ),
    # async_openai: fps=1, max_frames=768, max_pixels=50176, min_pixels=784 (its default); qwen-vl-utils' own
    # minimum of 4 frames.
    skim=PAPER_SKIM,  # 1 fps, 4..768 frames, 784..50,176 px
    # The MCP server: fps 1, 1..128 frames (qwen-vl-utils rounds to an even count: 2), 28*28..224*224 px.
    crop=CropBudget().frames(),
    tokens=TokenSpec(
        max_new_tokens=(("tool", 49152), ("think", 4096), ("non_think", 128)),
        max_total_tokens=None,  # max_tokens applies per request, not per trajectory
        max_model_len=128000,  # vLLM's default for Qwen2.5-VL-7B (max_position_embeddings)
        # LongVT's task YAMLs: longvt_tool.yaml and lvbench_tool.yaml kept 4,096 when the VideoMME and VideoMMMU
        # tool tasks were raised to 49,152 (LongVT issue #19).
        # Non-think rows of the multiple-choice benchmarks ran lmms-eval's built-in tasks (videomme_w_subtitle,
        # lvbench: 16 new tokens; video_mmmu: 1,024), with their prompts (core.protocols.upstream_questions).
        per_benchmark=(
            ("videosiah", "tool", 4096),
            ("lvbench", "tool", 4096),
            ("videomme", "non_think", 16),
            ("lvbench", "non_think", 16),
            ("videommmu", "non_think", 1024),
        ),
    ),
    # LongVT's custom_rewards/lmms_lab_recipe.py for every benchmark, multiple choice included: the first <answer>
    # of the whole response, letter parser / relaxed match, math-verify, its binary judge (max_tokens 5, int()),
    # and a second judge call on a short response without format.
    scoring=ScoringSpec(
        chain=("rule", "math_verify", "judge", "judge_whole_response"),
        judge_prompt="upstream_judge_with_question",
        judge_model="Qwen/Qwen3-235B-A22B",
        answer_source="first_answer_tag_of_response",
        recipe="longvt",
        # Non-think rows of these ran lmms-eval's built-in tasks (videomme_w_subtitle, lvbench, video_mmmu), so
        # their own process_results scored them: the first option letter (VideoMMMU open rows: its MMMU parser).
        non_think_builtin=("videomme", "lvbench", "videommmu"),
    ),
    chat_template="qwen2_5_vl_tools_compact.jinja",  # the compact form its checkpoints were trained on
    wire="lmms_eval_async_openai",
    request_params=("max_tokens", "temperature"),
    turn_cap=None,
    max_tool_calls=None,
    skim_frames_by_model=(("sft", 512),),
    question_framing="upstream",  # each task's text as upstream built it: core.protocols.upstream_questions
    question_prompts=upstream_questions.PROMPTS,
    notes=(
        "Only the latest tool round's outputs are resent (async_openai's loop keeps every assistant turn but "
        "only the last round's tool messages); the wire shape does the same.",
        "No turn cap upstream: a sample ends when the model answers or the context is used up (context_exhausted).",
    ),
)

LONGVT_PLUGINS = Protocol(
    name="longvt-plugins",
    description=(
        "Our protocol: every frame labelled with its timestamp, the duration stated, no path in the prompt, the "
        "crop_video(start_time, end_time) schema, our prompts, a turn cap of 6 (5 crops and an answer)."
    ),
    prompts=(
        ("tool", StylePrompt(system="agent_system", instruction="agent_tool", joiner="\n\n")),
        ("think", StylePrompt(system="agent_system", instruction="agent_think", joiner="\n\n")),
        ("non_think", StylePrompt(system="agent_system", instruction="agent_non_think", joiner="\n\n")),
    ),
    presentation=Presentation(timestamps=True, duration_text=True, path_text=None, image_format="png"),
    tool=ToolSpec(schema="ours", offered_in=("tool",), response="crop_result", error="crop_error"),
    skim=SKIM,  # 1 fps, 4..64 frames, 784..50,176 px
    crop=CropBudget().frames(),
    # Per request, as our task YAMLs give them to other models; the turn cap bounds the trajectory.
    tokens=TokenSpec(
        max_new_tokens=(("tool", 49152), ("think", 4096), ("non_think", 128)),
        max_total_tokens=None,
        max_model_len=128000,
    ),
    scoring=ScoringSpec(chain=("choice", "rule", "judge"), judge_prompt="judge_equivalence"),
    chat_template="qwen2_5_vl_tools.jinja",
    wire="openai",
    request_params=("max_tokens", "temperature", "top_p"),
    turn_cap=6,
    max_tool_calls=5,
)

LONGVT_TOOLS = replace(
    LONGVT_PLUGINS,
    name="longvt-tools",
    description=(
        "longvt-plugins plus search_subtitles(query, start_time, end_time) over the sample's own subtitle file "
        "and zoom_frame(time, bbox) over its video (core.tools), offered beside crop_video in the tool style; "
        "each tool has its own cap of 5 calls. Up to "
        "3 calls of one turn run, concurrently, answered in call order; the crops of one turn share 128 frames."
    ),
    prompts=(
        ("tool", StylePrompt(system="agent_system", instruction="agent_tools", joiner="\n\n")),
        *LONGVT_PLUGINS.prompts[1:],
    ),
    # 128 frames a turn: what one full crop may return, so a turn adds no more frames to the context than one
    # longvt-plugins crop does (2 crops in a turn get 64 each, 3 get 42).
    tool=replace(
        LONGVT_PLUGINS.tool,
        also_offered=("search_subtitles", "zoom_frame"),
        calls_per_turn=3,
        frames_per_turn=128,
    ),
)

PROTOCOLS: dict[str, Protocol] = {p.name: p for p in (UPSTREAM, LONGVT_PLUGINS, LONGVT_TOOLS)}
# Names used before protocols were complete objects: "custom" was our defaults; "paper" fixed only the paper's
# frame and token budgets, and its purpose - numbers comparable with the paper - is what `upstream` now does whole.
ALIASES = {"custom": "longvt-plugins", "ours": "longvt-plugins", "paper": "upstream"}


def get_protocol(name: str) -> Protocol:
    key = ALIASES.get(name, name)
    if key not in PROTOCOLS:
        raise ValueError(
            f"unknown protocol {name!r}; known: {', '.join(PROTOCOLS)} (aliases: {', '.join(ALIASES)})"
        )
    return PROTOCOLS[key]


def protocol_names() -> list[str]:
    return list(PROTOCOLS)
