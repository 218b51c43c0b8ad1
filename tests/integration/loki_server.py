"""The Loki stand-in as a subprocess on a free port, for integration tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class StandinServer:
    """``python -m labkit.standins.loki`` on a free port over ``data_dir``."""

    def __init__(self, data_dir: Path, *extra_args: str) -> None:
        self.data_dir = data_dir
        self.extra = list(extra_args)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "labkit.standins.loki", "--host", "127.0.0.1",
             "--port", str(self.port), "--data-dir", str(self.data_dir), *self.extra],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(self.url + "/ready", timeout=1).text == "ready":
                    return
            except httpx.TransportError as exc:
                if self.proc.poll() is not None:
                    output = self.proc.stdout.read().decode() if self.proc.stdout else ""
                    raise RuntimeError(f"stand-in exited: {output}") from exc
            time.sleep(0.1)
        raise RuntimeError("stand-in not ready after 30s")

    def kill(self) -> None:
        """SIGKILL, as a crash: no shutdown code runs."""
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
        self._close()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
        self._close()

    def _close(self) -> None:
        if self.proc is not None and self.proc.stdout:
            self.proc.stdout.close()
        self.proc = None
