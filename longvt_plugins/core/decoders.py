"""The video decoders behind `core.video`: decord, torchcodec and PyAV, one small reader class each.

A reader is opened once per video, knows its frame count / fps / size / codec, and decodes exactly the frame
indices it is asked for. Frame i means what the decoder means by it (i-th frame in presentation order), and its
timestamp is the decoder's presentation time of that frame, relative to the first frame.
Readers are not thread-safe; `core.video` hands each one to one thread at a time.
"""

from __future__ import annotations

import bisect
from typing import Protocol

import numpy as np

from longvt_plugins.core.video_errors import NotAVideo

BACKEND_ORDER = ("decord", "torchcodec", "pyav")


class Reader(Protocol):
    num_frames: int
    fps: float
    width: int
    height: int
    codec: str

    def get_frames(self, indices: list[int]) -> list[np.ndarray]: ...

    def timestamps(self, indices: list[int]) -> list[float]: ...

    def close(self) -> None: ...


def _header(path: str):
    """Codec / size from the container header (PyAV): cheap, and it refuses non-videos before a C decoder
    that is less careful with garbage input gets to see them."""
    import av

    with av.open(path) as c:
        if not c.streams.video:
            kinds = sorted({s.type for s in c.streams}) or ["no streams"]
            raise _no_video_stream(path, kinds)
        s = c.streams.video[0]
        return s.codec_context.name, s.codec_context.width, s.codec_context.height


def _no_video_stream(path: str, kinds: list[str]):
    return NotAVideo(f"{path} has no video stream (streams: {', '.join(kinds)})", path)


class DecordReader:
    def __init__(self, path: str):
        import decord

        self.codec, _, _ = _header(path)
        self._vr = decord.VideoReader(path, ctx=decord.cpu(0))
        self.num_frames = len(self._vr)
        self.fps = float(self._vr.get_avg_fps())
        h, w = self._vr[0].shape[:2] if self.num_frames else (0, 0)
        self.height, self.width = int(h), int(w)
        self._t0 = float(self._vr.get_frame_timestamp([0])[0][0]) if self.num_frames else 0.0

    def get_frames(self, indices: list[int]) -> list[np.ndarray]:
        batch = self._vr.get_batch(list(indices)).asnumpy()
        return list(batch)

    def timestamps(self, indices: list[int]) -> list[float]:
        ts = self._vr.get_frame_timestamp(list(indices))
        return [round(float(t) - self._t0, 6) for t in ts[:, 0]]

    def close(self) -> None:
        self._vr = None


class TorchcodecReader:
    def __init__(self, path: str):
        from torchcodec.decoders import VideoDecoder

        self.codec, _, _ = _header(path)
        # exact mode scans the file once, so frame i is the i-th presented frame, like decord's index.
        self._dec = VideoDecoder(path, seek_mode="exact")
        md = self._dec.metadata
        self.num_frames = int(md.num_frames or 0)
        self.fps = float(md.average_fps or 0.0)
        self.width, self.height = int(md.width), int(md.height)
        self._t0 = float(self._dec.get_frames_at(indices=[0]).pts_seconds[0]) if self.num_frames else 0.0

    def get_frames(self, indices: list[int]) -> list[np.ndarray]:
        batch = self._dec.get_frames_at(indices=list(indices))
        self._last = (list(indices), [float(t) for t in batch.pts_seconds])
        return list(batch.data.permute(0, 2, 3, 1).numpy())

    def timestamps(self, indices: list[int]) -> list[float]:
        last = getattr(self, "_last", None)
        if last and last[0] == list(indices):
            pts = last[1]
        else:
            pts = [float(t) for t in self._dec.get_frames_at(indices=list(indices)).pts_seconds]
        return [round(t - self._t0, 6) for t in pts]

    def close(self) -> None:
        self._dec = None


