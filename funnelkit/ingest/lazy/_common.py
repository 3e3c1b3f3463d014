"""Pieces shared by the lazy RFM and journeys paths: source checks, base projection, results."""

from __future__ import annotations

from typing import Any

import numpy as np

from funnelkit._optional import import_optional
from funnelkit.ingest.columns import ColumnSpec, resolve_columns
from funnelkit.ingest.lazy._polars import base_frame
from funnelkit.ingest.lazy._sql import BASE, base_select, dialect_for
from funnelkit.ingest.source import Source
from funnelkit.ingest.text_codes import fixed_order, fixed_width, flat_text, packed_text
from funnelkit.ingest.time_axis import TimeAxis
from funnelkit.units import TimeUnit, TimeUnitLike

__all__ = [
    "arrow_columns",
    "base_projection",
    "collect_arrow",
    "lazy_columns",
    "time_axis",
    "valid",
]


def lazy_columns(source: Source, **columns: Any) -> ColumnSpec:
    """The column rule of every door, then the types of the source's schema (no rows read)."""
    schema = source.schema
    spec = resolve_columns(list(schema), **columns)
    return spec.with_schema(schema, engine=source.engine)


def time_axis(cols: ColumnSpec, unit: TimeUnitLike) -> TimeAxis:
    """The time axis of a lazy source: its raw times are those of the in-memory log."""
    return TimeAxis.of(cols.time_kind == "datetime", unit, tick_ns=cols.time_ns)


def base_projection(source: Source, cols: ColumnSpec, unit: TimeUnit | None) -> Any:
    """The native lazy base projection (see :mod:`funnelkit.ingest.lazy._sql`)."""
    if source.engine == "polars":
        return base_frame(source.native, cols, unit)
    d = dialect_for(source.engine)
    return d.run(source.native, base_select(d, cols, unit, BASE))


def collect_arrow(engine: str, native: Any) -> Any:
    """Execute a lazy native query and return a pyarrow Table."""
    if engine == "polars":
        return native.collect().to_arrow()
    return dialect_for(engine).to_arrow(native)


def arrow_columns(table: Any, *, sort_by: str | None = None) -> dict[str, np.ndarray]:
    """ColumnSpec of a pyarrow Table as numpy arrays (strings as object arrays).

    Integer columns with nulls become masked int64 arrays rather than floats with NaN, which
    would round nanosecond ticks. ``sort_by`` names a column of distinct values (customer ids)
    to order the rows by, sorted before any Python string is made (see :func:`_order`).
    """
    pa = import_optional("pyarrow", purpose="Collecting aggregates")
    if sort_by is not None:
        # ordered while still Arrow: the strings are then made in order, and no array of
        # Python objects is gathered (a million ids: 0.35 s of scattered reference counts)
        table = _plain_views(table).take(_order(table.column(sort_by)))
    out: dict[str, np.ndarray] = {}
    for name in table.column_names:
        column = table.column(name)
        if column.null_count and pa.types.is_integer(column.type):
            data = column.fill_null(0).to_numpy().astype(np.int64)
            out[name] = np.ma.MaskedArray(data, mask=column.is_null().to_numpy())
        else:
            out[name] = column.to_numpy(zero_copy_only=False)
    return out


def _plain_views(table: Any) -> Any:
    """``table`` with its string and binary view columns (Polars' strings) as plain large
    strings and binaries, which Arrow can take rows from."""
    pa = import_optional("pyarrow", purpose="Collecting aggregates")
    views = {
        getattr(pa, view)(): plain()
        for view, plain in (("string_view", pa.large_string), ("binary_view", pa.large_binary))
        if hasattr(pa, view)  # pyarrow < 16 has no views
    }
    if not any(field.type in views for field in table.schema):
        return table
    schema = pa.schema([f.with_type(views.get(f.type, f.type)) for f in table.schema])
    return table.cast(schema)


def _order(column: Any) -> np.ndarray:
    """Permutation sorting a column of distinct values.

    Short strings are packed into integers whose order is theirs (see
    :mod:`funnelkit.ingest.text_codes`): a numpy sort of those is several times faster than
    Arrow's single-threaded sort of the strings, which sorts the others (ids of one length as
    fixed-size binary, faster still). Both order as Python compares the strings: Arrow
    compares UTF-8 bytes, which orders by code point.
    """
    pa = import_optional("pyarrow", purpose="Collecting aggregates")
    pc = import_optional("pyarrow.compute", purpose="Collecting aggregates")
    chunked = pa.chunked_array([column]) if isinstance(column, pa.Array) else column
    parts = flat_text(chunked)
    packed = None if parts is None else packed_text(chunked, parts)
    if packed is not None:
        return np.argsort(packed.keys)
    fixed = None if parts is None else fixed_width(chunked, parts)
    if fixed is not None:
        order = fixed_order(fixed.combine_chunks())
        if order is not None:
            return order
    try:
        return pc.sort_indices(chunked if fixed is None else fixed).to_numpy()
    except (pa.ArrowNotImplementedError, pa.ArrowTypeError):  # no Arrow sort for the type
        return np.argsort(chunked.to_numpy(zero_copy_only=False))


def valid(values: np.ndarray) -> np.ndarray:
    """Where a collected column holds a value (not null, not NaN)."""
    ok = ~np.ma.getmaskarray(values)
    data = np.ma.getdata(values)
    if data.dtype.kind == "f":
        ok &= ~np.isnan(data)
    return ok
