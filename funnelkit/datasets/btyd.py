"""Simulators for the "buy till you die" purchase models, and the published donations data.

Each simulator draws from the exact generative story of its model (heterogeneous purchase and
dropout rates, a Poisson or Bernoulli purchase process while alive), vectorised over customers,
so a fitter run on the output should recover the parameters that produced it. Optionally a
holdout period after ``T`` is simulated too, for checking conditional predictions.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from funnelkit._optional import import_optional
from funnelkit.exceptions import DataError
from funnelkit.rfm import RFM
from funnelkit.units import TimeUnitLike

__all__ = [
    "SimulatedRFM",
    "load_donations",
    "simulate_bgbb",
    "simulate_bgnbd",
    "simulate_mbgnbd",
    "simulate_pareto_nbd",
]


@dataclass(frozen=True)
class SimulatedRFM:
    """A simulated customer base: its RFM summary, the true parameters and who is alive.

    ``alive`` says whether each customer is still active at the end of observation (``T``).
    With a holdout, ``rfm.holdout_frequency`` counts purchases in ``(T, T + holdout]`` and
    ``rfm.holdout_duration`` is the holdout length.
    """

    rfm: RFM
    params: dict[str, float]
    alive: np.ndarray


def simulate_bgnbd(
    n_customers: int,
    *,
    T: Any,
    r: float = 0.243,
    alpha: float = 4.414,
    a: float = 0.793,
    b: float = 2.426,
    holdout: float = 0.0,
    time_unit: TimeUnitLike = "W",
    seed: int | np.random.Generator | None,
) -> SimulatedRFM:
    """Simulate the BG/NBD model (Fader, Hardie & Lee 2005).

    Purchase rate ``lambda ~ Gamma(r, rate alpha)``; after every repeat purchase the customer
    drops out with probability ``p ~ Beta(a, b)``. Defaults are FHL's CDNOW estimates (weeks).

    Parameters
    ----------
    n_customers
        Number of customers.
    T
        Observation length per customer since their first purchase (scalar or array).
    r, alpha, a, b
        True parameters.
    holdout
        Length of a holdout period after ``T`` to simulate (0 = none).
    time_unit
        Unit of ``T`` and ``holdout``, stored on the RFM.
    seed
        Seed or generator for ``numpy.random.default_rng``.

    Examples
    --------
    >>> sim = simulate_bgnbd(1000, T=39.0, seed=0)
    >>> len(sim.rfm), sorted(sim.params)
    (1000, ['a', 'alpha', 'b', 'r'])

    References
    ----------
    .. [1] Fader, P. S., Hardie, B. G. S. & Lee, K. L. (2005). "Counting Your Customers" the
       Easy Way. *Marketing Science* 24(2), 275-284.
    """
    return _simulate_geometric(
        n_customers, T, r, alpha, a, b, holdout, time_unit, seed, at_first_purchase=False
    )


def simulate_mbgnbd(
    n_customers: int,
    *,
    T: Any,
    r: float = 0.525,
    alpha: float = 6.183,
    a: float = 0.891,
    b: float = 1.614,
    holdout: float = 0.0,
    time_unit: TimeUnitLike = "W",
    seed: int | np.random.Generator | None,
) -> SimulatedRFM:
    """Simulate the MBG/NBD model (Batislam, Denizel & Filiztekin 2007).

    As BG/NBD, except that a customer can also drop out right after the first purchase, so
    dropout chances come at purchase 0, 1, 2, ...; parameters as :func:`simulate_bgnbd`.
    Defaults are the MBG/NBD maximum-likelihood estimates on the CDNOW sample (weeks).

    Examples
    --------
    >>> sim = simulate_mbgnbd(1000, T=39.0, seed=0)
    >>> bool(sim.alive.mean() < 1)
    True

    References
    ----------
    .. [1] Batislam, E. P., Denizel, M. & Filiztekin, A. (2007). Empirical validation and
       comparison of models for customer base analysis. *IJRM* 24(3), 201-209.
    """
    return _simulate_geometric(
        n_customers, T, r, alpha, a, b, holdout, time_unit, seed, at_first_purchase=True
    )


def simulate_pareto_nbd(
    n_customers: int,
    *,
    T: Any,
    r: float = 0.553,
    alpha: float = 10.578,
    s: float = 0.606,
    beta: float = 11.669,
    holdout: float = 0.0,
    time_unit: TimeUnitLike = "W",
    seed: int | np.random.Generator | None,
) -> SimulatedRFM:
    """Simulate the Pareto/NBD model (Schmittlein, Morrison & Colombo 1987).

    Purchase rate ``lambda ~ Gamma(r, rate alpha)``, exponential lifetime with rate
    ``mu ~ Gamma(s, rate beta)``. Defaults are Fader & Hardie's CDNOW estimates (weeks).

    Examples
    --------
    >>> sim = simulate_pareto_nbd(1000, T=39.0, holdout=39.0, seed=0)
    >>> sim.rfm.has_holdout
    True

    References
    ----------
    .. [1] Schmittlein, D. C., Morrison, D. G. & Colombo, R. (1987). Counting Your Customers:
       Who Are They and What Will They Do Next? *Management Science* 33(1), 1-24.
    """
    rng = np.random.default_rng(seed)
    T_arr = _ages(n_customers, T)
    _positive(r=r, alpha=alpha, s=s, beta=beta, holdout=holdout + 1.0)
    lam = rng.gamma(r, 1.0 / alpha, n_customers)
    mu = rng.gamma(s, 1.0 / beta, n_customers)
    lifetime = rng.exponential(1.0, n_customers) / mu
    active = np.minimum(lifetime, T_arr)
    x = rng.poisson(lam * active)
    # the last of x uniform arrival times on [0, active] is active * Beta(x, 1)
    recency = np.where(x > 0, active * rng.beta(np.maximum(x, 1), 1.0), 0.0)
    alive = lifetime > T_arr
    future = np.clip(lifetime - T_arr, 0.0, holdout)
    holdout_x = rng.poisson(lam * future) if holdout > 0 else None
    params = {"r": r, "alpha": alpha, "s": s, "beta": beta}
    return _result(x, recency, T_arr, holdout_x, holdout, time_unit, params, alive)


def simulate_bgbb(
    n_customers: int,
    *,
    n_periods: int,
    alpha: float = 1.204,
    beta: float = 0.750,
    gamma: float = 0.657,
    delta: float = 2.783,
    holdout: int = 0,
    time_unit: TimeUnitLike = "Y",
    seed: int | np.random.Generator | None,
) -> SimulatedRFM:
    """Simulate the BG/BB model (Fader, Hardie & Shang 2010) over discrete opportunities.

    While alive a customer buys at each opportunity with probability ``p ~ Beta(alpha,
    beta)``; at the start of each opportunity they die with probability ``theta ~ Beta(gamma,
    delta)``. In the RFM, ``T`` is ``n_periods`` and ``recency`` the opportunity of the last
    purchase (``time_unit`` names the length of one opportunity). Defaults are the published
    donations estimates.

    Examples
    --------
    >>> sim = simulate_bgbb(1000, n_periods=6, seed=0)
    >>> float(sim.rfm.T.max())
    6.0

    References
    ----------
    .. [1] Fader, P. S., Hardie, B. G. S. & Shang, J. (2010). Customer-Base Analysis in a
       Discrete-Time Noncontractual Setting. *Marketing Science* 29(6), 1086-1108.
    """
    rng = np.random.default_rng(seed)
    _positive(alpha=alpha, beta=beta, gamma=gamma, delta=delta, n_periods=n_periods)
    if holdout < 0 or int(holdout) != holdout or int(n_periods) != n_periods:
        raise DataError("n_periods and holdout must be whole numbers (holdout >= 0).")
    n = int(n_periods)
    p = rng.beta(alpha, beta, n_customers)
    theta = rng.beta(gamma, delta, n_customers)
    # death happens at the start of opportunity D ~ Geometric(theta): alive for 1..D-1
    death = rng.geometric(theta)
    x = np.zeros(n_customers)
    recency = np.zeros(n_customers)
    holdout_x = np.zeros(n_customers)
    for t in range(1, n + int(holdout) + 1):
        buys = (death > t) & (rng.random(n_customers) < p)
        if t <= n:
            x += buys
            recency[buys] = t
        else:
            holdout_x += buys
    params = {"alpha": alpha, "beta": beta, "gamma": gamma, "delta": delta}
    return _result(
        x,
        recency,
        np.full(n_customers, float(n)),
        holdout_x if holdout > 0 else None,
        float(holdout),
        time_unit,
        params,
        death > n,
    )


def load_donations() -> Any:
    """The donations data of Fader, Hardie & Shang (2010), as bundled with lifetimes.

    11,104 first-time supporters of a non-profit, followed over the 6 annual donation
    opportunities 1996-2001, aggregated into 22 rows with a ``weights`` column counting the
    donors per row. ``T`` is the number of opportunities (6), ``recency`` the opportunity of
    the last donation and ``frequency`` the number of repeat donations.

    Examples
    --------
    >>> donations = load_donations()  # doctest: +SKIP
    >>> int(donations["weights"].sum())  # doctest: +SKIP
    11104

    References
    ----------
    .. [1] Fader, P. S., Hardie, B. G. S. & Shang, J. (2010). Customer-Base Analysis in a
       Discrete-Time Noncontractual Setting. *Marketing Science* 29(6), 1086-1108.
    """
    lifetimes = import_optional("lifetimes", purpose="load_donations")
    pd = import_optional("pandas", purpose="load_donations")
    path = Path(str(lifetimes.__file__)).parent / "datasets" / "donations.csv"
    frame = pd.read_csv(path)
    return frame.rename(columns={"periods": "T"})[["frequency", "recency", "T", "weights"]]


#: the dropout chance of a customer whose dropout probability is 0 (never reached)
_NEVER = np.iinfo(np.int64).max // 2


def _simulate_geometric(
    n_customers: int,
    T: Any,
    r: float,
    alpha: float,
    a: float,
    b: float,
    holdout: float,
    time_unit: TimeUnitLike,
    seed: int | np.random.Generator | None,
    *,
    at_first_purchase: bool,
) -> SimulatedRFM:
    rng = np.random.default_rng(seed)
    T_arr = _ages(n_customers, T)
    _positive(r=r, alpha=alpha, a=a, b=b, holdout=holdout + 1.0)
    lam = rng.gamma(r, 1.0 / alpha, n_customers)
    p = rng.beta(a, b, n_customers)
    # repeat purchases made before dropping out: BG/NBD drops after purchase 1, 2, ...;
    # MBG/NBD may also drop right after the first (trial) purchase
    # a beta with tiny a and b draws exact zeros: those customers never drop out
    chances = np.where(p > 0, rng.geometric(np.where(p > 0, p, 1.0)), _NEVER)
    lifetime_purchases = chances - (1 if at_first_purchase else 0)
    arrivals = rng.poisson(lam * T_arr)
    x = np.minimum(lifetime_purchases, arrivals)
    # the x-th of n uniform arrival times on [0, T] is T * Beta(x, n - x + 1)
    safe_x = np.maximum(x, 1)
    recency = np.where(x > 0, T_arr * rng.beta(safe_x, np.maximum(arrivals - safe_x + 1, 1)), 0.0)
    alive = lifetime_purchases > arrivals
    holdout_x = None
    if holdout > 0:
        future = rng.poisson(lam * holdout)
        holdout_x = np.where(alive, np.minimum(future, lifetime_purchases - arrivals), 0)
    params = {"r": r, "alpha": alpha, "a": a, "b": b}
    return _result(x, recency, T_arr, holdout_x, holdout, time_unit, params, alive)


def _ages(n_customers: int, T: Any) -> np.ndarray:
    if int(n_customers) != n_customers or n_customers < 1:
        raise DataError(f"n_customers must be a whole number >= 1; got {n_customers!r}.")
    T_arr = np.broadcast_to(np.asarray(T, dtype=float), (int(n_customers),)).copy()
    if not np.all(np.isfinite(T_arr)) or np.any(T_arr <= 0):
        raise DataError("T must be finite and > 0 for every customer.")
    return T_arr


def _positive(**values: float) -> None:
    bad = {k: v for k, v in values.items() if not (np.isfinite(v) and v > 0)}
    if bad:
        raise DataError(f"Simulation parameters must be finite and > 0; got {bad}.")


def _result(
    x: np.ndarray,
    recency: np.ndarray,
    T: np.ndarray,
    holdout_x: np.ndarray | None,
    holdout: float,
    time_unit: TimeUnitLike,
    params: dict[str, float],
    alive: np.ndarray,
) -> SimulatedRFM:
    rfm = RFM.from_arrays(frequency=x.astype(float), recency=recency, T=T, time_unit=time_unit)
    if holdout_x is not None:
        rfm = RFM(
            customer_ids=rfm.customer_ids,
            frequency=rfm.frequency,
            recency=rfm.recency,
            T=rfm.T,
            time_unit=rfm.time_unit,
            holdout_frequency=np.asarray(holdout_x, dtype=float),
            holdout_duration=np.full(T.shape[0], float(holdout)),
        )
    return SimulatedRFM(rfm=rfm, params={k: float(v) for k, v in params.items()}, alive=alive)
