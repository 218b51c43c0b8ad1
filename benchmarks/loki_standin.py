"""Measure the Loki stand-in: HTTP ingest rate, a json metric query's latency, peak memory.

Starts ``python -m labkit.standins.loki`` on a free port with a temporary data dir, pushes
LINES gateway-like JSON lines spread over one hour in batches of 1,000, then runs
``sum by (model) (rate({job="llm-api"} | json [1m]))`` over that hour. Prints figures only.

    python benchmarks/loki_standin.py [--lines 1000000]
"""

from __future__ import annotations

import argparse
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import orjson

REPO = Path(__file__).resolve().parents[1]
QUERY = 'sum by (model) (rate({job="llm-api"} | json [1m]))'


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _line(rng: random.Random, i: int) -> str:
    ok = rng.random() > 0.05
    return orjson.dumps({
        "timestamp": "2025-01-01T00:00:00.000000Z", "level": "info" if ok else "error",
        "message": "Request completed", "module": "app", "function": "chat_completions", "line": 120,
        "request_id": f"req-{i:08d}", "user_id": f"user-{rng.randrange(50)}",
        "model": rng.choice(["tiny-gguf", "gemma3-270m", "qwen-0.5b"]),
        "duration_ms": round(rng.uniform(20, 3000), 1), "prompt_tokens": rng.randrange(5, 500),
        "completion_tokens": rng.randrange(1, 300), "status": 200 if ok else 500,
    }).decode()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--lines", type=int, default=1_000_000)
    ap.add_argument("--batch", type=int, default=1000)
    args = ap.parse_args()
    rng = random.Random(7)
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as data:
        proc = subprocess.Popen([sys.executable, "-m", "labkit.standins.loki", "--port", str(port), "--data-dir", data],
                                env={**os.environ, "PYTHONPATH": str(REPO)})
        try:
            with httpx.Client(base_url=url, timeout=120) as client:
                while True:
                    try:
                        if client.get("/ready").text == "ready":
                            break
                    except httpx.TransportError:
                        time.sleep(0.1)
                end_ns = time.time_ns()
                start_ns = end_ns - 3600 * 10**9
                gap = 3600 * 10**9 // args.lines
                bodies = []
                for b in range(0, args.lines, args.batch):
                    values = [[str(start_ns + (b + i) * gap), _line(rng, b + i)] for i in range(min(args.batch, args.lines - b))]
                    level_streams = {"info": [], "error": []}
                    for v in values:
                        level_streams["error" if '"level":"error"' in v[1] else "info"].append(v)
                    bodies.append(orjson.dumps({"streams": [
                        {"stream": {"job": "llm-api", "level": lvl}, "values": vals} for lvl, vals in level_streams.items() if vals]}))
                t0 = time.perf_counter()
                for body in bodies:
                    r = client.post("/loki/api/v1/push", content=body, headers={"Content-Type": "application/json"})
                    r.raise_for_status()
                ingest_s = time.perf_counter() - t0
                print(f"ingest: {args.lines:,} lines in {ingest_s:.2f} s = {args.lines / ingest_s:,.0f} lines/s "
                      f"(batches of {args.batch}, JSON over HTTP, one client)")
                del bodies
                params = {"query": QUERY, "start": str(start_ns), "end": str(end_ns)}
                for attempt in ("first", "second"):
                    t0 = time.perf_counter()
                    r = client.get("/loki/api/v1/query_range", params=params)
                    r.raise_for_status()
                    q_s = time.perf_counter() - t0
                    res = r.json()["data"]["result"]
                    print(f"query ({attempt}): {QUERY} over 1h, {args.lines:,} lines: {q_s:.2f} s, "
                          f"{len(res)} series x {len(res[0]['values']) if res else 0} points")
                print(f"peak RSS of the server: {_peak_rss_mb(proc.pid):,.0f} MB")
        finally:
            proc.terminate()
            proc.wait(timeout=30)


if __name__ == "__main__":
    main()
