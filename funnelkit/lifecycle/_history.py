"""Purchase histories at arbitrary per-customer cut-off times, in calendar periods.

The purchase models see customers through recency/frequency/T summaries in calendar periods
(:meth:`funnelkit.EventLog.rfm`). To value a customer at the moment they enter a stage, the
same summary is needed *at that moment*: this module computes it for every customer at once,
with the conventions of :mod:`funnelkit.ingest.numpy_summaries` (purchases in one period count
once and their values are summed; the first period is not a repeat).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from funnelkit.events import EventLog
from funnelkit.exceptions import DataError, format_examples
from funnelkit.units import NS_PER_DAY, TimeUnit

__all__ = ["History", "PurchaseEvents", "history_at", "purchase_events", "time_periods"]


@dataclass(frozen=True)
class PurchaseEvents:
    """Purchase events inside the observation window, sorted by customer then time."""

    customer: np.ndarray  # customer code
    time: np.ndarray  # float time in the model unit
    period: np.ndarray  # calendar period index in the model unit
    value: np.ndarray  # monetary value (1.0 each when the log has no values)
    has_values: bool
    n_customers: int
    unit: TimeUnit


@dataclass(frozen=True)
class History:
    """Per-customer purchase summary at a cut-off (arrays over all customers).

    ``has_purchase`` is False for customers without a purchase at or before their cut-off;
    their other entries are 0.
    """

    has_purchase: np.ndarray
    frequency: np.ndarray
    recency: np.ndarray
    T: np.ndarray
    monetary_value: np.ndarray
    first_spend: np.ndarray
    first_time: np.ndarray  # NaN without purchase


def purchase_events(
    log: EventLog, names: Sequence[str], end_raw: float | int, unit: TimeUnit
) -> PurchaseEvents:
    """Select purchases up to ``end_raw``; refuse purchases without a value (as RFM does)."""
    mask = log.event_mask(list(names)) & (log.raw_times <= end_raw)
    raw = log.raw_times[mask]
    codes = log.customer_codes[mask].astype(np.int64)
    has_values = log.values is not None
    if log.values is not None:
        value = log.values[mask]
        missing = np.isnan(value)
        if missing.any():
            ids = log.customer_ids[codes[missing]]
            raise DataError(
                f"{int(missing.sum())} purchase(s) have no value (e.g. customer ids "
                f"{format_examples(ids)}); fill or drop them, or read the log without a "
                "value column to count purchases instead of money."
            )
    else:
        value = np.ones(raw.size)
    return PurchaseEvents(
        customer=codes,
        time=np.asarray(log.to_unit(raw, unit), dtype=float),
        period=log.period_index(raw, unit).astype(np.int64),
        value=np.asarray(value, dtype=float),
        has_values=has_values,
        n_customers=log.n_customers,
        unit=unit,
    )


def time_periods(log: EventLog, times: np.ndarray, unit: TimeUnit) -> np.ndarray:
    """Calendar period index of float times in ``unit`` (NaN times give period 0).

    Datetime times are turned back into nanoseconds rounded to the microsecond, as
    :class:`funnelkit.Journeys` does, so an event exactly on a period boundary stays in its
    period despite floating-point rounding.
    """
    finite = np.isfinite(times)
    safe = np.where(finite, times, 0.0)
    if log.is_datetime:
        ns = np.round(safe * (unit.days * NS_PER_DAY) / 1e3).astype(np.int64) * 1000
        return np.where(finite, log.period_index(ns, unit), 0)
    return np.where(finite, np.floor(safe), 0).astype(np.int64)


def history_at(
    events: PurchaseEvents, cutoff_time: np.ndarray, cutoff_period: np.ndarray
) -> History:
    """Recency/frequency/T/monetary of every customer from the purchases at or before a cut-off.

    Parameters
    ----------
    events
        Purchases (sorted by customer, then time).
    cutoff_time, cutoff_period
        Per customer (length ``n_customers``): the cut-off as a float time and its calendar
        period; a NaN time selects no purchase.
    """
    n = events.n_customers
    limit = cutoff_time[events.customer]
    keep = events.time <= limit  # NaN limits keep nothing
    if keep.all():
        # a cut-off at (or after) the end: every purchase, without copying them
        cust, period, value, time = events.customer, events.period, events.value, events.time
    else:
        cust = events.customer[keep]
        period = events.period[keep]
        value = events.value[keep]
        time = events.time[keep]
    has = np.zeros(n, dtype=bool)
    zeros = np.zeros(n)
    if cust.size == 0:
        return History(
            has, zeros, zeros.copy(), zeros.copy(), zeros.copy(), zeros.copy(), np.full(n, np.nan)
        )
    new_period = np.empty(cust.size, dtype=bool)
    new_period[0] = True
    new_period[1:] = (cust[1:] != cust[:-1]) | (period[1:] != period[:-1])
    starts = np.flatnonzero(new_period)
    p_cust, p_period = cust[starts], period[starts]
    p_spend = np.add.reduceat(value, starts)
    first_of_cust = np.empty(starts.size, dtype=bool)
    first_of_cust[0] = True
    first_of_cust[1:] = p_cust[1:] != p_cust[:-1]
    n_periods = np.bincount(p_cust, minlength=n)
    has = n_periods > 0
    first_period = np.zeros(n, dtype=np.int64)
    first_period[p_cust[first_of_cust]] = p_period[first_of_cust]
    last_period = np.zeros(n, dtype=np.int64)
    last_period[p_cust] = p_period  # later periods overwrite earlier ones
    first_spend = np.zeros(n)
    first_spend[p_cust[first_of_cust]] = p_spend[first_of_cust]
    repeat_spend = np.bincount(p_cust, weights=np.where(first_of_cust, 0.0, p_spend), minlength=n)
    first_time = np.full(n, np.nan)
    # a customer's first purchase opens their first period
    first_time[p_cust[first_of_cust]] = time[starts[first_of_cust]]
    frequency = np.maximum(n_periods - 1, 0).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        monetary = np.where(frequency > 0, repeat_spend / np.maximum(frequency, 1.0), 0.0)
    recency = np.where(has, last_period - first_period, 0).astype(float)
    age = np.where(has, np.asarray(cutoff_period, dtype=np.int64) - first_period, 0)
    return History(
        has_purchase=has,
        frequency=frequency,
        recency=recency,
        T=np.maximum(age, recency).astype(float),
        monetary_value=monetary,
        first_spend=first_spend,
        first_time=first_time,
    )
