"""Cost tracking on a temporary SQLite usage table with known rows, and the price table."""

from __future__ import annotations

import json
import math
import sys
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import matplotlib
import pytest
import sqlalchemy as sa

from labkit.config import LabConfig
from labkit.cost import (
    CostTracker,
    PriceTable,
    PriceTableError,
    UsageStore,
    compiled_sql,
    to_utc_naive,
    usage_db_url,
)
from labkit.gateway.usage import USAGE_TABLE, make_engine
from labkit.plots import plot_daily_costs

matplotlib.use("Agg")

# Round prices so every expected number below is exact: per 1K tokens and per hour.
PRICES = {"currency": "USD", "instances": {"box": 2.0, "big": 10.0},
          "tokens": {"a": {"prompt": 1.0, "completion": 3.0}, "b": 0.5}}

# (created_at, user, model, status, prompt, completion)
ROWS = [
    (datetime(2026, 1, 1, 10), "u1", "a", 200, 1000, 500),
    (datetime(2026, 1, 1, 11), "u1", "a", 200, 500, 500),
    (datetime(2026, 1, 1, 12), "u2", "b", 200, 1000, 1500),
    (datetime(2026, 1, 1, 12, 30), "u1", "b", 500, 0, 0),
    (datetime(2026, 1, 2, 9), None, "a", 200, 1000, 1000),
]
DAY1, DAY2 = datetime(2026, 1, 1), datetime(2026, 1, 2)


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'usage.db'}"
    engine = make_engine(url)
    USAGE_TABLE.metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(USAGE_TABLE.insert(), [
            {"created_at": t, "request_id": f"req_{i}", "user_id": u, "model": m,
             "endpoint": "/v1/chat/completions", "status": s, "prompt_tokens": p,
             "completion_tokens": c, "total_tokens": p + c, "duration_ms": 10.0}
            for i, (t, u, m, s, p, c) in enumerate(ROWS)])
    engine.dispose()
    return url


@pytest.fixture
def tracker(db_url: str) -> CostTracker:
    return CostTracker(db_url, prices=PRICES, instances={"box": 1})


# -- costs -----------------------------------------------------------------------------------

def test_costs_per_model(tracker: CostTracker) -> None:
    """Usage by token price, 24 h of infrastructure shared by tokens, unit costs."""
    frame = tracker.costs("model", since=DAY1, until=DAY2)  # 24 h by default: the span asked
    assert list(frame.index) == ["a", "b"]  # dearest first
    a, b = frame.loc["a"], frame.loc["b"]
    assert (a["requests"], a["errors"], a["total_tokens"]) == (2, 0, 2500)
    assert (b["requests"], b["errors"], b["total_tokens"]) == (2, 1, 2500)
    assert a["usage_cost"] == pytest.approx(1.5 * 1.0 + 1.0 * 3.0)  # 4.5
    assert b["usage_cost"] == pytest.approx(2.5 * 0.5)  # 1.25
    assert a["infra_cost"] == pytest.approx(24.0) and b["infra_cost"] == pytest.approx(24.0)
    assert a["total_cost"] == pytest.approx(28.5)
    assert a["cost_per_request"] == pytest.approx(14.25)
    assert a["cost_per_1k_tokens"] == pytest.approx(11.4)
    assert b["cost_per_1k_tokens"] == pytest.approx(25.25 / 2.5)


def test_costs_per_user_price_each_model(tracker: CostTracker) -> None:
    """A user's cost sums their requests to every model at that model's price."""
    frame = tracker.costs("user_id", hours=0)
    assert frame.loc["u1", "usage_cost"] == pytest.approx(4.5)
    assert frame.loc["u1", "requests"] == 3 and frame.loc["u1", "errors"] == 1
    assert frame.loc["u2", "usage_cost"] == pytest.approx(1.25)
    assert frame.loc["(none)", "usage_cost"] == pytest.approx(4.0)
    assert frame["infra_cost"].sum() == 0


def test_usage_cost_per_1k_tokens_follows_the_prompt_completion_mix(tracker: CostTracker) -> None:
    """Model a: 1.5K prompt at 1 and 1K completion at 3, over 2.5K tokens, is 1.8 per 1K."""
    assert tracker.usage_cost_per_1k_tokens("a", until=DAY2) == pytest.approx(1.8)
    assert tracker.usage_cost_per_1k_tokens("a") == pytest.approx(8.5 / 4.5)
    assert math.isnan(tracker.usage_cost_per_1k_tokens("a", until=DAY1))


def test_hourly_cost(db_url: str) -> None:
    """The seed's hourly figures, with a 730-hour month."""
    tracker = CostTracker(db_url, prices=PRICES, instances={"box": 2, "big": 1})
    assert tracker.calculate_hourly_cost() == {"infrastructure_cost_per_hour": 14.0,
                                               "infrastructure_cost_per_month": 10220.0,
                                               "active_instances": 3.0}
    listed = CostTracker(db_url, prices=PRICES, instances=["box", "box", "big"])
    assert listed.calculate_hourly_cost()["infrastructure_cost_per_hour"] == 14.0


