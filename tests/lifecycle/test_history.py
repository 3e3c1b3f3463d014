"""Purchase histories at per-customer cut-offs agree with EventLog.rfm at the observation end."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings, strategies as st

from funnelkit import EventLog
from funnelkit.exceptions import DataError
from funnelkit.lifecycle._history import (
    PurchasePeriods,
    history_at,
    purchase_events,
    time_periods,
    value_at,
)
from funnelkit.units import TimeUnit


@pytest.mark.parametrize("unit", ["D", "W", "M"])
def test_history_at_the_end_matches_rfm(transactions: pd.DataFrame, unit: str) -> None:
    log = EventLog.from_frame(transactions, time_col="date", value_col="value")
    rfm = log.rfm(time_unit=unit)
    u = TimeUnit.parse(unit)
    events = purchase_events(log, ["purchase"], log.last_time, u)
    end = float(log.to_unit(np.asarray([log.last_time]), u)[0])
    n = log.n_customers
    hist = history_at(events, np.full(n, end), np.full(n, time_periods(log, np.array([end]), u)[0]))
    codes = np.searchsorted(log.customer_ids, rfm.customer_ids)
    assert hist.has_purchase[codes].all()
    np.testing.assert_array_equal(hist.frequency[codes], rfm.frequency)
    np.testing.assert_array_equal(hist.recency[codes], rfm.recency)
    np.testing.assert_array_equal(hist.T[codes], rfm.T)
    np.testing.assert_allclose(hist.monetary_value[codes], rfm.monetary_value)


def test_time_periods_keep_boundary_events_in_their_period() -> None:
    # Midnight on a Monday is the first instant of a week: floats must not push it back.
    stamps = pd.to_datetime(["2024-01-01 00:00:00", "2024-01-08 00:00:00", "2024-01-07 23:59:59"])
    frame = pd.DataFrame({"customer_id": [1, 1, 1], "timestamp": stamps})
    log = EventLog.from_frame(frame, time_unit="h")
    for unit in ("D", "W", "M", "h"):
        u = TimeUnit.parse(unit)
        times = np.asarray(log.to_unit(log.raw_times, u), dtype=float)
        np.testing.assert_array_equal(
            time_periods(log, times, u), log.period_index(log.raw_times, u)
        )


def test_purchases_without_value_are_refused() -> None:
    frame = pd.DataFrame({"customer_id": [1, 1], "timestamp": [0.0, 3.0], "value": [5.0, np.nan]})
    log = EventLog.from_frame(frame, value_col="value")
    with pytest.raises(DataError, match="1 purchase"):
        purchase_events(log, ["purchase"], 3.0, TimeUnit.DAY)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 4), st.floats(0, 60, allow_nan=False), st.floats(1, 50)),
        min_size=1,
        max_size=40,
    ),
    st.lists(st.floats(0, 70, allow_nan=False), min_size=5, max_size=5),
)
def test_history_at_matches_a_per_customer_reference(rows: list, cuts: list) -> None:
    frame = pd.DataFrame(rows, columns=["customer_id", "timestamp", "value"])
    log = EventLog.from_frame(frame, value_col="value")
    events = purchase_events(log, ["purchase"], log.last_time, TimeUnit.DAY)
    n = log.n_customers
    cutoff = np.array(cuts[:n], dtype=float)
    hist = history_at(events, cutoff, np.floor(cutoff).astype(np.int64))
    for i, cid in enumerate(log.customer_ids):
        mine = frame[(frame.customer_id == cid) & (frame.timestamp <= cutoff[i])]
        if mine.empty:
            assert not hist.has_purchase[i]
            continue
        periods = np.floor(mine.timestamp.to_numpy()).astype(int)
        spend = mine.groupby(periods)["value"].sum().sort_index()
        assert hist.has_purchase[i]
        assert hist.frequency[i] == spend.size - 1
        assert hist.recency[i] == spend.index[-1] - spend.index[0]
        assert hist.T[i] == int(np.floor(cutoff[i])) - spend.index[0]
        assert hist.first_spend[i] == pytest.approx(spend.iloc[0])
        expected = spend.iloc[1:].mean() if spend.size > 1 else 0.0
        assert hist.monetary_value[i] == pytest.approx(expected)
        assert hist.first_time[i] == mine.timestamp.min()


def _purchases_and_cut_offs(rows: list, cuts: list) -> tuple[Any, np.ndarray]:
    """The purchases of a (customer, day, value) log and a cut-off per customer."""
    frame = pd.DataFrame(rows, columns=["customer_id", "timestamp", "value"])
    log = EventLog.from_frame(frame, value_col="value", allow_negative_values=True)
    events = purchase_events(log, ["purchase"], log.last_time, TimeUnit.DAY)
    return events, np.array(cuts[: log.n_customers], dtype=float)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(0, 3),
            st.integers(0, 24).map(lambda q: q / 4),  # several purchases share a day
            st.floats(-20, 50, allow_nan=False),
        ),
        min_size=1,
        max_size=60,
    ),
    st.lists(st.integers(-4, 28).map(lambda q: q / 4), min_size=4, max_size=4),
)
def test_history_at_sums_each_kept_period_exactly_in_order(rows: list, cuts: list) -> None:
    # Cut-offs on quarter days fall on purchases, between them and inside a day's purchases:
    # the kept part of a split day is summed alone, and repeat spend adds periods in order.
    events, cutoff = _purchases_and_cut_offs(rows, cuts)
    n = cutoff.size
    cutoff[0] = np.nan if n > 1 else cutoff[0]
    periods = PurchasePeriods.of(events)
    hist = history_at(events, cutoff, np.floor(np.nan_to_num(cutoff)).astype(np.int64))
    shared = history_at(
        events, cutoff, np.floor(np.nan_to_num(cutoff)).astype(np.int64), periods=periods
    )
    for field in ("has_purchase", "frequency", "recency", "T", "monetary_value", "first_spend"):
        np.testing.assert_array_equal(getattr(hist, field), getattr(shared, field))
    for i in range(n):
        mine = events.time[events.customer == i]
        value = events.value[events.customer == i][mine <= cutoff[i]]
        day = np.floor(mine[mine <= cutoff[i]])
        if value.size == 0:
            assert not hist.has_purchase[i] and hist.monetary_value[i] == 0.0
            continue
        # a period sums as the summaries sum every period (one reduceat segment)
        spends = [float(np.add.reduceat(value[day == d], [0])[0]) for d in np.unique(day)]
        repeat = 0.0
        for s in spends[1:]:
            repeat += s
        assert hist.first_spend[i] == spends[0]
        assert hist.frequency[i] == len(spends) - 1
        assert hist.monetary_value[i] == (repeat / (len(spends) - 1) if len(spends) > 1 else 0.0)
        assert hist.first_time[i] == mine[0]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 3), st.integers(0, 12).map(lambda q: q / 2), st.floats(-20, 50)),
        min_size=1,
        max_size=40,
    ),
    st.lists(st.integers(-2, 14).map(lambda q: q / 2), min_size=4, max_size=4),
)
def test_value_at_adds_the_purchases_made_at_the_cut_off(rows: list, cuts: list) -> None:
    events, cutoff = _purchases_and_cut_offs(rows, cuts)
    n = cutoff.size
    cutoff[-1] = np.nan
    at = events.time == cutoff[events.customer]
    expected = np.bincount(events.customer[at], weights=events.value[at], minlength=n)
    got = value_at(events, cutoff, PurchasePeriods.of(events))
    np.testing.assert_array_equal(got, expected)
    assert got[-1] == 0.0
