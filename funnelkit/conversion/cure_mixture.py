"""The cure model with a two-component log-normal delay, fitted by maximum likelihood.

Delays with a fast and a slow mode (:class:`~funnelkit.conversion.delay.LogNormalMixture`)
have no closed-form derivatives worth writing out: the likelihood is maximised with
L-BFGS-B from two starts, and standard errors come from a central-difference Hessian.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable

import numpy as np
from scipy import optimize, special

from funnelkit.conversion.cure import CureData, covariance_from_information
from funnelkit.conversion.cure_result import CureFit
from funnelkit.conversion.delay import MIXTURE

__all__ = ["fit_mixture"]


#: Bounds of the mixture's log sigmas: a component narrower than this sits on a single
#: delay, where the likelihood grows without bound (a spike, not an estimate).
_LOG_S_BOUNDS = (math.log(0.02), math.log(20.0))
_LOGIT_BOUNDS = (-12.0, 12.0)


def _mixture_log_likelihood(x: np.ndarray, data: CureData, fix_p: bool) -> float:
    """Log-likelihood of the cure model with a two-component log-normal delay."""
    if fix_p:
        log_p, log_q, params = 0.0, -math.inf, tuple(float(v) for v in x)
    else:
        eta = float(x[0])
        log_p, log_q = float(special.log_expit(eta)), float(special.log_expit(-eta))
        params = tuple(float(v) for v in x[1:])
    ll = data.log_exact.size * log_p - data.sum_log_exact
    ll += float(MIXTURE.log_pdf_log_t(data.log_exact, *params).sum())
    if data.n_zero:
        ll += data.n_zero * (
            log_p + float(MIXTURE.log_cdf_log_t(np.array([data.log_eps]), *params)[0])
        )
    if data.log_censored.size:
        tail = MIXTURE.log_sf_log_t(data.log_censored, *params)
        ll += float(np.logaddexp(log_q, log_p + tail).sum())
    return ll


def fit_mixture(data: CureData, plateau: float, fix_p: bool) -> CureFit:
    """Maximum likelihood for the two-component delay, from two starts.

    The likelihood of a mixture has several local maxima, so the fit starts from a split at
    the widest gap of the observed log delays and from a split at their median, and keeps
    the better. Standard errors come from a central-difference Hessian; a fit with a
    component pressed against a bound of its sigma or weight is reported as not converged.
    """
    delay_starts = [MIXTURE.start(data.log_exact, data.log_eps)]
    if data.log_exact.size >= 4:
        x = np.sort(data.log_exact)
        half = x.size // 2
        m1, m2 = float(x[:half].mean()), float(x[half:].mean())
        s1, s2 = max(float(x[:half].std()), 0.1), max(float(x[half:].std()), 0.1)
        delay_starts.append([0.0, m1, math.log(s1), m2, math.log(s2)])
    p0 = min(max(plateau, 0.02), 0.98)
    bounds: list[tuple[float | None, float | None]] = [
        _LOGIT_BOUNDS,
        (None, None),
        _LOG_S_BOUNDS,
        (None, None),
        _LOG_S_BOUNDS,
    ]
    if not fix_p:
        bounds = [(-30.0, 30.0), *bounds]

    def negative(x: np.ndarray) -> float:
        with np.errstate(over="ignore", under="ignore", invalid="ignore", divide="ignore"):
            ll = _mixture_log_likelihood(x, data, fix_p)
        return -ll if math.isfinite(ll) else 1e300

    best = None
    for delay_start in delay_starts:
        clipped = [
            min(max(v, lo), hi) if lo is not None and hi is not None else v
            for v, (lo, hi) in zip(delay_start, bounds[-5:], strict=True)
        ]
        x0 = np.asarray(clipped if fix_p else [math.log(p0 / (1.0 - p0)), *clipped])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            res = optimize.minimize(
                negative,
                x0,
                method="L-BFGS-B",
                bounds=bounds,
                options={"maxiter": 500, "ftol": 1e-12, "gtol": 1e-6},
            )
        if best is None or res.fun < best.fun:
            best = res
    assert best is not None
    x = _faster_first(np.asarray(best.x, dtype=float), fix_p)
    ll = -negative(x)
    offset = 0 if fix_p else 1
    on_bound = any(
        lo is not None and hi is not None and min(v - lo, hi - v) < 1e-6
        for v, (lo, hi) in zip(x[offset:], bounds[offset:], strict=True)
    )
    covariance = (
        None
        if on_bound
        else covariance_from_information(-_numeric_hessian(lambda y: -negative(y), x))
    )
    converged = bool(best.success) and math.isfinite(ll) and covariance is not None
    if on_bound:
        message = (
            "a mixture component collapsed (its weight or spread reached a bound): the "
            "delays show no second mode"
        )
    elif covariance is None:
        message = "the observed information is not positive definite at the optimum"
    else:
        message = str(best.message)
    coefficients = x if not fix_p else np.concatenate(([math.inf], x))
    if covariance is not None and fix_p:
        padded = np.zeros((x.size + 1, x.size + 1))
        padded[1:, 1:] = covariance
        covariance = padded
    return CureFit(
        distribution=MIXTURE.name,
        coefficients=tuple(float(c) for c in coefficients),
        covariance=None if covariance is None else tuple(map(tuple, covariance.tolist())),
        log_likelihood=float(ll),
        aic=float(2 * x.size - 2 * ll) if math.isfinite(ll) else math.inf,
        n_params=int(x.size),
        converged=converged,
        p_fixed=fix_p,
        message=message,
    )


def _faster_first(x: np.ndarray, fix_p: bool) -> np.ndarray:
    """Order the components so that the first has the smaller median (labels are free)."""
    k = 0 if fix_p else 1
    logit_w, m1, ls1, m2, ls2 = x[k:]
    if m1 <= m2:
        return x
    return np.concatenate((x[:k], [-logit_w, m2, ls2, m1, ls1]))


def _numeric_hessian(fun: Callable[[np.ndarray], float], x: np.ndarray) -> np.ndarray:
    """Central-difference Hessian of ``fun`` at ``x``."""
    k = x.size
    h = 1e-4 * np.maximum(1.0, np.abs(x))
    hess = np.empty((k, k))
    f0 = fun(x)
    for i in range(k):
        for j in range(i, k):
            if i == j:
                e = np.zeros(k)
                e[i] = h[i]
                value = (fun(x + e) - 2.0 * f0 + fun(x - e)) / (h[i] * h[i])
            else:
                ei, ej = np.zeros(k), np.zeros(k)
                ei[i], ej[j] = h[i], h[j]
                value = (
                    fun(x + ei + ej) - fun(x + ei - ej) - fun(x - ei + ej) + fun(x - ei - ej)
                ) / (4.0 * h[i] * h[j])
            hess[i, j] = hess[j, i] = value
    return hess
