"""Shared fixtures: the tiny real Qwen2.5-VL and real encoded synthetic videos, built once per session.

No network at test time: HF_HUB_OFFLINE is forced here as well as in .ci/run.
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("FORCE_QWENVL_VIDEO_READER", "decord")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

# An aiohttp pool left open anywhere ("Unclosed client session" / "Unclosed connector") fails the run.
pytest_plugins = ("longvt_plugins.testing.unclosed",)


@pytest.fixture(scope="session")
def fixture_cache(tmp_path_factory) -> Path:
    """Per-session cache of built fixtures; LONGVT_TEST_CACHE reuses one across runs (dev speed only)."""
    keep = os.environ.get("LONGVT_TEST_CACHE")
    root = Path(keep) if keep else tmp_path_factory.mktemp("longvt-cache")
    root.mkdir(parents=True, exist_ok=True)
    return root


@pytest.fixture(scope="session")
def tiny_model_dir(fixture_cache) -> Path:
    from longvt_plugins.testing.tiny_model import tiny_qwen25vl

    return tiny_qwen25vl(fixture_cache)


@pytest.fixture(scope="session")
def sample_video(fixture_cache):
    """2-minute, 6-scene H.264 video (4 fps, 160x96) with its ground-truth manifest."""
    from longvt_plugins.testing.videos import sample_video as build

    return build(fixture_cache)


@pytest.fixture(scope="session")
def short_video(fixture_cache):
    """12-second, 3-scene H.264 video at 24 fps, 320x240: dense enough for frame-exact checks."""
    from longvt_plugins.testing.videos import VideoManifest, make_synthetic_video

    path = fixture_cache / "videos" / "short_12s.mp4"
    meta = Path(str(path) + ".json")
    if meta.exists():
        return VideoManifest.load(meta)
    return make_synthetic_video(path, duration=12.0, fps=24.0, width=320, height=240, scene_lengths=[4, 4, 4])


@pytest.fixture(scope="session")
def tiny_qwen3_dir(fixture_cache) -> Path:
    from longvt_plugins.testing.tiny_model import tiny_qwen3vl

    return tiny_qwen3vl(fixture_cache)
