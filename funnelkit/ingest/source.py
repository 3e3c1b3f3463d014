"""Lazy event sources: recognise them, open them, and read their schema without reading rows.

A *lazy source* is event data that stays where it lives while funnelkit aggregates it: a DuckDB
relation, Parquet files read by DuckDB (a path, a directory or a glob), a Polars ``LazyFrame``
or a PySpark ``DataFrame``. Detection looks at ``sys.modules`` and type names, so it never
imports an optional dependency the caller has not already imported.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import narwhals as nw

from funnelkit._columns import resolve_roles
from funnelkit._optional import import_optional
from funnelkit.exceptions import DataError

__all__ = ["Columns", "LazySource", "is_lazy_source", "open_source", "read_parquet"]

Engine = Literal["duckdb", "polars", "spark"]
_GLOB_CHARS = ("*", "?", "[")


@dataclass(frozen=True)
class LazySource:
    """A lazy source normalised to its engine, its native object and its narwhals schema."""

    engine: Engine
    native: Any
    schema: dict[str, Any]

    @property
    def columns(self) -> list[str]:
        return list(self.schema)


@dataclass(frozen=True)
class Columns:
    """The column roles of an event source, checked against its schema.

    ``time_kind`` is ``"datetime"`` (timestamps or dates, read as wall-clock time) or
    ``"numeric"`` (numbers in the requested time unit); ``time_ns`` is the precision of the
    engine's integer clock ticks for datetime columns (1 for nanoseconds, 1000 for microseconds).
    """

    customer: str
    time: str
    event: str | None
    value: str | None
    attributes: tuple[str, ...]
    time_kind: Literal["datetime", "numeric"]
    time_dtype: Any
    time_ns: int


def is_lazy_source(obj: Any) -> bool:
    """True for the inputs that are aggregated where they live instead of collected.

    Examples
    --------
    >>> is_lazy_source("events/*.parquet"), is_lazy_source([1, 2])
    (True, False)
    """
    if isinstance(obj, nw.LazyFrame):
        return _engine_of(obj.to_native()) is not None
    if _is_parquet_path(obj):
        return True
    return _engine_of(obj) is not None


def open_source(obj: Any) -> LazySource:
    """Normalise a lazy source; Parquet paths are opened with DuckDB (see :func:`read_parquet`)."""
    if isinstance(obj, nw.LazyFrame):
        obj = obj.to_native()
    if _is_parquet_path(obj):
        obj = read_parquet(obj)
    engine = _engine_of(obj)
    if engine is None:
        raise DataError(
            f"Unsupported lazy source of type {type(obj).__name__}: pass a DuckDB relation, a "
            "Parquet path or glob, a Polars LazyFrame or a PySpark DataFrame."
        )
    schema = dict(nw.from_native(obj).collect_schema())
    return LazySource(engine=engine, native=obj, schema=schema)


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
    items = [path] if isinstance(path, str | os.PathLike) else list(path)
    patterns = [_as_pattern(p) for p in items]
    if connection is None:
        connection = duckdb.connect(config={k: str(v) for k, v in config.items()})
    elif config:
        raise DataError("Pass DuckDB settings either with a new connection or as **config.")
    try:
        return connection.read_parquet(patterns, hive_partitioning=True)
    except duckdb.Error as exc:
        raise DataError(
            f"Could not read Parquet from {patterns}: {exc}. Check the path or glob."
        ) from exc


def resolve_columns(
    source: LazySource,
    *,
    customer_col: str,
    time_col: str,
    event_col: str | None,
    value_col: str | None,
    attribute_cols: Sequence[str] = (),
) -> Columns:
    """Check the column names and types in the schema (no rows are read)."""
    # The rule every way in shares (see funnelkit._columns), so lazy equals in-memory.
    roles = resolve_roles(
        source.columns,
        customer_col=customer_col,
        time_col=time_col,
        event_col=event_col,
        value_col=value_col,
        attribute_cols=attribute_cols,
    )
    event_col = roles.event
    dtype = source.schema[time_col]
    if dtype.is_numeric():
        kind: Literal["datetime", "numeric"] = "numeric"
        tick_ns = 1
    elif isinstance(dtype, nw.Datetime) or dtype == nw.Date:
        kind = "datetime"
        tick_ns = (
            1 if getattr(dtype, "time_unit", "us") == "ns" and source.engine != "spark" else 1000
        )
    else:
        raise DataError(
            f"Time column {time_col!r} has type {dtype}, not a timestamp, date or number. Lazy "
            "sources are not parsed row by row: cast the column where the data lives, e.g. "
            f"DuckDB CAST({time_col} AS TIMESTAMP), Polars pl.col({time_col!r}).str.to_datetime() "
            f"or Spark F.to_timestamp({time_col!r})."
        )
    if value_col is not None and not source.schema[value_col].is_numeric():
        raise DataError(
            f"Value column {value_col!r} has type {source.schema[value_col]}, not a number. "
            f"Cast it where the data lives, e.g. CAST({value_col} AS DOUBLE)."
        )
    return Columns(
        customer=customer_col,
        time=time_col,
        event=event_col,
        value=value_col,
        attributes=tuple(attribute_cols),
        time_kind=kind,
        time_dtype=dtype,
        time_ns=tick_ns,
    )


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


def _is_parquet_path(obj: Any) -> bool:
    if isinstance(obj, list | tuple) and obj:
        return all(_is_parquet_path(o) for o in obj)
    if not isinstance(obj, str | os.PathLike):
        return False
    text = os.fspath(obj)
    return (
        text.endswith((".parquet", ".pq"))
        or any(ch in text for ch in _GLOB_CHARS)
        or Path(text).is_dir()
    )


def _as_pattern(path: str | os.PathLike[str]) -> str:
    text = os.fspath(path)
    if Path(text).is_dir():
        return os.path.join(text, "**", "*.parquet")
    return text
