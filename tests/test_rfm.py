"""RFM definitions against a naive per-customer reference, validation and views."""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings, strategies as st

from funnelkit import RFM, DataError, EventLog


def naive_rfm(customers: list[int], days: list[int], values: list[float], end: int) -> dict:
    """Textbook definitions, one customer at a time (integer day periods)."""
    per_day: dict[int, dict[int, float]] = defaultdict(lambda: defaultdict(float))
    for c, d, v in zip(customers, days, values, strict=True):
        if d <= end:
            per_day[c][d] += v
    out = {}
    for c, spend in per_day.items():
        periods = sorted(spend)
        repeat = [spend[p] for p in periods[1:]]
        out[c] = (
            len(periods) - 1,
            periods[-1] - periods[0],
            end - periods[0],
            sum(repeat) / len(repeat) if repeat else 0.0,
        )
    return out


@settings(max_examples=60, deadline=None)
@given(
    rows=st.lists(
        st.tuples(
            st.integers(0, 6),
            st.integers(0, 40),
            st.floats(0, 500, allow_nan=False).map(lambda v: round(v, 2)),
        ),
        min_size=1,
        max_size=60,
    ),
    end=st.integers(0, 45),
)
def test_rfm_matches_naive_reference(rows: list[tuple[int, int, float]], end: int) -> None:
    customers, days, values = map(list, zip(*rows, strict=True))
    frame = pd.DataFrame(
        {"customer_id": customers, "t": np.array(days, dtype=float), "value": values}
    )
    log = EventLog.from_frame(frame, time_col="t", value_col="value")
    expected = naive_rfm(customers, days, values, end)
    if not expected:
        with pytest.raises(DataError, match="No purchases"):
            log.rfm(observation_end=float(end))
        return
    rfm = log.rfm(observation_end=float(end))
    assert rfm.monetary_value is not None
    got = {
        int(c): (f, r, t, m)
        for c, f, r, t, m in zip(
            rfm.customer_ids, rfm.frequency, rfm.recency, rfm.T, rfm.monetary_value, strict=True
        )
    }
    assert got.keys() == expected.keys()
    for c, (f, r, t, m) in expected.items():
        assert got[c][:3] == (f, r, t)
        assert got[c][3] == pytest.approx(m, rel=1e-12, abs=1e-9)
    assert rfm.n_without_purchase == log.n_customers - len(expected)


def test_purchase_events_filter_and_exclusion_count() -> None:
    frame = pd.DataFrame(
        {
            "customer_id": ["a", "a", "a", "b", "c"],
            "timestamp": pd.to_datetime(
                ["2024-01-01", "2024-01-03", "2024-01-10", "2024-01-02", "2024-01-04"]
            ),
            "event": ["visit", "order", "order", "visit", "order"],
            "value": [np.nan, 10.0, 30.0, np.nan, 5.0],
        }
    )
    log = EventLog.from_frame(frame, value_col="value")
    rfm = log.rfm(purchase_events=["order"])
    table = rfm.to_frame().set_index("customer_id")
    assert list(table.index) == ["a", "c"]
    assert table.loc["a", "frequency"] == 1
    assert table.loc["a", "recency"] == 7
    assert table.loc["a", "T"] == 7  # observation end = last event of the log (2024-01-10)
    assert table.loc["a", "monetary_value"] == 30.0
    assert rfm.n_without_purchase == 1
    with pytest.raises(DataError, match="purchase_events"):
        log.rfm()  # the default 'purchase' event does not occur in this log


def test_purchase_without_value_is_an_error() -> None:
    frame = pd.DataFrame(
        {"customer_id": ["a", "a"], "timestamp": [1.0, 2.0], "value": [3.0, np.nan]}
    )
    with pytest.raises(DataError, match=r"1 purchase\(s\) have no value.*'a'"):
        EventLog.from_frame(frame, value_col="value").rfm()


