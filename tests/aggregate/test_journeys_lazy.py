"""Journeys from lazy sources equal Funnel.journeys on an EventLog exactly, on every engine."""

from __future__ import annotations

import numpy as np
import pandas as pd
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from funnelkit import EventLog, Funnel, Stage

from ._helpers import as_source, assert_same_journeys, random_events

#: a middle stage needing two events, and a stage whose event never occurs
TRICKY = [
    Stage(name="prospect", events=["touch", "visit"]),
    Stage(name="engaged", events=["visit", "join"], min_count=2),
    Stage(name="buyer", events=["purchase"]),
    Stage(name="repeat", events=["purchase"], min_count=3),
    Stage(name="ambassador", events=["refer"]),
]


@pytest.fixture(scope="module")
def events() -> pd.DataFrame:
    return random_events(4)


@pytest.fixture(scope="module")
def log(events: pd.DataFrame) -> EventLog:
    return EventLog.from_frame(events, attribute_cols=["channel"])


@pytest.mark.parametrize("engine", ["duckdb", "polars", "parquet"])
@pytest.mark.parametrize("order", ["ordered", "any"])
@pytest.mark.parametrize("end", [None, "2024-03-05 10:00"])
def test_journeys_match_in_memory(events, log, engine, order, end, tmp_path):
    funnel = Funnel(stages=TRICKY, order=order)
    expected = funnel.journeys(log, observation_end=end, time_unit="W")
    got = funnel.journeys(
        as_source(events, engine, tmp_path),
        observation_end=end,
        time_unit="W",
        attribute_cols=["channel"],
    )
    assert_same_journeys(expected, got)
    assert 0 < got.counts()["repeat"] < got.counts()["prospect"]  # not vacuous
    assert got.notes  # the 'refer' stage is reported


@pytest.mark.parametrize("engine", ["duckdb", "polars"])
def test_community_funnel_in_hours(events, log, engine):
    funnel = Funnel.community()
    expected = funnel.journeys(log, time_unit="h")
    got = funnel.journeys(as_source(events, engine), time_unit="h", attribute_cols=["channel"])
    assert_same_journeys(expected, got)
    frame = got.to_frame()
    assert frame["repeat_buyer"].dtype.kind == "M"  # real timestamps come back


@pytest.mark.parametrize("engine", ["duckdb", "polars"])
def test_numeric_times_without_event_column(engine):
    rng = np.random.default_rng(5)
    frame = pd.DataFrame(
        {"customer_id": rng.integers(0, 50, 600), "t": rng.uniform(-20.0, 80.0, 600)}
    )
    funnel = Funnel(
        stages=[
            Stage(name="buyer", events=["purchase"]),
            Stage(name="loyal", events=["purchase"], min_count=4),
            Stage(name="visitor", events=["visit"]),
        ]
    )
    log = EventLog.from_frame(frame, time_col="t", time_unit="W")
    expected = funnel.journeys(log, observation_end=50.5)
    got = funnel.journeys(
        as_source(frame, engine), time_col="t", time_unit="W", observation_end=50.5
    )
    assert_same_journeys(expected, got)
    assert got.n_events_after_end > 0


def test_narwhals_lazy_frames_are_unwrapped(events, log):
    import narwhals as nw

    source = nw.from_native(pl.from_pandas(events).lazy())
    funnel = Funnel.community(order="any")
    assert_same_journeys(funnel.journeys(log), funnel.journeys(source, attribute_cols=["channel"]))


_rows = st.lists(
    st.tuples(
        st.integers(0, 5),
        st.integers(0, 30 * 24),
        st.sampled_from(["touch", "visit", "join", "purchase"]),
    ),
    min_size=1,
    max_size=40,
)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=_rows, order=st.sampled_from(["ordered", "any"]), min_count=st.integers(1, 3))
def test_random_logs_match_in_memory(rows, order, min_count):
    frame = pd.DataFrame(rows, columns=["customer_id", "hours", "event"])
    frame["timestamp"] = np.datetime64("2024-03-30T00:00", "ns") + frame["hours"].to_numpy(
        dtype="timedelta64[h]"
    )
    funnel = Funnel(
        stages=[
            Stage(name="a", events=["touch"]),
            Stage(name="b", events=["visit", "join"], min_count=min_count),
            Stage(name="c", events=["purchase"], min_count=min_count),
        ],
        order=order,
    )
    expected = funnel.journeys(EventLog.from_frame(frame), time_unit="D")
    for engine in ("duckdb", "polars"):
        got = funnel.journeys(as_source(frame, engine), time_unit="D")
        assert_same_journeys(expected, got)
