"""The lazy RFM aggregation: one pass over the events, and repeat spend without cancellation."""

from __future__ import annotations

import math
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import polars as pl
import pytest

import funnelkit as fk
from funnelkit.ingest.lazy._plans import RFMPlan
from funnelkit.ingest.lazy._sql import BASE, DUCKDB, SPARK, Dialect
from funnelkit.ingest.lazy.rfm_sql import rfm_sql, spend_scale
from tests.aggregate._helpers import assert_same_rfm


@pytest.mark.parametrize(
    ("total", "expected"),
    [
        (None, 1.0),
        (0.0, 1.0),
        (1000.0, 2.0**-40),  # 1000 < 2**10
        (1024.0, 2.0**-39),  # 1024 = 2**10 needs 2**11
        (float("inf"), 2.0**974),
        (5e-324, 2.0**-1074),
    ],
)
def test_spend_scale_is_the_power_of_two_that_keeps_high_parts_exact(
    total: float | None, expected: float
) -> None:
    assert spend_scale(total) == expected


PLANS = {
    "all rows": RFMPlan(purchase_events=None, has_value=True),
    "window": RFMPlan(purchase_events=("purchase",), has_value=True, end_period=19_000),
    "holdout": RFMPlan(purchase_events=("purchase",), has_value=True, cal_tick=5, end_tick=9),
    "holdout, no values": RFMPlan(purchase_events=None, has_value=False, cal_tick=5.5),
}


@pytest.mark.parametrize("name", list(PLANS))
@pytest.mark.parametrize("dialect", [DUCKDB, SPARK], ids=["duckdb", "spark"])
def test_the_aggregation_reads_the_events_once_and_joins_nothing(
    name: str, dialect: Dialect
) -> None:
    sql = rfm_sql(dialect, PLANS[name])
    assert sql.count(dialect.table(BASE)) == 1
    assert "JOIN" not in sql.upper()
    assert "OVER" not in sql.upper()


def _dwarfed() -> pd.DataFrame:
    """First purchases that dwarf the repeats, refunds, and subnormal spends.

    Every repeat spend here is exact in doubles, in any order; total minus first is not:
    1e16 + 2 + 0.25 + 0.5 rounds to 1e16 + 2, which would leave 0 instead of 0.75.
    """
    day = pd.Timestamp("2024-01-01")
    rows = [
        ("a", 0, 1e16 + 2),
        ("a", 3, 0.25),
        ("a", 3, 0.5),  # same period as the line above: summed first
        ("a", 9, -0.5),  # a refund in a later period
        ("a", 9, 1.0),
        ("b", 1, 2.0**60),
        ("b", 2, 2.0**-20),
        ("c", 2, 5e-324),
        ("c", 4, 1e-323),
        ("c", 4, 5e-324),
        ("d", 5, 7.0),
        ("e", 1, 3.5),
        ("e", 8, 0.0),  # a free repeat: exactly zero spend
    ]
    return pd.DataFrame(
        {
            "customer_id": [r[0] for r in rows],
            "timestamp": [day + pd.Timedelta(days=r[1]) for r in rows],
            "value": [r[2] for r in rows],
        }
    )


@pytest.mark.parametrize("engine", ["duckdb", "polars", "parquet"])
@pytest.mark.parametrize("window", [{}, {"calibration_end": "2024-01-06"}])
def test_repeat_spend_equals_the_in_memory_one_when_the_first_purchase_dwarfs_it(
    engine: str, window: dict, tmp_path: Path
) -> None:
    events = _dwarfed()
    options = dict(value_col="value", time_unit="D", allow_negative_values=True, **window)
    expected = fk.RFM.from_events(events, **options)
    source: object
    if engine == "duckdb":
        source = duckdb.from_df(events)
    elif engine == "polars":
        source = pl.from_pandas(events).lazy()
    else:
        source = tmp_path / "events.parquet"
        events.to_parquet(source)
    got = fk.RFM.from_events(source, **options)
    assert_same_rfm(expected, got)
    by_id = dict(zip(got.customer_ids.tolist(), got.monetary_value.tolist(), strict=True))
    if not window:
        assert by_id["a"] == (0.75 + 0.5) / 2
        assert by_id["b"] == 2.0**-20
        assert by_id["c"] == 1.5e-323
        assert by_id["e"] == 0.0


def test_spend_whose_total_overflows_doubles_still_gives_the_repeats() -> None:
    big = np.finfo(float).max / 2
    events = pd.DataFrame(
        {
            "customer_id": ["a", "a", "a", "b"],
            "timestamp": pd.to_datetime(["2024-01-01", "2024-01-02", "2024-01-03", "2024-01-03"]),
            "value": [big, big, 1.0, big],
        }
    )
    got = fk.RFM.from_events(duckdb.from_df(events), value_col="value", time_unit="D")
    assert got.monetary_value.tolist() == [(big + 1.0) / 2, 0.0]
    assert math.isfinite(got.monetary_value[0])
