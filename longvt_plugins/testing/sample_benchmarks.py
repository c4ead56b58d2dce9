"""A tiny local copy of all four benchmarks, in each one's own schema and folder layout, from synthetic videos.

It lets the real tasks run end to end without downloading anything (tests, benchmarks, a first try of
`longvt eval run`): every question names a time window ("between 10s and 20s") and its answer is what the
synthetic video shows there, so a scripted server that crops the named window and reads the truth can answer.

    sample = write_sample_benchmarks(tmp)
    longvt eval run --tasks longvtp_tool --videos {sample.video_root} \
        --data videosiah={sample.data['longvtp_videosiah']} ...
"""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class SampleBenchmarks:
    video_root: Path  # what LONGVT_EVAL_VIDEO_ROOT must point at
    data: dict[str, Path]  # benchmark folder -> the --data path for it
    answers: dict[str, str] = field(default_factory=dict)  # question -> what the video really shows there
    video: Path | None = None


def _jsonl(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def write_sample_benchmarks(root: str | Path, *, duration: float = 30.0) -> SampleBenchmarks:
    """Write the videos (in each benchmark's layout) and annotations under `root`; returns where they are."""
    from longvt_plugins.testing.videos import make_synthetic_video

    root = Path(root)
    videos = root / "videos"
    third = duration / 3
    manifest = make_synthetic_video(
        root / "source.mp4", duration=duration, fps=4.0, scene_lengths=[third] * 3
    )
    scenes = manifest.scenes
    windows = [(s.start, s.end) for s in scenes]

    def window_text(i: int) -> str:
        a, b = windows[i]
        return f"between {a:.0f}s and {b:.0f}s"

    def place(relative: str) -> str:
        target = videos / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(manifest.path, target)
        return relative

    answers: dict[str, str] = {}
    colours = [s.colour for s in scenes]

    def mcq(i: int, stem: str) -> tuple[str, list[str], str]:
        question = f"{stem} {window_text(i)}?"
        answers[question] = colours[i]
        return question, list(colours), "ABC"[i]

    data: dict[str, Path] = {}
    # VideoSIAH-Eval: open-ended, absolute video paths (as a local copy would have after download).
    siah = []
    for i in (1, 2):
        question = f"What shape and colour is shown {window_text(i)}?"
        answers[question] = scenes[i].label
        siah.append(
            {
                "video_path": str((videos / place(f"longvt_benchmark/siah_{i}.mp4")).resolve()),
                "question": question,
                "answer": scenes[i].label,
            }
        )
    data["longvtp_videosiah"] = _jsonl(root / "videosiah.jsonl", siah)

    # Video-MME: videoID -> videomme/data/<id>.mp4 and videomme/subtitle/<id>.srt; options "A. text".
    mme = []
    for i in (0, 2):
        vid = f"mme{i}"
        place(f"videomme/data/{vid}.mp4")
        srt = videos / "videomme" / "subtitle" / f"{vid}.srt"
        srt.parent.mkdir(parents=True, exist_ok=True)
        srt.write_text(
            '1\n00:00:01,000 --> 00:00:04,000\n<font color="white">Welcome to the shapes show.</font>\n\n'
            f"2\n00:00:{int(windows[2][0]):02d},000 --> 00:00:{int(windows[2][0]) + 3:02d},000\nThe last scene.\n"
        )
        question, options, letter = mcq(i, "Which colour is the shape")
        mme.append(
            {
                "videoID": vid,
                "question": question,
                "options": [f"{'ABC'[k]}. {o}" for k, o in enumerate(options)],
                "answer": letter,
                "duration": "short",
                "task_type": "Object Recognition",
            }
        )
    data["longvtp_videomme"] = _jsonl(root / "videomme.jsonl", mme)

    # LVBench: relative video_path under lvbench/, options inline in the question.
    lvb = []
    for i in (1,):
        question, options, letter = mcq(i, "Which colour is the shape")
        inline = "\n".join(f"({'ABC'[k]}) {o}" for k, o in enumerate(options))
        place(f"lvbench/lv_{i}.mp4")
        lvb.append({"video_path": f"lv_{i}.mp4", "question": f"{question}\n{inline}", "answer": letter})
    data["longvtp_lvbench"] = _jsonl(root / "lvbench.jsonl", lvb)

    # VideoMMMU: one file per subset; ids name the subject, which names the discipline folder.
    mmmu_dir = root / "videommmu"
    for subset in ("adaptation", "comprehension", "perception"):
        vid_id = f"validation_Art_Theory_{subset}"
        place(f"video_mmmu/Art/{vid_id}.mp4")
        question, options, letter = mcq(2, "Which colour is the shape")
        rows = [
            {
                "id": vid_id,
                "question": question,
                "options": options,
                "answer": letter,
                "question_type": "multiple-choice",
            }
        ]
        if subset == "adaptation":
            open_q = f"What shape is shown {window_text(0)}?"
            answers[open_q] = scenes[0].shape
            rows.append(
                {
                    "id": vid_id,
                    "question": open_q,
                    "options": [],
                    "answer": scenes[0].shape,
                    "question_type": "open",
                }
            )
        _jsonl(mmmu_dir / f"{subset}.jsonl", rows)
    data["longvtp_videommmu"] = mmmu_dir
    return SampleBenchmarks(video_root=videos, data=data, answers=answers, video=Path(manifest.path))


# ------------------------------------------------------------------------------------------ scripted server
_WINDOW = re.compile(r"between (\d+(?:\.\d+)?)s and (\d+(?:\.\d+)?)s")


def _texts(message: dict) -> list[str]:
    content = message.get("content")
    if isinstance(content, str):
        return [content]
    return [p.get("text", "") for p in content or [] if p.get("type") == "text"]


def _images(message: dict) -> list[str]:
    content = message.get("content")
    if not isinstance(content, list):
        return []
    return [p["image_url"]["url"] for p in content if p.get("type") == "image_url"]


def shape_colour(data_url: str) -> str:
    """The name of the coloured shape's colour in one frame (synthetic videos: saturated shape on grey)."""
    import base64
    import io

    import numpy as np
    from PIL import Image

    from longvt_plugins.testing.videos import _COLOURS

    raw = base64.b64decode(data_url.split(",", 1)[1])
    pixels = np.asarray(Image.open(io.BytesIO(raw)).convert("RGB")).reshape(-1, 3).astype(float)
    saturated = pixels[(pixels.max(axis=1) - pixels.min(axis=1)) > 80]
    if len(saturated) == 0:
        return "none"
    mean = saturated.mean(axis=0)
    return min(_COLOURS, key=lambda c: float(((np.array(c[1]) - mean) ** 2).sum()))[0]


def window_reader_policy(body: dict) -> dict | str:
    """A stand-in for a vLLM server with `--tool-call-parser hermes` serving a LongVT policy, for tests and
    benchmarks: it calls crop_video on the window the question names, then reads the shape's colour in the
    frames the tool sent back and answers with it (the option letter for multiple choice). It answers what the
    video really shows only if the tool really cropped that window of that video.
    """
    messages = body.get("messages", [])
    question = "\n".join(t for m in messages if m.get("role") == "user" for t in _texts(m))
    tool_messages = [m for m in messages if m.get("role") == "tool"]
    window = _WINDOW.search(question)
    if not tool_messages and body.get("tools") and window:
        start, end = float(window.group(1)), float(window.group(2))
        arguments: dict = {"start_time": start, "end_time": end}
        path = re.search(r"has video path: (.+)", question)
        if path and "video_path" in str(
            body["tools"]
        ):  # upstream's schema: copy the path, as LongVT's policy does
            arguments = {"video_path": path.group(1).strip(), **arguments}
        return {
            "content": f"<think>The question is about {start:.0f}s-{end:.0f}s; I need a closer look.</think>",
            "tool_calls": [{"function": {"name": "crop_video", "arguments": arguments}}],
        }
    frames: list[str] = []
    if tool_messages:
        # The frames of the last crop: in the tool message, or in the user message right after it.
        last = messages.index(tool_messages[-1])
        for m in messages[last:]:
            frames.extend(_images(m))
    colour = shape_colour(frames[len(frames) // 2]) if frames else "unknown"
    answer = colour
    letters = re.findall(r"^\(?([A-J])[.)]\s*(\w+)", question, re.MULTILINE)
    for letter, option in letters:
        if option == colour:
            answer = letter
    return f"<think>The frames of that window show a {colour} shape.</think><answer>{answer}</answer>"
