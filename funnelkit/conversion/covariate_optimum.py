"""The one maximisation behind the covariate cure models and the covariate intensities.

Both likelihoods come with analytic gradients: BFGS finds the maximum, and the observed
information is the central difference of the gradient there (symmetrised).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import optimize

from funnelkit._blas import single_threaded_blas

__all__ = ["Optimum", "maximise"]


@dataclass(frozen=True)
class Optimum:
    """Where the maximisation stopped: the point, its log-likelihood and Hessian, the largest
    gradient entry left (to judge convergence) and the optimiser's message."""

    x: np.ndarray
    log_likelihood: float
    hessian: np.ndarray
    max_gradient: float
    message: str


def maximise(loglik: Callable[[np.ndarray], tuple[float, np.ndarray]], x0: np.ndarray) -> Optimum:
    """Maximise ``loglik`` (value and gradient) from ``x0``; a non-finite value or gradient
    counts as a very poor point, so the search steps back from it."""

    def negative(x: np.ndarray) -> tuple[float, np.ndarray]:
        with np.errstate(over="ignore", under="ignore", invalid="ignore", divide="ignore"):
            ll, grad = loglik(x)
        if not (math.isfinite(ll) and np.all(np.isfinite(grad))):
            return 1e300, np.zeros_like(x)
        return -ll, -grad

    # one row per prospect: BLAS threads only spin on these products (see funnelkit._blas)
    with warnings.catch_warnings(), single_threaded_blas():
        warnings.simplefilter("ignore", RuntimeWarning)
        res = optimize.minimize(
            negative, x0, jac=True, method="BFGS", options={"gtol": 1e-6, "maxiter": 1000}
        )
        x = np.asarray(res.x, dtype=float)
        value, grad = negative(x)
        hess = _hessian(lambda y: -negative(y)[1], x)
    return Optimum(x, -value, hess, float(np.max(np.abs(grad))), str(res.message))


def _hessian(grad: Callable[[np.ndarray], np.ndarray], x: np.ndarray) -> np.ndarray:
    """Central differences of the analytic gradient, symmetrised."""
    out = np.empty((x.size, x.size))
    for i in range(x.size):
        h = 1e-5 * max(1.0, abs(x[i]))
        up, down = x.copy(), x.copy()
        up[i] += h
        down[i] -= h
        out[:, i] = (grad(up) - grad(down)) / (2.0 * h)
    return 0.5 * (out + out.T)
