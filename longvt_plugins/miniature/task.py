"""The miniature task family: long videos where the skim finds the scene and only a crop sees the flash.

A video is `SCENES` scenes of `SCENE_SECONDS` each: one scene in a colour of `SCENE_COLOURS` (a random colour at a
random place per video), each of the others in one of the dull `PLAIN_COLOURS` (drawn per scene). Inside every scene a short flash of one of
`FLASH_COLOURS` lasts `FLASH_SECONDS`, placed so that no skim frame falls in it but the crop of that scene catches
it. The question names the coloured scene ("... during the red scene?") and asks for its flash colour, so:

- the skim (one frame per scene, each with its timestamp) tells *where* the asked scene is, never the answer;
- a crop of that scene (denser frames) shows the flash; a crop of another scene shows another scene's flash.

Why one coloured scene, not eight: with eight distinct colours the student has to compare each skim entry with
the colour the question names, and a 0.8 M-parameter student did not learn that comparison in CPU budgets in six
sessions of probes (docs/miniature.md, "What the first task family taught us"). With one coloured scene, finding
it is a property of each skim frame alone, as recognising the relevant scene is for a pretrained model, and what is
left to learn is the LongVT behaviour itself: skim, locate, crop the right window, read, answer. The other
scenes are not all one colour: with a single plain colour (7 of 8 skim frames) the student learned to write it for
every skim entry, the coloured one too, instead of reading the frames (format 3/40).

Chance without the crop is 1 / len(FLASH_COLOURS) = 25 %. Perception is deliberately easy (one visual token per
frame): what a tiny model has to learn is the behaviour - find, crop, read, answer. Each colour is drawn with its
own fixed 4x4 cell texture (its cells on its colour, the rest dark): plain colours span only 3 input dimensions,
and a random-init vision tower maps them to nearly the same embedding (cosine 0.97-1.0 between red, orange,
yellow and brown after 300 SFT steps), so the first student never learned to tell the flashes apart.
Everything that shapes what the model sees (video, skim and crop budgets) is defined here, once.
"""

from __future__ import annotations

import functools
import json
import random
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np

from longvt_plugins.core.budget import CropBudget, FrameBudget
from longvt_plugins.core.families import PATCH_SIZES, QWEN2_5_VL, check_family

SCENE_COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (220, 30, 30),
    "green": (30, 180, 40),
    "blue": (30, 60, 220),
    "yellow": (240, 220, 30),
    "magenta": (200, 40, 200),
    "cyan": (30, 200, 210),
    "orange": (245, 130, 20),
    "purple": (110, 40, 160),
}
# Every scene but the asked one: dull colours that are neither asked about nor ever a flash.
PLAIN_COLOURS: dict[str, tuple[int, int, int]] = {
    "slate": (100, 130, 160),
    "olive": (128, 128, 0),
    "navy": (0, 0, 128),
    "beige": (225, 200, 160),
}
FLASH_COLOURS: dict[str, tuple[int, int, int]] = {
    "white": (250, 250, 250),
    "black": (5, 5, 5),
    "grey": (128, 128, 128),
    "brown": (110, 60, 20),
}
PALETTE: dict[str, tuple[int, int, int]] = {**SCENE_COLOURS, **PLAIN_COLOURS, **FLASH_COLOURS}
SCENES = 8
SCENE_SECONDS = 16
FPS = 1  # video frame rate: one frame per second keeps encoding and decoding cheap
FLASH_SECONDS = 4  # shorter than the skim spacing (duration / SKIM_FRAMES = 16 s)
FRAME_SIZE = 56  # encoded size; the budgets below resize every frame to 28x28 = one visual token
FRAME_PIXELS = 28 * 28
SKIM_FRAMES = SCENES
CHANCE = 1 / len(FLASH_COLOURS)
QUESTION_TEMPLATES = (
    "What colour flashes during the {colour} scene?",
    "Which colour briefly appears in the {colour} part of the video?",
)
# Disjoint seed ranges: the held-out split is never used for any choice.
SPLIT_SEEDS = {"train": 0, "val": 100_000, "test": 200_000, "rft": 300_000, "demo": 400_000}


