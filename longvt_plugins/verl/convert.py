"""QA samples -> verl `RLHFDataset` parquet rows for LongVT's agentic RL.

Inputs: LongVT's released RL parquet (verl-0.4 rows whose prompt carries the video path as text) and our pipeline's
QA records (JSONL / parquet / a list of dicts from Python). Both become `RLSample`s, are checked, and are written as

    data_source        str                 routes the reward (`longvt`, `hacs`, ...)
    prompt             [{role, content}]   system + user "<video>" + duration/skim text + question + instructions
    videos             [{video, fps, min_frames, max_frames, min_pixels, max_pixels}]   (a FrameBudget)
       - or, with initial_video="frames" -
    prompt             [{role, content}]   system + user ("<t s><image>" per skim frame) + the same text
    images             [{bytes, min_pixels, max_pixels}]   the skim frames as PNG, min = max = the frame's own pixels
    ability            str
    reward_model       {style: "model", ground_truth}
    extra_info         {index, split, qa_id, question, answer, video_path, duration, video_segment,
                        evidence_box: {bbox, time} | null,
                        need_tools_kwargs, tools_kwargs: {crop_video: {create_kwargs: {video_path}},
                                                          zoom_frame: {create_kwargs: {video_path}},
                                                          search_subtitles: {create_kwargs: {subtitle_path}}}}

Every row names its resources for each registry tool (docs/tools.md), so one file serves `tool_config.yaml`
(crop_video alone) and `tool_config_tools.yaml` (all three): verl hands each tool only its own entry. A source row's
`subtitle_path` (SRT/WebVTT, resolved like the video) must parse, else the sample is rejected; without one,
`subtitle_path` is null and search_subtitles answers "this video has no subtitles". A source row's `evidence_box`
(zoom_frame's 0-1000 box, any form `core.rewards.evidence` reads) is written as `{bbox: [x1, y1, x2, y2], time:
[start, end] | null}` - a point in time already widened to the reward's span - so the `zoom_iou` term sees exactly
what the source said; an unreadable box, or one whose time lies outside the video, rejects the sample.

The schema is explicit (`ROW_SCHEMA`): Arrow would otherwise union struct keys across rows and hand `None` for
keys a row lacks (a `max_frames: None` reaching qwen_vl_utils), or type a column `null` when its first rows are
empty. A sample that cannot be used (missing or unreadable video, empty question or answer, a segment outside the
video) is never written: it goes to `<out>.rejected.jsonl` with its reason, and the report counts it.

The initial video (`initial_video`): `video` hands verl a native video part that qwen_vl_utils samples at rollout
time (upstream's layout, the default). `frames` decodes the skim here with `core.video.sample_video` - the call the
agent makes for its skim - and writes each frame as an image after its "<t s>" label (`core.crop_tool.
timestamped_parts`), which is how SFT rows (`as_frames`) and evaluation show the skim; a policy trained on those
sees the same first turn in RL. Each image's `min_pixels` = `max_pixels` = its own size, so qwen_vl_utils'
`fetch_image` (which would otherwise scale a small frame up to its 4-token minimum) hands the processor the very
pixels the agent would. The two modes write different columns (`videos` or `images`), each file with its own
explicit schema.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from longvt_plugins.core.budget import SKIM, FrameBudget
from longvt_plugins.core.crop_tool import CROP_VIDEO_NAME, skim_text, timestamped_parts
from longvt_plugins.core.prompts import load_prompt
from longvt_plugins.core.rewards.evidence import parse_evidence_box
from longvt_plugins.core.row_kinds import is_longvt_rl_row, rl_row_problems
from longvt_plugins.core.rowfile import RowFileError, read_records
from longvt_plugins.core.style import check_style
from longvt_plugins.core.transcript import TranscriptError, load_index
from longvt_plugins.core.video import VideoError, VideoInfo, plan_window, probe, sample_video

# The `videos` column carries these FrameBudget fields to verl's qwen_vl_utils (the processor brings its own patch).
VIDEO_FIELDS = ("fps", "min_frames", "max_frames", "min_pixels", "max_pixels")
# A ground-truth segment may overshoot the probed duration by container rounding; more than this is an error.
SEGMENT_SLACK_S = 1.0
# How the initial prompt shows the video: a native video part (upstream) or the agent's timestamped skim frames.
INITIAL_VIDEO_MODES = ("video", "frames")
# The registry's other tools (core/tools/): names only, so the converter does not load their schemas.
ZOOM_FRAME, SEARCH_SUBTITLES = "zoom_frame", "search_subtitles"


@dataclass
class RLSample:
    """One question about one video, whatever file it came from."""

    question: str
    answer: str
    video_path: str
    segment: list[float] | None = None  # ground-truth [start, end] seconds, for the IoU reward
    data_source: str = "longvt"
    qa_id: str = ""
    options: list[str] = field(default_factory=list)
    problem: str | None = None  # why a reader could not use the record; such samples are rejected
    subtitle_path: str | None = None  # the video's own SRT/WebVTT file, for search_subtitles
    evidence_box: Any = None  # as the source wrote it; checked and normalised by `check_sample` / `build_row`


@dataclass
class ConvertReport:
    written: int = 0
    rejected: list[dict[str, Any]] = field(default_factory=list)  # {"reason", "sample"}
    out_path: str = ""
    rejected_path: str | None = None

    @property
    def ok(self) -> bool:
        return not self.rejected


# ----------------------------------------------------------------------------------------------------- schema
def row_schema(initial_video: str = "video"):
    """The Arrow schema of one file: `videos` or `images` (never both, never a column of nulls)."""
    import pyarrow as pa

    _check_initial_video(initial_video)

    message = pa.struct([("role", pa.string()), ("content", pa.string())])
    video = pa.struct(
        [
            ("video", pa.string()),
            ("fps", pa.float64()),
            ("min_frames", pa.int64()),
            ("max_frames", pa.int64()),
            ("min_pixels", pa.int64()),
            ("max_pixels", pa.int64()),
        ]
    )
    create_kwargs = pa.struct([("video_path", pa.string())])
    subtitle_kwargs = pa.struct([("subtitle_path", pa.string())])
    tools_kwargs = pa.struct(
        [
            (CROP_VIDEO_NAME, pa.struct([("create_kwargs", create_kwargs)])),
            (ZOOM_FRAME, pa.struct([("create_kwargs", create_kwargs)])),
            (SEARCH_SUBTITLES, pa.struct([("create_kwargs", subtitle_kwargs)])),
        ]
    )
    evidence_box = pa.struct([("bbox", pa.list_(pa.float64())), ("time", pa.list_(pa.float64()))])
    extra_info = pa.struct(
        [
            ("index", pa.int64()),
            ("split", pa.string()),
            ("qa_id", pa.string()),
            ("question", pa.string()),
            ("answer", pa.string()),
            ("options", pa.list_(pa.string())),
            ("video_path", pa.string()),
            ("duration", pa.float64()),
            ("video_segment", pa.list_(pa.float64())),
            ("evidence_box", evidence_box),
            ("need_tools_kwargs", pa.bool_()),
            ("tools_kwargs", tools_kwargs),
        ]
    )
    image = pa.struct([("bytes", pa.binary()), ("min_pixels", pa.int64()), ("max_pixels", pa.int64())])
    media = ("videos", pa.list_(video)) if initial_video == "video" else ("images", pa.list_(image))
    return pa.schema(
        [
            ("data_source", pa.string()),
            ("prompt", pa.list_(message)),
            media,
            ("ability", pa.string()),
            ("reward_model", pa.struct([("style", pa.string()), ("ground_truth", pa.string())])),
            ("extra_info", extra_info),
        ]
    )


def _check_initial_video(mode: str) -> None:
    if mode not in INITIAL_VIDEO_MODES:
        raise ValueError(f"initial_video must be one of {', '.join(INITIAL_VIDEO_MODES)}, got {mode!r}")


# ----------------------------------------------------------------------------------------------------- readers
def _strip_file_url(path: str) -> str:
    return path[len("file://") :] if path.startswith("file://") else path


def _as_segment(value: Any) -> list[float] | None:
    if value is None:
        return None
    if isinstance(value, dict):
        value = [value.get("start", value.get("start_time")), value.get("end", value.get("end_time"))]
    if isinstance(value, str):
        value = json.loads(value)
    values = list(value)
    if not values:
        return None
    if len(values) != 2:
        raise ValueError(f"a segment is [start, end], got {value!r}")
    return [float(values[0]), float(values[1])]


def _segment_or_problem(value: Any) -> tuple[list[float] | None, str | None]:
    try:
        return _as_segment(value), None
    except (TypeError, ValueError) as exc:
        return None, f"unreadable segment {value!r}: {exc}"


def sample_from_record(record: dict[str, Any], index: int = 0) -> RLSample:
    """One of our pipeline's QA records (or any dict with question / answer / video) as an RLSample."""
    video = record.get("video_path") or record.get("video") or record.get("path") or ""
    if isinstance(video, dict):  # a VideoManifest-like or {"path": ...} entry
        video = video.get("path") or video.get("video") or ""
    segment = record.get("segment", record.get("video_segment", record.get("span", record.get("time_span"))))
    if segment is None and record.get("start_time") is not None and record.get("end_time") is not None:
        segment = [record["start_time"], record["end_time"]]
    answer = record.get("answer", record.get("ground_truth", ""))
    segment, problem = _segment_or_problem(segment)
    subtitles = record.get("subtitle_path") or record.get("subtitles")
    return RLSample(
        question=str(record.get("question") or ""),
        answer="" if answer is None else str(answer),
        video_path=_strip_file_url(str(video)),
        segment=segment,
        problem=problem,
        data_source=str(record.get("data_source") or "longvt"),
        qa_id=str(record.get("qa_id") or record.get("id") or index),
        options=[str(o) for o in (record.get("options") or [])],
        subtitle_path=_strip_file_url(str(subtitles)) if subtitles else None,
        evidence_box=record.get("evidence_box"),
    )


