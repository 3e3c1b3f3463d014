"""A mapping of numpy arrays is one more source at the one door, read as a frame would be."""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pandas as pd
import pytest

from funnelkit import RFM, DataError, EventLog, Funnel, Stage
from funnelkit.datasets import simulate_community
from funnelkit.ingest import as_source

IDS = np.array(["c2", "c1", "c2", "c3", "c1", "c3", "c2"], dtype=object)
TIMES = np.array(
    [
        "2024-01-05",
        "2024-01-01",
        "2024-01-06",
        "2024-01-03",
        "2024-01-09",
        "2024-01-03",
        "2024-01-20",
    ],
    dtype="datetime64[ns]",
)
EVENTS = np.array(["visit", "visit", "join", "visit", "purchase", "purchase", "purchase"])
VALUES = np.array([0.0, 0.0, 0.0, 0.0, 12.5, np.nan, 30.0])
CHANNELS = np.array(["ads", "seo", "ads", None, "seo", None, "ads"], dtype=object)


def _columns(**changes: np.ndarray) -> dict[str, np.ndarray]:
    columns = {
        "customer_id": IDS,
        "timestamp": TIMES,
        "event": EVENTS,
        "value": VALUES,
        "channel": CHANNELS,
    }
    columns.update(changes)
    return columns


def _log_arrays(log: EventLog) -> dict[str, Any]:
    # NaN != NaN: compare the missing values by position
    values = None if log.values is None else np.nan_to_num(log.values, nan=-1.0).tolist()
    return {
        "ids": log.customer_ids.tolist(),
        "ids_dtype": log.customer_ids.dtype,
        "codes": log.customer_codes.tolist(),
        "times": log.raw_times.tolist(),
        "is_datetime": log.is_datetime,
        "event_types": log.event_types,
        "event_codes": log.event_codes.tolist(),
        "values": values,
        "attributes": {k: v.tolist() for k, v in log.attributes.items()},
    }


@pytest.mark.parametrize(
    "changes",
    [
        {},
        {"customer_id": np.array([20, 10, 20, 30, 10, 30, 20])},
        {"customer_id": IDS.astype(str)},
        {"timestamp": np.array([4.0, 0.0, 1.0, 2.0, 8.0, 2.0, 19.0])},
        {"timestamp": np.datetime_as_string(TIMES, unit="D").astype(object)},
        {"event": EVENTS.astype(object)},
    ],
    ids=["text-ids", "integer-ids", "unicode-ids", "numeric-times", "iso-text", "object-events"],
)
def test_mapping_gives_the_event_log_of_a_pandas_frame(changes: dict[str, np.ndarray]) -> None:
    columns = _columns(**changes)
    options: dict[str, Any] = {"value_col": "value", "attribute_cols": ["channel"]}
    from_mapping = EventLog.from_frame(columns, **options)
    from_pandas = EventLog.from_frame(pd.DataFrame(columns), **options)
    assert _log_arrays(from_mapping) == _log_arrays(from_pandas)
    assert from_mapping.customer_ids.tolist()[:2] in (["c1", "c2"], [10, 20])
    assert len(from_mapping) == 7


def test_mapping_is_a_numpy_source_at_every_door() -> None:
    columns = _columns()
    source = as_source(columns)
    assert (source.engine, source.is_lazy, source.columns) == (
        "numpy",
        False,
        ["customer_id", "timestamp", "event", "value", "channel"],
    )
    buyers = {"event_col": "event", "purchase_events": ["purchase"]}
    rfm, expected = (
        RFM.from_events(columns, **buyers),
        RFM.from_events(pd.DataFrame(columns), **buyers),
    )
    assert rfm.customer_ids.tolist() == expected.customer_ids.tolist() == ["c1", "c2", "c3"]
    assert rfm.T.tolist() == expected.T.tolist() == [11.0, 0.0, 17.0]  # first purchase to Jan 20
    funnel = Funnel(
        stages=[Stage(name="visitor", events=["visit"]), Stage(name="member", events=["join"])]
    )
    journeys = funnel.journeys(columns, attribute_cols=["channel"])
    assert journeys.counts() == {"visitor": 3, "member": 1}
    assert journeys.attributes["channel"].tolist() == ["seo", "ads", None]