def _token_pixels(family: str) -> dict:
    """One visual token per frame in `family`: FRAME_PIXELS (28x28) for Qwen2.5-VL's 14-px patches, 32x32 and
    patch 16 for Qwen3-VL (28x28 is below one Qwen3-VL token: its resize would round the frame down to nothing)."""
    if family == QWEN2_5_VL:  # patch_size: FrameBudget's default (14), so v1's budgets stay as they were
        return {"min_pixels": FRAME_PIXELS, "max_pixels": FRAME_PIXELS}
    side = 2 * PATCH_SIZES[check_family(family)]
    return {"min_pixels": side * side, "max_pixels": side * side, "patch_size": PATCH_SIZES[family]}


def crop_budget(family: str = QWEN2_5_VL) -> CropBudget:
    """The crop_video budget of the teacher, the SFT replay, the RFT sampler and every evaluation."""
    return CropBudget(fps=0.5, min_frames=2, max_frames=8, max_calls=2, **_token_pixels(family))


def skim_budget(family: str = QWEN2_5_VL) -> FrameBudget:
    """The skim of every miniature run: one frame per scene, each resized to one visual token."""
    return FrameBudget(fps=1.0, min_frames=4, max_frames=SKIM_FRAMES, **_token_pixels(family))


def agent_budgets(family: str = QWEN2_5_VL):
    """AgentBudgets of every miniature run (teacher traces, eval, demo) for a student of `family`."""
    from longvt_plugins.core.agent import AgentBudgets

    return AgentBudgets(skim=skim_budget(family), crop=crop_budget(family), max_turns=3, max_new_tokens=160,
                        max_total_tokens=384)  # fmt: skip


@dataclass
class MiniScene:
    index: int
    start: float
    end: float
    colour: str
    flash_colour: str
    flash_start: float
    flash_end: float


@dataclass
class MiniVideo:
    video_id: str
    path: str
    duration: float
    scenes: list[MiniScene] = field(default_factory=list)

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def load(cls, path: str | Path) -> MiniVideo:
        d = json.loads(Path(path).read_text())
        d["scenes"] = [MiniScene(**s) for s in d["scenes"]]
        return cls(**d)


@dataclass
class MiniItem:
    id: str
    video_id: str
    path: str
    question: str
    answer: str
    colour: str
    start: float  # evidence window: the asked scene
    end: float
    duration: float


TEXTURE_CELLS = 4
_OFF = (40, 40, 40)


def _mask(name: str) -> np.ndarray:
    """A colour's fixed cell pattern (about half the cells on), the same in every video."""
    import zlib

    rng = np.random.RandomState(zlib.crc32(name.encode()))
    while True:
        m = rng.rand(TEXTURE_CELLS, TEXTURE_CELLS) < 0.5
        if 5 <= m.sum() <= 11:
            return m


def colour_frame(name: str, size: int = FRAME_SIZE) -> np.ndarray:
    """One frame of a colour: its texture cells in its RGB, the others dark grey."""
    rgb = PALETTE[name]
    cells = np.where(_mask(name)[..., None], np.array(rgb, np.uint8), np.array(_OFF, np.uint8))
    reps = size // TEXTURE_CELLS
    return np.ascontiguousarray(cells.repeat(reps, 0).repeat(reps, 1))


def _frame_indices(start: float | None, end: float | None, fps: float, min_frames: int, max_frames: int):
    """Which video frames the skim / a crop decodes (qwen_vl_utils' rules, via core.video.plan_window)."""
    from longvt_plugins.core.video import VideoInfo, plan_window

    n = SCENES * SCENE_SECONDS * FPS
    info = VideoInfo("planned", n / FPS, float(FPS), n, FRAME_SIZE, FRAME_SIZE, "h264")
    idx, _ = plan_window(info, start, end, fps=fps, min_frames=min_frames, max_frames=max_frames)
    return idx


def flash_slots() -> dict[int, list[int]]:
    """Per scene, the flash start frames (offsets in the scene) that the skim misses and its crop catches twice."""
    b, crop = skim_budget(), crop_budget()
    skim = set(_frame_indices(None, None, b.fps, b.min_frames, b.max_frames))
    slots: dict[int, list[int]] = {}
    for k in range(SCENES):
        s = k * SCENE_SECONDS * FPS
        seen = set(_frame_indices(float(k * SCENE_SECONDS), float((k + 1) * SCENE_SECONDS), crop.fps,
                                  crop.min_frames, crop.max_frames))  # fmt: skip
        ok = []
        # keep one second clear of the scene's edges so a flash never touches a cut
        for off in range(1, SCENE_SECONDS * FPS - FLASH_SECONDS * FPS):
            frames = set(range(s + off, s + off + FLASH_SECONDS * FPS))
            if not frames & skim and len(frames & seen) >= 2:
                ok.append(off)
        if not ok:
            raise RuntimeError(f"scene {k}: no flash position is hidden from the skim and seen by the crop")
        slots[k] = ok
    return slots


