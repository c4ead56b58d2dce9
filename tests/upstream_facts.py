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
    "lmms_eval_tasks/videomme/_default_template_yaml": "a325b328bc3d0d2229e3985df1fc0012a3f184edb4430e0079eff3bf6d35fce9",
    "lmms_eval_tasks/videomme/videomme_w_subtitle_tool.yaml": "34771e9d9fc284e6c5432b425571a485df6fee42466989b0808914a6634b0cc0",
    "lmms_eval_tasks/lvbench/lvbench_tool.yaml": "a486597e35a53c9a6cdd7f197573248377e52b0a02116e9fd14a8fbac20ba665",
    "lmms_eval_tasks/lvbench/lvbench_reasoning.yaml": "369c833fa5c27e304d95579da6be4e850c04d7729512d0f619acba48bdafee46",
    "lmms_eval_tasks/videommmu/_default_template_yaml": "5ebfe1c337ec59339970048c653e58ef0f507b5d7c7cc44af51d47e6e5a08ea6",
}

# Installed lmms-eval 0.7.3 files whose code the differential tests run (path under the lmms_eval package).
LMMS_EVAL_VERSION = "0.7.3"
LMMS_EVAL_FILES = {
    "tasks/_task_utils/reasoning_utils.py": "0deb1fbc0bc32e2c8a08d8a39e3c9e8cbac5b505c1e642449af7f0a149bebbe6",
    "tasks/longvt/utils.py": "fe7a5b80b181d31cda3a847e914f7647d4a8f2fb062cdc0a013a184e53d007f3",
    "tasks/longvt/longvt_tool.yaml": "44184e3d46a72c1037a15825d2e56be7749ca148767f70ca36ee6b722d33bc8c",
    "models/chat/async_openai.py": "d418a1499b999658c81369b1e9de377b7851c1335a568a28832b0e46cfa417da",
    "mcp/client.py": "708b8e2c2656e386b45eefc4e8647e7653435672e1dd8918910f8fa3256f468e",
    # The built-in tasks upstream's non-think rows ran (their doc_to_text is run in tests/test_upstream_prompts.py).
    "tasks/longvt/longvt_non_think.yaml": "210ef0e6c7cb27e268729c0869fdef167197423a22d8cbc85f103c1772cc9800",
    "tasks/videomme/utils.py": "b3078d90275f47f455ad86ccfbcec962e76c4f9d2c1207e06487529c3fd34a5a",
    "tasks/videomme/videomme_w_subtitle.yaml": "57181e738382f8c3679949556148507675a950449b287e39565af1855c4a486f",
    "tasks/lvbench/utils.py": "47161df346baebe6a7cc6e8cf227f8e8b453cc0999617b840cf71975bb0e5e2e",
    "tasks/lvbench/lvbench.yaml": "a76b8fbdf3bcf8de5c86d305de3a45527927b69e9c3663d448020405f27dd103",
    "tasks/videommmu/utils.py": "ce0d7006856d3afefbd25b73b4afde41df21ba12e61020060f1232e94a843f48",
    "tasks/videommmu/_default_template_yaml": "8dad7bfcbc379507b959bf4f24678004623807943c8d63d5de1d0862e320b2e8",
    "tasks/videommmu/adaptation.yaml": "59ed7f1eb84fb029c18dabd7836d6c7218c876b904f962c87ecc1453aa6586ba",
    "tasks/videommmu/comprehension.yaml": "517f69fab3d82c62d643497397ef7d826c3271e73ed977d058f9ee37a2c4a15b",
    "tasks/videommmu/perception.yaml": "fa782819fb9ecd64bf299d5ec4728d9422adbf1d852721013987c2476a5ca986",
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


# --- question texts of LongVT's own tasks (tool, think) and what their scorers hand the judge as the question.
# LongVT's task utils at LONGVT_COMMIT (lmms_eval_tasks/{videomme,lvbench,videommmu}/utils.py, kwargs from the
# YAMLs above: videomme/_default_template_yaml, lvbench/lvbench_tool.yaml, videommmu/_default_template_yaml) run on
# the docs of tests/upstream_question_inputs.py (Python 3.11, lmms-eval 0.7.3's environment). Per doc: SHA-256 of
# "tool": the text part of the tool task's user turn (VideoMME: `videomme_doc_to_text_subtitle`, which lmms-eval's
#   automatic messages send as it is - the reported tool task has no doc_to_messages; the others: their
#   `*_tool_doc_to_messages`, question.strip() + " " + TOOL_PROMPT),
# "think": the text part of the think task's user turn (`*_doc_to_messages*`: question.strip()),
# "judge": extra_info["question"] of their process_results (VideoMME: `videomme_doc_to_text(doc, None)`, no
#   subtitles; LVBench: doc["question"]; VideoMMMU: the subset's doc_to_text with the template's kwargs).
# Facts in words: VideoMMMU adaptation = pre_prompt + mcq_prompt ("... the following multi-choice question. The image
# for this question is at the end of the video.\n") + question + "\n" + options ("open" rows: open_ended_prompt, no
# options); perception / comprehension = question + "\n" + options + "\nPlease ignore the Quiz question in last frame
# of the video." with no pre-prompt; options keep their text when every one starts with "X.", else all get "X. ".
# lmms-eval 0.7.3's built-in VideoMMMU doc_to_text gives the same texts (its mcq_post_prompt is "").
LONGVT_QUESTION_SHA256 = {
    "videomme/edges": {
        "tool": "366be21c76d9b7ea53eac65bc6f48695fa5c080b5eca719df63b5e5f1c8c4ebf",
        "think": "998979d835af5c818412a6c9ee44a41d4b5f72433f7a5005879a0323a4774b18",
        "judge": "8b3cbd9eced18a457416f339f5743312987b6e1801512191b4008db003671b12",
    },
    "videomme/plain": {
        "tool": "b3924ba9ed99c4debe920daa10e1fd8ecd110bfeae7e05a4bd08605377b8e6e1",
        "think": "b3924ba9ed99c4debe920daa10e1fd8ecd110bfeae7e05a4bd08605377b8e6e1",
        "judge": "ca63dce435d8b4ca5cbb126284b8d9216e885a60ae8b84a9e61b7884172eacd7",
    },
    "lvbench/inline": {
        "tool": "fa71ccf181297b9a0465b46bba9397f0373f33e4f30ef344a487af8496bd14e7",
        "think": "242ff71909d242aa8a2f99612ec3dddcf9ff3709dcdaa70969c0ce068930c01e",
        "judge": "242ff71909d242aa8a2f99612ec3dddcf9ff3709dcdaa70969c0ce068930c01e",
    },
    "lvbench/inline_edges": {
        "tool": "6a4c1343bf45ab9ad28d2cb198016e1061005f93ffa08b684c454018d61b998d",
        "think": "f1c820c052e8891a4119a95e0be4f9b77f8ceb1a4dfe31f3efb3c6e0a76dd768",
        "judge": "6a3917f219c28793a41c563fe80d5fd530edfbdb0c11ed6b2231aef5b0acab9f",
    },
    "lvbench/list": {
        "tool": "fc0b57b11890b766e7f832d2f0ac32ea0f32d1cd358b75a642ab4ee9d4720a05",
        "think": "e42ef4c7b7025c7403a235eb35e32891671b9968bba130620310b9f1290de41d",
        "judge": "a25e1b1cae032fdf18ebbe587855242c3751d70ffce976c9cf4780360cd481ab",
    },
    "videommmu/adaptation/mcq": {
        "tool": "4bdf734c2eccdecf6240a6e967bee4b63e25840df50b97cdc4fe1d53b50ba491",
        "think": "f76ddbcc4dd756058ffd3a7338e314f0e85ca32c8c84cc453c8916fdb9085485",
        "judge": "f76ddbcc4dd756058ffd3a7338e314f0e85ca32c8c84cc453c8916fdb9085485",
    },
    "videommmu/comprehension/mcq": {
        "tool": "ca039ff6bc9996c457dab52f71ffb5e519ab18b83628bd4ca3a5daf11225e596",
        "think": "e38f30815d308b8a850aa50e7ad9a4cbd74ddb0ee96f67163fbcb2705c1acb1f",
        "judge": "3364a5349c2161c0823c6809223aa4b2ebd9965ffb20587283622ccd0e1eda96",
    },
    "videommmu/perception/mcq": {
        "tool": "ca039ff6bc9996c457dab52f71ffb5e519ab18b83628bd4ca3a5daf11225e596",
        "think": "e38f30815d308b8a850aa50e7ad9a4cbd74ddb0ee96f67163fbcb2705c1acb1f",
        "judge": "3364a5349c2161c0823c6809223aa4b2ebd9965ffb20587283622ccd0e1eda96",
    },
    "videommmu/adaptation/mcq_lettered": {
        "tool": "03d5c3cdcc40d080bc0d76f8b5572dcac24725de839688eba3e35a9d375b23f7",
        "think": "1305cf871d3ec38f33836e8946bb857b509c6a01354b1a7af976d055a407faeb",
        "judge": "1305cf871d3ec38f33836e8946bb857b509c6a01354b1a7af976d055a407faeb",
    },
    "videommmu/comprehension/mcq_lettered": {
        "tool": "01f93d567bcc0e06480b1d28e88e7de7f9ce92e3c7f89adf350bebb536e8f2fa",
        "think": "fb2b0d3dd546db9db1891f1b4c9672ca1dfa47bc416f9ba06e9b863cdcbffb11",
        "judge": "fb2b0d3dd546db9db1891f1b4c9672ca1dfa47bc416f9ba06e9b863cdcbffb11",
    },
    "videommmu/perception/mcq_lettered": {
        "tool": "01f93d567bcc0e06480b1d28e88e7de7f9ce92e3c7f89adf350bebb536e8f2fa",
        "think": "fb2b0d3dd546db9db1891f1b4c9672ca1dfa47bc416f9ba06e9b863cdcbffb11",
        "judge": "fb2b0d3dd546db9db1891f1b4c9672ca1dfa47bc416f9ba06e9b863cdcbffb11",
    },
    "videommmu/adaptation/mcq_half_lettered": {
        "tool": "9b1e0ca04efd597b959f009351a9ee31ac67edc42a5da01c1db3646941d2c8a5",
        "think": "5f06b7ebcb566a190c5739a7785a72e62e12bdbaffb520f102be8e3f2a9c718c",
        "judge": "5f06b7ebcb566a190c5739a7785a72e62e12bdbaffb520f102be8e3f2a9c718c",
    },
    "videommmu/comprehension/mcq_half_lettered": {
        "tool": "75cf98989763674abd638d2486561e3bb7d2a70f4faa8c42e2df3b0dc6ef7204",
        "think": "9b785937c1851474c5ef5a2b172c97edd7b795e7f4785f8b36e0f7815e3422a4",
        "judge": "9b785937c1851474c5ef5a2b172c97edd7b795e7f4785f8b36e0f7815e3422a4",
    },
    "videommmu/perception/mcq_half_lettered": {
        "tool": "75cf98989763674abd638d2486561e3bb7d2a70f4faa8c42e2df3b0dc6ef7204",
        "think": "9b785937c1851474c5ef5a2b172c97edd7b795e7f4785f8b36e0f7815e3422a4",
        "judge": "9b785937c1851474c5ef5a2b172c97edd7b795e7f4785f8b36e0f7815e3422a4",
    },
    "videommmu/adaptation/open": {
        "tool": "b37232e492da6fd1391b8d81c00ad326466f5269b6c7cc91723aa8761b77a043",
        "think": "afa44ddbd0b6e4b494bbc512e07b1f2865df91fd15b43bc35cccfd97b0200a4d",
        "judge": "00639995119ad5719c6a4c6a5e58cb1c05d762357d739f1d732e30ff38e85bb6",
    },
    "videommmu/comprehension/open": {
        "tool": "b769b73effe9f0aefb23d3c313ada52060e60c1441d00984d3f24b2029737b15",
        "think": "6a85601ce6076ccaf6a4d16bf8fbd43127de30f768bc70ca34b3fa4da0b4dac7",
        "judge": "6a85601ce6076ccaf6a4d16bf8fbd43127de30f768bc70ca34b3fa4da0b4dac7",
    },
    "videommmu/perception/open": {
        "tool": "b769b73effe9f0aefb23d3c313ada52060e60c1441d00984d3f24b2029737b15",
        "think": "6a85601ce6076ccaf6a4d16bf8fbd43127de30f768bc70ca34b3fa4da0b4dac7",
        "judge": "6a85601ce6076ccaf6a4d16bf8fbd43127de30f768bc70ca34b3fa4da0b4dac7",
    },
}
VIDEOMMMU_ADAPTATION_MCQ_PRE = (
    "You should watch and learn the video content. Then apply what you learned to answer the following "
    "multi-choice question. The image for this question is at the end of the video.\n"
)
VIDEOMMMU_QUIZ_NOTE = "\nPlease ignore the Quiz question in last frame of the video."
