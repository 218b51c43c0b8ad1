"""The course's CostTracker, made to work: infrastructure and token costs from the usage table.

Two kinds of cost, as in the seed:

* **infrastructure**: instances × hourly price × hours, whether they serve anything or not;
* **usage**: tokens × the model's price per 1K tokens (prompt and completion may differ).

Per-request and per-1K-token figures divide the sum of both by the requests or tokens of the
same period; the infrastructure cost is shared among models (or users) by their token share.
At lab traffic an idle instance dominates every unit cost: that is the lesson, not a bug.

>>> tracker = CostTracker(instances={"cpu-lab": 1})   # doctest: +SKIP
>>> tracker.daily_report().frame                      # doctest: +SKIP
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pandas as pd

from labkit.cost.prices import HOURS_PER_MONTH, PriceTable
from labkit.cost.store import TimeArg, UsageStore, to_utc_naive

__all__ = ["CostTracker", "DailyReport"]

COST_COLUMNS = ["requests", "errors", "prompt_tokens", "completion_tokens", "total_tokens",
                "usage_cost", "infra_cost", "total_cost", "cost_per_request",
                "cost_per_1k_tokens"]


@dataclass
class DailyReport:
    """One day's costs: the seed's summary fields and a per-model frame."""

    date: str
    infrastructure_cost: float
    usage_cost: float
    total_cost: float
    frame: pd.DataFrame = field(repr=False)

    def as_dict(self) -> dict[str, Any]:
        """The seed's report dict (``usage_by_model`` as records)."""
        return {"date": self.date, "infrastructure_cost": self.infrastructure_cost,
                "usage_cost": self.usage_cost, "total_cost": self.total_cost,
                "usage_by_model": self.frame.reset_index().to_dict("records")}

    def _repr_html_(self) -> str:
        head = (f"<b>{self.date}</b>: infrastructure {self.infrastructure_cost:.4f}, usage "
                f"{self.usage_cost:.6f}, total {self.total_cost:.4f}")
        return head + self.frame._repr_html_()  # type: ignore[operator]


