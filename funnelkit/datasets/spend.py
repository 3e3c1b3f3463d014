"""Simulators for the spend (Gamma-Gamma) and contractual retention (shifted-beta-geometric) models.

Both draw from the exact generative story of their model, so a fitter run on the output should
recover the parameters that produced it: that is what the recovery tests check.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from pydantic import Field

from funnelkit._frames import Backend, frame_from_columns
from funnelkit._results import Spec
from funnelkit.exceptions import DataError

__all__ = [
    "GammaGammaParams",
    "ShiftedBetaGeoParams",
    "SimulatedLifetimes",
    "SimulatedSpend",
    "simulate_contract_lifetimes",
    "simulate_spend",
]


class GammaGammaParams(Spec):
    """True Gamma-Gamma parameters: a spend is Gamma(p, ν); ν is Gamma(q, rate v) per customer."""

    p: float = Field(gt=0)
    q: float = Field(gt=0)
    v: float = Field(gt=0)


class ShiftedBetaGeoParams(Spec):
    """True sBG parameters: the per-period churn probability θ is Beta(alpha, beta)."""

    alpha: float = Field(gt=0)
    beta: float = Field(gt=0)


@dataclass(frozen=True)
class SimulatedSpend:
    """Simulated mean repeat-transaction spend, and the per-customer truth behind it.

    ``monetary_value`` is the mean of ``frequency`` transaction values (0 where frequency is 0,
    as in an RFM summary); ``spend_rate`` is each customer's ν, so the true mean spend of a
    customer is ``p / spend_rate``.
    """

    frequency: np.ndarray
    monetary_value: np.ndarray
    spend_rate: np.ndarray
    params: GammaGammaParams

    def to_frame(self, backend: Backend = "pandas") -> Any:
        """``customer_id, frequency, monetary_value`` as a pandas, polars or pyarrow frame."""
        columns = {
            "customer_id": np.arange(self.frequency.size),
            "frequency": self.frequency,
            "monetary_value": self.monetary_value,
        }
        return frame_from_columns(columns, backend)


@dataclass(frozen=True)
class SimulatedLifetimes:
    """Simulated contract lifetimes, censored at the end of observation.

    ``durations`` counts the periods each customer was observed (their lifetime if they churned,
    else the periods observed so far); ``churned`` says which. ``lifetimes`` and
    ``churn_probability`` are the uncensored truth.
    """

    durations: np.ndarray
    churned: np.ndarray
    lifetimes: np.ndarray
    churn_probability: np.ndarray
    params: ShiftedBetaGeoParams

    def survivors(self, periods: int) -> np.ndarray:
        """Survivor counts ``n_0, n_1, ..., n_periods`` of the whole cohort (uncensored truth).

        ``n_t`` is the number of customers whose lifetime exceeds ``t`` periods, the input of
        :meth:`funnelkit.clv.ShiftedBetaGeoFitter.fit_survivors`.
        """
        t = np.arange(int(periods) + 1)
        counts = np.bincount(np.minimum(self.lifetimes, periods + 1), minlength=periods + 2)
        # n_t = number with lifetime > t = total minus those who churned at or before t.
        return self.lifetimes.size - np.concatenate([[0], np.cumsum(counts[1:])])[t]

    def to_frame(self, backend: Backend = "pandas") -> Any:
        """``customer_id, duration, churned`` as a pandas, polars or pyarrow frame."""
        columns = {
            "customer_id": np.arange(self.durations.size),
            "duration": self.durations,
            "churned": self.churned,
        }
        return frame_from_columns(columns, backend)


def simulate_spend(
    frequency: Any,
    *,
    p: float,
    q: float,
    v: float,
    seed: int | np.random.Generator | None,
) -> SimulatedSpend:
    """Draw each customer's mean repeat-transaction spend from the Gamma-Gamma model.

    Each customer has a spend rate ν ~ Gamma(shape q, rate v); each of their ``frequency``
    transactions is Gamma(shape p, rate ν), so their mean spend is Gamma(p·x, rate ν·x).

    Parameters
    ----------
    frequency
        Number of repeat transactions per customer (non-negative integers).
    p, q, v
        Gamma-Gamma parameters, all positive.
    seed
        Seed or ``numpy.random.Generator``.

    Examples
    --------
    >>> sim = simulate_spend([1, 2, 0, 5], p=6.0, q=4.0, v=15.0, seed=1)
    >>> sim.monetary_value.shape, float(sim.monetary_value[2])
    ((4,), 0.0)

    References
    ----------
    Fader, P. S., Hardie, B. G. S. & Lee, K. L. (2005). RFM and CLV: Using iso-value curves
    for customer base analysis. *Journal of Marketing Research*, 42(4), 415-430.
    """
    params = GammaGammaParams(p=p, q=q, v=v)
    freq = np.asarray(frequency, dtype=float)
    if freq.ndim != 1 or np.any(~np.isfinite(freq)) or np.any(freq < 0):
        raise DataError("frequency must be a one-dimensional array of non-negative counts.")
    rng = np.random.default_rng(seed)
    nu = rng.gamma(params.q, 1.0 / params.v, freq.size)
    buyers = freq > 0
    money = np.zeros(freq.size)
    x = freq[buyers]
    # A sum of x iid Gamma(p, ν) draws is Gamma(p·x, ν): one draw per customer suffices.
    money[buyers] = rng.gamma(params.p * x, 1.0 / nu[buyers]) / x
    return SimulatedSpend(frequency=freq, monetary_value=money, spend_rate=nu, params=params)


def simulate_contract_lifetimes(
    n_customers: int,
    *,
    alpha: float,
    beta: float,
    observed_periods: Any,
    seed: int | np.random.Generator | None,
) -> SimulatedLifetimes:
    """Draw contract lifetimes from the shifted-beta-geometric (sBG) model.

    Each customer has a churn probability θ ~ Beta(alpha, beta) and renews at the end of every
    period with probability 1 - θ, so their lifetime T (periods until churn, T >= 1) is
    geometric. Observation stops after ``observed_periods`` (a scalar, or one value per customer
    for cohorts that joined at different times); customers still active then are censored.

    Examples
    --------
    >>> sim = simulate_contract_lifetimes(1000, alpha=0.7, beta=1.2, observed_periods=7, seed=3)
    >>> int(sim.durations.max()), sim.churned.dtype
    (7, dtype('bool'))

    References
    ----------
    Fader, P. S. & Hardie, B. G. S. (2007). How to project customer retention. *Journal of
    Interactive Marketing*, 21(1), 76-90.
    """
    params = ShiftedBetaGeoParams(alpha=alpha, beta=beta)
    n = int(n_customers)
    observed = np.broadcast_to(np.asarray(observed_periods), (n,))
    if np.any(observed < 1) or np.any(observed != np.round(observed)):
        raise DataError("observed_periods must be whole numbers of periods, at least 1.")
    rng = np.random.default_rng(seed)
    theta = rng.beta(params.alpha, params.beta, n)
    # Inverse-CDF geometric draw in floats: survives θ that underflow to 0 (infinite lifetime),
    # where numpy's integer geometric sampler would fail.
    u = rng.random(n)
    life = np.full(n, np.inf)
    can_churn = theta > 0
    with np.errstate(divide="ignore"):
        life[can_churn] = np.ceil(np.log1p(-u[can_churn]) / np.log1p(-theta[can_churn]))
    life = np.maximum(life, 1.0)
    cap = float(np.iinfo(np.int64).max // 4)
    lifetimes = np.minimum(life, cap).astype(np.int64)
    churned = lifetimes <= observed
    durations = np.where(churned, lifetimes, observed).astype(np.int64)
    return SimulatedLifetimes(
        durations=durations,
        churned=churned,
        lifetimes=lifetimes,
        churn_probability=theta,
        params=params,
    )
