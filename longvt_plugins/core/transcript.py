"""A video's subtitles or ASR transcript (SRT or WebVTT), read once and indexed for word search.

Parsing is the format libraries' (`srt` for SubRip, `webvtt-py` for WebVTT); this module only normalises their cues
to `Cue(start, end, text)` and builds a word index. Reading takes a path and opens that file only, once; an index
is cached per file (by resolved path, size and modification time), so every call on one video shares it.

Match score (what `TranscriptIndex.search` ranks by), for the distinct words W of the query (lower-cased word
characters, `\\w+`):
    score = |W found in the line| / |W|  (+ 1 when the query's words appear in the line consecutively, in order)
A line with no query word is not a match. Lines with equal scores come in time order (start, then end).
"""

from __future__ import annotations

import heapq
import io
import math
import os
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass

import srt
import webvtt

__all__ = ["Cue", "Hit", "TranscriptError", "TranscriptIndex", "load_index", "parse_transcript", "words"]

MAX_BYTES = (
    64 * 1024 * 1024
)  # a transcript of a day of speech is a few MB; anything larger is not a transcript
_WORD = re.compile(r"\w+")
_TAG = re.compile(r"<[^>]*>|\{\\[^}]*\}")  # HTML-like styling (<i>, <font ...>) and SSA overrides ({\an8})
_SPACE = re.compile(r"\s+")


class TranscriptError(ValueError):
    """The subtitle file cannot be read or holds no cue; the message is written for the model."""


@dataclass(frozen=True)
class Cue:
    start: float  # seconds
    end: float
    text: str  # styling removed, lines joined by one space


@dataclass(frozen=True)
class Hit:
    cue: Cue
    score: float
    index: int  # the cue's position in time order


def words(text: str) -> list[str]:
    return _WORD.findall(text.casefold())


def _clean(text: str) -> str:
    return _SPACE.sub(" ", _TAG.sub("", text)).strip()


def parse_transcript(text: str, kind: str) -> list[Cue]:
    """Cues of an SRT (`kind="srt"`) or WebVTT (`"vtt"`) text, in time order; cues with no words are dropped."""
    cues: list[Cue] = []
    if kind == "vtt":
        try:
            captions = webvtt.from_buffer(io.StringIO(text), format="vtt").captions
        except Exception as e:  # the library's MalformedFileError / MalformedCaptionError, or worse
            raise TranscriptError(
                f"the WebVTT subtitle file is malformed ({type(e).__name__}: {e})"
            ) from None
        for c in captions:
            cues.append(
                Cue(
                    c.start_time.in_milliseconds() / 1000, c.end_time.in_milliseconds() / 1000, _clean(c.text)
                )
            )
    elif kind == "srt":
        try:
            subs = list(srt.parse(text, ignore_errors=True))
        except Exception as e:
            raise TranscriptError(f"the SRT subtitle file is malformed ({type(e).__name__}: {e})") from None
        for s in subs:
            cues.append(Cue(s.start.total_seconds(), s.end.total_seconds(), _clean(s.content)))
    else:
        raise ValueError(f"unknown subtitle format {kind!r}")
    cues = [c for c in cues if c.text and math.isfinite(c.start) and math.isfinite(c.end)]
    cues.sort(key=lambda c: (c.start, c.end))
    return cues


def _kind(path: str, text: str) -> str:
    ext = os.path.splitext(path)[1].lower()
    if ext in (".vtt", ".srt"):
        return ext[1:]
    return "vtt" if text.lstrip("\ufeff").startswith("WEBVTT") else "srt"


class TranscriptIndex:
    """Cues in time order plus a word -> cue postings index. Immutable once built; safe to share across threads."""

    def __init__(self, cues: list[Cue]):
        self.cues = list(cues)
        self.duration = max((c.end for c in self.cues), default=0.0)
        self._words: list[tuple[str, ...]] = []
        postings: dict[str, list[int]] = {}
        for i, cue in enumerate(self.cues):
            toks = tuple(words(cue.text))
            self._words.append(toks)
            for w in set(toks):
                postings.setdefault(w, []).append(i)
        self._postings = postings

    @classmethod
    def from_text(cls, text: str, kind: str) -> TranscriptIndex:
        return cls(parse_transcript(text, kind))

    def __len__(self) -> int:
        return len(self.cues)

    def search(
        self, query: str, start: float | None = None, end: float | None = None, k: int = 5
    ) -> tuple[list[Hit], int]:
        """(the best `k` hits, how many lines matched) among lines that overlap [start, end] (open bounds: None)."""
        phrase = words(query)
        terms = list(dict.fromkeys(phrase))
        if not terms or k <= 0:
            return [], 0
        found: dict[int, int] = {}
        for term in terms:
            for i in self._postings.get(term, ()):
                found[i] = found.get(i, 0) + 1
        lo = -math.inf if start is None else start
        hi = math.inf if end is None else end
        ranked = []
        for i, n in found.items():
            cue = self.cues[i]
            if cue.end <= lo or cue.start >= hi:
                continue
            score = n / len(terms)
            if len(terms) > 1 and n == len(terms) and _contains(self._words[i], phrase):
                score += 1.0
            ranked.append((-score, cue.start, cue.end, i))
        best = heapq.nsmallest(k, ranked)
        return [Hit(self.cues[i], -neg, i) for neg, _, _, i in best], len(ranked)


def _contains(line: tuple[str, ...], phrase: list[str]) -> bool:
    n = len(phrase)
    return any(list(line[j : j + n]) == phrase for j in range(len(line) - n + 1))


_CACHE: OrderedDict[tuple[str, int, int], TranscriptIndex] = OrderedDict()
_CACHE_SIZE = 64
_LOCK = threading.Lock()


def load_index(path: str) -> TranscriptIndex:
    """The index of the subtitle file at `path` (already resolved by the caller), built on first use and cached.
    Opens `path` and nothing else; raises TranscriptError (model-readable) or OSError."""
    st = os.stat(path)
    key = (path, st.st_size, st.st_mtime_ns)
    with _LOCK:
        hit = _CACHE.get(key)
        if hit is not None:
            _CACHE.move_to_end(key)
            return hit
    if st.st_size > MAX_BYTES:
        raise TranscriptError(f"the subtitle file is too large ({st.st_size} bytes; at most {MAX_BYTES})")
    with open(path, "rb") as fh:
        data = fh.read(MAX_BYTES + 1)
    text = data.decode("utf-8-sig", errors="replace").replace("\r\n", "\n").replace("\r", "\n")
    index = TranscriptIndex.from_text(text, _kind(path, text))
    if not index.cues and text.strip():
        raise TranscriptError("no subtitle line could be read from the subtitle file")
    with _LOCK:
        _CACHE[key] = index
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    return index
