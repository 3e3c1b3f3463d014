"""EventLog ingestion: every frame library in, clear errors for every kind of bad input."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from funnelkit import DataError, EventLog, FunnelkitError


@pytest.fixture
def events() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": ["b", "a", "b", "a", "c"],
            "timestamp": pd.to_datetime(
                [
                    "2024-01-03 00:00",
                    "2024-01-02 00:00",
                    "2024-01-01 10:00",
                    "2024-01-05 00:00",
                    "2024-01-04 00:00",
                ]
            ),
            "event": ["purchase", "visit", "visit", "purchase", "visit"],
            "value": [20.0, np.nan, np.nan, 15.5, np.nan],
            "channel": ["tiktok", "instagram", "facebook", "instagram", "tiktok"],
        }
    )


def _check_log(log: EventLog) -> None:
    assert len(log) == 5
    assert list(log.customer_ids) == ["a", "b", "c"]
    np.testing.assert_array_equal(log.customer_codes, [0, 0, 1, 1, 2])
    assert np.all(np.diff(log.raw_times[log.customer_codes == 1]) > 0)
    assert log.event_types == ("purchase", "visit")
    assert log.customer_attributes()["channel"].tolist() == ["instagram", "facebook", "tiktok"]
    assert log.values is not None and np.nansum(log.values) == 35.5


def test_from_pandas(events: pd.DataFrame) -> None:
    log = EventLog.from_frame(events, value_col="value", attribute_cols=["channel"])
    _check_log(log)
    assert log.is_datetime
    assert log.times[0] == pytest.approx(
        (pd.Timestamp("2024-01-02") - pd.Timestamp("1970-01-01")).days
    )


@pytest.mark.parametrize("library", ["polars", "pyarrow", "duckdb"])
def test_from_other_libraries(events: pd.DataFrame, library: str) -> None:
    if library == "polars":
        pl = pytest.importorskip("polars")
        frame = pl.from_pandas(events)
    elif library == "pyarrow":
        pa = pytest.importorskip("pyarrow")
        frame = pa.Table.from_pandas(events)
    else:
        duckdb = pytest.importorskip("duckdb")
        con = duckdb.connect()
        con.register("ev", events)
        frame = con.sql("select * from ev")
    _check_log(EventLog.from_frame(frame, value_col="value", attribute_cols=["channel"]))


def test_from_csv_and_parquet(events: pd.DataFrame, tmp_path: Path) -> None:
    events.to_csv(tmp_path / "events.csv", index=False)
    _check_log(
        EventLog.from_csv(tmp_path / "events.csv", value_col="value", attribute_cols=["channel"])
    )
    pytest.importorskip("pyarrow")
    events.to_parquet(tmp_path / "events.parquet")
    _check_log(
        EventLog.from_parquet(
            tmp_path / "events.parquet", value_col="value", attribute_cols=["channel"]
        )
    )


def _record_releases(
    monkeypatch: pytest.MonkeyPatch, module: Any, pa: Any
) -> list[tuple[int, int]]:
    """Replace ``module.release_arrow_memory`` by a recorder of each call's row count and of
    the Arrow bytes held then beyond those held now."""
    start = pa.total_allocated_bytes()
    calls: list[tuple[int, int]] = []
    monkeypatch.setattr(
        module,
        "release_arrow_memory",
        lambda rows: calls.append((rows, pa.total_allocated_bytes() - start)),
    )
    return calls


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_reading_a_file_gives_back_arrow_memory(
    events: pd.DataFrame, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fmt: str
) -> None:
    # the log keeps no Arrow buffer, and Arrow's pool is asked to give its freed pages back
    # once the file's table is freed: before, they stayed resident (706 MiB on 10M events)
    pa = pytest.importorskip("pyarrow")
    path = tmp_path / f"events.{fmt}"
    if fmt == "csv":
        events.to_csv(path, index=False)
    else:
        events.to_parquet(path)
    import funnelkit.events

    start = pa.total_allocated_bytes()
    held_at_release = _record_releases(monkeypatch, funnelkit.events, pa)
    read = EventLog.from_csv if fmt == "csv" else EventLog.from_parquet
    log = read(path, value_col="value", attribute_cols=["channel"])
    assert held_at_release == [(len(events), 0)]
    assert pa.total_allocated_bytes() == start
    _check_log(log)


def test_ingesting_an_arrow_frame_gives_back_arrow_memory(
    events: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Arrow's conversions and the ids' hash table are freed before the pool is asked to
    # give their pages back (301 MiB stayed resident after a frame of 10M events)
    pa = pytest.importorskip("pyarrow")
    import funnelkit.ingest.numpy_engine

    table = pa.Table.from_pandas(events)
    held_at_release = _record_releases(monkeypatch, funnelkit.ingest.numpy_engine, pa)
    _check_log(EventLog.from_frame(table, value_col="value", attribute_cols=["channel"]))
    assert held_at_release == [(len(events), 0)]


def test_transaction_log_without_event_column() -> None:
    frame = pd.DataFrame(
        {"customer_id": [1, 1, 2], "timestamp": ["2024-01-01", "2024-02-01", "2024-01-15"]}
    )
    log = EventLog.from_frame(frame)
    assert log.event_types == ("purchase",)
    assert len(log.rfm()) == 2


def test_time_zones_keep_wall_clock_time() -> None:
    stamps = pd.to_datetime(["2024-01-01 23:30", "2024-01-02 00:30"]).tz_localize(
        "America/New_York"
    )
    frame = pd.DataFrame({"customer_id": ["a", "a"], "timestamp": stamps})
    rfm = EventLog.from_frame(frame).rfm()
    assert rfm.frequency[0] == 1  # two local calendar days, not one UTC day


def test_missing_column_suggests_close_names(events: pd.DataFrame) -> None:
    with pytest.raises(DataError, match=r"'custmer_id'.*Did you mean.*'customer_id'"):
        EventLog.from_frame(events, customer_col="custmer_id")


def test_null_ids_and_timestamps(events: pd.DataFrame) -> None:
    bad = events.copy()
    bad.loc[[1, 3], "customer_id"] = None
    with pytest.raises(DataError, match=r"2 row\(s\) have no customer id"):
        EventLog.from_frame(bad)
    bad = events.copy()
    bad.loc[0, "timestamp"] = pd.NaT
    with pytest.raises(DataError, match=r"1 row\(s\) have no timestamp.*'b'"):
        EventLog.from_frame(bad)


def test_unparsable_and_mixed_timezone_strings() -> None:
    frame = pd.DataFrame(
        {"customer_id": ["a", "b", "c"], "timestamp": ["2024-01-01", "not a date", "2024-01-03"]}
    )
    with pytest.raises(DataError, match=r"1 row\(s\).*not parsable.*'not a date'.*'b'"):
        EventLog.from_frame(frame)
    mixed = pd.DataFrame(
        {
            "customer_id": ["a", "b"],
            "timestamp": ["2024-01-01T10:00:00+01:00", "2024-01-01T10:00:00-05:00"],
        }
    )
    with pytest.raises(DataError, match="different time zones"):
        EventLog.from_frame(mixed)


def test_non_iso_strings_are_parsed() -> None:
    frame = pd.DataFrame({"customer_id": ["a", "a"], "timestamp": ["2024-01-01", "Jan 5 2024"]})
    assert EventLog.from_frame(frame).rfm().recency[0] == 4


def test_bad_values(events: pd.DataFrame) -> None:
    bad = events.copy()
    bad["value"] = ["x", None, None, "15", None]
    with pytest.raises(DataError, match=r"1 row\(s\) of value column 'value' are not numbers"):
        EventLog.from_frame(bad, value_col="value")
    refund = events.copy()
    refund.loc[0, "value"] = -5.0
    with pytest.raises(DataError, match="allow_negative_values=True"):
        EventLog.from_frame(refund, value_col="value")
    log = EventLog.from_frame(refund, value_col="value", allow_negative_values=True)
    assert log.values is not None and np.nanmin(log.values) == -5.0


def test_empty_log_and_unsupported_input(events: pd.DataFrame) -> None:
    with pytest.raises(DataError, match="empty"):
        EventLog.from_frame(events.iloc[:0])
    with pytest.raises(DataError, match="Unsupported input"):
        EventLog.from_frame([1, 2, 3])


def test_time_arguments_must_match_the_log_kind(events: pd.DataFrame) -> None:
    log = EventLog.from_frame(events)
    with pytest.raises(FunnelkitError, match="datetime timestamps"):
        log.rfm(observation_end=3.0)
    numeric = EventLog.from_frame(pd.DataFrame({"customer_id": [1], "timestamp": [2.0]}))
    with pytest.raises(FunnelkitError, match="numeric times"):
        numeric.rfm(observation_end="2024-01-01")


def test_error_hierarchy() -> None:
    assert issubclass(DataError, FunnelkitError)
    assert issubclass(FunnelkitError, ValueError)


def test_large_logs_sort_by_customer_then_time_deterministically() -> None:
    rng = np.random.default_rng(9)
    n = 2_500_000  # above the size where the parallel two-half sort kicks in
    seconds = rng.integers(0, 50_000, n)
    frame = pd.DataFrame(
        {
            "customer_id": rng.integers(0, 20_000, n),
            "timestamp": np.datetime64("2024-01-01", "ns") + (seconds * 10**9).astype("m8[ns]"),
            "value": np.arange(n, dtype=float),  # the input row number, to check tie order
        }
    )
    log = EventLog.from_frame(frame, value_col="value")
    expected = np.lexsort((frame["timestamp"].to_numpy(), frame["customer_id"].to_numpy()))
    assert log.values is not None
    np.testing.assert_array_equal(log.values, expected.astype(float))
