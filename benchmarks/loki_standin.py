"""Measure the Loki stand-in: HTTP ingest rate, a json metric query's latency, peak memory.

Starts ``python -m labkit.standins.loki`` on a free port with a temporary data dir, pushes
LINES gateway-like JSON lines spread over one hour in batches of 1,000, then runs
``sum by (model) (rate({job="llm-api"} | json [1m]))`` over that hour: the first time
(its label column was built as the lines came in), then again, then a query by a field
that is not built ahead (first: every line parsed; then cached). It then restarts the
server on the same data (replaying the log file) and runs the first query again. Each
query prints its wall time and the server's CPU time, which the machine's other work
disturbs less.

    python benchmarks/loki_standin.py [--lines 1000000] [--repo DIR] [--baseline DIR] [--fsync]

``--repo`` runs the server from another checkout (e.g. an older commit unpacked with
``git archive``); ``--baseline DIR`` runs DIR's server first on the same data and prints a
table of both with their ratios, ``--fsync`` adds a run with the server's fsync setting.
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import orjson

from labkit.testing import free_port

REPO = Path(__file__).resolve().parents[1]
QUERY = 'sum by (model) (rate({job="llm-api"} | json [1m]))'
# The same over a field with too many values (50 users) to be parsed ahead at ingest: its
# first run parses every line, as any query on such a field does the first time.
QUERY_UNBUILT = 'sum by (user_id) (rate({job="llm-api"} | json [1m]))'
_TICK = os.sysconf("SC_CLK_TCK")




def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds the process has used."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICK


def _line(rng: random.Random, i: int) -> str:
    ok = rng.random() > 0.05
    return orjson.dumps(
        {
            "timestamp": "2025-01-01T00:00:00.000000Z",
            "level": "info" if ok else "error",
            "message": "Request completed",
            "module": "app",
            "function": "chat_completions",
            "line": 120,
            "request_id": f"req-{i:08d}",
            "user_id": f"user-{rng.randrange(50)}",
            "model": rng.choice(["tiny-gguf", "gemma3-270m", "qwen-0.5b"]),
            "duration_ms": round(rng.uniform(20, 3000), 1),
            "prompt_tokens": rng.randrange(5, 500),
            "completion_tokens": rng.randrange(1, 300),
            "status": 200 if ok else 500,
        }
    ).decode()


def _bodies(lines: int, batch: int, start_ns: int) -> list[bytes]:
    rng = random.Random(7)
    gap = 3600 * 10**9 // lines
    out = []
    for b in range(0, lines, batch):
        values = [
            [str(start_ns + (b + i) * gap), _line(rng, b + i)] for i in range(min(batch, lines - b))
        ]
        by_level: dict[str, list[list[str]]] = {"info": [], "error": []}
        for v in values:
            by_level["error" if '"level":"error"' in v[1] else "info"].append(v)
        out.append(
            orjson.dumps(
                {
                    "streams": [
                        {"stream": {"job": "llm-api", "level": lvl}, "values": vals}
                        for lvl, vals in by_level.items()
                        if vals
                    ]
                }
            )
        )
    return out


class _Server:
    def __init__(self, repo: Path, data: str, extra: list[str]) -> None:
        self.repo, self.data, self.extra = repo, data, extra
        self.url = f"http://127.0.0.1:{free_port()}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> float:
        t0 = time.perf_counter()
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "labkit.standins.loki",
                "--port",
                self.url.rsplit(":", 1)[1],
                "--data-dir",
                self.data,
                *self.extra,
            ],
            env={**os.environ, "PYTHONPATH": str(self.repo)},
            cwd=self.repo,  # `python -m` puts the working directory first on sys.path
        )
        while True:
            try:
                if httpx.get(self.url + "/ready", timeout=5).text == "ready":
                    return time.perf_counter() - t0
            except httpx.TransportError:
                time.sleep(0.1)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=30)


def _query(client: httpx.Client, pid: int, params: dict[str, str], label: str) -> float:
    cpu0, t0 = _cpu_s(pid), time.perf_counter()
    r = client.get("/loki/api/v1/query_range", params=params)
    r.raise_for_status()
    wall, cpu = time.perf_counter() - t0, _cpu_s(pid) - cpu0
    res = r.json()["data"]["result"]
    points = len(res[0]["values"]) if res else 0
    print(
        f"query ({label}): {wall:.2f} s wall, {cpu:.2f} s server CPU; "
        f"{len(res)} series x {points} points"
    )
    return cpu


def _run(repo: Path, bodies: list[bytes], lines: int, batch: int, params: dict[str, str],
         extra: list[str]) -> dict[str, float]:
    """One full pass (ingest, queries, restart) against the server in ``repo``."""
    fig: dict[str, float] = {}
    print(f"\nserver from {repo} {' '.join(extra)}; {QUERY} over 1h holding {lines:,} lines")
    with tempfile.TemporaryDirectory() as data:
        srv = _Server(repo, data, extra)
        srv.start()
        try:
            assert srv.proc is not None
            pid = srv.proc.pid
            with httpx.Client(base_url=srv.url, timeout=300) as client:
                cpu0, t0 = _cpu_s(pid), time.perf_counter()
                for body in bodies:
                    client.post(
                        "/loki/api/v1/push",
                        content=body,
                        headers={"Content-Type": "application/json"},
                    ).raise_for_status()
                ingest_s, cpu = time.perf_counter() - t0, _cpu_s(pid) - cpu0
                fig["ingest lines/s"] = lines / ingest_s
                fig["ingest server CPU s"] = cpu
                print(
                    f"ingest: {lines:,} lines in {ingest_s:.2f} s = "
                    f"{lines / ingest_s:,.0f} lines/s "
                    f"(server CPU {cpu:.2f} s; batches of {batch}, JSON over HTTP, one client)"
                )
                fig["query first CPU s"] = _query(client, pid, params, "first")
                fig["query repeated CPU s"] = _query(client, pid, params, "repeated")
                _query(client, pid, params, "repeated")
                unbuilt = {**params, "query": QUERY_UNBUILT}
                fig["by user_id first CPU s"] = _query(client, pid, unbuilt, "by user_id, first")
                fig["by user_id repeated CPU s"] = _query(
                    client, pid, unbuilt, "by user_id, repeated")
            fig["peak RSS MB"] = _peak_rss_mb(pid)
            print(f"peak RSS of the server: {fig['peak RSS MB']:,.0f} MB")
        finally:
            srv.stop()
        ready_s = srv.start()
        try:
            assert srv.proc is not None
            fig["restart s"] = ready_s
            print(f"restart: ready after {ready_s:.2f} s (replaying the log)")
            with httpx.Client(base_url=srv.url, timeout=300) as client:
                fig["query after restart CPU s"] = _query(
                    client, srv.proc.pid, params, "first after restart")
                _query(client, srv.proc.pid, params, "repeated after restart")
            print(f"peak RSS of the restarted server: {_peak_rss_mb(srv.proc.pid):,.0f} MB")
        finally:
            srv.stop()
    return fig


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--lines", type=int, default=1_000_000)
    ap.add_argument("--batch", type=int, default=1000)
    ap.add_argument("--repo", type=Path, default=REPO, help="checkout to run the server from")
    ap.add_argument("--baseline", type=Path, default=None,
                    help="another checkout (e.g. `git archive REV | tar -x -C DIR`) to run "
                         "first, on the same data, and compare against")
    ap.add_argument("--fsync", action="store_true",
                    help="also run --repo with the server's --fsync setting")
    args = ap.parse_args()
    end_ns = time.time_ns()
    start_ns = end_ns - 3600 * 10**9
    bodies = _bodies(args.lines, args.batch, start_ns)
    params = {"query": QUERY, "start": str(start_ns), "end": str(end_ns)}
    runs: dict[str, dict[str, float]] = {}
    if args.baseline is not None:
        runs["baseline"] = _run(args.baseline, bodies, args.lines, args.batch, params, [])
    runs["current"] = _run(args.repo, bodies, args.lines, args.batch, params, [])
    if args.fsync:
        runs["current --fsync"] = _run(args.repo, bodies, args.lines, args.batch, params,
                                       ["--fsync"])
    if len(runs) > 1:
        names = list(runs)
        print("\n" + f"{'figure':<28}" + "".join(f"{n:>18}" for n in names)
              + "".join(f"{n + '/' + names[0]:>26}" for n in names[1:]))
        for key in runs[names[0]]:
            row = [runs[n][key] for n in names]
            ratios = [r / row[0] if row[0] else float("nan") for r in row[1:]]
            print(f"{key:<28}" + "".join(f"{v:>18,.2f}" for v in row)
                  + "".join(f"{x:>26.2f}" for x in ratios))


if __name__ == "__main__":
    main()
