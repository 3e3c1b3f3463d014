"""The one column and event specification of event data, with one auto-detection rule.

``event_col`` defaults to ``"event"``: when the data have no column of that name, the log is a
plain transaction log and every row is a purchase. Passing ``event_col=None`` says so
explicitly; any other name must exist. Every way in (eager frame, lazy relation, file) resolves
its columns here, so the same data give the same numbers whichever door they came through.
"""

from __future__ import annotations

import functools
import sys
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

import narwhals as nw
import numpy as np

from funnelkit._frames import check_columns
from funnelkit.exceptions import DataError
from funnelkit.ingest.text_codes import arrow_strings, is_text_type, is_view

__all__ = [
    "DEFAULT_EVENT_COL",
    "PURCHASE",
    "ArrayColumns",
    "ArrowText",
    "Column",
    "ColumnSpec",
    "FrameColumns",
    "array_columns",
    "check_unique_names",
    "column_names",
    "eager_frame",
    "expand_labels",
    "resolve_columns",
]

#: The event type column looked for when the caller names none.
DEFAULT_EVENT_COL = "event"
#: Event type of every row of a log read without an event column.
PURCHASE = "purchase"


@dataclass(frozen=True)
class ColumnSpec:
    """Which column plays which role; ``event`` is None for a log of purchases only.

    For sources read through their schema (lazy engines), :meth:`with_schema` also records the
    kind of the time column: ``time_kind`` is ``"datetime"`` (timestamps or dates, read as
    wall-clock time) or ``"numeric"`` (numbers in the requested time unit), and ``time_ns`` the
    precision of the engine's integer clock ticks (1 for nanoseconds, 1000 for microseconds).
    """

    customer: str
    time: str
    event: str | None
    value: str | None
    attributes: tuple[str, ...] = ()
    time_kind: Literal["datetime", "numeric"] | None = None
    time_dtype: Any = None
    time_ns: int = 1

    def with_schema(self, schema: Mapping[str, Any], *, engine: str) -> ColumnSpec:
        """Check the time and value column types of a schema (no rows are read)."""
        dtype = schema[self.time]
        if dtype.is_numeric():
            spec = replace(self, time_kind="numeric", time_dtype=dtype, time_ns=1)
        elif isinstance(dtype, nw.Datetime) or dtype == nw.Date:
            # Spark hands out microseconds whatever the declared precision.
            ns = getattr(dtype, "time_unit", "us") == "ns" and engine != "spark"
            spec = replace(self, time_kind="datetime", time_dtype=dtype, time_ns=1 if ns else 1000)
        else:
            raise DataError(
                f"Time column {self.time!r} has type {dtype}, not a timestamp, date or number. "
                "Lazy sources are not parsed row by row: cast the column where the data lives, "
                f"e.g. DuckDB CAST({self.time} AS TIMESTAMP), Polars "
                f"pl.col({self.time!r}).str.to_datetime() or Spark F.to_timestamp({self.time!r})."
            )
        if self.value is not None and not schema[self.value].is_numeric():
            raise DataError(
                f"Value column {self.value!r} has type {schema[self.value]}, not a number. "
                f"Cast it where the data lives, e.g. CAST({self.value} AS DOUBLE)."
            )
        return spec


def resolve_columns(
    available: Sequence[str],
    *,
    customer_col: str,
    time_col: str,
    event_col: str | None,
    value_col: str | None,
    attribute_cols: Sequence[str] = (),
) -> ColumnSpec:
    """Apply the auto-detection rule and check that every named column exists.

    Examples
    --------
    >>> resolve_columns(["customer_id", "timestamp"], customer_col="customer_id",
    ...                 time_col="timestamp", event_col="event", value_col=None).event is None
    True
    """
    check_unique_names(available)
    if event_col == DEFAULT_EVENT_COL and DEFAULT_EVENT_COL not in available:
        event_col = None
    check_columns(
        available,
        {
            "customer_col": customer_col,
            "time_col": time_col,
            "event_col": event_col,
            "value_col": value_col,
            **{f"attribute_cols[{i}]": c for i, c in enumerate(attribute_cols)},
        },
    )
    return ColumnSpec(customer_col, time_col, event_col, value_col, tuple(attribute_cols))