def sample_from_longvt_row(row: dict[str, Any], index: int = 0) -> RLSample:
    """A row of LongVT's released RL parquet (verl 0.4 layout; the video path is also in the prompt text)."""
    extra = row.get("extra_info") or {}
    videos = row.get("videos") or []
    video = videos[0] if videos else {}
    if isinstance(video, dict):
        video = video.get("video") or video.get("path") or ""
    question = extra.get("question")
    if not question:  # older rows: the question is the user text before upstream's instruction suffix
        user = next((m["content"] for m in row.get("prompt") or [] if m.get("role") == "user"), "")
        question = user.replace("<video>", "").split(" Think first")[0].split("The Video path")[0].strip()
    reward_model = row.get("reward_model") or {}
    segment, problem = _segment_or_problem(extra.get("video_segment"))
    return RLSample(
        question=str(question or ""),
        answer=str(reward_model.get("ground_truth") or extra.get("answer") or ""),
        video_path=_strip_file_url(str(video)),
        segment=segment,
        problem=problem,
        data_source=str(row.get("data_source") or "longvt"),
        qa_id=str(extra.get("qa_id") or extra.get("index", index)),
        subtitle_path=_strip_file_url(str(extra["subtitle_path"])) if extra.get("subtitle_path") else None,
        evidence_box=extra.get("evidence_box"),
    )


