"""EventLog: the one canonical in-memory form of customer event data.

Any supported input (pandas, polars, pyarrow, DuckDB, CSV, Parquet) is converted once into
columnar numpy arrays sorted by ``(customer, time)``; nothing downstream knows which dataframe
library the user had.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import narwhals as nw
import numpy as np

from funnelkit._columns import (
    DEFAULT_EVENT_COL,
    check_unique_names,
    column_names,
    eager_frame,
    resolve_roles,
)
from funnelkit._timeparse import datetime64_to_ns, parse_timestamps, to_ns_scalar
from funnelkit.exceptions import DataError, FunnelkitError, format_examples
from funnelkit.units import NS_PER_DAY, TimeUnit, TimeUnitLike

if TYPE_CHECKING:
    from funnelkit.rfm import RFM

__all__ = ["EventLog", "IngestReport"]

#: Event type given to every row of a log read without an event column.
PURCHASE = "purchase"


@dataclass(frozen=True)
class IngestReport:
    """What ingestion did to the rows: nothing is dropped silently."""

    n_rows: int
    n_customers: int
    n_event_types: int
    notes: tuple[str, ...] = field(default=())


class EventLog:
    """Customer events as columnar numpy arrays, sorted by ``(customer, time)``.

    Attributes
    ----------
    customer_ids : ndarray
        The original customer ids, one per customer, in code order.
    customer_codes : ndarray of int64
        Per event, the index of its customer in ``customer_ids``.
    event_types : tuple of str
        Distinct event names; ``event_codes`` index into it.
    values : ndarray of float or None
        Per-event monetary value (NaN where the source had none).
    attributes : dict of str to ndarray
        Per-event extra columns (e.g. acquisition channel).
    time_unit : TimeUnit
        Unit of :attr:`times` (and of the raw numbers, for numeric logs).

    Examples
    --------
    >>> import pandas as pd
    >>> frame = pd.DataFrame({
    ...     "customer_id": ["a", "a", "b"],
    ...     "timestamp": pd.to_datetime(["2024-01-01", "2024-01-05", "2024-01-02"]),
    ...     "event": ["visit", "purchase", "visit"]})
    >>> log = EventLog.from_frame(frame)
    >>> len(log), log.n_customers, log.event_types
    (3, 2, ('purchase', 'visit'))
    """

    def __init__(
        self,
        *,
        customer_ids: np.ndarray,
        customer_codes: np.ndarray,
        raw_times: np.ndarray,
        is_datetime: bool,
        event_types: Sequence[str],
        event_codes: np.ndarray,
        values: np.ndarray | None = None,
        attributes: dict[str, np.ndarray] | None = None,
        time_unit: TimeUnitLike = "D",
        report: IngestReport | None = None,
    ) -> None:
        self.customer_ids = customer_ids
        self.customer_codes = customer_codes
        #: int64 ns since the Unix epoch (wall-clock time) for datetime logs, float otherwise
        self.raw_times = raw_times
        self.is_datetime = is_datetime
        self.event_types = tuple(event_types)
        self.event_codes = event_codes
        self.values = values
        self.attributes = dict(attributes or {})
        self.time_unit = TimeUnit.parse(time_unit)
        self.report = report or IngestReport(
            len(customer_codes), len(customer_ids), len(self.event_types)
        )
        starts = np.flatnonzero(customer_codes[1:] != customer_codes[:-1]) + 1
        starts = np.concatenate([np.zeros(min(1, customer_codes.size), dtype=np.int64), starts])
        #: index of each customer's first event (events are sorted by customer, then time)
        self.customer_starts = starts

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_frame(
        cls,
        frame: Any,
        *,
        customer_col: str = "customer_id",
        time_col: str = "timestamp",
        event_col: str | None = DEFAULT_EVENT_COL,
        value_col: str | None = None,
        attribute_cols: Sequence[str] = (),
        time_unit: TimeUnitLike = "D",
        time_format: str | None = None,
        allow_negative_values: bool = False,
    ) -> EventLog:
        """Ingest events from a pandas, polars, pyarrow or DuckDB frame.

        Parameters
        ----------
        frame
            Any frame narwhals understands (a DuckDB relation is collected; a PySpark
            DataFrame is refused, use the aggregation path instead).
        customer_col, time_col
            Customer id and event time columns. Times may be datetimes, ISO strings or numbers
            (numbers are read as ``time_unit`` units).
        event_col
            Event type column. If the default ``"event"`` is absent, every row is a purchase
            (a plain transaction log); pass ``None`` to say so explicitly.
        value_col
            Monetary value per event (purchases); must be numeric and non-negative unless
            ``allow_negative_values=True`` (refunds).
        attribute_cols
            Extra columns to keep, e.g. acquisition ``channel``.
        time_unit
            Unit of :attr:`times`; for numeric time columns, the unit the numbers are in. It is
            the default unit of :meth:`rfm` and :meth:`funnelkit.Funnel.journeys`.
        time_format
            strftime format for string timestamps (default: ISO 8601, then inferred).
        """
        native = _collect(frame)
        df = eager_frame(native, what="EventLog.from_frame")
        roles = resolve_roles(
            list(df.columns),
            customer_col=customer_col,
            time_col=time_col,
            event_col=event_col,
            value_col=value_col,
            attribute_cols=attribute_cols,
        )
        event_col = roles.event
        if len(df) == 0:
            raise DataError("The event log is empty: it has no rows. Check the filter or the file.")

        ids = _column_values(df[customer_col])
        _null_check(
            df[customer_col].is_null().to_numpy(),
            None,
            customer_col,
            "have no customer id",
            "drop them or fill the ids",
        )
        codes, uniques = _factorize(ids)

        raw, is_dt = _times(df, time_col, ids, time_format)
        events, event_types = _event_codes(df, event_col, ids)
        values = _values(df, value_col, ids, allow_negative_values)
        attributes = {c: _column_values(df[c]) for c in attribute_cols}

        order = _sort_order(codes, raw)
        if order is not None:
            codes, raw = codes[order], raw[order]
            events = events if len(event_types) == 1 else events[order]
            values = None if values is None else values[order]
            attributes = {k: v[order] for k, v in attributes.items()}
        report = IngestReport(len(codes), len(uniques), len(event_types))
        return cls(
            customer_ids=uniques,
            customer_codes=codes,
            raw_times=raw,
            is_datetime=is_dt,
            event_types=event_types,
            event_codes=events,
            values=values,
            attributes=attributes,
            time_unit=time_unit,
            report=report,
        )

    @classmethod
    def from_csv(cls, path: str | Path, **kwargs: Any) -> EventLog:
        """Read a CSV file (with pandas if installed, else polars or pyarrow) and ingest it.

        Keyword arguments are those of :meth:`from_frame`.
        """
        native = _read_with_first_available(nw.read_csv, path)
        return cls.from_frame(native, **kwargs)

    @classmethod
    def from_parquet(cls, path: str | Path, **kwargs: Any) -> EventLog:
        """Read a Parquet file and ingest it. Keyword arguments are those of :meth:`from_frame`."""
        native = _read_with_first_available(nw.read_parquet, path, prefer="pyarrow")
        return cls.from_frame(native, **kwargs)

    # ------------------------------------------------------------------ views
    def __len__(self) -> int:
        return int(self.customer_codes.shape[0])

    @property
    def n_customers(self) -> int:
        return int(self.customer_ids.shape[0])

    @property
    def times(self) -> np.ndarray:
        """Event times as floats in :attr:`time_unit` (since the Unix epoch for datetime logs)."""
        return self.to_unit(self.raw_times, self.time_unit)

    def to_unit(self, raw: Any, unit: TimeUnitLike) -> Any:
        """Convert raw times (ns for datetime logs, numbers otherwise) to floats in ``unit``."""
        target = TimeUnit.parse(unit)
        if self.is_datetime:
            return np.asarray(raw, dtype=float) / (target.days * NS_PER_DAY)
        return np.asarray(raw, dtype=float) * (self.time_unit.days / target.days)

    def raw_time(self, value: Any, *, name: str = "time") -> Any:
        """A user-supplied time (timestamp, or number for numeric logs) in raw units.

        ``name`` is the argument the time was given as (``observation_end``...), for errors.
        """
        if self.is_datetime:
            if isinstance(value, int | float | np.integer | np.floating):
                raise FunnelkitError(
                    f"{name}: this log has datetime timestamps; pass a date or timestamp, "
                    f"not {value!r}."
                )
            return to_ns_scalar(value, name=name)
        numeric = isinstance(value, int | float | np.integer | np.floating)
        if not numeric or not np.isfinite(value):
            raise FunnelkitError(
                f"{name}: this log has numeric times (in {self.time_unit.value}s); pass a "
                f"number, not {value!r}" + (" (it must be finite)." if numeric else ".")
            )
        return float(value)

    def raw_to_timestamp(self, raw: Any) -> Any:
        """Raw times back to ``datetime64[ns]`` (datetime logs) or unchanged numbers."""
        if not self.is_datetime:
            return raw
        return np.asarray(raw, dtype=np.int64).view("datetime64[ns]")

    @property
    def last_time(self) -> Any:
        """Latest raw event time in the log."""
        return self.raw_times.max()

    def period_index(self, raw: Any, unit: TimeUnitLike) -> np.ndarray:
        """Index of the calendar period (hour, day, Monday-start week, month, year) of raw times.

        For numeric logs, periods are consecutive intervals of length one ``unit``.
        """
        target = TimeUnit.parse(unit)
        raw = np.asarray(raw)
        if not self.is_datetime:
            return np.floor(self.to_unit(raw, target)).astype(np.int64)
        ns = raw.astype(np.int64, copy=False)
        if target is TimeUnit.HOUR:
            return np.floor_divide(ns, 3600 * 10**9)
        days = np.floor_divide(ns, NS_PER_DAY)
        if target is TimeUnit.DAY:
            return days
        if target is TimeUnit.WEEK:
            # 1970-01-01 was a Thursday: shift by 3 days so weeks run Monday..Sunday (pandas 'W').
            return np.floor_divide(days + 3, 7)
        code = "datetime64[M]" if target is TimeUnit.MONTH else "datetime64[Y]"
        return ns.view("datetime64[ns]").astype(code).astype(np.int64)

    def event_mask(self, names: Sequence[str]) -> np.ndarray:
        """Boolean mask of the events whose type is in ``names``."""
        wanted = [i for i, e in enumerate(self.event_types) if e in set(names)]
        if len(wanted) == 1:
            return self.event_codes == wanted[0]
        return np.isin(self.event_codes, wanted)

    def customer_attributes(self) -> dict[str, np.ndarray]:
        """Per-customer attributes, taken from each customer's first event."""
        return {k: v[self.customer_starts] for k, v in self.attributes.items()}

    def rfm(
        self,
        *,
        time_unit: TimeUnitLike | None = None,
        observation_end: Any = None,
        calibration_end: Any = None,
        purchase_events: Sequence[str] | None = None,
    ) -> RFM:
        """Recency/frequency/monetary summary per purchasing customer.

        Periods are calendar periods of ``time_unit`` (hours, days, Monday-start weeks,
        calendar months, calendar years); purchases in the same period count once and their
        values are summed, exactly as lifetimes' ``summary_data_from_transaction_data``.

        Parameters
        ----------
        time_unit
            Period length for frequency, recency and T (default: the log's own
            :attr:`time_unit`, as for :meth:`funnelkit.Funnel.journeys`).
        observation_end
            End of observation (default: the last event in the log). Purchases in later
            periods are ignored.
        calibration_end
            If given, recency/frequency/T describe purchases up to this time and the holdout
            columns describe purchases after it up to ``observation_end`` (as lifetimes'
            ``calibration_and_holdout_data``).
        purchase_events
            Event types that are purchases (default ``["purchase"]``; every row for a log
            read without an event column).
        """
        from funnelkit._rfm_build import build_rfm

        return build_rfm(
            self,
            time_unit=self.time_unit if time_unit is None else time_unit,
            observation_end=observation_end,
            calibration_end=calibration_end,
            purchase_events=purchase_events,
        )

    def __repr__(self) -> str:
        kind = "datetime" if self.is_datetime else f"numeric ({self.time_unit.value}s)"
        return (
            f"<EventLog: {len(self)} events, {self.n_customers} customers, "
            f"{len(self.event_types)} event types, {kind} times>"
        )


# ---------------------------------------------------------------------- ingestion helpers
def _collect(frame: Any) -> Any:
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


def _factorize(ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
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
    codes, uniques = _factorize(_column_values(series).astype(str))
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


def _sort_order(codes: np.ndarray, raw: np.ndarray) -> np.ndarray | None:
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


def _read_with_first_available(reader: Any, path: str | Path, prefer: str = "pandas") -> Any:
    candidates = [prefer] + [b for b in ("pandas", "polars", "pyarrow") if b != prefer]
    for backend in candidates:
        try:
            __import__(backend)
        except ImportError:
            continue
        try:
            return reader(str(path), backend=backend).to_native()
        except OSError:
            raise  # a missing or unreadable file: the reader's own message is the clearest
        except Exception as exc:
            kind = "Parquet" if prefer == "pyarrow" else "CSV"
            raise DataError(
                f"Could not read {str(path)!r} as {kind} ({type(exc).__name__}: "
                f"{str(exc).strip()[:200]}). Check that it is a non-empty {kind} file"
                + (" in UTF-8 text with a header row." if kind == "CSV" else ".")
            ) from exc
    raise FunnelkitError(
        "Reading files needs pandas, polars or pyarrow: pip install 'funnelkit[pandas]'."
    )