def test_calendar_month_and_year_periods() -> None:
    frame = pd.DataFrame(
        {
            "customer_id": ["a"] * 4,
            "timestamp": pd.to_datetime(["2023-01-31", "2023-02-01", "2023-02-28", "2024-03-15"]),
        }
    )
    log = EventLog.from_frame(frame)
    month = log.rfm(time_unit="M", observation_end="2024-06-30")
    assert (month.frequency[0], month.recency[0], month.T[0]) == (2, 14, 17)
    year = log.rfm(time_unit="year", observation_end="2024-06-30")
    assert (year.frequency[0], year.recency[0], year.T[0]) == (1, 1, 1)


def test_from_arrays_validation_messages() -> None:
    with pytest.raises(DataError, match=r"1 customer\(s\) have recency larger than T.*'x'"):
        RFM.from_arrays(frequency=[1, 2], recency=[5, 1], T=[4, 3], customer_ids=["x", "y"])
    with pytest.raises(DataError, match="negative frequency"):
        RFM.from_arrays(frequency=[-1], recency=[0], T=[3])
    with pytest.raises(DataError, match="non-integer frequency"):
        RFM.from_arrays(frequency=[1.5], recency=[1], T=[3])
    with pytest.raises(DataError, match="non-finite"):
        RFM.from_arrays(frequency=[1], recency=[np.nan], T=[3])
    with pytest.raises(DataError, match="frequency 0 but non-zero recency"):
        RFM.from_arrays(frequency=[0], recency=[1], T=[3])
    with pytest.raises(DataError, match="empty"):
        RFM.from_arrays(frequency=[], recency=[], T=[])
    with pytest.raises(DataError, match="equal length"):
        RFM.from_arrays(frequency=[1, 2], recency=[1], T=[3, 4])


def test_from_frame_reads_columns_and_index() -> None:
    frame = pd.DataFrame(
        {
            "frequency": [0, 3],
            "recency": [0.0, 4.0],
            "T": [5.0, 9.0],
            "monetary_value": [0.0, 12.5],
        },
        index=pd.Index([11, 12], name="id"),
    )
    rfm = RFM.from_frame(frame, time_unit="W")
    assert list(rfm.customer_ids) == [11, 12]
    assert rfm.monetary_value is not None and rfm.monetary_value[1] == 12.5
    assert rfm.time_unit.code == "W"
    with pytest.raises(DataError, match="Did you mean"):
        RFM.from_frame(frame, recency_col="recncy")


def test_compress_round_trips_rows() -> None:
    rng = np.random.default_rng(3)
    freq = rng.integers(0, 4, 500).astype(float)
    rec = np.where(freq > 0, rng.integers(0, 5, 500), 0).astype(float)
    rfm = RFM.from_arrays(frequency=freq, recency=rec, T=np.full(500, 6.0))
    packed = rfm.compress()
    assert packed.weights.sum() == 500
    assert len(packed.weights) == len({(f, r) for f, r in zip(freq, rec, strict=True)})
    np.testing.assert_array_equal(packed.frequency[packed.inverse], freq)
    np.testing.assert_array_equal(packed.recency[packed.inverse], rec)


@pytest.mark.parametrize("backend", ["pandas", "polars", "pyarrow"])
def test_to_frame_backends(backend: str) -> None:
    rfm = RFM.from_arrays(
        frequency=[0, 2], recency=[0.0, 3.0], T=[4.0, 5.0], customer_ids=["a", "b"]
    )
    frame = rfm.to_frame(backend=backend)  # type: ignore[arg-type]
    assert frame.shape == (2, 4)
    assert "RFM summary" in rfm._repr_html_()


def test_text_in_rfm_arrays_is_counted_with_ids() -> None:
    with pytest.raises(
        DataError,
        match=r"^2 customer\(s\) have a frequency that is not a number \(e\.g\. 'x', 'y' for "
        r"customer ids 'b', 'c'\); cast the column",
    ):
        RFM.from_arrays(
            frequency=[1, "x", "y"], recency=[1, 0, 0], T=[2, 2, 2], customer_ids=["a", "b", "c"]
        )
