"""The cure model with a two-component log-normal delay, fitted by maximum likelihood.

Delays with a fast and a slow mode (:class:`~funnelkit.conversion.delay.LogNormalMixture`)
give a likelihood with several local maxima: it is maximised with L-BFGS-B from two starts,
with the analytic gradient of
:func:`~funnelkit.conversion.cure_refit.mixture_log_likelihood` (row weights count as
repeated rows), and standard errors come from central differences of that gradient.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable

import numpy as np
from scipy import optimize

from funnelkit.conversion.cure import CureData, covariance_from_information
from funnelkit.conversion.cure_refit import _faster_first, mixture_bounds, mixture_log_likelihood
from funnelkit.conversion.cure_result import CureFit
from funnelkit.conversion.delay import MIXTURE

__all__ = ["fit_mixture"]


def _value_and_gradient(x: np.ndarray, data: CureData, fix_p: bool) -> tuple[float, np.ndarray]:
    """Log-likelihood and gradient, or ``(-inf, 0)`` where either is not finite."""
    with np.errstate(over="ignore", under="ignore", invalid="ignore", divide="ignore"):
        ll, grad = mixture_log_likelihood(x, data, fix_p)
    if not (math.isfinite(ll) and np.all(np.isfinite(grad))):
        return -math.inf, np.zeros_like(np.asarray(x, dtype=float))
    return ll, grad


def _start_delays(data: CureData) -> np.ndarray:
    """The exact log delays, each repeated its weight times (only the starts need copies)."""
    if data.weight_exact is None:
        return data.log_exact
    return np.repeat(data.log_exact, np.rint(data.weight_exact).astype(np.int64))


def fit_mixture(data: CureData, plateau: float, fix_p: bool) -> CureFit:
    """Maximum likelihood for the two-component delay, from two starts.

    The likelihood of a mixture has several local maxima, so the fit starts from a split at
    the widest gap of the observed log delays and from a split at their median, and keeps
    the better. Standard errors come from central differences of the analytic gradient; a
    fit with a component pressed against a bound of its sigma or weight is reported as not
    converged. Weighted data (``data.weight_exact``) fit as the rows repeated.
    """
    log_exact = _start_delays(data)
    delay_starts = [MIXTURE.start(log_exact, data.log_eps)]
    if log_exact.size >= 4:
        x = np.sort(log_exact)
        half = x.size // 2
        m1, m2 = float(x[:half].mean()), float(x[half:].mean())
        s1, s2 = max(float(x[:half].std()), 0.1), max(float(x[half:].std()), 0.1)
        delay_starts.append([0.0, m1, math.log(s1), m2, math.log(s2)])
    p0 = min(max(plateau, 0.02), 0.98)
    bounds = mixture_bounds(fix_p)

    def negative(x: np.ndarray) -> tuple[float, np.ndarray]:
        ll, grad = _value_and_gradient(x, data, fix_p)
        return (-ll, -grad) if math.isfinite(ll) else (1e300, grad)

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
                jac=True,
                method="L-BFGS-B",
                bounds=bounds,
                options={"maxiter": 500, "ftol": 1e-12, "gtol": 1e-6},
            )
        if best is None or res.fun < best.fun:
            best = res
    assert best is not None
    x = _faster_first(np.asarray(best.x, dtype=float), fix_p)
    ll = _value_and_gradient(x, data, fix_p)[0]
    offset = 0 if fix_p else 1
    on_bound = any(
        lo is not None and hi is not None and min(v - lo, hi - v) < 1e-6
        for v, (lo, hi) in zip(x[offset:], bounds[offset:], strict=True)
    )
    covariance = (
        None
        if on_bound
        else covariance_from_information(
            -_gradient_hessian(lambda y: _value_and_gradient(y, data, fix_p)[1], x)
        )
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


def _gradient_hessian(gradient: Callable[[np.ndarray], np.ndarray], x: np.ndarray) -> np.ndarray:
    """Hessian at ``x`` by central differences of the analytic ``gradient``, symmetrised.

    Two gradients per parameter, where differences of the likelihood itself take four
    evaluations per pair of parameters; the error is of the order of the step squared.
    """
    k = x.size
    h = 1e-5 * np.maximum(1.0, np.abs(x))
    hess = np.empty((k, k))
    for i in range(k):
        e = np.zeros(k)
        e[i] = h[i]
        hess[:, i] = (gradient(x + e) - gradient(x - e)) / (2.0 * h[i])
    out: np.ndarray = 0.5 * (hess + hess.T)
    return out
