"""Where things are in a v2 video, in frame indices: scene boundaries, the skim's frames, each scene's blinks.

A v2 video has N scenes of unequal length. K of them (3 or 4) are salient, each in its own bright colour
(v1's SCENE_COLOURS); the rest are dull (PLAIN_COLOURS). Every scene blinks: in each gap between two consecutive
skim frames inside the scene, the middle half of the gap shows the scene's blink colour (FLASH_COLOURS; the
salient scenes' blink colours are all different). So:

- the skim (fixed budget: one frame per 4 s, 16-64 frames) shows every scene at least twice and never a blink;
- a crop of the asked scene (the exact scene, or the teacher's window from the skim frame before it to the skim
  frame after it) shows that scene's blink at least twice and no other scene's blink (no blinks near cuts);
- a crop of another salient scene shows a different colour: answering needs the right scene, hence the question.

Why blinks in every gap, not one flash per scene (v1): with scenes of 12-200 s and one crop budget, a single
flash that hides between skim frames (< 4-8 s) is missed by a crop of a long scene (16 frames over 200 s);
repeating it in every gap keeps a whole-scene crop sure to catch it at any scene length.
Everything is checked here, on the frame indices the real sampler picks (`core.video.plan_window`), before a
video is rendered; the tests decode rendered videos and check the same on real frames.
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass, field

from longvt_plugins.core.budget import CropBudget, FrameBudget
from longvt_plugins.miniature.task import FLASH_COLOURS, FRAME_PIXELS, PLAIN_COLOURS, SCENE_COLOURS

FPS = 1  # one frame per second: cheap to encode and decode, and every timestamp is a whole second
SALIENT_COUNTS = (3, 4)  # salient scenes per video: a question-blind crop is right 1/3 or 1/4 of the time
SCENE_WEIGHTS = (1.0, 2.5)  # scene lengths are drawn proportional to U(1, 2.5): unequal, at most 2.5x apart
MIN_SKIM_PER_SCENE = 2  # every scene is seen by at least two skim frames (so it has a gap with a blink)
MIN_BLINK_HITS = 2  # a crop of the scene shows its blink at least twice


def skim_budget() -> FrameBudget:
    """One frame per 4 s, 16 to 64 frames (so 16-64 skim frames over 64-512 s), each one visual token."""
    return FrameBudget(
        fps=0.25, min_frames=16, max_frames=64, min_pixels=FRAME_PIXELS, max_pixels=FRAME_PIXELS
    )


def crop_budget() -> CropBudget:
    """Up to one frame per second, 4 to 16 frames: dense enough to catch a blink in a crop of any scene."""
    return CropBudget(fps=1.0, min_frames=4, max_frames=16, min_pixels=FRAME_PIXELS, max_pixels=FRAME_PIXELS,
                      max_calls=2)  # fmt: skip


def agent_budgets():
    """AgentBudgets of every v2 run (teacher traces, evaluation, baselines). A counterfactual's first turn lists
    all 64 skim entries; a crop's answer lists 16 crop frames."""
    from longvt_plugins.core.agent import AgentBudgets

    return AgentBudgets(skim=skim_budget(), crop=crop_budget(), max_turns=3, max_new_tokens=768,
                        max_total_tokens=2048)  # fmt: skip


def frame_indices(duration: int, start: float | None, end: float | None, budget: FrameBudget) -> list[int]:
    """The frames the real sampler decodes for a window of a planned video (qwen_vl_utils' rules)."""
    from longvt_plugins.core.video import VideoInfo, plan_window

    info = VideoInfo("planned", float(duration), float(FPS), duration * FPS, 56, 56, "h264")
    idx, _ = plan_window(info, start, end, fps=budget.fps, min_frames=budget.min_frames,
                         max_frames=budget.max_frames)  # fmt: skip
    return idx


def skim_indices(duration: int) -> list[int]:
    return frame_indices(duration, None, None, skim_budget())


def max_scenes(duration: int, skim_per_scene: int) -> int:
    """The most scenes a duration takes with `skim_per_scene` skim frames per scene on average."""
    return len(skim_indices(duration)) // skim_per_scene


@dataclass
class SceneV2:
    index: int
    start: int  # seconds (= frame index at 1 fps), end exclusive
    end: int
    colour: str
    blink_colour: str
    blinks: list[int] = field(default_factory=list)  # frame indices that show the blink colour
    salient: bool = False