def read_samples(path: str | Path, source: str = "auto", on_bad: str = "raise") -> Iterator[RLSample]:
    """Samples from a .jsonl / .json / .parquet file. source: `qa` (our pipeline), `longvt` (released RL rows), or
    `auto` (LongVT rows are recognised by their `prompt` + `reward_model` columns).

    A line that is not a JSON object, or a field of the wrong type (core.row_fields), raises RowFileError naming
    the file and line (on_bad="raise"), or becomes a rejected sample with that place and reason (on_bad="skip")."""
    for i, record in enumerate(read_records(path)):
        problem = record.problem
        longvt = False
        if problem is None:
            row = record.row
            longvt = source == "longvt" or (source == "auto" and is_longvt_rl_row(row))
            problem = "; ".join(rl_row_problems(row, longvt)) or None
        if problem is not None:
            if on_bad == "raise":
                raise RowFileError(record.where, problem)
            yield RLSample("", "", "", problem=f"{record.where}: {problem}", qa_id=str(i))
            continue
        yield sample_from_longvt_row(row, i) if longvt else sample_from_record(row, i)


# ------------------------------------------------------------------------------------------------------ rows
class SampleRejected(ValueError):
    pass


def _remap(path: str, video_root: Path | None, path_map: dict[str, str]) -> str:
    for old, new in path_map.items():
        if path.startswith(old):
            path = new + path[len(old) :]
            break
    p = Path(path)
    if not p.is_absolute() and video_root is not None:
        p = video_root / p
    return str(p.absolute())


