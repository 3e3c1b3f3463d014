"""Segments of a transition (customer attributes or entry cohorts) and tests across them."""

from __future__ import annotations

import difflib
from dataclasses import dataclass

import numpy as np
from scipy import stats

from funnelkit.exceptions import FunnelkitError
from funnelkit.journeys import Journeys, attribute_segments
from funnelkit.units import TimeUnit

__all__ = ["LogRankResult", "cohort_unit", "logrank", "segment_codes"]

#: Pairwise log-rank tests are run only up to this many segments (45 pairs).
MAX_PAIRWISE_SEGMENTS = 10
_CHUNK = 20_000


def cohort_unit(by: str) -> TimeUnit | None:
    """The period of ``by="cohort:<unit>"`` (None if ``by`` names an attribute)."""
    if not by.startswith("cohort:"):
        return None
    name = by.split(":", 1)[1]
    try:
        unit = TimeUnit.parse(name)
    except FunnelkitError:
        unit = None
    if unit is None or unit is TimeUnit.HOUR:
        raise FunnelkitError(
            f"Unknown cohort period in by={by!r}: use 'cohort:day', 'cohort:week', "
            "'cohort:month' or 'cohort:year'."
        )
    return unit


def check_by(journeys: Journeys, by: str) -> None:
    """Raise a helpful error if ``by`` is neither an attribute nor a cohort period."""
    if cohort_unit(by) is not None or by in journeys.attributes:
        return
    names = list(journeys.attributes)
    close = difflib.get_close_matches(by, names, n=3, cutoff=0.5)
    hint = f" Did you mean one of these: {close}?" if close else ""
    raise FunnelkitError(
        f"by={by!r} is not a customer attribute of these journeys.{hint} Attributes: {names}; "
        "or use an entry cohort: 'cohort:week' or 'cohort:month'. Keep attributes with "
        "EventLog.from_frame(..., attribute_cols=[...])."
    )


def segment_codes(
    journeys: Journeys, by: str, index: np.ndarray, source: str
) -> tuple[np.ndarray, tuple[str, ...]]:
    """Segment code (0..k-1) of each customer in ``index`` and the ordered segment labels.

    Attribute segments are sorted by label (missing values last, as ``"(missing)"``); entry
    cohorts (the period in which the customer entered ``source``) are sorted in time and
    labelled by the period start (``2024-01-01`` weeks start on Mondays, ``2024-01`` months).
    """
    unit = cohort_unit(by)
    if unit is None:
        return _attribute_codes(journeys.attributes[by][index])
    times = journeys.entry_times[index, journeys.stage_index(source)]
    days = times * journeys.time_unit.days
    if unit is TimeUnit.WEEK:
        period = np.floor((days + 3.0) / 7.0) if journeys.is_datetime else np.floor(days / 7.0)
    elif unit is TimeUnit.DAY:
        period = np.floor(days)
    elif journeys.is_datetime:
        code = "datetime64[M]" if unit is TimeUnit.MONTH else "datetime64[Y]"
        period = np.floor(days).astype("int64").astype("datetime64[D]").astype(code).astype(float)
    else:
        period = np.floor(days / unit.days)
    values, codes = _dense_codes(period.astype(np.int64))
    return codes, tuple(_period_label(int(v), unit, journeys.is_datetime) for v in values)