@dataclass
class VideoV2:
    video_id: str
    path: str
    duration: int
    seed: int
    scenes: list[SceneV2] = field(default_factory=list)

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, d: dict) -> VideoV2:
        return cls(**{**d, "scenes": [SceneV2(**s) for s in d["scenes"]]})

    def colour_at(self, frame: int) -> str:
        scene = next(s for s in self.scenes if s.start <= frame < s.end)
        return scene.blink_colour if frame in scene.blinks else scene.colour


def _lengths(n: int, duration: int, rng: random.Random) -> list[int]:
    """n whole-second lengths summing to duration, proportional to drawn weights (largest remainders)."""
    w = [rng.uniform(*SCENE_WEIGHTS) for _ in range(n)]
    exact = [duration * x / sum(w) for x in w]
    out = [int(x) for x in exact]
    for i in sorted(range(n), key=lambda i: exact[i] - out[i], reverse=True)[: duration - sum(out)]:
        out[i] += 1
    return out


def _blinks(start: int, end: int, skim: list[int]) -> list[int]:
    """The middle half of every gap between consecutive skim frames inside [start, end)."""
    inside = [i for i in skim if start <= i < end]
    out = []
    for a, b in zip(inside, inside[1:], strict=False):
        gap = b - a - 1
        if gap < 1:
            continue
        run = (gap + 1) // 2
        first = a + 1 + (gap - run) // 2
        out.extend(range(first, first + run))
    return out


def bracket(scene: SceneV2, skim: list[int], duration: int) -> tuple[int, int]:
    """The teacher's crop: from the last skim frame before the scene to the first after it (0 / the end when
    there is none). It always holds the whole scene, and it is two timestamps the skim listing already names."""
    before = [i for i in skim if i < scene.start]
    after = [i for i in skim if i >= scene.end]
    return (before[-1] // FPS if before else 0, after[0] // FPS if after else duration)


def check(video: VideoV2) -> str | None:
    """Why the planned video breaks a promise of the family (None: it keeps them all)."""
    skim = skim_indices(video.duration)
    blink_of = {f: s.index for s in video.scenes for f in s.blinks}
    if set(skim) & set(blink_of):
        return "a skim frame shows a blink"
    for s in video.scenes:
        if sum(s.start <= i < s.end for i in skim) < MIN_SKIM_PER_SCENE or not s.blinks:
            return f"scene {s.index} has fewer than {MIN_SKIM_PER_SCENE} skim frames or no blink"
        for window in (bracket(s, skim, video.duration), (s.start, s.end)):
            seen = frame_indices(video.duration, float(window[0]), float(window[1]), crop_budget())
            hits = [blink_of[f] for f in seen if f in blink_of]
            if hits.count(s.index) < MIN_BLINK_HITS or set(hits) != {s.index}:
                return f"scene {s.index}: a crop of {window} sees blinks {hits}"
    return None


def plan_layout(
    seed: int, video_id: str, path: str, scenes: int, duration: int, *, attempts: int = 200
) -> VideoV2:
    """A video of `scenes` scenes over `duration` seconds that keeps every promise of `check` (redrawn until it
    does; the same seed always gives the same video)."""
    rng = random.Random(seed)
    skim = skim_indices(duration)
    for _ in range(attempts):
        bounds = [0]
        for n in _lengths(scenes, duration, rng):
            bounds.append(bounds[-1] + n)
        salient = sorted(rng.sample(range(scenes), min(rng.choice(SALIENT_COUNTS), scenes)))
        bright = iter(rng.sample(list(SCENE_COLOURS), len(salient)))
        blink = iter(rng.sample(list(FLASH_COLOURS), len(salient)))
        out = []
        for k in range(scenes):
            a, b = bounds[k], bounds[k + 1]
            is_salient = k in salient
            colour = next(bright) if is_salient else rng.choice(list(PLAIN_COLOURS))
            blink_colour = next(blink) if is_salient else rng.choice(list(FLASH_COLOURS))
            out.append(SceneV2(k, a, b, colour, blink_colour, _blinks(a, b, skim), is_salient))
        video = VideoV2(video_id, path, duration, seed, out)
        if check(video) is None:
            return video
    raise RuntimeError(
        f"no layout of {scenes} scenes in {duration} s keeps the family's promises (seed {seed})"
    )
