"""The Loki stand-in as a subprocess on a free port, for integration tests."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

from labkit.runtime.process import ServiceProcess
from labkit.testing import free_port, start_service

REPO = Path(__file__).resolve().parents[2]


class StandinServer:
    """``python -m labkit.standins.loki`` on a free port over ``data_dir``."""

    def __init__(self, data_dir: Path, *extra_args: str) -> None:
        self.data_dir = data_dir
        self.extra = list(extra_args)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: ServiceProcess | None = None

    def __enter__(self) -> StandinServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        self.proc = start_service(
            "loki stand-in",
            [sys.executable, "-m", "labkit.standins.loki", "--host", "127.0.0.1",
             "--port", str(self.port), "--data-dir", str(self.data_dir), *self.extra],
            log_path=self.data_dir.parent / f"{self.data_dir.name}.log",
            health_url=self.url + "/ready", env={"PYTHONPATH": str(REPO)})

    def kill(self) -> None:
        """SIGKILL, as a crash: no shutdown code runs."""
        if self.proc is not None and self.proc.popen.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.popen.wait(timeout=10)
        self.proc = None

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.stop()
        self.proc = None
