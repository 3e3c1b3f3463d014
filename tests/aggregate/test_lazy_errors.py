"""Bad input on lazy sources: the in-memory path's clear errors, found by engine queries."""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd
import polars as pl
import pytest

from funnelkit import RFM, DataError, EventLog, Funnel, FunnelkitError

from ._helpers import as_source

ENGINES = ["duckdb", "polars"]


def _events() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": ["a", "a", "b", "c", "c", "d"],
            "timestamp": pd.to_datetime(
                ["2024-01-01", "2024-01-09", "2024-01-03", "2024-01-04", "2024-02-01", "2024-02-02"]
            ),
            "event": ["purchase", "purchase", "visit", "purchase", "purchase", "visit"],
            "value": [10.0, 20.0, np.nan, 5.0, 7.5, np.nan],
        }
    )


def _rfm(frame: pd.DataFrame, engine: str, **kwargs):
    options = {"value_col": "value", "event_col": "event", "time_unit": "D", **kwargs}
    return RFM.from_events(as_source(frame, engine), **options)


@pytest.mark.parametrize("engine", ENGINES)
def test_missing_column_suggests_close_names(engine):
    frame = _events().rename(columns={"customer_id": "customer"})
    with pytest.raises(DataError, match=r"'customer_id'.*Did you mean.*'customer'"):
        _rfm(frame, engine)


@pytest.mark.parametrize("engine", ENGINES)
def test_text_values_are_refused_before_reading_rows(engine):
    frame = _events().assign(value=["10", "20", "", "5", "7.5", ""])
    with pytest.raises(DataError, match=r"Value column 'value' has type String.*CAST"):
        _rfm(frame, engine)


@pytest.mark.parametrize("engine", ENGINES)
def test_text_times_are_refused_with_the_cast_to_use(engine):
    frame = _events().assign(timestamp=lambda f: f["timestamp"].dt.strftime("%Y-%m-%d"))
    with pytest.raises(DataError, match=r"Time column 'timestamp' has type String.*cast"):
        _rfm(frame, engine)


@pytest.mark.parametrize("engine", ENGINES)
def test_null_customer_ids_are_counted(engine):
    frame = _events()
    frame.loc[[1, 3], "customer_id"] = None
    with pytest.raises(DataError, match=r"2 row\(s\) have no customer id in column 'customer_id'"):
        _rfm(frame, engine)


@pytest.mark.parametrize("engine", ENGINES)
def test_null_timestamps_show_customer_ids(engine):
    frame = _events()
    frame.loc[4, "timestamp"] = pd.NaT
    with pytest.raises(DataError, match=r"1 row\(s\) have no timestamp.*customer ids 'c'"):
        _rfm(frame, engine)
    with pytest.raises(DataError, match=r"1 row\(s\) have no timestamp.*'c'"):
        Funnel.community().journeys(as_source(frame, engine))


@pytest.mark.parametrize("engine", ENGINES)
def test_non_finite_numeric_times(engine):
    frame = _events().assign(timestamp=[1.0, 2.0, np.inf, 3.0, 4.0, 5.0])
    with pytest.raises(DataError, match=r"1 row\(s\) have a non-finite time.*'b'"):
        _rfm(frame, engine)


@pytest.mark.parametrize("engine", ENGINES)
def test_null_event_types(engine):
    frame = _events()
    frame.loc[2, "event"] = None
    with pytest.raises(DataError, match=r"1 row\(s\) have no event type in column 'event'.*'b'"):
        _rfm(frame, engine)


@pytest.mark.parametrize("engine", ENGINES)
def test_negative_and_infinite_values(engine):
    frame = _events()
    frame.loc[[0, 1, 4], "value"] = -1.0
    with pytest.raises(DataError, match=r"3 row\(s\).*negative.*'a', 'a', 'c'.*allow_negative"):
        _rfm(frame, engine)
    refunds = _rfm(frame, engine, allow_negative_values=True)
    assert refunds.monetary_value.tolist() == [-1.0, -1.0]
    frame.loc[[0, 1, 4], "value"] = np.inf
    with pytest.raises(DataError, match=r"3 row\(s\) of value column 'value' are infinite"):
        _rfm(frame, engine)


@pytest.mark.parametrize("engine", ENGINES)
def test_purchases_without_value(engine):
    frame = _events()
    frame.loc[3, "value"] = np.nan
    with pytest.raises(DataError, match=r"1 purchase\(s\) have no value \(e.g. customer ids 'c'\)"):
        _rfm(frame, engine)
    # outside the window it does not matter, as in memory
    expected = EventLog.from_frame(frame, value_col="value").rfm(observation_end="2024-01-02")
    got = _rfm(frame, engine, observation_end="2024-01-02")
    assert got.frequency.tolist() == expected.frequency.tolist() == [0.0]


@pytest.mark.parametrize("engine", ENGINES)
def test_window_errors(engine):
    frame = _events()
    with pytest.raises(
        DataError, match=r"No purchase events.*\['order'\].*\['purchase', 'visit'\]"
    ):
        _rfm(frame, engine, purchase_events=["order"])
    with pytest.raises(FunnelkitError, match="calibration_end must be before observation_end"):
        _rfm(frame, engine, calibration_end="2024-03-01")
    with pytest.raises(DataError, match="No purchases fall inside the observation window"):
        _rfm(frame, engine, observation_end="2023-12-01")
    with pytest.raises(FunnelkitError, match="pass a date or timestamp, not 3"):
        _rfm(frame, engine, observation_end=3)
    with pytest.raises(DataError, match="observation_end is before the first event"):
        Funnel.community().journeys(as_source(frame, engine), observation_end="2023-01-01")


def test_empty_sources():
    relation = duckdb.sql("SELECT 'a' AS customer_id, TIMESTAMP '2024-01-01' AS timestamp LIMIT 0")
    with pytest.raises(DataError, match="The event log is empty"):
        RFM.from_events(relation)


def test_purchase_events_need_an_event_column():
    frame = _events().drop(columns=["event"]).dropna()
    with pytest.raises(DataError, match=r"no event_col was given"):
        RFM.from_events(pl.from_pandas(frame).lazy(), purchase_events=["order"])


def test_column_arguments_are_only_for_lazy_sources():
    log = EventLog.from_frame(_events())
    with pytest.raises(FunnelkitError, match=r"\['customer_col'\] are for lazy sources"):
        Funnel.community().journeys(log, customer_col="user")


def test_unreadable_parquet_path(tmp_path):
    with pytest.raises(DataError, match="Could not read Parquet"):
        RFM.from_events(str(tmp_path / "missing-*.parquet"))
