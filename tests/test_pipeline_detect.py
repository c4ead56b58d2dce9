"""Fast scene detection (`pipeline.scenecut`) against the ground truth of real encoded videos and against
PySceneDetect's own `detect(video, ContentDetector())`, whole and in time chunks."""

from __future__ import annotations

import pytest

from longvt_plugins.pipeline.scenecut import CutDetectionError, CutOptions, detect_cuts, merge_chunk_cuts


@pytest.fixture(scope="module")
def gop_video(fixture_cache):
    """60 s, 8 scenes of uneven length, a keyframe every 2 s: most GOPs are provably quiet."""
    from longvt_plugins.testing.videos import VideoManifest, make_synthetic_video

    path = fixture_cache / "videos" / "pipeline_gop8_60s_v2.mp4"
    meta = path.with_name(path.name + ".json")
    if meta.exists():
        return VideoManifest.load(meta)
    lengths = [5, 9.5, 4.5, 12, 7.25, 6, 10, 5.75]
    return make_synthetic_video(
        path, duration=60.0, fps=4.0, width=160, height=96, scene_lengths=lengths, gop=8
    )


def _times(res):
    return [round(c / res.fps, 3) for c in res.cuts]


def test_cuts_equal_the_ground_truth_on_the_24fps_video(short_video):
    res = detect_cuts(short_video.path)
    assert _times(res) == pytest.approx(short_video.cuts)
    assert res.fps == pytest.approx(24.0)


def test_quiet_gops_are_skipped_and_every_cut_is_still_found(gop_video):
    res = detect_cuts(gop_video.path)
    assert _times(res) == pytest.approx(gop_video.cuts)
    assert res.gops == 30 and res.gops_dense < res.gops / 2  # most of the video was never decoded densely
    assert res.frames_decoded < gop_video.num_frames / 2
    dense = detect_cuts(gop_video.path, opts=CutOptions(gop_skip=False))
    assert dense.cuts == res.cuts and dense.gops_dense == dense.gops


@pytest.mark.parametrize("chunk", [7.0, 10.0, 13.5, 30.0])
def test_time_chunks_merge_back_to_the_whole_video_result(gop_video, chunk):
    whole = detect_cuts(gop_video.path)
    starts = [
        k * chunk for k in range(int(gop_video.duration // chunk) + 1) if k * chunk < gop_video.duration
    ]
    parts = [
        detect_cuts(gop_video.path, s, None if i == len(starts) - 1 else starts[i + 1])
        for i, s in enumerate(starts)
    ]
    assert merge_chunk_cuts([p.cuts for p in parts], 15) == merge_chunk_cuts([whole.cuts], 15)
    # each cut is found by exactly one chunk (no double counting at chunk borders)
    assert sum(len(p.cuts) for p in parts) == len(whole.cuts)


def test_agrees_with_pyscenedetect_default_detect(sample_video, gop_video):
    from scenedetect import ContentDetector, detect

    for video in (sample_video, gop_video):
        reference = [round(s[0].seconds, 3) for s in detect(video.path, ContentDetector())[1:]]
        assert _times(detect_cuts(video.path)) == pytest.approx(reference)


def test_skipping_non_reference_frames_keeps_cuts_within_half_a_second(short_video):
    res = detect_cuts(short_video.path, opts=CutOptions(skip_nonref=True, skip_loop_filter=True))
    assert len(res.cuts) == len(short_video.cuts)
    for got, want in zip(_times(res), short_video.cuts, strict=True):
        assert abs(got - want) <= 0.5


def test_bad_files_raise_a_clear_error(tmp_path, short_video):
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    text = tmp_path / "notes.mp4"
    text.write_text("not a video")
    for path in (empty, text):
        with pytest.raises(CutDetectionError, match="cannot open as video"):
            detect_cuts(path)


def test_detection_uses_one_opencv_thread_and_restores_the_callers_setting(short_video):
    import cv2

    seen = []
    before = cv2.getNumThreads()
    cv2.setNumThreads(3)
    try:
        real = cv2.cvtColor

        def spy(*args, **kwargs):
            seen.append(cv2.getNumThreads())
            return real(*args, **kwargs)

        cv2.cvtColor = spy
        try:
            detect_cuts(short_video.path)
        finally:
            cv2.cvtColor = real
        assert seen and set(seen) == {1}  # W worker processes x cores OpenCV threads would oversubscribe
        assert cv2.getNumThreads() == 3
    finally:
        cv2.setNumThreads(before)
