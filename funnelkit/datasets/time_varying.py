"""Simulate the Pareto/NBD with time-varying covariates: a campaign burst and a membership switch.

The generative story of :class:`funnelkit.clv.TimeVaryingParetoNBDFitter`: customers are
acquired on whole days (their first purchase), draw ``lambda ~ Gamma(r, alpha)`` and ``mu ~
Gamma(s, beta)``, and while alive buy at ``lambda exp(gamma_p' z(t))`` and drop out at
``mu exp(gamma_d' w(t))``, with weekly covariates: ``campaign`` (1 in the campaign weeks, for
everybody) and ``member`` (0 until a customer's own joining week, then 1; half never join).
Vectorised over customers and weeks: a dropout time from the cumulative hazard, Poisson
counts on each week's alive span, uniform purchase times within it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from funnelkit.exceptions import FunnelkitError
from funnelkit.units import TimeUnit, TimeUnitLike

__all__ = ["SimulatedTimeVarying", "simulate_time_varying_pareto_nbd"]

_WEEK = 7.0
#: day 0 of the simulation: a Monday, so the weekly periods are calendar weeks
_START = "2024-01-01"


@dataclass(frozen=True)
class SimulatedTimeVarying:
    """A simulated customer base with weekly covariates.

    ``events`` (``customer_id``, ``timestamp``) and ``covariates`` (``customer_id``,
    ``period_start``: the Monday of each week, ``campaign``, ``member``; rows through the
    holdout, so they double as the known future path) are mappings of numpy arrays, which
    every funnelkit door reads; times are dates from Monday 2024-01-01. Fit with
    ``calibration_end=calibration_end``; purchases after it are the holdout. Fit in hours
    (``time_unit="h"``) to compare with the truth: the model is in continuous time, and in
    days two purchases on one day count once, which shrinks the burst a little.
    """

    events: dict[str, np.ndarray]
    covariates: dict[str, np.ndarray]
    calibration_end: np.datetime64
    observation_end: np.datetime64
    #: r, alpha, s, beta with rates per day (see :meth:`params_per`)
    params: dict[str, float]
    purchase_effects: dict[str, float]
    dropout_effects: dict[str, float]
    alive: np.ndarray = field(repr=False)

    def params_per(self, time_unit: TimeUnitLike) -> dict[str, float]:
        """The true ``r, alpha, s, beta`` for a fit in ``time_unit`` (alpha and beta are
        time scales: 30 per day is 720 per hour).

        >>> sim = simulate_time_varying_pareto_nbd(10, seed=0)
        >>> sim.params_per("h")["alpha"]
        720.0
        """
        days = TimeUnit.parse(time_unit).days
        p = self.params
        return {"r": p["r"], "alpha": p["alpha"] / days, "s": p["s"], "beta": p["beta"] / days}


def simulate_time_varying_pareto_nbd(
    n_customers: int,
    *,
    r: float = 0.8,
    alpha: float = 30.0,
    s: float = 0.6,
    beta: float = 150.0,
    purchase_effects: Mapping[str, float] | None = None,
    dropout_effects: Mapping[str, float] | None = None,
    campaign_weeks: tuple[int, int] = (22, 26),
    calibration_days: int = 364,
    holdout_days: int = 84,
    acquisition_days: int = 182,
    seed: int | np.random.Generator | None = None,
) -> SimulatedTimeVarying:
    """Simulate events and weekly covariates with known effects (rates per day).

    Parameters
    ----------
    n_customers
        Customers, each acquired (first purchase) on a day in ``[0, acquisition_days)``.
    r, alpha, s, beta
        Gamma heterogeneity of the purchase and dropout rates (per day).
    purchase_effects, dropout_effects
        Log-multipliers of the rates per unit of ``campaign`` / ``member``; default a
        purchase burst ``exp(gamma) = 2`` during the campaign, members buying
        ``exp(0.3)`` times as often and dropping out at ``exp(-0.7)`` the rate.
    campaign_weeks
        Weeks ``[first, last)`` (from day 0) of the campaign.
    calibration_days, holdout_days
        Length of calibration and of the holdout after it.
    seed
        Seed or Generator.

    Examples
    --------
    >>> sim = simulate_time_varying_pareto_nbd(200, seed=1)
    >>> sorted(sim.covariates), str(sim.calibration_end)[:10]
    (['campaign', 'customer_id', 'member', 'period_start'], '2024-12-30')
    """
    purchase = dict(
        {"campaign": float(np.log(2.0)), "member": 0.3}
        if purchase_effects is None
        else purchase_effects
    )
    dropout = dict({"member": -0.7} if dropout_effects is None else dropout_effects)
    unknown = sorted(set(purchase) | set(dropout) - {"campaign", "member"})
    unknown = [u for u in unknown if u not in ("campaign", "member")]
    if unknown or n_customers < 1 or min(r, alpha, s, beta) <= 0:
        raise FunnelkitError(
            "Simulation needs n_customers >= 1, positive r, alpha, s, beta and effects only "
            f"for 'campaign' and 'member' (got unknown {unknown})."
        )
    rng = np.random.default_rng(seed)
    end = float(calibration_days + holdout_days)
    n_weeks = int(np.ceil(end / _WEEK))
    week_start = np.arange(n_weeks) * _WEEK
    first = rng.integers(0, acquisition_days, n_customers).astype(float)
    lam = rng.gamma(r, 1.0 / alpha, n_customers)
    mu = rng.gamma(s, 1.0 / beta, n_customers)
    campaign = (np.arange(n_weeks) >= campaign_weeks[0]) & (np.arange(n_weeks) < campaign_weeks[1])
    joins = rng.random(n_customers) < 0.5
    join_week = np.where(joins, rng.integers(0, n_weeks, n_customers), n_weeks)
    member = (np.arange(n_weeks)[None, :] >= join_week[:, None]).astype(float)
    camp = np.broadcast_to(campaign.astype(float), (n_customers, n_weeks))

    def multiplier(effects: Mapping[str, float]) -> np.ndarray:
        return np.exp(effects.get("campaign", 0.0) * camp + effects.get("member", 0.0) * member)

    a, b = multiplier(purchase), multiplier(dropout)
    lo = np.maximum(week_start[None, :], first[:, None])
    hi = np.minimum(week_start + _WEEK, end)[None, :]
    span = np.clip(hi - lo, 0.0, None)
    # dropout: the cumulative hazard mu B(t) crosses an Exp(1) draw
    hazard = mu[:, None] * b * span
    before = np.cumsum(hazard, axis=1) - hazard
    need = rng.exponential(1.0, n_customers)[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        alive_span = np.where(
            before >= need, 0.0, np.minimum(span, (need - before) / (mu[:, None] * b))
        )
    alive_span = np.nan_to_num(np.clip(alive_span, 0.0, span))
    counts = rng.poisson(lam[:, None] * a * alive_span)
    cust = np.repeat(np.repeat(np.arange(n_customers), n_weeks), counts.ravel())
    starts = np.repeat(lo.ravel(), counts.ravel())
    times = starts + rng.random(cust.size) * np.repeat(alive_span.ravel(), counts.ravel())
    event_cust = np.concatenate([np.arange(n_customers), cust])
    event_time = np.concatenate([first, times])
    order = np.lexsort((event_time, event_cust))

    first_week = (first // _WEEK).astype(int)
    rows = np.arange(n_weeks)[None, :] >= first_week[:, None]
    row_cust, row_week = np.nonzero(rows)
    ids = np.array([f"c{i:05d}" for i in range(n_customers)])
    return SimulatedTimeVarying(
        events={"customer_id": ids[event_cust[order]], "timestamp": _dates(event_time[order])},
        covariates={
            "customer_id": ids[row_cust],
            "period_start": _dates(week_start[row_week]),
            "campaign": campaign[row_week].astype(float),
            "member": member[row_cust, row_week],
        },
        calibration_end=_dates(np.array([float(calibration_days)]))[0],
        observation_end=_dates(np.array([end]))[0],
        params={"r": r, "alpha": alpha, "s": s, "beta": beta},
        purchase_effects=purchase,
        dropout_effects=dropout,
        alive=before[:, -1] + hazard[:, -1] < need[:, 0],
    )


def _dates(days: np.ndarray) -> np.ndarray:
    """Days after the first Monday of 2024 as ``datetime64[ns]`` (to the nanosecond, so a
    fit in hours sees the continuous times)."""
    ns = np.round(days * 86_400e9).astype(np.int64)
    return np.datetime64(_START, "ns") + ns.astype("timedelta64[ns]")
