"""Seeded event logs and exact comparisons for the lazy aggregation tests."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from funnelkit import RFM, Journeys

EVENTS = np.array(["touch", "visit", "join", "purchase", "refund_request"], dtype=object)
CHANNELS = np.array(["instagram", "tiktok", "referral"], dtype=object)


def random_events(seed: int, n_customers: int = 80, n_rows: int = 1500) -> pd.DataFrame:
    """Unsorted events over two years at microsecond precision, with same-time ties.

    Values are multiples of 0.25 so sums are exact in any order: the comparisons below can
    then demand bitwise equality. Attributes are constant per customer.
    """
    rng = np.random.default_rng(seed)
    cust = rng.integers(0, n_customers, n_rows)
    start = np.datetime64("2022-11-28T00:00:00", "us")
    offsets = rng.integers(0, 730 * 86_400 * 10**6, n_rows)
    coarse = rng.random(n_rows) < 0.3  # on the hour: ties in time within a customer
    offsets = np.where(coarse, offsets // 3_600_000_000 * 3_600_000_000, offsets)
    event = EVENTS[rng.choice(5, n_rows, p=[0.3, 0.2, 0.1, 0.35, 0.05])]
    # The last customers never buy: they must be counted, not summarised.
    event[(cust >= n_customers * 0.85) & (event == "purchase")] = "visit"
    value = np.where(event == "purchase", rng.integers(1, 800, n_rows) / 4.0, np.nan)
    return pd.DataFrame(
        {
            "customer_id": np.char.add("c", cust.astype(str)).astype(object),
            "timestamp": (start + offsets.astype("timedelta64[us]")).astype("datetime64[ns]"),
            "event": event,
            "value": value,
            "channel": CHANNELS[cust % 3],
        }
    )


def assert_same_rfm(expected: RFM, got: RFM) -> None:
    """Same customers (sorted by id), same columns, bitwise-equal values, same metadata."""
    a, b = expected.columns(), got.columns()
    assert list(a) == list(b)
    for name in a:
        assert a[name].shape == b[name].shape, name
        assert np.array_equal(a[name], b[name], equal_nan=a[name].dtype.kind == "f"), name
    assert got.time_unit is expected.time_unit
    assert got.n_without_purchase == expected.n_without_purchase
    assert got.observation_end == expected.observation_end
    assert got.calibration_end == expected.calibration_end


def assert_same_journeys(expected: Journeys, got: Journeys) -> None:
    assert got.stage_names == expected.stage_names
    assert np.array_equal(got.customer_ids, expected.customer_ids)
    assert np.array_equal(got.entry_times, expected.entry_times, equal_nan=True)
    assert np.array_equal(got.censoring_times, expected.censoring_times)
    assert got.attributes.keys() == expected.attributes.keys()
    for name, values in expected.attributes.items():
        assert np.array_equal(got.attributes[name], values), name
    assert got.time_unit is expected.time_unit
    assert got.is_datetime == expected.is_datetime
    assert got.n_events_after_end == expected.n_events_after_end
    assert got.notes == expected.notes


def as_source(frame: pd.DataFrame, engine: str, tmp_path: Any = None) -> Any:
    """The same events as a DuckDB relation, a Polars LazyFrame or a Parquet glob."""
    if engine == "duckdb":
        import duckdb

        return duckdb.connect().from_df(frame)
    if engine == "polars":
        import polars as pl

        return pl.from_pandas(frame).lazy()
    if engine == "parquet":
        half = len(frame) // 2
        frame.iloc[:half].to_parquet(tmp_path / "part-0.parquet")
        frame.iloc[half:].to_parquet(tmp_path / "part-1.parquet")
        return str(tmp_path / "part-*.parquet")
    raise ValueError(engine)
