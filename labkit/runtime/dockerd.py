"""A Docker engine of labkit's own, for tests and benchmarks on machines with none running.

``dockerd`` (Debian's ``docker.io``, installed when missing, as root) starts by hand with
its own data root, exec root, pid file and socket, so it never touches a system engine.
The data root lives under the cache dir, so images built once stay for the next run.

>>> with PrivateEngine() as host:           # doctest: +SKIP
...     docker.DockerClient(base_url=host).ping()
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

import httpx

from labkit.errors import ContainerEngineError
from labkit.runtime.paths import cache_dir

__all__ = ["EngineUnavailable", "PrivateEngine", "ensure_docker_installed"]


class EngineUnavailable(ContainerEngineError):
    """No Docker engine can be started on this machine (the reason says why)."""


def ensure_docker_installed() -> str:
    """The path of ``dockerd``, installing Debian's ``docker.io`` when missing (root only)."""
    found = shutil.which("dockerd")
    if found:
        return found
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise EngineUnavailable("dockerd is not installed, and installing docker.io needs "
                                "root and apt-get")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for argv in (["apt-get", "update", "-q"],
                 ["apt-get", "install", "-y", "-q", "--no-install-recommends", "docker.io"]):
        result = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
        if result.returncode != 0:
            raise EngineUnavailable(f"{' '.join(argv)} failed: {result.stderr[-500:]}")
    found = shutil.which("dockerd")
    if not found:
        raise EngineUnavailable("docker.io installed, yet dockerd is not on PATH")
    return found


def _accepts(path: Path) -> bool:
    """Whether something listens on the unix socket at ``path`` (closing what it opened)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        try:
            sock.connect(str(path))
        except OSError:
            return False
    return True


class PrivateEngine:
    """Start and stop one private ``dockerd``; the object's value is its ``unix://`` URL."""

    def __init__(self, data_root: Path | None = None, timeout: float = 60.0) -> None:
        self.data_root = data_root or cache_dir() / "docker-engine" / "data"
        self.timeout = timeout
        self.exec_root: Path | None = None
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def socket(self) -> Path:
        assert self.exec_root is not None
        return self.exec_root / "docker.sock"

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"

    def start(self) -> str:
        """Start dockerd and wait for ``/_ping``; raise :class:`EngineUnavailable` if it can't."""
        dockerd = ensure_docker_installed()
        if os.geteuid() != 0:
            raise EngineUnavailable("starting dockerd by hand needs root")
        self.data_root.mkdir(parents=True, exist_ok=True)
        # Short: containerd's sockets live under it, and unix socket paths are limited.
        self.exec_root = Path(tempfile.mkdtemp(prefix="lkd-", dir="/tmp"))
        log = self.exec_root / "dockerd.log"
        pidfile = self.data_root.parent / "dockerd.pid"
        argv = [dockerd, "--data-root", str(self.data_root), "--exec-root",
                str(self.exec_root / "x"), "--pidfile", str(pidfile), "-H", self.url]
        with log.open("wb") as out:
            self.proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + self.timeout
        transport = httpx.HTTPTransport(uds=str(self.socket))
        with httpx.Client(transport=transport, timeout=2.0) as client:
            while True:
                if self.proc.poll() is not None:
                    tail = log.read_text(errors="replace")[-1500:]
                    self._cleanup()
                    raise EngineUnavailable(f"dockerd exited ({self.proc.returncode}):\n{tail}")
                # httpx leaks the socket of a refused unix connect, so connect first by hand.
                try:
                    if _accepts(self.socket) and client.get("http://docker/_ping").text == "OK":
                        return self.url
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    tail = log.read_text(errors="replace")[-1500:]
                    self.stop()
                    raise EngineUnavailable(f"dockerd did not answer /_ping in "
                                            f"{self.timeout:g}s:\n{tail}")
                time.sleep(0.3)

    def stop(self) -> None:
        """Stop dockerd (it stops its containers first); safe to call twice."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        self._cleanup()

    def _cleanup(self) -> None:
        if self.exec_root is not None:
            subprocess.run(["umount", "-R", str(self.exec_root / "x")], capture_output=True,
                           check=False)
            shutil.rmtree(self.exec_root, ignore_errors=True)
            self.exec_root = None

    def __enter__(self) -> str:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
