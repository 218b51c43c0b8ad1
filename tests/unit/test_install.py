"""`labkit install` builds llama-server beside the Go builds, and reports both."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from labkit.errors import ProvisionError
from labkit.runtime import install


def test_llama_server_builds_while_the_go_binaries_install(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Each side waits for the other to have started: run one after the other, it would
    time out; side by side, both finish and their results come back."""
    go_started, llama_started = threading.Event(), threading.Event()

    def fake_llama(*, progress: object) -> Path:
        llama_started.set()
        assert go_started.wait(10), "the Go builds did not start while llama-server built"
        return tmp_path / "llama-server"

    def fake_install_all(*, from_source: bool, progress: object) -> dict[str, float]:
        go_started.set()
        assert llama_started.wait(10), "llama-server's build did not start beside the Go builds"
        return {"prometheus": 1.0}

    monkeypatch.setattr(install, "ensure_llama_server", fake_llama)
    monkeypatch.setattr(install, "install_all", fake_install_all)
    timings, server = install.install_with_llama_server(progress=lambda _: None)
    assert timings == {"prometheus": 1.0} and server == tmp_path / "llama-server"


def test_a_failed_go_build_still_lets_the_llama_build_finish(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The Go error is raised, after the llama-server build ended (never left half-done)."""
    finished = threading.Event()

    def fake_llama(*, progress: object) -> Path:
        finished.wait(0.2)
        finished.set()
        return tmp_path / "llama-server"

    def failing_install_all(*, from_source: bool, progress: object) -> dict[str, float]:
        raise ProvisionError("go build of github.com/prometheus/prometheus failed")

    monkeypatch.setattr(install, "ensure_llama_server", fake_llama)
    monkeypatch.setattr(install, "install_all", failing_install_all)
    with pytest.raises(ProvisionError, match="prometheus failed"):
        install.install_with_llama_server(progress=lambda _: None)
    assert finished.is_set()


def test_a_failed_llama_build_is_raised(monkeypatch: pytest.MonkeyPatch) -> None:
    def failing_llama(*, progress: object) -> Path:
        raise ProvisionError("building llama-server failed while compiling")

    monkeypatch.setattr(install, "ensure_llama_server", failing_llama)
    monkeypatch.setattr(install, "install_all", lambda **_: {})
    with pytest.raises(ProvisionError, match="while compiling"):
        install.install_with_llama_server(progress=lambda _: None)
