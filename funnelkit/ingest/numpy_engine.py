"""The numpy engine: eager frames and mappings of numpy arrays into :class:`funnelkit.EventLog`.

The kernels take numpy arrays and null masks (:mod:`funnelkit.ingest.columns` converts a
frame's columns at its edge; a mapping of arrays goes in as it is), so both meet the same
checks.

One vectorised pass per column: ids factorised (O(n) for dense integer ids; text through Arrow
dictionary codes or packed into integers, :mod:`funnelkit.ingest.text_codes`, so no Python
string is made per row, on a second thread while the other columns are read), times to int64
nanoseconds of wall-clock time or floats, event types to codes, values checked, and one sort
by ``(customer, time)`` on a packed uint64 key (:mod:`funnelkit.ingest.sorting`). Every
check says what is wrong, how many rows, a few customer ids and the fix; the ids an error
shows are looked up only when it is raised.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import narwhals as nw
import numpy as np

from funnelkit._timeparse import datetime64_to_ns, parse_timestamps
from funnelkit.exceptions import DataError, FunnelkitError, format_examples
from funnelkit.ingest.columns import (
    PURCHASE,
    ArrayColumns,
    ArrowText,
    Column,
    ColumnSpec,
    FrameColumns,
    array_columns,
    check_unique_names,
    column_names,
    eager_frame,
    resolve_columns,
)
from funnelkit.ingest.files import release_arrow_memory
from funnelkit.ingest.sorting import reorder, sort_order, sorted_order_and_codes
from funnelkit.ingest.text_codes import dictionary_codes

__all__ = ["collect", "dictionary_codes", "ingest_frame", "sort_order"]


def ingest_frame(
    frame: Any,
    *,
    customer_col: str,
    time_col: str,
    event_col: str | None,
    value_col: str | None,
    attribute_cols: Sequence[str],
    time_format: str | None,
    allow_negative_values: bool,
    keep_events: Sequence[str] | None = None,
) -> dict[str, Any]:
    """The sorted arrays of an event log (the keyword arguments of ``EventLog``, unit aside).

    ``frame`` is an eager or lazy frame, or a mapping of column names to 1-D numpy arrays.
    With ``keep_events``, every row is read and checked but only the events of those types
    are sorted and returned (the purchases an RFM summary reads), with ``last_time``, the
    latest time of all events; the customers and event types stay those of every row.
    """
    arrays = array_columns(frame)
    reader: FrameColumns | ArrayColumns
    if arrays is not None:
        reader = ArrayColumns(arrays)
    else:
        reader = FrameColumns(eager_frame(collect(frame), what="EventLog.from_frame"))
    spec = resolve_columns(
        reader.names,
        customer_col=customer_col,
        time_col=time_col,
        event_col=event_col,
        value_col=value_col,
        attribute_cols=attribute_cols,
    )
    if reader.n_rows == 0:
        raise DataError("The event log is empty: it has no rows. Check the filter or the file.")

    id_column = reader.key(spec.customer)
    _null_check(id_column.missing, None, spec.customer, "have no customer id", FILL_IDS)
    with ThreadPoolExecutor(max_workers=1) as pool:
        # Arrow hashes the ids without the GIL: the other columns are read meanwhile.
        ids = RowIds(pool.submit(_customer_codes, id_column))
        try:
            columns = _other_columns(reader, spec, ids, time_format, allow_negative_values)
        except Exception:
            ids.codes  # noqa: B018 - an error of the ids column is reported first
            raise
        codes = ids.codes
    uniques = ids.uniques
    del ids  # the unsorted codes are freed once the sorted ones replace them
    if keep_events is not None:
        columns["last_time"] = columns["raw_times"].max()
        codes = _keep_events(codes, columns, keep_events)
    found = sorted_order_and_codes(codes, columns["raw_times"])
    if found is not None:
        order, codes = found
        del found
        # Arrays that need no reordering are left out: one event type, no values.
        names = ["raw_times", "values", "event_codes"]
        names = [n for n in names if columns[n] is not None]
        if len(columns["event_types"]) == 1:
            names.remove("event_codes")  # all zeros, in any order
        attributes = columns.pop("attributes")
        keys = list(attributes)
        # Handed over (no other reference kept): each column is freed once it is gathered.
        unsorted = [*(columns.pop(n) for n in names), *(attributes.pop(k) for k in keys)]
        gathered = reorder(order, unsorted, release=True)
        columns.update(zip(names, gathered[: len(names)], strict=True))
        columns["attributes"] = dict(zip(keys, gathered[len(names) :], strict=True))
    # the ids' hash table and the columns' conversions were Arrow's: hand back its pages
    release_arrow_memory(reader.n_rows)
    return {"customer_ids": uniques, "customer_codes": codes, **columns}


def _keep_events(codes: np.ndarray, columns: dict[str, Any], names: Sequence[str]) -> np.ndarray:
    """The rows of events named ``names`` only, taken in place from ``columns`` (codes returned).

    Dropped before the sort, so the sort and the gathers after it see only the kept rows.
    """
    wanted = [i for i, e in enumerate(columns["event_types"]) if e in set(names)]
    if len(wanted) == len(columns["event_types"]):
        return codes
    events = columns["event_codes"]
    keep = events == wanted[0] if len(wanted) == 1 else np.isin(events, wanted)
    rows = np.flatnonzero(keep)
    for name in ("raw_times", "values", "event_codes"):
        if columns[name] is not None:
            columns[name] = columns[name][rows]
    columns["attributes"] = {k: v[rows] for k, v in columns["attributes"].items()}
    return codes[rows]


def _other_columns(
    reader: FrameColumns | ArrayColumns,
    spec: ColumnSpec,
    ids: RowIds,
    time_format: str | None,
    allow_negative_values: bool,
) -> dict[str, Any]:
    """Times, event codes, values and attributes, checked in this order (unsorted)."""
    raw, is_dt = _times(reader.time(spec.time), spec.time, ids, time_format)
    events, event_types = _event_codes(
        None if spec.event is None else reader.labels(spec.event), spec.event, ids, reader.n_rows
    )
    values = None if spec.value is None else _values(reader.value(spec.value), spec.value, ids)
    if values is not None:
        _check_values(values, spec.value or "", ids, allow_negative_values)
    return {
        "raw_times": raw,
        "is_datetime": is_dt,
        "event_types": event_types,
        "event_codes": events,
        "values": values,
        "attributes": {c: reader.attribute(c) for c in spec.attributes},
    }


def collect(frame: Any) -> Any:
    """An eager native frame of ``frame``: lazy relations are collected, Spark is refused."""
    if type(frame).__module__.startswith("pyspark"):
        raise FunnelkitError(
            "EventLog.from_frame would pull every raw event of a PySpark DataFrame into this "
            "process. Aggregate where the data lives instead: RFM.from_events(sdf, ...) or "
            "Funnel.journeys(sdf, ...)."
        )
    names = column_names(frame)
    if names is not None:
        check_unique_names(names)
    obj = nw.from_native(frame, pass_through=True)
    if isinstance(obj, nw.LazyFrame):
        return obj.collect().to_native()
    if obj is frame and not isinstance(obj, nw.DataFrame):
        raise DataError(
            f"Unsupported input of type {type(frame).__name__}: pass a pandas, polars, pyarrow "
            "or DuckDB frame, a mapping of column names to 1-D numpy arrays, or use "
            "EventLog.from_csv / from_parquet."
        )
    return frame


class RowIds:
    """The customer id of each row, made only for the rows an error message shows.

    Holds the customer codes and sorted ids, or the future that computes them. Indexing (a
    mask, positions or a slice) returns those rows' ids as an ndarray; building the id of
    every row up front would cost one Python object per event.
    """

    def __init__(self, encoded: Future[tuple[np.ndarray, np.ndarray]]) -> None:
        self._encoded = encoded

    @property
    def codes(self) -> np.ndarray:
        """Code of each row's customer (waits for the encoding; raises its error)."""
        return self._encoded.result()[0]

    @property
    def uniques(self) -> np.ndarray:
        """The distinct customer ids, sorted when orderable."""
        return self._encoded.result()[1]

    def __getitem__(self, rows: Any) -> np.ndarray:
        return self.uniques[self.codes[rows]]

    def __len__(self) -> int:
        return int(self.codes.shape[0])


