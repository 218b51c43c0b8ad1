"""One frozen settings object for the whole lab, read from ``LABKIT_*`` variables.

Every function that needs settings takes ``config=None`` and falls back to
``LabConfig.from_env()``; nothing reads the environment anywhere else.

=========================  ==========================================  ==================
variable                   meaning                                     default
=========================  ==========================================  ==================
LABKIT_RUN_DIR             state file, logs, service data              user state dir
LABKIT_HOST                address every service binds                 127.0.0.1
LABKIT_PORT_OFFSET         added to every default port                 0
LABKIT_SLOTS               llama-server parallel slots                 4
LABKIT_MODEL               GGUF path (default: generated tiny model)   (generated)
LABKIT_MODE                ``lab`` (compressed time) or ``production``  lab
LABKIT_START_TIMEOUT       seconds to wait for each health check       60
LABKIT_ADMIN_TOKEN         bearer token for the gateway's /admin/*     (none; required
                                                                       beyond loopback)
LABKIT_PROMETHEUS_LIFECYCLE  ``1``: Prometheus's /-/reload, /-/quit    off
LABKIT_RUNTIME             ``local`` (processes) or ``docker``         the running lab's,
                                                                       else local
LABKIT_IMAGE_<SERVICE>     image for one service (a mirror), e.g.      pinned table
                           LABKIT_IMAGE_LLAMA_SERVER=mirror/llama:b1   (runtime/images.py)
LABKIT_DOCKER_HOST         the Docker engine (else DOCKER_HOST)        local socket
LABKIT_DOCKER_STANDINS     services run from labkit's image with its   (none)
                           stand-in, e.g. ``loki,jaeger,shipper``
=========================  ==========================================  ==================
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path

import platformdirs

__all__ = ["RUNTIMES", "LabConfig", "default_run_dir"]

RUNTIMES = ("local", "docker")
IMAGE_ENV_PREFIX = "LABKIT_IMAGE_"


def default_run_dir() -> Path:
    """Where a lab keeps its state unless ``LABKIT_RUN_DIR`` says otherwise."""
    return Path(platformdirs.user_state_dir("labkit")) / "lab"


def _int(env: dict[str, str], name: str, default: int) -> int:
    raw = env.get(name, "")
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"{name}={raw!r} is not an integer; unset it or give a number") from None


@dataclass(frozen=True)
class LabConfig:
    """Settings for one lab: where it lives, which ports it uses, how it runs.

    >>> cfg = LabConfig(run_dir=Path("/tmp/lab"), port_offset=10000)
    >>> cfg.port(9090)
    19090
    """

    run_dir: Path = field(default_factory=default_run_dir)
    host: str = "127.0.0.1"
    port_offset: int = 0
    slots: int = 4
    model: Path | None = None
    mode: str = "lab"
    start_timeout: float = 60.0
    admin_token: str | None = field(default=None, repr=False)
    prometheus_lifecycle: bool = False
    runtime: str = ""  # "" = the running lab's runtime, else local (runtime/select.py)
    image_overrides: tuple[tuple[str, str], ...] = ()  # (service, image) pairs
    docker_host: str = ""
    docker_standins: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.runtime and self.runtime not in RUNTIMES:
            raise ValueError(f"LABKIT_RUNTIME={self.runtime!r}: expected one of "
                             f"{', '.join(RUNTIMES)}")
        if self.mode not in ("lab", "production"):
            raise ValueError(f"LABKIT_MODE={self.mode!r}: expected 'lab' or 'production'")
        if self.slots < 1:
            raise ValueError(f"slots must be at least 1, got {self.slots}")

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> LabConfig:
        """Build the settings from ``LABKIT_*`` variables (``os.environ`` by default)."""
        env = dict(os.environ if env is None else env)
        model = env.get("LABKIT_MODEL")
        return cls(
            run_dir=Path(env["LABKIT_RUN_DIR"]) if env.get("LABKIT_RUN_DIR") else default_run_dir(),
            host=env.get("LABKIT_HOST") or "127.0.0.1",
            port_offset=_int(env, "LABKIT_PORT_OFFSET", 0),
            slots=_int(env, "LABKIT_SLOTS", 4),
            model=Path(model) if model else None,
            mode=env.get("LABKIT_MODE") or "lab",
            start_timeout=float(env.get("LABKIT_START_TIMEOUT") or 60),
            admin_token=env.get("LABKIT_ADMIN_TOKEN") or None,
            prometheus_lifecycle=env.get("LABKIT_PROMETHEUS_LIFECYCLE", "") in ("1", "true"),
            runtime=env.get("LABKIT_RUNTIME") or "",
            image_overrides=_image_overrides(env),
            docker_host=env.get("LABKIT_DOCKER_HOST") or env.get("DOCKER_HOST") or "",
            docker_standins=tuple(
                name.strip() for name in env.get("LABKIT_DOCKER_STANDINS", "").split(",")
                if name.strip()
            ),
        )

    def with_(self, **changes: object) -> LabConfig:
        """A copy with some settings changed."""
        return replace(self, **changes)  # type: ignore[arg-type]

    @property
    def lab_mode(self) -> bool:
        """True when time is compressed (short scrape intervals, windows and ``for:``)."""
        return self.mode == "lab"

    @property
    def state_file(self) -> Path:
        return self.run_dir / "state.json"

    def port(self, default: int) -> int:
        """The port a service uses, given its default."""
        return default + self.port_offset

    def image_override(self, service: str) -> str | None:
        """The image ``LABKIT_IMAGE_<SERVICE>`` names for a service, if any."""
        return dict(self.image_overrides).get(service)


def service_env_name(service: str) -> str:
    """``llama-server`` -> ``LABKIT_IMAGE_LLAMA_SERVER``."""
    return IMAGE_ENV_PREFIX + service.upper().replace("-", "_")


def _image_overrides(env: dict[str, str]) -> tuple[tuple[str, str], ...]:
    # The variable names the service in upper case with '_' for '-': turn it back.
    return tuple(sorted(
        (name[len(IMAGE_ENV_PREFIX):].lower().replace("_", "-"), value.strip())
        for name, value in env.items()
        if name.startswith(IMAGE_ENV_PREFIX) and value.strip()
    ))
