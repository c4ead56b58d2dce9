"""Benchmark: crop_video throughput under RL concurrency, against the bare decoder on the same cores.

verl runs `agent.num_workers` agent-loop worker processes; each drives its trajectories as asyncio tasks and awaits
`CropVideoTool.execute`, which decodes in a thread (`asyncio.to_thread`). This script does the same with our verl
tool class: W worker processes, T concurrent trajectories spread over them, each trajectory making K crop calls at
windows like a model asks for (4 s to 2 min, 1 fps, <= 128 frames of <= 224x224 px). It reports crop calls per
second for each T, and the bare decoder's calls per second: one process per core, each with an open
`decord.VideoReader`, fetching exactly the frame indices of the same windows (no resize, no PIL, no tool).

    python benchmarks/crop_concurrency.py                      # T = 8, 32, 64; W = 8 (verl's default)
    python benchmarks/crop_concurrency.py --minutes 2 --calls 2 # quicker
Target (issue 14): at T = 64, >= 0.7x the decoder's throughput. Needs verl (the tool class) and decord.
Results: printed, and written as JSON with --json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import platform
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from crop_tool import CACHE, UPSTREAM, make_video, windows_for  # noqa: E402 - the same video and windows

TOOL_CONFIG = {"type": "native", **UPSTREAM, "max_calls": 10**9}


def _worker(video: str, jobs: list[list[tuple[float, float]]], start_at: float, out: mp.Queue) -> None:
    """One agent-loop-like process: every trajectory an asyncio task, every crop awaited like verl does."""
    os.environ.setdefault("FORCE_QWENVL_VIDEO_READER", "decord")
    from types import SimpleNamespace

    from longvt_plugins.verl.tool import CropVideoTool

    tool = CropVideoTool(TOOL_CONFIG)

    async def trajectory(windows):
        agent_data = SimpleNamespace(extra_fields={})
        done = errors = 0
        for start, end in windows:
            iid, _ = await tool.create(create_kwargs={"video_path": video})
            _, _, info = await tool.execute(
                iid, {"start_time": start, "end_time": end}, agent_data=agent_data
            )
            await tool.release(iid)
            done += 1
            errors += not info.get("ok")
        return done, errors

    async def main():
        # Warm this process's reader (verl's workers keep theirs across steps).
        iid, _ = await tool.create(create_kwargs={"video_path": video})
        await tool.execute(
            iid, {"start_time": 0.0, "end_time": 4.0}, agent_data=SimpleNamespace(extra_fields={})
        )
        while time.time() < start_at:
            await asyncio.sleep(0.005)
        t0 = time.perf_counter()
        results = await asyncio.gather(*(trajectory(w) for w in jobs))
        return time.perf_counter() - t0, sum(r[0] for r in results), sum(r[1] for r in results)

    out.put(asyncio.run(main()))


def _run_together(target, video: str, shares: list, delay: float) -> list:
    """One spawned process per share, all starting their timed work at the same moment; their results."""
    ctx = mp.get_context("spawn")
    out: mp.Queue = ctx.Queue()
    start_at = time.time() + delay
    procs = [ctx.Process(target=target, args=(video, share, start_at, out)) for share in shares]
    for p in procs:
        p.start()
    got = [out.get(timeout=1800) for _ in procs]
    for p in procs:
        p.join()
    return got


def tool_throughput(video: Path, trajectories: int, workers: int, calls: int, windows) -> dict:
    per_traj = [[windows[(t * calls + k) % len(windows)] for k in range(calls)] for t in range(trajectories)]
    workers = min(workers, trajectories)
    shares = [per_traj[w::workers] for w in range(workers)]
    # Every worker imports and warms up first, then all start together.
    got = _run_together(_worker, str(video), shares, delay=15.0)
    wall = max(g[0] for g in got)
    done, errors = sum(g[1] for g in got), sum(g[2] for g in got)
    return {"trajectories": trajectories, "workers": workers, "calls": done, "errors": errors, "wall_s": wall,
            "calls_per_s": done / wall}  # fmt: skip


def _decode(video: str, index_lists: list[list[int]], start_at: float, out: mp.Queue) -> None:
    import decord

    decord.bridge.set_bridge("native")
    vr = decord.VideoReader(video, num_threads=1)
    vr.get_batch([0]).asnumpy()
    while time.time() < start_at:
        time.sleep(0.005)
    t0 = time.perf_counter()
    for idx in index_lists:
        vr.get_batch(idx).asnumpy()
    out.put((time.perf_counter() - t0, len(index_lists)))


def decoder_throughput(video: Path, calls: int, windows, processes: int) -> dict:
    from longvt_plugins.core.video import plan_window, probe

    info = probe(video)
    budget = {k: UPSTREAM[k] for k in ("fps", "min_frames", "max_frames")}
    indices = [plan_window(info, s, e, **budget)[0] for s, e in windows]
    jobs = [indices[i % len(indices)] for i in range(calls)]
    got = _run_together(_decode, str(video), [jobs[p::processes] for p in range(processes)], delay=5.0)
    wall = max(g[0] for g in got)
    return {"processes": processes, "calls": calls, "wall_s": wall, "calls_per_s": calls / wall}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=5.0, help="length of the 720p H.264 test video")
    ap.add_argument("--trajectories", type=int, nargs="+", default=[8, 32, 64])
    ap.add_argument("--workers", type=int, default=8, help="agent-loop worker processes (verl's default: 8)")
    ap.add_argument("--calls", type=int, default=4, help="crop calls per trajectory")
    ap.add_argument("--json", type=Path, help="also write the results here")
    args = ap.parse_args()
    os.environ.setdefault("FORCE_QWENVL_VIDEO_READER", "decord")

    video = CACHE / f"crop_bench_{args.minutes:g}min_720p25_gop250.mp4"
    if not video.exists():
        t0 = time.perf_counter()
        make_video(video, args.minutes)
        print(f"encoded {video.name} in {time.perf_counter() - t0:.0f} s", flush=True)
    from longvt_plugins.core.video import probe

    windows = windows_for(probe(video).duration, 40)
    cores = os.cpu_count() or 1
    rows = []
    for t in args.trajectories:
        calls = t * args.calls
        dec = decoder_throughput(video, calls, windows, processes=cores)
        tool = tool_throughput(video, t, args.workers, args.calls, windows)
        ratio = tool["calls_per_s"] / dec["calls_per_s"]
        rows.append({"tool": tool, "decoder": dec, "ratio": ratio})
        print(
            f"T={t:3d}: tool {tool['calls_per_s']:6.2f} calls/s ({tool['calls']} calls, {tool['errors']} errors, "
            f"{tool['workers']} workers) | decoder {dec['calls_per_s']:6.2f} calls/s on {cores} processes "
            f"| ratio {ratio:.2f}",
            flush=True,
        )
    result = {"host": platform.node(), "cores": cores, "python": platform.python_version(), "video": video.name,
              "calls_per_trajectory": args.calls, "rows": rows}  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
