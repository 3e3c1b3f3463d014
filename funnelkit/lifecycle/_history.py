"""Purchase histories at arbitrary per-customer cut-off times, in calendar periods.

The purchase models see customers through recency/frequency/T summaries in calendar periods
(:meth:`funnelkit.EventLog.rfm`). To value a customer at the moment they enter a stage, the
same summary is needed *at that moment*: this module computes it for every customer at once,
with the conventions of :mod:`funnelkit.ingest.numpy_summaries` (purchases in one period count
once and their values are summed; the first period is not a repeat).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from funnelkit.events import EventLog
from funnelkit.exceptions import DataError, format_examples
from funnelkit.ingest.numpy_summaries import run_positions, run_searchsorted
from funnelkit.units import NS_PER_DAY, TimeUnit

__all__ = [
    "History",
    "PurchaseEvents",
    "PurchasePeriods",
    "PurchasesOf",
    "history_at",
    "purchase_events",
    "time_periods",
    "value_at",
]


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

    @functools.cached_property
    def runs(self) -> tuple[np.ndarray, np.ndarray]:
        """Per customer: the position of their first purchase and how many they made."""
        counts = np.bincount(self.customer, minlength=self.n_customers)
        return np.cumsum(counts) - counts, counts

    def of_customers(self, customers: np.ndarray) -> PurchaseEvents:
        """The purchases of ``customers`` (increasing codes), renumbered ``0, 1, ...``.

        Taken run by run when first read (see :class:`PurchasesOf`), so the cost follows
        the chosen customers' purchases, not everyone's, and nothing is copied unless read.
        """
        return PurchasesOf(self, customers)


class PurchasesOf(PurchaseEvents):
    """The purchases of some customers of ``events``, renumbered, gathered on first read.

    A segment's customer table carries its customers' purchases, which its refits never
    read: gathering them only when asked spares a copy of every purchase per segment.
    """

    source: PurchaseEvents  # the purchases of everyone
    first: np.ndarray  # per chosen customer: position of their first purchase in ``source``
    count: np.ndarray  # per chosen customer: their number of purchases

    def __init__(self, events: PurchaseEvents, customers: np.ndarray) -> None:
        first, count = events.runs
        # the frozen dataclass refuses assignment: set the few settled fields directly
        for name, value in (
            ("has_values", events.has_values),
            ("n_customers", int(customers.size)),
            ("unit", events.unit),
            ("source", events),
            ("first", first[customers]),
            ("count", count[customers]),
        ):
            object.__setattr__(self, name, value)

    @functools.cached_property
    def rows(self) -> np.ndarray:
        """Positions of these purchases among those of ``source``."""
        return run_positions(self.first, self.count)

    @functools.cached_property
    def customer(self) -> np.ndarray:
        return np.repeat(np.arange(self.n_customers), self.count)

    @functools.cached_property
    def time(self) -> np.ndarray:
        return self.source.time[self.rows]

    @functools.cached_property
    def period(self) -> np.ndarray:
        return self.source.period[self.rows]

    @functools.cached_property
    def value(self) -> np.ndarray:
        return self.source.value[self.rows]

    @functools.cached_property
    def runs(self) -> tuple[np.ndarray, np.ndarray]:
        return np.cumsum(self.count) - self.count, self.count


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
    mask = log.event_mask(list(names))
    if end_raw < log.last_time:  # an end at the last event or later leaves every purchase
        mask &= log.raw_times <= end_raw
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
        period=log.period_index(raw, unit).astype(np.int64, copy=False),
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


@dataclass(frozen=True)
class PurchasePeriods:
    """The ``(customer, period)`` runs of some purchases, found once for every cut-off.

    A customer's purchases at or before a cut-off are a prefix of their run (events are
    sorted by customer, then time), so a history at any cut-off only needs where each
    customer's run and periods start: :func:`history_at` then works per customer, not per
    purchase, except for the one period a cut-off may split.
    """

    starts: np.ndarray  # position of each period's first purchase
    spend: np.ndarray  # per period: its purchases' summed value
    customer: np.ndarray  # per period: its customer
    first: np.ndarray  # per period: True for each customer's first period
    run_start: np.ndarray  # per customer: position of the first purchase
    n_events: np.ndarray  # per customer: number of purchases
    period_start: np.ndarray  # per customer: index of the first period
    n_periods: np.ndarray  # per customer: number of distinct periods

    @classmethod
    def of(cls, events: PurchaseEvents) -> PurchasePeriods:
        cust, period, n = events.customer, events.period, events.n_customers
        new_cust = np.empty(cust.size, dtype=bool)
        new_cust[:1] = True
        np.not_equal(cust[1:], cust[:-1], out=new_cust[1:])
        new_period = new_cust.copy()
        new_period[1:] |= period[1:] != period[:-1]
        starts = np.flatnonzero(new_period)
        first = new_cust[starts]
        # runs and their first periods, per customer with a purchase, then spread over all
        run = np.flatnonzero(new_cust)
        pair = np.flatnonzero(first)
        owner = cust[run]
        run_start = np.zeros(n, dtype=np.int64)
        run_start[owner] = run
        n_events = np.zeros(n, dtype=np.int64)
        n_events[owner] = np.diff(np.append(run, cust.size))
        period_start = np.zeros(n, dtype=np.int64)
        period_start[owner] = pair
        n_periods = np.zeros(n, dtype=np.int64)
        n_periods[owner] = np.diff(np.append(pair, starts.size))
        return cls(
            starts=starts,
            spend=np.add.reduceat(events.value, starts) if starts.size else np.zeros(0),
            customer=cust[starts],
            first=first,
            run_start=run_start,
            n_events=n_events,
            period_start=period_start,
            n_periods=n_periods,
        )

    @functools.cached_property
    def repeat_spend(self) -> np.ndarray:
        """Per customer: the value of every period after their first, summed in order."""
        n = self.n_events.size
        return np.bincount(
            self.customer, weights=np.where(self.first, 0.0, self.spend), minlength=n
        )


def history_at(
    events: PurchaseEvents,
    cutoff_time: np.ndarray,
    cutoff_period: np.ndarray,
    *,
    periods: PurchasePeriods | None = None,
) -> History:
    """Recency/frequency/T/monetary of every customer from the purchases at or before a cut-off.

    Parameters
    ----------
    events
        Purchases (sorted by customer, then time).
    cutoff_time, cutoff_period
        Per customer (length ``n_customers``): the cut-off as a float time and its calendar
        period; a NaN time selects no purchase.
    periods
        ``PurchasePeriods.of(events)``, when several cut-offs share it.
    """
    runs = PurchasePeriods.of(events) if periods is None else periods
    n = events.n_customers
    kept = _kept_counts(events, runs, cutoff_time)
    has = kept > 0
    buyers = np.flatnonzero(has)
    first_pos = runs.run_start[buyers]
    last_pos = first_pos + kept[buyers] - 1
    first_pair = runs.period_start[buyers]
    last_pair = first_pair + runs.n_periods[buyers] - 1
    # Customers whose cut-off falls before their last purchase: the period of the last
    # purchase kept, and its value up to the cut-off (summed over the same contiguous
    # values as a period of its own, so the same sum).
    cut = np.flatnonzero(kept[buyers] < runs.n_events[buyers])
    if cut.size:
        last_pair[cut] = np.searchsorted(runs.starts, last_pos[cut], side="right") - 1
        cut_spend = runs.spend[last_pair[cut]]
        n_pairs = runs.starts.size
        after = np.minimum(last_pair[cut] + 1, n_pairs - 1)
        period_end = np.where(after > last_pair[cut], runs.starts[after], events.customer.size)
        split = np.flatnonzero(last_pos[cut] + 1 < period_end)
        if split.size:
            begin = runs.starts[last_pair[cut[split]]]
            cut_spend[split] = _segment_sums(events.value, begin, last_pos[cut[split]] + 1 - begin)

    first_period = np.zeros(n, dtype=np.int64)
    first_period[buyers] = events.period[first_pos]
    last_period = np.zeros(n, dtype=np.int64)
    last_period[buyers] = events.period[last_pos]
    n_periods = np.zeros(n, dtype=np.int64)
    n_periods[buyers] = last_pair - first_pair + 1
    first_spend = np.zeros(n)
    first_spend[buyers] = runs.spend[first_pair]
    first_time = np.full(n, np.nan)
    first_time[buyers] = events.time[first_pos]
    # Repeat spend in each customer's period order, as a bincount over their periods adds
    # it up: customers cut short add their kept periods alone (the last one as kept).
    repeat_spend = np.where(kept == runs.n_events, runs.repeat_spend, 0.0)
    if cut.size:
        who = buyers[cut]
        one = last_pair[cut] == first_pair[cut]
        first_spend[who[one]] = cut_spend[one]
        more = np.flatnonzero(~one)
        start = first_pair[cut[more]] + 1
        middle = _ordered_sums(runs.spend, start, last_pair[cut[more]] - start)
        repeat_spend[who[more]] = middle + cut_spend[more]
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


def _kept_counts(
    events: PurchaseEvents, runs: PurchasePeriods, cutoff_time: np.ndarray, *, strict: bool = False
) -> np.ndarray:
    """Per customer: how many purchases are at (unless ``strict``) or before their cut-off."""
    side = "left" if strict else "right"
    return run_searchsorted(events.time, runs.run_start, runs.n_events, cutoff_time, side=side)


def value_at(
    events: PurchaseEvents, cutoff_time: np.ndarray, periods: PurchasePeriods
) -> np.ndarray:
    """Per customer, the value of their purchases made exactly at their cut-off.

    They end the customer's purchases up to the cut-off; their values are added in order,
    as a ``bincount`` over those purchases adds them.
    """
    upto = _kept_counts(events, periods, cutoff_time)
    before = _kept_counts(events, periods, cutoff_time, strict=True)
    at = np.flatnonzero(upto > before)
    value = np.zeros(events.n_customers)
    start = periods.run_start[at] + before[at]
    value[at] = _ordered_sums(events.value, start, upto[at] - before[at])
    return value


def _segment_sums(values: np.ndarray, start: np.ndarray, length: np.ndarray) -> np.ndarray:
    """Sums of ``values[start:start + length]`` (increasing, disjoint, non-empty segments).

    One ``reduceat`` over the segments and the gaps between them: each segment is summed
    on its own, as a ``reduceat`` over its values alone would sum it.
    """
    bounds = np.empty(2 * start.size, dtype=np.int64)
    bounds[0::2] = start
    bounds[1::2] = start + length
    if bounds[-1] == values.size:  # reduceat sums the last index's segment to the end
        bounds = bounds[:-1]
    return np.add.reduceat(values, bounds)[0::2]


def _ordered_sums(values: np.ndarray, start: np.ndarray, length: np.ndarray) -> np.ndarray:
    """Sums of ``values[start:start + length]`` each added left to right (as ``bincount``)."""
    segment = np.repeat(np.arange(start.size), length)
    return np.bincount(segment, weights=values[run_positions(start, length)], minlength=start.size)