def plan_video(seed: int, video_id: str, path: str) -> MiniVideo:
    rng = random.Random(seed)
    asked = rng.randrange(SCENES)
    colours = [rng.choice(list(PLAIN_COLOURS)) for _ in range(SCENES)]
    colours[asked] = rng.choice(list(SCENE_COLOURS))
    slots = flash_slots()
    scenes = []
    for k, colour in enumerate(colours):
        off = rng.choice(slots[k])
        start = float(k * SCENE_SECONDS)
        scenes.append(
            MiniScene(
                k,
                start,
                start + SCENE_SECONDS,
                colour,
                rng.choice(list(FLASH_COLOURS)),
                start + off / FPS,
                start + (off + FLASH_SECONDS * FPS) / FPS,
            )  # fmt: skip
        )
    return MiniVideo(video_id, path, float(SCENES * SCENE_SECONDS), scenes)


def encode_video(path: str | Path, frames, fps: int = FPS) -> None:
    """Encode RGB frames (H.264 through PyAV, a keyframe every 2 s) to `path`, via a `.partial` file so a killed
    run never leaves a truncated video under the real name. Both task families render through this."""
    import av

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.stem + ".partial" + path.suffix)
    with av.open(str(tmp), mode="w") as container:
        stream = container.add_stream("libx264", rate=Fraction(fps))
        stream.width = stream.height = FRAME_SIZE
        stream.pix_fmt = "yuv420p"
        stream.gop_size = 2 * fps
        stream.options = {"preset": "ultrafast", "tune": "zerolatency", "bf": "0"}
        for img in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    tmp.replace(path)


def render_video(video: MiniVideo) -> None:
    """Encode the planned video and write its manifest beside it (`<path>.json`)."""

    def frames():
        for i in range(int(video.duration * FPS)):
            t = i / FPS
            scene = video.scenes[min(int(t // SCENE_SECONDS), SCENES - 1)]
            flash = scene.flash_start <= t < scene.flash_end
            yield colour_frame(scene.flash_colour if flash else scene.colour)

    encode_video(video.path, frames())
    Path(str(video.path) + ".json").write_text(json.dumps(video.to_json(), indent=1))


def items_of(video: MiniVideo, seed: int) -> list[MiniItem]:
    """The video's one question: the coloured scene's flash (the asked colour names the scene)."""
    rng = random.Random(seed + 7)
    return [
        MiniItem(
            id=f"{video.video_id}-q{s.index}",
            video_id=video.video_id,
            path=video.path,
            question=rng.choice(QUESTION_TEMPLATES).format(colour=s.colour),
            answer=s.flash_colour,
            colour=s.colour,
            start=s.start,
            end=s.end,
            duration=video.duration,
        )
        for s in video.scenes
        if s.colour in SCENE_COLOURS
    ]


def make_split(root: str | Path, split: str, videos: int) -> list[MiniItem]:
    """Build (or reuse) `videos` videos of a split under `root/<split>/` and return their items."""
    base = SPLIT_SEEDS[split]
    items: list[MiniItem] = []
    for i in range(videos):
        seed = base + i
        vid = f"{split}{i:04d}"
        path = Path(root) / split / f"{vid}.mp4"
        video = plan_video(seed, vid, str(path.resolve()))
        meta = Path(str(path) + ".json")
        if not (path.exists() and meta.exists() and MiniVideo.load(meta) == video):
            render_video(video)
        items.extend(items_of(video, seed))
    return items


@functools.lru_cache(maxsize=256)
def _template(name: str, w: int, h: int) -> np.ndarray:
    """A colour's textured frame resized to w x h (cached: the teachers read thousands of frames of one size)."""
    from PIL import Image

    tpl = np.asarray(Image.fromarray(colour_frame(name)).resize((w, h), Image.BICUBIC), dtype=np.float32)
    tpl.setflags(write=False)  # shared by every caller
    return tpl


def nearest_colour(frame) -> str:
    """The palette colour whose textured frame is closest to `frame` (H x W x 3, any size): template matching."""
    arr = np.asarray(frame, dtype=np.float32)
    h, w = arr.shape[:2]
    best, name = None, ""
    for n in PALETTE:
        d = float(((arr - _template(n, w, h)) ** 2).mean())
        if best is None or d < best:
            best, name = d, n
    return name
