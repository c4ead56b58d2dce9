"""Probe a video and sample a time window of it under a frame / pixel budget, with exact timestamps.

The frame count, the frame range and the resize follow `qwen_vl_utils` (the same functions the model's training data
went through), so a crop returns the frames the model would have seen for that `video_start` / `video_end`.
What we add: decoding only the frames needed, scaling them to the budget's size inside the decoder (swscale, before the
RGB conversion: no full-resolution RGB frame is ever built), a pool of open readers (a second crop of the same video does not
re-open and re-index it), thread safety, typed errors for bad files, and a timestamp for every frame.

Backends: decord (default), torchcodec and PyAV. `LONGVT_VIDEO_BACKEND` or `backend=` overrides the choice.
`LONGVT_DECODER_RESIZE=0` decodes at full resolution and resizes with PIL's bicubic instead (closer to fetch_video's
pixels at hard edges, ~1.3x slower per crop; same sizes, frames and timestamps either way).
"""

from __future__ import annotations

import atexit
import math
import os
import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from longvt_plugins.core.budget import FrameBudget
from longvt_plugins.core.decoders import (
    BACKEND_ORDER,
    Reader,
    backend_problems,
    first_frame_state,
    open_reader,
)
from longvt_plugins.core.video_errors import (
    BackendUnavailable,
    CorruptVideo,
    EmptyVideoFile,
    InvalidBudget,
    InvalidWindow,
    NoDecodableFrames,
    NotAVideo,
    VideoError,
    VideoNotFound,
)

__all__ = [
    "VideoInfo",
    "SampledFrames",
    "VideoError",
    "VideoNotFound",
    "EmptyVideoFile",
    "NotAVideo",
    "CorruptVideo",
    "NoDecodableFrames",
    "InvalidWindow",
    "InvalidBudget",
    "BackendUnavailable",
    "probe",
    "sample_window",
    "sample_video",
    "frame_at",
    "plan_window",
    "available_backends",
    "default_backend",
    "clear_reader_cache",
]


# ------------------------------------------------------------------------------------------------------ data types
@dataclass(frozen=True)
class VideoInfo:
    path: str
    duration: float  # num_frames / fps: the same duration qwen_vl_utils clamps windows to
    fps: float
    num_frames: int
    width: int
    height: int
    codec: str


@dataclass
class SampledFrames:
    frames: list[np.ndarray]  # H x W x 3 uint8 RGB, already resized
    timestamps: list[float]  # seconds: the decoder's presentation time of each frame
    indices: list[int]  # frame indices in the source video
    info: VideoInfo
    window: tuple[float, float]  # the window that was sampled, after clamping to the video
    sample_fps: float  # qwen_vl_utils' sample_fps (frames / window seconds), what the processor is given
    backend: str
    size: tuple[int, int] = field(default=(0, 0))  # (height, width) after the resize

    def to_pil(self) -> list[Image.Image]:
        return [Image.fromarray(f) for f in self.frames]

    def __len__(self) -> int:
        return len(self.frames)


# ---------------------------------------------------------------------------------------------------- file checks
# Leading bytes of containers that hold video. A file that starts like one but cannot be opened is damaged
# (most often truncated), which is a different message from "this is not a video at all".
_SIGNATURES: list[tuple[int, bytes, str]] = [
    (4, b"ftyp", "MP4/MOV"),
    (4, b"moov", "MOV"),
    (4, b"mdat", "MOV"),
    (4, b"free", "MOV"),
    (4, b"wide", "MOV"),
    (0, b"\x1a\x45\xdf\xa3", "Matroska/WebM"),
    (0, b"FLV", "FLV"),
    (0, b"OggS", "Ogg"),
    (0, b"\x00\x00\x01\xba", "MPEG-PS"),
    (0, b"\x00\x00\x01\xb3", "MPEG video"),
    (0, b"\x30\x26\xb2\x75", "ASF/WMV"),
]


