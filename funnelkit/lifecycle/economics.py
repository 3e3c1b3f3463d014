"""Channel economics: does the spend on each acquisition channel pay for itself?

For each channel ``c`` with spend ``C_c`` and ``n_c`` prospects (customers who entered the
first stage from it, in the periods the spend covers):

- ``cost_per_prospect = C_c / n_c``;
- ``value_per_prospect = margin x V_c(H)``, with ``V_c(H)`` the expected discounted value of
  a prospect of channel ``c`` over the horizon (the first-stage value of
  :func:`~funnelkit.lifecycle.segments.segment_values`, discounted as the model is);
- ``roi = value_per_prospect / cost_per_prospect - 1``, so every 1.00 spent returns
  ``1 + roi`` within the horizon;
- ``cost_per_buyer = C_c / (n_c x P_c(first purchase within H))``, the expected buyers the
  spend brings within the horizon (censoring-aware, not the buyers seen so far);
- ``payback``: the smallest ``t`` with ``margin x V_c(t) >= cost_per_prospect``, where
  ``V_c(t)`` is the value of the channel's prospect up to ``t`` after entry.

Intervals of the value and of the ROI are percentile intervals over the same customer
bootstrap samples (the fit's seeds) as the stage values; ROI is a monotone function of the
value, so its interval is the value's, transformed. The spend is taken as known.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from typing import Any

import narwhals.stable.v1 as nw
import numpy as np

from funnelkit.conversion.segments import segment_codes
from funnelkit.exceptions import DataError, FunnelkitError
from funnelkit.ingest.columns import eager_frame
from funnelkit.lifecycle._data import CustomerTable
from funnelkit.lifecycle._settings import positive_number
from funnelkit.lifecycle.economics_results import ChannelEconomics, ChannelEconomicsRow
from funnelkit.lifecycle.results import SegmentValues, ValueEstimate
from funnelkit.lifecycle.segments import customer_segments, segment_values
from funnelkit.lifecycle.state import LifecycleFit, check_customers, refit_components
from funnelkit.lifecycle.values import ValueGrid, pre_values

__all__ = ["channel_economics", "check_costs", "read_costs"]

#: points of the value-by-time curve the payback is read from
_PAYBACK_POINTS = 96


def read_costs(costs: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """``channel``, ``cost`` and (optional) month ``period`` columns of a costs frame.

    ``costs`` is a pandas, polars or pyarrow frame. Periods are read as calendar months
    (``"2024-01"``, a date or a timestamp within the month).
    """
    frame = eager_frame(costs, what="costs", accepted="a pandas, polars or pyarrow frame")
    names = list(frame.columns)
    missing = [c for c in ("channel", "cost") if c not in names]
    if missing:
        close = {m: difflib.get_close_matches(m, [str(n) for n in names], n=2) for m in missing}
        raise DataError(
            f"The costs need the columns 'channel' and 'cost' (optionally 'period'); missing "
            f"{missing} among {names}. Closest names: {close}. Rename the columns."
        )
    channel = frame["channel"]
    if channel.is_null().any():
        raise DataError(
            f"{int(channel.is_null().sum())} row(s) of the costs have no channel: name the "
            "channel of every row or drop those rows."
        )
    labels = np.asarray(channel.cast(nw.String).to_numpy(), dtype=object)
    try:
        cost = np.asarray(frame["cost"].to_numpy(), dtype=float)
    except (TypeError, ValueError) as exc:
        raise DataError(
            "The 'cost' column of the costs must hold numbers (money spent per channel)."
        ) from exc
    bad = ~np.isfinite(cost) | (cost < 0)
    if bad.any():
        raise DataError(
            f"{int(bad.sum())} row(s) of the costs have a missing, negative or infinite cost "
            f"(channels {sorted(set(labels[bad].tolist()))[:5]}): give every row the amount "
            "spent (0 or more)."
        )
    period = None
    if "period" in names:
        period = _months(frame["period"])
    return labels, cost, period


def _months(series: Any) -> np.ndarray:
    """Calendar month labels (``"2024-01"``) of a period column."""
    if series.is_null().any():
        raise DataError(
            f"{int(series.is_null().sum())} row(s) of the costs have no period: give every "
            "row its month ('2024-01'), or drop the 'period' column to count all prospects."
        )
    values = series.to_numpy()
    try:
        if values.dtype.kind == "M":
            months = values.astype("datetime64[M]")
        else:
            months = np.array(
                [np.datetime64(str(v)[:10] if len(str(v)) > 7 else str(v)) for v in values]
            ).astype("datetime64[M]")
    except ValueError as exc:
        raise DataError(
            f"The 'period' column of the costs must hold months ('2024-01') or dates; got "
            f"{values[:3].tolist()}."
        ) from exc
    return months.astype(str).astype(object)


def channel_economics(
    fit: LifecycleFit,
    customers: CustomerTable,
    costs: Any,
    *,
    margin: float = 1.0,
    by: str = "channel",
    segments: SegmentValues | None = None,
    progress: bool | Callable[[str, int, int], None] | None = None,
    n_jobs: int | None = 1,
) -> ChannelEconomics:
    """Cost, value per prospect, ROI and payback of every channel that has costs.

    Parameters
    ----------
    fit
        The fitted state (``LifecycleModel.fit_``).
    customers
        The customer table (``LifecycleModel.customers(log)``), with the attribute ``by``.
    costs
        Spend per channel: a frame with columns ``channel`` and ``cost``, optionally
        ``period`` (spend by month; only the prospects who entered in those months count).
    margin
        Share of the value that is margin (or, for values counted in purchases, the margin
        of one purchase).
    by
        The customer attribute that names the channel.
    segments
        The value by ``by`` already computed from ``fit`` and ``customers`` (saves the
        bootstrap); computed when None, with ``progress`` and ``n_jobs`` as in
        :func:`~funnelkit.lifecycle.segments.segment_values`.

    Returns
    -------
    ChannelEconomics

    Raises
    ------
    DataError
        The costs name a channel that no prospect came from (a spelling mismatch most
        often), or are malformed.
    """
    margin = _check_margin(margin)
    check_customers(fit, customers, "Channel economics")
    labels, cost, period = read_costs(costs)
    codes, names = customer_segments(customers, by)
    first = customers.stage_names[0]
    entered = ~np.isnan(customers.entry[:, 0])
    unknown = sorted(set(labels.tolist()) - set(names))
    if unknown:
        close = {u: difflib.get_close_matches(u, list(names), n=1) for u in unknown}
        raise DataError(
            f"The costs name {len(unknown)} channel(s) that no {first} came from: {unknown} "
            f"(closest {by} values: {close}). The log's values of {by!r}: {list(names)}. "
            "Rename them in the costs to match the log, or drop those rows."
        )
    if segments is None:
        segments = segment_values(fit, customers, by, progress=progress, n_jobs=n_jobs)
    notes: list[str] = []
    without = [n for n in names if n not in set(labels.tolist())]
    if without:
        notes.append(
            f"{len(without)} {by}(s) have {first}s but no costs and are left out: {without}."
        )
    keep = entered.copy()
    if period is not None:
        keep &= _in_spend_months(customers, first, period, entered)
    by_segment = {r.segment: r for r in segments.rows}
    grid = fit.grid
    scale = grid.horizon / fit.horizon  # model units per reporting unit
    rows = []
    for name in names:
        if name in without:
            continue
        spent = float(cost[labels == name].sum())
        mine = codes == names.index(name)
        n = int((keep & mine).sum())
        seg = by_segment.get(name)
        per_prospect = spent / n if n > 0 else None
        value = _scaled(seg.value_per_prospect if seg else ValueEstimate(value=None), margin)
        curve = None
        if value.value is not None and n > 0:
            curve = _value_curve(fit, customers, mine, grid)
        buyers = None if curve is None else n * curve[2]
        rows.append(
            ChannelEconomicsRow(
                channel=name,
                prospects=n,
                cost=spent,
                cost_per_prospect=per_prospect,
                expected_buyers=buyers,
                cost_per_buyer=spent / buyers if buyers else None,
                value_per_prospect=value,
                roi=_roi(value, per_prospect),
                payback=_payback(curve, value.value, per_prospect, scale),
            )
        )
        if n == 0:
            notes.append(f"{name}: {spent:,.2f} spent but no {first}s in the spend's periods.")
    if period is not None:
        notes.append(
            f"Spend given by month: only {first}s who entered in a month with spend in their "
            f"{by} are counted."
        )
    notes += list(segments.notes)
    header = segments.model_dump(
        include={
            "horizon",
            "time_unit",
            "discount_rate",
            "conf_level",
            "n_resamples",
            "interval_method",
            "value_unit",
        }
    )
    return ChannelEconomics(
        by=by,
        first_stage=first,
        margin=margin,
        rows=tuple(rows),
        notes=tuple(dict.fromkeys(notes)),
        **header,
    )


def check_costs(costs: Any, margin: Any, by: str | None) -> tuple[Any, float]:
    """Refuse malformed costs or margin before any fitting; ``(costs, margin)`` if fine."""
    if by is None:
        raise FunnelkitError(
            "costs were given but by=None: the channel economics need the channel attribute "
            "(by='channel', and the log read with attribute_cols=['channel'])."
        )
    read_costs(costs)
    return costs, _check_margin(margin)


def _check_margin(margin: Any) -> float:
    return positive_number(
        margin, owner="channel_value", name="margin", hint="e.g. 0.4 for a 40% margin"
    )


def _in_spend_months(
    customers: CustomerTable, first: str, months: np.ndarray, entered: np.ndarray
) -> np.ndarray:
    """Prospects who entered in a month that has spend (any channel's spend)."""
    if not customers.is_datetime:
        raise DataError(
            "The costs have a 'period' column but the log's times are numbers, not dates: "
            "drop the 'period' column (total spend per channel)."
        )
    index = np.flatnonzero(entered)
    codes, labels = segment_codes(customers.journeys, "cohort:month", index, first)
    wanted = np.isin(np.asarray(labels, dtype=object), np.unique(months))
    out = np.zeros(customers.n_customers, dtype=bool)
    out[index] = wanted[np.asarray(codes)]
    return out


def _scaled(est: ValueEstimate, factor: float) -> ValueEstimate:
    if est.value is None:
        return est
    ci = None
    if est.ci is not None and est.ci[0] is not None and est.ci[1] is not None:
        ci = (est.ci[0] * factor, est.ci[1] * factor)
    se = None if est.std_error is None else est.std_error * factor
    return ValueEstimate(value=est.value * factor, ci=ci, std_error=se)


def _roi(value: ValueEstimate, per_prospect: float | None) -> ValueEstimate:
    if value.value is None or per_prospect is None or per_prospect <= 0:
        return ValueEstimate(value=None)
    ratio = _scaled(value, 1.0 / per_prospect)
    assert ratio.value is not None
    ci = None if ratio.ci is None else (ratio.ci[0] - 1.0, ratio.ci[1] - 1.0)  # type: ignore[operator]
    return ValueEstimate(value=ratio.value - 1.0, ci=ci, std_error=ratio.std_error)


def _value_curve(
    fit: LifecycleFit, customers: CustomerTable, mine: np.ndarray, grid: ValueGrid
) -> tuple[np.ndarray, np.ndarray, float] | None:
    """Times (model units), value of a channel prospect up to each, P(buy within H).

    The components are refitted on the channel's customers as
    :func:`~funnelkit.lifecycle.segments.segment_values` does; the curve is normalised so
    that it ends at that function's horizon value (which also counts prospects who had
    bought before, valued from their purchase history).
    """
    main = fit.main_components()
    weights = mine.astype(np.int64)
    try:
        comps = refit_components(fit, customers, weights, template=main, pooled=main)
    except FunnelkitError:
        return None
    first = customers.stage_names[0]
    curve, share = comps.curves[first], comps.shares[first]
    times = np.linspace(0.0, grid.horizon, _PAYBACK_POINTS + 1)[1:]
    values = np.empty(times.size)
    prob = 0.0
    for k, t in enumerate(times):
        g = ValueGrid(horizon=float(t), delta=grid.delta, n_grid=max(20, grid.n_grid // 2))
        v, _, p = pre_values(curve, share, comps, g)
        values[k] = float(v[0])
        prob = float(p[0])
    return np.concatenate([[0.0], times]), np.concatenate([[0.0], values]), prob


def _payback(
    curve: tuple[np.ndarray, np.ndarray, float] | None,
    value: float | None,
    per_prospect: float | None,
    scale: float,
) -> float | None:
    """First time (reporting units) the cumulative margin reaches the cost per prospect."""
    if curve is None or value is None or per_prospect is None:
        return None
    times, values, _ = curve
    if per_prospect <= 0:
        return 0.0
    if not values[-1] > 0:
        return None
    cumulative = values * (value / values[-1])  # the curve, ending at the reported value
    above = np.flatnonzero(cumulative >= per_prospect)
    if above.size == 0:
        return None
    k = int(above[0])
    if k == 0:
        return 0.0
    # linear interpolation between the two grid points around the crossing
    t0, t1, v0, v1 = times[k - 1], times[k], cumulative[k - 1], cumulative[k]
    t = t0 + (t1 - t0) * (per_prospect - v0) / (v1 - v0)
    return float(t / scale)
