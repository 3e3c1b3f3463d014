"""Optional stages and exclusion steps, against hand-counted journeys."""

from __future__ import annotations

import math

import numpy as np
import pytest

from funnelkit import EventLog
from funnelkit.exceptions import SpecError
from funnelkit.stages import Exclusion, Funnel, Stage

pd = pytest.importorskip("pandas")

EVENTS = pd.DataFrame(
    {
        "customer_id": ["a", "a", "a", "b", "b", "b", "c", "c", "c", "d", "d"],
        "timestamp": [1.0, 2.0, 3.0, 1.0, 4.0, 6.0, 2.0, 3.0, 5.0, 1.0, 7.0],
        "event": [
            "visit", "signup", "purchase",  # a: every step in order
            "visit", "refund", "purchase",  # b: skips signup, refund before buying
            "visit", "purchase", "refund",  # c: skips signup, refund after buying
            "visit", "purchase",            # d: skips signup
        ],
    }
)  # fmt: skip


def _log() -> EventLog:
    return EventLog.from_frame(EVENTS, time_unit="D")


def _stages(*, optional: bool) -> list[Stage]:
    return [
        Stage(name="visitor", events=["visit"]),
        Stage(name="signed_up", events=["signup"], optional=optional),
        Stage(name="buyer", events=["purchase"]),
    ]


def _entries(journeys) -> dict[str, list[float]]:  # type: ignore[no-untyped-def]
    ids = list(journeys.customer_ids)
    return {
        cid: [None if math.isnan(t) else t for t in journeys.entry_times[ids.index(cid)]]
        for cid in ("a", "b", "c", "d")
    }


def test_a_required_step_gates_what_follows() -> None:
    journeys = Funnel(stages=_stages(optional=False)).journeys(_log())
    assert _entries(journeys) == {
        "a": [1.0, 2.0, 3.0],
        "b": [1.0, None, None],
        "c": [2.0, None, None],
        "d": [1.0, None, None],
    }


def test_an_optional_step_may_be_skipped() -> None:
    journeys = Funnel(stages=_stages(optional=True)).journeys(_log())
    assert _entries(journeys) == {
        "a": [1.0, 2.0, 3.0],
        "b": [1.0, None, 6.0],
        "c": [2.0, None, 3.0],
        "d": [1.0, None, 7.0],
    }
    # visitor -> buyer: 4 entered, 4 bought; visitor -> signed_up: 1 of 4
    _, duration, converted = journeys.transition("visitor", "buyer")
    assert converted.tolist() == [True, True, True, True]
    assert duration.tolist() == [2.0, 5.0, 1.0, 6.0]


def test_an_exclusion_ends_the_funnel_at_the_excluded_event() -> None:
    funnel = Funnel(
        stages=_stages(optional=True),
        exclusions=[Exclusion(event="refund", after="visitor", before="buyer")],
    )
    journeys = funnel.journeys(_log())
    # b refunded at 4 before buying at 6: no purchase counted, observed up to day 4;
    # c refunded after buying: unaffected
    assert _entries(journeys)["b"] == [1.0, None, None]
    assert _entries(journeys)["c"] == [2.0, None, 3.0]
    ids = list(journeys.customer_ids)
    censoring = dict(zip(ids, journeys.censoring_times.tolist(), strict=True))
    assert censoring == {"a": 7.0, "b": 4.0, "c": 7.0, "d": 7.0}
    _, duration, converted = journeys.transition("visitor", "buyer")
    assert converted.tolist() == [True, False, True, True]
    assert duration.tolist() == [2.0, 3.0, 1.0, 6.0]


def test_richer_funnels_round_trip_through_json() -> None:
    funnel = Funnel(
        stages=_stages(optional=True),
        exclusions=[Exclusion(event="refund", after="visitor", before="buyer")],
    )
    loaded = Funnel.model_validate_json(funnel.model_dump_json())
    assert loaded == funnel
    assert loaded.stages[1].optional is True
    assert not loaded.is_plain and Funnel(stages=_stages(optional=False)).is_plain


def test_invalid_richer_funnels_say_what_is_wrong() -> None:
    with pytest.raises(SpecError, match=r"need order='ordered'"):
        Funnel(stages=_stages(optional=True), order="any")
    with pytest.raises(SpecError, match=r"names unknown stages \['member'\]"):
        Funnel(
            stages=_stages(optional=False),
            exclusions=[Exclusion(event="refund", after="visitor", before="member")],
        )
    with pytest.raises(SpecError, match=r"'buyer' must come before 'visitor'"):
        Funnel(
            stages=_stages(optional=False),
            exclusions=[Exclusion(event="refund", after="buyer", before="visitor")],
        )
    with pytest.raises(SpecError, match=r"Exclusion\(event='refund'"):
        Exclusion(event="", after="visitor", before="buyer")


def test_a_lazy_engine_asks_for_an_in_memory_source() -> None:
    duckdb = pytest.importorskip("duckdb")
    con = duckdb.connect()
    relation = con.from_df(EVENTS)
    funnel = Funnel(stages=_stages(optional=True))
    with pytest.raises(SpecError, match=r"cannot build where the data live\. Load the events"):
        funnel.journeys(relation)
    plain = Funnel(stages=_stages(optional=False)).journeys(relation)
    assert np.array_equal(
        np.isnan(plain.entry_times).sum(axis=0), np.array([0, 3, 3], dtype=np.int64)
    )