def _customer_codes(column: Column | ArrowText) -> tuple[np.ndarray, np.ndarray]:
    """Sorted customer codes and ids; text ids go through Arrow dictionary codes."""
    if isinstance(column, ArrowText):
        return dictionary_codes(column.array)
    return factorize(column.values)


FILL_IDS = "drop them or fill the ids"


def factorize(ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Integer codes (int32 when they fit) for ids, uniques sorted when orderable."""
    codes, uniques = _dense_integer_codes(ids)
    if codes is None:
        if sys.modules.get("pandas") is not None:
            import pandas as pd

            try:
                codes, uniques = pd.factorize(ids, sort=True)
            except TypeError:
                codes, uniques = pd.factorize(ids, sort=False)
            uniques = np.asarray(uniques)
        else:
            try:
                uniques, codes = np.unique(ids, return_inverse=True)
            except TypeError as exc:
                raise DataError(
                    "Customer ids mix types that cannot be ordered (e.g. numbers and strings); "
                    "cast the column to one type."
                ) from exc
    small = uniques.shape[0] < np.iinfo(np.int32).max
    return codes.astype(np.int32 if small else np.int64, copy=False), uniques


def _dense_integer_codes(ids: np.ndarray) -> tuple[np.ndarray | None, np.ndarray]:
    """O(n) factorisation of integer ids whose range is not much larger than their count."""
    if ids.dtype.kind not in "iu" or ids.size == 0:
        return None, ids
    low, high = int(ids.min()), int(ids.max())
    span = high - low + 1
    if span > 4 * ids.size + 1024:
        return None, ids
    shifted = ids - low
    present = np.zeros(span, dtype=bool)
    present[shifted] = True
    lookup = np.cumsum(present, dtype=np.int64) - 1
    uniques = (np.flatnonzero(present) + low).astype(ids.dtype)
    return lookup[shifted], uniques


def _null_check(mask: np.ndarray, ids: RowIds | None, column: str, what: str, fix: str) -> None:
    if mask.any():
        bad = np.flatnonzero(mask)
        where = "" if ids is None else f" (e.g. customer ids {format_examples(ids[bad])})"
        shown = f" at rows {format_examples(bad)}" if ids is None else ""
        raise DataError(f"{bad.size} row(s) {what} in column {column!r}{where}{shown}; {fix}.")


def _times(column: Column, name: str, ids: RowIds, fmt: str | None) -> tuple[np.ndarray, bool]:
    fix = "drop them or fill the timestamps"
    _null_check(column.missing, ids, name, "have no timestamp", fix)
    values = column.values
    if values.dtype.kind == "M":
        return datetime64_to_ns(values, ids, column=name), True
    if values.dtype.kind in "iuf" or _only_numbers(values):
        # An object column of numbers is what pyarrow and polars would type as numeric.
        raw = values.astype(float, copy=False)
        _null_check(~np.isfinite(raw), ids, name, "have a non-finite time", "fix the times")
        return raw, False
    return parse_timestamps(values, ids, column=name, fmt=fmt), True


def _only_numbers(values: np.ndarray) -> bool:
    """An object column holding real numbers only (its first entry is tested first: cheap)."""
    if values.dtype != object or values.size == 0:
        return False
    kinds = (int, float, np.integer, np.floating)
    if not isinstance(values[0], kinds) or isinstance(values[0], bool):
        return False
    return all(isinstance(v, kinds) and not isinstance(v, bool) for v in values)


def _event_codes(
    column: Column | ArrowText | None, name: str | None, ids: RowIds, n_rows: int
) -> tuple[np.ndarray, tuple[str, ...]]:
    if column is None or name is None:
        return np.zeros(n_rows, dtype=np.int16), (PURCHASE,)
    _null_check(column.missing, ids, name, "have no event type", "drop them or label the events")
    if isinstance(column, ArrowText):
        codes, uniques = dictionary_codes(column.array, pack=False)
        return codes, tuple(str(u) for u in uniques)
    values = column.values
    if values.dtype.kind in "biuf":
        # Typed values: factorise the numbers, then name and sort only the distinct ones.
        raw_codes, raw_uniques = factorize(values)
        names, merged = np.unique(raw_uniques.astype(str), return_inverse=True)
        return merged.astype(np.int32)[raw_codes], tuple(str(u) for u in names)
    codes, uniques = factorize(values.astype(str))
    return codes.astype(np.int32), tuple(str(u) for u in uniques)


def _values(column: Column, name: str, ids: RowIds) -> np.ndarray:
    """The value column as floats (missing values NaN); text that is not a number refused."""
    raw = column.values
    if raw.dtype.kind in "iuf":
        return raw.astype(float, copy=False)
    converted = _to_float_or_nan(raw)
    bad = np.isnan(converted) & ~column.missing
    if bad.any():
        rows = np.flatnonzero(bad)
        raise DataError(
            f"{rows.size} row(s) of value column {name!r} are not numbers (e.g. "
            f"{format_examples(raw[rows], 3)} for customer ids {format_examples(ids[rows])})."
            " Clean the column or cast it to a numeric type."
        )
    return converted


def _check_values(values: np.ndarray, name: str, ids: RowIds, allow_negative: bool) -> None:
    if not allow_negative and np.any(values < 0):
        rows = np.flatnonzero(values < 0)
        raise DataError(
            f"{rows.size} row(s) of value column {name!r} are negative (e.g. customer ids "
            f"{format_examples(ids[rows])}). If these are refunds, pass "
            "allow_negative_values=True; otherwise fix the values."
        )
    if np.any(np.isinf(values)):
        rows = np.flatnonzero(np.isinf(values))
        raise DataError(
            f"{rows.size} row(s) of value column {name!r} are infinite (e.g. customer "
            f"ids {format_examples(ids[rows])})."
        )


def _to_float_or_nan(raw: np.ndarray) -> np.ndarray:
    if sys.modules.get("pandas") is not None:
        import pandas as pd

        return np.asarray(pd.to_numeric(pd.Series(raw), errors="coerce"), dtype=float)
    out = np.full(raw.shape[0], np.nan)
    for value in np.unique(raw[raw != None]):  # noqa: E711 - elementwise null test
        with contextlib.suppress(TypeError, ValueError):
            out[raw == value] = float(value)
    return out
