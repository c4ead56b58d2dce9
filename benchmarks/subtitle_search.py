"""Benchmark: search_subtitles on a generated 3-hour SRT transcript.

(a) index build - `core.transcript.load_index` from a cold cache: open + read + parse (the `srt` library) + word index;
(b) reading the same file with the standard SRT parser alone (`srt.parse`, open + read included);
(b') the same file read by webvtt-py's SRT reader (the library we use for WebVTT), for context;
(q) 1,000 queries (1-3 words, a third with a time range) through `SearchSubtitlesTool.execute` - argument checks,
    search and the rendered text - and through `TranscriptIndex.search` alone.

Reports medians and the ratio (a)/(b) (issue 27's target: <= 1x) and the median query time (target: <= 5 ms);
writes them to benchmarks/results/subtitle_search.md.

    python benchmarks/subtitle_search.py            # 3 hours, 15 builds, 1,000 queries
    python benchmarks/subtitle_search.py --quick    # 30 minutes, 5 builds, 200 queries
"""

import argparse
import os
import platform
import random
import statistics
import tempfile
import time
from pathlib import Path

import srt
import webvtt

from longvt_plugins.core import transcript
from longvt_plugins.core.tools.search_subtitles import SearchSubtitlesTool

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "subtitle_search.md"
WORDS = (
    "the a and of to in is that it was for on are with as his they be at one have this from or had by word but "
    "what some we can out other were all there when up use your how said an each she which do their time if "
    "will way about many then them write would like so these her long make thing see him two has look more day "
    "could go come did number sound no most people my over know water than call first who may down side been now "
    "find river castle king queen bridge mountain yellow square circle red blue green engine station market"
).split()


def stamp(t: float) -> str:
    ms = int(round(t * 1000))
    h, rem = divmod(ms, 3_600_000)
    m, rem = divmod(rem, 60_000)
    s, ms = divmod(rem, 1000)
    return f"{h:02d}:{m:02d}:{s:02d},{ms:03d}"


def write_transcript(path: Path, seconds: float, seed: int = 0) -> int:
    """Speech-like cues: 1-4 s each, 4-14 words, short gaps; returns the number of cues."""
    rng = random.Random(seed)
    blocks, t = [], 0.0
    while t < seconds:
        d = rng.uniform(1.0, 4.0)
        text = " ".join(rng.choices(WORDS, k=rng.randint(4, 14)))
        if rng.random() < 0.3:  # some two-line cues
            cut = len(text) // 2
            text = text[:cut] + "\n" + text[cut:]
        blocks.append(f"{len(blocks) + 1}\n{stamp(t)} --> {stamp(t + d)}\n{text}\n")
        t += d + rng.uniform(0.0, 0.6)
    path.write_text("\n".join(blocks), encoding="utf-8")
    return len(blocks)


def median_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    hours, builds, queries = (0.5, 5, 200) if args.quick else (3.0, 15, 1000)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "transcript.srt"
        cues = write_transcript(path, hours * 3600)
        size = os.path.getsize(path)

        def build():
            transcript._CACHE.clear()
            return transcript.load_index(str(path))

        def read_srt():
            with open(path, encoding="utf-8") as fh:
                return list(srt.parse(fh.read()))

        def read_webvtt():
            return webvtt.from_srt(str(path)).captions

        for fn in (build, read_srt, read_webvtt):  # warm-up: imports, page cache
            fn()
        t_build = median_time(build, builds)
        t_srt = median_time(read_srt, builds)
        t_webvtt = median_time(read_webvtt, builds)
        index = build()

        rng = random.Random(1)
        calls = []
        for _ in range(queries):
            q = {"query": " ".join(rng.choices(WORDS, k=rng.randint(1, 3)))}
            if rng.random() < 1 / 3:
                a = rng.uniform(0, hours * 3600)
                q.update(start_time=round(a, 1), end_time=round(a + rng.uniform(10, 1800), 1))
            calls.append(q)
        tool = SearchSubtitlesTool(path, max_calls=10**9)
        per_call, per_search = [], []
        for q in calls:
            t0 = time.perf_counter()
            result = tool.execute(q)
            per_call.append(time.perf_counter() - t0)
            assert result.ok, result.text
            t0 = time.perf_counter()
            index.search(q["query"], q.get("start_time"), q.get("end_time"), 5)
            per_search.append(time.perf_counter() - t0)

    machine = f"{platform.machine()}, {os.cpu_count()} CPU(s), Python {platform.python_version()}"
    lines = [
        f"## search_subtitles ({hours:g}-hour transcript: {cues} cues, {size / 1e6:.2f} MB; {machine})",
        "",
        "| what | median |",
        "|---|---|",
        f"| (a) index build, cold (`load_index`: read + `srt.parse` + word index), {builds} runs | {t_build * 1e3:.1f} ms |",
        f"| (b) read the file with `srt.parse` alone | {t_srt * 1e3:.1f} ms |",
        f"| (b') read the file with webvtt-py's SRT reader | {t_webvtt * 1e3:.1f} ms |",
        f"| **(a)/(b)** (target <= 1x) | **{t_build / t_srt:.2f}x** |",
        f"| (a)/(b') | {t_build / t_webvtt:.2f}x |",
        f"| query through `SearchSubtitlesTool.execute` (median of {queries}; target <= 5 ms) | {statistics.median(per_call) * 1e3:.3f} ms |",
        f"| query, `TranscriptIndex.search` alone (median of {queries}) | {statistics.median(per_search) * 1e3:.3f} ms |",
        f"| query, 99th percentile through `execute` | {sorted(per_call)[int(0.99 * len(per_call))] * 1e3:.3f} ms |",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(text)


if __name__ == "__main__":
    main()
