"""search_subtitles: real SRT / WebVTT files written to tmp, parsed by the format libraries, searched by the tool.

Results are checked against an independent ranking computed here from the `srt` library's own cues, and a fuzz
of hostile calls (hypothesis) must never raise, never return an empty text, and never open any file but the
subtitle file the tool was bound to.
"""

from __future__ import annotations

import json
import math
import os
import random
import re
import sys
from datetime import timedelta

import pytest
import srt
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from longvt_plugins.core import transcript
from longvt_plugins.core.tools.search_subtitles import SearchSubtitlesTool, parse_search_arguments
from longvt_plugins.core.transcript import TranscriptIndex, load_index, parse_transcript

SRT_TEXT = """1
00:00:01,000 --> 00:00:03,500
<i>Hello</i> there, the red car

2
00:00:05,000 --> 00:00:07,000
The blue car is here.

3
00:01:00,000 --> 00:01:02,250
{\\an8}car red, RED car
and a boat

4
00:00:05,000 --> 00:00:06,000
the red car again
"""

VTT_TEXT = """\ufeffWEBVTT - a talk

NOTE written by hand

intro
00:01.500 --> 00:03.000 align:start position:10%
<v Ann>Welcome to the <b>river</b> tour

00:00:10.000 --> 00:00:12.500
The river bends here
past the mill

01:00:00.000 --> 01:00:04.000
Goodbye from the river
"""

VOCAB = "red blue green river mill car boat bridge king queen castle said went over under".split()


def _srt_stamp(t: float) -> str:
    ms = int(round(t * 1000))
    h, rem = divmod(ms, 3_600_000)
    m, rem = divmod(rem, 60_000)
    s, ms = divmod(rem, 1000)
    return f"{h:02d}:{m:02d}:{s:02d},{ms:03d}"


def write_transcript(path, seconds: float, seed: int = 0) -> list[tuple[float, float, str]]:
    """A generated SRT transcript of `seconds`; returns its cues."""
    rng = random.Random(seed)
    cues, blocks, t = [], [], 0.0
    while t < seconds:
        d = round(rng.uniform(1.0, 4.0), 3)
        text = " ".join(rng.choices(VOCAB, k=rng.randint(2, 8)))
        cues.append((t, t + d, text))
        blocks.append(f"{len(cues)}\n{_srt_stamp(t)} --> {_srt_stamp(t + d)}\n{text}\n")
        t = round(t + d + rng.uniform(0.0, 0.5), 3)
    path.write_text("\n".join(blocks), encoding="utf-8")
    return cues


def reference_ranking(path, query: str, start, end, k: int) -> list[tuple[float, float, str]]:
    """The documented score, computed independently from the `srt` library's cues (see core/transcript.py)."""
    subs = list(srt.parse(path.read_text(encoding="utf-8")))
    q = re.findall(r"\w+", query.casefold())
    terms = set(q)
    lo = -math.inf if start is None else start
    hi = math.inf if end is None else end
    scored = []
    for s in subs:
        a, b = s.start.total_seconds(), s.end.total_seconds()
        line = re.findall(r"\w+", re.sub(r"<[^>]*>", "", s.content).casefold())
        n = len(terms & set(line))
        if not n or b <= lo or a >= hi:
            continue
        score = n / len(terms)
        phrase = " ".join(q)
        if len(terms) > 1 and n == len(terms) and f" {phrase} " in f" {' '.join(line)} ":
            score += 1
        scored.append((-score, a, b, " ".join(s.content.split())))
    scored.sort()
    return [(a, b, text) for _, a, b, text in scored[:k]]


# ---------------------------------------------------------------------------------------------------- parsing
def test_srt_is_parsed_with_times_and_styling_removed(tmp_path):
    cues = parse_transcript(SRT_TEXT, "srt")
    assert [(c.start, c.end) for c in cues] == [(1.0, 3.5), (5.0, 6.0), (5.0, 7.0), (60.0, 62.25)]
    assert cues[0].text == "Hello there, the red car"  # <i> removed
    assert cues[3].text == "car red, RED car and a boat"  # {\an8} removed, lines joined
    path = tmp_path / "a.srt"
    path.write_bytes(SRT_TEXT.replace("\n", "\r\n").encode())  # CRLF, as Windows tools write it
    assert load_index(str(path)).cues == cues


