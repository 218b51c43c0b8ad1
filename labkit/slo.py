"""The course's SLO scorecard (``ServiceHealthMonitor``), made to work against the live lab.

The seed's version did not run: it awaited a synchronous client, read
``llama_requests_total`` (no such metric; the gateway's counter is ``llm_requests_total``),
turned the latency SLO into "p95 < 2 s → 100 % else 90 %" and gave the throughput target
in req/s to a formula that expects percent (``100 - 100`` divides by zero).

Here every SLI is a *ratio of events* over a window, as the SRE workbook defines it:

    availability = successful requests / all requests
    latency      = requests that finished within 2 s / all requests   (the le="2" bucket)

and the budget arithmetic (target and actual in percent, ``0 < target < 100``)::

    error budget       = 100 - target                  (99.9 % → 0.1 % of requests may fail)
    burn rate          = (100 - actual) / (100 - target)   (1 = spends it exactly in the window)
    budget remaining   = 1 - burn rate                 (negative: overspent)

The seed's ``(actual - target) / (100 - target)`` is the same number, algebraically, but
only for a ratio SLI in percent with a target below 100; written as ``1 - spent`` it says
what it means and is never applied to throughput, which has no error budget.

Windows: production measures SLOs over 30 days (the period the 14.4x/6x burn-rate factors
assume; the seed's queries used 7 days) and rates over 5 minutes; the lab compresses them
to a few minutes and 1 minute.

>>> monitor = ServiceHealthMonitor(lab.prometheus, window="5m")   # doctest: +SKIP
>>> monitor.scorecard()                                           # doctest: +SKIP
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pandas as pd

from labkit.durations import parse_duration

if TYPE_CHECKING:
    from labkit.query.prometheus import Prometheus, TimeLike

__all__ = [
    "SLO", "ServiceHealthMonitor", "availability_query", "budget_remaining", "burn_rate",
    "error_ratio_query", "latency_query", "throughput_query",
    "time_to_exhaustion",
]

REQUESTS = "llm_requests_total"
ERRORS = 'status="error"'
DURATION = "llm_request_duration_seconds"
SLOS = ("availability", "latency")


# -- the arithmetic --------------------------------------------------------------------------

def _check_target(target: float) -> None:
    if not 0 < target < 100:
        raise ValueError(f"an SLO target is a percentage strictly between 0 and 100, got "
                         f"{target!r} (100 % leaves no error budget at all)")


def burn_rate(error_ratio: float, target: float) -> float:
    """How fast the budget burns: the bad-event ratio over the allowed ratio (target in %).

    >>> round(burn_rate(0.0144, 99.9), 6)
    14.4
    """
    _check_target(target)
    return error_ratio / (1 - target / 100)


def budget_remaining(actual: float, target: float) -> float:
    """Fraction of the error budget left over the window, both in percent; below 0: overspent.

    >>> round(budget_remaining(99.95, 99.9), 6)
    0.5
    """
    return 1 - burn_rate(1 - actual / 100, target)


def time_to_exhaustion(rate: float, period: str = "30d") -> float:
    """Hours until a whole period's budget is gone at a constant burn rate.

    >>> time_to_exhaustion(14.4)
    50.0
    """
    hours = parse_duration(period) / 3600
    return math.inf if rate <= 0 else hours / rate


@dataclass(frozen=True)
class SLO:
    """One objective on the scorecard: target and actual in ``unit`` (percent for an SLI)."""

    name: str
    target: float
    actual: float  # NaN when the window had no traffic
    window: str = ""
    unit: str = "%"

    @property
    def is_ratio(self) -> bool:
        """Only ratio SLIs (percent of good events) have an error budget."""
        return self.unit == "%"

    @property
    def is_met(self) -> bool:
        return not math.isnan(self.actual) and self.actual >= self.target

    @property
    def burn_rate(self) -> float:
        if not self.is_ratio:
            return math.nan
        return burn_rate(1 - self.actual / 100, self.target)

    @property
    def error_budget_remaining(self) -> float:
        """1 - (100 - actual) / (100 - target); NaN for a non-ratio objective."""
        return 1 - self.burn_rate if self.is_ratio else math.nan


# -- the PromQL ------------------------------------------------------------------------------

def _sel(matchers: str, job: str | None) -> str:
    parts = [m for m in (matchers, f'job="{job}"' if job else "") if m]
    return "{" + ",".join(parts) + "}" if parts else ""


def _le(threshold_s: float) -> str:
    # Python's client writes le="2.0", Prometheus 3 normalises to it, older text may say "2".
    spellings = dict.fromkeys((f"{threshold_s:g}", repr(float(threshold_s))))
    return 'le=~"' + "|".join(s.replace(".", "\\\\.") for s in spellings) + '"'


def availability_query(window: str, job: str | None = None) -> str:
    """Fraction of requests that succeeded over ``window`` (0..1); no data without traffic."""
    return f"1 - ({error_ratio_query('availability', window, job=job)})"


def latency_query(window: str, threshold_s: float = 2.0, job: str | None = None) -> str:
    """Fraction of requests that finished within ``threshold_s`` (a bucket boundary)."""
    return (f"sum(rate({DURATION}_bucket{_sel(_le(threshold_s), job)}[{window}]))"
            f" / sum(rate({DURATION}_count{_sel('', job)}[{window}]))")


def throughput_query(window: str, job: str | None = None) -> str:
    """Requests per second over ``window``."""
    return f"sum(rate({REQUESTS}{_sel('', job)}[{window}]))"


def error_ratio_query(slo: str, window: str, *, threshold_s: float = 2.0,
                      job: str | None = None) -> str:
    """The bad-event ratio of an SLO (0..1): what a burn rate divides by the budget."""
    if slo == "availability":
        # `or vector(0)`: with no failure yet the error series does not exist at all.
        errors = f"sum(rate({REQUESTS}{_sel(ERRORS, job)}[{window}]))"
        return f"({errors} or vector(0)) / {throughput_query(window, job)}"
    if slo == "latency":
        return f"1 - ({latency_query(window, threshold_s, job)})"
    raise ValueError(f"unknown SLO {slo!r}; known: {', '.join(SLOS)}")


# -- the monitor -----------------------------------------------------------------------------

class ServiceHealthMonitor:
    """Availability, latency and throughput against their objectives, from Prometheus.

    ``window`` is the SLO window (lab: minutes; production: ``"30d"``), ``rate_window`` the
    one throughput is measured over (lab ``"1m"``, production ``"5m"``). ``at`` pins every
    query to one instant, so a scorecard can be recomputed later.

    >>> monitor = ServiceHealthMonitor(lab.prometheus, window="5m")   # doctest: +SKIP
    >>> monitor.error_budget_remaining("availability")                # doctest: +SKIP
    0.62
    """

    def __init__(self, prom: Prometheus, *, window: str = "5m", rate_window: str = "1m",
                 availability_target: float = 99.9, latency_target: float = 95.0,
                 latency_threshold_s: float = 2.0, throughput_target: float = 1.0,
                 job: str | None = None) -> None:
        for w in (window, rate_window):
            parse_duration(w)  # a typo fails here, not as a 400 from Prometheus later
        _check_target(availability_target)
        _check_target(latency_target)
        self.prom, self.window, self.rate_window, self.job = prom, window, rate_window, job
        self.targets = {"availability": availability_target, "latency": latency_target}
        self.latency_threshold_s = latency_threshold_s
        self.throughput_target = throughput_target

    @classmethod
    def production(cls, prom: Prometheus, **kwargs: object) -> ServiceHealthMonitor:
        """The production settings: 30-day SLO window, 5m rates, the seed's 100 req/s."""
        defaults: dict[str, object] = {"window": "30d", "rate_window": "5m",
                                       "throughput_target": 100.0}
        return cls(prom, **{**defaults, **kwargs})  # type: ignore[arg-type]

    def _scalar(self, promql: str, at: TimeLike | None) -> float:
        return self.prom.scalar(promql, time=at, default=math.nan)

    def availability(self, *, window: str | None = None, at: TimeLike | None = None) -> float:
        """Percent of requests that succeeded (NaN without traffic)."""
        return 100 * self._scalar(availability_query(window or self.window, self.job), at)

    def latency(self, *, window: str | None = None, at: TimeLike | None = None) -> float:
        """Percent of requests that finished within the latency threshold."""
        query = latency_query(window or self.window, self.latency_threshold_s, self.job)
        return 100 * self._scalar(query, at)

    def throughput(self, *, window: str | None = None, at: TimeLike | None = None) -> float:
        """Requests per second over the rate window (0 without traffic)."""
        frame = self.prom.query(throughput_query(window or self.rate_window, self.job), time=at)
        return float(frame["value"].sum()) if not frame.empty else 0.0

    def slo(self, name: str, *, window: str | None = None, at: TimeLike | None = None) -> SLO:
        """One ratio SLO (``"availability"`` or ``"latency"``) measured now or at ``at``."""
        if name not in SLOS:
            raise ValueError(f"unknown SLO {name!r}; known: {', '.join(SLOS)}")
        actual = getattr(self, name)(window=window, at=at)
        title = ("Availability" if name == "availability"
                 else f"Latency < {self.latency_threshold_s:g}s")
        return SLO(title, self.targets[name], actual, window or self.window)

    def error_budget_remaining(self, slo: str = "availability", *, window: str | None = None,
                               at: TimeLike | None = None) -> float:
        """Fraction of the window's error budget left (1 = untouched, < 0 = overspent)."""
        return self.slo(slo, window=window, at=at).error_budget_remaining

    def burn_rate(self, slo: str = "availability", *, window: str | None = None,
                  at: TimeLike | None = None) -> float:
        """Bad-event ratio over the window divided by the error budget."""
        return self.slo(slo, window=window, at=at).burn_rate

    def calculate_slos(self, *, at: TimeLike | None = None) -> list[SLO]:
        """The seed's three objectives, measured; throughput is a capacity target in req/s."""
        return [
            self.slo("availability", at=at),
            self.slo("latency", at=at),
            SLO(f"Throughput > {self.throughput_target:g} req/s", self.throughput_target,
                self.throughput(at=at), self.rate_window, unit="req/s"),
        ]

    def scorecard(self, *, at: TimeLike | None = None) -> pd.DataFrame:
        """One row per objective: target, actual, met, budget remaining and burn rate."""
        rows = [{"slo": s.name, "window": s.window, "unit": s.unit, "target": s.target,
                 "actual": s.actual, "met": s.is_met,
                 "error_budget_remaining": s.error_budget_remaining, "burn_rate": s.burn_rate}
                for s in self.calculate_slos(at=at)]
        return pd.DataFrame(rows).set_index("slo")

    def budget_history(self, *, start: TimeLike = "-5m", end: TimeLike | None = None,
                       step: str | float = "5s", window: str | None = None) -> pd.DataFrame:
        """Budget over time: columns timestamp, slo, error_ratio, burn_rate, budget_remaining.

        Each point is the budget of the rolling ``window`` ending at that timestamp (what a
        dashboard's "error budget remaining" panel shows), from one range query per SLO.
        """
        parts = []
        for name in SLOS:
            query = error_ratio_query(name, window or self.window,
                                      threshold_s=self.latency_threshold_s, job=self.job)
            frame = self.prom.query_range(query, start=start, end=end, step=step)
            rate = frame["value"] / (1 - self.targets[name] / 100)
            parts.append(pd.DataFrame({"timestamp": frame["timestamp"], "slo": name,
                                       "error_ratio": frame["value"], "burn_rate": rate,
                                       "budget_remaining": 1 - rate}))
        return pd.concat(parts, ignore_index=True)
