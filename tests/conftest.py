"""Shared fixtures: a clean environment for every test, and one live lab per session."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

# Ports of the test lab: away from a learner's own lab on the default ports, and below the
# kernel's ephemeral range (32768 and up), where any client socket could take them first.
# Read once, before the autouse fixture below clears LABKIT_*, so two test runs can sit
# side by side. Other tests in tests/integration start their own labs at the fixed offsets
# below.
#
# Under pytest-xdist (`make test` runs three workers) each worker starts its own lab, WORKER_STEP
# ports further per worker: a step that no difference of two lab ports equals, so no port of
# one worker's lab is a port of another's, nor of the fixed offsets below
# (tests/unit/test_test_ports.py checks that).
BASE_PORT_OFFSET = int(os.environ.get("LABKIT_TEST_PORT_OFFSET") or 10000)
WORKER_STEP = 6
DOWN_TEST_OFFSET = 11000  # test_stack.py, one lab each
BUSY_PORT_TEST_OFFSET = 12000
CRASH_TEST_OFFSET = 13000
CONTEXT_MANAGER_TEST_OFFSET = 14500
# test_docker_runtime.py: host ports of the docker labs (Jaeger's 16686 stays under 32768)
DOCKER_PORT_OFFSET = int(os.environ.get("LABKIT_TEST_DOCKER_PORT_OFFSET") or 15500)
FIXED_TEST_OFFSETS = (DOWN_TEST_OFFSET, BUSY_PORT_TEST_OFFSET, CRASH_TEST_OFFSET,
                      CONTEXT_MANAGER_TEST_OFFSET, DOCKER_PORT_OFFSET)


def worker_index() -> int:
    """0 without xdist, else the worker's number (PYTEST_XDIST_WORKER is "gw0", "gw1", ...)."""
    return int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0)


TEST_PORT_OFFSET = BASE_PORT_OFFSET + WORKER_STEP * worker_index()


@pytest.hookimpl(optionalhook=True)  # a pytest-xdist hook: unknown to pytest without it
def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object:
    """Under xdist: each module outside tests/notebooks runs whole on one worker, so its
    module fixtures (a docker engine, a graded class, a real Jaeger) start once; the notebook
    runs, which take most of the time, are dealt out one by one."""
    from xdist.scheduler import LoadScopeScheduling

    class ModuleOrNotebookRun(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            if nodeid.startswith("tests/notebooks/"):
                return nodeid
            return nodeid.split("::", 1)[0]

    return ModuleOrNotebookRun(config, log)  # type: ignore[arg-type]


def pytest_sessionstart(session: pytest.Session) -> None:
    """The test log names what the stack runs on, even under -q (the README's `make test`)."""
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        for line in _stack_versions():
            reporter.write_line(line)


def _stack_versions() -> list[str]:
    """Per service: program, version, origin, path; then promtool and amtool."""
    from labkit.runtime import catalog
    from labkit.runtime.origins import binary_version, service_origin
    from labkit.runtime.provision import locate

    lines = ["labkit stack (service, program, version, origin, path):"]
    for spec in catalog.all_services():
        origin = service_origin(spec)
        lines.append("  " + (origin.line() if origin else f"{spec.name:<14} not installed"))
    for tool in ("promtool", "amtool"):
        found = locate(tool)
        if found:
            lines.append(f"  {'(tool)':<14} {tool:<14} {binary_version(found.path, tool):<14} "
                         f"{found.origin:<9}  {found.path}")
    return lines


@pytest.fixture(autouse=True)
def _clean_labkit_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No LABKIT_* variable from the developer's shell leaks into a test."""
    for name in list(os.environ):
        if name.startswith("LABKIT_") and name != "LABKIT_CACHE_DIR":
            monkeypatch.delenv(name)


@pytest.fixture(scope="session")
def lab_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """The whole stack, started once for the session with the real binaries, then stopped."""
    from labkit.config import LabConfig
    from labkit.lab import Lab

    run_dir = tmp_path_factory.mktemp("lab")
    config = LabConfig(run_dir=run_dir, port_offset=TEST_PORT_OFFSET)
    lab = Lab(config)
    with lab:
        yield lab


@pytest.fixture
def lab_env(lab_stack: object, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point LABKIT_* at the session lab, so code (and notebook kernels) find it."""
    config = lab_stack.config  # type: ignore[attr-defined]
    monkeypatch.setenv("LABKIT_RUN_DIR", str(config.run_dir))
    monkeypatch.setenv("LABKIT_PORT_OFFSET", str(config.port_offset))
    return Path(config.run_dir)
