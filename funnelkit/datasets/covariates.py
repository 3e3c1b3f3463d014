"""Simulated customer bases whose parameters depend on static covariates (known effects).

Each customer's parameters follow the log-linear links of the covariate fitters (see
:mod:`funnelkit.clv.covariates`): ``alpha_i = alpha exp(-gamma_purchase' z_i)`` and, for the
dropout process, ``b_i = b exp(-gamma_dropout' z_i)`` (BG/NBD) or ``beta_i = beta
exp(-gamma_dropout' z_i)`` (Pareto/NBD). ``z_i`` is the design row of the customer's
covariates (categorical levels against the first sorted level), so a fit on the result
recovers ``coefficients`` up to sampling error.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from funnelkit.clv.covariates import learn_encoding
from funnelkit.exceptions import DataError
from funnelkit.rfm import RFM
from funnelkit.units import TimeUnitLike

__all__ = [
    "SimulatedCovariateRFM",
    "example_covariates",
    "simulate_bgnbd_covariates",
    "simulate_pareto_nbd_covariates",
]


@dataclass(frozen=True)
class SimulatedCovariateRFM:
    """A simulated summary with its covariates and the true parameters and effects."""

    rfm: RFM
    covariates: dict[str, np.ndarray]
    params: dict[str, float]
    coefficients: dict[str, dict[str, float]]
    customer_params: dict[str, np.ndarray] = field(repr=False)


def example_covariates(n_customers: int, *, seed: int | np.random.Generator | None) -> dict:
    """An acquisition ``channel`` (organic, instagram, tiktok) and a ``member`` flag.

    >>> sorted(example_covariates(10, seed=0))
    ['channel', 'member']
    """
    rng = np.random.default_rng(seed)
    channel = rng.choice(
        np.array(["organic", "instagram", "tiktok"]), n_customers, p=[0.5, 0.3, 0.2]
    )
    return {"channel": channel.astype(object), "member": rng.random(n_customers) < 0.4}


def _design(
    covariates: Mapping[str, Any], coefficients: Mapping[str, Mapping[str, float]], n: int
) -> dict[str, np.ndarray]:
    encoding, design = learn_encoding(dict(covariates), None, n)
    names = encoding.names
    out = {}
    for process, effects in coefficients.items():
        unknown = sorted(set(effects) - set(names))
        if unknown:
            raise DataError(f"coefficients name {unknown}; the design columns are {names}.")
        gamma = np.array([float(effects.get(nm, 0.0)) for nm in names])
        out[process] = design @ gamma
    return out


def _ages(n: int, T: Any) -> np.ndarray:
    return np.broadcast_to(np.asarray(T, dtype=float), (n,)).copy()


def simulate_bgnbd_covariates(
    n_customers: int,
    *,
    T: Any,
    coefficients: Mapping[str, Mapping[str, float]],
    covariates: Mapping[str, Any] | None = None,
    r: float = 0.243,
    alpha: float = 4.414,
    a: float = 0.793,
    b: float = 2.426,
    time_unit: TimeUnitLike = "W",
    seed: int | np.random.Generator | None,
) -> SimulatedCovariateRFM:
    """Simulate BG/NBD customers whose ``alpha``, ``a`` and ``b`` depend on covariates.

    ``coefficients`` maps ``"purchase"``/``"dropout"`` to ``{design column: effect}``;
    ``covariates`` defaults to :func:`example_covariates`.

    Examples
    --------
    >>> sim = simulate_bgnbd_covariates(
    ...     500, T=52.0, coefficients={"purchase": {"member[True]": 0.5}}, seed=1)
    >>> len(sim.rfm), sorted(sim.covariates)
    (500, ['channel', 'member'])
    """
    rng = np.random.default_rng(seed)
    cov = dict(covariates) if covariates is not None else example_covariates(n_customers, seed=rng)
    eta = _design(cov, coefficients, n_customers)
    zero = np.zeros(n_customers)
    alpha_i = alpha * np.exp(-eta.get("purchase", zero))
    a_i = np.full(n_customers, float(a))
    b_i = b * np.exp(-eta.get("dropout", zero))
    T_arr = _ages(n_customers, T)
    lam = rng.gamma(r, 1.0 / alpha_i)
    p = rng.beta(a_i, b_i)
    # purchases until the one after which the customer drops out (geometric, >= 1)
    last = rng.geometric(np.clip(p, 1e-12, 1.0))
    count = rng.poisson(lam * T_arr)
    x = np.minimum(count, last)
    # given `count` uniform arrivals in [0, T], the x-th is T * Beta(x, count - x + 1)
    recency = np.where(
        x > 0, T_arr * rng.beta(np.maximum(x, 1), np.maximum(count - x, 0) + 1.0), 0.0
    )
    rfm = RFM.from_arrays(frequency=x, recency=recency, T=T_arr, time_unit=time_unit)
    return SimulatedCovariateRFM(
        rfm=rfm,
        covariates=cov,
        params={"r": r, "alpha": alpha, "a": a, "b": b},
        coefficients={k: dict(v) for k, v in coefficients.items()},
        customer_params={"alpha": alpha_i, "a": a_i, "b": b_i},
    )


def simulate_pareto_nbd_covariates(
    n_customers: int,
    *,
    T: Any,
    coefficients: Mapping[str, Mapping[str, float]],
    covariates: Mapping[str, Any] | None = None,
    r: float = 0.553,
    alpha: float = 10.578,
    s: float = 0.606,
    beta: float = 11.669,
    time_unit: TimeUnitLike = "W",
    seed: int | np.random.Generator | None,
) -> SimulatedCovariateRFM:
    """Simulate Pareto/NBD customers whose ``alpha`` and ``beta`` depend on covariates.

    Examples
    --------
    >>> sim = simulate_pareto_nbd_covariates(
    ...     500, T=52.0, coefficients={"dropout": {"channel[tiktok]": 0.7}}, seed=1)
    >>> sorted(sim.customer_params)
    ['alpha', 'beta']
    """
    rng = np.random.default_rng(seed)
    cov = dict(covariates) if covariates is not None else example_covariates(n_customers, seed=rng)
    eta = _design(cov, coefficients, n_customers)
    zero = np.zeros(n_customers)
    alpha_i = alpha * np.exp(-eta.get("purchase", zero))
    beta_i = beta * np.exp(-eta.get("dropout", zero))
    T_arr = _ages(n_customers, T)
    lam = rng.gamma(r, 1.0 / alpha_i)
    mu = rng.gamma(s, 1.0 / beta_i)
    with np.errstate(divide="ignore"):  # a dropout rate that underflows to 0: never leaves
        lifetime = rng.exponential(1.0, n_customers) / mu
    active = np.minimum(lifetime, T_arr)
    x = rng.poisson(lam * active)
    recency = np.where(x > 0, active * rng.beta(np.maximum(x, 1), 1.0), 0.0)
    rfm = RFM.from_arrays(frequency=x, recency=recency, T=T_arr, time_unit=time_unit)
    return SimulatedCovariateRFM(
        rfm=rfm,
        covariates=cov,
        params={"r": r, "alpha": alpha, "s": s, "beta": beta},
        coefficients={k: dict(v) for k, v in coefficients.items()},
        customer_params={"alpha": alpha_i, "beta": beta_i},
    )