def check_unique_names(available: Sequence[Any]) -> None:
    """Refuse repeated column names: which of the copies is meant cannot be guessed."""
    repeated = sorted(str(n) for n, k in Counter(available).items() if k > 1)
    if repeated:
        raise DataError(
            f"{len(repeated)} column name(s) occur more than once: {repeated}. Rename or drop "
            "the duplicates so that each name is unique."
        )


def eager_frame(
    native: Any,
    *,
    what: str = "the input",
    accepted: str = "a pandas, polars or pyarrow frame",
) -> Any:
    """A narwhals DataFrame of an eager pandas, polars or pyarrow frame, or a clear DataError."""
    names = column_names(native)
    if names is not None:
        check_unique_names(names)
    try:
        return nw.from_native(native, eager_only=True)
    except TypeError as exc:
        raise DataError(
            f"Unsupported type {type(native).__name__} for {what}: pass {accepted}."
        ) from exc


def column_names(native: Any) -> list[Any] | None:
    """Column names of a native frame without converting it (None if it has none)."""
    # pandas and pyarrow allow repeated names; read them before narwhals refuses the frame.
    if callable(getattr(native, "collect_schema", None)):
        # A lazy frame resolves its schema for ``columns`` (Polars warns); ask for it directly.
        return list(native.collect_schema().names())
    names = getattr(native, "column_names", None)
    if names is None:
        names = getattr(native, "columns", None)
    if names is None or isinstance(names, str):
        return None
    try:
        return list(names)
    except TypeError:
        return None


# ---------------------------------------------------------------- columns as numpy
# The numpy engine's kernels take plain numpy arrays and null masks. A frame is converted
# here, at its edge, through narwhals; a mapping of arrays goes in as it is. So both kinds
# of input meet the same checks and give the same messages.


@dataclass(frozen=True)
class Column:
    """One input column: its values and which entries are missing.

    Missing entries of text and object columns are None; numbers keep NaN, datetimes NaT.
    """

    values: np.ndarray
    missing: np.ndarray


@dataclass(frozen=True)
class ArrowText:
    """A text column as an Arrow string array: ids and event types are encoded from it
    without making one Python string per row."""

    array: Any

    @property
    def missing(self) -> np.ndarray:
        if self.array.null_count == 0:
            return np.zeros(1, dtype=bool)  # nothing missing, without a pass over the rows
        return np.asarray(self.array.is_null().to_numpy(zero_copy_only=False), dtype=bool)


def array_columns(obj: Any) -> dict[str, np.ndarray] | None:
    """The columns of a mapping of names to 1-D numpy arrays of one length, else None.

    Examples
    --------
    >>> list(array_columns({"customer_id": np.array([1, 2]), "timestamp": np.zeros(2)}))
    ['customer_id', 'timestamp']
    >>> array_columns([1, 2]) is None
    True
    """
    if not isinstance(obj, Mapping) or not obj:
        return None
    if not all(isinstance(v, np.ndarray) for v in obj.values()):
        return None
    bad = [str(k) for k in obj if not isinstance(k, str)]
    if bad:
        raise DataError(f"Column names must be text; got {bad[:5]}. Name the arrays by strings.")
    shapes = {k: v.shape for k, v in obj.items()}
    flat = {k: s for k, s in shapes.items() if len(s) != 1}
    if flat:
        raise DataError(
            f"{len(flat)} array(s) are not one-dimensional: {flat}. Pass one 1-D array per "
            "column, e.g. values.ravel()."
        )
    lengths = {k: s[0] for k, s in shapes.items()}
    if len(set(lengths.values())) > 1:
        raise DataError(
            f"The arrays have different lengths: {lengths}. Every column needs one entry per event."
        )
    return dict(obj)


