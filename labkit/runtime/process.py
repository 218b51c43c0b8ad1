"""Start, watch and stop one service process; check ports and health."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil

from labkit.errors import PortInUse, ServiceError, ServiceNotReady, ServiceStartError

__all__ = ["ServiceProcess", "check_port_free", "is_alive", "log_tail", "stop_pid", "wait_healthy"]


def log_tail(path: Path, lines: int = 20) -> str:
    """The last lines of a log file, or a note that there is none."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return f"(no log at {path})"
    tail = text.splitlines()[-lines:]
    return "\n".join(tail) if tail else f"(log {path} is empty)"


def _holder(port: int) -> str:
    """Who listens on a port, when the OS lets us see it."""
    try:
        for conn in psutil.net_connections(kind="inet"):
            if conn.laddr and conn.laddr.port == port and conn.status == psutil.CONN_LISTEN:
                if conn.pid:
                    name = psutil.Process(conn.pid).name()
                    return f" by pid {conn.pid} ({name})"
    except (psutil.Error, OSError):
        pass
    return ""


def check_port_free(service: str, host: str, port: int) -> None:
    """Raise :class:`PortInUse` naming the service and port when something listens there."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            raise PortInUse(
                f"{service} cannot start: port {host}:{port} is already in use{_holder(port)}. "
                f"Stop that process, or move the whole lab with LABKIT_PORT_OFFSET=1000.",
                service=service, port=port,
            ) from None


def is_alive(pid: int, create_time: float | None = None) -> bool:
    """Whether the process still runs (and is the same process, when its start time is known)."""
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return False
        return create_time is None or abs(proc.create_time() - create_time) < 1.0
    except psutil.Error:
        return False


def _group(pid: int, create_time: float | None) -> list[psutil.Process]:
    """A service's processes: the leader if it lives, its children, and the rest of its group.

    Each service leads its own session, so its pid is its process group id. A group whose
    leader died lives on in its other members; they are found by group id and, when the
    leader's start time is known, only if they started after it (so a reused pid is safe).
    """
    procs: dict[int, psutil.Process] = {}
    if is_alive(pid, create_time):
        try:
            leader = psutil.Process(pid)
            procs = {p.pid: p for p in (leader, *leader.children(recursive=True))}
        except psutil.Error:
            pass
    for proc in psutil.process_iter():
        try:
            if proc.pid in procs or os.getpgid(proc.pid) != pid:
                continue
            if create_time is None or proc.create_time() >= create_time - 1.0:
                procs[proc.pid] = proc
        except (ProcessLookupError, PermissionError, psutil.Error):
            continue
    return list(procs.values())


def stop_pid(pid: int, create_time: float | None = None, timeout: float = 10.0) -> None:
    """Stop a service and everything it spawned: SIGTERM its process group, then SIGKILL.

    The group is signalled even when its leader already died; raises
    :class:`ServiceError` when something is still alive after SIGKILL.
    """
    procs = _group(pid, create_time)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for proc in procs:
            try:
                proc.send_signal(sig)  # psutil checks it is still the same process
            except psutil.Error:
                pass
        _, procs = psutil.wait_procs(procs, timeout=timeout if sig == signal.SIGTERM else 5)
        if not procs:
            return
    raise ServiceError(f"pid(s) {', '.join(str(p.pid) for p in procs)} of group {pid} "
                       "survived SIGKILL; stop them by hand")


@dataclass
class ServiceProcess:
    """A running service process started by labkit."""

    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path

    @classmethod
    def spawn(cls, name: str, argv: Sequence[str], log_path: Path,
              env: dict[str, str] | None = None, cwd: Path | None = None) -> ServiceProcess:
        """Start ``argv`` in its own session, its output appended to ``log_path``."""
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(log_path, "ab") as log:
            log.write(f"\n--- labkit: starting {name}: {' '.join(argv)}\n".encode())
            log.flush()
            try:
                popen = subprocess.Popen(
                    list(argv), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                    env={**os.environ, **(env or {})}, cwd=cwd, start_new_session=True,
                )
            except OSError as exc:
                raise ServiceStartError(f"{name} could not be started ({argv[0]}): {exc}",
                                        service=name) from exc
        return cls(name, popen, log_path)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def detach(self) -> None:
        """Leave the service running after this Python process lets go of it.

        A lab outlives the ``labkit up`` that started it, so the Popen object is
        dropped on purpose; marking it finished stops Python warning that a child
        is "still running". Later control goes through the pid (see :func:`stop_pid`).
        """
        self.popen.returncode = 0

    def stop(self, timeout: float = 10.0) -> None:
        stop_pid(self.pid, timeout=timeout)
        try:
            self.popen.wait(timeout=5)  # reap it, so it does not linger as a zombie
        except subprocess.TimeoutExpired:
            pass


def wait_healthy(proc: ServiceProcess, url: str | None, timeout: float) -> None:
    """Wait until ``url`` answers 200 while the process stays up; raise with the log tail."""
    deadline = time.monotonic() + timeout
    last = "no answer"
    while True:
        code = proc.popen.poll()
        if code is not None:
            raise ServiceStartError(
                f"{proc.name} exited with status {code} during start-up. "
                f"Last lines of {proc.log_path}:\n{log_tail(proc.log_path)}",
                service=proc.name,
            )
        if url is None:
            # No health endpoint: alive for a moment after start counts as healthy.
            if time.monotonic() > deadline - timeout + 1.0:
                return
        else:
            try:
                response = httpx.get(url, timeout=2.0)
                if response.status_code == 200:
                    return
                last = f"last status {response.status_code}"
            except httpx.HTTPError as exc:
                last = f"last error: {type(exc).__name__}"
        if time.monotonic() > deadline:
            raise ServiceNotReady(
                f"{proc.name} not ready at {url} after {timeout:g}s ({last}). "
                f"Last lines of {proc.log_path}:\n{log_tail(proc.log_path)}",
                service=proc.name,
            )
        time.sleep(0.1)
