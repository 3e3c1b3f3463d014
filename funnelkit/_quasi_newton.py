"""Newton-type ascent from a nearby start (bootstrap refits).

A bootstrap sample is the training data reweighted: its maximum lies a standard error or so
from the full-data estimate, and the full-data fit's inverse Hessian describes its curvature
up to sampling error. Steps ``metric @ gradient`` from there settle in a few evaluations,
where a general-purpose optimiser spends its first ones learning the curvature
(:func:`ascend`); a likelihood with an analytic Hessian takes plain Newton steps
(:func:`newton`), which settle in two or three.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

__all__ = ["ascend", "newton"]

#: stop when the estimate is this close to the maximum in squared standard errors (the
#: Newton decrement of a total log-likelihood): far below what a bootstrap can resolve
DECREMENT = 1e-8


def ascend(
    log_likelihood: Callable[[np.ndarray], tuple[float, np.ndarray]],
    x: np.ndarray,
    metric: np.ndarray,
    low: np.ndarray,
    high: np.ndarray,
    *,
    tolerance: float = DECREMENT,
    max_steps: int = 25,
) -> tuple[np.ndarray, np.ndarray] | None:
    """Maximise ``log_likelihood`` (value, gradient) from ``x`` inside ``(low, high)``.

    Steps ``metric @ gradient`` with backtracking. The metric is rescaled once by the
    curvature measured along the first step, so that a sample of another size (a segment)
    gets steps of the right length, and corrected by the BFGS update after every step.
    Returns the maximum and the metric there, or None if the steps do not settle (the
    caller then falls back on its general optimiser).
    """
    ll, grad = log_likelihood(x)
    if not math.isfinite(ll):
        return None
    calibrated = False
    for _ in range(max_steps):
        step = metric @ grad
        decrement = float(grad @ step)
        if not decrement >= 0.0:  # the metric is not positive definite (or NaN)
            return None
        if decrement < tolerance:
            return x, metric
        if not calibrated:
            calibrated = True
            y = x + step
            if np.all((y > low) & (y < high)):
                ll_y, grad_y = log_likelihood(y)
                bend = -float((grad_y - grad) @ step)  # curvature along the step
                if math.isfinite(ll_y) and bend > 0.0:
                    ratio = decrement / bend
                    if not 0.5 < ratio < 2.0:
                        metric = metric * min(max(ratio, 1e-3), 1e3)
                        continue
                    if ll_y > ll:
                        metric = _bfgs_update(metric, y - x, grad - grad_y)
                        x, ll, grad = y, ll_y, grad_y
                        continue
        t = 1.0
        while True:
            y = x + t * step
            if np.all((y > low) & (y < high)):
                ll_y, grad_y = log_likelihood(y)
                if ll_y >= ll + 1e-4 * t * decrement:
                    break
            t *= 0.5
            if t < 1e-3:
                return None
        metric = _bfgs_update(metric, y - x, grad - grad_y)
        x, ll, grad = y, ll_y, grad_y
    return None


def _bfgs_update(inverse: np.ndarray, step: np.ndarray, change: np.ndarray) -> np.ndarray:
    """BFGS update of an inverse Hessian: a ``step`` changed the gradient of -ll by ``change``."""
    curvature = float(step @ change)
    if not curvature > 1e-12 * float(np.linalg.norm(step) * np.linalg.norm(change)):
        return inverse  # no positive curvature along the step: keep the metric
    rho = 1.0 / curvature
    left = np.eye(step.size) - rho * np.outer(step, change)
    out: np.ndarray = left @ inverse @ left.T + rho * np.outer(step, step)
    return out


def newton(
    parts: Callable[[np.ndarray], tuple[float, np.ndarray, np.ndarray]],
    x: np.ndarray,
    *,
    tolerance: float = DECREMENT,
    max_steps: int = 25,
) -> np.ndarray | None:
    """Maximise a log-likelihood from a nearby ``x`` by Newton steps with backtracking.

    ``parts(x)`` gives the value, gradient and Hessian (``-inf`` where the likelihood breaks
    down). Stops when the Newton decrement falls below ``tolerance`` (squared standard
    errors, as in :func:`ascend`). Returns the maximum, or None when the Hessian is not
    negative definite on the way or the steps do not settle: the caller then falls back on
    its general optimiser.
    """
    ll, grad, hess = parts(x)
    for _ in range(max_steps):
        if not math.isfinite(ll):
            return None
        try:
            np.linalg.cholesky(-hess)  # the step is uphill only where -hess is positive definite
            step = np.linalg.solve(-hess, grad)
        except np.linalg.LinAlgError:
            return None
        decrement = float(grad @ step)
        if not math.isfinite(decrement):
            return None
        if decrement < tolerance:
            return x
        t = 1.0
        while True:
            y = x + t * step
            ll_y, grad_y, hess_y = parts(y)
            if ll_y >= ll + 1e-4 * t * decrement:
                break
            t *= 0.5
            if t < 1e-3:
                return None
        x, ll, grad, hess = y, ll_y, grad_y, hess_y
    return None