class PyAVReader:
    """Indexes packet timestamps once (demux only, no decoding), then seeks to the keyframe before each wanted
    frame and decodes forward. Consecutive wanted frames inside one GOP share a single decode pass."""

    def __init__(self, path: str):
        import av

        self._c = av.open(path)
        if not self._c.streams.video:
            kinds = sorted({s.type for s in self._c.streams}) or ["no streams"]
            self._c.close()
            raise _no_video_stream(path, kinds)
        s = self._s = self._c.streams.video[0]
        s.thread_type = "AUTO"
        self.codec = s.codec_context.name
        self.width, self.height = s.codec_context.width, s.codec_context.height
        rate = s.average_rate or s.guessed_rate
        self.fps = float(rate) if rate else 0.0
        entries = sorted(
            (p.pts, bool(p.is_keyframe)) for p in self._c.demux(s) if p.pts is not None and p.size
        )
        self._pts = [p for p, _ in entries]
        self._pos = {p: i for i, p in enumerate(self._pts)}
        self._keys = [i for i, (_, k) in enumerate(entries) if k] or [0]
        self.num_frames = len(self._pts)
        self._tb = float(s.time_base)
        self._gen = None
        self._cur = -1

    def _seek(self, i: int) -> None:
        self._c.seek(self._pts[i], stream=self._s, backward=True, any_frame=False)
        self._gen = self._c.decode(self._s)
        self._cur = -1

    def get_frames(self, indices: list[int]) -> list[np.ndarray]:
        got: dict[int, np.ndarray] = {}
        for i in sorted(set(indices)):
            key = self._keys[max(0, bisect.bisect_right(self._keys, i) - 1)]
            if self._gen is None or self._cur >= i or key > self._cur:
                self._seek(i)
            for frame in self._gen:
                fi = self._pos.get(frame.pts if frame.pts is not None else frame.dts, -1)
                if fi < 0:
                    continue
                self._cur = fi
                if fi == i:
                    got[i] = frame.to_ndarray(format="rgb24")
                    break
                if fi > i:
                    break
            if i not in got:
                self._gen = None
                raise RuntimeError(f"frame {i} (pts {self._pts[i]}) could not be decoded")
        return [got[i] for i in indices]

    def timestamps(self, indices: list[int]) -> list[float]:
        t0 = self._pts[0]
        return [round((self._pts[i] - t0) * self._tb, 6) for i in indices]

    def close(self) -> None:
        try:
            self._c.close()
        except Exception:
            pass


def first_frame_state(path: str) -> str:
    """ "ok" if PyAV decodes a first video frame, "no_frames" if the header opens but nothing decodes,
    "unreadable" if not even the header opens. Used only to word an error after a backend failed."""
    import av

    try:
        c = av.open(path)
    except Exception:
        return "unreadable"
    try:
        if not c.streams.video:
            return "no_frames"
        for _ in c.decode(c.streams.video[0]):
            return "ok"
        return "no_frames"
    except Exception:
        return "no_frames"
    finally:
        c.close()


_READERS = {"decord": DecordReader, "torchcodec": TorchcodecReader, "pyav": PyAVReader}


def open_reader(backend: str, path: str) -> Reader:
    return _READERS[backend](path)


def _first_line(e: BaseException) -> str:
    lines = str(e).strip().splitlines()
    first = lines[0].split(". ")[0].rstrip(".") if lines else ""
    return f"{type(e).__name__}: {first}" if first else type(e).__name__


def backend_problems() -> dict[str, str | None]:
    """name -> None if usable, else why not. Loads each decoder's native library for real: torchcodec imports
    fine without FFmpeg and only fails when its core library loads, which is what we check."""
    out: dict[str, str | None] = {}
    try:
        import decord  # noqa: F401

        out["decord"] = None
    except Exception as e:
        out["decord"] = _first_line(e)
    try:
        from torchcodec.decoders import VideoDecoder  # noqa: F401

        try:
            from torchcodec._internally_replaced_utils import load_core_libraries
        except ImportError:  # private helper moved: fall back to a decoder on empty input
            load_core_libraries = None
        if load_core_libraries is not None:
            load_core_libraries()
        out["torchcodec"] = None
    except Exception as e:
        out["torchcodec"] = (
            _first_line(e) + " (torchcodec needs a system FFmpeg 4-7, e.g. apt-get install ffmpeg)"
        )
    try:
        import av

        av.codec.Codec("h264", "r")
        out["pyav"] = None
    except Exception as e:
        out["pyav"] = _first_line(e)
    return out
