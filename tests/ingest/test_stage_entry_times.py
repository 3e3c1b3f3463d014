"""The entry times of one stage counted on its own, without building a funnel's journeys."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings, strategies as st

from funnelkit import DataError, EventLog, Funnel, Stage
from funnelkit.ingest.numpy_summaries import stage_entry_times

EVENT_NAMES = ["touch", "visit", "purchase"]


@settings(max_examples=60, deadline=None)
@given(
    rows=st.lists(
        st.tuples(st.integers(0, 5), st.integers(0, 30), st.integers(0, 2)), min_size=1, max_size=50
    ),
    events=st.sampled_from([["purchase"], ["visit", "purchase"], ["touch"]]),
    min_count=st.integers(1, 3),
    end=st.integers(0, 30),
)
def test_entries_equal_those_of_a_funnel_of_the_stage_alone(
    rows: list[tuple[int, int, int]], events: list[str], min_count: int, end: int
) -> None:
    frame = pd.DataFrame(
        {
            "customer_id": [r[0] for r in rows],
            "timestamp": [float(r[1]) for r in rows],
            "event": [EVENT_NAMES[r[2]] for r in rows],
        }
    )
    log = EventLog.from_frame(frame)
    end = max(end, min(r[1] for r in rows))
    stage = Stage(name="s", events=events, min_count=min_count)
    alone = Funnel(stages=[stage]).journeys(log, observation_end=float(end), time_unit="W")
    got = stage_entry_times(log, stage, observation_end=float(end), time_unit="W")
    np.testing.assert_array_equal(got, alone.entry_times[:, 0])


def test_datetime_entries_ignore_the_stages_before() -> None:
    # "b" joins before visiting: an ordered funnel does not count the join, the stage alone does.
    frame = pd.DataFrame(
        {
            "customer_id": ["a", "a", "b", "b", "c"],
            "timestamp": pd.to_datetime(
                ["2024-01-01", "2024-01-03", "2024-01-02", "2024-01-05", "2024-01-09"]
            ),
            "event": ["visit", "join", "join", "visit", "visit"],
        }
    )
    log = EventLog.from_frame(frame)
    join = Stage(name="member", events=["join"])
    funnel = Funnel(stages=[Stage(name="visitor", events=["visit"]), join])
    gated = funnel.journeys(log, time_unit="D").entry_times[:, 1]
    got = stage_entry_times(log, join, observation_end=None, time_unit="D")
    day = float(np.datetime64("2024-01-02", "D").astype(np.int64))
    np.testing.assert_array_equal(got, [day + 1, day, np.nan])
    np.testing.assert_array_equal(gated, [day + 1, np.nan, np.nan])
    with pytest.raises(DataError, match="observation_end is before the first event of the log"):
        stage_entry_times(log, join, observation_end=pd.Timestamp("2023-12-01"), time_unit="D")