class ArrayColumns:
    """The columns of a mapping of 1-D numpy arrays, as the kernels take them."""

    def __init__(self, arrays: Mapping[str, np.ndarray]) -> None:
        self._arrays = dict(arrays)
        self.names = list(self._arrays)
        self.n_rows = len(next(iter(self._arrays.values())))

    def plain(self, name: str) -> Column:
        values = self._arrays[name]
        kind = values.dtype.kind
        if kind in "US":
            # As a pandas frame stores text: Python strings in an object array.
            values = values.astype(object)
            kind = "O"
        if kind == "f":
            missing = np.isnan(values)
        elif kind in "mM":
            missing = np.isnat(values)
        elif kind == "O":
            # None and float NaN are missing, as pandas reads an object column.
            missing = np.asarray((values == None) | (values != values), dtype=bool)  # noqa: E711
            if missing.any():
                values = values.copy()
                values[missing] = None
        else:
            missing = np.zeros(values.shape[0], dtype=bool)
        return Column(values, missing)

    def key(self, name: str) -> Column | ArrowText:
        """A column to encode: text as Arrow (one C pass) when pyarrow is installed."""
        values = self._arrays[name]
        if values.dtype.kind in "OUS" and _has_arrow():
            import pyarrow as pa

            arr = arrow_strings(values)
            if arr is not None:
                return ArrowText(pa.chunked_array([arr]))
        return self.plain(name)

    time = value = plain
    labels = key

    def attribute(self, name: str) -> np.ndarray:
        """The per-row values of an attribute column, as :meth:`plain` gives them."""
        return self.plain(name).values


class FrameColumns:
    """The columns of an eager narwhals frame, converted to numpy at this edge."""

    def __init__(self, frame: Any) -> None:
        self._frame = frame
        self.names = list(frame.columns)
        self.n_rows = len(frame)

    def plain(self, name: str) -> Column:
        series = self._frame[name]
        return Column(column_values(series), series.is_null().to_numpy())

    def key(self, name: str) -> Column | ArrowText:
        """A column to encode (ids, event types): Arrow text when it holds strings only."""
        text = arrow_text(self._frame[name])
        return self.plain(name) if text is None else ArrowText(text)

    def labels(self, name: str) -> Column | ArrowText:
        """A column of a few distinct values (event types) to encode, as :meth:`key`.

        Polars text is hashed as Arrow string views (no copy; 39 ms for 3M event types,
        where a categorical and its labels took 60 ms); where polars or pyarrow has no views,
        it becomes a categorical first: its codes and few labels come out of Arrow without
        copying every string into an Arrow string array.
        """
        series = self._frame[name]
        if (
            series.implementation.is_polars()
            and series.dtype == nw.String
            and _views(series.to_native()) is None
        ):
            text = arrow_text(series.cast(nw.Categorical))
            if text is not None:
                return ArrowText(text)
        return self.key(name)

    def time(self, name: str) -> Column:
        """Datetimes as naive wall-clock ``datetime64``, numbers as floats, text as objects."""
        series = self._frame[name]
        missing = series.is_null().to_numpy()
        dtype = series.dtype
        if dtype == nw.Date:
            series = series.cast(nw.Datetime("us"))
            dtype = series.dtype
        if isinstance(dtype, nw.Datetime) and dtype.time_zone is not None:
            series = series.dt.replace_time_zone(None)
        if isinstance(dtype, nw.Datetime):
            return Column(series.to_numpy(), missing)
        if dtype.is_numeric():
            values = series.to_numpy()
            # with nulls, the kernel refuses the column before it reads a value
            return Column(values if missing.any() else values.astype(float), missing)
        return Column(column_values(series), missing)

    def attribute(self, name: str) -> np.ndarray:
        """The per-row values of an attribute column, as :meth:`plain` gives them.

        Text that Arrow already holds (pyarrow, polars, Arrow-backed pandas) is expanded from
        its distinct labels: one Python string per distinct value instead of one per row,
        which on millions of events saves seconds and most of the memory of the log.
        """
        series = self._frame[name]
        text = arrow_text(series) if _arrow_backed(series) else None
        if text is None:
            return self.plain(name).values
        return expand_labels(text)

    def value(self, name: str) -> Column:
        """Numbers as floats; other columns as they are, for the kernel to convert."""
        series = self._frame[name]
        if series.dtype.is_numeric():
            values = series.to_numpy().astype(float, copy=False)
            return Column(values, np.isnan(values))
        return Column(series.to_numpy(), series.is_null().to_numpy())


def column_values(series: Any) -> np.ndarray:
    """A narwhals column as numpy, with its missing entries as None whatever the library.

    Categorical (pyarrow dictionary, pandas category, polars Categorical) columns are decoded
    to their labels first: pyarrow hands out the dictionary *indices* of nulls, which would
    otherwise turn a null into a real category. Missing entries of text or object columns
    become None (pandas says NaN, polars and pyarrow None); numeric columns keep NaN.
    """
    if series.dtype in (nw.Categorical, nw.Enum):
        series = series.cast(nw.String)
    values = series.to_numpy()
    # A column of nulls only has no type (polars/pyarrow Null) and comes back as float NaN.
    if values.dtype.kind in "OUS" or not series.dtype.is_numeric():
        missing = series.is_null().to_numpy()
        if missing.any():
            values = values.astype(object)
            values[missing] = None
    return values


