"""A real binary that will not start gives way to the next launch (the stand-in), and says so."""

from __future__ import annotations

from pathlib import Path

import pytest

from labkit.config import LabConfig
from labkit.errors import ServiceStartError
from labkit.runtime.catalog import DockerSpec, LocalLaunch, ServiceContext, ServiceSpec
from labkit.runtime.local import LocalRuntime
from labkit.runtime.process import stop_pid
from labkit.runtime.state import LabState
from labkit.testing import free_port


def _spec(port: int, *, with_standin: bool = True) -> ServiceSpec:
    """A service whose real binary exits at once, with an http.server 'stand-in' after it."""
    def serve(ctx: ServiceContext) -> list[str]:
        return ["--bind", ctx.host, str(ctx.port())]

    launches = [LocalLaunch(args=lambda ctx: [], binary="labkit-broken-server",
                            label="broken real server")]
    if with_standin:
        launches.append(LocalLaunch(args=serve, module="http.server", label="labkit stand-in"))
    return ServiceSpec(name="fallback-test", description="test", ports={"http": port},
                       health_path="/", launches=tuple(launches),
                       docker=DockerSpec(image="none:0"))


@pytest.fixture
def broken_on_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "path"
    folder.mkdir()
    script = folder / "labkit-broken-server"
    script.write_text("#!/bin/sh\necho 'config rejected' >&2\nexit 3\n")
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{folder}:/usr/bin:/bin")
    return script


def test_broken_real_binary_falls_back_to_the_stand_in(tmp_path: Path,
                                                       broken_on_path: Path) -> None:
    """The broken binary is tried first; the stand-in then serves and is recorded as such."""
    runtime = LocalRuntime(LabConfig(run_dir=tmp_path / "lab", start_timeout=20))
    state = LabState(run_dir=str(tmp_path / "lab"))
    messages: list[str] = []
    assert runtime._start(_spec(free_port()), state, messages.append)
    svc = state.services["fallback-test"]
    try:
        assert any("broken real server failed to start" in m and "exited with status 3" in m
                   and "using labkit stand-in instead" in m for m in messages)
        assert svc.origin == "stand-in"
    finally:
        stop_pid(svc.pid, svc.create_time)


def test_without_an_alternative_the_error_stands(tmp_path: Path, broken_on_path: Path) -> None:
    """With nothing to fall back to, the start error (with the log tail) is raised."""
    runtime = LocalRuntime(LabConfig(run_dir=tmp_path / "lab", start_timeout=20))
    with pytest.raises(ServiceStartError, match="config rejected"):
        runtime._start(_spec(free_port(), with_standin=False), LabState(run_dir="x"),
                       lambda _: None)
