"""Facts about upstream's evaluation, each with the file it was read from: repository, commit, path, SHA-256.

Only facts (texts, numbers, rules in words, rendered outputs) are recorded here - no upstream code. Where a package
ships the file (lmms-eval 0.7.3, installed in the test environment), the tests run that code itself and check its
SHA-256 below, so a different lmms-eval fails loudly instead of silently comparing against something else. The
LongVT-only files were read with `git show 08d755b9:<path>` of github.com/EvolvingLMMs-Lab/LongVT.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

LONGVT_REPO = "github.com/EvolvingLMMs-Lab/LongVT"
LONGVT_COMMIT = "08d755b973e4ad990ac5cdd64fb992c804d840db"

# path -> SHA-256 of the file at LONGVT_COMMIT.
LONGVT_FILES = {
    "custom_rewards/lmms_lab_recipe.py": "c2b0747eb540a7b653687ae6d64c559715e274c620cd93ef1abb8103e5a06797",
    "lmms_eval_tasks/videomme/utils.py": "e3ab771e0c70cceb0bcb6c084781d7c43f623b39795c88ea5c6a1a73544e68fa",
    "lmms_eval_tasks/lvbench/utils.py": "c06fd2176ec0a41c224699b63fa85a040540938c0e3e2240acb5f10f4a2091b7",
    "lmms_eval_tasks/videommmu/utils.py": "23f3806a46b8390bd9a3e6d8fe61a0dea51a4e199222eb78355e1a4bedce2e1a",
    "lmms_eval_tasks/longvt/utils.py": "8728dafc28d61f303c2d3bf59bd93d10f5e9dca6a207dbf8ab2f80d73126f258",
    "examples/eval/tool_call_qwen2_5_vl.jinja": "7125af8ae2c7ff8f29ca378e091856b39eb9ddf350a9a75e60bc906a64ccb320",
    "examples/video_tools/mcp_server.py": "0c3d2505355ff03a00eaee5013c401f246c70f25f7170f4cc210cac0ec7a5541",
    "examples/eval/run_eval.sh": "35e2287253605d80527a5048a8169e48d87187547f5e0e4db67e503aa4bea4a9",
}

# Installed lmms-eval 0.7.3 files whose code the differential tests run (path under the lmms_eval package).
LMMS_EVAL_VERSION = "0.7.3"
LMMS_EVAL_FILES = {
    "tasks/_task_utils/reasoning_utils.py": "0deb1fbc0bc32e2c8a08d8a39e3c9e8cbac5b505c1e642449af7f0a149bebbe6",
    "tasks/longvt/utils.py": "fe7a5b80b181d31cda3a847e914f7647d4a8f2fb062cdc0a013a184e53d007f3",
    "tasks/longvt/longvt_tool.yaml": "44184e3d46a72c1037a15825d2e56be7749ca148767f70ca36ee6b722d33bc8c",
    "models/chat/async_openai.py": "d418a1499b999658c81369b1e9de377b7851c1335a568a28832b0e46cfa417da",
    "mcp/client.py": "708b8e2c2656e386b45eefc4e8647e7653435672e1dd8918910f8fa3256f468e",
}

# --- token budgets: generation_kwargs.max_new_tokens of each task LongVT's run_eval.sh runs (task YAMLs at
# LONGVT_COMMIT; VideoSIAH's `longvt` also as the installed lmms-eval ships it).
MAX_NEW_TOKENS = {
    # benchmark: {style: tokens}
    "videosiah": {"tool": 4096, "think": 4096, "non_think": 128},  # longvt_tool/_reasoning/_non_think.yaml
    "lvbench": {"tool": 4096, "think": 4096, "non_think": 16},  # lvbench_tool.yaml, lvbench_reasoning.yaml
    "videomme": {"tool": 49152, "think": 4096, "non_think": 16},  # videomme_w_subtitle_tool.yaml, template
    "videommmu": {"tool": 49152, "think": 4096, "non_think": 1024},  # *_tool.yaml, _default_template_yaml
}
# The non-think rows of the three multiple-choice benchmarks are lmms-eval's built-in tasks (LongVT's README table):
# task -> (file under lmms_eval/tasks of the installed 0.7.3, max_new_tokens there).
BUILTIN_NON_THINK = {
    "videomme": ("videomme/videomme_w_subtitle.yaml", 16),
    "lvbench": ("lvbench/lvbench.yaml", 16),
    "videommmu": ("videommmu/_default_template_yaml", 1024),
}

# --- prompts (every LongVT task utils.py defines the same two; lmms-eval's tasks/longvt/utils.py too)
TOOL_PROMPT = (
    "Think first, call **crop_video** if needed, then answer. Format strictly as:  <think>...</think>  "
    "<tool_call>...</tool_call> (if tools needed)  <answer>...</answer>."
)
THINK_SYSTEM_PROMPT = (
    "You are a helpful assistant. When the user asks a question, your response must include two parts: "
    "first, the reasoning process enclosed in <think>...</think> tags, then the final answer enclosed in "
    "<answer>...</answer> tags.Please provide a clear, concise response within <answer> </answer> tags that "
    "directly addresses the question."
)

# --- the judge (custom_rewards/lmms_lab_recipe.py; the same texts in lmms-eval's reasoning_utils.py)
JUDGE_PROMPT_WITH_QUESTION_SHA256 = "893ae023a3db3da9d2bd9a9bed28f862ca72b6a6bfaabf7681e64485321870d8"
JUDGE_PROMPT_SHA256 = "9125d445c6d5034b74c9b4fccd8c681367dd4159f197cce971d0124cd2ce6dd9"
JUDGE_REQUEST_KEYS = {"messages", "max_tokens", "model"}  # no temperature
JUDGE_MAX_TOKENS = 5
SECOND_JUDGE_MAX_CHARS = 500

# --- VideoMME subtitles (lmms_eval_tasks/videomme/utils.py, videomme_doc_to_text_subtitle; frame_num from
# _default_template_yaml's lmms_eval_specific_kwargs.default)
SUBTITLE_FRAME_NUM = 32
SUBTITLE_HEADER = "This video's subtitles are listed below: \n"
SUBTITLE_NONE = "No subtitles available"
SUBTITLE_OPTION_PROMPT = (
    "Select the best answer to the following multiple-choice question based on the video and the subtitles."
)
SUBTITLE_FONT_PATTERN = r'<font color="white" size=".72c">(.*?)</font>'
# Rules in words: cues are SRT blocks split on a blank line with >= 3 lines (times on line 2, text = lines 3.. joined
# by " "), keyed by (start, end) so a repeated time range keeps the last text; each cue becomes frames
# int(t * fps); frame indices linspace(0, total_frames - 1, 32) as int; a cue is picked when start <= idx < end;
# picked cue indices go through a Python set (their order is the set's); each cue contributes the FIRST
# <font color="white" size=".72c"> match of its text, cues without one are dropped; lines joined with "\n".
# The set holds ints (hash(i) == i, never randomised): its order is deterministic; the outputs below are the same
# under PYTHONHASHSEED=1 and 999.
# Rendered outputs: `videomme_doc_to_text_subtitle(doc, {"frame_num": 32, ...})` run at LONGVT_COMMIT (lmms-eval
# 0.7.3's Python 3.11 environment, OpenCV 5.0.0) on the inputs tests/test_upstream_question_framing.py writes
# (question "Q?", options ["A. x", "B. y"]): SHA-256 of the returned text per video.
SUBTITLE_OUTPUT_SHA256 = {
    "long": "740ef3e5987754aa546e2de511c430b643f75d2deb5a6530d15dd3ee6dee0613",  # 200 one-second cues, 2 fps
    "short": "85906cb71f4a82384d3d599ec25e4c643d878034ae07873e6a93933cc6126640",  # overlaps, repeats, 5 fps
    "nosub": "ad2ff06bddb34f3f92b12d9f2f0eb87b7bb61e9570e98001a0894156f3449b2a",  # no .srt file
    "empty": "eba1c9258d09135f5525b4a2aaeb63f3fdf95148a05da307e379a212afa6abb6",  # an empty .srt file
}
# The first lines of "long" (set order, not time order) and the whole of "short".
SUBTITLE_LONG_FIRST_LINES = ["cue 0", "cue 128", "cue 6", "cue 135", "cue 12", "cue 141"]
SUBTITLE_SHORT_TEXT = (
    "This video's subtitles are listed below: \nsame range later\noverlap\na &amp; b\nSelect the best answer to "
    "the following multiple-choice question based on the video and the subtitles.\nQ?\nA. x\nB. y"
)

# --- the chat template (examples/eval/tool_call_qwen2_5_vl.jinja) rendered as vLLM renders it (transformers'
# render_jinja_template: trim_blocks, lstrip_blocks) for each conversation of tests/template_conversations.py:
# SHA-256 of the rendered text. Facts in words: the default system text is followed by "\n# Tools", a given system
# text runs straight into "# Tools" (no separator); without tools the system text is followed by "\n<|im_end|>".
TEMPLATE_RENDER_SHA256 = {
    "tool_task_first_request": "7eaf9c70495cad16dd7e290fa6b85e4032bde9b9bfe6af23ed661d9456fe38f4",
    "think_task_first_request": "3bc3b421c5cb1985844519dd037816f41ac8c6d85cbcc2637af2e4cf0484a690",
    "no_tools_no_system": "95367e75101821184c072665285ea6c7c1aba6accd8d00826c2cf6e8b31f1057",
    "no_tools_with_system": "aee3d8fb65b685e84138bf6f736d7c007617881562968e36ed6307840b762a7d",
    "after_one_tool_round": "8db03074b55b889c4390014854472ff8ee05d6414746539cd519e1c599efff45",
    "assistant_text_and_call_in_one": "56c1e04c31edd5a8e6388ef9c4ac0ae29e3681957a85583518c016a6edebfbd5",
}


def sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def lmms_eval_file(relative: str) -> Path:
    import lmms_eval

    return Path(lmms_eval.__file__).parent / relative


# --- the MCP crop server (examples/video_tools/mcp_server.py, `crop_video`), its function run at LONGVT_COMMIT on a
# synthetic clip (tests/test_upstream_tool.py writes the same: 12 s, 5 fps, 64x48, H.264; decord reader) with the
# arguments pydantic would have handed it (ints as floats): the exception text of each refused call. FastMCP puts
# "Error executing tool crop_video: " in front (prompt upstream_tool_error); an unknown tool name gets
# "Unknown tool: NAME" alone. No clamping: an end past the video is refused. `None` = the key is absent.
MCP_CLIP = {"duration": 12.0, "fps": 5.0, "width": 64, "height": 48}
MCP_ERRORS = {
    # (video_path ("<clip>" = the clip's path), start_time, end_time) -> text
    ("<clip>", 2.0, 20.0): "end_time (20.0s) exceeds video duration (12.00s)",
    ("<clip>", 15.0, 20.0): "start_time (15.0s) exceeds video duration (12.00s)",
    ("/nope/else.mp4", 1.0, 2.0): "Video file not found: /nope/else.mp4",
    ("<clip>", None, 2.0): "start_time parameter is required",
    ("  ", 1.0, 2.0): "video_path cannot be empty",
    ("<clip>", -1.0, 2.0): "start_time must be non-negative, got -1.0",
    ("<clip>", 5.0, 3.0): "end_time (3.0) must be greater than start_time (5.0)",
}
# Successful calls: (start, end) -> (PNG images returned, their size). Pixels differ from ours by the resize
# (upstream: fetch_video's torchvision resize; ours: core.video): mean |diff| about 4/255, max about 73, measured
# on the 2-6 s window of this clip.
MCP_OK = {(2.0, 6.0): (4, (56, 56)), (0.0, 12.0): (12, (56, 56))}
