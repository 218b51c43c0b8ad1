"""labkit: a hands-on lab for observing an LLM inference service.

>>> from labkit import connect
>>> lab = connect()                                   # doctest: +SKIP
>>> lab.prometheus.query("sum(rate(llm_requests_total[1m]))")   # doctest: +SKIP
"""

from labkit.config import LabConfig
from labkit.errors import (
    BinaryNotFound,
    ConfigError,
    LabError,
    LabNotRunning,
    PortInUse,
    QueryError,
    QueryHTTPError,
    QueryParseError,
    ServiceError,
    ServiceNotReady,
    ServiceStartError,
)
from labkit.exercises import check
from labkit.lab import Lab, connect
from labkit.wait import wait_for, wait_for_logs, wait_for_scrape

__version__ = "0.1.0"

__all__ = [
    "BinaryNotFound",
    "ConfigError",
    "Lab",
    "LabConfig",
    "LabError",
    "LabNotRunning",
    "PortInUse",
    "QueryError",
    "QueryHTTPError",
    "QueryParseError",
    "ServiceError",
    "ServiceNotReady",
    "ServiceStartError",
    "__version__",
    "check",
    "connect",
    "wait_for",
    "wait_for_logs",
    "wait_for_scrape",
]
