"""Synthetic long videos with known ground truth, written as real encoded files.

Every scene has its own background brightness (so a hard cut always changes luminance, which is what
PySceneDetect's content detector keys on), its own colour and shape, and burnt-in text that names the scene and
the current second. A JSON manifest beside the video records the cuts and what is in each scene, so tests can check
scene detection, crop timestamps and "did the model look at the right window" against the truth.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

# (name, rgb) pairs; shapes cycle independently so consecutive scenes always differ in several ways.
_COLOURS = [
    ("red", (220, 40, 40)),
    ("blue", (40, 80, 230)),
    ("green", (40, 200, 70)),
    ("yellow", (235, 220, 40)),
    ("magenta", (210, 50, 200)),
    ("cyan", (40, 210, 220)),
    ("orange", (240, 140, 30)),
    ("white", (245, 245, 245)),
]
_SHAPES = ["circle", "square", "triangle", "cross", "diamond"]
# Alternating dark / bright backgrounds: each cut moves mean luminance by far more than the detector threshold.
_BACKGROUNDS = [20, 150, 60, 200, 35, 120, 240, 90]


@dataclass
class Scene:
    index: int
    start: float
    end: float
    colour: str
    shape: str
    background: int
    label: str


@dataclass
class VideoManifest:
    path: str
    duration: float
    fps: float
    width: int
    height: int
    codec: str
    num_frames: int
    scenes: list[Scene] = field(default_factory=list)

    @property
    def cuts(self) -> list[float]:
        return [s.start for s in self.scenes[1:]]

    def scene_at(self, t: float) -> Scene:
        for s in self.scenes:
            if s.start <= t < s.end:
                return s
        return self.scenes[-1]

    def to_json(self) -> dict:
        d = asdict(self)
        d["cuts"] = self.cuts
        return d

    @classmethod
    def load(cls, path: str | Path) -> VideoManifest:
        d = json.loads(Path(path).read_text())
        d.pop("cuts", None)
        d["scenes"] = [Scene(**s) for s in d["scenes"]]
        return cls(**d)


def _draw_shape(draw: ImageDraw.ImageDraw, shape: str, box: tuple[int, int, int, int], rgb) -> None:
    x0, y0, x1, y1 = box
    cx, cy = (x0 + x1) // 2, (y0 + y1) // 2
    if shape == "circle":
        draw.ellipse(box, fill=rgb)
    elif shape == "square":
        draw.rectangle(box, fill=rgb)
    elif shape == "triangle":
        draw.polygon([(cx, y0), (x1, y1), (x0, y1)], fill=rgb)
    elif shape == "diamond":
        draw.polygon([(cx, y0), (x1, cy), (cx, y1), (x0, cy)], fill=rgb)
    else:  # cross
        w = max(2, (x1 - x0) // 4)
        draw.rectangle((cx - w, y0, cx + w, y1), fill=rgb)
        draw.rectangle((x0, cy - w, x1, cy + w), fill=rgb)


def plan_scenes(duration: float, scene_lengths: list[float] | None, fps: float) -> list[Scene]:
    """Scene boundaries snapped to frame times, so the cut time equals the first frame of the new scene."""
    if not scene_lengths:
        n = max(2, int(duration // 10) or 2)
        scene_lengths = [duration / n] * n
    scenes, t = [], 0.0
    for i, length in enumerate(scene_lengths):
        end = min(duration, round(round((t + length) * fps) / fps, 6))
        if i == len(scene_lengths) - 1:
            end = duration
        colour, _ = _COLOURS[i % len(_COLOURS)]
        shape = _SHAPES[(i * 2) % len(_SHAPES)]
        label = f"{colour} {shape}"
        scenes.append(Scene(i, round(t, 6), end, colour, shape, _BACKGROUNDS[i % len(_BACKGROUNDS)], label))
        t = end
        if t >= duration:
            break
    return scenes


def render_frame(scene: Scene, t: float, width: int, height: int, font=None) -> np.ndarray:
    bg = scene.background
    img = Image.new("RGB", (width, height), (bg, bg, bg))
    draw = ImageDraw.Draw(img)
    rgb = dict(_COLOURS)[scene.colour]
    side = min(width, height) // 2
    # The shape drifts slowly so that frames inside one scene are not identical (like real footage).
    dx = int((t - scene.start) * 3) % max(1, width - side)
    x0, y0 = dx, (height - side) // 2
    _draw_shape(draw, scene.shape, (x0, y0, x0 + side, y0 + side), rgb)
    font = font or ImageFont.load_default()
    ink = (255, 255, 255) if bg < 128 else (0, 0, 0)
    draw.text((4, 2), f"SCENE {scene.index} {scene.label}", fill=ink, font=font)
    draw.text((4, height - 14), f"t={int(t):d}s", fill=ink, font=font)
    return np.asarray(img)


def make_synthetic_video(
    path: str | Path,
    *,
    duration: float = 30.0,
    fps: float = 4.0,
    width: int = 160,
    height: int = 96,
    scene_lengths: list[float] | None = None,
    codec: str = "h264",
    gop: int | None = None,
    preset: str = "ultrafast",
) -> VideoManifest:
    """Encode a synthetic video and write `<path>.json` with its ground truth. Returns the manifest.

    codec: "h264" (libx264 through PyAV's bundled FFmpeg; no system ffmpeg needed) or "mpeg4".
    gop: keyframe interval in frames (default: 2 s worth), so seeking behaves like real footage.
    """
    import av  # local: only this fixture needs the encoder

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    width, height = width - width % 2, height - height % 2
    scenes = plan_scenes(duration, scene_lengths, fps)
    n_frames = int(round(duration * fps))
    rate = Fraction(fps).limit_denominator(1000)
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264" if codec == "h264" else codec, rate=rate)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.gop_size = gop or max(1, int(round(2 * fps)))
        if codec == "h264":
            stream.options = {"preset": preset, "tune": "zerolatency", "bf": "0"}
        font = ImageFont.load_default()
        si = 0
        for i in range(n_frames):
            t = i / fps
            while si + 1 < len(scenes) and t >= scenes[si + 1].start - 1e-9:
                si += 1
            frame = av.VideoFrame.from_ndarray(
                render_frame(scenes[si], t, width, height, font), format="rgb24"
            )
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    manifest = VideoManifest(
        path=str(path.resolve()),
        duration=n_frames / fps,
        fps=fps,
        width=width,
        height=height,
        codec=codec,
        num_frames=n_frames,
        scenes=scenes,
    )
    Path(str(path) + ".json").write_text(json.dumps(manifest.to_json(), indent=2))
    return manifest


def sample_video(cache_dir: str | Path | None = None) -> VideoManifest:
    """The demo / test sample: a 2-minute, 6-scene video, built once and cached."""
    from longvt_plugins.testing.cache import cache_root

    root = Path(cache_dir) if cache_dir else cache_root()
    path = root / "videos" / "sample_2min.mp4"
    meta = Path(str(path) + ".json")
    if path.exists() and meta.exists():
        return VideoManifest.load(meta)
    tmp = path.with_name(path.stem + ".partial.mp4")
    m = make_synthetic_video(tmp, duration=120.0, fps=4.0, scene_lengths=[15, 25, 20, 10, 30, 20])
    tmp.replace(path)
    Path(str(tmp) + ".json").unlink()
    m.path = str(path.resolve())
    meta.write_text(json.dumps(m.to_json(), indent=2))
    return m
