"""What the gateway costs: added latency, the stack's memory, and start-up time.

Starts a private lab (binaries cached), then starts extra gateways beside the
lab's, all in front of the same llama-server and exporting to the same Jaeger:

- ``before``: the gateway as of ``--baseline`` (a git revision, checked out in a
  temporary worktree; default: the commit before issue 12's hardening);
- ``after``: this checkout's gateway, same arguments;
- ``after+manual``: with ``--manual-server-span`` (no FastAPI instrumentation on
  the chat route);
- ``after+manual+10%``: also sampling 10% of new traces (parent-based).

One request mix at a fixed total rate is spread round-robin over llama-server
directly and each gateway, so every path sees the same machine load (interleaved
in one run, as these machines are noisy). Prints p50/p99 per path and what each
gateway adds over the direct path, the resident memory of the lab's stack, and
the time `up` took.

    python benchmarks/gateway_overhead.py [--rate 20] [--duration 60] [--baseline REV]
    python benchmarks/gateway_overhead.py --fake-upstream   # the gateways alone, no model

With the real model, a machine whose CPUs are busy with other work cannot serve even
5 req/s and every path queues for minutes: then only ``--fake-upstream`` isolates
what the gateway itself adds.

Targets (issue 2): added p50 <= 1 ms and p99 <= 5 ms at 20 req/s with the tiny
model; stack RSS < 600 MB; `up` to all healthy < 10 s. Issue 12 measured +3.8 ms
(p50) and +24 ms (p99) before its changes.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
import psutil

from labkit.config import LabConfig
from labkit.runtime.local import LocalRuntime
from labkit.runtime.process import ServiceProcess, wait_healthy

BODY = {"model": "labkit-tiny", "max_tokens": 8,
        "messages": [{"role": "user", "content": "Say something about observability."}]}


BASELINE = "b534c2b"  # main just before issue 12 (hardening) landed
REPO = Path(__file__).resolve().parents[1]


async def run_mix(paths: dict[str, str], rate: float, duration: float,
                  seed: int) -> dict[str, list[float]]:
    """Send a Poisson mix at ``rate`` req/s, round-robin over ``paths`` (name -> base URL)."""
    rng = np.random.default_rng(seed)
    offsets = np.cumsum(rng.exponential(1 / rate, int(rate * duration * 1.2)))
    offsets = offsets[offsets < duration]
    names = list(paths)
    results: dict[str, list[float]] = {name: [] for name in names}
    failures = dict.fromkeys(names, 0)
    async with httpx.AsyncClient(timeout=120,
                                 limits=httpx.Limits(max_connections=512)) as client:
        # Warm every path (connection pools, llama-server's first-request slowness).
        for url in paths.values():
            for _ in range(5):
                await client.post(url + "/v1/chat/completions", json=BODY)
        t0 = time.perf_counter()

        async def one(i: int, offset: float) -> None:
            await asyncio.sleep(max(0.0, t0 + offset - time.perf_counter()))
            path = names[i % len(names)]
            url = paths[path]
            start = time.perf_counter()
            try:
                r = await client.post(url + "/v1/chat/completions", json=BODY)
            except httpx.HTTPError:
                failures[path] += 1  # an overloaded machine: counted, not fatal
                return
            if r.status_code == 200:
                results[path].append(time.perf_counter() - start)
            else:
                failures[path] += 1

        await asyncio.gather(*(one(i, o) for i, o in enumerate(offsets)))
    if any(failures.values()):
        print(f"failed requests per path (machine overloaded?): {failures}")
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


def start_gateways(tmp: Path, urls: dict[str, str], slots: int, first_port: int,
                   baseline: str) -> tuple[dict[str, str], list[ServiceProcess]]:
    """The extra gateways (see the module docstring); name -> base URL, and their processes."""
    old = tmp / "baseline"
    subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", str(old), baseline],
                   check=True, capture_output=True)
    variants = [("before", old, []), ("after", REPO, []),
                ("after+manual", REPO, ["--manual-server-span"]),
                ("after+manual+10%", REPO, ["--manual-server-span",
                                            "--trace-sample-ratio", "0.1"])]
    paths, procs = {}, []
    for i, (name, source, extra) in enumerate(variants):
        port = first_port + i
        argv = [sys.executable, "-m", "labkit.gateway", "--host", "127.0.0.1",
                "--port", str(port), "--upstream", urls["llama-server"],
                "--model-name", "labkit-tiny", "--max-concurrency", str(slots),
                "--log-file", str(tmp / f"gw{i}.log"), "--usage-db", f"sqlite:///{tmp}/gw{i}.db",
                *(["--otlp-endpoint", urls["jaeger.otlp"]] if "jaeger.otlp" in urls else []),
                *extra]
        proc = ServiceProcess.spawn(f"gateway-{name}", argv, tmp / f"gw{i}.out",
                                    env={"PYTHONPATH": str(source)}, cwd=source)
        procs.append(proc)
        wait_healthy(proc, f"http://127.0.0.1:{port}/health", 60)
        paths[name] = f"http://127.0.0.1:{port}"
        # Which code runs: only the hardened gateway refuses a foreign Host header.
        code = httpx.get(paths[name] + "/health", headers={"host": "elsewhere.example"})
        print(f"{name:<20} foreign Host -> HTTP {code.status_code}")
    return paths, procs


def measure(tmp: Path, urls: dict[str, str], slots: int,
            args: argparse.Namespace) -> dict[str, list[float]]:
    extra, procs = start_gateways(tmp, urls, slots, 8100 + args.port_offset, args.baseline)
    try:
        return asyncio.run(run_mix({"direct": urls["llama-server"], **extra},
                                   args.rate, args.duration, args.seed))
    finally:
        for proc in procs:
            proc.stop()
        subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force",
                        str(tmp / "baseline")], check=False, capture_output=True)


FAKE = ("import sys, time; from labkit.testing import FakeLlamaServer\n"
        "with FakeLlamaServer() as fake:\n    print(fake.url, flush=True); time.sleep(10**6)")


def measure_with_fake_upstream(tmp: Path, args: argparse.Namespace) -> dict[str, list[float]]:
    """The gateways in front of labkit's fake llama-server (answers in about a millisecond):
    what the gateway adds, without a CPU-bound model saturating a busy machine."""
    fake = subprocess.Popen([sys.executable, "-c", FAKE], stdout=subprocess.PIPE, text=True)
    try:
        url = fake.stdout.readline().strip()  # type: ignore[union-attr]
        return measure(tmp, {"llama-server": url}, 4, args)
    finally:
        fake.kill()
        fake.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=20.0)
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--baseline", default=BASELINE,
                        help=f"git revision of the 'before' gateway (default {BASELINE})")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--fake-upstream", action="store_true",
                        help="put the gateways in front of a fake llama-server (no lab): the "
                             "gateway's own cost on a machine too busy for the real model")
    parser.add_argument("--port-offset", type=int, default=14000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        if args.fake_upstream:
            res = measure_with_fake_upstream(Path(tmp), args)
        else:
            runtime = LocalRuntime(LabConfig(run_dir=Path(tmp), port_offset=args.port_offset))
            t0 = time.perf_counter()
            state = runtime.up(progress=lambda _: None)
            up_s = time.perf_counter() - t0
            try:
                time.sleep(2)  # let every service settle before measuring memory
                rss = stack_rss_mb(runtime)
                res = measure(Path(tmp), state.urls(), state.slots, args)
            finally:
                runtime.down(progress=lambda _: None)
            print(f"labkit up (binaries cached) to all healthy: {up_s:.2f} s   (target < 10 s)")
            print(f"resident memory of the whole local stack:  {rss:.0f} MB   (target < 600 MB)")
    print(f"\nrequest mix at {args.rate:g} req/s for {args.duration:g} s, round-robin over "
          f"{len(res)} paths (baseline {args.baseline}):")
    print(f"{'path':<20}{'n':>6}{'p50 ms':>10}{'p99 ms':>10}{'adds p50':>11}{'adds p99':>11}")
    q = {path: (np.percentile(np.array(v) * 1000, 50), np.percentile(np.array(v) * 1000, 99))
         for path, v in res.items()}
    for path, values in res.items():
        added = (q[path][0] - q["direct"][0], q[path][1] - q["direct"][1])
        print(f"{path:<20}{len(values):>6}{q[path][0]:>10.2f}{q[path][1]:>10.2f}"
              f"{added[0]:>+11.2f}{added[1]:>+11.2f}")
    print("\ntargets: the gateway adds <= 1 ms at p50 and <= 5 ms at p99")


if __name__ == "__main__":
    main()