def test_vtt_is_parsed_with_short_stamps_settings_notes_and_bom(tmp_path):
    path = tmp_path / "talk.vtt"
    path.write_text(VTT_TEXT, encoding="utf-8")
    cues = load_index(str(path)).cues
    assert [(c.start, c.end) for c in cues] == [(1.5, 3.0), (10.0, 12.5), (3600.0, 3604.0)]
    assert [c.text for c in cues] == [
        "Welcome to the river tour",
        "The river bends here past the mill",
        "Goodbye from the river",
    ]
    # Sniffed by content when the name says nothing.
    other = tmp_path / "talk.txt"
    other.write_text(VTT_TEXT, encoding="utf-8")
    assert load_index(str(other)).cues == cues


def test_index_is_built_once_per_file_and_rebuilt_when_it_changes(tmp_path):
    path = tmp_path / "t.srt"
    write_transcript(path, 60)
    first = load_index(str(path))
    assert load_index(str(path)) is first
    write_transcript(path, 90, seed=1)
    os.utime(path, ns=(1, 1))  # a new mtime even on coarse clocks
    assert load_index(str(path)) is not first


# ---------------------------------------------------------------------------------------------------- search
def test_results_are_ranked_by_score_and_ties_in_time_order(tmp_path):
    index = TranscriptIndex(parse_transcript(SRT_TEXT, "srt"))
    hits, matched = index.search("red car", k=10)
    assert matched == 4
    # Full phrase "red car" in order: 1 + 1; "car red, RED car" has the phrase too (at its end).
    assert [(h.cue.start, h.score) for h in hits] == [(1.0, 2.0), (5.0, 2.0), (60.0, 2.0), (5.0, 0.5)]
    assert hits[-1].cue.text == "The blue car is here."
    hits, matched = index.search("blue boat", k=10)
    assert [(h.cue.start, h.score) for h in hits] == [(5.0, 0.5), (60.0, 0.5)]  # a tie: time order
    hits, matched = index.search("car", k=2)
    assert matched == 4 and [h.cue.start for h in hits] == [1.0, 5.0]  # top-k, the earliest first on ties


def test_search_agrees_with_an_independent_ranking_on_a_generated_transcript(tmp_path):
    path = tmp_path / "hour.srt"
    write_transcript(path, 3600, seed=3)
    tool = SearchSubtitlesTool(path, max_calls=10**9, top_k=7)
    rng = random.Random(5)
    for _ in range(150):
        query = " ".join(rng.choices(VOCAB + ["zebra"], k=rng.randint(1, 3)))
        start = rng.choice([None, round(rng.uniform(0, 3000), 1)])
        end = rng.choice([None, (start or 0) + round(rng.uniform(1, 900), 1)])
        result = tool.execute({"query": query, "start_time": start, "end_time": end})
        assert result.ok, result.text
        got = [(h.cue.start, h.cue.end, h.cue.text) for h in result.hits]
        assert got == reference_ranking(path, query, start, end, 7), (query, start, end)
        assert all((start is None or b > start) and (end is None or a < end) for a, b, _ in got)


def test_time_range_keeps_only_overlapping_lines_and_says_so(tmp_path):
    path = tmp_path / "a.srt"
    path.write_text(SRT_TEXT, encoding="utf-8")
    tool = SearchSubtitlesTool(path)
    result = tool.execute({"query": "car", "start_time": "0:04", "end_time": 6.5})
    assert result.ok and [h.cue.start for h in result.hits] == [5.0, 5.0]
    assert "between 4.0s and 6.5s" in result.text
    lines = result.text.splitlines()  # a header, then one line per hit; equal scores: the shorter cue first
    assert lines[1:] == ["[5.0s - 6.0s] the red car again", "[5.0s - 7.0s] The blue car is here."]
    edge = tool.execute({"query": "car", "start_time": 3.5, "end_time": 5.0})  # touches, does not overlap
    assert edge.ok and edge.hits == [] and "no subtitle line matches" in edge.text
    late = tool.execute({"query": "red", "start_time": 61})
    assert [h.cue.start for h in late.hits] == [60.0] and "between 61.0s and the end" in late.text


