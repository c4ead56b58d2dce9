"""Judge throughput: our JudgeClient (concurrency 64) vs upstream's pattern (sequential synchronous calls).

A local OpenAI-compatible server on 127.0.0.1 answers every chat request after 200 ms. It runs in its own
process so its event loop does not share a GIL with the clients being measured. Measured in one run:

1. the server's ceiling: the same 512 requests from a bare aiohttp client at 64 in flight (no SDK, no parsing);
2. upstream's pattern: ``openai.OpenAI`` called synchronously, one request after another (on a subset: it is
   latency-bound, so its rate is exact after a few dozen calls);
3. ours, cold cache: ``JudgeClient.grade`` on 512 distinct samples at concurrency 64;
4. ours, warm cache: the same 512 again, which must send zero HTTP requests.

Targets (issue 4): ours >= 0.6 x the concurrency bound (64 / 0.2 s = 320/s, i.e. >= 190 scored/s), and zero
requests on the cached pass. Where the server's own ceiling is below the bound, ours is also reported against it.

    .venv/bin/python benchmarks/judge.py [--samples 512] [--sequential 48] [--label NAME] [--append] [--out FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import platform
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

DELAY = 0.2
CONCURRENCY = 64


def _grade_by_candidate(body: dict) -> str:
    # Deterministic verdict per sample, so the cached pass can be checked against the cold one.
    candidate = body["messages"][-1]["content"].rsplit("[Candidate]:", 1)[1]
    return ("1", "0.5", "0")[sum(map(ord, candidate)) % 3]


def _serve(queue: multiprocessing.Queue) -> None:
    from longvt_plugins.testing.openai_server import OpenAIStubServer

    server = OpenAIStubServer(_grade_by_candidate, model="bench-judge", delay=DELAY).start()
    queue.put(server.base_url)
    while True:
        time.sleep(3600)


def _stats(base_url: str) -> dict:
    with urllib.request.urlopen(base_url.removesuffix("/v1") + "/stub/stats", timeout=10) as response:
        return json.loads(response.read())


def _samples(n: int, salt: str) -> list[tuple[str, str, str]]:
    return [
        (f"What happens at minute {i}? ({salt})", f"the dog jumps {i % 7} times", "the dog jumps")
        for i in range(n)
    ]


async def _server_ceiling(base_url: str, n: int) -> float:
    import aiohttp

    body = {"model": "bench-judge", "messages": [{"role": "user", "content": "[Candidate]: x"}]}
    semaphore = asyncio.Semaphore(CONCURRENCY)
    connector = aiohttp.TCPConnector(limit=CONCURRENCY)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def one() -> None:
            async with semaphore, session.post(base_url + "/chat/completions", json=body) as response:
                await response.json()

        await one()  # connection warm-up, not timed
        started = time.perf_counter()
        await asyncio.gather(*[one() for _ in range(n)])
        return n / (time.perf_counter() - started)


def _sequential(base_url: str, samples: list[tuple[str, str, str]]) -> float:
    """Upstream's pattern: one synchronous client, one request at a time, parsing the reply itself."""
    import openai

    from longvt_plugins.core.judge import render_prompt

    client = openai.OpenAI(base_url=base_url, api_key="EMPTY")
    client.models.list()  # upstream also asked /models first (at import)
    started = time.perf_counter()
    for question, answer, truth in samples:
        prompt = render_prompt("judge_grade", question=question, answer=answer, ground_truth=truth)
        reply = client.chat.completions.create(
            model="bench-judge", messages=[{"role": "user", "content": prompt}], temperature=0.0
        )
        float(reply.choices[0].message.content)
    return len(samples) / (time.perf_counter() - started)


