"""Strict order and per-step conversion windows, against hand-counted journeys."""

from __future__ import annotations

import math

import numpy as np
import pytest

from funnelkit import ConversionFitter, EventLog
from funnelkit.exceptions import SpecError
from funnelkit.stages import Exclusion, Funnel, Stage

pd = pytest.importorskip("pandas")

EVENTS = pd.DataFrame(
    {
        "customer_id": list("aaabbbbcccccddddeeee"),
        "timestamp": [
            1.0, 2.0, 3.0,            # a: visit, join, purchase
            1.0, 2.0, 3.0, 4.0,       # b: visit, purchase (skips ahead), join, purchase
            1.0, 2.0, 3.0, 4.0, 5.0,  # c: visit, visit, join, visit, purchase
            1.0, 2.0, 3.0, 4.0,       # d: purchase before visiting, visit, join, purchase
            1.0, 2.0, 3.0, 9.0,       # e: visit, join, visit, purchase a week after joining
        ],
        "event": [
            "visit", "join", "purchase",
            "visit", "purchase", "join", "purchase",
            "visit", "visit", "join", "visit", "purchase",
            "purchase", "visit", "join", "purchase",
            "visit", "join", "visit", "purchase",
        ],
    }
)  # fmt: skip
IDS = ("a", "b", "c", "d", "e")


def _funnel(*, order: str = "ordered", within: float | None = None, **kwargs) -> Funnel:  # type: ignore[no-untyped-def]
    stages = [
        Stage(name="visitor", events=["visit"]),
        Stage(name="member", events=["join"]),
        Stage(name="buyer", events=["purchase"], within=within),
    ]
    return Funnel(stages=stages, order=order, **kwargs)  # type: ignore[arg-type]


def _entries(journeys) -> dict[str, list[float | None]]:  # type: ignore[no-untyped-def]
    ids = list(journeys.customer_ids)
    return {
        cid: [None if math.isnan(t) else t for t in journeys.entry_times[ids.index(cid)]]
        for cid in IDS
    }


def _censoring(journeys) -> dict[str, float]:  # type: ignore[no-untyped-def]
    return dict(zip(journeys.customer_ids, journeys.censoring_times.tolist(), strict=True))


def test_ordered_funnels_let_a_later_step_happen_early() -> None:
    journeys = _funnel().journeys(EventLog.from_frame(EVENTS))
    assert _entries(journeys) == {
        "a": [1.0, 2.0, 3.0],
        "b": [1.0, 3.0, 4.0],
        "c": [1.0, 3.0, 5.0],
        "d": [2.0, 3.0, 4.0],
        "e": [1.0, 2.0, 9.0],
    }


def test_strict_order_ends_the_journey_at_an_out_of_order_step() -> None:
    journeys = _funnel(order="strict").journeys(EventLog.from_frame(EVENTS))
    # b purchased between visiting and joining; c's repeat visits and d's purchase before
    # the funnel began do not break the order
    assert _entries(journeys) == {
        "a": [1.0, 2.0, 3.0],
        "b": [1.0, None, None],
        "c": [1.0, 3.0, 5.0],
        "d": [2.0, 3.0, 4.0],
        "e": [1.0, 2.0, 9.0],
    }
    assert _censoring(journeys) == {"a": 9.0, "b": 2.0, "c": 9.0, "d": 9.0, "e": 9.0}
    _, duration, converted = journeys.transition("visitor", "member")
    assert converted.tolist() == [True, False, True, True, True]
    assert duration.tolist() == [1.0, 1.0, 2.0, 1.0, 1.0]


def test_strict_order_lets_an_optional_step_be_skipped() -> None:
    stages = [
        Stage(name="visitor", events=["visit"]),
        Stage(name="member", events=["join"], optional=True),
        Stage(name="buyer", events=["purchase"]),
    ]
    journeys = Funnel(stages=stages, order="strict").journeys(EventLog.from_frame(EVENTS))
    # skipping the optional join is not out of order: b buys at 2 without having joined
    assert _entries(journeys)["b"] == [1.0, 3.0, 2.0]
    assert _censoring(journeys)["b"] == 9.0


def test_strict_order_with_an_exclusion_keeps_the_earlier_end() -> None:
    funnel = _funnel(
        order="strict", exclusions=[Exclusion(event="visit", after="member", before="buyer")]
    )
    journeys = funnel.journeys(EventLog.from_frame(EVENTS))
    # c and e visited again after joining: excluded at that visit; b broke the order at 2
    assert _entries(journeys) == {
        "a": [1.0, 2.0, 3.0],
        "b": [1.0, None, None],
        "c": [1.0, 3.0, None],
        "d": [2.0, 3.0, 4.0],
        "e": [1.0, 2.0, None],
    }
    assert _censoring(journeys) == {"a": 9.0, "b": 2.0, "c": 4.0, "d": 9.0, "e": 3.0}


def test_a_conversion_window_drops_late_entries() -> None:
    journeys = _funnel(within=5.0).journeys(EventLog.from_frame(EVENTS))
    # e bought 7 days after joining, outside the 5-day window; b, 1 day after (4 - 3)
    assert _entries(journeys)["e"] == [1.0, 2.0, None]
    assert _entries(journeys)["b"] == [1.0, 3.0, 4.0]
    _, duration, converted = journeys.transition("member", "buyer")
    assert converted.tolist() == [True, True, True, True, False]
    assert duration.tolist() == [1.0, 1.0, 2.0, 1.0, 7.0]
    # the Kaplan-Meier rate within the window is the hand count: 4 of 5 within 5 days
    estimate = ConversionFitter().fit(journeys).estimate("member", "buyer")
    assert estimate.rate_within(5.0).rate == pytest.approx(0.8, abs=1e-12)


