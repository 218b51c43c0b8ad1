"""One frozen settings object for the whole lab, read from ``LABKIT_*`` variables.

Every function that needs settings takes ``config=None`` and falls back to
``LabConfig.from_env()``; nothing reads the environment anywhere else. A value labkit
cannot use raises :class:`~labkit.errors.ConfigError` naming the variable, its value and
what it accepts. Booleans take ``1``/``true``/``yes``/``on`` or ``0``/``false``/``no``/``off``.

===========================  ==========================================  ==================
variable                     meaning                                     default
===========================  ==========================================  ==================
LABKIT_RUN_DIR               state file, logs, service data              user state dir
LABKIT_CACHE_DIR             installed binaries, builds, models          user cache dir
LABKIT_STACK_DIR             the ``stack/`` config templates             beside the package
LABKIT_HOST                  address every service binds                 127.0.0.1
LABKIT_PORT_OFFSET           added to every default port (0 to 40000)    0
LABKIT_SLOTS                 llama-server parallel slots                 4
LABKIT_MODEL                 GGUF path (default: generated tiny model)   (generated)
LABKIT_MODE                  ``lab`` (compressed time) or ``production``  lab
LABKIT_START_TIMEOUT         seconds to wait for each health check       60
LABKIT_ADMIN_TOKEN           bearer token for the gateway's /admin/*     (none; required
                                                                         beyond loopback)
LABKIT_PROMETHEUS_LIFECYCLE  boolean: Prometheus's /-/reload, /-/quit    off
LABKIT_OFFLINE               boolean: never download release archives    off
LABKIT_STRICT_CHECKS         boolean: a failed check raises (the test    off
                             harness sets it, not the learner)
LABKIT_RUNTIME               ``local`` (processes) or ``docker``         the running lab's,
                                                                         else local
LABKIT_IMAGE_<SERVICE>       image for one service (a mirror), e.g.      pinned table
                             LABKIT_IMAGE_LLAMA_SERVER=mirror/llama:b1   (runtime/images.py)
LABKIT_DOCKER_HOST           the Docker engine (else DOCKER_HOST)        local socket
LABKIT_DOCKER_STANDINS       services run from labkit's image with its   (none)
                             stand-in, e.g. ``loki,jaeger,shipper``
LABKIT_<SERVICE>_URL         an existing stack's service, e.g.           (the state file's)
                             LABKIT_PROMETHEUS_URL (http or https)
LABKIT_GRAFANA_ADMIN_PASSWORD  Grafana's admin password                  generated once
LABKIT_SINK_DATA_DIR         the notification sink's data folder         ./sink-data
LABKIT_LOKI_ALLOWED_HOSTS    Host names the Loki stand-in also answers   (loopback names)
===========================  ==========================================  ==================
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import urlsplit

import platformdirs

from labkit.errors import ConfigError

__all__ = ["RUNTIMES", "LabConfig", "default_cache_dir", "default_run_dir", "url_variables"]

RUNTIMES = ("local", "docker")
MODES = ("lab", "production")
IMAGE_ENV_PREFIX = "LABKIT_IMAGE_"
MAX_PORT_OFFSET = 40000  # the highest default port (16686) plus this stays below 65536
_URL_ENV = re.compile(r"LABKIT_[A-Z0-9_]+_URL")
_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


def default_run_dir() -> Path:
    """Where a lab keeps its state unless ``LABKIT_RUN_DIR`` says otherwise."""
    return Path(platformdirs.user_state_dir("labkit")) / "lab"


def default_cache_dir() -> Path:
    """Where labkit installs binaries and models unless ``LABKIT_CACHE_DIR`` says otherwise."""
    return Path(platformdirs.user_cache_dir("labkit"))


# Numeric settings: variable -> (accepts the value?, what to say when it does not).
_LIMITS: dict[str, tuple[Callable[[float], bool], str]] = {
    "LABKIT_PORT_OFFSET": (lambda v: 0 <= v <= MAX_PORT_OFFSET,
                           f"must be between 0 and {MAX_PORT_OFFSET} (ports stay below 65536)"),
    "LABKIT_SLOTS": (lambda v: v >= 1, "must be at least 1 (llama-server's parallel slots)"),
    "LABKIT_START_TIMEOUT": (lambda v: v > 0, "must be a positive number of seconds"),
}


def _check_limit(name: str, value: float, raw: str) -> None:
    accepts, problem = _LIMITS[name]
    if not accepts(value):
        raise ConfigError(name, raw, problem)


def _number(env: dict[str, str], name: str, default: float, kind: type[float] | type[int],
            problem: str) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = kind(raw)
    except ValueError:
        raise ConfigError(name, raw, problem) from None
    _check_limit(name, value, raw)
    return value


def _int(env: dict[str, str], name: str, default: int) -> int:
    return int(_number(env, name, default, int,
                       "is not an integer; unset it or give a whole number"))


def _float(env: dict[str, str], name: str, default: float) -> float:
    return _number(env, name, default, float, "is not a number of seconds; give e.g. 60 or 2.5")


def _bool(env: dict[str, str], name: str) -> bool:
    raw = env.get(name, "").strip().lower()
    if raw in ("", *_FALSE):
        return False
    if raw in _TRUE:
        return True
    raise ConfigError(name, env[name], "is not a boolean; use 1 or 0 (true/false, yes/no, on/off)")


def _path(env: dict[str, str], name: str) -> Path | None:
    raw = env.get(name, "").strip()
    return Path(raw).expanduser() if raw else None


def _names(env: dict[str, str], name: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in env.get(name, "").split(",") if part.strip())


def url_variables(env: dict[str, str] | None = None) -> dict[str, str]:
    """``LABKIT_<SERVICE>_URL`` variable -> its URL (no trailing slash), for a remote stack.

    These say where a lab is, not how to run one, so they are not in :class:`LabConfig`:
    ``connect()`` reads them beside the state file.

    >>> url_variables({"LABKIT_PROMETHEUS_URL": "http://10.0.0.5:9090/"})
    {'LABKIT_PROMETHEUS_URL': 'http://10.0.0.5:9090'}
    """
    env = dict(os.environ if env is None else env)
    found = {}
    for name, raw in sorted(env.items()):
        if not _URL_ENV.fullmatch(name) or not raw.strip():
            continue
        parts = urlsplit(raw.strip())
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ConfigError(name, raw, "is not an http(s) URL; give e.g. http://127.0.0.1:9090")
        found[name] = raw.strip().rstrip("/")
    return found


def _image_overrides(env: dict[str, str]) -> tuple[tuple[str, str], ...]:
    # The variable names the service in upper case with '_' for '-': turn it back.
    return tuple(sorted(
        (name[len(IMAGE_ENV_PREFIX):].lower().replace("_", "-"), value.strip())
        for name, value in env.items()
        if name.startswith(IMAGE_ENV_PREFIX) and value.strip()
    ))


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
    cache_dir: Path = field(default_factory=default_cache_dir)
    stack_dir: Path | None = None  # None: the stack/ folder beside the package
    offline: bool = False
    strict_checks: bool = False
    grafana_admin_password: str | None = field(default=None, repr=False)
    sink_data_dir: Path = Path("sink-data")
    loki_allowed_hosts: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.runtime and self.runtime not in RUNTIMES:
            raise ConfigError("LABKIT_RUNTIME", self.runtime,
                              f"is not a runtime; expected one of {', '.join(RUNTIMES)}")
        if self.mode not in MODES:
            raise ConfigError("LABKIT_MODE", self.mode,
                              "is not a mode; expected 'lab' or 'production'")
        for name, value in (("LABKIT_PORT_OFFSET", self.port_offset),
                            ("LABKIT_SLOTS", self.slots),
                            ("LABKIT_START_TIMEOUT", self.start_timeout)):
            _check_limit(name, value, str(value))

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> LabConfig:
        """Build the settings from ``LABKIT_*`` variables (``os.environ`` by default)."""
        env = dict(os.environ if env is None else env)
        return cls(
            run_dir=_path(env, "LABKIT_RUN_DIR") or default_run_dir(),
            host=env.get("LABKIT_HOST") or "127.0.0.1",
            port_offset=_int(env, "LABKIT_PORT_OFFSET", 0),
            slots=_int(env, "LABKIT_SLOTS", 4),
            model=_path(env, "LABKIT_MODEL"),
            mode=env.get("LABKIT_MODE") or "lab",
            start_timeout=_float(env, "LABKIT_START_TIMEOUT", 60.0),
            admin_token=env.get("LABKIT_ADMIN_TOKEN") or None,
            prometheus_lifecycle=_bool(env, "LABKIT_PROMETHEUS_LIFECYCLE"),
            runtime=env.get("LABKIT_RUNTIME") or "",
            image_overrides=_image_overrides(env),
            docker_host=env.get("LABKIT_DOCKER_HOST") or env.get("DOCKER_HOST") or "",
            docker_standins=_names(env, "LABKIT_DOCKER_STANDINS"),
            cache_dir=_path(env, "LABKIT_CACHE_DIR") or default_cache_dir(),
            stack_dir=_path(env, "LABKIT_STACK_DIR"),
            offline=_bool(env, "LABKIT_OFFLINE"),
            strict_checks=_bool(env, "LABKIT_STRICT_CHECKS"),
            grafana_admin_password=env.get("LABKIT_GRAFANA_ADMIN_PASSWORD") or None,
            sink_data_dir=_path(env, "LABKIT_SINK_DATA_DIR") or Path("sink-data"),
            loki_allowed_hosts=_names(env, "LABKIT_LOKI_ALLOWED_HOSTS"),
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
