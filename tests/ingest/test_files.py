"""CSV files read by pyarrow give the same event log as pandas' reader, or pandas reads them."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from funnelkit import DataError, EventLog
from funnelkit.ingest import read_events

HEADER = "customer_id,timestamp,event,value,channel\n"

#: name -> CSV rows after the header: every way of writing a column Arrow might type itself
FILES = {
    "text times with and without fractions": [
        "c1,2024-01-01 10:00:00,visit,,ig",
        "c1,2024-01-03 10:00:00.250001,purchase,12.5,ig",
        "c2,2024-01-02 00:00:00.5,purchase,3.1,tiktok",
        "c1,2024-02-03 11:59:59,purchase,0.1,ig",
    ],
    "dates only": [
        "c1,2024-01-01,visit,,ig",
        "c1,2024-01-03,purchase,12.5,ig",
        "c2,2024-01-02,purchase,3.1,",
        "c1,2024-02-29,purchase,7,ig",
    ],
    "one UTC offset": [
        "c1,2024-01-01T23:30:00+02:00,visit,,ig",
        "c1,2024-01-03T23:30:00+02:00,purchase,12.5,ig",
        "c2,2024-01-02T00:30:00+02:00,purchase,3.1,ig",
        "c1,2024-02-03T01:00:00+02:00,purchase,1,ig",
    ],
    "times in Z": [
        "c1,2024-01-01T23:30:00Z,visit,,ig",
        "c2,2024-01-02T00:30:00Z,purchase,3.1,ig",
        "c1,2024-02-03T01:00:00Z,purchase,1,ig",
    ],
    "numeric times, integer ids with leading zeros": [
        "007,1.5,visit,,ig",
        "007,3.25,purchase,12.5,ig",
        "12,2,purchase,3.1,NA",
        "007,40,purchase,1,ig",
    ],
    "missing text cells": [
        "c1,2024-01-01 10:00:00,visit,,",
        "c1,2024-01-03 10:00:00,purchase,12.5,N/A",
        "c2,2024-01-02 00:00:00,purchase,3.1,null",
        "c1,2024-02-03 11:59:59,purchase,0.1,ig",
    ],
}


def _write(tmp_path: Path, rows: list[str], header: str = HEADER) -> Path:
    path = tmp_path / "events.csv"
    path.write_text(header + "\n".join(rows) + "\n", encoding="utf-8")
    return path


def _same_log(a: EventLog, b: EventLog) -> None:
    assert a.customer_ids.tolist() == b.customer_ids.tolist()
    assert a.customer_ids.dtype.kind == b.customer_ids.dtype.kind
    assert a.is_datetime == b.is_datetime
    assert np.array_equal(a.customer_codes, b.customer_codes)
    assert np.array_equal(a.raw_times, b.raw_times)
    assert a.event_types == b.event_types
    assert np.array_equal(a.event_codes, b.event_codes)
    assert np.array_equal(a.values, b.values, equal_nan=True)
    assert list(a.attributes) == list(b.attributes)
    for name in a.attributes:
        assert a.attributes[name].tolist() == b.attributes[name].tolist(), name


@pytest.mark.parametrize("name", list(FILES))
def test_arrow_reads_the_log_pandas_reads(name: str, tmp_path: Path) -> None:
    path = _write(tmp_path, FILES[name])
    options = dict(value_col="value", attribute_cols=["channel"])
    assert isinstance(read_events(path), pa.Table)
    got = EventLog.from_csv(path, **options)
    expected = EventLog.from_frame(pd.read_csv(path, index_col=False), **options)
    _same_log(expected, got)
    assert got.rfm().columns().keys() == expected.rfm().columns().keys()
    for column, values in expected.rfm().columns().items():
        assert got.rfm().columns()[column].tolist() == values.tolist(), column


def test_offsets_stay_wall_clock_times(tmp_path: Path) -> None:
    path = _write(tmp_path, FILES["one UTC offset"])
    table = read_events(path)
    assert table.schema.field("timestamp").type == pa.string()
    log = EventLog.from_csv(path)
    assert log.raw_to_timestamp(log.raw_times[0]) == np.datetime64("2024-01-01T23:30:00")


def test_mixed_offsets_are_refused_as_before(tmp_path: Path) -> None:
    path = _write(
        tmp_path, ["c1,2024-01-01T10:00:00+02:00,visit,,ig", "c2,2024-01-02T11:00:00Z,visit,,ig"]
    )
    with pytest.raises(DataError, match="mixes timestamps from different time zones"):
        EventLog.from_csv(path)


@pytest.mark.parametrize(
    ("rows", "header"),
    [
        # ids past 64-bit integers: Arrow would make doubles of them and merge two customers
        (["18446744073709551617,2024-01-01", "18446744073709551616,2024-01-02"], None),
        (["c1,2024-01-01,1", "c2,2024-01-02,2"], "customer_id,timestamp,timestamp\n"),
        (["c1,2024-01-01,", "c2,2024-01-02,"], "customer_id,timestamp,value\n"),
        # Arrow refuses rows shorter than the header; pandas leaves their last cells empty
        (["c1,2024-01-01,1", "c2,2024-01-02"], None),
    ],
    ids=["huge integer ids", "duplicate names", "an empty column", "short row"],
)
def test_pandas_reads_what_arrow_could_read_differently(
    rows: list[str], header: str | None, tmp_path: Path
) -> None:
    path = _write(tmp_path, rows, header or "customer_id,timestamp,value\n")
    frame = read_events(path)
    assert isinstance(frame, pd.DataFrame)
    assert frame.equals(pd.read_csv(path, index_col=False))


def test_text_that_is_not_utf8_gets_pandas_error(tmp_path: Path) -> None:
    path = tmp_path / "latin1.csv"
    path.write_bytes("customer_id,timestamp\nc\u00e9,2024-01-01\n".encode("latin-1"))
    with pytest.raises(DataError, match=r"as CSV \(is it a UTF-8 text file\?\): UnicodeDecode"):
        read_events(path)


def test_huge_integer_ids_stay_distinct_customers(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        ["18446744073709551617,2024-01-01", "18446744073709551616,2024-01-02"],
        "customer_id,timestamp\n",
    )
    assert EventLog.from_csv(path).n_customers == 2


def test_arrow_memory_is_given_back_after_large_work_only(monkeypatch: pytest.MonkeyPatch) -> None:
    # below the threshold the freed pages are few, and faulting them in again would cost
    # the next small ingestion more than keeping them
    from funnelkit.ingest import files

    released: list[bool] = []

    class Pool:
        def release_unused(self) -> None:
            released.append(True)

    class FakeArrow:
        @staticmethod
        def default_memory_pool() -> Pool:
            return Pool()

    monkeypatch.setitem(sys.modules, "pyarrow", FakeArrow)
    files.release_arrow_memory(files.RELEASE_FROM_ROWS - 1)
    assert released == []
    files.release_arrow_memory(files.RELEASE_FROM_ROWS)
    files.release_arrow_memory()
    assert released == [True, True]
