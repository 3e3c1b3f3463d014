"""One column rule for every way in: eager frames, lazy engines and files give equal numbers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest

from funnelkit import RFM, DataError, EventLog, Funnel, Stage
from funnelkit.aggregate import rfm_frame
from tests.aggregate._helpers import assert_same_rfm


def _visits_and_purchases() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": ["a", "a", "a", "b"],
            "timestamp": pd.to_datetime(["2024-01-01", "2024-01-03", "2024-01-09", "2024-01-02"]),
            "event": ["visit", "purchase", "purchase", "purchase"],
            "value": [np.nan, 1e16, 1.23, 4.0],
        }
    )


def _sources(frame: pd.DataFrame, tmp_path: Path) -> dict[str, Any]:
    path = tmp_path / "events.parquet"
    frame.to_parquet(path)
    return {
        "pandas": frame,
        "polars": pl.from_pandas(frame),
        "pyarrow": pa.Table.from_pandas(frame),
        "duckdb": duckdb.from_df(frame),
        "polars-lazy": pl.from_pandas(frame).lazy(),
        "parquet": str(path),
    }


@pytest.mark.parametrize(
    "name", ["pandas", "polars", "pyarrow", "duckdb", "polars-lazy", "parquet"]
)
def test_every_entry_point_finds_the_event_column(name: str, tmp_path: Path) -> None:
    frame = _visits_and_purchases()
    expected = EventLog.from_frame(frame, value_col="value").rfm()
    assert expected.frequency.tolist() == [1.0, 0.0]  # the visit is not a purchase
    got = RFM.from_events(_sources(frame, tmp_path)[name], value_col="value")
    assert_same_rfm(expected, got)


@pytest.mark.parametrize("name", ["duckdb", "polars-lazy"])
def test_lazy_repeat_spend_keeps_small_repeats_after_a_huge_first_purchase(
    name: str, tmp_path: Path
) -> None:
    source = _sources(_visits_and_purchases(), tmp_path)[name]
    assert RFM.from_events(source, value_col="value").monetary_value.tolist() == [1.23, 0.0]
    with_holdout = RFM.from_events(
        _sources(_visits_and_purchases(), tmp_path)[name],
        value_col="value",
        calibration_end="2024-01-10",
        observation_end="2024-01-20",
    )
    assert with_holdout.monetary_value.tolist() == [1.23, 0.0]
    lazy = rfm_frame(_sources(_visits_and_purchases(), tmp_path)[name], value_col="value")
    table = lazy.collect() if name == "polars-lazy" else lazy.pl()
    assert table.sort("customer_id")["monetary_value"].to_list() == [1.23, 0.0]


def test_explicit_none_reads_every_row_as_a_purchase(tmp_path: Path) -> None:
    frame = _visits_and_purchases()
    for source in _sources(frame, tmp_path).values():
        assert RFM.from_events(source, event_col=None).frequency.tolist() == [2.0, 0.0]


def test_the_log_time_unit_is_the_default_everywhere() -> None:
    log = EventLog.from_frame(_visits_and_purchases(), time_unit="W")
    funnel = Funnel(stages=[Stage(name="visitor", events=["visit"])])
    assert log.rfm().time_unit.value == "week"
    assert funnel.journeys(log).time_unit.value == "week"
    assert log.rfm().T.tolist() == log.rfm(time_unit="W").T.tolist() == [1.0, 1.0]


@pytest.mark.parametrize("engine", ["duckdb", "polars-lazy"])
def test_lazy_times_beyond_2262_are_counted_not_overflowed(engine: str) -> None:
    relation = duckdb.sql(
        "SELECT * FROM (VALUES ('a', TIMESTAMP '2024-01-01', 'purchase'), "
        "('b', TIMESTAMP '2500-01-01', 'purchase'), ('c', TIMESTAMP '2600-01-01', 'visit')) "
        "t(customer_id, timestamp, event)"
    )
    source = relation if engine == "duckdb" else relation.pl().lazy()
    message = (
        r"^2 row\(s\) of column 'timestamp' are outside the supported time range "
        r"\(e\.g\. '2500-01-01T00:00:00\.000000', '2600-01-01T00:00:00\.000000' for customer "
        r"ids 'b', 'c'\)\. Timestamps must lie between 1677-09-22 to 2262-04-11"
    )
    with pytest.raises(DataError, match=message):
        RFM.from_events(source)
    with pytest.raises(DataError, match=message):
        Funnel(stages=[Stage(name="buyer", events=["purchase"])]).journeys(source)


@pytest.mark.parametrize("library", ["pandas", "pyarrow"])
def test_repeated_column_names_are_a_data_error(library: str) -> None:
    columns = [["a"], ["2024-01-01"], ["b"]]
    names = ["customer_id", "timestamp", "customer_id"]
    native = (
        pd.DataFrame(dict(enumerate(columns))).set_axis(names, axis=1)
        if library == "pandas"
        else pa.table([pa.array(c) for c in columns], names=names)
    )
    with pytest.raises(
        DataError, match=r"^1 column name\(s\) occur more than once: \['customer_id'\]"
    ):
        EventLog.from_frame(native)
    with pytest.raises(DataError, match="occur more than once"):
        RFM.from_events(native)


def test_dictionary_nulls_stay_missing() -> None:
    table = pa.table(
        {
            "customer_id": ["a", "b", "c"],
            "timestamp": pa.array(np.array(["2024-01-01"] * 3, dtype="datetime64[s]")),
            "channel": pa.array(["ig", None, "fb"]).dictionary_encode(),
        }
    )
    log = EventLog.from_frame(table, attribute_cols=["channel"])
    assert log.attributes["channel"].tolist() == ["ig", None, "fb"]
    as_pandas = EventLog.from_frame(table.to_pandas(), attribute_cols=["channel"])
    assert as_pandas.attributes["channel"].tolist() == ["ig", None, "fb"]


@pytest.mark.parametrize("content", [b"", bytes(range(256)) * 4])
def test_unreadable_csv_is_a_data_error(content: bytes, tmp_path: Path) -> None:
    path = tmp_path / "events.csv"
    path.write_bytes(content)
    with pytest.raises(DataError, match=r"^Could not read '.*events\.csv' as CSV"):
        EventLog.from_csv(path)


def test_an_object_column_of_numbers_is_numeric_as_in_arrow() -> None:
    frame = pd.DataFrame({"customer_id": ["a", "a"], "timestamp": [0, 3], "event": "purchase"})
    from_pandas = EventLog.from_frame(frame.astype({"timestamp": object}))
    from_arrow = EventLog.from_frame(pa.Table.from_pandas(frame))
    assert not from_pandas.is_datetime
    assert from_pandas.raw_times.tolist() == from_arrow.raw_times.tolist() == [0.0, 3.0]


def test_an_all_null_attribute_is_none_in_every_library() -> None:
    table = pa.table(
        {
            "customer_id": ["a", "b"],
            "timestamp": pa.array(np.array(["2024-01-01"] * 2, dtype="datetime64[s]")),
            "channel": pa.nulls(2),
        }
    )
    for native in (table, pl.from_arrow(table), table.to_pandas()):
        log = EventLog.from_frame(native, attribute_cols=["channel"])
        assert log.attributes["channel"].tolist() == [None, None]
