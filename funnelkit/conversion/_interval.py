"""Intervals of the conversion results: bounds made into complete ``Interval`` values."""

from __future__ import annotations

from typing import Any

from funnelkit._results import Interval

__all__ = ["Pair", "as_interval", "fill_intervals"]

Pair = tuple[float, float]


def as_interval(
    bounds: Pair | Interval | None, estimate: float | None, level: float | None
) -> Interval | None:
    """``bounds`` as an :class:`~funnelkit._results.Interval` around ``estimate``."""
    if bounds is None:
        return None
    lower, upper = bounds
    return Interval(estimate=estimate, lower=lower, upper=upper, level=level)


def fill_intervals(data: Any, estimates: dict[str, str], level: str | None = "conf_level") -> Any:
    """Give the ``(lower, upper)`` pairs among ``data`` their estimate and level.

    ``estimates`` maps an interval field to the field holding its estimate. Lets results be
    built from the pairs the estimators compute, and JSON written before intervals carried
    their estimate still load, as complete :class:`~funnelkit._results.Interval` values.
    """
    if not isinstance(data, dict):
        return data
    out = dict(data)
    for field, source in estimates.items():
        value = out.get(field)
        if isinstance(value, list | tuple) and len(value) == 2:
            out[field] = Interval(
                estimate=out.get(source),
                lower=value[0],
                upper=value[1],
                level=None if level is None else out.get(level),
            )
    return out
