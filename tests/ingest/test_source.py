"""Classifying inputs (as_source) and reading files (read_events): one rule for every door."""

from __future__ import annotations

from pathlib import Path

import duckdb
import narwhals as nw
import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest

from funnelkit import RFM, DataError, EventLog, Funnel, Stage
from funnelkit.ingest import Source, UnreadableFileError, as_source, file_format, read_events

FRAME = pd.DataFrame(
    {
        "customer_id": ["a", "a", "b", "c"],
        "timestamp": pd.to_datetime(["2024-01-01", "2024-01-09", "2024-01-03", "2024-01-04"]),
        "event": ["purchase", "purchase", "purchase", "visit"],
    }
)


@pytest.mark.parametrize(
    ("make", "engine"),
    [
        (lambda f, d: f, "numpy"),
        (lambda f, d: pl.from_pandas(f), "numpy"),
        (lambda f, d: pa.Table.from_pandas(f, preserve_index=False), "numpy"),
        (lambda f, d: nw.from_native(f, eager_only=True), "numpy"),
        (lambda f, d: pl.from_pandas(f).lazy(), "polars"),
        (lambda f, d: nw.from_native(pl.from_pandas(f).lazy()), "polars"),
        (lambda f, d: duckdb.connect().from_df(f), "duckdb"),
    ],
)
def test_frames_and_relations_go_to_their_engine(make, engine: str, tmp_path: Path) -> None:
    source = as_source(make(FRAME, tmp_path))
    assert source.engine == engine
    assert source.is_lazy == (engine != "numpy")
    assert as_source(source) is source


def test_files_are_read_once_or_opened_lazily(tmp_path: Path) -> None:
    FRAME.to_csv(tmp_path / "events.csv", index=False)
    FRAME.to_parquet(tmp_path / "events.parquet")
    csv = as_source(tmp_path / "events.csv")
    # a pyarrow Table when pyarrow is installed (see funnelkit.ingest.files)
    native = nw.from_native(csv.native, eager_only=True)
    assert csv.engine == "numpy" and native.columns == list(FRAME.columns)
    parquet = as_source(str(tmp_path / "events.parquet"))
    assert parquet.engine == "duckdb" and parquet.columns == list(FRAME.columns)
    FRAME.iloc[:2].to_csv(tmp_path / "part-1.csv", index=False)
    FRAME.iloc[2:].to_csv(tmp_path / "part-2.csv", index=False)
    glob = as_source(str(tmp_path / "part-*.csv"))
    assert glob.engine == "duckdb"
    assert RFM.from_events(glob).frequency.tolist() == [1.0, 0.0]


def test_every_door_reads_a_csv_path_like_from_csv(tmp_path: Path) -> None:
    path = tmp_path / "events.csv"
    FRAME.to_csv(path, index=False)
    expected = EventLog.from_csv(path).rfm()
    got = RFM.from_events(path)
    assert got.customer_ids.tolist() == expected.customer_ids.tolist() == ["a", "b"]
    assert got.frequency.tolist() == [1.0, 0.0] and got.recency.tolist() == [8.0, 0.0]
    assert got.T.tolist() == expected.T.tolist() == [8.0, 6.0]
    visitors = Funnel(stages=[Stage(name="visitor", events=["visit"])])
    assert visitors.journeys(str(path)).counts() == {"visitor": 1}


def test_unsupported_input_names_what_is_accepted() -> None:
    with pytest.raises(DataError, match=r"^Unsupported input of type dict: pass a pandas"):
        as_source({"customer_id": [1]})
    with pytest.raises(DataError, match=r"^2 paths given: several files are read lazily"):
        as_source(["a.csv", "b.json"])


def test_file_format_comes_from_the_suffix() -> None:
    assert [file_format(n) for n in ("a.csv", "a.TSV", "a.txt", "a.pq", "a.json")] == [
        "csv",
        "csv",
        "csv",
        "parquet",
        None,
    ]


def test_the_reader_says_what_is_wrong_with_the_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no such file: "):
        read_events(tmp_path / "missing.csv")
    with pytest.raises(UnreadableFileError, match="is a directory: name one") as error:
        read_events(tmp_path)
    assert error.value.brief == f"{tmp_path} is a directory: name one *.csv or *.parquet event file"
    (tmp_path / "empty.csv").write_bytes(b"")
    with pytest.raises(UnreadableFileError, match=r"as CSV: the file is empty") as error:
        read_events(tmp_path / "empty.csv")
    assert error.value.brief.endswith(
        "empty.csv is empty: an event file has a header and one row per event"
    )
    (tmp_path / "events.dat").write_text("a,b\n1,2\n")
    with pytest.raises(DataError, match=r"^Cannot tell the format of 'events.dat'"):
        read_events(tmp_path / "events.dat")
    assert read_events(tmp_path / "events.dat", format="csv").shape == (1, 2)


def test_the_reader_takes_a_delimiter(tmp_path: Path) -> None:
    (tmp_path / "events.csv").write_text("customer_id;timestamp\nc1;2024-01-01\n")
    frame = read_events(tmp_path / "events.csv", delimiter=";")
    assert nw.from_native(frame, eager_only=True).columns == ["customer_id", "timestamp"]
    assert np.asarray(frame["customer_id"]).tolist() == ["c1"]


def test_source_schema_is_read_without_rows() -> None:
    relation = duckdb.connect().from_df(FRAME)
    source = Source("duckdb", relation)
    assert source.columns == ["customer_id", "timestamp", "event"]
    assert isinstance(source.schema["timestamp"], nw.Datetime)  # ns in pandas 2, us in 3
    assert source.schema["customer_id"] == nw.String