def arrow_text(series: Any) -> Any:
    """The column as an Arrow string array when it holds text only, else None.

    polars and pyarrow columns convert without copying, pandas ``object`` columns with each
    distinct string converted once (:func:`~funnelkit.ingest.text_codes.arrow_strings`).
    Columns of numbers or mixed types stored as ``object``, and setups without pyarrow, take
    the general path, which keeps their own factorisation rules.
    """
    if series.dtype not in (nw.String, nw.Categorical, nw.Enum) or not _has_arrow():
        return None
    import pyarrow as pa

    native = series.to_native()
    if series.implementation.is_pandas() and native.dtype == object:
        # each distinct string converted once, not once per row
        arr = arrow_strings(native.to_numpy())
        if arr is None:
            return None
    else:
        try:
            # pyarrow columns as they are: narwhals would join their chunks into one copy
            arr = native if isinstance(native, pa.ChunkedArray) else _views(native)
            if arr is None:
                arr = series.to_arrow()
        except (pa.ArrowException, TypeError, ValueError, OverflowError):
            return None
    text = arr.type.value_type if pa.types.is_dictionary(arr.type) else arr.type
    if is_view(text) and (text != arr.type or not _arrow_takes_views()):
        # labels the sort kernels take (strings with offsets only), and views only where
        # this pyarrow hashes them
        arr = arr.cast(
            pa.dictionary(pa.int32(), pa.large_string()) if text != arr.type else pa.large_string()
        )
        text = pa.large_string()
    if not is_text_type(text):
        return None
    return arr


def _views(native: Any) -> Any:
    """A polars text column as Arrow string views, without copying (None for other columns,
    or where polars or pyarrow cannot): polars' default export copies every string into an
    array with offsets (12 ms for 3M ids of 32 bytes)."""
    polars = sys.modules.get("polars")
    if polars is None or not isinstance(native, polars.Series) or native.dtype != polars.String:
        return None
    level = getattr(polars, "CompatLevel", None)
    if level is None or not _arrow_takes_views():
        return None
    return native.to_arrow(compat_level=level.newest())


@functools.cache
def _arrow_takes_views() -> bool:
    """Whether this pyarrow hashes, casts and converts string views (from pyarrow 16 it has
    the type; its kernels came over several releases)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    try:
        views = pa.array(["a", "b" * 20, None], type=pa.string_view())
        encoded = pc.dictionary_encode(views)
        views.cast(pa.large_string())
        return encoded.dictionary.to_numpy(zero_copy_only=False).tolist() == ["a", "b" * 20]
    except (AttributeError, TypeError, pa.ArrowException):
        return False


def expand_labels(arr: Any) -> np.ndarray:
    """An object array of an Arrow text column, sharing one Python string per distinct value.

    Missing entries are None, as :func:`column_values` gives them.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    if isinstance(arr, pa.Array):
        arr = pa.chunked_array([arr])
    encoded = arr if pa.types.is_dictionary(arr.type) else pc.dictionary_encode(arr)
    parts = []
    for chunk in encoded.chunks:
        labels = np.empty(len(chunk.dictionary) + 1, dtype=object)
        labels[:-1] = chunk.dictionary.to_numpy(zero_copy_only=False)
        labels[-1] = None  # where the index is null
        index = pc.fill_null(chunk.indices, len(chunk.dictionary)).to_numpy()
        parts.append(labels[index])
    return np.concatenate(parts) if parts else np.empty(0, dtype=object)


def _arrow_backed(series: Any) -> bool:
    """A column whose data Arrow holds already (converting one of Python objects costs more)."""
    if series.implementation.is_pyarrow() or series.implementation.is_polars():
        return True
    dtype = getattr(series.to_native(), "dtype", None)
    return getattr(dtype, "storage", None) == "pyarrow" or "pyarrow" in str(dtype)


def _has_arrow() -> bool:
    # Asked at each call, so a pyarrow made unimportable after start-up is not used.
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        return False
    return True
