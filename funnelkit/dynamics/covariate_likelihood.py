"""Log-linear covariates on the advance and drop-out intensities of one stage.

As in msm (Jackson 2011), each intensity is ``q_rs(z) = q_rs exp(β_rs'z)``: prospect ``i`` in
the stage advances with ``λ_i = λ exp(β'z_i)`` and goes dormant with ``μ_i = μ exp(δ'z_i)``.
The per-row likelihood is that of :mod:`funnelkit.dynamics.likelihood` with the prospect's
own intensities: ``λ_i e^{-θ_i d}`` for an advance at ``d`` and
``e^{-θ_i d} + (μ_i/θ_i)(1 - e^{-θ_i d})`` for a prospect still in the stage. It is maximised
by BFGS with the analytic gradient on centred and scaled covariates and time scaled to unit
mean exposure, from the plain fit; standard errors come from a central-difference Hessian.

References
----------
Jackson, C. H. (2011). Multi-State Models for Panel Data: The msm Package for R. *Journal of
Statistical Software* 38(8).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from funnelkit.conversion.covariate_optimum import maximise
from funnelkit.conversion.covariates import block_map, standardise
from funnelkit.conversion.cure import covariance_from_information
from funnelkit.dynamics.likelihood import fit_stage

__all__ = ["CovariateStageEstimate", "covariate_stage_loglik", "fit_covariate_stage"]


def covariate_stage_loglik(
    x: np.ndarray, d: np.ndarray, advanced: np.ndarray, z: np.ndarray
) -> tuple[float, np.ndarray]:
    """Log-likelihood and gradient in ``x = (log λ, β, log μ, δ)``."""
    k = z.shape[1]
    a = x[0] + z @ x[1 : 1 + k]
    b = x[1 + k] + z @ x[2 + k : 2 + 2 * k]
    lam, mu = np.exp(a), np.exp(b)
    theta = lam + mu
    d_a, d_b = np.empty(d.size), np.empty(d.size)
    n_adv = int(advanced.sum())
    adv: slice | np.ndarray
    cen: slice | np.ndarray
    if advanced[:n_adv].all():  # advancers first (as the fit sorts them): views, not copies
        adv, cen = slice(0, n_adv), slice(n_adv, d.size)
    else:
        adv, cen = advanced, ~advanced
    ll = float((a[adv] - theta[adv] * d[adv]).sum())
    d_a[adv] = 1.0 - lam[adv] * d[adv]
    d_b[adv] = -mu[adv] * d[adv]
    if n_adv < d.size:
        u = a[cen] - theta[cen] * d[cen]
        s = np.logaddexp(b[cen], u)  # log(μ + λ e^{-θd})
        w1 = np.exp(u - s)
        log_theta = np.logaddexp(a[cen], b[cen])
        ll += float((s - log_theta).sum())
        pa, pb = lam[cen] / theta[cen], mu[cen] / theta[cen]
        d_a[cen] = w1 * (1.0 - lam[cen] * d[cen]) - pa
        d_b[cen] = (1.0 - w1) - w1 * mu[cen] * d[cen] - pb
    grad = np.hstack([d_a.sum(), z.T @ d_a, d_b.sum(), z.T @ d_b])
    return ll, grad


@dataclass(frozen=True)
class CovariateStageEstimate:
    """``(log λ, β, log μ, δ)`` on the covariates' and the data's own scales."""

    coefficients: np.ndarray | None
    covariance: np.ndarray | None
    log_likelihood: float | None
    null_log_likelihood: float | None
    n_entered: int
    n_advanced: int
    converged: bool
    message: str


def fit_covariate_stage(
    duration: np.ndarray, advanced: np.ndarray, z: np.ndarray
) -> CovariateStageEstimate:
    """Maximum likelihood of one stage's log-linear covariate intensities.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> z = rng.integers(0, 2, (3000, 1)).astype(float)
    >>> lam, mu = 0.2 * np.exp(0.5 * z[:, 0]), 0.1 * np.exp(-0.5 * z[:, 0])
    >>> leave = rng.exponential(1 / (lam + mu))
    >>> adv = rng.random(3000) < lam / (lam + mu)
    >>> follow = rng.uniform(0, 60, 3000)
    >>> moved = adv & (leave <= follow)
    >>> est = fit_covariate_stage(np.where(moved, leave, follow), moved, z)
    >>> [round(float(c), 1) for c in est.coefficients]
    [-1.6, 0.5, -2.3, -0.6]
    """
    duration = np.asarray(duration, dtype=float)
    advanced = np.asarray(advanced, dtype=bool)
    z = np.asarray(z, dtype=float)
    k = z.shape[1]
    plain = fit_stage(duration, advanced)
    n, n_adv = int(duration.size), int(advanced.sum())
    null_ll = plain.log_likelihood if math.isfinite(plain.log_likelihood) else None

    def failed(message: str) -> CovariateStageEstimate:
        return CovariateStageEstimate(None, None, None, null_ll, n, n_adv, False, message)

    if plain.status != "estimated":
        reason = {
            "no_dropout": "the plain fit has no drop-out (μ = 0 on the boundary), so drop-out "
            "effects are not identified",
            "no_advances": "nobody advanced",
            "no_entrants": "nobody entered the stage",
            "no_exposure": "no time in the stage was observed",
            "instantaneous": "every advance happened at duration 0",
        }[plain.status]
        return failed(f"covariate effects are not estimable: {reason}")
    scale = float(duration.sum()) / n
    order = np.argsort(~advanced, kind="stable")  # advancers first
    d, advanced, z = duration[order] / scale, advanced[order], z[order]
    zs, centre, sd = standardise(z)
    x0 = np.zeros(2 + 2 * k)
    x0[0] = math.log(plain.advance_rate * scale)
    x0[1 + k] = math.log(plain.dropout_rate * scale)

    best = maximise(lambda x: covariate_stage_loglik(x, d, advanced, zs), x0)
    x, ll, hess = best.x, best.log_likelihood, best.hessian
    cov_std = covariance_from_information(-hess)
    jac = np.zeros((x.size, x.size))
    jac[: k + 1, : k + 1] = block_map(centre, sd)
    jac[k + 1 :, k + 1 :] = block_map(centre, sd)
    coef = jac @ x
    # back to the data's time unit: an intensity per scaled time is scale times larger
    coef[0] -= math.log(scale)
    coef[1 + k] -= math.log(scale)
    cov = None if cov_std is None else jac @ cov_std @ jac.T
    converged = cov is not None and best.max_gradient < 1e-3 * max(1.0, n) ** 0.5
    message = (
        "the observed information is not positive definite at the optimum: an effect is not "
        "identified (e.g. a level nobody in this stage has)"
        if cov is None
        else "converged"
        if converged
        else best.message
    )
    return CovariateStageEstimate(
        coef, cov, float(ll - n_adv * math.log(scale)), null_ll, n, n_adv, converged, message
    )