def _sniff_container(head: bytes) -> str | None:
    for offset, magic, name in _SIGNATURES:
        if head[offset : offset + len(magic)] == magic:
            return name
    if head[:4] == b"RIFF" and head[8:12] in (b"AVI ", b"AVIX"):
        return "AVI"
    if len(head) > 188 and head[0] == 0x47 and head[188] == 0x47:
        return "MPEG-TS"
    return None


def _checked_path(path: str | os.PathLike) -> tuple[Path, os.stat_result]:
    if isinstance(path, str) and path.startswith("file://"):
        path = path[len("file://") :]
    p = Path(path)
    try:
        st = p.stat()
    except FileNotFoundError:
        raise VideoNotFound(f"video file not found: {p}", p) from None
    except OSError as e:
        raise VideoNotFound(f"cannot access video file {p}: {e.strerror or e}", p) from None
    if p.is_dir():
        raise NotAVideo(f"{p} is a directory, not a video file", p)
    if st.st_size == 0:
        raise EmptyVideoFile(f"video file is empty (0 bytes): {p}", p)
    return p, st


def _classify_open_failure(p: Path, err: Exception, backend: str) -> VideoError:
    """Tell "not a video" from "a damaged video" from "a video whose frames cannot be decoded"."""
    try:
        with open(p, "rb") as fh:
            head = fh.read(512)
    except OSError as e:
        return VideoNotFound(f"cannot read video file {p}: {e}", p)
    container = _sniff_container(head)
    reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    if not container:
        return NotAVideo(f"{p} is not a video file the decoder understands: {reason}", p)
    state = first_frame_state(str(p))
    if state == "no_frames":
        return NoDecodableFrames(
            f"{p} is a {container} file whose video frames cannot be decoded: {reason}", p
        )
    hint = (
        " (PyAV can read its first frames: try backend='pyav')" if state == "ok" and backend != "pyav" else ""
    )
    return CorruptVideo(
        f"{p} looks like a {container} file but {backend} cannot open it (truncated or damaged?){hint}: {reason}",
        p,
    )


# -------------------------------------------------------------------------------------------------------- backends
_availability_lock = threading.Lock()
_availability: dict[str, str | None] | None = None


def available_backends() -> dict[str, str | None]:
    """name -> None if the backend loads and works here, else the reason it does not (checked once per process)."""
    global _availability
    with _availability_lock:
        if _availability is None:
            _availability = backend_problems()
        return dict(_availability)


def default_backend() -> str:
    """LONGVT_VIDEO_BACKEND if set, else the first working one of decord, torchcodec, pyav."""
    forced = os.environ.get("LONGVT_VIDEO_BACKEND")
    if forced:
        return _require_backend(forced)
    problems = available_backends()
    for name in BACKEND_ORDER:
        if problems.get(name) is None:
            return name
    raise BackendUnavailable(
        "no video decoder works here: " + "; ".join(f"{k}: {v}" for k, v in problems.items() if v)
    )


def _require_backend(name: str) -> str:
    problems = available_backends()
    if name not in problems:
        raise BackendUnavailable(f"unknown video backend {name!r}; known: {', '.join(BACKEND_ORDER)}")
    if problems[name] is not None:
        raise BackendUnavailable(f"video backend {name!r} is not usable here: {problems[name]}")
    return name


