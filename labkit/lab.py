"""A lab you can reach: start one (:class:`Lab`) or find a running one (:func:`connect`)."""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any

from labkit.config import LabConfig, url_variables
from labkit.errors import LabNotRunning
from labkit.runtime import catalog
from labkit.runtime.state import LabState

if TYPE_CHECKING:
    import openai

    from labkit.query.jaeger import Jaeger
    from labkit.query.loki import Loki
    from labkit.query.prometheus import Prometheus

__all__ = ["Lab", "connect"]

# Extra endpoints a remote stack may name besides each service's main URL.
EXTRA_URL_ENV = {"jaeger.otlp": "LABKIT_OTLP_URL"}


def _env_urls(env: dict[str, str] | None = None) -> dict[str, str]:
    """Service (or extra endpoint) -> URL, from the ``LABKIT_*_URL`` variables."""
    given = url_variables(env)
    names = {spec.name: spec.url_env for spec in catalog.all_services() if spec.url_env}
    return {key: given[name] for key, name in {**names, **EXTRA_URL_ENV}.items() if name in given}


class Lab:
    """The lab's services and clients for them.

    Start a local lab for the length of a ``with`` block (stopped again at the end, unless
    it was already running; a failed start cleans up after itself)::

        with Lab() as lab:
            print(lab.prometheus.query("up"))

    or reach a running one with :func:`connect`.
    """

    def __init__(self, config: LabConfig | None = None,
                 urls: dict[str, str] | None = None) -> None:
        self.config = config or LabConfig.from_env()
        self.urls: dict[str, str] = dict(urls or {})
        self._started: set[str] = set()
        self._clients: dict[str, Any] = {}

    # -- lifecycle ----------------------------------------------------------------------------

    def up(self, services: list[str] | None = None, progress: Any = print) -> Lab:
        """Start the lab (idempotent) and learn its URLs: local processes, or containers
        with ``LABKIT_RUNTIME=docker`` (``LabConfig(runtime="docker")``).

        A failed start stops what this call started and raises, naming the service.
        """
        from labkit.runtime.select import make_runtime

        runtime = make_runtime(self.config)
        before = runtime.running()
        state = runtime.up(services, progress=progress)
        self._started |= set(state.services) - before
        self.urls = {**state.urls(), **_env_urls()}
        return self

    def down(self, services: list[str] | None = None, progress: Any = print) -> None:
        """Stop the lab (or only ``services``); safe to call twice."""
        from labkit.runtime.select import make_runtime

        make_runtime(self.config).down(services, progress=progress)
        self._started = set() if services is None else self._started - set(services)

    def __enter__(self) -> Lab:
        return self.up()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
        # Services that were already running when the block began are left running.
        if self._started:
            self.down(sorted(self._started), progress=lambda _: None)

    # -- where things are ------------------------------------------------------------------------

    def url(self, service: str) -> str:
        """The base URL of a service; a clear error when this lab has none."""
        try:
            return self.urls[service]
        except KeyError:
            env = catalog.get(service.split(".")[0]).url_env or EXTRA_URL_ENV.get(service, "")
            raise LabNotRunning(
                f"this lab has no {service} (known: {', '.join(sorted(self.urls)) or 'none'}). "
                f"Start it with `labkit up`, or point at one with {env}=http://host:port."
            ) from None

    @property
    def gateway_url(self) -> str:
        return self.url("gateway")

    # One client per service, reused: a notebook that calls ``lab.loki.query(...)`` in every
    # cell keeps one connection pool, not one per call. A client closed by a ``with`` block
    # is replaced on the next access.

    def _client(self, service: str, factory: Callable[[str], Any]) -> Any:
        url = self.url(service)
        client = self._clients.get(service)
        if client is None or client.closed or client.url != url:
            client = self._clients[service] = factory(url)
        return client

    @property
    def prometheus(self) -> Prometheus:
        from labkit.query.prometheus import Prometheus

        return self._client("prometheus", Prometheus)  # type: ignore[no-any-return]

    @property
    def loki(self) -> Loki:
        from labkit.query.loki import Loki

        return self._client("loki", Loki)  # type: ignore[no-any-return]

    @property
    def jaeger(self) -> Jaeger:
        from labkit.query.jaeger import Jaeger

        return self._client("jaeger", Jaeger)  # type: ignore[no-any-return]

    def close(self) -> None:
        """Close the query clients this lab handed out (they reopen on next use)."""
        for client in self._clients.values():
            client.close()
        self._clients.clear()

    def openai(self, **kwargs: Any) -> openai.OpenAI:
        """An official OpenAI client pointed at the gateway."""
        import openai as _openai

        return _openai.OpenAI(base_url=self.gateway_url + "/v1", api_key="labkit", **kwargs)

    def __repr__(self) -> str:
        inner = ", ".join(f"{k}={v}" for k, v in sorted(self.urls.items()))
        return f"Lab({inner})"


def connect(config: LabConfig | None = None, *, env: dict[str, str] | None = None) -> Lab:
    """Find a running lab: ``LABKIT_*_URL`` variables first, then the state file.

    >>> lab = connect()                      # doctest: +SKIP
    >>> lab.prometheus.query("up")           # doctest: +SKIP
    """
    config = config or LabConfig.from_env(env)
    urls: dict[str, str] = {}
    state = LabState.load(config.state_file)
    if state is not None:
        urls.update(state.urls())
    urls.update(_env_urls(env))
    if not urls:
        raise LabNotRunning(
            f"no running lab found: no state file at {config.state_file} and no "
            "LABKIT_*_URL variables. Start one with `labkit up` (or `make lab`), or set "
            "LABKIT_PROMETHEUS_URL, LABKIT_GATEWAY_URL, ... to reach an existing stack."
        )
    return Lab(config, urls)