# ------------------------------------------------------------------------------------------- hostile arguments
@pytest.mark.parametrize(
    "arguments,expected",
    [
        ({}, "missing query"),
        ({"query": "car", "path": "/etc/passwd"}, 'unexpected argument(s) "path"'),
        ({"query": 3}, "query must be a string"),
        ({"query": "   "}, "query is empty"),
        ({"query": "?!..."}, "has no words"),
        ({"query": "x" * 201}, "keep it under 200"),
        ({"query": "car", "start_time": True}, "start_time must be a number"),
        ({"query": "car", "start_time": "nan"}, "finite"),
        ({"query": "car", "start_time": -1}, "start_time must be >= 0"),
        ({"query": "car", "start_time": 5, "end_time": 5}, "must be greater than start_time (5)"),
        ({"query": "car", "end_time": 0}, "must be greater than 0"),
        ('{"query": "car"', "not valid JSON"),
        ([1, 2], "must be a JSON object"),
        (None, "must be a JSON object"),
    ],
)
def test_bad_arguments_get_a_clear_error_text(tmp_path, arguments, expected):
    path = tmp_path / "a.srt"
    path.write_text(SRT_TEXT, encoding="utf-8")
    result = SearchSubtitlesTool(path).execute(arguments)
    assert not result.ok and result.error == "arguments"
    assert result.text.startswith("search_subtitles error: ") and expected in result.text, result.text


def test_arguments_as_json_string_and_time_strings_parse_like_crop_video():
    assert parse_search_arguments('{"query": " red car ", "start_time": "1:02", "end_time": "70s"}') == (
        "red car",
        62.0,
        70.0,
    )
    assert parse_search_arguments({"query": "a", "start_time": None, "end_time": None}) == ("a", None, None)


def test_missing_malformed_or_absent_subtitles_are_error_texts(tmp_path):
    assert "no subtitles" in SearchSubtitlesTool(None).execute({"query": "car"}).text
    gone = SearchSubtitlesTool(tmp_path / "gone.srt").execute({"query": "car"})
    assert not gone.ok and gone.error == "subtitles" and "cannot be read" in gone.text
    bad = tmp_path / "bad.vtt"
    bad.write_text("this is not webvtt\n\n00:00 --> nope\n", encoding="utf-8")
    res = SearchSubtitlesTool(bad).execute({"query": "car"})
    assert not res.ok and res.error == "subtitles" and "WebVTT" in res.text
    junk = tmp_path / "junk.srt"
    junk.write_text("no cues here at all\n", encoding="utf-8")
    res = SearchSubtitlesTool(junk).execute({"query": "car"})
    assert not res.ok and "no subtitle line could be read" in res.text
    empty = tmp_path / "empty.srt"
    empty.write_text("", encoding="utf-8")
    res = SearchSubtitlesTool(empty).execute({"query": "car"})
    assert res.ok and "empty" in res.text


def test_call_cap_counts_per_trajectory(tmp_path):
    path = tmp_path / "a.srt"
    path.write_text(SRT_TEXT, encoding="utf-8")
    tool = SearchSubtitlesTool(path, max_calls=2)
    assert [tool.execute({"query": "car"}).ok for _ in range(3)] == [True, True, False]
    assert tool.execute({"query": "car"}, calls_made=0).ok  # a host that keeps the count itself
    assert (
        "call limit of 2"
        in SearchSubtitlesTool(path, max_calls=2).execute({"query": "car"}, calls_made=2).text
    )


