"""The numpy engine: eager frames into the columnar arrays of :class:`funnelkit.EventLog`.

One vectorised pass per column: ids factorised (O(n) for dense integer ids), times to int64
nanoseconds of wall-clock time or floats, event types to codes, values checked, and one sort
by ``(customer, time)`` (a packed int64 key when the time resolution allows it). Every check
says what is wrong, how many rows, a few customer ids and the fix.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import narwhals as nw
import numpy as np

from funnelkit._timeparse import datetime64_to_ns, parse_timestamps
from funnelkit.exceptions import DataError, FunnelkitError, format_examples
from funnelkit.ingest.columns import (
    PURCHASE,
    check_unique_names,
    column_names,
    eager_frame,
    resolve_columns,
)

__all__ = ["collect", "ingest_frame"]


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
) -> dict[str, Any]:
    """The sorted arrays of an event log (the keyword arguments of ``EventLog``, unit aside)."""
    df = eager_frame(collect(frame), what="EventLog.from_frame")
    spec = resolve_columns(
        list(df.columns),
        customer_col=customer_col,
        time_col=time_col,
        event_col=event_col,
        value_col=value_col,
        attribute_cols=attribute_cols,
    )
    if len(df) == 0:
        raise DataError("The event log is empty: it has no rows. Check the filter or the file.")

    ids = _column_values(df[spec.customer])
    _null_check(
        df[spec.customer].is_null().to_numpy(),
        None,
        spec.customer,
        "have no customer id",
        "drop them or fill the ids",
    )
    codes, uniques = factorize(ids)

    raw, is_dt = _times(df, spec.time, ids, time_format)
    events, event_types = _event_codes(df, spec.event, ids)
    values = _values(df, spec.value, ids, allow_negative_values)
    attributes = {c: _column_values(df[c]) for c in spec.attributes}

    order = sort_order(codes, raw)
    if order is not None:
        codes, raw = codes[order], raw[order]
        events = events if len(event_types) == 1 else events[order]
        values = None if values is None else values[order]
        attributes = {k: v[order] for k, v in attributes.items()}
    return {
        "customer_ids": uniques,
        "customer_codes": codes,
        "raw_times": raw,
        "is_datetime": is_dt,
        "event_types": event_types,
        "event_codes": events,
        "values": values,
        "attributes": attributes,
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
            "or DuckDB frame, or use EventLog.from_csv / from_parquet."
        )
    return frame


def factorize(ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Integer codes (int32 when they fit) for ids, uniques sorted when orderable."""
    codes, uniques = _dense_integer_codes(ids)
    if codes is None:
        if "pandas" in sys.modules:
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


def _null_check(mask: np.ndarray, ids: np.ndarray | None, column: str, what: str, fix: str) -> None:
    if mask.any():
        bad = np.flatnonzero(mask)
        where = "" if ids is None else f" (e.g. customer ids {format_examples(ids[bad])})"
        shown = f" at rows {format_examples(bad)}" if ids is None else ""
        raise DataError(f"{bad.size} row(s) {what} in column {column!r}{where}{shown}; {fix}.")


def _times(df: Any, col: str, ids: np.ndarray, fmt: str | None) -> tuple[np.ndarray, bool]:
    series = df[col]
    _null_check(
        series.is_null().to_numpy(),
        ids,
        col,
        "have no timestamp",
        "drop them or fill the timestamps",
    )
    dtype = series.dtype
    if dtype.is_numeric():
        raw = series.to_numpy().astype(float, copy=False)
        _null_check(~np.isfinite(raw), ids, col, "have a non-finite time", "fix the times")
        return raw, False
    if dtype == nw.Date:
        series = series.cast(nw.Datetime("us"))
        dtype = series.dtype
    if isinstance(dtype, nw.Datetime) and dtype.time_zone is not None:
        series = series.dt.replace_time_zone(None)
    if isinstance(dtype, nw.Datetime):
        return datetime64_to_ns(series.to_numpy(), ids, column=col), True
    values = _column_values(series)
    if _only_numbers(values):
        # An object column of numbers is what pyarrow and polars would type as numeric.
        raw = values.astype(float)
        _null_check(~np.isfinite(raw), ids, col, "have a non-finite time", "fix the times")
        return raw, False
    return parse_timestamps(values, ids, column=col, fmt=fmt), True


def _only_numbers(values: np.ndarray) -> bool:
    """An object column holding real numbers only (its first entry is tested first: cheap)."""
    if values.dtype != object or values.size == 0:
        return False
    kinds = (int, float, np.integer, np.floating)
    if not isinstance(values[0], kinds) or isinstance(values[0], bool):
        return False
    return all(isinstance(v, kinds) and not isinstance(v, bool) for v in values)


