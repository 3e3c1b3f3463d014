"""Timestamps at the ingestion boundary: the nanosecond range, mixed types, bad arguments."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from funnelkit import DataError, EventLog, Funnel, Stage
from funnelkit._timeparse import NS_MAX, NS_MIN, datetime64_to_ns, to_ns_scalar


def _frame(stamps: list[object]) -> pd.DataFrame:
    ids = [f"c{i}" for i in range(len(stamps))]
    return pd.DataFrame({"customer_id": ids, "timestamp": stamps, "event": "purchase"})


@pytest.mark.parametrize("late", ["9999-01-05", "3000-01-05", "1500-01-05"])
@pytest.mark.parametrize("library", ["pandas", "polars", "pyarrow"])
def test_text_timestamps_outside_the_ns_range_are_refused(late: str, library: str) -> None:
    frame = _frame(["2024-01-01", late, "2024-01-02", late])
    native = {
        "pandas": lambda: frame,
        "polars": lambda: pytest.importorskip("polars").from_pandas(frame),
        "pyarrow": lambda: pa.Table.from_pandas(frame),
    }[library]()
    with pytest.raises(DataError, match=r"^2 row\(s\) of column 'timestamp' are outside the "):
        EventLog.from_frame(native)
    with pytest.raises(DataError, match=r"customer ids 'c1', 'c3'\). Timestamps must lie"):
        EventLog.from_frame(native)


@pytest.mark.parametrize("unit", ["s", "ms", "us", "D"])
def test_coarse_datetime64_outside_the_ns_range_does_not_wrap(unit: str) -> None:
    stamps = np.array(["2024-01-01", "1500-01-05"], dtype=f"datetime64[{unit}]")
    for native in (
        pd.DataFrame({"customer_id": ["a", "b"], "timestamp": stamps}),
        pa.table({"customer_id": ["a", "b"], "timestamp": pa.array(stamps)}),
    ):
        with pytest.raises(DataError, match=r"^1 row\(s\) .* customer ids 'b'\)"):
            EventLog.from_frame(native)


def test_the_range_ends_are_inside_and_one_tick_beyond_is_outside() -> None:
    edges = np.array([NS_MIN // 10**6 + 1, NS_MAX // 10**6], dtype="datetime64[ms]")
    np.testing.assert_array_equal(
        datetime64_to_ns(edges, None, column="t"), edges.astype(np.int64) * 10**6
    )
    beyond = np.array([NS_MAX // 10**6 + 1], dtype="datetime64[ms]")
    with pytest.raises(DataError, match="1 row"):
        datetime64_to_ns(beyond, None, column="t")
    assert datetime64_to_ns(np.array(["NaT"], dtype="datetime64[s]"), None, column="t")[0] == (
        np.iinfo(np.int64).min
    )


def test_numbers_mixed_into_text_timestamps_are_refused() -> None:
    frame = _frame(["2024-01-01", 5, "2024-01-03", 7.5])
    with pytest.raises(
        DataError,
        match=r"^2 row\(s\) of column 'timestamp' hold numbers among text timestamps "
        r"\(e\.g\. 5, 7\.5 for customer ids 'c1', 'c3'\)",
    ):
        EventLog.from_frame(frame)


def test_utc_strings_with_garbage_count_the_garbage() -> None:
    frame = _frame(["2024-01-01T00:00:00Z", "garbage", "2024-01-03T00:00:00Z"])
    with pytest.raises(
        DataError, match=r"^1 row\(s\) of column 'timestamp' are not parsable timestamps"
    ):
        EventLog.from_frame(frame)


def test_utc_strings_parse_to_wall_clock_time() -> None:
    log = EventLog.from_frame(_frame(["2024-01-01T06:00:00Z", "2024-01-03T00:00:00Z"]))
    assert log.raw_to_timestamp(log.raw_times).tolist() == [
        np.datetime64("2024-01-01T06:00:00", "ns").item(),
        np.datetime64("2024-01-03T00:00:00", "ns").item(),
    ]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("2300-01-01", r"observation_end='2300-01-01' is outside 1677-09-22 to 2262-04-11"),
        ("garbage", r"observation_end='garbage' is not a timestamp"),
        (np.datetime64("1500-01-01"), r"is outside 1677-09-22 to 2262-04-11"),
        (pd.NaT, r"observation_end=NaT is missing"),
    ],
)
def test_bad_observation_end_is_a_data_error(value: object, message: str) -> None:
    log = EventLog.from_frame(_frame(["2024-01-01", "2024-01-05"]))
    with pytest.raises(DataError, match=message):
        log.rfm(observation_end=value)
    funnel = Funnel(stages=[Stage(name="buyer", events=["purchase"])])
    with pytest.raises(DataError, match=message):
        funnel.journeys(log, observation_end=value)


def test_to_ns_scalar_keeps_wall_clock_time_of_zoned_stamps() -> None:
    stamp = pd.Timestamp("2024-01-01 05:00", tz="Europe/Berlin")
    assert to_ns_scalar(stamp) == int(np.datetime64("2024-01-01T05:00", "ns").view(np.int64))


@pytest.mark.parametrize(
    "text",
    [
        "2024-06-30",
        " 2024-06-30 ",
        "2024-06-30T12:34",
        "2024-06-30 12:34:56",
        "2024-06-30T12:34:56.123456789",
        "2024-06-30T12:34:56.1",
        "1677-09-22",
        "2262-04-11",
    ],
)
def test_plain_iso_texts_read_as_pandas_reads_them(text: str) -> None:
    stamp = pd.Timestamp(text.strip())
    assert to_ns_scalar(text) == stamp.as_unit("ns").value


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("2024-02-30", "is not a timestamp"),
        ("2024-06-30T24:00", "is not a timestamp"),
        ("2262-04-12", "is outside 1677-09-22 to 2262-04-11"),
        ("9999-12-31", "is outside 1677-09-22 to 2262-04-11"),
    ],
)
def test_plain_iso_texts_that_are_not_timestamps_keep_their_messages(
    text: str, message: str
) -> None:
    with pytest.raises(DataError, match=message):
        to_ns_scalar(text, name="observation_end")


def test_a_plain_iso_text_is_read_without_importing_pandas() -> None:
    import subprocess
    import sys

    code = (
        "import sys; from funnelkit._timeparse import to_ns_scalar; "
        "print(to_ns_scalar('2024-06-30 12:00'), 'pandas' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["1719748800000000000", "False"]