def _same_error(columns: dict[str, np.ndarray], **options: Any) -> str:
    with pytest.raises(DataError) as from_pandas:
        EventLog.from_frame(pd.DataFrame(columns), **options)
    with pytest.raises(DataError, match=f"^{re.escape(str(from_pandas.value))}$"):
        EventLog.from_frame(columns, **options)
    return str(from_pandas.value)


def test_missing_entries_give_the_messages_of_a_frame() -> None:
    no_id = _same_error(_columns(customer_id=np.array(["c2", None, "c2", "c3", "c1", "c3", None])))
    assert no_id == (
        "2 row(s) have no customer id in column 'customer_id' at rows 1, 6; "
        "drop them or fill the ids."
    )
    times = TIMES.copy()
    times[3] = np.datetime64("NaT")
    no_time = _same_error(_columns(timestamp=times))
    assert no_time == (
        "1 row(s) have no timestamp in column 'timestamp' (e.g. customer ids 'c3'); "
        "drop them or fill the timestamps."
    )
    events = EVENTS.astype(object)
    events[[0, 4]] = [np.nan, None]
    no_event = _same_error(_columns(event=events))
    assert no_event == (
        "2 row(s) have no event type in column 'event' (e.g. customer ids 'c2', 'c1'); "
        "drop them or label the events."
    )


def test_bad_values_give_the_messages_of_a_frame() -> None:
    negative = _same_error(_columns(value=-VALUES), value_col="value")
    assert negative == (
        "2 row(s) of value column 'value' are negative (e.g. customer ids 'c1', 'c2'). If "
        "these are refunds, pass allow_negative_values=True; otherwise fix the values."
    )
    text = np.array(["0", "0", "0", "0", "12.5", "free", None], dtype=object)
    not_numbers = _same_error(_columns(value=text), value_col="value")
    assert not_numbers.startswith("1 row(s) of value column 'value' are not numbers (e.g. ")
    refunds = EventLog.from_frame(
        _columns(value=-VALUES), value_col="value", allow_negative_values=True
    )
    assert np.nansum(refunds.values) == -42.5


def test_arrays_that_are_not_columns_are_refused() -> None:
    with pytest.raises(
        DataError, match=r"^The arrays have different lengths: \{'customer_id': 7, "
    ):
        EventLog.from_frame(_columns(timestamp=TIMES[:3]))
    with pytest.raises(
        DataError, match=r"^1 array\(s\) are not one-dimensional: \{'value': \(7, 1\)\}"
    ):
        EventLog.from_frame(_columns(value=VALUES[:, None]))
    with pytest.raises(DataError, match=r"^Missing columns: column 'time' \(given as time_col\)"):
        EventLog.from_frame(_columns(), time_col="time")
    with pytest.raises(DataError, match=r"^The event log is empty"):
        EventLog.from_frame({k: v[:0] for k, v in _columns().items()})


def test_simulated_arrays_give_the_log_of_the_simulated_frame() -> None:
    options: dict[str, Any] = {"value_col": "value", "attribute_cols": ["channel"]}
    arrays = simulate_community(300, seed=5, backend="numpy").events
    frame = simulate_community(300, seed=5, backend="pandas").events
    assert isinstance(arrays, dict)
    assert all(isinstance(v, np.ndarray) for v in arrays.values())
    from_arrays = EventLog.from_frame(arrays, **options)
    assert _log_arrays(from_arrays) == _log_arrays(EventLog.from_frame(frame, **options))
    assert from_arrays.event_types == ("join", "purchase", "touch", "visit")