def test_daily_report(tracker: CostTracker) -> None:
    """One UTC day: 24 h of instances plus that day's token cost, per model."""
    report = tracker.daily_report("2026-01-01")
    assert (report.date, report.infrastructure_cost) == ("2026-01-01", 48.0)
    assert report.usage_cost == pytest.approx(5.75)
    assert report.total_cost == pytest.approx(53.75)
    data = report.as_dict()
    assert [r["model"] for r in data["usage_by_model"]] == ["a", "b"]
    assert "<table" in report._repr_html_()


def test_daily_costs_from_the_first_request(tracker: CostTracker) -> None:
    """One row per day from the first logged request up to ``until``."""
    daily = tracker.daily_costs(until=date(2026, 1, 3))
    assert list(daily.index) == ["2026-01-01", "2026-01-02", "2026-01-03"]
    assert list(daily["requests"]) == [4, 1, 0]
    assert daily.loc["2026-01-02", "total_cost"] == pytest.approx(48.0 + 4.0)
    assert daily.loc["2026-01-02", "cost_per_1k_tokens"] == pytest.approx(26.0)
    assert math.isnan(daily.loc["2026-01-03", "cost_per_request"])
    fig = plot_daily_costs(daily, tracker.costs("model", hours=48))
    assert len(fig.axes) == 2


def test_empty_table(tmp_path: Path) -> None:
    """No usage yet: empty frames and zero usage cost, not an error."""
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    USAGE_TABLE.metadata.create_all(make_engine(url))
    tracker = CostTracker(url, prices=PRICES, instances={"box": 1})
    assert tracker.costs("model").empty
    assert tracker.daily_report("2026-01-01").usage_cost == 0.0


# -- the store -------------------------------------------------------------------------------

def test_rows_window_is_half_open(db_url: str) -> None:
    """``since`` is included and ``until`` excluded, on naive UTC times."""
    store = UsageStore(db_url)
    rows = store.rows(since=datetime(2026, 1, 1, 11), until=datetime(2026, 1, 1, 12))
    assert list(rows["request_id"]) == ["req_1"]
    assert len(store.rows(model="a")) == 3
    assert store.span() == (datetime(2026, 1, 1, 10), datetime(2026, 1, 2, 9))


@pytest.mark.parametrize(("value", "expected"), [
    (0, datetime(1970, 1, 1)),
    (datetime(2026, 1, 1, 12, tzinfo=timezone(timedelta(hours=2))), datetime(2026, 1, 1, 10)),
    (datetime(2026, 1, 1, 12, tzinfo=UTC), datetime(2026, 1, 1, 12)),
    (datetime(2026, 1, 1, 12), datetime(2026, 1, 1, 12)),
    (date(2026, 1, 1), datetime(2026, 1, 1)),
    ("2026-01-01T12:00:00+01:00", datetime(2026, 1, 1, 11)),
    (None, None),
], ids=["unix", "aware", "utc", "naive", "date", "iso", "none"])
def test_to_utc_naive(value: object, expected: datetime | None) -> None:
    """Every accepted time becomes the table's naive UTC."""
    assert to_utc_naive(value) == expected  # type: ignore[arg-type]


def test_same_sql_on_both_databases(db_url: str) -> None:
    """Bound parameters and a range, never DATE(created_at) or a driver's own placeholder."""
    stmt = UsageStore(db_url).aggregate_query(("model",), since=DAY1, until=DAY2)
    sqlite_sql, pg_sql = compiled_sql(stmt, "sqlite"), compiled_sql(stmt, "postgresql")
    for sql in (sqlite_sql, pg_sql):
        assert "DATE(" not in sql.upper() and "$1" not in sql
        assert "usage_logs.created_at >=" in sql and "usage_logs.created_at <" in sql
    assert "?" in sqlite_sql and "%s" in pg_sql
    with pytest.raises(ValueError, match="cannot group usage by"):
        UsageStore(db_url).aggregate_query(("prompt",))


def test_usage_db_url_is_the_gateways_file() -> None:
    """The local lab's database is the one the runtime gives the gateway."""
    url = usage_db_url(LabConfig(run_dir=Path("/tmp/somelab")))
    assert url == "sqlite:////tmp/somelab/data/gateway/usage.db"


def test_postgres_without_driver_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    """A PostgreSQL URL without psycopg names the extra to install."""
    monkeypatch.setitem(sys.modules, "psycopg", None)  # as if it were not installed
    with pytest.raises(ModuleNotFoundError, match=r"pip install 'labkit\[postgres\]'"):
        UsageStore("postgresql://labkit@localhost/usage")


