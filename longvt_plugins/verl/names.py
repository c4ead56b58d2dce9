"""Names under which LongVT's parts are registered in verl (kept apart so nothing imports verl to read them)."""

AGENT_LOOP_NAME = "longvt_tool_agent"
TOOL_PARSER_NAME = "longvt_hermes"
TEMPLATE_RESOLVER = "longvt.template"
MODEL_TEMPLATE_RESOLVER = "longvt.model_template"  # the template a checkpoint's family needs (null: its own)
RESOURCE_RESOLVER = "longvt.resource"
TOOL_CLASS_PATH = "longvt_plugins.verl.tool.CropVideoTool"
AGENT_LOOP_CLASS_PATH = "longvt_plugins.verl.agent_loop.LongVTToolAgentLoop"
# Key in a returned frame's PIL `Image.info` holding the text that belongs right before it (e.g. "<12.0s>").
FRAME_LABEL_KEY = "longvt_label"
# Key in a returned frame's PIL `Image.info` holding its time as Qwen3-VL's processor computes it (index / fps):
# the loop labels pairs of frames from it for a Qwen3-VL policy (core/families.py).
FRAME_TIME_KEY = "longvt_processor_time"
# Top-level key of the tool YAML holding the per-turn budget (`longvt_tool_agent`; verl itself reads only `tools:`).
TURN_BUDGET_KEY = "turn_budget"
# Attribute of verl's `AgentData` holding the per-call frame cap of the turn being answered (the turn's crop frames
# shared by its crops, `core.budget.share_turn_frames`); None or absent: each crop its own cap.
TURN_MAX_FRAMES_ATTR = "_longvt_turn_max_frames"
