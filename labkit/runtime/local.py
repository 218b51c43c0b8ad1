"""The local runtime: every service as a process on this machine, bound to 127.0.0.1."""

from __future__ import annotations

import shutil
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import httpx

from labkit.config import LabConfig
from labkit.errors import BinaryNotFound, LabError, ServiceError
from labkit.runtime import catalog
from labkit.runtime.catalog import LocalLaunch, ServiceContext, ServiceSpec
from labkit.runtime.process import (
    ServiceProcess,
    check_port_free,
    is_alive,
    stop_pid,
    wait_healthy,
)
from labkit.runtime.state import LabState, ServiceState

__all__ = ["LocalRuntime", "StatusRow"]

Progress = Callable[[str], None]


@dataclass(frozen=True)
class StatusRow:
    """One line of ``labkit status``."""

    service: str
    url: str
    health: str
    pid: int | None
    uptime_s: float | None
    launch: str


def _find(binary: str) -> Path | None:
    """Where an executable is: PATH, labkit's cache, or (llama-server) its cached build."""
    from labkit.runtime.provision import find_binary

    if binary == "llama-server":
        from labkit.runtime.llama_build import cached_llama_server

        found = shutil.which(binary)
        cached = cached_llama_server()
        return Path(found) if found else cached if cached.is_file() else None
    return find_binary(binary)


def _stop_timeout(name: str) -> float:
    try:
        return catalog.get(name).stop_timeout
    except KeyError:  # a service this labkit no longer knows (an older state file)
        return 10.0


