"""The time axis of an event log: raw times, their unit, calendar periods and stamps.

Raw times are int64 nanoseconds of wall-clock time since the Unix epoch for datetime logs and
plain numbers (in :attr:`TimeAxis.unit`) for numeric logs. The in-memory log and the lazy
engines share this one object, so periods, unit conversions and stored ends agree exactly.
Engines count time in integer *ticks* of ``tick_ns`` nanoseconds (1 or 1000).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from funnelkit._timeparse import to_ns_scalar
from funnelkit.exceptions import FunnelkitError
from funnelkit.units import NS_PER_DAY, TimeUnit, TimeUnitLike

__all__ = ["TimeAxis"]

_NUMBER = (int, float, np.integer, np.floating)


@dataclass(frozen=True)
class TimeAxis:
    """Whether raw times are datetimes or numbers, their unit, and the conversions between.

    Examples
    --------
    >>> axis = TimeAxis(is_datetime=True, unit=TimeUnit.WEEK)
    >>> raw = axis.raw("2024-01-03")
    >>> axis.period(raw), axis.period(raw, "M"), float(axis.to_unit(raw, "D"))
    (2818, 648, 19725.0)
    """

    is_datetime: bool
    unit: TimeUnit = TimeUnit.DAY
    tick_ns: int = 1

    @classmethod
    def of(cls, is_datetime: bool, unit: TimeUnitLike, *, tick_ns: int = 1) -> TimeAxis:
        """An axis with ``unit`` given as a name or code."""
        return cls(bool(is_datetime), TimeUnit.parse(unit), int(tick_ns))

    # ------------------------------------------------------------------ user times
    def raw(self, value: Any, *, name: str = "time") -> Any:
        """A user-supplied time (timestamp, or number for numeric logs) in raw units.

        ``name`` is the argument the time was given as (``observation_end``...), for errors.
        """
        numeric = isinstance(value, _NUMBER)
        if self.is_datetime:
            if numeric:
                raise FunnelkitError(
                    f"{name}: this log has datetime timestamps; pass a date or timestamp, "
                    f"not {value!r}."
                )
            return to_ns_scalar(value, name=name)
        if not numeric or not np.isfinite(value):
            raise FunnelkitError(
                f"{name}: this log has numeric times (in {self.unit.value}s); pass a "
                f"number, not {value!r}" + (" (it must be finite)." if numeric else ".")
            )
        return float(value)

    # ------------------------------------------------------------------ conversions
    def to_unit(self, raw: Any, unit: TimeUnitLike | None = None) -> Any:
        """Raw times as floats in ``unit`` (default :attr:`unit`), since the epoch if datetime."""
        target = self.unit if unit is None else TimeUnit.parse(unit)
        if self.is_datetime:
            return np.asarray(raw, dtype=float) / (target.days * NS_PER_DAY)
        return np.asarray(raw, dtype=float) * (self.unit.days / target.days)

    def to_timestamp(self, raw: Any) -> Any:
        """Raw times as ``datetime64[ns]`` (datetime logs) or unchanged numbers."""
        if not self.is_datetime:
            return raw
        return np.asarray(raw, dtype=np.int64).view("datetime64[ns]")

    def stamp(self, raw: Any) -> Any:
        """One raw time as stored in results: a ``datetime64[ns]`` or a float."""
        if self.is_datetime:
            return np.datetime64(int(raw), "ns")
        return float(raw)

    def period_index(self, raw: Any, unit: TimeUnitLike | None = None) -> np.ndarray:
        """Index of the calendar period (hour, day, Monday-start week, month, year) of raw times.

        For numeric logs, periods are consecutive intervals of length one ``unit``.
        """
        target = self.unit if unit is None else TimeUnit.parse(unit)
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

    def period(self, raw: Any, unit: TimeUnitLike | None = None) -> int:
        """The calendar period index of one raw time."""
        return int(self.period_index(np.asarray([raw]), unit)[0])

    # ------------------------------------------------------------------ engine ticks
    def raw_from_ticks(self, ticks: Any) -> Any:
        """One engine tick count as a raw time."""
        if self.is_datetime:
            return int(ticks) * self.tick_ns
        return float(ticks)

    def ticks_from_raw(self, raw: Any) -> Any:
        """The largest tick not after ``raw``: ``k <= ticks(raw)`` iff ``raw(k) <= raw``."""
        if self.is_datetime:
            return int(raw) // self.tick_ns
        return float(raw)

    def raw_array(self, ticks: np.ndarray) -> np.ndarray:
        """Engine tick counts as raw times."""
        if self.is_datetime:
            return np.asarray(ticks, dtype=np.int64) * self.tick_ns
        return np.asarray(ticks, dtype=float)