def _question_text(sample: RLSample) -> str:
    if not sample.options:
        return sample.question.strip()
    return sample.question.strip() + "\n" + "\n".join(sample.options)


def _png(image) -> bytes:
    import io

    buf = io.BytesIO()
    image.save(buf, format="PNG")  # lossless: the rollout sees the decoded pixels, not a re-compression
    return buf.getvalue()


def _skim_frames(info: VideoInfo, video: FrameBudget) -> tuple[str, list[dict[str, Any]], list[float]]:
    """The skim as the agent shows it: "<t s><image>" per frame (prompt text), the `images` entries, the times."""
    got = sample_video(info.path, video)
    text, images = "", []
    for part in timestamped_parts(got.to_pil(), got.timestamps):
        if part["type"] == "text":
            text += part["text"]
            continue
        w, h = part["image"].size
        images.append({"bytes": _png(part["image"]), "min_pixels": w * h, "max_pixels": w * h})
        text += "<image>"
    return text, images, [float(t) for t in got.timestamps]


def build_row(
    sample: RLSample,
    info: VideoInfo,
    *,
    index: int,
    split: str,
    video: FrameBudget,
    style: str = "tool",
    initial_video: str = "video",
) -> dict[str, Any]:
    """The parquet row for one checked sample whose video has been probed (`info`)."""
    _check_initial_video(initial_video)
    if initial_video == "frames":
        head, images, timestamps = _skim_frames(info, video)
        media: dict[str, Any] = {"images": images}
    else:
        frames, _ = plan_window(
            info, None, None, fps=video.fps, min_frames=video.min_frames, max_frames=video.max_frames
        )
        timestamps = [i / info.fps for i in frames]
        head = "<video>"
        media = {"videos": [{"video": info.path, **{k: getattr(video, k) for k in VIDEO_FIELDS}}]}
    question = _question_text(sample)
    evidence = parse_evidence_box(sample.evidence_box)  # checked by check_sample
    user = f"{head}{skim_text(info, timestamps)}\n{question}\n\n{load_prompt(f'agent_{style}').strip()}"
    segment = sample.segment
    return {
        "data_source": sample.data_source,
        "prompt": [
            {"role": "system", "content": load_prompt("agent_system").strip()},
            {"role": "user", "content": user},
        ],
        **media,
        "ability": "video_qa",
        "reward_model": {"style": "model", "ground_truth": sample.answer.strip()},
        "extra_info": {
            "index": index,
            "split": split,
            "qa_id": sample.qa_id or str(index),
            "question": question,
            "answer": sample.answer.strip(),
            "options": list(sample.options),
            "video_path": info.path,
            "duration": float(info.duration),
            "video_segment": None
            if segment is None
            else [float(segment[0]), min(float(segment[1]), info.duration)],
            "evidence_box": None
            if evidence is None
            else {"bbox": list(evidence[1]), "time": None if evidence[0] is None else list(evidence[0])},
            "need_tools_kwargs": style == "tool",
            "tools_kwargs": {
                CROP_VIDEO_NAME: {"create_kwargs": {"video_path": info.path}},
                ZOOM_FRAME: {"create_kwargs": {"video_path": info.path}},
                SEARCH_SUBTITLES: {"create_kwargs": {"subtitle_path": sample.subtitle_path}},
            },
        },
    }