def hostile_arguments(decoy: str) -> st.SearchStrategy:
    time_value = st.one_of(
        st.none(),
        st.floats(-10, 4000),
        st.floats(),
        st.integers(-5, 10**6),
        st.booleans(),
        st.sampled_from(["12", "1:02:03", "5s", "", "nan", "-inf", "1e400", decoy, "../" + decoy]),
        st.text(max_size=8),
        st.lists(st.integers(), max_size=2),
    )
    query = st.one_of(
        st.lists(st.sampled_from(VOCAB), min_size=1, max_size=4).map(" ".join),
        st.text(max_size=30),
        st.text(min_size=190, max_size=230),
        st.sampled_from([decoy, "../" + decoy, "file://" + decoy, "\x00", "*", "%s%n", "' OR 1=1 --"]),
        st.integers(),
        st.none(),
        st.just({"q": decoy}),
    )
    obj = st.fixed_dictionaries(
        {},
        optional={
            "query": query,
            "start_time": time_value,
            "end_time": time_value,
            "subtitle_path": st.just(decoy),
            "path": st.just(decoy),
        },
    )
    good = st.fixed_dictionaries(
        {"query": query}, optional={"start_time": time_value, "end_time": time_value}
    )
    return st.one_of(
        good,
        good,
        obj,
        obj.map(lambda d: json.dumps(d, default=str)),
        st.text(max_size=40),
        st.sampled_from(["{", "null", "[]", '{"query": "red"', decoy]),
        st.binary(max_size=20),
        st.integers(),
        st.none(),
    )


@pytest.mark.timeout(120)
def test_fuzz_never_escapes_never_silent_and_opens_only_the_bound_file(tmp_path):
    bound = tmp_path / "sample.srt"
    write_transcript(bound, 1800, seed=9)
    decoy = tmp_path / "decoy.srt"
    write_transcript(decoy, 60, seed=10)  # a real, readable subtitle file: opening it would succeed
    tool = SearchSubtitlesTool(bound, max_calls=10**9)
    for codec in ("utf-8", "utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be"):
        tool.execute(
            '{"query": "red"}'.encode(codec)
        )  # warm-up: json's lazy codec imports happen before we watch
    transcript._CACHE.clear()  # the bound file must be opened under the watcher (the positive control)

    opened: list[str] = []
    watching = [False]

    def audit(event, args):  # Python-level opens anywhere in the process
        if (
            watching[0]
            and event in ("open", "os.open")
            and args
            and isinstance(args[0], (str, bytes, os.PathLike))
        ):
            opened.append(os.path.realpath(os.fsdecode(args[0])))

    sys.addaudithook(audit)  # cannot be removed; `watching` keeps it silent outside execute()
    calls, errors, hits = [0], [0], [0]

    @settings(
        max_examples=150,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(st.lists(hostile_arguments(str(decoy)), min_size=25, max_size=25))
    def run(batch):
        for arguments in batch:
            calls[0] += 1
            if calls[0] % 1000 == 0:
                transcript._CACHE.clear()  # re-open the bound file now and then, under the watcher
            watching[0] = True
            try:
                result = tool.execute(arguments)  # an exception here fails the test: nothing may escape
            finally:
                watching[0] = False
            assert isinstance(result.text, str) and result.text.strip(), result
            assert result.text.startswith("search_subtitles")
            if result.ok:
                assert result.error is None and len(result.hits) <= tool.top_k
                hits[0] += bool(result.hits)
            else:
                assert result.error in {"arguments", "subtitles"}, result  # never "internal"
                errors[0] += 1

    run()
    assert calls[0] >= 3000
    assert errors[0] > 500 and hits[0] > 30  # both sides of the contract were exercised
    assert opened and set(opened) == {os.path.realpath(bound)}, set(opened)


def test_three_hour_transcript_builds_and_searches(tmp_path):
    path = tmp_path / "three_hours.srt"
    cues = write_transcript(path, 3 * 3600, seed=2)
    index = load_index(str(path))
    assert len(index) == len(cues) and index.duration == pytest.approx(cues[-1][1])
    assert index.cues[-1].start == pytest.approx(cues[-1][0])
    subs = list(srt.parse(path.read_text()))
    assert [s.start for s in subs[:3]] == [timedelta(seconds=c[0]) for c in cues[:3]]
