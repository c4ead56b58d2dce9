"""Per-trajectory tool counters, kept in verl's `AgentData.extra_fields`.

verl creates a fresh tool instance id for every call and shares one tool object between all trajectories of a
worker, so per-trajectory state cannot live on the tool. `AgentData.extra_fields` is per trajectory, and verl hands
it to the reward function as `extra_info` (`NaiveRewardManager.run_single` merges `tool_extra_fields` into it).

The reward needs the same keys for every sample (verl indexes reward extras by the first sample's keys), so the
defaults below are filled in for trajectories that never called a tool.
"""

from __future__ import annotations

from typing import Any

CROP_CALLS = "crop_calls"  # crop_video calls that reached the tool (including refused or failed ones)
CROP_ERRORS = (
    "crop_errors"  # of those, calls answered with an error text (bad window, over the cap, no video)
)
CROP_FRAMES = "crop_frames"  # frames returned to the model, all calls together
CROP_WINDOWS = (
    "crop_windows"  # [start, end] (seconds) actually sampled, one per successful call, in call order
)
SEARCH_CALLS = "search_calls"  # search_subtitles calls that reached the tool (including failed ones)
SEARCH_ERRORS = "search_errors"  # of those, calls answered with an error text
ZOOM_CALLS = "zoom_calls"  # zoom_frame calls that reached the tool (including refused or failed ones)
ZOOM_ERRORS = "zoom_errors"  # of those, calls answered with an error text
ZOOM_REGIONS = (
    "zoom_regions"  # [time, x1, y1, x2, y2] (seconds, 0-1000 box) returned, one per successful call
)
INVALID_TOOL_CALLS = "invalid_tool_calls"  # unparseable tool calls and calls to tools that do not exist
# Calls refused for the per-turn budget (over calls_per_turn, or a crop over the turn's frames); they reach no tool.
TURN_REFUSED_CALLS = "turn_refused_calls"
# verl's trainer logs tool_call_counts/{min,max,mean} when a column of this name exists.
TOOL_CALL_COUNTS = "tool_call_counts"


def counter_defaults() -> dict[str, Any]:
    return {
        CROP_CALLS: 0,
        CROP_ERRORS: 0,
        CROP_FRAMES: 0,
        CROP_WINDOWS: [],
        SEARCH_CALLS: 0,
        SEARCH_ERRORS: 0,
        ZOOM_CALLS: 0,
        ZOOM_ERRORS: 0,
        ZOOM_REGIONS: [],
        INVALID_TOOL_CALLS: 0,
        TURN_REFUSED_CALLS: 0,
    }


def fill_defaults(extra_fields: dict[str, Any]) -> dict[str, Any]:
    """Add missing counters in place (never overwrites) and refresh the total; returns the same dict."""
    for key, value in counter_defaults().items():
        extra_fields.setdefault(key, value)
    extra_fields[TOOL_CALL_COUNTS] = (
        int(extra_fields[CROP_CALLS])
        + int(extra_fields[SEARCH_CALLS])
        + int(extra_fields[ZOOM_CALLS])
        + int(extra_fields[INVALID_TOOL_CALLS])
        + int(extra_fields[TURN_REFUSED_CALLS])
    )
    return extra_fields


def trajectory_counters(agent_data: Any) -> dict[str, Any]:
    """The counters of the trajectory `agent_data` belongs to; a throwaway dict when called outside a loop."""
    extra_fields = getattr(agent_data, "extra_fields", None)
    if extra_fields is None:
        extra_fields = {}
    return fill_defaults(extra_fields)


# Attribute of verl's AgentData: key -> {the tool's call position: value}, behind the per-call lists above.
_CALL_ORDER_ATTR = "_longvt_call_order"


def append_in_call_order(
    agent_data: Any, counters: dict[str, Any], key: str, position: int, value: Any
) -> None:
    """Add `value` to the list `counters[key]` in call order (`position`: the tool's calls before this one), not in
    the order concurrent calls of one turn happen to finish (the per-turn budget runs them together)."""
    book = getattr(agent_data, _CALL_ORDER_ATTR, None)
    if book is None:
        book = {}
        if agent_data is not None:
            setattr(agent_data, _CALL_ORDER_ATTR, book)
    entries = book.setdefault(key, {})
    entries[position] = value
    counters[key][:] = [entries[k] for k in sorted(entries)]