def private_dir(path: Path) -> Path:
    """Create ``path`` readable by its owner only (0700), tightening an existing one."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.chmod(0o700)
    return path


class LocalRuntime:
    """Runs the lab's services as local processes.

    >>> rt = LocalRuntime(LabConfig.from_env())   # doctest: +SKIP
    >>> rt.up(); rt.status(); rt.down()           # doctest: +SKIP
    """

    def __init__(self, config: LabConfig | None = None) -> None:
        self.config = config or LabConfig.from_env()

    # -- state -------------------------------------------------------------------------------

    def load_state(self) -> LabState:
        state = LabState.load(self.config.state_file)
        if state is None:
            state = LabState(run_dir=str(self.config.run_dir), mode=self.config.mode,
                             slots=self.config.slots)
        return state

    def _running(self, svc: ServiceState) -> bool:
        return is_alive(svc.pid, svc.create_time)

    def running(self) -> set[str]:
        """The services of the state file whose processes are alive."""
        return {name for name, svc in self.load_state().services.items() if self._running(svc)}

    # -- up ----------------------------------------------------------------------------------

    def _choose(self, spec: ServiceSpec) -> tuple[LocalLaunch, list[str]] | None:
        """The first launch whose program is installed, with its argv prefix."""
        return next(iter(self._candidates(spec)), None)

    def _candidates(self, spec: ServiceSpec) -> list[tuple[LocalLaunch, list[str]]]:
        """Every launch whose program is installed, in preference order, with argv prefixes."""
        out: list[tuple[LocalLaunch, list[str]]] = []
        for launch in spec.launches:
            if launch.module:
                out.append((launch, [sys.executable, "-m", launch.module]))
                continue
            assert launch.binary
            path = _find(launch.binary)
            if path is not None:
                out.append((launch, [str(path)]))
        return out

    def up(self, services: Iterable[str] | None = None, progress: Progress = print) -> LabState:
        """Start every service not already running; idempotent. Returns the new state.

        When a service fails to start, the services this call started are stopped
        again, and the error names the service with the last lines of its log.
        """
        cfg = self.config
        wanted = set(services) if services is not None else None
        private_dir(cfg.run_dir)  # logs, usage rows and the admin token: not for other users
        state = self.load_state()
        for name, svc in list(state.services.items()):
            if not self._running(svc):
                del state.services[name]  # crashed or stopped behind our back: start it again
        if not state.model:
            from labkit.runtime.model import ensure_model

            state.model = str(ensure_model(cfg.model))
        started: list[str] = []
        try:
            for spec in catalog.all_services():
                if wanted is not None and spec.name not in wanted:
                    continue
                if spec.name in state.services:
                    progress(f"  {spec.name:<14} already running  {state.services[spec.name].url}")
                    continue
                if self._start(spec, state, progress):
                    started.append(spec.name)
                    state.save(cfg.state_file)
        except BaseException:
            for name in reversed(started):
                svc = state.services.pop(name)
                stop_pid(svc.pid, svc.create_time)
            state.save(cfg.state_file)
            raise
        state.save(cfg.state_file)
        return state

    def _start(self, spec: ServiceSpec, state: LabState, progress: Progress) -> bool:
        if spec.available is not None and not spec.available():
            progress(f"  {spec.name:<14} skipped (not available on this machine)")
            return False
        candidates = self._candidates(spec)
        if not candidates:
            if spec.optional:
                progress(f"  {spec.name:<14} skipped (not installed: {spec.launches[0].binary})")
                return False
            names = ", ".join(launch.binary or "" for launch in spec.launches)
            raise BinaryNotFound(
                f"{spec.name} cannot start: {names} not found on PATH or in labkit's cache. "
                "Run `labkit install` (or `make lab`) first.",
                service=spec.name,
            )
        for i, (launch, prefix) in enumerate(candidates):
            try:
                return self._launch(spec, state, progress, launch, prefix, preferred=i == 0)
            except ServiceError as exc:
                if i + 1 == len(candidates):
                    raise
                # A real binary that will not start (a broken build, a config it rejects)
                # must not keep the lab down where a stand-in can serve: say so, fall back.
                following = candidates[i + 1][0]
                progress(f"  {spec.name:<14} {launch.label or launch.binary} failed to start "
                         f"({str(exc).splitlines()[0]}); using "
                         f"{following.label or following.binary} instead")
        return False

    def _launch(self, spec: ServiceSpec, state: LabState, progress: Progress,
                launch: LocalLaunch, prefix: list[str], *, preferred: bool) -> bool:
        cfg = self.config
        ports = {key: cfg.port(port) for key, port in spec.ports.items()}
        for port in ports.values():
            check_port_free(spec.name, cfg.host, port)
        urls = {key: f"http://{cfg.host}:{port}" for key, port in ports.items()}
        ctx = ServiceContext(
            config=cfg, run_dir=cfg.run_dir, data_dir=cfg.run_dir / "data" / spec.name,
            urls=state.urls(), ports=ports, model_path=state.model,
        )
        ctx.data_dir.mkdir(parents=True, exist_ok=True)
        argv = prefix + launch.args(ctx)
        log = cfg.run_dir / "services" / f"{spec.name}.log"
        t0 = time.monotonic()
        proc = ServiceProcess.spawn(spec.name, argv, log, env=spec.extra_env)
        url = urls.get("http", "")
        try:
            health = url + spec.health_path if spec.health_path and url else None
            wait_healthy(proc, health, cfg.start_timeout)
        except BaseException:
            proc.stop()
            raise
        import psutil

        from labkit import __version__
        from labkit.runtime.origins import Origin, service_origin

        proc.detach()
        origin = service_origin(spec) if preferred else None
        if launch.module and "stand-in" in (launch.label or ""):
            origin = Origin(spec.name, "labkit", __version__, "stand-in")
        state.services[spec.name] = ServiceState(
            name=spec.name, url=url, pid=proc.pid,
            create_time=psutil.Process(proc.pid).create_time(), started_at=time.time(),
            log=str(log), launch=launch.label or launch.binary or "",
            endpoints={k: v for k, v in urls.items() if k != "http"},
            version=origin.version if origin else "", origin=origin.origin if origin else "",
        )
        what = launch.label or argv[0]
        if origin and origin.version:
            what += f" {origin.version}, {origin.origin}"
        progress(f"  {spec.name:<14} started  {url or '(no port)':<24} "
                 f"pid {proc.pid}  {time.monotonic() - t0:.1f}s  [{what}]")
        return True

    # -- down / status -------------------------------------------------------------------------

    def down(self, services: Iterable[str] | None = None, progress: Progress = print
             ) -> list[str]:
        """Stop what the state file lists (or only ``services``), newest first.

        One service that will not stop does not keep the others running: every one is
        tried, and then a :class:`LabError` names all that failed. Returns the names stopped.
        """
        state = LabState.load(self.config.state_file)
        if state is None or not state.services:
            progress("nothing is running")
            return []
        wanted = set(state.services) if services is None else set(services)
        stopped: list[str] = []
        failed: list[str] = []
        for name in reversed(list(state.services)):
            if name not in wanted:
                continue
            svc = state.services[name]
            try:
                stop_pid(svc.pid, svc.create_time, timeout=_stop_timeout(name))
                if is_alive(svc.pid, svc.create_time):
                    raise LabError(f"pid {svc.pid} is still alive")
            except Exception as exc:  # reported below, with every other failure
                failed.append(f"{name} (pid {svc.pid}): {exc}")
                progress(f"  {name:<14} did not stop: {exc}")
                continue
            del state.services[name]
            stopped.append(name)
            progress(f"  {name:<14} stopped")
            state.save(self.config.state_file)
        if failed:
            raise LabError(f"{len(failed)} service(s) did not stop; kill them by hand:\n  "
                           + "\n  ".join(failed))
        return stopped

    def status(self) -> list[StatusRow]:
        """One row per service in the state file, with a live health check."""
        state = LabState.load(self.config.state_file)
        rows = []
        for name, svc in (state.services.items() if state else []):
            spec = catalog.get(name)
            alive = self._running(svc)
            health = "down"
            if alive:
                health = "up"
                if spec.health_path and svc.url:
                    try:
                        code = httpx.get(svc.url + spec.health_path, timeout=2).status_code
                        health = "healthy" if code == 200 else f"unhealthy ({code})"
                    except httpx.HTTPError as exc:
                        health = f"unreachable ({type(exc).__name__})"
            launch = svc.launch
            if svc.origin == "stand-in":
                launch = f"{launch} (STAND-IN)"
            elif svc.version:
                launch = f"{launch} {svc.version} ({svc.origin})"
            rows.append(StatusRow(name, svc.url, health, svc.pid if alive else None,
                                  time.time() - svc.started_at if alive else None, launch))
        return rows
