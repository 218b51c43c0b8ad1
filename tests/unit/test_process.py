"""Starting, watching and stopping one service process."""

import socket
import sys
from pathlib import Path

import pytest

from labkit.errors import PortInUse, ServiceNotReady, ServiceStartError
from labkit.runtime.process import ServiceProcess, check_port_free, is_alive, wait_healthy
from labkit.testing import poll_until


def test_busy_port_names_service_and_port() -> None:
    """A port held by another process gives PortInUse naming the service and the port."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        with pytest.raises(PortInUse, match=f"prometheus cannot start: port 127.0.0.1:{port}"):
            check_port_free("prometheus", "127.0.0.1", port)


def test_service_dying_at_start_shows_its_log(tmp_path: Path) -> None:
    """A process that exits during start-up raises with its exit status and last log lines."""
    argv = [sys.executable, "-c", "import sys; print('model file is corrupt'); sys.exit(3)"]
    proc = ServiceProcess.spawn("llama-server", argv, tmp_path / "llama.log")
    with pytest.raises(ServiceStartError, match=r"(?s)exited with status 3.*model file is corrupt"):
        wait_healthy(proc, "http://127.0.0.1:9/health", timeout=10)


def test_service_never_healthy_times_out(tmp_path: Path) -> None:
    """A process that runs but never answers its health check raises ServiceNotReady."""
    argv = [sys.executable, "-c", "import time; print('still loading'); time.sleep(30)"]
    proc = ServiceProcess.spawn("loki", argv, tmp_path / "loki.log")
    try:
        with pytest.raises(ServiceNotReady, match=r"(?s)loki not ready at .* after 1s.*still"):
            wait_healthy(proc, "http://127.0.0.1:9/ready", timeout=1)
    finally:
        proc.stop()
    assert not is_alive(proc.pid)


def test_stop_kills_children_too(tmp_path: Path) -> None:
    """Stopping a service also stops the processes it spawned."""
    code = ("import subprocess, sys, time; "
            "p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); "
            "print(p.pid, flush=True); time.sleep(60)")
    log = tmp_path / "svc.log"
    proc = ServiceProcess.spawn("svc", [sys.executable, "-c", code], log)
    last = poll_until("the child's pid in the log", lambda: log.read_text().strip().splitlines(),
                      lambda lines: bool(lines) and lines[-1].isdigit(), 10, 0.05)
    child = int(last[-1])
    proc.stop(timeout=5)
    assert not is_alive(proc.pid)
    assert not is_alive(child)


def test_missing_executable_is_a_start_error(tmp_path: Path) -> None:
    """An executable that does not exist gives a start error naming the path."""
    with pytest.raises(ServiceStartError, match="/nonexistent/prometheus"):
        ServiceProcess.spawn("prometheus", ["/nonexistent/prometheus"], tmp_path / "p.log")
