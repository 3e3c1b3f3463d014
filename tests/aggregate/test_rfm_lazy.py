"""RFM from lazy sources equals the in-memory path exactly, on every engine."""

from __future__ import annotations

import re

import duckdb
import numpy as np
import pandas as pd
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from funnelkit import RFM, EventLog

from ._helpers import as_source, assert_same_rfm, random_events

WINDOWS = {
    "all": {},
    "calibration": {"calibration_end": "2023-09-14 13:30"},
    "calibration+end": {
        "calibration_end": "2023-06-30 23:59:59",
        "observation_end": "2024-05-20 08:00",
    },
    "end": {"observation_end": "2024-02-10 12:00"},
}


@pytest.fixture(scope="module")
def events() -> pd.DataFrame:
    return random_events(0)


@pytest.fixture(scope="module")
def log(events: pd.DataFrame) -> EventLog:
    return EventLog.from_frame(events, value_col="value")


@pytest.mark.parametrize("engine", ["duckdb", "polars", "parquet"])
@pytest.mark.parametrize("unit", ["h", "D", "W", "M"])
@pytest.mark.parametrize("window", list(WINDOWS))
def test_rfm_matches_in_memory(events, log, engine, unit, window, tmp_path):
    expected = log.rfm(time_unit=unit, **WINDOWS[window])
    got = RFM.from_events(
        as_source(events, engine, tmp_path),
        value_col="value",
        event_col="event",
        time_unit=unit,
        **WINDOWS[window],
    )
    assert_same_rfm(expected, got)
    assert len(got) > 20  # the comparison is not vacuous


@pytest.mark.parametrize("engine", ["duckdb", "polars"])
def test_several_purchase_events_without_values(events, engine):
    names = ["purchase", "refund_request"]
    window = {"calibration_end": "2023-12-31"}
    expected = EventLog.from_frame(events).rfm(time_unit="Y", purchase_events=names, **window)
    got = RFM.from_events(
        as_source(events, engine),
        event_col="event",
        purchase_events=names,
        time_unit="Y",
        **window,
    )
    assert_same_rfm(expected, got)
    assert got.monetary_value is None


@pytest.mark.parametrize("engine", ["duckdb", "polars"])
def test_nanoseconds_before_1970(engine):
    rng = np.random.default_rng(1)
    n = 2000
    frame = pd.DataFrame(
        {
            "cid": rng.integers(0, 150, n),  # integer ids
            "ts": pd.to_datetime(rng.integers(-(10**17), 5 * 10**16, n)),  # 1966..1971, ns
            "amount": rng.integers(0, 400, n) / 4.0,
        }
    )
    log = EventLog.from_frame(frame, customer_col="cid", time_col="ts", value_col="amount")
    for unit in ["h", "W", "M"]:
        for window in ({}, {"calibration_end": "1968-03-01", "observation_end": "1970-01-01"}):
            got = RFM.from_events(
                as_source(frame, engine),
                customer_col="cid",
                time_col="ts",
                value_col="amount",
                time_unit=unit,
                **window,
            )
            assert_same_rfm(log.rfm(time_unit=unit, **window), got)


@pytest.mark.parametrize("engine", ["duckdb", "polars"])
@pytest.mark.parametrize("unit", ["D", "W"])
def test_numeric_times(engine, unit):
    rng = np.random.default_rng(2)
    n = 1500
    frame = pd.DataFrame(
        {
            "customer_id": rng.integers(0, 120, n),
            "t": rng.normal(0.0, 30.0, n),
            "value": rng.integers(0, 40, n) / 4.0,
        }
    )
    log = EventLog.from_frame(frame, time_col="t", value_col="value", time_unit=unit)
    for window in (
        {},
        {"calibration_end": -5.5},
        {"calibration_end": -10.0, "observation_end": 20.25},
    ):
        got = RFM.from_events(
            as_source(frame, engine), time_col="t", value_col="value", time_unit=unit, **window
        )
        assert_same_rfm(log.rfm(time_unit=unit, **window), got)


