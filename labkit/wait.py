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

import json
import time
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

import pandas as pd

from labkit.errors import QueryParseError, WaitTimeout

__all__ = ["wait_for", "wait_for_alert", "wait_for_logs", "wait_for_scrape"]

T = TypeVar("T")


def _ready(value: Any) -> bool:
    """Truthy; a DataFrame or Series (whose truth is ambiguous) when it is not empty."""
    empty = getattr(value, "empty", None)
    return (not empty) if isinstance(empty, bool) else bool(value)


def wait_for(condition: Callable[[], T], *, timeout: float = 30.0, interval: float = 1.0,
             what: str = "the condition", describe: Callable[[T], str] = repr) -> T:
    """Call ``condition()`` until it returns something truthy (a non-empty DataFrame counts),
    and return that value.

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
            if _ready(value):
                return value
        except QueryParseError:
            raise
        except Exception as exc:  # a service still starting: keep waiting, report it at the end
            last = f"{type(exc).__name__}: {exc}"
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


def wait_for_logs(loki: Any, request_ids: Iterable[Any], *, since: float,
                  selector: str = '{job="llm-api"}', timeout: float = 30.0) -> float:
    """Wait until Loki holds the "Request completed" line of every id in ``request_ids``.

    The shipper pushes lines in batches about a second apart, so a query right after the
    traffic can miss the last requests. Returns a *settled end*: just after the newest line
    Loki then holds, so a window ending there will not grow (use it as the end of the
    notebook's queries). Ids that are not strings (a request that never got one) are ignored.

    >>> END = wait_for_logs(lab.loki, run.request_ids, since=run.start)   # doctest: +SKIP
    """
    wanted = {i for i in request_ids if isinstance(i, str) and i}
    query = f'{selector} |= "Request completed"'
    seen: dict[str, int] = {}

    def arrived() -> float:
        payload = loki.fetch("/loki/api/v1/query_range", {
            "query": query, "start": str(int(since * 1e9)),
            "end": str(int((time.time() + 1) * 1e9)), "limit": 5000, "direction": "forward"})
        for stream in payload["data"]["result"]:
            for ns, line in stream["values"]:
                try:
                    rid = json.loads(line).get("request_id")
                except (ValueError, AttributeError):
                    continue
                if isinstance(rid, str):
                    seen[rid] = max(seen.get(rid, 0), int(ns))
        missing = wanted - set(seen)
        if missing:
            return 0.0
        return (max(seen.values(), default=int(since * 1e9)) + 1_000_000) / 1e9

    return wait_for(arrived, timeout=timeout, interval=0.5,
                    what=f"the log lines of {len(wanted)} requests in Loki (is the shipper "
                         "running? `labkit status`)")


def wait_for_alert(prom_url: str, state: str, *, alertname: str = "HighErrorRate",
                   timeout: float = 120.0, changes: list[dict[str, Any]] | None = None,
                   echo: Callable[[str], Any] | None = print) -> float:
    """Poll Prometheus every second until ``alertname`` is in ``state`` (``inactive``,
    ``pending`` or ``firing``); return the seconds it took.

    Every change of state is appended to ``changes`` (``time``, ``state``, ``value``) and
    printed with ``echo``: the record of what happened, for a timeline. Raises
    :class:`labkit.errors.WaitTimeout` after ``timeout`` seconds.
    """
    from labkit.query.alerts import prometheus_alerts

    log = changes if changes is not None else []
    started = time.monotonic()

    def reached() -> bool:
        alerts = prometheus_alerts(prom_url)
        alerts = alerts[alerts["alertname"] == alertname]
        now, value = "inactive", float("nan")
        if not alerts.empty:
            row = alerts.sort_values("state").iloc[0]  # "firing" sorts before "pending"
            now, value = str(row["state"]), float(row["value"])
        if not log or log[-1]["state"] != now:
            log.append({"time": pd.Timestamp.now(tz="UTC"), "state": now, "value": value})
            if echo is not None:
                echo(f"{time.monotonic() - started:5.1f}s  {now:8s}  value {value:.3g}")
        return now == state

    wait_for(reached, timeout=timeout, interval=1.0, what=f"{alertname} to be {state}")
    return time.monotonic() - started
