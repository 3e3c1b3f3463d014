"""The numpy engine's summaries of an EventLog: O(n) vectorised passes over its sorted arrays.

:func:`rfm_columns` gives the fields of :class:`funnelkit.RFM` and :func:`journey_columns` those
of :class:`funnelkit.Journeys`; :mod:`funnelkit.ingest.summaries` wraps them in those types. The
lazy engines (:mod:`funnelkit.aggregate`) compute the same numbers where the data live.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from funnelkit.exceptions import DataError, FunnelkitError, format_examples
from funnelkit.ingest.columns import PURCHASE
from funnelkit.ingest.event_arrays import EventArrays
from funnelkit.units import TimeUnit, TimeUnitLike

if TYPE_CHECKING:
    from funnelkit.stages import Funnel, Stage

__all__ = [
    "journey_columns",
    "rfm_columns",
    "run_positions",
    "run_searchsorted",
    "stage_entry_times",
]


def rfm_columns(
    log: EventArrays,
    *,
    time_unit: TimeUnitLike,
    observation_end: Any,
    calibration_end: Any,
    purchase_events: Sequence[str] | None,
) -> dict[str, Any]:
    """The keyword arguments of :class:`funnelkit.RFM` for the purchases of ``log``."""
    unit = TimeUnit.parse(time_unit)
    names = list(purchase_events) if purchase_events is not None else [PURCHASE]
    unknown = [n for n in names if n not in log.event_types]
    if len(unknown) == len(names):
        raise DataError(
            f"No purchase events: none of {names} occurs in the log, whose event types are "
            f"{list(log.event_types)}. Pass purchase_events=[...] naming the purchase event."
        )
    end_raw = (
        log.last_time
        if observation_end is None
        else log.raw_time(observation_end, name="observation_end")
    )
    end_period = int(log.period_index(np.asarray([end_raw]), unit)[0])
    purchases = log.event_mask(names)
    # Periods are computed for the purchases only: the other events never enter the summary.
    rows = None if purchases.all() else np.flatnonzero(purchases)
    raw = _select(log.raw_times, rows)
    periods = log.period_index(raw, unit)

    window = periods <= end_period if observation_end is not None else None
    summary_end = end_period
    cal_raw = None
    if calibration_end is not None:
        cal_raw = log.raw_time(calibration_end, name="calibration_end")
        if cal_raw >= end_raw:
            raise FunnelkitError("calibration_end must be before observation_end.")
        window = raw <= cal_raw
        summary_end = int(log.period_index(np.asarray([cal_raw]), unit)[0])
    if window is not None and not window.all():
        kept = np.flatnonzero(window)
        rows = kept if rows is None else rows[kept]
        periods = periods[kept]
    codes = _select(log.customer_codes, rows)
    values = None if log.values is None else _select(log.values, rows)
    if values is not None:
        missing = np.isnan(values)
        if missing.any():
            raise DataError(
                f"{int(missing.sum())} purchase(s) have no value (e.g. customer ids "
                f"{format_examples(log.customer_ids[codes[missing]])}); fill or drop "
                "them before building RFM."
            )
    if codes.size == 0:
        raise DataError("No purchases fall inside the observation window; check the end dates.")

    cust, first, last, n_periods, spend = _period_summary(codes, periods, values)
    frequency = (n_periods - 1).astype(float)
    recency = (last - first).astype(float)
    T = (summary_end - first).astype(float)
    monetary = None
    if spend is not None:
        with np.errstate(invalid="ignore", divide="ignore"):
            monetary = np.where(frequency > 0, spend / np.maximum(frequency, 1), 0.0)

    holdout: dict[str, Any] = {}
    if cal_raw is not None:
        all_periods = log.period_index(log.raw_times, unit)
        holdout = _holdout(log, cust, purchases, all_periods, cal_raw, end_raw, unit)
        holdout["holdout_duration"] = np.full(cust.size, float(end_period - summary_end))
    return dict(
        customer_ids=log.customer_ids[cust],
        frequency=frequency,
        recency=recency,
        T=T,
        monetary_value=monetary,
        time_unit=unit,
        n_without_purchase=log.n_customers - cust.size,
        observation_end=log.time_axis.stamp(end_raw),
        calibration_end=None if cal_raw is None else log.time_axis.stamp(cal_raw),
        **holdout,
    )


def _select(values: np.ndarray, rows: np.ndarray | None) -> np.ndarray:
    return values if rows is None else values[rows]


def _period_summary(
    codes: np.ndarray, periods: np.ndarray, values: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
    """Per customer: code, first and last period, number of periods, repeat-period spend."""
    n = codes.size
    new_pair = np.empty(n, dtype=bool)
    new_pair[0] = True
    np.not_equal(codes[1:], codes[:-1], out=new_pair[1:])
    new_pair[1:] |= periods[1:] != periods[:-1]
    pair_starts = np.flatnonzero(new_pair)
    pair_codes = codes[pair_starts]
    pair_periods = periods[pair_starts]

    new_cust = np.empty(pair_starts.size, dtype=bool)
    new_cust[0] = True
    np.not_equal(pair_codes[1:], pair_codes[:-1], out=new_cust[1:])
    cust_starts = np.flatnonzero(new_cust)
    cust_ends = np.append(cust_starts[1:], pair_starts.size) - 1
    n_periods = np.diff(np.append(cust_starts, pair_starts.size))
    spend = None
    if values is not None:
        pair_sums = np.add.reduceat(values, pair_starts)
        pair_sums[cust_starts] = 0.0  # the first purchase period is not a repeat purchase
        spend = np.add.reduceat(pair_sums, cust_starts)
    return (
        pair_codes[cust_starts],
        pair_periods[cust_starts],
        pair_periods[cust_ends],
        n_periods,
        spend,
    )


def _holdout(
    log: EventArrays,
    cust: np.ndarray,
    purchases: np.ndarray,
    periods: np.ndarray,
    cal_raw: Any,
    end_raw: Any,
    unit: TimeUnit,
) -> dict[str, Any]:
    mask = purchases & (log.raw_times > cal_raw) & (log.raw_times <= end_raw)
    in_cal = np.zeros(log.n_customers, dtype=bool)
    in_cal[cust] = True
    mask &= in_cal[log.customer_codes]
    codes = log.customer_codes[mask]
    position = np.full(log.n_customers, -1, dtype=np.int64)
    position[cust] = np.arange(cust.size)
    p = periods[mask]
    new_pair = np.ones(codes.size, dtype=bool)
    new_pair[1:] = (codes[1:] != codes[:-1]) | (p[1:] != p[:-1])
    freq = np.bincount(position[codes[new_pair]], minlength=cust.size).astype(float)
    out: dict[str, Any] = {"holdout_frequency": freq}
    if log.values is not None:
        # lifetimes averages the raw holdout transactions (not per-period sums).
        total = np.bincount(position[codes], weights=log.values[mask], minlength=cust.size)
        count = np.bincount(position[codes], minlength=cust.size)
        with np.errstate(invalid="ignore", divide="ignore"):
            out["holdout_monetary_value"] = np.where(count > 0, total / np.maximum(count, 1), 0.0)
    return out


def journey_columns(
    log: EventArrays, funnel: Funnel, *, observation_end: Any, time_unit: TimeUnitLike | None
) -> dict[str, Any]:
    """The keyword arguments of :class:`funnelkit.Journeys`: first entry into each stage.

    One pass per stage over the positions of its events in the sorted log: a customer
    enters a stage at their ``min_count``-th qualifying event; in ``ordered`` funnels only
    events at or after the previous required (not optional) stage's entry count, and an
    entry later than the stage's ``within`` window after that one does not count; in ``any``
    funnels reaching a later stage implies the earlier ones. An exclusion event between its
    two stages, or in ``strict`` funnels an event only a later stage counts, ends the
    customer's funnel there (later entries dropped, censored at that event).
    """
    unit = TimeUnit.parse(time_unit or log.time_unit)
    end_raw = _end_raw(log, observation_end)
    codes, raw = log.customer_codes, log.raw_times
    n_after_end = int(np.count_nonzero(raw > end_raw)) if end_raw < log.last_time else 0
    n_cust, n_stage = log.n_customers, len(funnel.stages)
    never = np.iinfo(np.int64).max if raw.dtype == np.int64 else np.inf
    entries = np.full((n_cust, n_stage), never, dtype=raw.dtype)
    notes = []
    for k, stage in enumerate(funnel.stages):
        missing = [e for e in stage.events if e not in log.event_types]
        if len(missing) == len(stage.events):
            notes.append(
                f"stage {stage.name!r}: none of its events {list(stage.events)} occurs "
                "in the log, so nobody reaches it"
            )
        hits = _positions(log, stage.events, end_raw, n_after_end)
        # an optional stage does not gate what follows: count from the last required one
        gate = next((j for j in range(k - 1, -1, -1) if not funnel.stages[j].optional), None)
        since = entries[:, gate] if funnel.order != "any" and gate is not None else None
        entries[:, k] = _nth_occurrence(
            hits, codes, raw, stage.min_count, n_cust, never, since=since
        )
        if stage.within is not None and gate is not None:
            both = (entries[:, k] != never) & (entries[:, gate] != never)
            lag = np.zeros(n_cust)
            lag[both] = log.to_unit(entries[both, k] - entries[both, gate], log.time_unit)
            entries[both & (lag > stage.within), k] = never
    censor_raw = np.full(n_cust, end_raw, dtype=raw.dtype)
    for a, b, events in _breaking_events(funnel):
        hits = _positions(log, events, end_raw, n_after_end)
        first = _nth_occurrence(
            hits, codes, raw, 1, n_cust, never, since=entries[:, a], strictly=True
        )
        # the funnel ends at the breaking event for whoever did it before entering `b`
        out = (first != never) & (first < entries[:, b])
        entries[out, b:] = never
        censor_raw = np.where(out, np.minimum(censor_raw, first), censor_raw)
    reached = entries != never
    if funnel.order == "any":
        flipped = np.where(reached, entries, never)[:, ::-1]
        entries = np.minimum.accumulate(flipped, axis=1)[:, ::-1]
        reached = entries != never
    times = _unit_times(log, entries, reached, unit)
    censoring = np.asarray(log.to_unit(censor_raw, unit), dtype=float)
    return dict(
        stage_names=funnel.stage_names,
        entry_times=times,
        customer_ids=log.customer_ids,
        censoring_times=censoring,
        time_unit=unit,
        attributes=log.customer_attributes(),
        is_datetime=log.is_datetime,
        n_events_after_end=n_after_end,
        notes=tuple(notes),
    )


def stage_entry_times(
    log: EventArrays, stage: Stage, *, observation_end: Any, time_unit: TimeUnitLike | None
) -> np.ndarray:
    """When each customer reaches ``stage`` counted on its own, NaN where they never do.

    The entry times of a funnel of ``stage`` alone (``journey_columns`` of
    ``Funnel(stages=[stage])``), without building its journeys: no earlier stage gates it.
    """
    unit = TimeUnit.parse(time_unit or log.time_unit)
    end_raw = _end_raw(log, observation_end)
    raw = log.raw_times
    never = np.iinfo(np.int64).max if raw.dtype == np.int64 else np.inf
    hits = _positions(log, stage.events, end_raw, int(end_raw < log.last_time))
    entries = _nth_occurrence(
        hits, log.customer_codes, raw, stage.min_count, log.n_customers, never
    )
    return _unit_times(log, entries, entries != never, unit)


def _unit_times(log: EventArrays, entries: np.ndarray, reached: np.ndarray, unit: TimeUnit) -> Any:
    """Raw entry times in ``unit``, NaN where not reached (``never`` converts to a finite or
    infinite float, then is overwritten: no copy of the entries is needed to hide it)."""
    times = np.asarray(log.to_unit(entries, unit), dtype=float)
    times[~reached] = np.nan
    return times


def _end_raw(log: EventArrays, observation_end: Any) -> Any:
    """The raw observation end (default the last event), refused before the first event."""
    end_raw = (
        log.last_time
        if observation_end is None
        else log.raw_time(observation_end, name="observation_end")
    )
    if end_raw < log.raw_times.min():
        raise DataError("observation_end is before the first event of the log.")
    return end_raw


def _breaking_events(funnel: Funnel) -> list[tuple[int, int, tuple[str, ...]]]:
    """``(after, before, events)``: events that end a journey between two stage entries.

    Every exclusion, then in ``strict`` funnels, for each required stage ``b`` after the
    first, the events that only stages after ``b`` count, between the previous required
    stage and ``b`` (an optional stage skipped is not out of order, so it is not checked).
    """
    rules: list[tuple[int, int, tuple[str, ...]]] = [
        (funnel.index(ex.after), funnel.index(ex.before), (ex.event,)) for ex in funnel.exclusions
    ]
    if funnel.order != "strict":
        return rules
    stages = funnel.stages
    for b in range(1, len(stages)):
        gate = next((j for j in range(b - 1, -1, -1) if not stages[j].optional), None)
        if stages[b].optional or gate is None:
            continue
        so_far = {e for s in stages[: b + 1] for e in s.events}
        later = tuple(
            dict.fromkeys(e for s in stages[b + 1 :] for e in s.events if e not in so_far)
        )
        if later:
            rules.append((gate, b, later))
    return rules


def _positions(log: EventArrays, events: Sequence[str], end_raw: Any, n_after: int) -> np.ndarray:
    """Increasing positions of the events of types ``events`` at or before the end.

    Each stage and rule then reads only the rows of its own events, not a mask of every row.
    """
    hits = np.flatnonzero(log.event_mask(events))
    if n_after:
        hits = hits[log.raw_times[hits] <= end_raw]
    return hits


def _nth_occurrence(
    hits: np.ndarray,
    codes: np.ndarray,
    raw: np.ndarray,
    n: int,
    n_cust: int,
    never: Any,
    *,
    since: np.ndarray | None = None,
    strictly: bool = False,
) -> np.ndarray:
    """Per customer, the time of the n-th of the events at positions ``hits`` (increasing).

    With ``since`` (per customer), only events at or after it count (strictly after with
    ``strictly``; none where it is ``never``). Events are sorted by customer then time, so
    a customer's hits form one run in time order and those that count form its end: the
    n-th is found from the run's bounds and how many count, without cutting the hits.
    """
    out = np.full(n_cust, never, dtype=raw.dtype)
    if hits.size == 0:
        return out
    hit_codes = codes[hits]
    starts = np.empty(hits.size, dtype=bool)
    starts[0] = True
    np.not_equal(hit_codes[1:], hit_codes[:-1], out=starts[1:])
    first = np.flatnonzero(starts)
    if since is None and n == 1:
        pick = first
    else:
        length = np.diff(np.append(first, hits.size))
        counted = length
        if since is not None:
            # the hits before the gate open each run: count them per customer, not per hit
            side = "right" if strictly else "left"
            gate = since[hit_codes[first]]
            counted = length - run_searchsorted(raw, first, length, gate, side=side, positions=hits)
        found = np.flatnonzero(counted >= n)
        pick = first[found] + length[found] - counted[found] + (n - 1)
        first = first[found]
    picked = hits[pick]
    out[hit_codes[first]] = raw[picked]
    return out


def run_positions(start: np.ndarray, length: np.ndarray) -> np.ndarray:
    """The positions ``start[i], ..., start[i] + length[i] - 1`` of every run ``i``, in order.

    Examples
    --------
    >>> run_positions(np.array([5, 0, 9]), np.array([2, 0, 3])).tolist()
    [5, 6, 9, 10, 11]
    """
    offset = np.cumsum(length) - length
    return np.arange(int(length.sum())) + np.repeat(start - offset, length)


def run_searchsorted(
    values: np.ndarray,
    start: np.ndarray,
    length: np.ndarray,
    limit: np.ndarray,
    *,
    side: str = "left",
    positions: np.ndarray | None = None,
) -> np.ndarray:
    """Per run ``values[start:start + length]`` (each sorted), how many are before its limit.

    As :func:`numpy.searchsorted` within each run: ``side="left"`` counts the values below
    the run's limit, ``"right"`` those at or below it (a NaN limit counts none). With
    ``positions``, run ``i`` is ``values[positions[start:start + length]]``.

    The two ends of each run settle most runs; the others gallop from their start (the
    searched points usually fall early in a run), then halve the bracket, each round
    working on the open runs only: no pass over every value.

    Examples
    --------
    >>> run_searchsorted(np.array([1.0, 2, 2, 5, 0, 9]), np.array([0, 4]), np.array([4, 2]),
    ...                  np.array([2.0, 10.0]), side="right").tolist()
    [3, 2]
    """
    before = np.less if side == "left" else np.less_equal

    def at(i: np.ndarray) -> np.ndarray:
        return values[i] if positions is None else values[positions[i]]

    count = np.zeros(start.size, dtype=np.int64)
    runs = np.flatnonzero(length > 0)
    lo, hi = start[runs], start[runs] + length[runs] - 1
    bound = limit[runs]
    every = before(at(hi), bound)
    count[runs[every]] = length[runs[every]]
    open_ = np.flatnonzero(~every & before(at(lo), bound))
    runs, lo, hi, bound = runs[open_], lo[open_], hi[open_], bound[open_]
    # values[lo] is before the limit and values[hi] is not, in every open run
    active = np.arange(runs.size)
    step = 1
    while active.size:
        probe = lo[active] + step
        inside = probe < hi[active]
        ok = inside & before(at(np.minimum(probe, hi[active])), bound[active])
        lo[active[ok]] = probe[ok]
        beyond = inside & ~ok
        hi[active[beyond]] = probe[beyond]
        active = active[ok]
        step *= 2
    active = np.flatnonzero(hi - lo > 1)
    while active.size:
        mid = (lo[active] + hi[active]) // 2
        ok = before(at(mid), bound[active])
        lo[active[ok]] = mid[ok]
        hi[active[~ok]] = mid[~ok]
        active = active[hi[active] - lo[active] > 1]
    count[runs] = lo - start[runs] + 1
    return count