def test_time_zones_are_read_as_wall_clock(events):
    frame = events.assign(
        timestamp=events["timestamp"].dt.tz_localize("UTC").dt.tz_convert("Europe/Paris")
    )
    expected = EventLog.from_frame(frame, value_col="value").rfm(time_unit="h")
    got = RFM.from_events(
        pl.from_pandas(frame).lazy(), value_col="value", event_col="event", time_unit="h"
    )
    assert_same_rfm(expected, got)
    # DuckDB keeps instants and shows them in the connection's time zone.
    con = duckdb.connect()
    con.sql("SET TimeZone = 'Europe/Paris'")
    got = RFM.from_events(con.from_df(frame), value_col="value", event_col="event", time_unit="h")
    assert_same_rfm(expected, got)


def test_date_columns(events):
    frame = events.assign(timestamp=events["timestamp"].dt.floor("D"))
    expected = EventLog.from_frame(frame, value_col="value").rfm(time_unit="W")
    con = duckdb.connect()
    relation = con.from_df(frame).project(
        "customer_id, CAST(timestamp AS DATE) AS timestamp, event, value"
    )
    lazy = pl.from_pandas(frame).lazy().with_columns(pl.col("timestamp").cast(pl.Date))
    for source in (relation, lazy):
        got = RFM.from_events(source, value_col="value", event_col="event", time_unit="W")
        assert_same_rfm(expected, got)


def test_log_without_event_column_is_all_purchases(events):
    purchases = events[events["event"] == "purchase"].drop(columns=["event"])
    expected = EventLog.from_frame(purchases, value_col="value").rfm(time_unit="W")
    got = RFM.from_events(pl.from_pandas(purchases).lazy(), value_col="value", time_unit="W")
    assert_same_rfm(expected, got)
    assert got.n_without_purchase == 0


def test_in_memory_frames_take_the_event_log_path(events, log):
    got = RFM.from_events(events, value_col="value", event_col="event", time_unit="W")
    assert_same_rfm(log.rfm(time_unit="W"), got)


def test_customers_without_purchase_are_counted(events, log):
    got = RFM.from_events(
        duckdb.connect().from_df(events), value_col="value", event_col="event", time_unit="D"
    )
    assert got.n_without_purchase == log.n_customers - len(got) > 0


_rows = st.lists(
    st.tuples(
        st.integers(0, 6),  # customer
        st.integers(0, 60 * 24),  # hours since the start
        st.sampled_from(["purchase", "visit"]),
        st.integers(0, 40),  # value in quarters
    ),
    min_size=1,
    max_size=40,
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rows=_rows,
    unit=st.sampled_from(["h", "D", "W", "M"]),
    cal_hours=st.one_of(st.none(), st.integers(0, 60 * 24)),
)
def test_random_logs_match_in_memory(rows, unit, cal_hours):
    frame = pd.DataFrame(rows, columns=["customer_id", "hours", "event", "quarters"])
    frame["timestamp"] = np.datetime64("2024-01-27T00:00", "ns") + frame["hours"].to_numpy(
        dtype="timedelta64[h]"
    )
    frame["value"] = frame["quarters"] / 4.0
    frame = frame[["customer_id", "timestamp", "event", "value"]]
    window = {}
    if cal_hours is not None:
        window["calibration_end"] = np.datetime64("2024-01-27T00:30", "ns") + np.timedelta64(
            cal_hours, "h"
        )
    log = EventLog.from_frame(frame, value_col="value")
    try:
        expected = log.rfm(time_unit=unit, **window)
    except ValueError as exc:  # the same refusal is expected from every engine
        for engine in ("duckdb", "polars"):
            with pytest.raises(type(exc), match=re.escape(str(exc)[:25])):
                RFM.from_events(
                    as_source(frame, engine),
                    value_col="value",
                    event_col="event",
                    time_unit=unit,
                    **window,
                )
        return
    for engine in ("duckdb", "polars"):
        got = RFM.from_events(
            as_source(frame, engine), value_col="value", event_col="event", time_unit=unit, **window
        )
        assert_same_rfm(expected, got)
