"""Cost tracking after the course's CostTracker: a price table, the usage table, reports.

>>> from labkit.cost import CostTracker
>>> tracker = CostTracker(instances={"cpu-lab": 1})        # doctest: +SKIP
>>> tracker.costs("model")                                 # doctest: +SKIP
>>> tracker.daily_report().as_dict()                       # doctest: +SKIP
"""

from labkit.cost.prices import (
    DEFAULT_PRICES,
    HOURS_PER_MONTH,
    PriceTable,
    PriceTableError,
    TokenPrice,
)
from labkit.cost.store import UsageStore, compiled_sql, to_utc_naive, usage_db_url
from labkit.cost.tracker import CostTracker, DailyReport

__all__ = [
    "DEFAULT_PRICES",
    "HOURS_PER_MONTH",
    "CostTracker",
    "DailyReport",
    "PriceTable",
    "PriceTableError",
    "TokenPrice",
    "UsageStore",
    "compiled_sql",
    "to_utc_naive",
    "usage_db_url",
]
