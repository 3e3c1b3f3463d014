"""Explicit time units.

Every duration in funnelkit carries its unit. A month is 365.25/12 days and a year 365.25 days
when a *duration* is converted; period-based summaries (RFM) use calendar periods instead, see
:meth:`funnelkit.EventLog.rfm`.
"""

from __future__ import annotations

from enum import Enum
from typing import Annotated, Any, Literal, TypeAlias

import numpy as np
from pydantic import BeforeValidator

from funnelkit.exceptions import FunnelkitError

__all__ = [
    "NS_PER_DAY",
    "TimeUnit",
    "TimeUnitLike",
    "convert_duration",
    "epoch_offsets_to_datetime",
]

_DAY_SECONDS = 86_400.0
NS_PER_DAY = 86_400 * 10**9


class TimeUnit(str, Enum):
    """A unit of time: accepted as a name (``"day"``) or a short code (``"D"``).

    Examples
    --------
    >>> TimeUnit.parse("W").days
    7.0
    >>> round(TimeUnit.parse("month").days, 4)
    30.4375
    """

    HOUR = "hour"
    DAY = "day"
    WEEK = "week"
    MONTH = "month"
    YEAR = "year"

    @property
    def code(self) -> str:
        """Short code: ``h``, ``D``, ``W``, ``M`` or ``Y``."""
        return _CODES[self]

    @property
    def days(self) -> float:
        """Length of one unit in days (month = 365.25/12 days, year = 365.25 days)."""
        return _DAYS[self]

    @property
    def seconds(self) -> float:
        return self.days * _DAY_SECONDS

    @classmethod
    def parse(cls, value: TimeUnitLike) -> TimeUnit:
        """Turn a name, plural name or short code into a :class:`TimeUnit`."""
        if isinstance(value, TimeUnit):
            return value
        if isinstance(value, str):
            key = value.strip()
            found = _ALIASES.get(key) or _ALIASES.get(key.lower())
            if found is not None:
                return found
        raise FunnelkitError(
            f"Unknown time unit {value!r}. Use one of: 'hour'/'h', 'day'/'D', 'week'/'W', "
            "'month'/'M' (365.25/12 days), 'year'/'Y' (365.25 days)."
        )


_CODES = {
    TimeUnit.HOUR: "h",
    TimeUnit.DAY: "D",
    TimeUnit.WEEK: "W",
    TimeUnit.MONTH: "M",
    TimeUnit.YEAR: "Y",
}
_DAYS = {
    TimeUnit.HOUR: 1.0 / 24.0,
    TimeUnit.DAY: 1.0,
    TimeUnit.WEEK: 7.0,
    TimeUnit.MONTH: 365.25 / 12.0,
    TimeUnit.YEAR: 365.25,
}
_ALIASES: dict[str, TimeUnit] = {}
for _unit in TimeUnit:
    _ALIASES[_unit.value] = _unit
    _ALIASES[_unit.value + "s"] = _unit
    _ALIASES[_CODES[_unit]] = _unit
_ALIASES["H"] = TimeUnit.HOUR
_ALIASES["d"] = TimeUnit.DAY
_ALIASES["w"] = TimeUnit.WEEK
_ALIASES["y"] = TimeUnit.YEAR
# lower-case "m" is deliberately not an alias: it means minutes to pandas users.

TimeUnitLike: TypeAlias = (
    TimeUnit | Literal["hour", "day", "week", "month", "year", "h", "D", "W", "M", "Y"] | str
)


def _coerce(value: Any) -> TimeUnit:
    return TimeUnit.parse(value)


#: A pydantic field type that accepts names and codes and stores a :class:`TimeUnit`.
TimeUnitField = Annotated[TimeUnit, BeforeValidator(_coerce)]


def convert_duration(value: Any, source: TimeUnitLike, target: TimeUnitLike) -> Any:
    """Convert a duration (scalar or array) from one unit to another.

    Examples
    --------
    >>> convert_duration(14.0, "D", "W")
    2.0
    """
    return value * (TimeUnit.parse(source).days / TimeUnit.parse(target).days)


def epoch_offsets_to_datetime(values: Any, unit: TimeUnitLike) -> np.ndarray:
    """Floats in ``unit`` since the Unix epoch back to ``datetime64[ns]`` (NaN becomes NaT).

    Rounded to the microsecond: a float offset cannot hold exact nanoseconds.

    Examples
    --------
    >>> epoch_offsets_to_datetime([1.5, float("nan")], "D")
    array(['1970-01-02T12:00:00.000000000',                           'NaT'],
          dtype='datetime64[ns]')
    """
    offsets = np.asarray(values, dtype=float)
    out = np.full(offsets.shape, np.datetime64("NaT"), dtype="datetime64[ns]")
    ok = ~np.isnan(offsets)
    ns_per_unit = TimeUnit.parse(unit).days * NS_PER_DAY
    out[ok] = (np.round(offsets[ok] * ns_per_unit / 1e3) * 1e3).astype(np.int64)
    return out