async def _ours(
    base_url: str, samples: list[tuple[str, str, str]], cache_path: str
) -> tuple[float, float, list]:
    from longvt_plugins.core.judge import JudgeClient, JudgeConfig

    judge = JudgeClient(
        JudgeConfig(base_url=base_url, concurrency=CONCURRENCY, timeout=30.0, cache_path=cache_path)
    )
    await judge.grade("warm-up", "x", "y")  # model discovery + connection, not timed
    started = time.perf_counter()
    cold = await asyncio.gather(*[judge.grade(*s) for s in samples])
    cold_rate = len(samples) / (time.perf_counter() - started)
    requests_before = _stats(base_url)["request_count"]
    started = time.perf_counter()
    warm = await asyncio.gather(*[judge.grade(*s) for s in samples])
    warm_rate = len(samples) / (time.perf_counter() - started)
    cached_requests = _stats(base_url)["request_count"] - requests_before
    assert not any(r.fallback for r in cold), [r.reason for r in cold if r.fallback][:3]
    assert all(r.cached for r in warm) and [r.score for r in warm] == [r.score for r in cold]
    await judge.aclose()
    return cold_rate, warm_rate, [cached_requests, judge.limiter.peak]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=512)
    parser.add_argument("--sequential", type=int, default=48, help="samples for the sequential baseline")
    parser.add_argument("--out", default=str(Path(__file__).resolve().parent / "results" / "judge.md"))
    parser.add_argument("--label", default="this machine", help="names the machine in the results heading")
    parser.add_argument("--append", action="store_true", help="add this run below the runs already in --out")
    args = parser.parse_args()

    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    server = ctx.Process(target=_serve, args=(queue,), daemon=True)
    server.start()
    base_url = queue.get(timeout=120)
    load_before = os.getloadavg()
    try:
        ceiling = asyncio.run(_server_ceiling(base_url, args.samples))
        sequential = _sequential(base_url, _samples(args.sequential, "seq"))
        with tempfile.TemporaryDirectory() as tmp:
            cold, warm, (cached_requests, peak) = asyncio.run(
                _ours(base_url, _samples(args.samples, "ours"), str(Path(tmp) / "judge.sqlite"))
            )
        server_peak = _stats(base_url)["max_in_flight"]
    finally:
        server.terminate()
        server.join(timeout=10)
    load_after = os.getloadavg()

    bound = CONCURRENCY / DELAY
    import openai

    header = [
        "## judge",
        "",
        f"`JudgeClient.grade` against a local OpenAI-compatible server (own process, 127.0.0.1) that answers after "
        f"{DELAY * 1000:.0f} ms. {args.samples} samples at concurrency {CONCURRENCY}; concurrency bound "
        f"{CONCURRENCY} / {DELAY} s = {bound:.0f}/s. Baseline: upstream's pattern, synchronous `openai` calls one "
        f"after another (measured on fewer samples: it is latency-bound). Target: ours >= 0.6 x bound (192/s), "
        f"or 0.6 x the server's own ceiling where that is lower; zero HTTP requests on the cached pass.",
        "",
        "With 64 requests in flight the limit is CPU, not the concurrency: the server, the bare client and ours all "
        "slow down together when other jobs share the CPUs, so compare rows of one run only.",
        "",
        "",
    ]
    target = 0.6 * min(bound, ceiling)
    lines = [
        f"### {args.label}",
        "",
        "| measurement | scored/s | ratio |",
        "|---|---:|---|",
        f"| server ceiling (bare aiohttp client, {CONCURRENCY} in flight) | {ceiling:.1f} | "
        f"{ceiling / bound:.2f} x bound |",
        f"| upstream pattern: sequential sync `openai` calls ({args.sequential} samples) | {sequential:.2f} | 1.00 |",
        f"| **ours, cold cache** | **{cold:.1f}** | **{cold / sequential:.1f} x sequential; {cold / bound:.2f} x "
        f"bound; {cold / ceiling:.2f} x server ceiling** |",
        f"| ours, cached pass | {warm:.0f} | {warm / sequential:.0f} x sequential |",
        "",
        f"- HTTP requests during the cached pass: **{cached_requests}** (target 0).",
        f"- Most requests open at once: {peak} in the client's limiter, {server_peak} seen by the server "
        f"(limit {CONCURRENCY}).",
        f"- Throughput target ({target:.0f}/s = 0.6 x {'bound' if bound <= ceiling else 'server ceiling'}): "
        f"{'met' if cold >= target else 'NOT met'} ({cold / min(bound, ceiling):.2f} x of the bound it is held to).",
        "",
        f"Command: `python benchmarks/judge.py --samples {args.samples} --sequential {args.sequential}`  ",
        f"Machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"openai {openai.__version__}; load average {load_before[0]:.1f} before / {load_after[0]:.1f} after "
        f"(above the CPU count means other jobs were competing for the CPUs).  ",
        f"Date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
        "",
    ]
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    previous = out.read_text().rstrip() + "\n\n" if args.append and out.exists() else "\n".join(header)
    out.write_text(previous + "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    sys.exit(main())
