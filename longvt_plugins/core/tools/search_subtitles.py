"""`search_subtitles(query, start_time=None, end_time=None)`: timestamped lines of the sample's own subtitles.

Bound to one subtitle file (SRT or WebVTT) when the tool is created; the model never names a file. The file is
parsed and indexed once (`core.transcript.load_index`, cached per file) and each call ranks its lines by the match
score documented there, best first, ties in time order, `top_k` lines at most. `execute` never raises: bad
arguments, a missing or malformed subtitle file and the call cap all come back as a text the model reads.
Argument rules are crop_video's: a JSON object (or a string holding one), no unknown keys, times as JSON numbers or
strings ("12.5", "12.5s", "1:02:03"), finite and >= 0, end after start.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from typing import Any

from longvt_plugins.core.budget import CropBudget
from longvt_plugins.core.crop_tool import ArgumentError, format_timestamps, json_object_arguments
from longvt_plugins.core.crop_tool import _number as seconds_argument  # crop_video's own time rules
from longvt_plugins.core.crop_tool import _short as short_json
from longvt_plugins.core.families import DEFAULT_FAMILY
from longvt_plugins.core.prompts import load_prompt
from longvt_plugins.core.tools.base import SampleResources, ToolEntry
from longvt_plugins.core.transcript import Hit, TranscriptError, load_index, words

__all__ = ["SEARCH_SUBTITLES_SCHEMA", "SearchResult", "SearchSubtitlesTool", "TOOL", "parse_search_arguments"]

NAME = "search_subtitles"
ARGUMENT_NAMES = ("query", "start_time", "end_time")
TOP_K = 5
MAX_QUERY_CHARS = 200
MAX_LINE_CHARS = 300  # one subtitle line as the model reads it

SEARCH_SUBTITLES_SCHEMA: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": NAME,
        "description": load_prompt("search_subtitles_description"),
        "parameters": {
            "type": "object",
            "properties": {
                "query": {"type": "string", "description": load_prompt("search_subtitles_query")},
                "start_time": {"type": "number", "description": load_prompt("search_subtitles_start_time")},
                "end_time": {"type": "number", "description": load_prompt("search_subtitles_end_time")},
            },
            "required": ["query"],
        },
    },
}
_HOW = (
    'Call search_subtitles with {"query": "words to find"} and, optionally, start_time and end_time in seconds '
    "(0 <= start_time < end_time)."
)


@dataclass
class SearchResult:
    ok: bool
    text: str  # what the model reads
    error: str | None = None  # "arguments", "subtitles", "call_limit", "internal"
    hits: list[Hit] = field(default_factory=list)
    matched: int = 0  # lines that matched, before the top-k cut
    query: str | None = None
    requested: tuple[float | None, float | None] | None = None
    # The fields every tool result has (the agent records them); a search returns no frames.
    frames: list[Any] = field(default_factory=list)
    timestamps: list[float] = field(default_factory=list)
    window: tuple[float, float] | None = None
    notes: list[str] = field(default_factory=list)

    def content_parts(self, family: str = DEFAULT_FAMILY) -> list[dict[str, Any]]:
        return [{"type": "text", "text": self.text}]


def parse_search_arguments(arguments: Any) -> tuple[str, float | None, float | None]:
    """(query, start, end) from a dict or a JSON object string. Raises ArgumentError with a model-readable text."""
    arguments = json_object_arguments(arguments, '{"query": "red car"}')
    keys = {str(k) for k in arguments}
    extra = sorted(keys - set(ARGUMENT_NAMES))
    if "query" not in keys or extra:
        bits = ["missing query"] if "query" not in keys else []
        if extra:
            bits.append("unexpected argument(s) " + ", ".join(short_json(k, 30) for k in extra))
        raise ArgumentError(
            "; ".join(bits) + "; search_subtitles takes query and, optionally, start_time and end_time."
        )
    query = arguments["query"]
    if not isinstance(query, str):
        raise ArgumentError(
            f"query must be a string of words, got {type(query).__name__} {short_json(query)}."
        )
    query = query.strip()
    if not query:
        raise ArgumentError("query is empty: give the words to look for.")
    if len(query) > MAX_QUERY_CHARS:
        raise ArgumentError(f"query is {len(query)} characters long; keep it under {MAX_QUERY_CHARS}.")
    if not words(query):
        raise ArgumentError(f"query {short_json(query)} has no words to look for (letters or digits).")
    start = end = None
    if arguments.get("start_time") is not None:
        start = seconds_argument("start_time", arguments["start_time"])
        if start < 0:
            raise ArgumentError(f"start_time must be >= 0, got {start:g}.")
    if arguments.get("end_time") is not None:
        end = seconds_argument("end_time", arguments["end_time"])
        if end <= (start or 0.0):
            raise ArgumentError(
                f"end_time ({end:g}) must be greater than "
                + (f"start_time ({start:g})." if start is not None else "0.")
            )
    return query, start, end


def _window_text(start: float | None, end: float | None) -> str:
    if start is None and end is None:
        return ""
    lo = "the start" if start is None else f"{format_timestamps([start])[0]}s"
    hi = "the end" if end is None else f"{format_timestamps([end])[0]}s"
    return f" between {lo} and {hi}"


def render_hit(hit: Hit) -> str:
    a, b = format_timestamps([hit.cue.start, hit.cue.end])
    text = hit.cue.text
    if len(text) > MAX_LINE_CHARS:
        text = text[: MAX_LINE_CHARS - 3] + "..."
    return f"[{a}s - {b}s] {text}"


class SearchSubtitlesTool:
    """search_subtitles bound to one subtitle file (or to none: every call then says so). Thread-safe."""

    name = NAME
    schema = SEARCH_SUBTITLES_SCHEMA

    def __init__(self, subtitle_path: str | os.PathLike | None, max_calls: int = 5, top_k: int = TOP_K):
        # Resolved once, like crop_video's video: a later symlink swap or chdir cannot redirect the tool.
        self.subtitle_path = None if subtitle_path is None else os.path.realpath(os.fspath(subtitle_path))
        self.max_calls, self.top_k = int(max_calls), int(top_k)
        self.calls = 0
        self._lock = threading.Lock()

    def execute(self, arguments: Any, *, calls_made: int | None = None) -> SearchResult:
        """Run one call; `calls_made` as for crop_video (the trajectory's count, when the host keeps it)."""
        try:
            return self._execute(arguments, calls_made)
        except Exception as e:  # never raise: a bug here must not kill a rollout
            return SearchResult(
                ok=False,
                text=f"search_subtitles failed with an internal error ({type(e).__name__}: {e}). {_HOW}",
                error="internal",
            )

    def _execute(self, arguments: Any, calls_made: int | None) -> SearchResult:
        with self._lock:
            self.calls += 1
            used = self.calls if calls_made is None else calls_made + 1
        if used > self.max_calls:
            return SearchResult(
                ok=False,
                text=(
                    f"search_subtitles error: the call limit of {self.max_calls} searches is used up. "
                    "Answer from what you have already found."
                ),
                error="call_limit",
            )
        try:
            query, start, end = parse_search_arguments(arguments)
        except ArgumentError as e:
            return SearchResult(ok=False, text=f"search_subtitles error: {e} {_HOW}", error="arguments")
        if self.subtitle_path is None:
            return SearchResult(
                ok=False,
                text=(
                    "search_subtitles error: this video has no subtitles, so there is nothing to search. "
                    "Use crop_video to look at the video instead."
                ),
                error="subtitles",
                query=query,
                requested=(start, end),
            )
        try:
            index = load_index(self.subtitle_path)
        except (TranscriptError, OSError) as e:
            text = (
                str(e)
                if isinstance(e, TranscriptError)
                else f"the subtitle file cannot be read ({e.strerror})"
            )
            return SearchResult(
                ok=False,
                text=f"search_subtitles error: {text}. Use crop_video to look at the video instead.",
                error="subtitles",
                query=query,
                requested=(start, end),
            )
        hits, matched = index.search(query, start, end, self.top_k)
        where = _window_text(start, end)
        if not hits:
            span = (
                f"The subtitles have {len(index)} lines, from {format_timestamps([index.cues[0].start])[0]}s to "
                f"{format_timestamps([index.duration])[0]}s"
                if len(index)
                else "The subtitle file is empty"
            )
            text = (
                f"search_subtitles: no subtitle line matches {short_json(query)}{where}. {span}; "
                "try other words, or crop_video to look at the video."
            )
        else:
            head = f"search_subtitles: {matched} line(s) match {short_json(query)}{where}"
            if matched > len(hits):
                head += f"; the best {len(hits)}"
            text = head + ", best match first:\n" + "\n".join(render_hit(h) for h in hits)
        return SearchResult(
            ok=True, text=text, hits=hits, matched=matched, query=query, requested=(start, end)
        )


def bind(resources: SampleResources, budget: CropBudget) -> SearchSubtitlesTool:
    return SearchSubtitlesTool(resources.subtitle_path, max_calls=budget.max_calls)


TOOL = ToolEntry(
    name=NAME,
    schema=SEARCH_SUBTITLES_SCHEMA,
    parse_arguments=parse_search_arguments,
    bind=bind,
    reads=("subtitle_path",),
    doc="Timestamped lines of the sample's own subtitles (SRT/WebVTT) that match a query, best first.",
)
