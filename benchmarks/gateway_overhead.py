"""What the gateway costs: added latency, the stack's memory, and start-up time.

Starts a private lab (binaries cached), then sends one request mix at a fixed
rate, each arrival alternating between llama-server directly and the gateway,
so both paths see the same machine load (interleaved in one run, as these
machines are noisy). Prints p50/p99 per path and the gateway's added latency,
the resident memory of the whole local stack, and the time `up` took.

    python benchmarks/gateway_overhead.py [--rate 20] [--duration 30]

Targets (issue 2): added p50 <= 1 ms and p99 <= 5 ms at 20 req/s with the tiny
model; stack RSS < 600 MB; `up` to all healthy < 10 s.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
import psutil

from labkit.config import LabConfig
from labkit.runtime.local import LocalRuntime

BODY = {"model": "labkit-tiny", "max_tokens": 8,
        "messages": [{"role": "user", "content": "Say something about observability."}]}


async def run_mix(direct: str, gateway: str, rate: float, duration: float,
                  seed: int) -> dict[str, list[float]]:
    rng = np.random.default_rng(seed)
    offsets = np.cumsum(rng.exponential(1 / rate, int(rate * duration * 1.2)))
    offsets = offsets[offsets < duration]
    results: dict[str, list[float]] = {"direct": [], "gateway": []}
    async with httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_connections=64)) as client:
        # Warm both paths (connection pools, llama-server's first-request slowness).
        for url in (direct, gateway):
            for _ in range(5):
                await client.post(url + "/v1/chat/completions", json=BODY)
        t0 = time.perf_counter()

        async def one(i: int, offset: float) -> None:
            await asyncio.sleep(max(0.0, t0 + offset - time.perf_counter()))
            path = "direct" if i % 2 == 0 else "gateway"
            url = direct if path == "direct" else gateway
            start = time.perf_counter()
            r = await client.post(url + "/v1/chat/completions", json=BODY)
            if r.status_code == 200:
                results[path].append(time.perf_counter() - start)

        await asyncio.gather(*(one(i, o) for i, o in enumerate(offsets)))
    return results


def stack_rss_mb(runtime: LocalRuntime) -> float:
    total = 0
    for row in runtime.status():
        if row.pid is None:
            continue
        proc = psutil.Process(row.pid)
        for p in [proc, *proc.children(recursive=True)]:
            try:
                total += p.memory_info().rss
            except psutil.Error:
                pass
    return total / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=20.0)
    parser.add_argument("--duration", type=float, default=30.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--port-offset", type=int, default=14000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        runtime = LocalRuntime(LabConfig(run_dir=Path(tmp), port_offset=args.port_offset))
        t0 = time.perf_counter()
        state = runtime.up(progress=lambda _: None)
        up_s = time.perf_counter() - t0
        try:
            time.sleep(2)  # let every service settle before measuring memory
            rss = stack_rss_mb(runtime)
            urls = state.urls()
            res = asyncio.run(run_mix(urls["llama-server"], urls["gateway"], args.rate,
                                      args.duration, args.seed))
        finally:
            runtime.down(progress=lambda _: None)
    print(f"labkit up (binaries cached) to all healthy: {up_s:.2f} s   (target < 10 s)")
    print(f"resident memory of the whole local stack:  {rss:.0f} MB   (target < 600 MB)")
    print(f"\nrequest mix at {args.rate:g} req/s for {args.duration:g} s, interleaved:")
    print(f"{'path':<10}{'n':>6}{'p50 ms':>10}{'p99 ms':>10}")
    q = {}
    for path, values in res.items():
        arr = np.array(values) * 1000
        q[path] = (np.percentile(arr, 50), np.percentile(arr, 99))
        print(f"{path:<10}{len(arr):>6}{q[path][0]:>10.2f}{q[path][1]:>10.2f}")
    print(f"\ngateway adds: p50 {q['gateway'][0] - q['direct'][0]:+.2f} ms (target <= 1 ms), "
          f"p99 {q['gateway'][1] - q['direct'][1]:+.2f} ms (target <= 5 ms)")


if __name__ == "__main__":
    main()
