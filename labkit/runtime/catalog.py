"""The service catalog: one description per service, read by every runtime.

A :class:`ServiceSpec` says everything a runtime needs to run a service:
its ports, its health check, the config templates it renders, how to launch
it locally (one or more :class:`LocalLaunch` alternatives, first available
wins: a real ``loki`` binary before labkit's stand-in) and how to run it in
docker (a pinned official image and command). Specs are registered in
:mod:`labkit.runtime.services`; :func:`get` and :func:`all_services` look them up.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from labkit.config import LabConfig

__all__ = [
    "LocalLaunch",
    "ServiceContext",
    "ServiceSpec",
    "all_services",
    "get",
    "register",
]


@dataclass(frozen=True)
class ServiceContext:
    """What a launch needs to build its command line: settings, paths, other services' URLs."""

    config: LabConfig
    run_dir: Path
    data_dir: Path
    urls: dict[str, str]
    ports: dict[str, int]
    model_path: str = ""

    def port(self, name: str = "http") -> int:
        return self.ports[name]

    @property
    def host(self) -> str:
        return self.config.host


Args = Callable[[ServiceContext], list[str]]


@dataclass(frozen=True)
class LocalLaunch:
    """One way to run a service on this machine.

    Exactly one of ``binary`` (an executable resolved by provisioning) or
    ``module`` (a ``python -m`` module of labkit) is set.
    """

    args: Args
    binary: str | None = None
    module: str | None = None
    label: str = ""

    @property
    def kind(self) -> str:
        return "binary" if self.binary else "python"


@dataclass(frozen=True)
class DockerSpec:
    """How the docker runtime runs the service: a pinned image and its command."""

    image: str
    command: tuple[str, ...] = ()
    build: str | None = None  # a Dockerfile under stack/ when the image is built locally


@dataclass(frozen=True)
class ServiceSpec:
    """One service of the lab."""

    name: str
    description: str
    ports: dict[str, int]
    health_path: str | None
    launches: tuple[LocalLaunch, ...]
    docker: DockerSpec
    templates: tuple[str, ...] = ()
    depends_on: tuple[str, ...] = ()
    optional: bool = False  # started only when its binary is installed
    # An optional service that needs more than its program (the GPU exporter needs a GPU):
    # started only when this returns True.
    available: Callable[[], bool] | None = None
    url_env: str = ""  # LABKIT_<NAME>_URL, for connect() to a remote stack
    prepare: Callable[[ServiceContext], None] | None = None
    stop_timeout: float = 10.0
    extra_env: dict[str, str] = field(default_factory=dict)

    @property
    def main_port(self) -> int:
        return next(iter(self.ports.values()))


_REGISTRY: dict[str, ServiceSpec] = {}


def register(spec: ServiceSpec) -> ServiceSpec:
    """Add a service to the catalog (names are unique) and return it."""
    if spec.name in _REGISTRY:
        raise ValueError(f"service {spec.name!r} is already registered")
    _REGISTRY[spec.name] = spec
    return spec


def _load() -> None:
    # The catalog entries live in their own module; importing it registers them.
    from labkit.runtime import services  # noqa: F401


def get(name: str) -> ServiceSpec:
    """The spec of one service; a clear error lists the known names."""
    _load()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise KeyError(f"no service {name!r}; known services: {', '.join(_REGISTRY)}") from None


def all_services() -> list[ServiceSpec]:
    """Every registered service, in start order (dependencies first)."""
    _load()
    return list(_REGISTRY.values())
