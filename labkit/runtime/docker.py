"""The docker runtime: every service as a container on one user-defined network.

It reads the same catalog as the local runtime and writes the same state file, so
``labkit.connect()`` and every notebook find a docker lab exactly as they find a local one.
Service names are DNS names inside the network; each published port binds 127.0.0.1 on
the host at the catalog port plus ``LABKIT_PORT_OFFSET``. Data lives in named volumes that
``down`` keeps and ``down(volumes=True)`` removes. Everything carries labels (project, lab
id, service), so ``down`` and ``clean`` remove exactly what labkit made.

>>> rt = DockerRuntime(LabConfig.from_env().with_(runtime="docker"))   # doctest: +SKIP
>>> rt.up(); rt.status(); rt.down()                                      # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import httpx

from labkit.config import LabConfig
from labkit.errors import LabError
from labkit.runtime import catalog
from labkit.runtime.catalog import ServiceSpec
from labkit.runtime.docker_engine import LABELS, Engine, engine_errors
from labkit.runtime.docker_recipes import (
    MODEL_IN_CONTAINER,
    RUN_DIR,
    Recipe,
    recipe,
    render_configs,
)
from labkit.runtime.local import StatusRow
from labkit.runtime.process import check_port_free, wait_healthy
from labkit.runtime.state import LabState, ServiceState

__all__ = ["DockerRuntime", "has_nvidia_gpu"]

Progress = Callable[[str], None]


def has_nvidia_gpu() -> bool:
    """Whether the host has an NVIDIA GPU for the DCGM exporter (``--gpus all``)."""
    return Path("/dev/nvidiactl").exists() or shutil.which("nvidia-smi") is not None


def _digest(*parts: object) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _tree_digest(path: Path) -> str:
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    return _digest([(str(f.relative_to(path.parent)), f.read_bytes().hex()) for f in files])


def _create_time(pid: int) -> float:
    """The container's main process start time (the engine runs on this host), else 0."""
    import psutil

    try:
        return psutil.Process(pid).create_time()
    except (psutil.Error, ValueError):
        return 0.0


