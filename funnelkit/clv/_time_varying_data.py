"""From events and a per-period covariate table to the :class:`Panel` the likelihood reads.

The events go through the one door (:class:`funnelkit.EventLog` and its :meth:`rfm`), so
frequency, recency and ``T`` are exactly those of :meth:`funnelkit.RFM.from_events` with the
same arguments. The covariate table goes through the same door (its period column read as
the time column), so its customer ids, timestamps and numbers are parsed as the events'.
Every check is a vectorised pass; a bad table raises a :class:`~funnelkit.DataError` saying
how many customers or rows, a few ids, and the fix.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from funnelkit._frames import check_columns
from funnelkit.clv._time_varying_likelihood import Panel
from funnelkit.events import PURCHASE, EventLog
from funnelkit.exceptions import DataError, StatisticalWarning, format_examples
from funnelkit.ingest.numpy_engine import factorize
from funnelkit.ingest.source import as_source
from funnelkit.units import TimeUnit, TimeUnitLike

__all__ = ["Design", "Source", "build_panel"]


@dataclass(frozen=True)
class Source:
    """The columns and the observation window read from the events and the table."""

    customer_col: str = "customer_id"
    time_col: str = "timestamp"
    event_col: str | None = "event"
    period_col: str = "period_start"
    time_unit: TimeUnitLike | None = None
    observation_end: Any = None
    calibration_end: Any = None
    purchase_events: Sequence[str] | None = None


@dataclass(frozen=True)
class Design:
    """Which covariates enter which process (after dropping constant ones)."""

    purchase: tuple[str, ...]
    dropout: tuple[str, ...]
    dropped: tuple[str, ...]
    time_unit: TimeUnit


def build_panel(
    events: Any,
    covariates: Any,
    window: Source,
    *,
    purchase: Sequence[str] | None,
    dropout: Sequence[str] | None,
    drop_constant: bool,
) -> tuple[Panel, Design]:
    """The customers of ``events`` with their covariate segments (see :class:`Panel`)."""
    if isinstance(events, EventLog):
        log = events
    else:
        log = EventLog.from_frame(
            events,
            customer_col=window.customer_col,
            time_col=window.time_col,
            event_col=window.event_col,
            time_unit=window.time_unit or "D",
        )
    unit = TimeUnit.parse(window.time_unit or log.time_unit)
    rfm = log.rfm(
        time_unit=unit,
        observation_end=window.observation_end,
        calibration_end=window.calibration_end,
        purchase_events=window.purchase_events,
    )
    first, repeat_customer, repeat_period = _purchase_periods(log, unit, window)
    ids = rfm.customer_ids
    T = np.asarray(rfm.T, dtype=float)
    purchase, dropout = _names(covariates, window, purchase, dropout)
    used = list(dict.fromkeys((*purchase, *dropout)))
    rows = _read_table(covariates, log, ids, unit, window, used)
    cust, period, values = rows
    _check_coverage(ids, cust, period, first, first + T, window)

    lo = period - first[cust]
    nxt = np.r_[period[1:], 0].astype(float)
    last = np.r_[cust[1:] != cust[:-1], True]
    hi = np.where(last, np.inf, nxt - first[cust])
    keep = hi > 0  # rows that end before the first purchase do not matter
    cust, lo, hi, values = cust[keep], np.maximum(lo[keep], 0.0), hi[keep], values[keep]
    dropped: tuple[str, ...] = ()
    if drop_constant:
        dropped = _constant(values, used, lo < T[cust])
        if dropped:
            warnings.warn(
                f"Covariate(s) {list(dropped)} take one value for every customer and period "
                "of the observation window, so their effect cannot be told apart from the "
                "base rates (alpha, beta); they are left out of the model.",
                StatisticalWarning,
                stacklevel=3,
            )
    purchase = tuple(c for c in purchase if c not in dropped)
    dropout = tuple(c for c in dropout if c not in dropped)
    zi = [used.index(c) for c in purchase]
    wi = [used.index(c) for c in dropout]
    kept = values[:, zi + wi]
    # adjacent rows with the same covariates are one segment: fewer quadrature rules
    new = np.r_[True, (cust[1:] != cust[:-1]) | np.any(kept[1:] != kept[:-1], axis=1)]
    starts = np.flatnonzero(new)
    ends = np.r_[starts[1:], cust.size] - 1
    cust, lo, hi, kept = cust[starts], lo[starts], hi[ends], kept[starts]
    z, w = kept[:, : len(zi)], kept[:, len(zi) :]

    # purchase covariates at each repeat purchase: the segment in force at its period
    rel = (repeat_period - first[repeat_customer]).astype(float)
    scale = float(max(lo.max(initial=0.0), rel.max(initial=0.0)) + 1.0)
    seg = np.searchsorted(cust * scale + lo, repeat_customer * scale + rel, side="right") - 1
    sums = np.zeros((ids.shape[0], len(zi)))
    for k in range(len(zi)):
        sums[:, k] = np.bincount(repeat_customer, weights=z[seg, k], minlength=ids.shape[0])
    panel = Panel(
        customer_ids=ids,
        x=np.asarray(rfm.frequency, dtype=float),
        tx=np.asarray(rfm.recency, dtype=float),
        T=T,
        purchase_sums=sums,
        seg_customer=cust,
        seg_lo=lo,
        seg_hi=hi,
        seg_z=z,
        seg_w=w,
    )
    return panel, Design(purchase, dropout, dropped, unit)


def _purchase_periods(
    log: EventLog, unit: TimeUnit, window: Source
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """First purchase period per purchasing customer, and the (customer, period) pairs of the
    repeat purchases, with the windows of :meth:`funnelkit.EventLog.rfm`."""
    names = list(window.purchase_events) if window.purchase_events is not None else [PURCHASE]
    mask = log.event_mask(names)
    periods = log.period_index(log.raw_times, unit)
    if window.calibration_end is not None:
        mask &= log.raw_times <= log.raw_time(window.calibration_end, name="calibration_end")
    else:
        end = log.last_time
        if window.observation_end is not None:
            end = log.raw_time(window.observation_end, name="observation_end")
        mask &= periods <= log.time_axis.period(end, unit)
    codes, periods = log.customer_codes[mask], periods[mask]
    new_pair = np.r_[True, (codes[1:] != codes[:-1]) | (periods[1:] != periods[:-1])]
    codes, periods = codes[new_pair], periods[new_pair]
    new_cust = np.r_[True, codes[1:] != codes[:-1]]
    index = np.cumsum(new_cust) - 1
    first = periods[new_cust].astype(float)
    return first, index[~new_cust], periods[~new_cust].astype(float)


def _names(
    covariates: Any,
    window: Source,
    purchase: Sequence[str] | None,
    dropout: Sequence[str] | None,
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    columns = as_source(covariates).columns
    check_columns(columns, {"customer_col": window.customer_col, "period_col": window.period_col})
    rest = tuple(c for c in columns if c not in (window.customer_col, window.period_col))
    chosen = (
        rest if purchase is None else tuple(purchase),
        rest if dropout is None else tuple(dropout),
    )
    for argument, names in zip(("purchase_covariates", "dropout_covariates"), chosen, strict=True):
        for name in names:
            check_columns(columns, {argument: name})
    if not chosen[0] and not chosen[1]:
        raise DataError(
            f"The covariate table has no covariate columns (columns: {list(columns)}). Add "
            "numeric columns besides the customer and period columns, or name them with "
            "purchase_covariates=[...] / dropout_covariates=[...]."
        )
    return chosen


def _read_table(
    covariates: Any,
    log: EventLog,
    ids: np.ndarray,
    unit: TimeUnit,
    window: Source,
    used: list[str],
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows of the purchasing customers, sorted by customer and period: customer index,
    period index and covariate values (one column per name in ``used``)."""
    table = EventLog.from_frame(
        covariates,
        customer_col=window.customer_col,
        time_col=window.period_col,
        event_col=None,
        attribute_cols=used,
        time_unit=unit,
    )
    if table.is_datetime != log.is_datetime:
        kinds = ("dates", "numbers")
        raise DataError(
            f"The covariate table's {window.period_col!r} holds "
            f"{kinds[not table.is_datetime]} but the event times are "
            f"{kinds[not log.is_datetime]}; give the period starts as the events' times."
        )
    row_ids = table.customer_ids[table.customer_codes]
    values = np.empty((len(table), len(used)))
    for k, name in enumerate(used):
        raw = np.asarray(table.attributes[name])
        if raw.dtype == object:  # nulls of a frame library arrive as None
            raw = np.where(raw == None, np.nan, raw)  # noqa: E711 (elementwise)
        try:
            values[:, k] = raw.astype(float)
        except (TypeError, ValueError):
            raise DataError(
                f"Covariate {name!r} is not numeric. Encode categories as 0/1 columns (one "
                "per level, leaving one level out as the reference)."
            ) from None
    bad = ~np.isfinite(values).all(axis=1)
    if bad.any():
        raise DataError(
            f"{int(bad.sum())} covariate row(s) have missing or infinite values (customer ids "
            f"{format_examples(np.unique(row_ids[bad]))}); fill them (e.g. carry the last "
            "period forward) or drop those customers from the events."
        )
    codes, _ = factorize(np.concatenate([ids, table.customer_ids]))
    lookup = np.full(int(codes.max()) + 1, -1, dtype=np.int64)
    lookup[codes[: ids.shape[0]]] = np.arange(ids.shape[0])
    cust = lookup[codes[ids.shape[0] :]][table.customer_codes]
    period = table.period_index(table.raw_times, unit).astype(float)
    keep = cust >= 0
    order = np.lexsort((period[keep], cust[keep]))
    cust, period, values = cust[keep][order], period[keep][order], values[keep][order]
    row_ids = row_ids[keep][order]
    dup = np.r_[False, (cust[1:] == cust[:-1]) & (period[1:] == period[:-1])]
    if dup.any():
        raise DataError(
            f"{int(dup.sum())} covariate row(s) repeat a (customer, period) pair (customer "
            f"ids {format_examples(np.unique(row_ids[dup]))}); keep one row per customer and "
            f"{unit.value} period."
        )
    missing = np.setdiff1d(np.arange(ids.shape[0]), cust)
    if missing.size:
        raise DataError(
            f"{missing.size} of {ids.shape[0]} purchasing customer(s) have no covariate rows "
            f"(customer ids {format_examples(ids[missing])}); add their rows to the covariate "
            "table, or drop them from the events."
        )
    return cust.astype(np.int64), period, values


