"""The sort and the reordering give the same arrays on one thread and on two."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from funnelkit import DataError, EventLog
from funnelkit.ingest import numpy_engine, sorting
from funnelkit.ingest.sorting import reorder, sort_order


@pytest.fixture
def threads(monkeypatch: pytest.MonkeyPatch) -> None:
    """Take the two-thread branches on small inputs."""
    monkeypatch.setattr(sorting, "PARALLEL_ROWS", 0)


@pytest.mark.usefixtures("threads")
@pytest.mark.parametrize("n_customers", [1, 9, 3_000])
def test_sort_order_on_two_threads_is_a_stable_lexsort(n_customers: int) -> None:
    rng = np.random.default_rng(n_customers)
    n = 20_000
    raw = rng.integers(0, 40, n) * 10**15 + rng.integers(0, 3, n)
    codes = rng.integers(0, n_customers, n).astype(np.int32)
    order = sort_order(codes, raw)
    assert order is not None
    np.testing.assert_array_equal(order, np.lexsort((raw, codes)))


@pytest.mark.usefixtures("threads")
def test_reorder_on_two_threads_gathers_every_column() -> None:
    rng = np.random.default_rng(1)
    order = rng.permutation(1_000)
    columns = [
        rng.integers(0, 9, 1_000).astype(np.int32),
        rng.normal(size=1_000),
        np.array([f"x{i}" for i in range(1_000)], dtype=object),
    ]
    gathered = reorder(order, columns)
    assert len(gathered) == 3
    for got, values in zip(gathered, columns, strict=True):
        assert got.dtype == values.dtype
        assert got.tolist() == values[order].tolist()


def _events(n: int) -> pd.DataFrame:
    rng = np.random.default_rng(7)
    return pd.DataFrame(
        {
            "customer_id": [f"c{i}" for i in rng.integers(0, n // 5, n)],
            "timestamp": pd.Timestamp("2024-01-01")
            + pd.to_timedelta(rng.integers(0, 10**6, n), unit="s"),
            "event": rng.choice(["visit", "purchase", "join"], n),
            "value": np.round(rng.gamma(2.0, 10.0, n), 2),
            "channel": rng.choice(["ads", "search"], n),
        }
    )


def _arrays(log: EventLog) -> dict[str, Any]:
    return {
        "ids": log.customer_ids.tolist(),
        "codes": log.customer_codes.tolist(),
        "times": log.raw_times.tolist(),
        "events": log.event_types,
        "event_codes": log.event_codes.tolist(),
        "values": None if log.values is None else log.values.tolist(),
        "channel": log.attributes["channel"].tolist(),
    }


def test_a_log_read_on_two_threads_equals_one_read_on_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    events = _events(5_000)
    options: dict[str, Any] = {"value_col": "value", "attribute_cols": ["channel"]}
    one = _arrays(EventLog.from_frame(events, **options))
    monkeypatch.setattr(sorting, "PARALLEL_ROWS", 0)
    assert _arrays(EventLog.from_frame(events, **options)) == one
    expected = events.sort_values(["customer_id", "timestamp"], kind="stable")
    # raw times are nanoseconds whatever the frame's resolution (pandas 3 reads microseconds)
    assert one["times"] == expected["timestamp"].astype("datetime64[ns]").astype("int64").tolist()
    assert one["channel"] == expected["channel"].tolist()


def test_an_error_of_the_ids_is_reported_before_one_of_the_times(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The ids are encoded on a second thread while the times are read: whichever finishes
    # first, the customer column is reported first, as when the columns were read in turn.
    def refuse(column: Any) -> Any:
        raise DataError("ids refused")

    monkeypatch.setattr(numpy_engine, "_customer_codes", refuse)
    events = _events(50).assign(timestamp="not a time")
    with pytest.raises(DataError, match=r"^ids refused$"):
        EventLog.from_frame(events)


@pytest.mark.parametrize("spread", [1, 1_000, 10**12])
def test_clustered_times_over_the_whole_int64_range_sort_as_a_lexsort(spread: int) -> None:
    # The full int64 span leaves the key few time bits: events within a cluster share a
    # coarse key, and the second pass must order them by time, then by input position.
    rng = np.random.default_rng(spread)
    n = 30_000
    centres = rng.integers(-(2**62), 2**62, 50)
    raw = centres[rng.integers(0, 50, n)] + rng.integers(0, spread, n)
    codes = rng.integers(0, 4_000, n).astype(np.int32)
    expected = np.lexsort((raw, codes))
    found = sorting.sorted_order_and_codes(codes, raw)
    assert found is not None
    order, sorted_codes = found
    np.testing.assert_array_equal(order, expected)
    np.testing.assert_array_equal(sorted_codes, codes[expected])
    assert sorted_codes.dtype == np.int32
    assert sorting.sorted_order_and_codes(sorted_codes, raw[order]) is None


@pytest.mark.parametrize("block", [1, 7, 4_096])
def test_the_key_passes_block_by_block_give_the_lexsort(
    monkeypatch: pytest.MonkeyPatch, block: int
) -> None:
    # Blocks that split runs of tied coarse keys, and a last block of one row.
    monkeypatch.setattr(sorting, "BLOCK_ROWS", block)
    rng = np.random.default_rng(block)
    n = 4_097 * 3 + 1
    centres = rng.integers(-(2**62), 2**62, 20)
    raw = centres[rng.integers(0, 20, n)] + rng.integers(0, 1_000, n)
    codes = rng.integers(0, 300, n).astype(np.int32)
    expected = np.lexsort((raw, codes))
    found = sorting.sorted_order_and_codes(codes, raw)
    assert found is not None
    np.testing.assert_array_equal(found[0], expected)
    np.testing.assert_array_equal(found[1], codes[expected])