class DockerRuntime:
    """Runs the lab's services as containers on a Docker engine."""

    def __init__(self, config: LabConfig | None = None, client: Any = None) -> None:
        self.config = config or LabConfig.from_env()
        self.engine = Engine(self.config, client)

    # -- what runs --------------------------------------------------------------------------------

    def specs(self, services: Iterable[str] | None = None) -> list[ServiceSpec]:
        """The catalog's services this runtime starts, in start order."""
        from labkit.runtime.docker_recipes import _RECIPES

        wanted = set(services) if services is not None else None
        gpu = has_nvidia_gpu()  # NVIDIA's exporter needs one (`--gpus all`)
        return [s for s in catalog.all_services() if s.name in _RECIPES
                and (gpu or s.name != "gpu-exporter")
                and (wanted is None or s.name in wanted)]

    @property
    def config_dir(self) -> Path:
        return self.config.run_dir / "docker"

    def load_state(self) -> LabState:
        state = LabState.load(self.config.state_file)
        if state is not None and state.runtime != "docker" and state.services:
            raise LabError(
                f"a {state.runtime} lab is running in {self.config.run_dir}: stop it with "
                f"`labkit down --runtime {state.runtime}` first, or use another LABKIT_RUN_DIR")
        if state is None or state.runtime != "docker":
            state = LabState(run_dir=str(self.config.run_dir), mode=self.config.mode,
                             slots=self.config.slots, runtime="docker")
        return state

    def running(self) -> set[str]:
        """The services of the state file whose containers run."""
        state = LabState.load(self.config.state_file)
        if state is None or state.runtime != "docker":
            return set()
        live = {c.labels.get(LABELS["service"]) for c in self.engine.containers()
                if c.status == "running"}
        return {name for name in state.services if name in live}

    # -- up ---------------------------------------------------------------------------------------

    def up(self, services: Iterable[str] | None = None, progress: Progress = print) -> LabState:
        """Create what is missing or changed, leave the rest; wait for every health check.

        When a service fails to start, the containers this call started are removed again,
        and the error names the service with the last lines of its container log.
        """
        cfg = self.config
        state = self.load_state()
        specs = self.specs(services)
        if not state.model:
            from labkit.runtime.model import ensure_model

            state.model = str(ensure_model(cfg.model))
        render_configs(self.config_dir, cfg, {s.name for s in self.specs()})
        self.engine.ensure_network()
        started: list[str] = []
        try:
            for spec in specs:
                if self._up_one(spec, recipe(spec.name, cfg), state, progress):
                    started.append(spec.name)
                state.save(cfg.state_file)
        except BaseException:
            for name in reversed(started):
                self._remove(name)
                state.services.pop(name, None)
            state.save(cfg.state_file)
            raise
        return state

    def _container_args(self, spec: ServiceSpec, rec: Recipe, state: LabState) -> dict[str, Any]:
        from docker.types import DeviceRequest

        cfg, eng = self.config, self.engine
        volumes: dict[str, dict[str, str]] = {}
        for key, path in rec.volumes.items():
            bind = None
            if key == "usage":  # on the host too, where the cost notebook reads it
                bind = cfg.run_dir / "data" / "gateway"
                bind.mkdir(parents=True, exist_ok=True)
            volumes[eng.ensure_volume(key, bind)] = {
                "bind": path, "mode": "ro" if key in rec.read_only_volumes else "rw"}
        for rel, path in rec.configs.items():
            if (self.config_dir / rel).exists():
                volumes[str(self.config_dir / rel)] = {"bind": path, "mode": "ro"}
        if rec.model:
            volumes[state.model] = {"bind": MODEL_IN_CONTAINER, "mode": "ro"}
        if rec.host_root:
            volumes["/"] = {"bind": "/host", "mode": "ro"}
        if rec.run_dir:
            volumes[str(cfg.run_dir)] = {"bind": RUN_DIR, "mode": "ro"}
        env = dict(rec.env)
        if spec.name == "gateway" and cfg.admin_token:
            # As in the local runtime, /admin/* then needs the token. It reaches the
            # container at run time only: never compose.yaml, an image or a config file.
            env["LABKIT_ADMIN_TOKEN"] = cfg.admin_token
        if spec.name == "grafana":
            from labkit.runtime.grafana import admin_password

            env["GF_SECURITY_ADMIN_PASSWORD"] = admin_password(cfg.run_dir)
        user = rec.user
        if "usage" in rec.volumes or rec.run_dir:
            # The host-backed usage volume's files belong to the user; the run directory
            # may be private to the user (mode 700).
            user = f"{os.getuid()}:{os.getgid()}"
        args: dict[str, Any] = {
            "image": rec.image, "command": list(rec.command) or None,
            "name": eng.container_name(spec.name), "hostname": spec.name,
            "network": eng.network_name, "network_aliases": [spec.name],
            "ports": {f"{port}/tcp": ("127.0.0.1", cfg.port(port))
                      for port in spec.ports.values()},
            "volumes": volumes, "environment": env, "user": user,
            "pid_mode": "host" if rec.host_pids else None,
            "device_requests": [DeviceRequest(count=-1, capabilities=[["gpu"]])]
            if rec.gpus else None,
            "restart_policy": {"Name": "unless-stopped"},
        }
        digests = [_tree_digest(self.config_dir / rel) for rel in rec.configs
                   if (self.config_dir / rel).exists()]
        args["labels"] = eng.labels(spec.name, config=_digest(args, digests))
        return args

    def _up_one(self, spec: ServiceSpec, rec: Recipe, state: LabState, progress: Progress
                ) -> bool:
        """Start one service unless an identical container already runs; True if started."""
        import docker.errors as derr

        cfg, eng = self.config, self.engine
        eng.ensure_image(spec.name, rec.image, progress)
        args = self._container_args(spec, rec, state)
        name = args["name"]
        with engine_errors(spec.name, rec.image):
            try:
                existing = eng.client.containers.get(name)
            except derr.NotFound:
                existing = None
        if existing is not None:
            same = existing.labels.get(LABELS["config"]) == args["labels"][LABELS["config"]]
            if same and existing.status == "running" and spec.name in state.services:
                progress(f"  {spec.name:<14} already running  {state.services[spec.name].url}")
                return False
            self._remove(spec.name)  # changed, stopped or unknown to the state file
        for port in spec.ports.values():
            check_port_free(spec.name, "127.0.0.1", cfg.port(port))
        t0 = time.monotonic()
        aliases = args.pop("network_aliases")
        with engine_errors(spec.name, rec.image):
            container = eng.client.containers.create(**args)
            net = eng.client.networks.get(eng.network_name)
            net.disconnect(container)
            net.connect(container, aliases=aliases)
            container.start()
        urls = {key: f"http://127.0.0.1:{cfg.port(port)}" for key, port in spec.ports.items()}
        url = urls.get("http", "")
        try:
            self._wait_healthy(spec, container, url + (spec.health_path or "") if url and
                               spec.health_path else None)
        except BaseException:
            self._remove(spec.name)
            raise
        container.reload()
        pid = int(container.attrs["State"]["Pid"] or 0)
        state.services[spec.name] = ServiceState(
            name=spec.name, url=url, pid=pid, create_time=_create_time(pid),
            started_at=time.time(), log=f"docker logs {name}",
            launch=rec.image + (" (labkit stand-in)" if rec.standin else ""),
            endpoints={k: v for k, v in urls.items() if k != "http"}, container=name)
        progress(f"  {spec.name:<14} started  {url or '(no port)':<24} "
                 f"{container.short_id}  {time.monotonic() - t0:.1f}s  [{rec.image}]")
        return True

    def _wait_healthy(self, spec: ServiceSpec, container: Any, url: str | None) -> None:
        """The local runtime's wait, and its messages, with the container as the process."""
        log = self.config.run_dir / "services" / f"{spec.name}.log"
        wait_healthy(_ContainerProcess(spec.name, container, log),  # type: ignore[arg-type]
                     url, self.config.start_timeout)

    @staticmethod
    def _tail(container: Any, lines: int = 20) -> str:
        try:
            text = container.logs(tail=lines).decode(errors="replace").rstrip()
        except Exception as exc:  # the log is a courtesy in an error message
            return f"(no log: {exc})"
        return text or "(the container log is empty)"

    # -- down / status / logs ---------------------------------------------------------------------

    def _remove(self, service: str) -> None:
        import docker.errors as derr

        with engine_errors(service):
            try:
                container = self.engine.client.containers.get(
                    self.engine.container_name(service))
            except derr.NotFound:
                return
            container.remove(force=True)

    def down(self, services: Iterable[str] | None = None, progress: Progress = print,
             volumes: bool = False) -> list[str]:
        """Remove this lab's containers (or only ``services``'), newest first.

        With every service gone the network goes too; ``volumes=True`` also removes the
        named volumes (the lab's data). Returns the names removed.
        """
        state = LabState.load(self.config.state_file)
        wanted = set(services) if services is not None else None
        order = [s.name for s in self.specs()]
        found = {c.labels.get(LABELS["service"], ""): c for c in self.engine.containers()}
        names = sorted(found, key=lambda n: order.index(n) if n in order else -1, reverse=True)
        removed = []
        for name in names:
            if wanted is not None and name not in wanted:
                continue
            with engine_errors(name):
                found[name].remove(force=True)
            removed.append(name)
            progress(f"  {name:<14} removed")
            if state is not None and state.services.pop(name, None) is not None:
                state.save(self.config.state_file)
        if not removed and not volumes:
            progress("nothing is running")
        if wanted is None or not self.engine.containers():
            for net in self.engine.networks():
                with engine_errors():
                    net.remove()
            if volumes:
                for vol in self.engine.volumes():
                    with engine_errors():
                        vol.remove(force=True)
                    progress(f"  volume {vol.name} removed")
                for db in (self.config.run_dir / "data" / "gateway").glob("usage.db*"):
                    db.unlink()
        return removed

    def clean(self, progress: Progress = print) -> int:
        """Remove every container, network and volume labkit made on this engine (all labs)."""
        count = 0
        for kind in ("containers", "networks", "volumes"):
            for item in getattr(self.engine, kind)(everything=True):
                with engine_errors():
                    item.remove(force=True) if kind != "networks" else item.remove()
                progress(f"  removed {kind[:-1]} {item.name}")
                count += 1
        state = LabState.load(self.config.state_file)
        if state is not None and state.runtime == "docker":
            self.config.state_file.unlink(missing_ok=True)
        return count

    def status(self) -> list[StatusRow]:
        """One row per container of this lab, with a live health check."""
        state = LabState.load(self.config.state_file)
        known = state.services if state is not None else {}
        rows = []
        for container in self.engine.containers():
            name = container.labels.get(LABELS["service"], container.name)
            svc = known.get(name)
            spec = next((s for s in self.specs() if s.name == name), None)
            health = "down" if container.status != "running" else "up"
            if health == "up" and svc and svc.url and spec and spec.health_path:
                try:
                    code = httpx.get(svc.url + spec.health_path, timeout=2).status_code
                    health = "healthy" if code == 200 else f"unhealthy ({code})"
                except httpx.HTTPError as exc:
                    health = f"unreachable ({type(exc).__name__})"
            running = container.status == "running"
            rows.append(StatusRow(name, svc.url if svc else "", health,
                                  int(container.attrs["State"]["Pid"] or 0) or None,
                                  time.time() - svc.started_at if svc and running else None,
                                  container.image.tags[0] if container.image.tags
                                  else container.short_id))
        return rows

    def logs(self, service: str, lines: int = 50) -> str:
        """The last lines of a service's container log."""
        import docker.errors as derr

        with engine_errors(service):
            try:
                container = self.engine.client.containers.get(
                    self.engine.container_name(service))
            except derr.NotFound:
                raise LabError(f"no container for {service} in this lab; has it been started "
                               "with `labkit up --runtime docker`?") from None
            return self._tail(container, lines)


class _ContainerProcess:
    """A container seen as :func:`wait_healthy` sees a process: it polls, it has a log."""

    def __init__(self, name: str, container: Any, log: Path) -> None:
        self.name, self.container, self._log = name, container, log
        self.popen = self  # wait_healthy calls proc.popen.poll()

    def poll(self) -> int | None:
        self.container.reload()
        state = self.container.attrs["State"]
        # "restarting": it exited and the restart policy brings it back; a failed start all
        # the same.
        if self.container.status in ("exited", "dead", "restarting") \
                or self.container.attrs.get("RestartCount", 0) > 0:
            return int(state.get("ExitCode") or 0)
        return None

    @property
    def log_path(self) -> Path:
        """The container's log, copied to the run dir when an error message asks for it."""
        self._log.parent.mkdir(parents=True, exist_ok=True)
        self._log.write_text(DockerRuntime._tail(self.container, 200) + "\n")
        return self._log
