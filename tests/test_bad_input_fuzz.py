"""Fuzz of every row-file surface (issue 26): random truncations, type swaps and grammar breaks of valid SFT, RL
and eval rows. Each case must end, within a bound, in a clear error naming the place or a counted skip; never an
exception trace, never a hang, never a kept row that differs from its line.

Surfaces: the lmms-engine dataset's reader (`lmms_engine.sources.load_checked`: row files, trace grammar, media
present), the verl converter's reader (`verl.convert.read_samples`) and `longvt eval check-data`. The last test
shows the suite has teeth: with the validator bypassed, the same property fails.
"""

from __future__ import annotations

import contextlib
import copy
import json
import signal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from longvt_plugins.core.rowfile import CheckedRows, RowFileError
from longvt_plugins.testing.sft_rows import tool_trace_row

CASE_LIMIT_S = 20  # a bound on one case, so a hang fails the test instead of stalling CI (not a timing claim)
FUZZ = settings(
    max_examples=150,
    deadline=None,
    derandomize=True,  # seeded: CI sees the same cases every run
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
# Values of every JSON type, for type swaps.
SWAPS = st.sampled_from([None, 0, -3.5, True, "", "text", [], [1, "a"], {}, {"k": "v"}])


@contextlib.contextmanager
def bounded(seconds: int = CASE_LIMIT_S):
    def fail(*_):
        raise AssertionError(f"a case ran past {seconds} s: a hang")

    old = signal.signal(signal.SIGALRM, fail)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def _write(tmp_path, name: str, lines: list[str]):
    path = tmp_path / name
    path.write_text("".join(line + "\n" for line in lines))
    return path


# ------------------------------------------------------------------------------------------------------ SFT
def _sft_rows(video: str) -> list[dict]:
    rows = [
        tool_trace_row(video, row_id="r0", crops=[(15.0, 25.0)], messages_as_json=False),
        tool_trace_row(video, row_id="r1", crops=[(10.0, 20.0), (12.0, 16.0)], messages_as_json=False),
    ]
    return rows


def _break_grammar(row: dict, how: str) -> dict:
    """A change that makes the row no valid trace, whatever else it holds."""
    row = copy.deepcopy(row)
    msgs = row["messages"]
    first_tool = next(i for i, m in enumerate(msgs) if m["role"] == "tool")
    if how == "drop_response":  # a call without a tool response
        del msgs[first_tool]
    elif how == "response_without_call":
        msgs.insert(2, {"role": "tool", "name": "crop_video", "replay": True})
    elif how == "call_ends_row":
        del msgs[first_tool:]
    elif how == "empty_tool_turn":
        msgs[first_tool] = {"role": "tool", "name": "crop_video", "content": []}
    elif how == "tool_turn_without_frames":
        msgs[first_tool] = {
            "role": "tool",
            "name": "crop_video",
            "content": "The tool executed successfully.",
        }
    elif how == "unknown_role":
        msgs[1]["role"] = "narrator"
    elif how == "no_assistant":
        row["messages"] = msgs[:2]
    return row


GRAMMAR_BREAKS = [
    "drop_response",
    "response_without_call",
    "call_ends_row",
    "empty_tool_turn",
    "tool_turn_without_frames",
    "unknown_role",
    "no_assistant",
]


def _paths(value, prefix=()):
    """Every (path, value) inside a JSON value, for type swaps anywhere in a row."""
    yield prefix
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _paths(v, (*prefix, i))


def _set(value, path, new):
    if not path:
        return new
    value = copy.deepcopy(value)
    target = value
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = new
    return value


@st.composite
def mutated_sft_file(draw, video: str):
    """(lines, {line number: "bad" | "maybe"}) - one or two mutated rows among good ones."""
    rows = _sft_rows(video)
    lines = [json.dumps(r) for r in rows]
    kinds = {}
    for _ in range(draw(st.integers(1, 2))):
        n = draw(st.integers(0, len(lines) - 1))
        kind = draw(st.sampled_from(["truncate", "swap", "grammar"]))
        row = json.loads(lines[n]) if kinds.get(n + 1) is None else None
        if row is None:
            continue  # one mutation per line keeps the oracle simple
        if kind == "truncate":
            lines[n] = lines[n][: draw(st.integers(1, len(lines[n]) - 1))]
            kinds[n + 1] = "bad"
        elif kind == "grammar":
            lines[n] = json.dumps(_break_grammar(row, draw(st.sampled_from(GRAMMAR_BREAKS))))
            kinds[n + 1] = "bad"
        else:
            path = draw(st.sampled_from(list(_paths(row))))
            lines[n] = json.dumps(_set(row, path, draw(SWAPS)))
            kinds[n + 1] = "bad" if path == () or path == ("messages",) else "maybe"
    return lines, kinds


def check_sft_property(tmp_path, lines, kinds, load, originals=None):
    path = _write(tmp_path, "rows.jsonl", lines)
    with bounded():
        try:
            got = load(path)
        except RowFileError as e:  # a clear error naming the file (raise mode, or a file with no rows)
            assert str(e).startswith(str(path))
            return
    kept = {int(where.rsplit(":", 1)[1]): row for where, row in got.rows}
    skipped = {int(s.where.rsplit(":", 1)[1]): s for s in got.skipped}
    assert len(kept) + len(skipped) == len(lines)  # every line counted once
    for n, why in kinds.items():
        if why == "bad":
            assert n in skipped, f"line {n} is broken but was kept: {lines[n - 1][:200]}"
    for n, row in kept.items():
        want = json.loads(lines[n - 1]) if originals is None else originals[n - 1]
        assert row == want  # a kept row is its line, nothing coerced
        assert n not in kinds or kinds[n] == "maybe"
    for s in skipped.values():
        assert s.reason and s.where.startswith(str(path))


@pytest.fixture(scope="module")
def video(sample_video):
    return sample_video.path


@FUZZ
@given(data=st.data())
def test_sft_rows_fuzz_the_lmms_engine_reader(data, video, tmp_path):
    from longvt_plugins.lmms_engine.sources import load_checked

    def load(path):
        got = load_checked([(str(path), None, "jsonl")], "skip")
        # What the dataset hands on: messages / tools as JSON text; decoded, they must be the line's own.
        rows = [{**r, "messages": _decoded(r["messages"]), "tools": _decoded(r["tools"])} for r in got.rows]
        return CheckedRows(list(zip(got.places, rows, strict=True)), got.skipped)

    lines, kinds = data.draw(mutated_sft_file(video))
    originals = [_as_stored(line) for line in lines]
    check_sft_property(tmp_path, lines, kinds, load, originals)


def _decoded(value):
    return json.loads(value) if isinstance(value, str) else value


def _as_stored(line: str):
    """The fields of a line the dataset keeps, decoded (None when the line is no object)."""
    try:
        row = json.loads(line)
    except json.JSONDecodeError:
        return None
    if not isinstance(row, dict):
        return None
    rid = row.get("id")
    video = row.get("video")
    return {
        "id": None if rid in (None, "") else str(rid),
        "messages": _decoded(row.get("messages")),
        "tools": _decoded(row.get("tools")),
        "video": video if isinstance(video, str) else None,
    }


@FUZZ
@given(data=st.data())
def test_sft_rows_fuzz_raise_mode_names_the_first_bad_line(data, video, tmp_path):
    from longvt_plugins.lmms_engine.sources import load_checked

    lines, kinds = data.draw(mutated_sft_file(video))
    path = _write(tmp_path, "rows.jsonl", lines)
    bad = sorted(n for n, why in kinds.items() if why == "bad")
    with bounded():
        try:
            load_checked([(str(path), None, "jsonl")], "raise")
        except RowFileError as e:
            n = int(e.where.rsplit(":", 1)[1])
            assert not bad or n <= bad[0]  # never a later line than the first known-bad one
            return
    assert not bad


def test_the_fuzz_fails_when_the_validator_is_bypassed(video, tmp_path):
    """The property above, with every row accepted as read: the grammar breaks come through and it must fail."""
    from longvt_plugins.core.rowfile import check_rows

    @settings(max_examples=30, deadline=None, derandomize=True)
    @given(data=st.data())
    def bypassed(data):
        lines, kinds = data.draw(mutated_sft_file(video))
        check_sft_property(tmp_path, lines, kinds, lambda p: check_rows(p, None, on_bad="skip"))

    with pytest.raises(AssertionError, match="is broken but was kept"):
        bypassed()


# ------------------------------------------------------------------------------------------------------- RL
QA = {
    "id": "qa-1",
    "question": "Which colour flashes?",
    "answer": "red",
    "options": ["red", "blue", "green", "white"],
    "video_path": "/videos/v.mp4",
    "segment": [10.0, 20.0],
}


@FUZZ
@given(
    field=st.sampled_from(["question", "answer", "options", "segment", "video_path", "id"]),
    value=SWAPS,
    cut=st.one_of(st.none(), st.integers(1, len(json.dumps(QA)) - 1)),
)
def test_rl_records_fuzz_the_verl_converter_reader(field, value, cut, tmp_path):
    from longvt_plugins.verl.convert import read_samples

    mutated = dict(QA, **{field: value})
    line = json.dumps(mutated)
    line = line if cut is None else line[: min(cut, len(line) - 1)]
    path = _write(tmp_path, "qa.jsonl", [json.dumps(QA), line])
    with bounded():
        samples = list(read_samples(path, "auto", on_bad="skip"))
        with pytest.raises(RowFileError) if _rl_bad(mutated, cut) else contextlib.nullcontext() as err:
            list(read_samples(path, "auto", on_bad="raise"))
    if err is not None:
        assert err.value.where == f"{path}:2"
    assert len(samples) == 2 and samples[0].problem is None
    s = samples[1]
    if s.problem is not None:
        assert s.problem.startswith(f"{path}:2") or cut is None
        return
    assert cut is None
    # Kept: the sample carries exactly what the row holds (nothing str()-ed into a different value).
    assert s.question == (mutated["question"] or "")
    assert s.options == [str(o) for o in (mutated["options"] or [])]
    assert isinstance(mutated["options"], list | type(None))


def _rl_bad(row: dict, cut: int | None) -> bool:
    from longvt_plugins.core.row_kinds import rl_row_problems

    return cut is not None or bool(rl_row_problems(row))


# ----------------------------------------------------------------------------------------------------- eval
@pytest.fixture(scope="module")
def videomme(tmp_path_factory):
    from longvt_plugins.testing.sample_benchmarks import write_sample_benchmarks

    sample = write_sample_benchmarks(tmp_path_factory.mktemp("fuzz-eval"), duration=6.0)
    return sample, sample.data["longvtp_videomme"].read_text().splitlines()


@FUZZ
@given(
    field=st.sampled_from(["question", "options", "answer", "videoID"]),
    value=SWAPS,
    cut=st.one_of(st.none(), st.integers(1, 40)),
)
def test_eval_rows_fuzz_check_data(field, value, cut, videomme, tmp_path, monkeypatch):
    from longvt_plugins.lmms_eval.datacheck import check_benchmark

    sample, lines = videomme
    monkeypatch.setenv("LONGVT_EVAL_VIDEO_ROOT", str(sample.video_root))
    row = dict(json.loads(lines[0]), **{field: value})
    line = json.dumps(row) if cut is None else json.dumps(row)[:cut]
    path = _write(tmp_path, "videomme.jsonl", [line, *lines[1:]])
    with bounded():
        report = check_benchmark("videomme", path)
    wrong_type = value is not None and not (
        isinstance(value, str) if field != "options" else isinstance(value, list) and all(
            isinstance(o, str | int | float) and not isinstance(o, bool) for o in value
        )
    )  # fmt: skip
    if cut is not None or wrong_type:
        assert not report.ok and any(e.startswith((f"{path}:1", "row 1:")) for e in report.errors)
