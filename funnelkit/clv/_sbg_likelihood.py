"""The sBG likelihood: per-customer log-likelihood, its gradient, and the limit model.

A customer who churned in period ``t`` contributes ``P(T = t) = B(alpha + 1, beta + t - 1) /
B(alpha, beta)``; one still active after ``t`` periods contributes ``S(t) = B(alpha, beta + t)
/ B(alpha, beta)`` (Fader & Hardie 2007). Without heterogeneity (``alpha + beta
→ ∞`` at a fixed mean) the churn probability is a common ``theta`` and lifetimes are
geometric.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from funnelkit.clv._data import FitData
from funnelkit.clv._limits import CONCENTRATED, Limit, concentrated_beta
from funnelkit.clv._mixing import BetaDropout, CommonDropout, DropoutMixing
from funnelkit.clv._special import digamma_difference, log_pochhammer

__all__ = [
    "COMMON_CHURN",
    "limit_log_likelihood",
    "log_likelihood",
    "log_likelihood_gradient",
    "mixing",
]

COMMON_CHURN = Limit(
    name="common churn probability",
    meaning="alpha + beta → ∞ with alpha / (alpha + beta) = theta: every customer churns "
    "with the same probability theta each period (geometric lifetimes)",
    params=("theta",),
    probabilities=("theta",),
    start=lambda q: {"theta": q["alpha"] / (q["alpha"] + q["beta"])},
    embed=lambda q: {
        "alpha": q["theta"] * CONCENTRATED,
        "beta": (1.0 - q["theta"]) * CONCENTRATED,
    },
    near=lambda q: concentrated_beta(q["alpha"], q["beta"]),
)


def mixing(params: Mapping[str, float]) -> DropoutMixing:
    """The churn-probability distribution of the full or the limit parameter set."""
    if "alpha" in params:
        return BetaDropout(params["alpha"], params["beta"])
    return CommonDropout(params["theta"])


def log_likelihood(params: np.ndarray, data: FitData) -> np.ndarray:
    """Per-row log-likelihood at ``params = (alpha, beta)`` (scalars or per-row arrays).

    The beta-function ratios as rising factorials (:func:`log_pochhammer`): next to the
    common-churn limit (``alpha + beta`` up to 1e13) differences of ``betaln`` lose every
    digit, by an amount that depends on the machine, and could pass the full model off as
    better than its limit.
    """
    alpha, beta = params
    d, died = data["duration"], data["churned"] > 0
    # S(d) = (beta)_d / (alpha + beta)_d; P(T = d) = alpha (beta)_(d-1) / (alpha + beta)_d
    with np.errstate(divide="ignore"):
        head = np.where(died, np.log(alpha), 0.0)
    return np.asarray(head + log_pochhammer(beta, d - died) - log_pochhammer(alpha + beta, d))


def log_likelihood_gradient(params: np.ndarray, data: FitData) -> np.ndarray:
    """Per-row derivatives of :func:`log_likelihood` in ``alpha`` and ``beta`` (rows 0, 1)."""
    alpha, beta = params
    d, died = data["duration"], data["churned"] > 0
    total = digamma_difference(alpha + beta, d)
    d_alpha = np.where(died, 1.0 / alpha, 0.0) - total
    d_beta = digamma_difference(beta, d - died) - total
    return np.vstack(np.broadcast_arrays(d_alpha, d_beta))


def limit_log_likelihood(params: Mapping[str, float], data: FitData) -> np.ndarray:
    """Per-row log-likelihood of the common-churn limit (geometric lifetimes)."""
    dropout = mixing(params)
    d, died = data["duration"], data["churned"] > 0
    with np.errstate(divide="ignore"):
        return np.where(died, dropout.log_drop_at(d), dropout.log_survive(d))
