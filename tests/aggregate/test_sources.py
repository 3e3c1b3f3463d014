"""Recognising and opening lazy sources without importing or reading more than needed."""

from __future__ import annotations

import subprocess
import sys

import duckdb
import pandas as pd
import polars as pl
import pytest

from funnelkit import RFM, DataError
from funnelkit.aggregate import is_lazy_source, read_parquet

from ._helpers import assert_same_rfm, random_events


def test_what_counts_as_lazy(tmp_path):
    frame = pd.DataFrame({"a": [1]})
    assert is_lazy_source(duckdb.sql("SELECT 1"))
    assert is_lazy_source(pl.LazyFrame({"a": [1]}))
    assert is_lazy_source("events/*.parquet")
    assert is_lazy_source(["a.parquet", "b.parquet"])
    assert is_lazy_source(tmp_path)  # a directory of Parquet files
    assert not is_lazy_source(frame)
    assert not is_lazy_source(pl.DataFrame({"a": [1]}))
    assert not is_lazy_source("events.csv")
    assert not is_lazy_source([])


def test_directories_globs_and_lists_read_the_same(tmp_path):
    events = random_events(7, n_rows=600)
    for i, part in enumerate((events.iloc[:200], events.iloc[200:450], events.iloc[450:])):
        part.to_parquet(tmp_path / f"part-{i}.parquet")
    options = {"value_col": "value", "event_col": "event", "time_unit": "W"}
    expected = RFM.from_events(events, **options)
    files = sorted(str(p) for p in tmp_path.glob("*.parquet"))
    for source in (tmp_path, str(tmp_path / "*.parquet"), files):
        assert_same_rfm(expected, RFM.from_events(source, **options))
    relation = read_parquet(tmp_path, memory_limit="500MB", threads=1)
    assert_same_rfm(expected, RFM.from_events(relation, **options))


def test_settings_go_with_a_new_connection_only(tmp_path):
    with pytest.raises(DataError, match="either with a new connection or as"):
        read_parquet(tmp_path, connection=duckdb.connect(), threads=1)


def test_importing_the_package_loads_no_engine():
    code = (
        "import sys, funnelkit.aggregate, funnelkit.scoring, funnelkit.spark; "
        "print(sorted(m for m in ('duckdb', 'polars', 'pyspark', 'pandas', 'pyarrow') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
