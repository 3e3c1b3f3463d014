"""Pieces shared by the lazy RFM and journeys paths: base projection, clock, result columns."""

from __future__ import annotations

from typing import Any

import numpy as np

from funnelkit._optional import import_optional
from funnelkit.aggregate._polars import base_frame
from funnelkit.aggregate._sql import BASE, base_select, dialect_for
from funnelkit.aggregate.sources import Columns, LazySource
from funnelkit.events import EventLog
from funnelkit.units import TimeUnit

__all__ = ["Clock", "arrow_columns", "base_projection", "collect_arrow", "valid"]


def base_projection(source: LazySource, cols: Columns, unit: TimeUnit | None) -> Any:
    """The native lazy base projection (see :mod:`funnelkit.aggregate._sql`)."""
    if source.engine == "polars":
        return base_frame(source.native, cols, unit)
    d = dialect_for(source.engine)
    return d.run(source.native, base_select(d, cols, unit, BASE))


def collect_arrow(engine: str, native: Any) -> Any:
    """Execute a lazy native query and return a pyarrow Table."""
    if engine == "polars":
        return native.collect().to_arrow()
    return dialect_for(engine).to_arrow(native)


def arrow_columns(table: Any) -> dict[str, np.ndarray]:
    """Columns of a pyarrow Table as numpy arrays (strings as object arrays).

    Integer columns with nulls become masked int64 arrays rather than floats with NaN, which
    would round nanosecond ticks.
    """
    pa_types = import_optional("pyarrow.types", purpose="Collecting aggregates")
    out: dict[str, np.ndarray] = {}
    for name in table.column_names:
        column = table.column(name)
        if column.null_count and pa_types.is_integer(column.type):
            data = column.fill_null(0).to_numpy().astype(np.int64)
            out[name] = np.ma.MaskedArray(data, mask=column.is_null().to_numpy())
        else:
            out[name] = column.to_numpy(zero_copy_only=False)
    return out


def valid(values: np.ndarray) -> np.ndarray:
    """Where a collected column holds a value (not null, not NaN)."""
    ok = ~np.ma.getmaskarray(values)
    data = np.ma.getdata(values)
    if data.dtype.kind == "f":
        ok &= ~np.isnan(data)
    return ok


class Clock:
    """User times, raw times (the in-memory path's ns or numbers) and engine ticks.

    Periods and unit conversions are delegated to a one-event :class:`EventLog`, so the lazy
    path uses exactly the in-memory rules (calendar periods, floats in the time unit).
    """

    def __init__(self, cols: Columns, unit: TimeUnit) -> None:
        self.is_datetime = cols.time_kind == "datetime"
        self.tick_ns = cols.time_ns
        self.unit = unit
        self._log = EventLog(
            customer_ids=np.zeros(1, dtype=np.int64),
            customer_codes=np.zeros(1, dtype=np.int64),
            raw_times=np.zeros(1, dtype=np.int64 if self.is_datetime else float),
            is_datetime=self.is_datetime,
            event_types=("event",),
            event_codes=np.zeros(1, dtype=np.int32),
            time_unit=unit,
        )

    def raw(self, value: Any, *, name: str = "time") -> Any:
        """A user-supplied timestamp (or number, for numeric logs) as a raw time."""
        return self._log.raw_time(value, name=name)

    def raw_from_ticks(self, ticks: Any) -> Any:
        if self.is_datetime:
            return int(ticks) * self.tick_ns
        return float(ticks)

    def ticks_from_raw(self, raw: Any) -> Any:
        """The largest tick not after ``raw``: ``k <= ticks(raw)`` iff ``raw(k) <= raw``."""
        if self.is_datetime:
            return int(raw) // self.tick_ns
        return float(raw)

    def raw_array(self, ticks: np.ndarray) -> np.ndarray:
        if self.is_datetime:
            return np.asarray(ticks, dtype=np.int64) * self.tick_ns
        return np.asarray(ticks, dtype=float)

    def period(self, raw: Any) -> int:
        return int(self._log.period_index(np.asarray([raw]), self.unit)[0])

    def to_unit(self, raw: Any) -> Any:
        return self._log.to_unit(raw, self.unit)

    def stamp(self, raw: Any) -> Any:
        """How RFM stores its observation and calibration ends."""
        if self.is_datetime:
            return np.datetime64(int(raw), "ns")
        return float(raw)