def _event_codes(df: Any, col: str | None, ids: np.ndarray) -> tuple[np.ndarray, tuple[str, ...]]:
    if col is None:
        return np.zeros(len(df), dtype=np.int16), (PURCHASE,)
    series = df[col]
    _null_check(
        series.is_null().to_numpy(), ids, col, "have no event type", "drop them or label the events"
    )
    codes, uniques = factorize(_column_values(series).astype(str))
    return codes.astype(np.int32), tuple(str(u) for u in uniques)


def _column_values(series: Any) -> np.ndarray:
    """A column as numpy, with its missing entries as None whatever the library.

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


def _values(df: Any, col: str | None, ids: np.ndarray, allow_negative: bool) -> np.ndarray | None:
    if col is None:
        return None
    series = df[col]
    if not series.dtype.is_numeric():
        raw = series.to_numpy()
        converted = _to_float_or_nan(raw)
        bad = np.isnan(converted) & ~series.is_null().to_numpy()
        if bad.any():
            rows = np.flatnonzero(bad)
            raise DataError(
                f"{rows.size} row(s) of value column {col!r} are not numbers (e.g. "
                f"{format_examples(raw[rows], 3)} for customer ids {format_examples(ids[rows])})."
                " Clean the column or cast it to a numeric type."
            )
        values = converted
    else:
        values = series.to_numpy().astype(float, copy=False)
    if not allow_negative and np.any(values < 0):
        rows = np.flatnonzero(values < 0)
        raise DataError(
            f"{rows.size} row(s) of value column {col!r} are negative (e.g. customer ids "
            f"{format_examples(ids[rows])}). If these are refunds, pass "
            "allow_negative_values=True; otherwise fix the values."
        )
    if np.any(np.isinf(values)):
        rows = np.flatnonzero(np.isinf(values))
        raise DataError(
            f"{rows.size} row(s) of value column {col!r} are infinite (e.g. customer "
            f"ids {format_examples(ids[rows])})."
        )
    return values


def _to_float_or_nan(raw: np.ndarray) -> np.ndarray:
    if "pandas" in sys.modules:
        import pandas as pd

        return np.asarray(pd.to_numeric(pd.Series(raw), errors="coerce"), dtype=float)
    out = np.full(raw.shape[0], np.nan)
    for value in np.unique(raw[raw != None]):  # noqa: E711 - elementwise null test
        with contextlib.suppress(TypeError, ValueError):
            out[raw == value] = float(value)
    return out


def sort_order(codes: np.ndarray, raw: np.ndarray) -> np.ndarray | None:
    """Permutation sorting by (customer, time), ties kept in input order; None if sorted."""
    if np.all(codes[1:] >= codes[:-1]):
        same = codes[1:] == codes[:-1]
        if np.all(raw[1:][same] >= raw[:-1][same]):
            return None
    key = _packed_key(codes, raw)
    if key is None:
        return np.lexsort((raw, codes))
    order = _argsort_halves(key)
    # The packed sort is not stable: put runs of equal keys back in input order (determinism).
    sorted_key = key[order]
    equal = sorted_key[1:] == sorted_key[:-1]
    if equal.any():
        tied = np.zeros(order.size, dtype=bool)
        tied[1:] |= equal
        tied[:-1] |= equal
        where = np.flatnonzero(tied)
        order[where] = order[where][np.lexsort((order[where], sorted_key[where]))]
    return order


def _argsort_halves(key: np.ndarray) -> np.ndarray:
    """argsort of a large int64 key, the lower and upper halves of the key range in parallel.

    numpy releases the GIL while sorting, so two threads use two cores; concatenating works
    because every key of the lower half is smaller than every key of the upper half.
    """
    if key.size < 2_000_000:
        return np.argsort(key)
    sample = key[:: max(1, key.size // 100_000)]
    middle = np.partition(sample, sample.size // 2)[sample.size // 2]
    low = np.flatnonzero(key < middle)
    high = np.flatnonzero(key >= middle)
    with ThreadPoolExecutor(max_workers=2) as pool:
        parts = list(pool.map(lambda idx: idx[np.argsort(key[idx])], (low, high)))
    return np.concatenate(parts)


def _packed_key(codes: np.ndarray, raw: np.ndarray) -> np.ndarray | None:
    """``code << bits | time`` in one int64 when the time resolution allows it, else None."""
    if raw.dtype != np.int64:
        return None
    offset = raw - raw.min()
    for step in (10**9, 10**6, 10**3, 1):  # coarsest exact resolution: s, ms, us, ns
        if step == 1 or not np.any(offset % step):
            break
    if step > 1:
        offset //= step
    time_bits = int(offset.max()).bit_length()
    code_bits = int(codes.max()).bit_length()
    if time_bits + code_bits > 62:
        return None
    offset |= codes.astype(np.int64) << time_bits
    return offset
