"""Maximum likelihood in unconstrained coordinates, shared by every CLV fitter.

A parameter set (the full model's or one limit model's, see :mod:`funnelkit.clv._limits`)
is optimised in log / logit coordinates, where its range is the whole real line, so the
search never leaves it and intervals built there stay in range. Each maximisation yields a
:class:`Candidate`; :func:`choose` picks the answer among the full model and its limits.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import optimize
from scipy.special import expit

from funnelkit.clv._limits import Limit, ParameterSpace

__all__ = [
    "LOG_BOUND",
    "RESAMPLE_TOLERANCES",
    "Candidate",
    "CoefficientSpace",
    "LogLikelihood",
    "choose",
    "hessian",
    "inverse_hessian",
    "maximise",
    "settle",
]

#: Weighted total log-likelihood and its natural-scale gradient (``None``: differentiate
#: numerically) at natural-scale parameters.
LogLikelihood = Callable[[np.ndarray], tuple[float, np.ndarray | None]]

# coordinates are kept inside these bounds: a parameter that ends on one is diverging
LOG_BOUND = 30.0
# a limit model whose log-likelihood is within this of the best fit is the answer: the full
# model's extra parameters do not improve the fit (a likelihood-ratio statistic below 0.02)
LIMIT_TOLERANCE = 0.01
# the largest gradient component (mean objective, unconstrained coordinates) of an optimum
GRADIENT_TOLERANCE = 1e-4

#: Stopping tolerances of a bootstrap refit, which starts next to its optimum: a mean
#: objective settled to 1e-11 moves the estimates by about 1e-5 of their size, far below
#: the sampling error a bootstrap measures.
RESAMPLE_TOLERANCES = {"ftol": 1e-11, "gtol": 1e-7}


@dataclass(frozen=True)
class CoefficientSpace(ParameterSpace):
    """A parameter space whose last ``n_free`` coordinates are unconstrained coefficients."""

    n_free: int = 0

    @property
    def free(self) -> np.ndarray:
        return np.arange(len(self.names)) >= len(self.names) - self.n_free

    def to_params(self, theta: np.ndarray) -> np.ndarray:
        theta = np.asarray(theta, dtype=float)
        with np.errstate(over="ignore"):
            bounded = np.where(self.is_probability, expit(theta), np.exp(theta))
        return np.asarray(np.where(self.free, theta, bounded))

    def to_theta(self, params: np.ndarray) -> np.ndarray:
        params = np.asarray(params, dtype=float)
        safe = np.where(self.free, 0.5, params)
        return np.asarray(np.where(self.free, params, super().to_theta(safe)))

    def jacobian(self, params: np.ndarray) -> np.ndarray:
        return np.asarray(np.where(self.free, 1.0, super().jacobian(params)))


@dataclass(frozen=True)
class Candidate:
    """One maximised parameter set: the full model or one of its limits."""

    space: ParameterSpace
    limit: Limit | None
    theta: np.ndarray
    params: np.ndarray
    log_likelihood: float
    converged: bool
    message: str
    iterations: int
    #: the optimiser gave up (iteration limit, failed line searches) away from a bound
    stopped: bool = False


def objective(
    space: ParameterSpace, theta: np.ndarray, loglik: LogLikelihood, n: float, penalizer: float
) -> tuple[float, np.ndarray]:
    """Penalised mean negative log-likelihood and its gradient in ``theta``.

    The L2 penalty ``penalizer * sum(params**2)`` is added on the natural scale (as in
    lifetimes). Without an analytic gradient, central differences in ``theta`` (relative
    steps for every parameter size). An unusable point is ``inf`` with a zero gradient, so a
    line search steps back from it.
    """
    params = space.to_params(theta)

    def value_of(p: np.ndarray) -> tuple[float, np.ndarray | None]:
        total, grad = loglik(p)
        value = -total / n + penalizer * float(np.sum(p**2))
        return (value if math.isfinite(value) else math.inf), grad

    value, grad = value_of(params)
    if grad is not None:
        grad_theta = (-np.asarray(grad) / n + 2.0 * penalizer * params) * space.jacobian(params)
    else:
        grad_theta = np.empty(theta.size)
        for i in range(theta.size):
            step = np.zeros(theta.size)
            step[i] = 1e-6
            up = value_of(space.to_params(theta + step))[0]
            down = value_of(space.to_params(theta - step))[0]
            grad_theta[i] = (up - down) / 2e-6
    if not math.isfinite(value) or not np.all(np.isfinite(grad_theta)):
        return math.inf, np.zeros(theta.size)
    return value, grad_theta


def maximise(
    space: ParameterSpace,
    x0: np.ndarray,
    loglik: LogLikelihood,
    n: float,
    *,
    penalizer: float,
    max_iter: int,
    limit: Limit | None = None,
    ftol: float = 1e-15,
    gtol: float = 1e-9,
) -> Candidate | None:
    """Maximise one parameter set's likelihood; ``None`` if it is nowhere finite.

    L-BFGS-B in unconstrained coordinates, restarted from where it stopped when its line
    search fails (an ``ABNORMAL`` stop is common on flat ridges and usually just needs a
    fresh curvature estimate). Converged means that the optimiser's own test passed (or a
    restart from its end point stays put) and that the gradient is negligible there.
    ``ftol`` and ``gtol`` are L-BFGS-B's stopping tolerances (see
    :data:`RESAMPLE_TOLERANCES`).
    """

    def value_and_grad(theta: np.ndarray) -> tuple[float, np.ndarray]:
        return objective(space, theta, loglik, n, penalizer)

    def negligible(grad: np.ndarray) -> bool:
        largest = float(np.max(np.abs(grad), initial=0.0))
        return bool(np.all(np.isfinite(grad))) and largest < GRADIENT_TOLERANCE

    theta = space.to_theta(np.asarray(x0, dtype=float))
    theta = np.clip(theta, -LOG_BOUND + 1.0, LOG_BOUND - 1.0)
    iterations, opt, settled = 0, None, False
    with np.errstate(all="ignore"):
        for _ in range(3):
            opt = optimize.minimize(
                value_and_grad,
                theta,
                jac=True,
                method="L-BFGS-B",
                bounds=[(-LOG_BOUND, LOG_BOUND)] * len(space.names),
                options={"maxiter": int(max_iter), "ftol": ftol, "gtol": gtol},
            )
            iterations += int(getattr(opt, "nit", 0))
            moved = np.max(np.abs(np.asarray(opt.x) - theta)) if theta.size else 0.0
            theta = np.asarray(opt.x, dtype=float)
            # a restart that cannot move is as good a stopping test as the optimiser's own
            settled = bool(opt.success) or moved < 1e-8
            if settled and negligible(opt.jac):
                break
        value, grad = value_and_grad(theta)
    if opt is None or not math.isfinite(value):
        return None
    grad_ok = negligible(grad)
    # converged: the optimiser (or a restart that stays put) and the gradient agree
    converged = settled and grad_ok
    stopped = not (settled or grad_ok)
    message = ""
    if stopped:
        message = f"the optimiser stopped without converging: {opt.message}".rstrip(": ")
    elif not converged:
        message = (
            "the optimiser stopped where the gradient is not negligible "
            f"(largest component {float(np.max(np.abs(grad))):.2g}): a flat ridge"
        )
    at_bound = [nm for nm, th in zip(space.names, theta, strict=True) if abs(th) > LOG_BOUND - 1e-3]
    if at_bound:
        converged = False
        message = f"parameter(s) {at_bound} diverged to a bound of the search space"
    params = space.to_params(theta)
    return Candidate(
        space=space,
        limit=limit,
        theta=theta,
        params=params,
        log_likelihood=-value * n + penalizer * n * float(np.sum(params**2)),
        converged=converged,
        message=message,
        iterations=iterations,
        stopped=stopped,
    )


def settle(
    space: ParameterSpace,
    x0: np.ndarray,
    loglik: LogLikelihood,
    n: float,
    penalizer: float,
    metric: np.ndarray,
) -> tuple[Candidate, np.ndarray] | None:
    """Quasi-Newton from ``x0`` in the ``metric`` of a fit on similar data (a bootstrap refit).

    ``metric`` is an inverse Hessian of the mean objective in ``theta``
    (:func:`inverse_hessian`); see :func:`funnelkit._quasi_newton.ascend`. Returns the
    optimum and the metric there, or None when the steps do not settle.
    """
    from funnelkit._quasi_newton import LAST_STEP, ascend, predicted_rise, refit_decrement

    theta = np.clip(space.to_theta(np.asarray(x0, dtype=float)), -LOG_BOUND + 1, LOG_BOUND - 1)
    if metric.shape != (theta.size, theta.size):
        return None
    last: list[tuple[np.ndarray, float, np.ndarray]] = []  # latest point, objective, gradient

    def gain(t: np.ndarray) -> tuple[float, np.ndarray]:
        value, grad = objective(space, t, loglik, n, penalizer)
        last[:] = [(np.array(t, copy=True), value, grad)]
        return -value, -grad

    with np.errstate(all="ignore"):
        bound = np.full(theta.size, LOG_BOUND - 1e-3)
        # the objective is the mean over n customers: its decrement is the total's over n;
        # the last step, next to the maximum, is taken without evaluating its end
        found = ascend(
            gain, theta, metric, -bound, bound, tolerance=refit_decrement() / n, last_step=LAST_STEP
        )
        if found is None:
            return None
        theta, metric = found
        # the steps stop where they evaluated last, or one step past it: no need to
        # evaluate again (a refit keeps only its estimates; its value is the quadratic
        # model's, within the refit's tolerance of the maximum's)
        if last and np.array_equal(last[0][0], theta):
            value = last[0][1]
        elif last:
            value = last[0][1] - predicted_rise(last[0][2], metric)
        else:
            value, _ = objective(space, theta, loglik, n, penalizer)
    params = space.to_params(theta)
    fit = Candidate(
        space=space,
        limit=None,
        theta=theta,
        params=params,
        log_likelihood=-value * n + penalizer * n * float(np.sum(params**2)),
        converged=True,
        message="",
        iterations=0,
    )
    return fit, metric


def inverse_hessian(hess: np.ndarray) -> np.ndarray | None:
    """The inverse of a Hessian of the mean objective; None unless positive definite."""
    hess = 0.5 * (hess + hess.T)  # central differences of a gradient are not exactly symmetric
    try:
        np.linalg.cholesky(hess)
        out: np.ndarray = np.linalg.inv(hess)
    except np.linalg.LinAlgError:
        return None
    return out if np.all(np.isfinite(out)) else None


def hessian(
    fit: Candidate, loglik: LogLikelihood, n: float, penalizer: float, *, analytic: bool
) -> np.ndarray:
    """Hessian of the mean objective in ``theta`` at ``fit``, by central differences of the
    gradient. Finite-difference gradients are noisy at about 1e-10, so without an analytic
    gradient a wider step keeps that noise well below the curvature of weakly identified
    parameters."""
    h = 1e-5 if analytic else 1e-3
    k = fit.theta.size
    hess = np.empty((k, k))
    with np.errstate(all="ignore"):
        for i in range(k):
            step = np.zeros(k)
            step[i] = h
            up = objective(fit.space, fit.theta + step, loglik, n, penalizer)[1]
            down = objective(fit.space, fit.theta - step, loglik, n, penalizer)[1]
            hess[:, i] = (up - down) / (2 * h)
    return hess


def choose(candidates: list[Candidate]) -> Candidate:
    """The maximum-likelihood fit, preferring the simplest model among equally good ones.

    Among the fits within ``LIMIT_TOLERANCE`` of the best log-likelihood, the one with the
    fewest parameters wins (a limit that the full fit only approaches); between equally
    simple ones, a converged fit, then the higher likelihood.
    """
    best = max(c.log_likelihood for c in candidates)
    close = [c for c in candidates if c.log_likelihood >= best - LIMIT_TOLERANCE]
    return min(close, key=lambda c: (len(c.space.names), not c.converged, -c.log_likelihood))
