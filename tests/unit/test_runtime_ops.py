"""Operations: stopping orphaned groups, `down` past failures, private run dirs, old state."""

from __future__ import annotations

import json
import logging
import logging.handlers
import os
import signal
import stat
import subprocess
import time
from pathlib import Path

import psutil
import pytest

from labkit.config import LabConfig
from labkit.errors import LabError
from labkit.runtime import local as local_module
from labkit.runtime.apt import disable_package_units, package_units
from labkit.runtime.local import LocalRuntime, private_dir
from labkit.runtime.process import ServiceProcess, is_alive, stop_pid
from labkit.runtime.state import LabState, ServiceState
from labkit.testing import poll_until


def _group_members(pgid: int) -> list[int]:
    out = []
    for proc in psutil.process_iter():
        try:
            if os.getpgid(proc.pid) == pgid and proc.status() != psutil.STATUS_ZOMBIE:
                out.append(proc.pid)
        except (ProcessLookupError, psutil.Error):
            continue
    return out


def _orphaned_group(tmp_path: Path) -> tuple[int, float]:
    """A service whose leader died, leaving two children in its process group."""
    proc = ServiceProcess.spawn("orphans", ["sh", "-c", "sleep 300 & sleep 300 & wait"],
                                tmp_path / "o.log")
    created = psutil.Process(proc.pid).create_time()
    poll_until("the two children", lambda: len(_group_members(proc.pid)), lambda n: n >= 3,
               10, 0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.popen.wait()
    assert len(_group_members(proc.pid)) == 2
    return proc.pid, created


def test_a_group_whose_leader_died_is_still_stopped(tmp_path: Path) -> None:
    """`down` signals the whole process group even when its leader is already gone."""
    pgid, created = _orphaned_group(tmp_path)
    assert not is_alive(pgid, created)
    stop_pid(pgid, created, timeout=5)
    assert _group_members(pgid) == []


def _state_with(tmp_path: Path, names: list[str]) -> LabConfig:
    config = LabConfig(run_dir=tmp_path / "run")
    state = LabState(run_dir=str(config.run_dir))
    for name in names:
        proc = ServiceProcess.spawn(name, ["sleep", "300"], tmp_path / f"{name}.log")
        proc.detach()
        state.services[name] = ServiceState(
            name=name, url="", pid=proc.pid, create_time=psutil.Process(proc.pid).create_time(),
            started_at=time.time(), log="", launch="test")
    state.save(config.state_file)
    return config


def test_down_carries_on_past_a_failure_and_reports_all(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """One service that will not stop does not keep the others up; the error names it."""
    config = _state_with(tmp_path, ["gateway", "sink", "loki"])
    pids = {n: s.pid for n, s in LabState.load(config.state_file).services.items()}  # type: ignore[union-attr]
    real = local_module.stop_pid

    def stubborn(pid: int, create_time: float | None = None, timeout: float = 10.0) -> None:
        if pid == pids["sink"]:
            raise LabError("permission denied")
        real(pid, create_time, timeout)

    monkeypatch.setattr(local_module, "stop_pid", stubborn)
    lines: list[str] = []
    with pytest.raises(LabError, match=r"(?s)1 service\(s\) did not stop.*sink .*permission"):
        LocalRuntime(config).down(progress=lines.append)
    assert not is_alive(pids["gateway"]) and not is_alive(pids["loki"])
    left = LabState.load(config.state_file)
    assert left is not None and list(left.services) == ["sink"]  # still listed: still running
    real(pids["sink"])


def test_run_directory_is_private(tmp_path: Path) -> None:
    """The run directory (logs, usage, tokens) is made 0700, even if it existed as 0755."""
    run = tmp_path / "run"
    run.mkdir(mode=0o755)
    private_dir(run)
    assert stat.S_IMODE(run.stat().st_mode) == 0o700
    fresh = private_dir(tmp_path / "a" / "b")
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o700


def test_unknown_state_keys_are_tolerated_with_a_warning(tmp_path: Path) -> None:
    """A state file from a newer labkit loads; the keys it does not know are named."""
    path = tmp_path / "state.json"
    path.write_text(json.dumps({
        "run_dir": str(tmp_path), "mode": "lab", "future_key": 1,
        "services": {"gateway": {"name": "gateway", "url": "http://127.0.0.1:8000", "pid": 1,
                                 "create_time": 0.0, "started_at": 0.0, "log": "", "launch": "",
                                 "endpoints": {}, "cgroup": "x"}}}))
    with pytest.warns(RuntimeWarning) as warned:
        state = LabState.load(path)
    messages = " ".join(str(w.message) for w in warned)
    assert "future_key" in messages and "cgroup" in messages
    assert state is not None and state.services["gateway"].url == "http://127.0.0.1:8000"


class FakeSystem:
    """dpkg and systemctl as a test double: records what was run."""

    def __init__(self, fail: set[str] = frozenset()) -> None:  # type: ignore[assignment]
        self.fail = fail
        self.ran: list[list[str]] = []

    def __call__(self, argv: list[str]) -> subprocess.CompletedProcess[str]:
        self.ran.append(argv)
        if argv[:2] == ["dpkg", "-L"]:
            out = "\n".join(["/usr/bin/prometheus", "/lib/systemd/system/prometheus.service",
                             "/usr/lib/systemd/system/prometheus.socket",
                             "/etc/default/prometheus"])
            return subprocess.CompletedProcess(argv, 0, out, "")
        failed = argv[-1] in self.fail
        return subprocess.CompletedProcess(argv, 1 if failed else 0, "", "Access denied")


def test_apt_installed_units_are_disabled() -> None:
    """After an apt install, the package's systemd units are disabled (and stopped)."""
    system = FakeSystem()
    assert package_units("prometheus", system) == ["prometheus.service", "prometheus.socket"]
    lines: list[str] = []
    assert disable_package_units("prometheus", lines.append, run=system) == []
    assert ["systemctl", "disable", "--now", "prometheus.service"] in system.ran
    assert sum("disabled" in line for line in lines) == 2


def test_a_unit_that_cannot_be_disabled_is_reported() -> None:
    """A failure is returned and printed with the command to run by hand, not swallowed."""
    lines: list[str] = []
    failures = disable_package_units("prometheus", lines.append,
                                     run=FakeSystem(fail={"prometheus.socket"}))
    assert failures == ["prometheus.socket: Access denied"]
    assert any("systemctl disable --now prometheus.socket" in line for line in lines)


def test_gateway_log_is_written_once_and_rotated(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """With a log file, the gateway logs only there (rotated), not a second copy on stdout."""
    import uvicorn

    from labkit.gateway.__main__ import main

    monkeypatch.setattr(uvicorn, "run", lambda *a, **k: None)
    main(["--log-file", str(tmp_path / "gateway.log"), "--no-tracing"])
    handlers = logging.getLogger("llm-api").handlers
    assert [type(h) for h in handlers] == [logging.handlers.RotatingFileHandler]
    assert handlers[0].maxBytes == 20_000_000  # type: ignore[attr-defined]
    for h in handlers:
        h.close()


@pytest.mark.parametrize("asked", [False, True], ids=["default", "asked-for"])
def test_prometheus_lifecycle_endpoints_are_off_unless_asked_for(tmp_path: Path,
                                                                 asked: bool) -> None:
    """/-/quit and /-/reload (a cross-site POST away) are enabled only by configuration."""
    from labkit.runtime import catalog
    from labkit.runtime.catalog import ServiceContext

    cfg = LabConfig(run_dir=tmp_path, prometheus_lifecycle=asked)
    urls = {"llama-server": "http://127.0.0.1:8081", "gateway": "http://127.0.0.1:8000",
            "gpu-exporter": "http://127.0.0.1:9400"}  # a GPU exporter: no synthetic backfill
    ctx = ServiceContext(config=cfg, run_dir=tmp_path, data_dir=tmp_path / "d", urls=urls,
                         ports={"http": 9090})
    argv = catalog.get("prometheus").launches[0].args(ctx)
    assert ("--web.enable-lifecycle" in argv) is asked
    assert LabConfig.from_env({"LABKIT_PROMETHEUS_LIFECYCLE": "1"}).prometheus_lifecycle
