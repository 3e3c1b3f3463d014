"""The two plans of the lazy RFM: group every row, or only purchases and count customers apart.

Both must give the in-memory numbers exactly, ``n_without_purchase`` included, whichever
share of the rows are purchases.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from funnelkit import RFM, EventLog
from funnelkit.ingest.lazy._common import arrow_columns
from funnelkit.ingest.lazy._plans import RFMPlan
from funnelkit.ingest.lazy._sql import BASE, DUCKDB, SPARK, Dialect
from funnelkit.ingest.lazy.rfm_lazy import prepare
from funnelkit.ingest.lazy.rfm_sql import customers_sql, rfm_sql
from funnelkit.ingest.source import as_source
from tests.aggregate._helpers import as_source as engine_source, assert_same_rfm, random_events

WINDOWS = {
    "all": {},
    "end": {"observation_end": "2024-02-10 12:00"},
    "calibration+end": {
        "calibration_end": "2023-06-30 23:59:59",
        "observation_end": "2024-05-20 08:00",
    },
}
OPTIONS = dict(value_col="value", event_col="event", time_unit="W")


def _mostly_purchases(events: pd.DataFrame) -> pd.DataFrame:
    """The same customers, with four in five of the other events dropped."""
    rng = np.random.default_rng(5)
    keep = (events["event"] == "purchase").to_numpy() | (rng.random(len(events)) < 0.2)
    return events[keep].reset_index(drop=True)


LOGS = {"mostly other events": lambda e: e, "mostly purchases": _mostly_purchases}


def _plan(events: pd.DataFrame, **window: str) -> RFMPlan:
    options = dict(
        customer_col="customer_id",
        time_col="timestamp",
        purchase_events=None,
        observation_end=None,
        calibration_end=None,
        allow_negative_values=False,
        **OPTIONS,
    )
    options.update(window)
    return prepare(as_source(duckdb.connect().from_df(events)), **options).plan


@pytest.fixture(scope="module")
def events() -> pd.DataFrame:
    return random_events(7, n_customers=120, n_rows=2500)


@pytest.mark.parametrize(
    ("log", "counted_only"), [("mostly other events", True), ("mostly purchases", False)]
)
def test_only_purchases_are_grouped_when_most_rows_are_other_events(events, log, counted_only):
    frame = LOGS[log](events)
    share = float(np.mean(frame["event"] == "purchase"))
    assert (share <= 0.5) is counted_only
    assert _plan(frame).counted_only is counted_only


def test_a_log_without_event_column_groups_every_row(events):
    purchases = events[events["event"] == "purchase"].drop(columns=["event"])
    source = as_source(duckdb.connect().from_df(purchases))
    prepared = prepare(
        source,
        customer_col="customer_id",
        time_col="timestamp",
        value_col="value",
        event_col=None,
        purchase_events=None,
        time_unit="D",
        observation_end="2024-02-10",
        calibration_end=None,
        allow_negative_values=False,
    )
    assert not prepared.plan.counted_only
    assert prepared.customers is None


@pytest.mark.parametrize("engine", ["duckdb", "polars", "parquet"])
@pytest.mark.parametrize("window", list(WINDOWS))
@pytest.mark.parametrize("log", list(LOGS))
def test_both_plans_give_the_in_memory_summary(events, engine, window, log, tmp_path: Path):
    frame = LOGS[log](events)
    expected = EventLog.from_frame(frame, value_col="value").rfm(time_unit="W", **WINDOWS[window])
    got = RFM.from_events(engine_source(frame, engine, tmp_path), **OPTIONS, **WINDOWS[window])
    assert_same_rfm(expected, got)
    # the comparison is not vacuous: both kinds of customers are there
    assert len(got) > 40 and got.n_without_purchase >= 15


@pytest.mark.parametrize("engine", ["duckdb", "polars"])
def test_customers_without_purchase_in_the_window_are_counted(events, engine):
    # Purchases after the window end, and customers with only holdout purchases: both are
    # left out of the filtered aggregation and must still be counted.
    window = {"calibration_end": "2023-01-10", "observation_end": "2023-03-01"}
    expected = EventLog.from_frame(events, value_col="value").rfm(time_unit="D", **window)
    got = RFM.from_events(engine_source(events, engine), **dict(OPTIONS, time_unit="D"), **window)
    assert_same_rfm(expected, got)
    assert got.n_without_purchase > 80


@pytest.mark.parametrize("dialect", [DUCKDB, SPARK], ids=["duckdb", "spark"])
@pytest.mark.parametrize("holdout", [False, True])
def test_the_filtered_plan_keeps_one_pass_and_filters_before_grouping(
    dialect: Dialect, holdout: bool
) -> None:
    window = {"cal_tick": 5, "end_tick": 9} if holdout else {"end_period": 19_000}
    plan = RFMPlan(purchase_events=("purchase",), has_value=True, counted_only=True, **window)
    sql = rfm_sql(dialect, plan)
    assert sql.count(dialect.table(BASE)) == 1
    assert f"FROM {dialect.table(BASE)} WHERE " in sql
    assert "JOIN" not in sql.upper()


def test_customers_sql_counts_distinct_customers() -> None:
    base = duckdb.sql("SELECT * FROM (VALUES ('a'), ('b'), ('a'), ('c'), ('b')) AS t(fk_c)")
    assert DUCKDB.run(base, customers_sql(DUCKDB)).fetchall() == [(3,)]


@pytest.mark.parametrize(
    "ids",
    [
        ["order-0031", "order-0002", "order-1000", "order-0100"],  # packed past a prefix
        ["f" * 12 + "0", "a" * 13, "f" * 13, "0" * 13],  # one length: fixed-size binary
        ["a much longer id", "b", "a much longer i", "é" * 20, "Z"],  # Arrow's string sort
    ],
)
def test_collected_ids_come_back_in_python_order(ids: list[str]) -> None:
    table = pa.table({"fk_c": pa.array(ids), "n": pa.array(range(len(ids)))})
    out = arrow_columns(table, sort_by="fk_c")
    assert out["fk_c"].tolist() == sorted(ids)
    assert [ids[i] for i in out["n"]] == sorted(ids)