def test_a_conversion_window_is_in_the_logs_time_unit() -> None:
    dated = EVENTS.assign(
        timestamp=pd.Timestamp("2024-01-01") + pd.to_timedelta(EVENTS["timestamp"], unit="D")
    )
    weekly = EventLog.from_frame(dated, time_unit="W")
    daily = EventLog.from_frame(dated, time_unit="D")
    epoch = 19723.0  # 2024-01-01 in days since 1970-01-01
    # 1 week = 7 days: e's 7-day delay is just inside; 6 days is not
    assert _entries(_funnel(within=1.0).journeys(weekly, time_unit="D"))["e"] == [
        epoch + 1.0,
        epoch + 2.0,
        epoch + 9.0,
    ]
    late = _funnel(within=6.0).journeys(daily)
    assert np.isnan(late.entry_times[list(late.customer_ids).index("e"), 2])
    assert late.counts()["buyer"] == 4


def test_strict_funnels_and_windows_round_trip_through_json() -> None:
    funnel = _funnel(order="strict", within=5.0)
    loaded = Funnel.model_validate_json(funnel.model_dump_json())
    assert loaded == funnel
    assert loaded.order == "strict" and loaded.stages[2].within == 5.0
    assert not loaded.is_plain
    assert not _funnel(order="strict").is_plain and not _funnel(within=5.0).is_plain
    assert _funnel().is_plain
    log = EventLog.from_frame(EVENTS)
    assert _entries(loaded.journeys(log)) == _entries(funnel.journeys(log))


def test_invalid_windows_and_orders_say_what_is_wrong() -> None:
    with pytest.raises(SpecError, match=r"within: Input should be greater than 0 \(got 0\)"):
        Stage(name="buyer", events=["purchase"], within=0)
    with pytest.raises(SpecError, match=r"within: Input should be a finite number"):
        Stage(name="buyer", events=["purchase"], within=float("inf"))
    with pytest.raises(SpecError, match=r"need order='ordered' or 'strict'"):
        _funnel(within=5.0, order="any")
    with pytest.raises(SpecError, match=r"Input should be 'ordered', 'strict' or 'any'"):
        _funnel(order="exact")
    with pytest.raises(SpecError, match=r"stage 'visitor' has a conversion window \(within\) but"):
        Funnel(stages=[Stage(name="visitor", events=["visit"], within=3)])
    with pytest.raises(SpecError, match=r"stage 'member' has a conversion window"):
        Funnel(
            stages=[
                Stage(name="visitor", events=["visit"], optional=True),
                Stage(name="member", events=["join"], within=3),
            ]
        )


@pytest.mark.parametrize("kwargs", [{"order": "strict"}, {"within": 5.0}])
def test_a_lazy_engine_refuses_strict_order_and_windows(kwargs) -> None:  # type: ignore[no-untyped-def]
    duckdb = pytest.importorskip("duckdb")
    relation = duckdb.connect().from_df(EVENTS)
    with pytest.raises(SpecError, match=r"strict order, which the duckdb engine cannot build"):
        _funnel(**kwargs).journeys(relation)


def _by_hand(times, events, end, within):  # type: ignore[no-untyped-def]
    """One customer, the definitions read literally: entries and censoring time."""
    stage_events = ({"visit"}, {"join"}, {"purchase"})
    pairs = sorted(zip(times, events, strict=True))
    first_visit = [t for t, e in pairs if e == "visit"]
    entries: list[float | None] = [first_visit[0] if first_visit else None, None, None]
    censor = end
    for k in (1, 2):
        gate = entries[k - 1]
        if gate is None:
            break
        hits = [t for t, e in pairs if e in stage_events[k] and t >= gate]
        entry = hits[0] if hits else None
        if entry is not None and k == 2 and within is not None and entry - gate > within:
            entry = None
        later = set().union(*stage_events[k + 1 :]) - set().union(*stage_events[: k + 1])
        breaks = [t for t, e in pairs if e in later and t > gate]
        if breaks and (entry is None or breaks[0] < entry):
            censor = min(censor, breaks[0])
            break
        entries[k] = entry
    return entries, censor


@pytest.mark.parametrize("within", [None, 3.0])
def test_strict_order_matches_the_definition_on_random_logs(within) -> None:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(13)
    n_events = 3000
    frame = pd.DataFrame(
        {
            "customer_id": rng.integers(0, 400, n_events).astype(str),
            # whole days, so that ties between steps happen
            "timestamp": rng.integers(0, 30, n_events).astype(float),
            "event": rng.choice(["visit", "join", "purchase", "other"], n_events),
        }
    )
    journeys = _funnel(order="strict", within=within).journeys(
        EventLog.from_frame(frame), observation_end=30.0
    )
    ids = list(journeys.customer_ids)
    for cid, rows in frame.groupby("customer_id"):
        entries, censor = _by_hand(rows["timestamp"].tolist(), rows["event"].tolist(), 30.0, within)
        got = journeys.entry_times[ids.index(cid)]
        assert [None if math.isnan(t) else t for t in got] == entries, cid
        assert journeys.censoring_times[ids.index(cid)] == censor, cid
    # the random log does break the order, and a window does drop entries
    assert 0 < int((journeys.censoring_times < 30.0).sum()) < len(ids)
    if within is not None:
        plain = _funnel(order="strict").journeys(EventLog.from_frame(frame), observation_end=30.0)
        assert journeys.counts()["buyer"] < plain.counts()["buyer"]
