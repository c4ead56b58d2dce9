"""The errors of probing and sampling a video, shared by `core.video` and the decoders in `core.decoders`.

They live apart from both so that a decoder can raise them without importing the sampler that uses it.
"""

from __future__ import annotations

import os


class VideoError(Exception):
    """A video could not be probed or sampled. The message is meant to be shown to a person or a model."""

    def __init__(self, message: str, path: str | os.PathLike | None = None):
        super().__init__(message)
        self.path = None if path is None else str(path)


class VideoNotFound(VideoError):
    pass


class EmptyVideoFile(VideoError):
    pass


class NotAVideo(VideoError):
    pass


class CorruptVideo(VideoError):
    pass


class NoDecodableFrames(VideoError):
    pass


class InvalidWindow(VideoError, ValueError):
    """The requested window or budget cannot be sampled (empty window, fewer than two source frames, ...)."""


class InvalidBudget(VideoError, ValueError):
    """The sampling budget itself cannot be met (min_pixels > max_pixels, fps <= 0, extreme aspect ratio)."""


class BackendUnavailable(VideoError):
    pass
