"""Maximum likelihood for one stage of the funnel: advance and drop-out intensities.

A customer who enters stage k is *active* there until one of two competing exponential events:
advancing to stage k+1 (intensity λ) or silently becoming dormant (intensity μ, never observed).
With θ = λ + μ and duration d since entering the stage,

* advanced at d:            λ e^{-θd}
* still in the stage at d:  e^{-θd} + (μ/θ)(1 - e^{-θd})  (active, or dormant without a trace)

which is the exponential mixture-cure likelihood of Maller & Zhou (1996) with eventual advance
probability p = λ/θ and delay among advancers Exp(θ). The parameters are fitted on the log
scale, ``x = (log λ, log μ)``, with the analytic gradient and Hessian below.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Literal

import numpy as np
from scipy import optimize, stats

__all__ = ["StageFit", "Status", "boundary_bounds", "fit_stage", "stage_loglik"]

#: How a stage's intensities were determined.
#:
#: * ``estimated``: interior maximum, both intensities with confidence intervals;
#: * ``no_dropout``: the likelihood is largest at μ = 0 (everyone would advance eventually);
#: * ``no_advances``: nobody advanced, so λ = 0 and μ cannot be estimated;
#: * ``no_entrants``: nobody entered the stage;
#: * ``no_exposure``: entrants were all censored at duration 0 — nothing was observed;
#: * ``instantaneous``: every advance happened at duration 0, so the likelihood grows without
#:   bound with λ + μ: the intensities are not estimable, only the share who advance.
Status = Literal[
    "estimated", "no_dropout", "no_advances", "no_entrants", "no_exposure", "instantaneous"
]


@dataclass(frozen=True)
class StageFit:
    """The fit of one stage, as plain numbers (NaN where a value does not exist)."""

    advance_rate: float
    dropout_rate: float
    #: covariance of (log λ, log μ); NaN rows/columns for parameters without one
    log_covariance: np.ndarray
    log_likelihood: float
    n_entered: int
    n_advanced: int
    exposure: float
    status: Status
    converged: bool
    #: entrants still waiting after a positive time (the denominator of an instantaneous stage)
    n_waited: int = 0


def stage_loglik(
    x: np.ndarray, d_adv: np.ndarray, d_cen: np.ndarray
) -> tuple[float, np.ndarray, np.ndarray]:
    """Log-likelihood, gradient and Hessian in ``x = (log λ, log μ)``."""
    a, b = float(x[0]), float(x[1])
    lam, mu = np.exp(a), np.exp(b)
    theta = lam + mu
    # Advancers: a - θd.
    ll = d_adv.size * a - theta * d_adv.sum()
    grad = np.array([d_adv.size - lam * d_adv.sum(), -mu * d_adv.sum()])
    hess = np.array([[-lam * d_adv.sum(), 0.0], [0.0, -mu * d_adv.sum()]])
    if d_cen.size:
        u = a - theta * d_cen
        s = np.logaddexp(b, u)  # log(μ + λ e^{-θd})
        w1 = np.exp(u - s)  # share of the still-in-stage mass that would still advance
        w0 = 1.0 - w1
        log_theta = np.logaddexp(a, b)
        ll += s.sum() - d_cen.size * log_theta
        du_a, du_b = 1.0 - lam * d_cen, -mu * d_cen
        pa, pb = lam / theta, mu / theta
        grad += np.array(
            [(w1 * du_a).sum() - d_cen.size * pa, (w0 + w1 * du_b).sum() - d_cen.size * pb]
        )
        # Hessian of a two-term log-sum-exp: Σ w ∇²f + w0 w1 (∇f1 - ∇f0)(∇f1 - ∇f0)ᵀ.
        diff_a, diff_b = du_a, du_b - 1.0
        ww = w0 * w1
        h_aa = (w1 * -lam * d_cen).sum() + (ww * diff_a * diff_a).sum()
        h_bb = (w1 * -mu * d_cen).sum() + (ww * diff_b * diff_b).sum()
        h_ab = (ww * diff_a * diff_b).sum()
        c = d_cen.size * pa * pb
        hess += np.array([[h_aa - c, h_ab + c], [h_ab + c, h_bb - c]])
    return float(ll), grad, hess


def _nan_cov() -> np.ndarray:
    return np.full((2, 2), np.nan)


def fit_stage(duration: np.ndarray, advanced: np.ndarray) -> StageFit:
    """Fit λ and μ of one stage from durations in the stage and whether the customer advanced.

    Handles every degenerate case with a status instead of a crash or a fake number.
    """
    duration = np.asarray(duration, dtype=float)
    advanced = np.asarray(advanced, dtype=bool)
    d_adv, d_cen = duration[advanced], duration[~advanced]
    n, k = int(duration.size), int(d_adv.size)
    exposure = float(duration.sum())
    counts = (n, k, exposure)
    if n == 0:
        return _degenerate(np.nan, np.nan, "no_entrants", counts)
    if k == 0 and exposure > 0:
        return _degenerate(0.0, 0.0, "no_advances", counts)
    if k == 0:
        return _degenerate(np.nan, 0.0, "no_exposure", counts)
    if d_adv.sum() <= 0:
        # Each zero-duration advance contributes λ, which can grow without limit as long as
        # those still waiting are called dormant: only the share who advance is estimable.
        fit = _degenerate(np.inf, np.nan, "instantaneous", counts)
        return replace(fit, n_waited=int((d_cen > 0).sum()))
    # Scale time so the rates are of order one; undone at the end.
    scale = exposure / n
    d_adv, d_cen = d_adv / scale, d_cen / scale

    # Boundary μ = 0: a plain exponential with rate k / Σd. Its score in μ decides whether
    # the maximum is interior.
    lam0 = k / (d_adv.sum() + d_cen.sum())
    ll_boundary = k * np.log(lam0) - lam0 * (d_adv.sum() + d_cen.sum())
    with np.errstate(over="ignore"):
        score_mu = (np.expm1(lam0 * d_cen) / lam0 - d_cen).sum() - d_adv.sum()
    best = _boundary_fit(lam0, ll_boundary, scale, counts)
    if not score_mu > 0:
        return best

    def objective(x: np.ndarray) -> tuple[float, np.ndarray]:
        # A trial step far out (rates of e^±700) overflows: call it infinitely bad, which makes
        # the trust region reject the step and shrink.
        with np.errstate(over="ignore", invalid="ignore"):
            ll, grad, _ = stage_loglik(x, d_adv, d_cen)
        if not (np.isfinite(ll) and np.all(np.isfinite(grad))):
            return np.inf, np.zeros(2)
        return -ll, -grad

    def hessian(x: np.ndarray) -> np.ndarray:
        with np.errstate(over="ignore", invalid="ignore"):
            hess = -stage_loglik(x, d_adv, d_cen)[2]
        return hess if np.all(np.isfinite(hess)) else np.eye(2)

    result = optimize.minimize(
        objective,
        _start(d_adv, d_cen),
        jac=True,
        hess=hessian,
        method="trust-exact",
        options={"gtol": 1e-8, "maxiter": 500},
    )
    with np.errstate(over="ignore", invalid="ignore"):
        ll, grad, hess = stage_loglik(result.x, d_adv, d_cen)
    if not (np.isfinite(ll) and np.all(np.isfinite(hess))) or ll < ll_boundary - 1e-9:
        return best
    info = -hess
    converged = bool(np.all(np.abs(grad) < 1e-4 * max(1.0, n**0.5)))
    try:
        cov = np.linalg.inv(info)
        ok = bool(np.all(np.isfinite(cov)) and np.all(np.linalg.eigvalsh(info) > 0))
    except np.linalg.LinAlgError:
        ok = False
    if not ok:
        cov = _nan_cov()
        converged = False
    # A fit drifting towards μ → 0 is the boundary solution in disguise.
    if result.x[1] < result.x[0] - 25:
        return best
    lam, mu = np.exp(result.x) / scale
    return StageFit(
        float(lam),
        float(mu),
        cov,
        float(ll - k * np.log(scale)),
        n_entered=n,
        n_advanced=k,
        exposure=exposure,
        status="estimated",
        converged=converged,
    )


def _degenerate(
    lam: float, log_likelihood: float, status: Status, counts: tuple[int, int, float]
) -> StageFit:
    n, k, exposure = counts
    return StageFit(lam, np.nan, _nan_cov(), log_likelihood, n, k, exposure, status, True)


def _boundary_fit(lam0: float, ll: float, scale: float, counts: tuple[int, int, float]) -> StageFit:
    n, k, exposure = counts
    cov = _nan_cov()
    cov[0, 0] = 1.0 / k  # observed information of log λ in the exponential model
    lam = float(lam0 / scale)
    return StageFit(lam, 0.0, cov, float(ll - k * np.log(scale)), n, k, exposure, "no_dropout",
                    True)  # fmt: skip


def _start(d_adv: np.ndarray, d_cen: np.ndarray) -> np.ndarray:
    """Moment-style start: θ from the advancers' mean delay, p from a censoring-aware share."""
    theta = 1.0 / max(float(d_adv.mean()), 1e-3)
    at_risk = float((-np.expm1(-theta * d_cen)).sum())
    p = float(np.clip(d_adv.size / (d_adv.size + at_risk), 0.05, 0.95))
    return np.log([p * theta, (1.0 - p) * theta])


