"""Limit models at the boundary of a mixing model's parameter space, and their test.

When the data show no heterogeneity in a mixed quantity, the likelihood of a mixture model
keeps rising as the mixing distribution concentrates: ``a + b → ∞`` for a beta, ``r, alpha
-> inf`` for a gamma. The maximum is then not an interior point but the limit model, in which
every customer shares one value (a common dropout probability ``p``, a common purchase rate
``lambda``). At the other extreme a beta may split into its two ends (``a, b → 0``: a share
of customers at probability 1, the rest at 0). A fitter declares such limits; the base fits
them when the full fit heads for the boundary and reports the limit model as the answer,
with the likelihood-ratio test of the limit against the full model.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np
from scipy import stats
from scipy.special import expit, logit

from funnelkit._results import Result

__all__ = [
    "CONCENTRATED",
    "Limit",
    "LimitTest",
    "ParameterSpace",
    "chi_bar_square_sf",
    "concentrated_beta",
    "concentrated_gamma",
    "simpler_limits",
    "splitting_beta",
    "vanishing",
    "vanishing_gamma",
]

#: concentration of a mixing distribution placed next to its point-mass limit (to start a
#: full fit there)
CONCENTRATED = 1e4
#: a gamma shape or beta ``a + b`` above these leaves a coefficient of variation of a few per
#: cent: so little heterogeneity that the point-mass limit is worth fitting as well
GAMMA_SHAPE_NEAR_LIMIT = 100.0
BETA_SIZE_NEAR_LIMIT = 300.0
#: a mean probability (or beta ``a``) below this may be the limit where it vanishes
VANISHING = 1e-3
#: a beta ``a + b`` below this piles nearly all its mass at 0 and 1: the two-point limit
#: may fit as well
BETA_SIZE_NEAR_SPLIT = 0.05


def concentrated_gamma(shape: float) -> bool:
    """Whether a gamma mixing distribution is close to its point-mass limit."""
    return shape > GAMMA_SHAPE_NEAR_LIMIT


def concentrated_beta(a: float, b: float) -> bool:
    """Whether a beta mixing distribution is close to its point-mass limit."""
    return a + b > BETA_SIZE_NEAR_LIMIT


def vanishing(a: float, b: float) -> bool:
    """Whether a beta-distributed probability is close to the limit where it is 0."""
    return a < VANISHING or a / (a + b) < VANISHING


def splitting_beta(a: float, b: float) -> bool:
    """Whether a beta mixing distribution is close to its two-point limit (``a, b → 0`` with
    ``a / (a + b)`` fixed: a share of the population at 1, the rest at 0)."""
    return a + b < BETA_SIZE_NEAR_SPLIT


def vanishing_gamma(shape: float) -> bool:
    """Whether a gamma-distributed rate is close to the limit where it is 0 (shape → 0
    puts almost all the mass at 0)."""
    return shape < VANISHING


@dataclass(frozen=True)
class Limit:
    """A boundary of a model's parameter space where it becomes a simpler, well-defined model.

    ``params`` are the limit model's parameters; ``probabilities`` those of them that live in
    ``(0, 1)`` (all others are positive); ``start`` maps the (diverging) full-model estimates
    to starting values of the limit model; ``embed`` maps limit parameters to a full-model
    point close to the limit (to start a full fit from a limit, e.g. in a bootstrap);
    ``near`` tells from full-model estimates whether the fit approaches this limit (a mixing
    distribution so concentrated that the limit may fit as well), on scale-free quantities
    such as a gamma's shape or a beta's ``a + b``.
    """

    name: str
    meaning: str
    params: tuple[str, ...]
    start: Callable[[Mapping[str, float]], dict[str, float]]
    embed: Callable[[Mapping[str, float]], dict[str, float]]
    near: Callable[[Mapping[str, float]], bool]
    probabilities: tuple[str, ...] = field(default=())


def simpler_limits(
    limits: tuple[Limit, ...], fitted: Limit, point: Mapping[str, float], tried: set[str]
) -> list[Limit]:
    """The limits with fewer parameters than ``fitted`` that its fit approaches, judged at
    the full-model ``point`` next to that fit (``fitted.embed``), leaving out and adding to
    the names ``tried``: a limit's own fit may head for a simpler limit (a two-point
    dropout whose gamma concentrates too), which the full fit's estimates did not show."""
    found = [
        limit
        for limit in limits
        if limit.name not in tried and len(limit.params) < len(fitted.params) and limit.near(point)
    ]
    tried.update(limit.name for limit in found)
    return found


class LimitTest(Result):
    """Likelihood-ratio test of a limit model against the full model.

    ``statistic = 2 (LL_full - LL_limit)`` (0 when the full model does no better). The limit
    lies on the boundary of the full parameter space, so the null distribution is a
    chi-bar-square mixture (Self & Liang 1987) rather than chi-square with ``df`` degrees of
    freedom; ``p_value`` uses the mixture ``sum_k C(df, k) 2^-df chi2_k`` (exact for one
    boundary parameter, an approximation otherwise). A small ``p_value`` says the data reject
    the limit; the limit was chosen because the full model did not improve on it.
    """

    limit: str
    statistic: float
    df: int
    p_value: float
    full_log_likelihood: float


def chi_bar_square_sf(statistic: float, df: int) -> float:
    """Upper tail of the chi-bar-square mixture ``sum_k C(df, k) 2^-df chi2_k`` at ``statistic``."""
    if statistic <= 0:
        return 1.0
    total = sum(math.comb(df, k) * float(stats.chi2.sf(statistic, k)) for k in range(1, df + 1))
    return min(1.0, total / 2.0**df)


@dataclass(frozen=True)
class ParameterSpace:
    """Unconstrained coordinates of a parameter set: ``log`` for positive parameters,
    ``logit`` for probabilities, so intervals built there never leave the valid range."""

    names: tuple[str, ...]
    probabilities: tuple[str, ...] = ()

    @property
    def is_probability(self) -> np.ndarray:
        return np.array([n in self.probabilities for n in self.names], dtype=bool)

    def to_params(self, theta: np.ndarray) -> np.ndarray:
        return np.where(self.is_probability, expit(theta), np.exp(theta))

    def to_theta(self, params: np.ndarray) -> np.ndarray:
        params = np.asarray(params, dtype=float)
        with np.errstate(divide="ignore"):
            return np.where(self.is_probability, logit(params), np.log(params))

    def jacobian(self, params: np.ndarray) -> np.ndarray:
        """``d param / d theta`` for each parameter."""
        return np.where(self.is_probability, params * (1.0 - params), params)