# ----------------------------------------------------------------------------------------------------- reader pool
class _ReaderPool:
    """Open readers, keyed by (backend, real path, mtime, file size, output size), least recently used closed first.
    A reader scales to the output size it was opened with, so readers of one video at different sizes never mix.

    A reader is checked out by one thread at a time (decoders keep seek state), so concurrent crops of one video
    (GRPO rolls out the same prompt n times) each get their own reader instead of queueing on one.
    """

    def __init__(self, capacity: int):
        self.capacity = capacity
        self._idle: OrderedDict[tuple, list[Reader]] = OrderedDict()
        self._lock = threading.Lock()
        self._closed = False  # set at interpreter exit: readers given back after that are closed at once

    @contextmanager
    def reader(self, key: tuple, open_fn) -> Iterator[Reader]:
        with self._lock:
            idle = self._idle.get(key)
            rdr = idle.pop() if idle else None
            if idle is not None:
                self._idle.move_to_end(key)
        if rdr is None:
            rdr = open_fn()
        ok = False
        try:
            yield rdr
            ok = True
        finally:
            if ok:
                self._give_back(key, rdr)
            else:
                rdr.close()  # a reader that raised may be mid-seek in a bad state: never reuse it

    def _give_back(self, key: tuple, rdr: Reader) -> None:
        evicted = []
        with self._lock:
            if self._closed:
                evicted.append(rdr)
            else:
                self._idle.setdefault(key, []).append(rdr)
                self._idle.move_to_end(key)
            while sum(len(v) for v in self._idle.values()) > self.capacity:
                old_key, readers = next(iter(self._idle.items()))
                evicted.append(readers.pop(0))
                if not readers:
                    del self._idle[old_key]
        for r in evicted:
            r.close()

    def clear(self, *, for_good: bool = False) -> None:
        with self._lock:
            readers = [r for rs in self._idle.values() for r in rs]
            self._idle.clear()
            self._closed = self._closed or for_good
        for r in readers:
            r.close()


_POOL = _ReaderPool(int(os.environ.get("LONGVT_VIDEO_READER_CACHE", "16")))


@atexit.register
def _close_readers_at_exit() -> None:
    # A decord reader still pooled when the interpreter shuts down is destroyed after the C++ objects it uses
    # are gone: the process then aborts at exit ("pure virtual method called", rc 134, or a segfault, 139), seen
    # on 720p videos after as little as one crop. atexit runs while everything is still alive (after the
    # interpreter has joined its non-daemon threads, so no reader is checked out by a tool call); a reader
    # given back later (another exit hook cropping) is closed at once.
    _POOL.clear(for_good=True)


_INFO_LOCK = threading.Lock()
_INFO: OrderedDict[tuple, VideoInfo] = OrderedDict()


def clear_reader_cache() -> None:
    """Close every pooled reader and forget probed infos (tests; or after a file was replaced in place)."""
    _POOL.clear()
    with _INFO_LOCK:
        _INFO.clear()


def _key(backend: str, p: Path, st: os.stat_result, size: tuple[int, int] | None = None) -> tuple:
    return (backend, os.path.realpath(p), st.st_mtime_ns, st.st_size, size)


def _decoder_resize() -> bool:
    return os.environ.get("LONGVT_DECODER_RESIZE", "1").strip().lower() not in ("0", "false", "no", "off")


def _opener(backend: str, p: Path, size: tuple[int, int] | None = None):
    def open_fn() -> Reader:
        try:
            rdr = open_reader(backend, str(p), size)
        except VideoError:
            raise
        except (
            Exception
        ) as e:  # decoders raise their own zoo of errors; name the file and the kind of problem
            raise _classify_open_failure(p, e, backend) from e
        if rdr.num_frames <= 0:
            rdr.close()
            raise NoDecodableFrames(f"{p} has a video stream but no frames", p)
        if not rdr.fps or not math.isfinite(rdr.fps) or rdr.fps <= 0:
            rdr.close()
            raise CorruptVideo(f"{p} has no usable frame rate (got {rdr.fps!r})", p)
        try:  # an index full of frames that do not decode is "no decodable frames", not a crash later
            rdr.get_frames([0])
        except Exception as e:
            rdr.close()
            raise NoDecodableFrames(
                f"{p} lists {rdr.num_frames} frames but the first cannot be decoded: {e}", p
            ) from e
        return rdr

    return open_fn


def _info(backend: str, p: Path, st: os.stat_result) -> VideoInfo:
    key = _key(backend, p, st)
    with _INFO_LOCK:
        hit = _INFO.get(key)
        if hit is not None:
            _INFO.move_to_end(key)
            return hit
    with _POOL.reader(key, _opener(backend, p)) as rdr:
        info = VideoInfo(
            path=str(p),
            duration=rdr.num_frames / rdr.fps,
            fps=float(rdr.fps),
            num_frames=int(rdr.num_frames),
            width=int(rdr.width),
            height=int(rdr.height),
            codec=rdr.codec,
        )
    with _INFO_LOCK:
        _INFO[key] = info
        while len(_INFO) > 1024:
            _INFO.popitem(last=False)
    return info


