"""Pick the runtime of a lab: the one asked for, else the one the running lab uses."""

from __future__ import annotations

from typing import TYPE_CHECKING

from labkit.config import LabConfig
from labkit.errors import LabError
from labkit.runtime.state import LabState

if TYPE_CHECKING:
    from labkit.runtime.docker import DockerRuntime
    from labkit.runtime.local import LocalRuntime

__all__ = ["make_runtime", "runtime_name"]


def runtime_name(config: LabConfig) -> str:
    """``--runtime``/``LABKIT_RUNTIME`` when given; else the state file's; else ``local``."""
    if config.runtime:
        return config.runtime
    state = LabState.load(config.state_file)
    return state.runtime if state is not None and state.services else "local"


def make_runtime(config: LabConfig) -> LocalRuntime | DockerRuntime:
    """The runtime object for this lab (both have up, down, status and running).

    Asking for one runtime while the lab in the run directory runs on the other is an
    error that says what to do, rather than a clash of ports.
    """
    state = LabState.load(config.state_file)
    running = state.runtime if state is not None and state.services else None
    if config.runtime and running and config.runtime != running:
        raise LabError(
            f"the lab in {config.run_dir} runs on the {running} runtime: use `--runtime "
            f"{running}` (or LABKIT_RUNTIME={running}) to manage it, `labkit down --runtime "
            f"{running}` to stop it, or another LABKIT_RUN_DIR for a second lab")
    if runtime_name(config) == "docker":
        from labkit.runtime.docker import DockerRuntime

        return DockerRuntime(config)
    from labkit.runtime.local import LocalRuntime

    return LocalRuntime(config)
