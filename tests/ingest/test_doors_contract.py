"""The doors share one signature and one set of defaults; former names keep working."""

from __future__ import annotations

import inspect

import numpy as np
import pandas as pd
import pytest

from funnelkit import RFM, EventLog, Funnel, FunnelkitError, Stage, aggregate
from funnelkit.ingest import ColumnSpec, resolve_columns
from funnelkit.ingest.summaries import journey_fields, rfm_fields
from funnelkit.journeys import build_journeys

EVENTS = pd.DataFrame(
    {
        "customer_id": ["a", "a", "b", "b"],
        "timestamp": [0.0, 3.0, 1.0, 2.5],
        "event": ["visit", "purchase", "visit", "visit"],
    }
)


def _options(function) -> dict[str, inspect.Parameter]:
    params = dict(inspect.signature(function).parameters)
    return {k: v for k, v in params.items() if v.kind is inspect.Parameter.KEYWORD_ONLY}


def test_every_rfm_door_has_the_door_signature() -> None:
    door = _options(rfm_fields)
    assert list(door)[:4] == ["customer_col", "time_col", "value_col", "event_col"]
    assert _options(RFM.from_events) == door
    assert _options(aggregate.rfm_frame) == door
    window = {"time_unit", "observation_end", "calibration_end", "purchase_events"}
    assert set(_options(EventLog.rfm)) == window
    assert all(door[k].default == v.default for k, v in _options(EventLog.rfm).items())


def test_every_journeys_door_has_the_door_signature() -> None:
    assert _options(Funnel.journeys) == _options(journey_fields)
    assert _options(Funnel.journeys)["event_col"].default == "event"


def test_former_names_are_the_doors() -> None:
    assert aggregate.rfm_from_events == RFM.from_events
    assert aggregate.journeys_from_events is Funnel.journeys
    funnel = Funnel(stages=[Stage(name="visitor", events=["visit"])])
    log = EventLog.from_frame(EVENTS)
    old = build_journeys(log, funnel, observation_end=None, time_unit=None)
    new = aggregate.journeys_from_events(funnel, EVENTS)
    assert np.array_equal(old.entry_times, new.entry_times)
    assert old.entry_times[:, 0].tolist() == [0.0, 1.0]


def test_funnel_journeys_takes_a_pandas_frame() -> None:
    stages = [Stage(name="visitor", events=["visit"]), Stage(name="buyer", events=["purchase"])]
    journeys = Funnel(stages=stages).journeys(EVENTS, time_unit="W")
    assert journeys.time_unit.value == "week"
    np.testing.assert_array_equal(journeys.entry_times, [[0.0, 3.0], [1.0, np.nan]])
    assert journeys.censoring_times.tolist() == [3.0, 3.0]


def test_an_event_log_keeps_its_own_unit_and_columns() -> None:
    log = EventLog.from_frame(EVENTS, time_unit="W")
    assert RFM.from_events(log).time_unit.value == "week"
    rfm = log.rfm(time_unit="D", purchase_events=["visit", "purchase"])
    assert rfm.recency.tolist() == [21.0, 10.0] and rfm.T.tolist() == [21.0, 14.0]
    with pytest.raises(FunnelkitError, match=r"\['value_col'\] are for lazy sources"):
        RFM.from_events(log, value_col="value")


def test_the_column_rule_is_one_rule() -> None:
    spec = resolve_columns(
        ["customer_id", "timestamp", "kind"],
        customer_col="customer_id",
        time_col="timestamp",
        event_col="event",
        value_col=None,
    )
    assert spec == ColumnSpec("customer_id", "timestamp", None, None, ())
    with pytest.raises(FunnelkitError, match="kind"):
        resolve_columns(
            ["customer_id", "timestamp"],
            customer_col="customer_id",
            time_col="timestamp",
            event_col="kind",
            value_col=None,
        )
