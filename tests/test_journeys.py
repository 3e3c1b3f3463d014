"""Journeys: ordered / any semantics, min_count, censoring, attributes, frames."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings, strategies as st

from funnelkit import DataError, EventLog, Funnel, Stage

FUNNEL = [
    Stage(name="prospect", events=["touch"]),
    Stage(name="visitor", events=["visit"]),
    Stage(name="repeat_buyer", events=["purchase"], min_count=2),
]
EVENT_NAMES = ["touch", "visit", "purchase"]


def naive_entries(rows: list[tuple[int, int, int]], order: str, end: int) -> dict[int, list]:
    """First-entry times customer by customer, straight from the definitions."""
    out: dict[int, list] = {}
    for customer in sorted({r[0] for r in rows}):
        events = sorted((t, e) for c, t, e in rows if c == customer and t <= end)
        entries: list = []
        for k, stage in enumerate(FUNNEL):
            floor = entries[k - 1] if (order == "ordered" and k > 0) else -np.inf
            if floor is None:
                entries.append(None)
                continue
            hits = [t for t, e in events if EVENT_NAMES[e] in stage.events and t >= floor]
            entries.append(hits[stage.min_count - 1] if len(hits) >= stage.min_count else None)
        if order == "any":
            for k in range(len(entries) - 2, -1, -1):
                later = entries[k + 1]
                if later is not None and (entries[k] is None or later < entries[k]):
                    entries[k] = later
        out[customer] = entries
    return out


@settings(max_examples=80, deadline=None)
@given(
    rows=st.lists(
        st.tuples(st.integers(0, 5), st.integers(0, 30), st.integers(0, 2)), min_size=1, max_size=50
    ),
    order=st.sampled_from(["ordered", "any"]),
    end=st.integers(0, 30),
)
def test_entries_match_naive_reference(
    rows: list[tuple[int, int, int]], order: str, end: int
) -> None:
    frame = pd.DataFrame(
        {
            "customer_id": [r[0] for r in rows],
            "timestamp": [float(r[1]) for r in rows],
            "event": [EVENT_NAMES[r[2]] for r in rows],
        }
    )
    log = EventLog.from_frame(frame)
    if end < min(r[1] for r in rows):
        with pytest.raises(DataError):
            Funnel(stages=FUNNEL, order=order).journeys(log, observation_end=float(end))
        return
    journeys = Funnel(stages=FUNNEL, order=order).journeys(log, observation_end=float(end))
    expected = naive_entries(rows, order, end)
    for i, customer in enumerate(journeys.customer_ids):
        want = [np.nan if v is None else float(v) for v in expected[int(customer)]]
        np.testing.assert_array_equal(journeys.entry_times[i], want)
    assert journeys.n_events_after_end == sum(r[1] > end for r in rows)
    assert np.all(journeys.censoring_times == end)


def test_ordered_needs_the_previous_stage_first() -> None:
    frame = pd.DataFrame(
        {
            "customer_id": ["a", "a", "a", "b", "b"],
            "timestamp": [1.0, 2.0, 2.0, 5.0, 1.0],
            "event": ["visit", "touch", "visit", "touch", "visit"],
        }
    )
    log = EventLog.from_frame(frame)
    ordered = Funnel(stages=FUNNEL[:2], order="ordered").journeys(log)
    # a: the visit at t=1 came before the touch; the one at t=2 (same time) counts.
    np.testing.assert_array_equal(ordered.entry_times, [[2.0, 2.0], [5.0, np.nan]])
    anyway = Funnel(stages=FUNNEL[:2], order="any").journeys(log)
    np.testing.assert_array_equal(anyway.entry_times, [[1.0, 1.0], [1.0, 1.0]])


def test_community_journeys_counts_attributes_and_frames() -> None:
    from funnelkit.datasets import simulate_community

    sim = simulate_community(2_000, seed=4)
    log = EventLog.from_frame(sim.events, value_col="value", attribute_cols=["channel"])
    journeys = Funnel.community().journeys(log, observation_end=sim.observation_end)
    counts = journeys.counts()
    assert counts["prospect"] == 2_000
    assert counts["prospect"] >= counts["visitor"] >= counts["member"] >= counts["repeat_buyer"]
    truth = pd.Series(sim.truth["channel"], index=sim.truth["customer_id"])
    np.testing.assert_array_equal(
        journeys.attributes["channel"], truth.loc[journeys.customer_ids].to_numpy()
    )
    frame = journeys.to_frame()
    assert list(frame.columns) == [
        "customer_id",
        "channel",
        "prospect",
        "visitor",
        "member",
        "repeat_buyer",
        "observation_end",
    ]
    assert str(frame["visitor"].dtype).startswith("datetime64")
    assert frame["visitor"].notna().sum() == counts["visitor"]
    pl_frame = journeys.to_frame(backend="polars")
    assert pl_frame.shape == frame.shape
    index, duration, converted = journeys.transition("visitor", "member")
    assert index.size == counts["visitor"] and converted.sum() == counts["member"]
    assert np.all(duration >= 0)


def test_stage_with_unknown_events_is_noted() -> None:
    frame = pd.DataFrame({"customer_id": [1], "timestamp": [0.0], "event": ["touch"]})
    journeys = Funnel(stages=FUNNEL).journeys(EventLog.from_frame(frame))
    assert journeys.counts() == {"prospect": 1, "visitor": 0, "repeat_buyer": 0}
    assert any("visitor" in note for note in journeys.notes)


def test_journeys_time_unit_conversion() -> None:
    frame = pd.DataFrame(
        {"customer_id": [1, 1], "timestamp": [0.0, 14.0], "event": ["touch", "visit"]}
    )
    journeys = Funnel(stages=FUNNEL[:2]).journeys(EventLog.from_frame(frame), time_unit="W")
    np.testing.assert_allclose(journeys.entry_times, [[0.0, 2.0]])


def test_current_stage_and_time_in_it() -> None:
    frame = pd.DataFrame(
        {
            "customer_id": [1, 1, 2, 3],
            "timestamp": [0.0, 4.0, 2.0, 9.0],
            "event": ["touch", "visit", "touch", "purchase"],
        }
    )
    journeys = Funnel(stages=FUNNEL).journeys(EventLog.from_frame(frame), observation_end=10.0)
    stage, time_in = journeys.current_stage()
    np.testing.assert_array_equal(stage, [1, 0, -1])
    np.testing.assert_array_equal(time_in, [6.0, 8.0, np.nan])