def _check_coverage(
    ids: np.ndarray,
    cust: np.ndarray,
    period: np.ndarray,
    first: np.ndarray,
    end: np.ndarray,
    window: Source,
) -> None:
    """Every customer needs a row for each of the table's periods from the one holding their
    first purchase to the one holding the end of calibration."""
    grid = np.unique(period)
    lo = np.searchsorted(grid, first, side="right") - 1
    hi = np.searchsorted(grid, end, side="right") - 1
    need = hi - np.maximum(lo, 0) + 1
    inside = (period >= grid[np.maximum(lo, 0)][cust]) & (period <= end[cust])
    have = np.bincount(cust, weights=inside, minlength=ids.shape[0])
    short = (lo < 0) | (have < need)
    if short.any():
        raise DataError(
            f"{int(short.sum())} customer(s) miss covariate rows for periods of their "
            f"observation window, from the period of their first purchase to the end of "
            f"calibration (customer ids {format_examples(ids[short])}). The table's periods "
            f"are the distinct values of {window.period_col!r}; add a row for each period "
            "of each customer's window (carry the last values forward where nothing changed)."
        )


def _constant(values: np.ndarray, names: list[str], in_window: np.ndarray) -> tuple[str, ...]:
    seen = values[in_window]
    if seen.shape[0] == 0:
        return tuple(names)
    same = np.all(seen == seen[0], axis=0)
    return tuple(n for n, s in zip(names, same, strict=True) if s)