class CostTracker:
    """Costs of the traffic recorded in the usage table.

    ``store`` is a :class:`UsageStore` or a database URL (default: the local lab's SQLite);
    ``prices`` a :class:`PriceTable`, a dict, or a YAML/JSON path; ``instances`` the fleet
    (``{"g5.xlarge": 2}``), the lab's by default.
    """

    def __init__(self, store: UsageStore | str | None = None, *,
                 prices: PriceTable | Mapping[str, Any] | str | None = None,
                 instances: Mapping[str, int] | Sequence[str] | None = None) -> None:
        self.store = store if isinstance(store, UsageStore) else UsageStore(store)
        if prices is None:
            self.prices = PriceTable.default()
        elif isinstance(prices, PriceTable):
            self.prices = prices
        elif isinstance(prices, Mapping):
            self.prices = PriceTable.from_dict(prices)
        else:
            self.prices = PriceTable.load(prices)
        if instances is None:
            instances = {"cpu-lab": 1}  # the machine the lab runs on
        elif not isinstance(instances, Mapping):
            instances = {t: list(instances).count(t) for t in set(instances)}
        self.instances: dict[str, int] = dict(instances)
        self.prices.hourly(self.instances)  # an unknown instance type fails now

    def calculate_hourly_cost(self) -> dict[str, float]:
        """The seed's figures: cost per hour and per (730-hour) month, instance count."""
        hourly = self.prices.hourly(self.instances)
        return {"infrastructure_cost_per_hour": hourly,
                "infrastructure_cost_per_month": round(hourly * HOURS_PER_MONTH, 10),
                "active_instances": float(sum(self.instances.values()))}

    def infrastructure_cost(self, hours: float) -> float:
        """What the fleet costs for ``hours``, busy or idle."""
        return self.prices.hourly(self.instances) * hours

    def costs(self, by: str = "model", *, since: TimeArg = None, until: TimeArg = None,
              hours: float | None = None) -> pd.DataFrame:
        """Cost per ``by`` (model, user_id, ...) over ``[since, until)``, dearest first.

        Columns: :data:`COST_COLUMNS`. ``hours`` of infrastructure are charged (default: the
        span from ``since``, or the first row, to ``until``, or now), shared by token count.
        """
        keys = ("model",) if by == "model" else (by, "model")
        totals = self.store.totals(keys, since=since, until=until)
        if totals.empty:
            return pd.DataFrame(columns=COST_COLUMNS, index=pd.Index([], name=by), dtype=float)
        totals["usage_cost"] = [
            self.prices.usage_cost(m, prompt_tokens=p, completion_tokens=c) for m, p, c in
            zip(totals["model"], totals["prompt_tokens"], totals["completion_tokens"], strict=True)]
        totals[by] = totals[by].fillna("(none)")
        frame = totals.groupby(by, sort=False)[[*COST_COLUMNS[:5], "usage_cost"]].sum()
        if hours is None:
            hours = self._hours(since, until)
        tokens = frame["total_tokens"].sum()
        share = frame["total_tokens"] / tokens if tokens else frame["requests"] / \
            frame["requests"].sum()
        frame["infra_cost"] = self.infrastructure_cost(hours) * share
        frame["total_cost"] = frame["usage_cost"] + frame["infra_cost"]
        frame["cost_per_request"] = frame["total_cost"] / frame["requests"]
        frame["cost_per_1k_tokens"] = (1000 * frame["total_cost"] /
                                       frame["total_tokens"].where(frame["total_tokens"] > 0))
        return frame[COST_COLUMNS].sort_values("total_cost", ascending=False)

    def _hours(self, since: TimeArg, until: TimeArg) -> float:
        start = to_utc_naive(since) or self.store.span()[0]
        end = to_utc_naive(until) or datetime.now(UTC).replace(tzinfo=None)
        return 0.0 if start is None else max((end - start).total_seconds(), 0.0) / 3600

    def usage_cost_per_1k_tokens(self, model: str, *, since: TimeArg = None,
                                 until: TimeArg = None) -> float:
        """Token cost per 1K tokens of one model: its prompt/completion price mix."""
        totals = self.store.totals(("model",), since=since, until=until, model=model)
        if totals.empty or not totals["total_tokens"].iloc[0]:
            return math.nan
        row = totals.iloc[0]
        cost = self.prices.usage_cost(model, prompt_tokens=row["prompt_tokens"],
                                      completion_tokens=row["completion_tokens"])
        return 1000 * cost / float(row["total_tokens"])

    def daily_report(self, day: date | str | None = None) -> DailyReport:
        """The seed's daily report for one UTC day (default today): 24 h of infrastructure."""
        start = _day(day)
        frame = self.costs("model", since=start, until=start + timedelta(days=1), hours=24)
        infra = self.infrastructure_cost(24)
        usage = float(frame["usage_cost"].sum())
        return DailyReport(date=str(start.date()), infrastructure_cost=infra, usage_cost=usage,
                           total_cost=infra + usage, frame=frame)

    def daily_costs(self, *, since: date | str | None = None,
                    until: date | str | None = None) -> pd.DataFrame:
        """One row per UTC day from ``since`` (default: the first logged request) to ``until``
        (default today): requests, tokens and costs, each day charged 24 h of instances."""
        last = _day(until)
        first = _day(since) if since is not None else _day(self.store.span()[0] or last)
        rows = []
        for offset in range(max((last - first).days, 0) + 1):
            report = self.daily_report(first + timedelta(days=offset))
            f = report.frame
            requests, tokens = int(f["requests"].sum()), int(f["total_tokens"].sum())
            rows.append({"date": report.date, "requests": requests, "total_tokens": tokens,
                         "usage_cost": report.usage_cost,
                         "infra_cost": report.infrastructure_cost,
                         "total_cost": report.total_cost,
                         "cost_per_request": report.total_cost / requests if requests else
                         math.nan,
                         "cost_per_1k_tokens": 1000 * report.total_cost / tokens if tokens else
                         math.nan})
        return pd.DataFrame(rows).set_index("date")


def _day(value: date | str | None) -> datetime:
    if value is None:
        return datetime.now(UTC).replace(tzinfo=None, hour=0, minute=0, second=0, microsecond=0)
    stamp = to_utc_naive(value)
    assert stamp is not None
    return stamp.replace(hour=0, minute=0, second=0, microsecond=0)
