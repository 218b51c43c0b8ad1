"""``wait_for``: poll until something specific has happened, then return it.

Services scrape, ship and export on their own clocks (Prometheus every 2 s in the lab,
the log shipper every second, the span exporter every second), so a notebook waits for
*the thing it needs*, e.g. the scrape that contains its own requests, never a fixed sleep
and never a total that other traffic could reach first.

>>> from labkit import wait_for                                       # doctest: +SKIP
>>> wait_for(lambda: prom.scalar(f'sum(llm_requests_total{{...}})') >= 40,
...          what="the scrape with this run's requests")              # doctest: +SKIP
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

from labkit.errors import QueryParseError, WaitTimeout

__all__ = ["wait_for", "wait_for_scrape"]

T = TypeVar("T")


def wait_for(condition: Callable[[], T], *, timeout: float = 30.0, interval: float = 1.0,
             what: str = "the condition", describe: Callable[[T], str] = repr) -> T:
    """Call ``condition()`` until it returns something truthy, and return that value.

    Raises :class:`labkit.errors.WaitTimeout` after ``timeout`` seconds, naming ``what``
    was awaited and the last value seen (shown with ``describe``). A query that the
    server cannot parse is raised at once: a typo does not fix itself by waiting.

    >>> wait_for(lambda: 42, what="the answer")
    42
    """
    if timeout < 0 or interval <= 0:
        raise ValueError(f"timeout must be >= 0 and interval > 0, got {timeout!r}, {interval!r}")
    deadline = time.monotonic() + timeout
    started = time.monotonic()
    while True:
        try:
            value = condition()
            last = describe(value)
        except QueryParseError:
            raise
        except Exception as exc:  # a service still starting: keep waiting, report it at the end
            value, last = None, f"{type(exc).__name__}: {exc}"  # type: ignore[assignment]
        if value:
            return value
        if time.monotonic() >= deadline:
            raise WaitTimeout(f"waited {time.monotonic() - started:.0f}s for {what}, in vain; "
                              f"last seen: {last[:300]}. Is the lab up? Try `labkit status`.")
        time.sleep(min(interval, max(0.0, deadline - time.monotonic())))


def wait_for_scrape(prom: Any, after: float, *, job: str = "llm-api",
                    timeout: float = 30.0) -> float:
    """Wait until Prometheus has scraped ``job`` at or after unix time ``after``.

    A scrape that started after a run's last request had finished holds every one of its
    requests, whatever other traffic there is. Returns that scrape's time.

    >>> run = phases(lab.gateway_url, plan)                          # doctest: +SKIP
    >>> wait_for_scrape(lab.prometheus, after=run.end)               # doctest: +SKIP
    """
    query = f'min(timestamp(up{{job="{job}"}}))'

    def scraped() -> float:
        at = float(prom.scalar(query, default=0.0))
        return at if at >= after else 0.0

    return wait_for(scraped, timeout=timeout, interval=0.5,
                    what=f"a scrape of {job} after {after:.1f} (the end of this run)")
