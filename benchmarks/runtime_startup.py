"""Start-up time and memory of the whole lab: the local runtime against the docker runtime.

For each runtime, in one run on this machine: the wall time from ``up`` to every health
check passing, and the resident memory (RSS) of every service process once healthy. For
docker the services are the containers' processes (seen from the host), and the engine's
own processes (dockerd, containerd, shims, docker-proxy) are reported beside them.

Images are built and binaries cached beforehand (not timed). Without a Docker engine at
DOCKER_HOST a private dockerd is started for the run (root). Usage::

    python benchmarks/runtime_startup.py [--repeat 2] [--port-offset 15800]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import psutil

from labkit.config import LabConfig
from labkit.runtime.docker import DockerRuntime
from labkit.runtime.local import LocalRuntime

ENGINE_PROCESSES = ("dockerd", "containerd", "containerd-shim", "containerd-shim-runc-v2",
                    "docker-proxy")


def _rss_tree(pids: list[int]) -> int:
    """Bytes resident in these processes and all their descendants (each counted once)."""
    seen: dict[int, int] = {}
    for pid in pids:
        try:
            root = psutil.Process(pid)
            for proc in [root, *root.children(recursive=True)]:
                seen.setdefault(proc.pid, proc.memory_info().rss)
        except psutil.Error:
            continue
    return sum(seen.values())


def _engine_rss() -> int:
    total = 0
    for proc in psutil.process_iter(["name", "memory_info"]):
        if proc.info["name"] in ENGINE_PROCESSES and proc.info["memory_info"]:
            total += proc.info["memory_info"].rss
    return total


def _measure(runtime: LocalRuntime | DockerRuntime, services: list[str] | None = None
             ) -> tuple[float, int, list[str]]:
    t0 = time.perf_counter()
    state = runtime.up(services, progress=lambda _: None)
    elapsed = time.perf_counter() - t0
    time.sleep(2)  # let every service settle after its first health answer
    rss = _rss_tree([s.pid for s in state.services.values() if s.pid])
    return elapsed, rss, list(state.services)


def run(repeat: int, offset: int, docker_host: str, image_env: dict[str, str]) -> None:
    results: dict[str, list[tuple[float, int, list[str]]]] = {"local": [], "docker": []}
    engine: list[int] = []
    for _ in range(repeat):
        with tempfile.TemporaryDirectory(prefix="labkit-bench-") as tmp:
            local = LocalRuntime(LabConfig(run_dir=Path(tmp) / "local", port_offset=offset))
            try:
                results["local"].append(_measure(local))
            finally:
                local.down(progress=lambda _: None)
            env = {**image_env, "LABKIT_RUN_DIR": str(Path(tmp) / "docker"),
                   "LABKIT_PORT_OFFSET": str(offset + 100), "LABKIT_RUNTIME": "docker",
                   "LABKIT_DOCKER_HOST": docker_host, "LABKIT_START_TIMEOUT": "180"}
            docker_rt = DockerRuntime(LabConfig.from_env(env))
            # The same services as the local lab ran (Grafana's image cannot be pulled here).
            same = [n for n in results["local"][-1][2] if n in {s.name for s in docker_rt.specs()}]
            try:
                results["docker"].append(_measure(docker_rt, same))
                engine.append(_engine_rss())
            finally:
                docker_rt.down(progress=lambda _: None, volumes=True)
    print(f"{'runtime':<8} {'services':>8} {'up→healthy (s)':>15} {'services RSS (MiB)':>19}")
    for name, rows in results.items():
        secs = statistics.median(r[0] for r in rows)
        mib = statistics.median(r[1] for r in rows) / 2**20
        print(f"{name:<8} {len(rows[0][2]):>8} {secs:>15.1f} {mib:>19.0f}")
    print(f"services: {', '.join(results['docker'][0][2])}")
    local_s = statistics.median(r[0] for r in results["local"])
    docker_s = statistics.median(r[0] for r in results["docker"])
    local_m = statistics.median(r[1] for r in results["local"])
    docker_m = statistics.median(r[1] for r in results["docker"])
    print(f"docker / local: start-up x{docker_s / local_s:.2f}, services RSS "
          f"x{docker_m / local_m:.2f}; the engine itself (dockerd, containerd, shims, "
          f"docker-proxy) adds {statistics.median(engine) / 2**20:.0f} MiB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--port-offset", type=int, default=15800)
    args = parser.parse_args()
    import docker
    from labkit.runtime.docker_build import build_local_images
    from labkit.runtime.dockerd import PrivateEngine

    engine = None
    host = os.environ.get("DOCKER_HOST", "")
    if not host:
        engine = PrivateEngine()
        host = engine.start()
    try:
        print("building (or finding) the images; not timed")
        image_env = build_local_images(docker.DockerClient(base_url=host), progress=print)
        run(args.repeat, args.port_offset, host, image_env)
    finally:
        if engine is not None:
            engine.stop()


if __name__ == "__main__":
    main()