@pytest.mark.parametrize("scheme", ["postgresql", "postgres"])
def test_postgres_urls_go_through_psycopg(scheme: str) -> None:
    """Bare and Heroku-style URLs both use the psycopg 3 driver the extra installs."""
    import psycopg  # noqa: F401  (the dev setup installs the postgres extra)
    engine = make_engine(f"{scheme}://labkit@localhost/usage")
    assert engine.url.drivername == "postgresql+psycopg"


# -- the price table -------------------------------------------------------------------------

def test_default_prices_have_the_seed_and_the_lab() -> None:
    """The course text's instance and token prices, plus cpu-lab and labkit-tiny."""
    prices = PriceTable.default()
    assert prices.instances["g5.xlarge"] == 1.006 and prices.instances["p3.2xlarge"] == 3.06
    assert prices.token_price("llama-2-70b").prompt == 0.001
    assert "cpu-lab" in prices.instances and "labkit-tiny" in prices.tokens
    assert prices.hourly({"g5.xlarge": 2, "g5.2xlarge": 1}) == pytest.approx(3.224)


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_load_from_file(tmp_path: Path, suffix: str) -> None:
    """YAML and JSON files load into the same table."""
    path = tmp_path / f"prices{suffix}"
    text = json.dumps(PRICES)
    path.write_text(text)
    table = PriceTable.load(path)
    assert table.instances == {"box": 2.0, "big": 10.0}
    assert table.token_price("a").completion == 3.0 and table.token_price("b").prompt == 0.5


@pytest.mark.parametrize(("data", "match"), [
    ({"instances": {"box": -1}}, r"instances\.box: a price must be a non-negative number"),
    ({"instances": {"box": "1.0"}}, "a price must be a non-negative number, got '1.0'"),
    ({"instances": {"box": True}}, "a price must be a non-negative number"),
    ({"tokens": {"a": float("nan")}}, "non-negative number"),
    ({"tokens": {"a": {"prompt": 1.0}}}, "exactly 'prompt' and 'completion'"),
    ({"tokens": {"a": {"prompt": 1, "completion": 1, "cached": 0}}}, "exactly 'prompt'"),
    ({"instances": ["g5.xlarge"]}, "'instances' must map names to prices"),
    ({"instance": {}}, r"unknown key\(s\) \['instance'\]"),
    ({"currency": ""}, "'currency' must be a code"),
    ([1, 2], "expected a mapping"),
], ids=["negative", "string", "bool", "nan", "half-split", "extra-split", "list", "typo",
        "currency", "not-a-mapping"])
def test_bad_price_tables_are_refused(data: object, match: str) -> None:
    """A malformed table fails with a message naming the entry."""
    with pytest.raises(PriceTableError, match=match):
        PriceTable.from_dict(data)  # type: ignore[arg-type]


def test_bad_price_files_name_the_file(tmp_path: Path) -> None:
    """Unreadable or unparsable files say which file and why."""
    with pytest.raises(PriceTableError, match="cannot read the price table"):
        PriceTable.load(tmp_path / "missing.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("instances: {g5.xlarge: [1.0\n")
    with pytest.raises(PriceTableError, match=r"broken\.yaml is not valid yaml"):
        PriceTable.load(broken)
    bad_json = tmp_path / "bad.json"
    bad_json.write_text("{'single': 'quotes'}")
    with pytest.raises(PriceTableError, match=r"bad\.json is not valid json"):
        PriceTable.load(bad_json)
    wrong = tmp_path / "wrong.yaml"
    wrong.write_text("tokens: {a: -2}\n")
    with pytest.raises(PriceTableError, match=r"wrong\.yaml: tokens\.a"):
        PriceTable.load(wrong)


def test_unknown_names_are_errors_not_zero(db_url: str) -> None:
    """The seed priced an unknown instance at 0; here it fails, listing the known ones."""
    with pytest.raises(PriceTableError, match=r"no hourly price for instance type 'g6\.xlarge'"):
        CostTracker(db_url, prices=PRICES, instances={"g6.xlarge": 1})
    tracker = CostTracker(db_url, prices={"instances": {"box": 1.0}, "tokens": {"a": 1.0}},
                          instances={"box": 1})
    with pytest.raises(PriceTableError, match="no token price for model 'b'; known: a"):
        tracker.costs("model")
    assert isinstance(PriceTableError("x"), ValueError)


def test_sqlalchemy_engine_is_reused(db_url: str) -> None:
    """A tracker can share a store (and its connection pool) with another."""
    store = UsageStore(db_url)
    one = CostTracker(store, prices=PRICES, instances={"box": 1})
    two = CostTracker(store, prices=PRICES, instances={"big": 1})
    assert one.store.engine is two.store.engine
    assert isinstance(store.engine, sa.Engine) and "usage.db" in repr(store)