def boundary_bounds(
    duration: np.ndarray, advanced: np.ndarray, fit: StageFit, conf_level: float
) -> tuple[float, float]:
    """Profile-likelihood bounds for a stage fitted on the boundary μ = 0.

    Returns the upper bound of μ and the lower bound of the eventual advance probability
    ``λ/(λ+μ)``: where the profile log-likelihood falls ``χ²₁(conf_level)/2`` below the
    maximum (their other bounds are the boundary values 0 and 1). Wald intervals do not exist
    on a boundary.
    """
    duration = np.asarray(duration, dtype=float)
    advanced = np.asarray(advanced, dtype=bool)
    scale = fit.exposure / fit.n_entered
    d_adv, d_cen = duration[advanced] / scale, duration[~advanced] / scale
    a_hat = float(np.log(fit.advance_rate * scale))
    drop = float(stats.chi2.ppf(conf_level, 1)) / 2
    best = stage_loglik(np.array([a_hat, a_hat - 60.0]), d_adv, d_cen)[0]

    def profile(direction: np.ndarray, offset: np.ndarray) -> float:
        # max over a of ℓ(offset + a·direction): one-dimensional and bounded, so Brent.
        res = optimize.minimize_scalar(
            lambda a: -stage_loglik(offset + a * direction, d_adv, d_cen)[0],
            bounds=(a_hat - 30.0, a_hat + 30.0),
            method="bounded",
            options={"xatol": 1e-9},
        )
        return float(-res.fun) - (best - drop)

    def root(f: Any, near_boundary: float, away: float) -> float:
        # Step away from the boundary until the profile has dropped enough, then bisect.
        far = away
        while f(far) > 0 and abs(far - near_boundary) < 200:
            far += far - near_boundary
        return float(optimize.brentq(f, near_boundary, far, xtol=1e-10))

    # μ fixed at e^b, maximise over log λ.
    log_mu = root(lambda b: profile(np.array([1.0, 0.0]), np.array([0.0, b])), a_hat - 40, a_hat)
    # p fixed (log μ = log λ - logit p), maximise over log λ.
    logit_p = root(lambda e: profile(np.array([1.0, 1.0]), np.array([0.0, -e])), 40.0, 0.0)
    return float(np.exp(log_mu) / scale), float(1.0 / (1.0 + np.exp(-logit_p)))