def check_sample(sample: RLSample, info: VideoInfo) -> None:
    if sample.problem:
        raise SampleRejected(sample.problem)
    if not sample.question.strip():
        raise SampleRejected("empty question")
    if not sample.answer.strip():
        raise SampleRejected("empty answer (reward_model.ground_truth)")
    if sample.segment is not None:
        start, end = sample.segment
        if not (math.isfinite(start) and math.isfinite(end)) or start < 0 or end <= start:
            raise SampleRejected(f"segment {sample.segment} is not 0 <= start < end")
        if start >= info.duration or end > info.duration + SEGMENT_SLACK_S:
            raise SampleRejected(f"segment {sample.segment} lies outside the {info.duration:.2f}s video")
    if sample.evidence_box is not None:
        evidence = parse_evidence_box(sample.evidence_box)
        if evidence is None:
            raise SampleRejected(
                f"unreadable evidence_box {sample.evidence_box!r}: expected "
                '{"bbox": [x1, y1, x2, y2], "time": t | [start, end]} in 0-1000 coordinates, x1 < x2, y1 < y2'
            )
        if evidence[0] is not None and evidence[0][0] >= info.duration:
            raise SampleRejected(
                f"evidence_box time {list(evidence[0])} lies outside the {info.duration:.2f}s video"
            )


def check_subtitles(path: str) -> None:
    """A subtitle file the search tool can read: it exists and parses (the tool's own index, built once)."""
    try:
        load_index(path)
    except (OSError, TranscriptError) as exc:
        raise SampleRejected(f"subtitle file unusable: {path}: {exc}") from None


def convert(
    samples: Iterable[RLSample],
    out_path: str | Path,
    *,
    video: FrameBudget = SKIM,
    split: str = "train",
    style: str = "tool",
    video_root: str | Path | None = None,
    path_map: dict[str, str] | None = None,
    initial_video: str = "video",
) -> ConvertReport:
    """Write the usable samples as a verl RL parquet; the others (with reasons) next to it. Never drops silently.

    `initial_video`: `video` (a native video part, the default) or `frames` (the skim decoded here, as the agent
    shows it: timestamped images; `video` is then the skim budget, patch_size included)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    check_style(style)
    _check_initial_video(initial_video)
    if initial_video == "video" and video.total_pixels is not None:
        raise ValueError("the verl videos column has no total_pixels; leave FrameBudget.total_pixels None")
    video.validate()
    root = Path(video_root) if video_root else None
    out_path = Path(out_path)
    report = ConvertReport(out_path=str(out_path))
    rows: list[dict[str, Any]] = []
    probed: dict[str, VideoInfo | VideoError] = {}
    for sample in samples:
        try:
            if sample.problem:  # the reader's reason (FILE:LINE ...) says most
                raise SampleRejected(sample.problem)
            if not sample.video_path:
                raise SampleRejected("no video path")
            sample.video_path = _remap(sample.video_path, root, path_map or {})
            if sample.video_path not in probed:
                try:
                    probed[sample.video_path] = probe(sample.video_path)
                except VideoError as exc:
                    probed[sample.video_path] = exc
            info = probed[sample.video_path]
            if isinstance(info, VideoError):
                raise SampleRejected(f"video unusable: {info}")
            check_sample(sample, info)
            if sample.subtitle_path:
                sample.subtitle_path = _remap(sample.subtitle_path, root, path_map or {})
                check_subtitles(sample.subtitle_path)
            rows.append(build_row(sample, info, index=len(rows), split=split, video=video, style=style,
                                  initial_video=initial_video))  # fmt: skip
        except (SampleRejected, VideoError, ValueError) as exc:
            report.rejected.append({"reason": str(exc), "sample": asdict(sample)})
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_name(out_path.name + ".tmp")
    pq.write_table(pa.Table.from_pylist(rows, schema=row_schema(initial_video)), tmp)
    tmp.replace(out_path)  # a crashed run never leaves a half-written parquet under the real name
    report.written = len(rows)
    rejected_path = out_path.with_name(out_path.name + ".rejected.jsonl")
    if report.rejected:
        rejected_path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in report.rejected))
        report.rejected_path = str(rejected_path)
    elif rejected_path.exists():
        rejected_path.unlink()  # a stale list from an earlier run would be misleading
    return report
