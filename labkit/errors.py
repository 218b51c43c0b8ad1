"""Every error labkit raises, in one tree.

    LabError
    ├── ServiceError                 a service of the stack misbehaved
    │   ├── ServiceStartError        it exited or failed during start-up
    │   ├── ServiceNotReady          its health check did not pass in time
    │   ├── BinaryNotFound           its executable is not installed
    │   ├── PortInUse                its port is taken by another process
    │   └── ImageNotAvailable        its docker image is missing and cannot be pulled (.image)
    ├── ConfigError                  a LABKIT_* setting has a value labkit cannot use
    │                                (.variable, .value; also a ValueError)
    ├── ProvisionError               installing a binary or the model failed
    ├── ContainerEngineError         the Docker engine is unreachable or refused a request
    ├── LabNotRunning                no running lab was found
    ├── WaitTimeout                  what a notebook waited for did not happen in time
    ├── QueryError                   a query to Prometheus, Loki, Jaeger or Alertmanager failed
    │   └── QueryHTTPError           the server answered with an error (.url, .status, .body)
    │       └── QueryParseError      the server could not parse the query
    └── PriceTableError              a price table is malformed (labkit.cost; also a ValueError)

Catch ``LabError`` to handle anything labkit raises; the ``labkit`` command prints its
message on one line and exits with status 2.
"""

from __future__ import annotations

__all__ = [
    "BinaryNotFound",
    "ConfigError",
    "ContainerEngineError",
    "ImageNotAvailable",
    "LabError",
    "LabNotRunning",
    "PortInUse",
    "ProvisionError",
    "QueryError",
    "QueryHTTPError",
    "QueryParseError",
    "ServiceError",
    "ServiceNotReady",
    "ServiceStartError",
    "WaitTimeout",
]


class LabError(Exception):
    """Base of every labkit error."""


class ServiceError(LabError):
    """A service of the stack misbehaved; ``.service`` names it."""

    def __init__(self, message: str, *, service: str = "") -> None:
        super().__init__(message)
        self.service = service


class ServiceStartError(ServiceError):
    """The service exited or failed while starting."""


class ServiceNotReady(ServiceError):
    """The service's health check did not pass in time."""


class BinaryNotFound(ServiceError):
    """The service's executable is not installed."""


class PortInUse(ServiceError):
    """Another process holds the service's port."""

    def __init__(self, message: str, *, service: str = "", port: int = 0) -> None:
        super().__init__(message, service=service)
        self.port = port


class ImageNotAvailable(ServiceError):
    """The service's docker image is not on the engine and could not be pulled."""

    def __init__(self, message: str, *, service: str = "", image: str = "") -> None:
        super().__init__(message, service=service)
        self.image = image


class ContainerEngineError(LabError):
    """The Docker engine is unreachable, or it refused a request."""


class ConfigError(LabError, ValueError):
    """A ``LABKIT_*`` variable has a value labkit cannot use; the message says what it accepts."""

    def __init__(self, variable: str, value: str, problem: str) -> None:
        super().__init__(f"{variable}={value!r} {problem}")
        self.variable = variable
        self.value = value
        self.problem = problem

    def __reduce__(self) -> tuple[type[ConfigError], tuple[str, str, str]]:
        return type(self), (self.variable, self.value, self.problem)  # picklable across processes


class ProvisionError(LabError):
    """Installing a binary or generating the model failed."""


class LabNotRunning(LabError):
    """No running lab was found (no state file and no LABKIT_*_URL variables)."""


class WaitTimeout(LabError, TimeoutError):
    """``wait_for`` gave up: what it waited for did not happen within the timeout."""


class QueryError(LabError):
    """A query failed."""


class QueryHTTPError(QueryError):
    """The server answered with an HTTP error."""

    def __init__(self, message: str, *, url: str = "", status: int = 0, body: str = "") -> None:
        super().__init__(message)
        self.url = url
        self.status = status
        self.body = body


class QueryParseError(QueryHTTPError):
    """The server rejected the query as malformed (PromQL or LogQL syntax)."""

