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
from scipy.special import betaln, digamma

from funnelkit.clv._data import FitData
from funnelkit.clv._limits import CONCENTRATED, Limit, concentrated_beta
from funnelkit.clv._mixing import BetaDropout, CommonDropout, DropoutMixing

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
    """Per-row log-likelihood at ``params = (alpha, beta)`` (scalars or per-row arrays)."""
    alpha, beta = params
    d, died = data["duration"], data["churned"] > 0
    base = betaln(alpha, beta)
    return np.where(died, betaln(alpha + 1.0, beta + d - 1.0), betaln(alpha, beta + d)) - base


def log_likelihood_gradient(params: np.ndarray, data: FitData) -> np.ndarray:
    """Per-row derivatives of :func:`log_likelihood` in ``alpha`` and ``beta`` (rows 0, 1)."""
    alpha, beta = params
    d, died = data["duration"], data["churned"] > 0
    psi_ab, psi_abd = digamma(alpha + beta), digamma(alpha + beta + d)
    d_alpha = np.where(died, digamma(alpha + 1.0) - digamma(alpha), np.zeros_like(d)) + (
        psi_ab - psi_abd
    )
    d_beta = (
        np.where(died, digamma(beta + d - 1.0), digamma(beta + d))
        - digamma(beta)
        + psi_ab
        - psi_abd
    )
    return np.vstack([d_alpha, d_beta])


def limit_log_likelihood(params: Mapping[str, float], data: FitData) -> np.ndarray:
    """Per-row log-likelihood of the common-churn limit (geometric lifetimes)."""
    dropout = mixing(params)
    d, died = data["duration"], data["churned"] > 0
    with np.errstate(divide="ignore"):
        return np.where(died, dropout.log_drop_at(d), dropout.log_survive(d))
