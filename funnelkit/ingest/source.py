"""Which engine handles an input: every way in is classified here into one :class:`Source`.

* eager frames of any library narwhals supports (pandas, polars, pyarrow), and mappings of
  column names to 1-D numpy arrays (no frame library needed): the ``numpy`` engine, which
  ingests them into :class:`funnelkit.EventLog`;
* one CSV or Parquet file: read by :func:`funnelkit.ingest.files.read_events`, then ``numpy``
  (Parquet files, directories and globs go to DuckDB when it is installed: nothing is read
  into memory but the per-customer summary);
* lazy relations (a DuckDB relation, a Polars ``LazyFrame``, a PySpark ``DataFrame``): their
  own engine, which aggregates where the data live.

Detection looks at ``sys.modules`` and type names, so it never imports an optional dependency
the caller has not already imported.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import narwhals as nw

from funnelkit._optional import import_optional
from funnelkit.exceptions import DataError
from funnelkit.ingest.columns import array_columns, check_unique_names, column_names
from funnelkit.ingest.files import file_format, read_events

__all__ = ["Engine", "Source", "as_source", "is_lazy_source", "read_parquet"]

Engine = Literal["numpy", "duckdb", "polars", "spark"]
_GLOB_CHARS = ("*", "?", "[")


@dataclass(frozen=True)
class Source:
    """An input normalised to the engine that handles it and the engine's native object.

    ``native`` is an eager frame or a mapping of numpy arrays for the ``numpy`` engine (a file
    is read when classified) and a lazy relation otherwise.
    """

    engine: Engine
    native: Any

    @property
    def is_lazy(self) -> bool:
        """True when the data stay in their engine and only summaries come back."""
        return self.engine != "numpy"

    @property
    def schema(self) -> dict[str, Any]:
        """Column names and narwhals types (numpy dtypes for arrays), without reading rows."""
        arrays = array_columns(self.native)
        if arrays is not None:
            return {name: values.dtype for name, values in arrays.items()}
        return dict(nw.from_native(self.native).collect_schema())

    @property
    def columns(self) -> list[str]:
        return list(self.schema)


def as_source(obj: Any) -> Source:
    """Classify any input into the :class:`Source` of the engine that handles it.

    Examples
    --------
    >>> import pandas as pd
    >>> as_source(pd.DataFrame({"customer_id": [1], "timestamp": [0.0]})).engine
    'numpy'
    >>> import numpy as np
    >>> as_source({"customer_id": np.array([1]), "timestamp": np.array([0.0])}).engine
    'numpy'
    """
    if isinstance(obj, Source):
        return obj
    if isinstance(obj, nw.LazyFrame | nw.DataFrame):
        obj = obj.to_native()
    engine = _engine_of(obj)
    if engine is not None:
        return Source(engine, obj)
    if _is_path(obj):
        return _file_source(obj)
    if array_columns(obj) is not None:
        return Source("numpy", obj)
    names = column_names(obj)
    if names is not None:
        check_unique_names(names)  # before narwhals, whose own error names no fix
    if isinstance(nw.from_native(obj, pass_through=True, eager_only=True), nw.DataFrame):
        return Source("numpy", obj)
    raise DataError(
        f"Unsupported input of type {type(obj).__name__}: pass a pandas, polars or pyarrow "
        "frame, a mapping of column names to 1-D numpy arrays, a DuckDB relation, a Polars "
        "LazyFrame, a PySpark DataFrame, or the path of a CSV or Parquet file (or a Parquet "
        "directory or glob)."
    )


def is_lazy_source(obj: Any) -> bool:
    """True for the inputs that are aggregated where they live instead of collected.

    Examples
    --------
    >>> is_lazy_source("events/*.parquet"), is_lazy_source([1, 2])
    (True, False)
    """
    if isinstance(obj, nw.LazyFrame):
        return _engine_of(obj.to_native()) is not None
    if _is_parquet_path(obj) or _is_csv_glob(obj):
        return True
    return _engine_of(obj) is not None


def read_parquet(
    path: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    *,
    connection: Any = None,
    **config: Any,
) -> Any:
    """Open Parquet files as a DuckDB relation, without reading them.

    Parameters
    ----------
    path
        A file, a directory (every ``*.parquet`` below it, Hive partitions included), a glob
        such as ``"events/2024-*.parquet"``, or a list of those.
    connection
        A DuckDB connection to read with (default: a new in-memory connection).
    **config
        DuckDB settings for a new connection, e.g. ``memory_limit="3GB"``, ``threads=4`` or
        ``temp_directory="/scratch"`` (where large aggregations spill).

    Examples
    --------
    >>> import duckdb, os, tempfile
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     duckdb.sql("SELECT 1 AS customer_id, TIMESTAMP '2024-01-01' AS timestamp"
    ...                ).write_parquet(os.path.join(folder, "part-0.parquet"))
    ...     read_parquet(folder, memory_limit="1GB").columns
    ['customer_id', 'timestamp']
    """
    duckdb = import_optional("duckdb", purpose="Reading Parquet files lazily")
    patterns = [_as_pattern(p) for p in _paths(path)]
    if connection is None:
        connection = _quiet(duckdb.connect(config={k: str(v) for k, v in config.items()}))
    elif config:
        raise DataError("Pass DuckDB settings either with a new connection or as **config.")
    try:
        return connection.read_parquet(patterns, hive_partitioning=True)
    except duckdb.Error as exc:
        raise DataError(
            f"Could not read Parquet from {patterns}: {exc}. Check the path or glob."
        ) from exc


def _quiet(connection: Any) -> Any:
    """A connection funnelkit opened: a library prints no progress bar of its own (DuckDB
    draws one in a terminal for queries over two seconds)."""
    connection.execute("SET enable_progress_bar = false")
    return connection


def _file_source(obj: Any) -> Source:
    if _is_csv_glob(obj):
        duckdb = import_optional("duckdb", purpose="Reading several CSV files")
        patterns = [os.fspath(p) for p in _paths(obj)]
        return Source("duckdb", _quiet(duckdb.connect()).read_csv(patterns))
    single = not isinstance(obj, list | tuple) and Path(obj).is_file()
    if _is_parquet_path(obj) and not (single and importlib.util.find_spec("duckdb") is None):
        return Source("duckdb", read_parquet(obj))
    if isinstance(obj, list | tuple):
        raise DataError(
            f"{len(obj)} paths given: several files are read lazily with DuckDB, which takes "
            "Parquet files or CSV globs only; pass one CSV file, or a Parquet glob."
        )
    return Source("numpy", read_events(obj))


def _engine_of(obj: Any) -> Engine | None:
    module = type(obj).__module__
    name = type(obj).__name__
    if module.startswith(("duckdb", "_duckdb")) and name == "DuckDBPyRelation":
        return "duckdb"
    polars = sys.modules.get("polars")
    if polars is not None and isinstance(obj, polars.LazyFrame):
        return "polars"
    if module.startswith("pyspark.sql") and name == "DataFrame":
        return "spark"
    return None


def _paths(obj: Any) -> list[Any]:
    return [obj] if isinstance(obj, str | os.PathLike) else list(obj)


def _is_path(obj: Any) -> bool:
    if isinstance(obj, list | tuple) and obj:
        return all(isinstance(o, str | os.PathLike) for o in obj)
    return isinstance(obj, str | os.PathLike)


def _is_csv_glob(obj: Any) -> bool:
    if not _is_path(obj):
        return False
    texts = [os.fspath(p) for p in _paths(obj)]
    csv = all(file_format(t) == "csv" for t in texts)
    return csv and (len(texts) > 1 or any(ch in texts[0] for ch in _GLOB_CHARS))


def _is_parquet_path(obj: Any) -> bool:
    if isinstance(obj, list | tuple) and obj:
        return all(_is_parquet_path(o) for o in obj)
    if not isinstance(obj, str | os.PathLike):
        return False
    text = os.fspath(obj)
    if file_format(text) == "csv":
        return False
    return (
        file_format(text) == "parquet"
        or any(ch in text for ch in _GLOB_CHARS)
        or Path(text).is_dir()
    )


def _as_pattern(path: str | os.PathLike[str]) -> str:
    text = os.fspath(path)
    if Path(text).is_dir():
        return os.path.join(text, "**", "*.parquet")
    return text
