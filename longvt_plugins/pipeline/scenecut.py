"""Fast hard-cut detection: PySceneDetect's content metric on as few, as cheaply decoded frames as possible.

Why not just `scenedetect.detect(path, ContentDetector())`? On a 2-core machine it spends most of its time decoding
every frame at full quality and converting it to BGR. The cut decision needs neither, so we:

1. Demux every packet (no decoding) and decode only the keyframes (`skip_frame=NONKEY`), which is ~10x cheaper.
2. Call a GOP (keyframe to keyframe) *quiet* when the keyframes on both ends look alike (content score of tiny
   thumbnails well below the threshold) and no packet inside it is large relative to its keyframe. A hard cut inside a GOP forces the
   encoder to intra-code the new picture, which shows up as a packet of keyframe size; so a quiet GOP has no cut.
3. Decode only the non-quiet GOPs densely, with the in-loop deblocking filter skipped (it changes pixels by a
   few levels, far below the cut threshold), and score them with PySceneDetect's `ContentDetector` metric
   (mean HSV difference) computed on the YUV planes subsampled in numpy (no swscale, no full-size BGR frame).

Frames are numbered from timestamps, so time chunks of one video can run in parallel and their cuts merge by key.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np


@dataclass
class CutOptions:
    """Knobs of the detector; the defaults reproduce ContentDetector(threshold=27, min_scene_len=15)."""

    threshold: float = 27.0  # ContentDetector's default content-score threshold
    min_scene_len: int = 15  # frames; a cut closer than this to the previous one is dropped
    analysis_width: int = 160  # frames are scored at about this width (subsampled planes)
    gop_skip: bool = True  # skip GOPs the keyframe pass proves unchanged
    quiet_score: float = 0.5  # a GOP is quiet if its keyframes differ by < quiet_score * threshold ...
    quiet_packet_ratio: float = 0.3  # ... and no packet inside is >= this fraction of its keyframe's size
    thumb_width: int = 16  # keyframes are compared as thumbnails this wide (tolerates slow camera motion)
    skip_loop_filter: bool = True
    skip_nonref: bool = False  # also skip non-reference frames: faster, cut time off by up to a few frames
    threads: int = 0  # decoder threads (0 = FFmpeg's choice)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class CutResult:
    """Cuts of one time range of one video, in frames and seconds, plus what it cost to find them."""

    fps: float
    num_frames: int  # frames of the range (from timestamps)
    cuts: list[int] = field(default_factory=list)  # frame numbers of the first frame of each new scene
    frames_decoded: int = 0
    gops: int = 0
    gops_dense: int = 0


class CutDetectionError(RuntimeError):
    """The file has no decodable video stream (reason in the message)."""


def _small_bgr(frame, width: int) -> np.ndarray:
    """A ~`width`-wide BGR image of a decoded frame, subsampling the planes directly when they are 4:2:0."""
    import cv2

    fmt = frame.format.name
    if fmt in ("yuv420p", "yuvj420p") and frame.width >= width:
        step = max(1, frame.width // width)  # luma step; chroma is already half resolution
        cstep = max(1, step // 2)
        y, u, v = frame.planes
        luma = np.frombuffer(y, np.uint8).reshape(-1, y.line_size)[: frame.height, : frame.width]
        cu = np.frombuffer(u, np.uint8).reshape(-1, u.line_size)[: frame.height // 2, : frame.width // 2]
        cv = np.frombuffer(v, np.uint8).reshape(-1, v.line_size)[: frame.height // 2, : frame.width // 2]
        ls = cstep * 2
        luma = luma[::ls, ::ls]
        cu, cv = cu[::cstep, ::cstep], cv[::cstep, ::cstep]
        h, w = min(luma.shape[0], cu.shape[0]), min(luma.shape[1], cu.shape[1])
        yuv = np.empty((h, w, 3), np.uint8)  # filled plane by plane: cheaper than np.dstack of strided views
        yuv[..., 0], yuv[..., 1], yuv[..., 2] = luma[:h, :w], cu[:h, :w], cv[:h, :w]
        return cv2.cvtColor(yuv, cv2.COLOR_YUV2BGR)
    height = max(2, int(round(frame.height * width / max(1, frame.width))))
    return frame.to_ndarray(width=width, height=height, format="bgr24")


def _hsv(bgr: np.ndarray) -> np.ndarray:
    import cv2

    return cv2.cvtColor(bgr, cv2.COLOR_BGR2HSV)


def _thumb_hsv(bgr: np.ndarray, width: int) -> np.ndarray:
    """A tiny, area-averaged HSV thumbnail: keyframes seconds apart compare equal under slow camera motion
    (a pan moves a blurred thumbnail by under a pixel) but not across a cut (new colours, new layout)."""
    import cv2

    h = max(2, int(round(bgr.shape[0] * width / bgr.shape[1])))
    return _hsv(cv2.resize(bgr, (width, h), interpolation=cv2.INTER_AREA))


def content_score(prev_hsv: np.ndarray, hsv: np.ndarray) -> float:
    """PySceneDetect's ContentDetector score with default weights: mean |dH|, |dS|, |dV| averaged.

    With equal weights that is the L1 distance over every pixel and channel divided by their count: one
    OpenCV call instead of a difference image, per-channel means and their mean."""
    import cv2

    return cv2.norm(prev_hsv, hsv, cv2.NORM_L1) / prev_hsv.size


def _apply_min_scene_len(cuts: list[int], min_len: int, first_frame: int = 0) -> list[int]:
    kept: list[int] = []
    last = first_frame
    for c in sorted(set(cuts)):
        if c - last >= min_len:
            kept.append(c)
            last = c
    return kept


def merge_chunk_cuts(chunks: list[list[int]], min_scene_len: int) -> list[int]:
    """Cuts of a whole video from its time chunks (any order): union, then the min-scene-length rule."""
    return _apply_min_scene_len([c for chunk in chunks for c in chunk], min_scene_len)


def _decoder(av, stream, thread_type: str, threads: int):
    ctx = av.CodecContext.create(stream.codec_context.name, "r")
    ctx.extradata = stream.codec_context.extradata
    ctx.thread_type = thread_type
    ctx.thread_count = threads
    return ctx


class _Gop:
    __slots__ = ("key_packet", "packets", "max_inner", "key_size", "key_hsv", "key_frame_no")

    def __init__(self, key_packet):
        self.key_packet = key_packet
        self.packets = [key_packet]
        self.key_size = key_packet.size
        self.max_inner = 0
        self.key_hsv = None
        self.key_frame_no = None


def detect_cuts(
    path: str | Path, start: float = 0.0, end: float | None = None, opts: CutOptions | None = None
):
    """Raw hard cuts whose first frame lies in the GOPs that start in [start, end) (start=0 covers the head).

    Chunks that tile [0, duration) therefore tile the video's frames exactly once. The minimum scene length
    is not applied here (it reaches across chunk borders): `merge_chunk_cuts` applies it to the union, and
    `detect_scenes` does both for a whole video.
    """
    import cv2

    # OpenCV would spread each ~160-px-wide conversion over a thread per core: more overhead than work, and W
    # worker processes x cores threads oversubscribe the machine. One thread for the call, then as it was.
    cv_threads = cv2.getNumThreads()
    cv2.setNumThreads(1)
    try:
        return _detect_cuts(path, start, end, opts or CutOptions())
    finally:
        cv2.setNumThreads(cv_threads)


def _detect_cuts(path: str | Path, start: float, end: float | None, opts: CutOptions) -> CutResult:
    import av

    try:
        container = av.open(str(path))
    except (av.error.FFmpegError, OSError) as exc:  # type: ignore[attr-defined]
        raise CutDetectionError(f"cannot open as video: {exc}") from exc
    with container:
        if not container.streams.video:
            raise CutDetectionError("no video stream")
        stream = container.streams.video[0]
        fps_q = stream.average_rate or stream.guessed_rate
        if not fps_q:
            raise CutDetectionError("video stream has no frame rate")
        fps = float(fps_q)
        tb = stream.time_base
        t0_pts = stream.start_time or 0

        def frame_no(pts) -> int:
            return int(round(float((pts - t0_pts) * tb) * fps))

        # One decoder for lone keyframes (flushed after each, so no reordering delay), one for the GOPs we must
        # look at densely. The demuxer alone walks every packet.
        keydec = _decoder(av, stream, "SLICE", opts.threads)
        dense = _decoder(av, stream, "AUTO", opts.threads)
        if opts.skip_loop_filter:  # keyframes are compared as 16-px thumbnails: the filter is invisible there
            keydec.options = dense.options = {"skip_loop_filter": "all"}
        if opts.skip_nonref:
            dense.skip_frame = "NONREF"

        result = CutResult(fps=fps, num_frames=0)
        start_frame = 0 if start <= 0 else int(math.ceil(start * fps - 1e-6))
        end_frame = None if end is None else int(math.ceil(end * fps - 1e-6))
        if start > 0:
            container.seek(int(start / float(tb)) + t0_pts, stream=stream, backward=True, any_frame=False)

        cuts: list[int] = []
        gop: _Gop | None = None
        first_frame: int | None = None
        last_frame_seen = start_frame
        # The dense decoder is fed GOP by GOP as soon as each is judged non-quiet, and its frames are scored as
        # they come out (display order) and dropped: memory stays at one frame however long a run of non-quiet
        # GOPs is (a 250-frame-GOP video is one long run), and FFmpeg can reuse its frame buffers.
        dense_state = {"open": False, "prev": None}

        def score_frames(frames) -> None:
            for f in frames:
                hsv = _hsv(_small_bgr(f, opts.analysis_width))
                prev = dense_state["prev"]
                if prev is not None and content_score(prev, hsv) >= opts.threshold:
                    cuts.append(frame_no(f.pts))
                dense_state["prev"] = hsv
                result.frames_decoded += 1

        def feed_dense(done: _Gop) -> None:
            for p in done.packets:
                score_frames(dense.decode(p))
            dense_state["open"] = True
            result.gops_dense += 1

        def close_run(closing: _Gop | None) -> None:
            """End a run of densely decoded GOPs: decode the next keyframe too (a cut exactly there is scored
            against the run's last frame), drain the decoder and start the next run from scratch."""
            if not dense_state["open"]:
                return
            if closing is not None:
                score_frames(dense.decode(closing.key_packet))
            score_frames(dense.decode(None))
            dense.flush_buffers()
            dense_state.update(open=False, prev=None)

        def close_gop(done: _Gop, nxt: _Gop | None) -> None:
            """Decide whether `done` (followed by keyframe `nxt`) needs a dense look."""
            quiet = False
            if opts.gop_skip and nxt is not None and done.key_hsv is not None and nxt.key_hsv is not None:
                score = content_score(done.key_hsv, nxt.key_hsv)
                quiet = score < opts.quiet_score * opts.threshold and done.max_inner < (
                    opts.quiet_packet_ratio * done.key_size
                )
            result.gops += 1
            if quiet:
                close_run(done)
            else:
                feed_dense(done)

        def keyframe_hsv(packet):
            frames = list(keydec.decode(packet)) + list(keydec.decode(None))
            keydec.flush_buffers()
            if not frames:
                return None, None
            result.frames_decoded += 1
            return frames[0].pts, _thumb_hsv(_small_bgr(frames[0], opts.analysis_width), opts.thumb_width)

        stop = False
        for packet in container.demux(stream):
            if packet.size == 0 or packet.pts is None and packet.dts is None:
                continue
            if packet.is_keyframe:
                pts, hsv = keyframe_hsv(packet)
                kf_no = frame_no(packet.pts if packet.pts is not None else pts)
                if first_frame is None:
                    if kf_no < start_frame and start > 0:
                        # Seek landed before our range: that GOP belongs to the previous chunk.
                        continue
                    first_frame = kf_no
                new = _Gop(packet)
                new.key_hsv, new.key_frame_no = hsv, kf_no
                if gop is not None:
                    close_gop(gop, new)
                if end_frame is not None and kf_no >= end_frame:
                    close_run(new)
                    stop = True
                    last_frame_seen = kf_no
                    break
                gop = new
            elif gop is not None:
                gop.packets.append(packet)
                gop.max_inner = max(gop.max_inner, packet.size)
                if packet.pts is not None:
                    last_frame_seen = max(last_frame_seen, frame_no(packet.pts) + 1)
        if not stop:
            if gop is not None:
                # Last GOP of the video: nothing follows to prove it quiet, so look at it densely.
                result.gops += 1
                feed_dense(gop)
            close_run(None)
            last_frame_seen = max(last_frame_seen, (gop.key_frame_no + 1) if gop else 0)
        if first_frame is None:
            if start <= 0:
                raise CutDetectionError("no decodable keyframe")
            first_frame = start_frame
        result.num_frames = max(0, last_frame_seen - (0 if start <= 0 else first_frame))
        lo = 0 if start <= 0 else first_frame
        result.cuts = sorted(c for c in set(cuts) if c > lo and (not stop or c <= last_frame_seen))
        if start <= 0 and result.frames_decoded == 0:
            raise CutDetectionError("no decodable frames")
        return result


def detect_scenes(path: str | Path, opts: CutOptions | None = None) -> list[float]:
    """Cut times (seconds) of a whole video, minimum scene length applied: the one-call API."""
    opts = opts or CutOptions()
    res = detect_cuts(path, 0.0, None, opts)
    return [round(c / res.fps, 6) for c in merge_chunk_cuts([res.cuts], opts.min_scene_len)]