# ----------------------------------------------------------------------------------------------------- public API
def probe(path: str | os.PathLike, *, backend: str | None = None) -> VideoInfo:
    """Duration, fps, frame count, size and codec, as the sampling backend sees them (so windows line up)."""
    p, st = _checked_path(path)
    name = _require_backend(backend) if backend else default_backend()
    return _info(name, p, st)


def plan_window(
    info: VideoInfo, start: float | None, end: float | None, *, fps: float, min_frames: int, max_frames: int
) -> tuple[list[int], float]:
    """Frame indices and sample fps for a window, by qwen_vl_utils' own rules (frame range, count, linspace)."""
    import torch
    from qwen_vl_utils.vision_process import calculate_video_frame_range, smart_nframes

    ele: dict = {"fps": fps, "min_frames": min_frames, "max_frames": max_frames}
    if start is not None:
        ele["video_start"] = start
    if end is not None:
        ele["video_end"] = end
    try:
        first, last, seg = calculate_video_frame_range(ele, info.num_frames, info.fps)
        nframes = smart_nframes(ele, total_frames=seg, video_fps=info.fps)
    except (ValueError, AssertionError) as e:
        raise InvalidWindow(_window_message(info, start, end, str(e)), info.path) from None
    idx = torch.linspace(first, last, nframes).round().long().tolist()
    sample_fps = nframes / max(seg, 1e-6) * info.fps
    return idx, sample_fps


def _window_message(info: VideoInfo, start, end, detail: str) -> str:
    s = 0.0 if start is None else start
    e = info.duration if end is None else end
    return (
        f"cannot sample {s:g}-{e:g}s of a {info.duration:.2f}s video at {info.fps:g} fps: the window must hold "
        f"at least 2 source frames ({2 / info.fps:.3f}s) ({detail})"
    )


def _target_size(h: int, w: int, n: int, min_pixels: int, max_pixels: int, total_pixels, patch_size: int):
    """fetch_video's pixel budget for n frames, then its smart_resize."""
    from qwen_vl_utils import vision_process as vp

    factor = patch_size * vp.SPATIAL_MERGE_SIZE
    frame_max = vp.VIDEO_MAX_TOKEN_NUM * factor * factor
    if total_pixels is None:
        total_pixels = vp.MODEL_SEQ_LEN * factor * factor * 0.9
    limit = max(min(frame_max, total_pixels / n * vp.FRAME_FACTOR), int(min_pixels * 1.05))
    max_pixels = min(max_pixels, limit)
    if max_pixels < min_pixels:
        raise InvalidBudget(f"pixel budget is empty: max_pixels {max_pixels} < min_pixels {min_pixels}")
    try:
        return vp.smart_resize(h, w, factor=factor, min_pixels=min_pixels, max_pixels=max_pixels)
    except ValueError as e:
        raise InvalidBudget(f"cannot resize a {w}x{h} video: {e}") from None