def _dense_codes(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np.unique(values, return_inverse=True)`` of integers: periods span a short range, so
    a table of the values in use replaces a sort of one value per customer."""
    if values.size == 0:
        return values, np.zeros(0, dtype=np.int64)
    low = int(values.min())
    span = int(values.max()) - low + 1
    if span > 4 * values.size + 100_000:
        distinct, codes = np.unique(values, return_inverse=True)
        return distinct, codes.reshape(-1)
    used = np.zeros(span, dtype=bool)
    used[values - low] = True
    rank = np.cumsum(used) - 1
    return np.flatnonzero(used) + low, rank[values - low]


def _attribute_codes(values: np.ndarray) -> tuple[np.ndarray, tuple[str, ...]]:
    """:func:`funnelkit.journeys.attribute_segments` of ``values`` (distinct values labelled)."""
    return attribute_segments(values)


def _period_label(value: int, unit: TimeUnit, is_datetime: bool) -> str:
    if not is_datetime:
        return f"{unit.value} {value}"
    if unit is TimeUnit.WEEK:
        return str(np.datetime64(value * 7 - 3, "D"))
    if unit is TimeUnit.DAY:
        return str(np.datetime64(value, "D"))
    return str(np.datetime64(value, "M" if unit is TimeUnit.MONTH else "Y"))


@dataclass(frozen=True)
class LogRankResult:
    """A k-sample log-rank test plus the pairwise two-sample tests (if computed)."""

    statistic: float
    df: int
    p_value: float
    observed_minus_expected: np.ndarray
    pair_statistic: np.ndarray | None  # (k, k), upper triangle used
    pair_p_value: np.ndarray | None


def logrank(
    durations: np.ndarray, converted: np.ndarray, codes: np.ndarray, k: int, *, pairwise: bool
) -> LogRankResult | None:
    """Mantel's log-rank test of equal conversion curves across ``k`` groups.

    Vectorised over the distinct conversion times, in chunks so memory stays ``k * 20000``.
    Returns None when nobody converted (the test is undefined).

    References
    ----------
    Mantel, N. (1966). Evaluation of survival data and two new rank order statistics arising
    in its consideration. *Cancer Chemotherapy Reports* 50(3), 163-170.
    """
    t = np.asarray(durations, dtype=float)
    e = np.asarray(converted, dtype=bool)
    event_times = np.unique(t[e])
    m = event_times.size
    if m == 0 or k < 2:
        return None
    # In duration order, the last event time each row is still at risk at comes out sorted,
    # and the binary searches run over sorted keys. (Within a chunk the order does not matter:
    # the counts below are whole numbers.)
    order = np.argsort(t)
    last = np.searchsorted(event_times, t[order], side="right") - 1
    keep = last >= 0
    js, gs, es = last[keep], codes[order][keep], e[order][keep].astype(float)
    u = np.zeros(k)
    v = np.zeros((k, k))
    pu = np.zeros((k, k)) if pairwise else None
    pv = np.zeros((k, k)) if pairwise else None
    carry = np.zeros(k)
    for j1 in range(m, 0, -_CHUNK):
        j0 = max(0, j1 - _CHUNK)
        c = j1 - j0
        a, b = np.searchsorted(js, [j0, j1], side="left")
        flat = gs[a:b] * c + (js[a:b] - j0)
        counts = np.bincount(flat, minlength=k * c).reshape(k, c).astype(float)
        events = np.bincount(flat, weights=es[a:b], minlength=k * c).reshape(k, c)
        at_risk = np.cumsum(counts[:, ::-1], axis=1)[:, ::-1] + carry[:, None]
        carry = at_risk[:, 0].copy()
        n, d = at_risk.sum(axis=0), events.sum(axis=0)
        u += (events - at_risk * (d / n)).sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            w = np.where(n > 1, d * (n - d) / (n - 1), 0.0)
        share = at_risk / n
        v += np.diag((share * w).sum(axis=1)) - (share * w) @ share.T
        if pu is not None and pv is not None:
            for g in range(k):
                for h in range(g + 1, k):
                    nn = at_risk[g] + at_risk[h]
                    dd = events[g] + events[h]
                    ok = (nn > 0) & (dd > 0)
                    ng, nh, nt, dt = at_risk[g][ok], at_risk[h][ok], nn[ok], dd[ok]
                    pu[g, h] += float((events[g][ok] - ng * dt / nt).sum())
                    ww = np.where(nt > 1, dt * (nt - dt) / np.maximum(nt - 1, 1), 0.0)
                    pv[g, h] += float((ng * nh * ww / (nt * nt)).sum())
    rank = int(np.linalg.matrix_rank(v))
    statistic = float(u @ np.linalg.pinv(v) @ u) if rank else 0.0
    p_value = float(stats.chi2.sf(statistic, rank)) if rank else 1.0
    pair_stat = pair_p = None
    if pu is not None and pv is not None:
        with np.errstate(invalid="ignore", divide="ignore"):
            pair_stat = np.where(pv > 0, pu * pu / pv, np.nan)
        pair_p = np.where(np.isnan(pair_stat), np.nan, stats.chi2.sf(pair_stat, 1))
    return LogRankResult(statistic, rank, p_value, u, pair_stat, pair_p)
