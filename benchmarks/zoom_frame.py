"""Benchmark: one zoom_frame call against the bare decoder fetching that one frame at full resolution.

(z) ours     - `ZoomFrameTool.execute` in-process (reader pool warm, as in a rollout that zooms into the same video
               again): argument checks, the nearest frame from the pooled native-size reader, the region cut,
               resized into the `ZoomBudget` (PIL bicubic) and labelled.
(d) baseline - the project's own reader (`core.decoders.open_reader`, decord, opened once at the native size)
               fetching the same frame index: the decode the zoom cannot avoid.

Each call asks for a random moment and a random box (10-60% of each side), like a model zooming into what the skim
showed; (z) and (d) fetch the same frame one after the other (which goes first alternates), so bursts of load from other jobs hit both alike.
Reports medians and the ratio (z)/(d) (issue 27's target: <= 1.3x); writes benchmarks/results/zoom_frame.md.

    python benchmarks/zoom_frame.py            # 2-minute 1280x720 H.264 video, keyframe every 2 s, 200 calls
    python benchmarks/zoom_frame.py --quick    # 60 calls
The video is encoded once and cached under benchmarks/.cache/.
"""

import argparse
import os
import platform
import random
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from crop_tool import CACHE, make_video  # noqa: E402 - the same synthetic 720p video as the crop benchmark

RESULTS = HERE / "results" / "zoom_frame.md"
MINUTES, FPS, GOP = (
    2,
    25,
    50,
)  # a keyframe every 2 s: a web-video-like GOP, so a random frame costs a real seek


def calls_for(duration: float, count: int, seed: int = 0) -> list[dict]:
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        w, h = rng.uniform(100, 600), rng.uniform(100, 600)
        x1, y1 = rng.uniform(0, 1000 - w), rng.uniform(0, 1000 - h)
        box = [round(x1, 1), round(y1, 1), round(x1 + w, 1), round(y1 + h, 1)]
        out.append({"time": round(rng.uniform(0, duration - 0.1), 2), "bbox": box})
    return out


def run(args) -> dict:
    os.environ.setdefault("FORCE_QWENVL_VIDEO_READER", "decord")
    from longvt_plugins.core.budget import ZoomBudget
    from longvt_plugins.core.decoders import open_reader
    from longvt_plugins.core.tools.zoom_frame import ZoomFrameTool
    from longvt_plugins.core.video import probe

    video = CACHE / f"zoom_bench_{MINUTES}min_720p{FPS}_gop{GOP}.mp4"
    if not video.exists():
        print(f"encoding {video.name} (once; cached) ...", flush=True)
        make_video(video, MINUTES, fps=FPS, gop=GOP)
    info = probe(video, backend="decord")
    tool = ZoomFrameTool(video, ZoomBudget(max_calls=10**9, backend="decord"))
    reader = open_reader("decord", str(video))
    calls = calls_for(info.duration, 60 if args.quick else args.calls)

    def ours(call):
        res = tool.execute(call)
        assert res.ok, res.text
        return res

    def bare(index):
        frame = reader.get_frames([index])[0]
        assert frame.shape == (info.height, info.width, 3)
        return frame

    for call in calls[:3]:  # warm-up: imports, the pooled reader, the page cache
        ours(call)
        bare(round(call["time"] * info.fps))
    tz, td, sizes = [], [], set()
    for k, call in enumerate(calls):
        index = min(round(call["time"] * info.fps), info.num_frames - 1)  # the frame the zoom decodes
        # Which of the two goes first alternates, so neither always finds the other's file pages cached.
        for side in ("z", "d") if k % 2 == 0 else ("d", "z"):
            t0 = time.perf_counter()
            if side == "z":
                res = ours(call)
                tz.append(time.perf_counter() - t0)
            else:
                bare(index)
                td.append(time.perf_counter() - t0)
        assert res.indices == [index], (res.indices, index)
        sizes.add(res.size)
    return dict(video=video, info=info, tz=tz, td=td, sizes=sizes, load=os.getloadavg(), args=args)


def write_results(r: dict) -> str:
    info, tz, td = r["info"], r["tz"], r["td"]
    mz, md = statistics.median(tz), statistics.median(td)
    per_call = statistics.median(z / d for z, d in zip(tz, td, strict=True))
    p90 = lambda xs: sorted(xs)[int(0.9 * len(xs))]  # noqa: E731
    cmd = "python benchmarks/zoom_frame.py" + (" --quick" if r["args"].quick else f" --calls {len(tz)}")
    lines = [
        "# zoom_frame benchmark",
        "",
        f"Command: `{cmd}`. Machine: {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}; load average during the run {r['load'][0]:.2f} / {r['load'][1]:.2f} / "
        f"{r['load'][2]:.2f} (1/5/15 min; cores shared with other jobs).",
        f"Video: {info.width}x{info.height} {info.codec}, {info.fps:g} fps, {info.duration:.0f} s, keyframe every "
        f"{GOP / FPS:g} s, synthetic (textured background, moving block, burnt-in clock). Decoder: decord.",
        f"{len(tz)} calls at random moments, random boxes 10-60% of each side; output sizes "
        f"{len(r['sizes'])} distinct, e.g. {sorted(r['sizes'])[0]}.",
        "",
        "| what | median | p90 |",
        "|---|---|---|",
        f"| (z) `ZoomFrameTool.execute` (warm reader pool) | {mz * 1e3:.1f} ms | {p90(tz) * 1e3:.1f} ms |",
        f"| (d) project reader (`open_reader('decord')`), that one frame at full resolution | {md * 1e3:.1f} ms "
        f"| {p90(td) * 1e3:.1f} ms |",
        f"| **(z)/(d)** (target <= 1.3x) | **{mz / md:.2f}x** | |",
        f"| median of per-call ratios | {per_call:.2f}x | |",
        "",
        f"Target <= 1.3x: **{'met' if mz / md <= 1.3 else 'NOT met'}**. (z) - (d) is the tool's own work: argument "
        "checks, the region cut and its bicubic resize, the label.",
    ]
    text = "\n".join(lines) + "\n"
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(text)
    return text


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="60 calls")
    p.add_argument("--calls", type=int, default=200)
    print(write_results(run(p.parse_args())))


if __name__ == "__main__":
    sys.path.insert(0, str(HERE.parent))
    main()