def sample_window(
    path: str | os.PathLike,
    start: float | None,
    end: float | None,
    budget: FrameBudget | None = None,
    *,
    backend: str | None = None,
    **changes: Any,
) -> SampledFrames:
    """Frames of [start, end] seconds (None = video start / end) with their timestamps.

    Same frames, count and size as `qwen_vl_utils.fetch_video({"video_start": start, "video_end": end, ...})`
    with the settings of `budget` (default `FrameBudget()`); `changes` are FrameBudget fields that replace the
    budget's (`fps=2.0`), a convenience for one-off calls. Raises a VideoError subclass on bad files / windows.
    """
    b = (budget or FrameBudget()).replace(**changes) if changes else (budget or FrameBudget())
    fps = b.fps
    for name, v in (("start", start), ("end", end), ("fps", fps)):
        if v is not None and not math.isfinite(v):
            raise InvalidWindow(f"{name} must be a finite number, got {v!r}", path)
    if fps <= 0:
        raise InvalidBudget(f"fps must be > 0, got {fps}", path)
    p, st = _checked_path(path)
    name = _require_backend(backend) if backend else default_backend()
    info = _info(name, p, st)
    idx, sample_fps = plan_window(info, start, end, fps=fps, min_frames=b.min_frames, max_frames=b.max_frames)
    h, w = _target_size(
        info.height, info.width, len(idx), b.min_pixels, b.max_pixels, b.total_pixels, b.patch_size
    )
    # The probe's reader (native size) stays pooled for the next probe; crops use one opened at their output size.
    size = (h, w) if _decoder_resize() and (h, w) != (info.height, info.width) else None
    with _POOL.reader(_key(name, p, st, size), _opener(name, p, size)) as rdr:
        try:
            raw = rdr.get_frames(idx)
            stamps = rdr.timestamps(idx)
        except VideoError:
            raise
        except Exception as e:
            raise CorruptVideo(f"{p}: decoding frames {idx[0]}..{idx[-1]} failed: {e}", p) from e
    if len(raw) != len(idx):
        raise CorruptVideo(f"{p}: asked for {len(idx)} frames, the decoder returned {len(raw)}", p)
    frames = [_resize(f, w, h) for f in raw]
    window = (
        0.0 if start is None else min(max(0.0, start), info.duration),
        info.duration if end is None else min(max(0.0, end), info.duration),
    )
    return SampledFrames(frames, stamps, idx, info, window, sample_fps, name, (h, w))


def sample_video(
    path: str | os.PathLike,
    budget: FrameBudget | None = None,
    *,
    backend: str | None = None,
    **changes: Any,
) -> SampledFrames:
    """The whole-video skim for the initial prompt: same budget rules as a crop, over the full length."""
    return sample_window(path, None, None, budget, backend=backend, **changes)


def frame_at(path: str | os.PathLike, time: float, *, backend: str | None = None) -> SampledFrames:
    """The one source frame on screen at `time` seconds, at the video's own resolution (spatial zoom crops a
    region of it, so it must not be scaled first). Nearest frame by index (`round(time * fps)`), clamped to the
    video; its timestamp is the decoder's. Served by the probe's native-size reader (pooled): no new reader."""
    if not math.isfinite(time) or time < 0:
        raise InvalidWindow(f"time must be a finite number >= 0, got {time!r}", path)
    p, st = _checked_path(path)
    name = _require_backend(backend) if backend else default_backend()
    info = _info(name, p, st)
    index = min(max(int(round(time * info.fps)), 0), info.num_frames - 1)
    with _POOL.reader(_key(name, p, st), _opener(name, p)) as rdr:
        try:
            raw = rdr.get_frames([index])
            stamps = rdr.timestamps([index])
        except VideoError:
            raise
        except Exception as e:
            raise CorruptVideo(f"{p}: decoding frame {index} failed: {e}", p) from e
    if len(raw) != 1:
        raise CorruptVideo(f"{p}: asked for frame {index}, the decoder returned {len(raw)} frames", p)
    frame = np.ascontiguousarray(raw[0])
    t = float(stamps[0])
    return SampledFrames([frame], [t], [index], info, (t, t), 0.0, name, (frame.shape[0], frame.shape[1]))


def _resize(frame: np.ndarray, w: int, h: int) -> np.ndarray:
    # Only when the decoder did not scale (LONGVT_DECODER_RESIZE=0, or the target is the native size).
    # PIL's bicubic (antialiased when shrinking) is what torchvision's antialias=True imitates: within 2 grey
    # levels of fetch_video's output, and several times faster on uint8 than torch's float path.
    if frame.shape[0] == h and frame.shape[1] == w:
        return np.ascontiguousarray(frame)
    return np.asarray(Image.fromarray(frame).resize((w, h), Image.BICUBIC))
