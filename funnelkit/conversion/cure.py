"""Mixture cure models for stage conversion, fitted by maximum likelihood.

A share ``p`` of the people who enter a stage eventually convert; the delay of those who do
follows a parametric distribution ``F0`` (:mod:`funnelkit.conversion.delay`). Everyone else
never converts. With right censoring, a customer who converted after ``t`` contributes
``p f0(t)`` and one still waiting at ``c`` contributes ``1 - p F0(c)`` (Maller & Zhou 1996).

The parameters are fitted on an unconstrained scale, ``(logit p, m, log s)``, with the
analytic gradient and Hessian (Newton-type trust region from :func:`scipy.optimize.minimize`);
standard errors come from the inverse of the observed information.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence

import numpy as np
from scipy import optimize

from funnelkit._floating import underflow_is_zero
from funnelkit._quasi_newton import backtrack, newton, newton_step, refit_decrement
from funnelkit.conversion.cure_likelihood import (
    CureData,
    log_likelihood_gradient,
    log_likelihood_parts,
)
from funnelkit.conversion.cure_result import CureFit
from funnelkit.conversion.delay import (
    DELAYS,
    DelayFamily,
    DelayName,
    LogNormalMixture,
)

__all__ = ["CureData", "fit_cure_data", "fit_cure_model", "log_likelihood_parts"]


class _Objective:
    """Negative log-likelihood with its derivatives, computed once per point."""

    def __init__(
        self, data: CureData, family: DelayFamily, fix_p: bool, *, first: bool = True
    ) -> None:
        """``first=False``: evaluate the first point too, rather than read it off the row
        terms of ``data.first_parts`` (which are those of a bootstrap's start only)."""
        self.data, self.family, self.fix_p = data, family, fix_p
        self._first = first
        self._x: np.ndarray | None = None
        self._work = [np.empty(data.log_censored.size) for _ in range(6)]
        self._parts: tuple[float, np.ndarray, np.ndarray] = (0.0, np.empty(0), np.empty(0))

    def _at(self, x: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
        if self._x is None or not np.array_equal(x, self._x):
            with np.errstate(over="ignore", under="ignore", invalid="ignore"):
                found = None
                if self._first and self._x is None and self.data.first_parts is not None:
                    # the start of a bootstrap sample: from row terms prepared once
                    found = self.data.first_parts(x, self.family, self.fix_p)
                ll, g, h = found or log_likelihood_parts(
                    x, self.data, self.family, fix_p=self.fix_p, work=self._work
                )
            bad = not (np.isfinite(ll) and np.all(np.isfinite(g)) and np.all(np.isfinite(h)))
            # a point where the likelihood breaks down is infinitely bad, never a maximum
            self._parts = (-math.inf, np.zeros_like(g), np.zeros_like(h)) if bad else (ll, g, h)
            self._x = np.array(x, copy=True)
        return self._parts

    def fun(self, x: np.ndarray) -> float:
        return -self._at(x)[0]

    def jac(self, x: np.ndarray) -> np.ndarray:
        return -self._at(x)[1]

    def hess(self, x: np.ndarray) -> np.ndarray:
        return -self._at(x)[2]


def _start_of(
    start: CureFit | Sequence[float] | None,
) -> tuple[np.ndarray | None, np.ndarray | None]:
    """``start`` as (coefficients, covariance or None)."""
    if start is None:
        return None, None
    if isinstance(start, CureFit):
        cov = None if start.covariance is None else np.asarray(start.covariance, dtype=float)
        return np.asarray(start.coefficients, dtype=float), cov
    return np.asarray(start, dtype=float), None


def _warm_start(
    start: np.ndarray, default: Callable[[], np.ndarray], family: DelayFamily, fix_p: bool
) -> np.ndarray:
    """``start`` on this fit's scale: without ``logit p`` when p is fixed, the default
    ``logit p`` when the start had p fixed (infinite) and this fit has not. ``default``
    gives the start from scratch (a pass over the rows: only asked for where needed)."""
    delay = start[1:]
    x0 = delay if fix_p else np.concatenate((start[:1], delay))
    if not fix_p and not math.isfinite(float(x0[0])):
        x0[0] = default()[0]
    size = (1 if fix_p else 2) + (0 if family.fixed_scale else 1)
    if x0.shape != (size,) or not np.all(np.isfinite(x0)):
        return default()
    return x0


#: a Newton step from a point whose decrement is below this is taken without evaluating the
#: grid where it lands: the decrement after a step from ``d`` was below ``1e-4 * d**2`` in
#: bootstrap refits on 100,000 entrants (below 1e-8 from here), and the check on the rows
#: that follows catches a step that did not settle
_LAST_NEWTON_STEP = 1e-2


def _grid_refit(
    data: CureData, family: DelayFamily, fix_p: bool, x0: np.ndarray
) -> tuple[np.ndarray, tuple[float, np.ndarray] | None] | None:
    """A refit from ``x0`` on ``data``'s rows spread over a grid of log times
    (``data.coarse``), checked on the rows: the grid's maximum and, where the check settles
    it, its log-likelihood on the rows and the Hessian on the grid; None where there is no
    grid (few rows) or the steps there do not settle.

    A Newton step on the grid costs two evaluations of 2048 points each, not one of every
    row, and the grid's maximum lies about 1e-3 standard errors from the rows' own (see
    :mod:`funnelkit.conversion.cure_grid`). One evaluation of the rows' value and gradient
    (no Hessian: the grid's stands in, equal to a few parts in a million) checks the Newton
    decrement there against :func:`~funnelkit._quasi_newton.refit_decrement`.
    """
    grids = None if data.coarse is None else data.coarse()
    if grids is None:
        return None
    # the rows' check costs about as much as the per-row terms that would shift the grid
    # to them at the start (the mixture's does not: see cure_refit._on_grids)
    on_grid = _Objective(grids[0], family, fix_p, first=False)
    tolerance = refit_decrement() * 1e-2
    x = x0
    ll, grad, hess = on_grid._at(x)
    for _ in range(25):
        uphill = newton_step(grad, hess) if math.isfinite(ll) else None
        if uphill is None:
            return None
        step, decrement = uphill
        if decrement < tolerance:
            break
        if decrement < _LAST_NEWTON_STEP:
            x = x + step  # lands far within the tolerance: the rows check it, not the grid
            break
        found = backtrack(on_grid._at, x, step, ll, decrement)
        if found is None:
            return None
        x, (ll, grad, hess) = found
    else:
        return None
    with np.errstate(over="ignore", under="ignore", invalid="ignore", divide="ignore"):
        ll, grad = log_likelihood_gradient(x, data, family, fix_p=fix_p)
    uphill = newton_step(grad, hess) if math.isfinite(ll) else None
    if uphill is None or not uphill[1] < refit_decrement():
        return x, None
    return x, (ll, hess)


def _repeated(data: CureData) -> CureData:
    """Weighted cure data as unweighted rows, each repeated its weight times."""
    assert data.weight_exact is not None and data.weight_censored is not None
    log_exact = np.repeat(data.log_exact, data.weight_exact.astype(np.int64))
    return CureData(
        log_exact=log_exact,
        n_zero=data.n_zero,
        log_eps=data.log_eps,
        log_censored=np.repeat(data.log_censored, data.weight_censored.astype(np.int64)),
        sum_log_exact=float(log_exact.sum()),
    )


def _start(data: CureData, family: DelayFamily, plateau: float, fix_p: bool) -> np.ndarray:
    delay = family.start(data.log_exact, data.log_eps)
    if fix_p:
        return np.asarray(delay)
    p0 = min(max(plateau, 0.02), 0.98)
    return np.asarray([math.log(p0 / (1.0 - p0)), *delay])


def fit_cure_model(
    durations: np.ndarray,
    converted: np.ndarray,
    distribution: DelayName,
    *,
    plateau: float | None = None,
    weights: np.ndarray | None = None,
    start: CureFit | Sequence[float] | None = None,
) -> CureFit:
    """Fit a mixture cure model by maximum likelihood.

    Parameters
    ----------
    durations, converted
        Time from entering the source stage to converting or to censoring, and whether the
        customer converted.
    distribution
        ``"exponential"``, ``"weibull"``, ``"lognormal"`` or ``"lognormal-mixture"`` (two
        log-normal components, for delays with a fast and a slow mode) delay among
        converters.
    plateau
        Starting value for ``p`` (the Kaplan-Meier plateau is a good one); default the share
        of converters.
    weights
        How many times each row counts (whole numbers >= 0, e.g. bootstrap counts): the same
        fit as the rows repeated, without the copies. Default: each row once.
    start
        A fit of the same family on similar data (or its coefficients), as in a bootstrap
        refit: one local search from there instead of the default starts (Newton steps
        with the analytic Hessian; the two-component delay steps in the metric of the
        start's covariance and computes none of its own, ``covariance`` None). On many
        rows the steps run on the rows spread over a grid of log times and end where one
        evaluation of the rows settles them: the covariance is then the grid's at the
        last step (within a few percent: the metric of later refits, not for intervals).

    Returns
    -------
    CureFit
        Coefficients on the fitting scale, their covariance (None if the observed information
        is not positive definite), log-likelihood, AIC and convergence diagnostics.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> n = 2000
    >>> will = rng.random(n) < 0.4
    >>> delay = rng.exponential(5.0, n)
    >>> follow_up = rng.uniform(0, 60, n)
    >>> converted = will & (delay <= follow_up)
    >>> fit = fit_cure_model(np.where(converted, delay, follow_up), converted, "exponential")
    >>> round(fit.eventual_rate, 2)
    0.41

    References
    ----------
    Maller, R. A. & Zhou, X. (1996). *Survival Analysis with Long-Term Survivors*. Wiley.
    """
    data = CureData.from_durations(durations, converted, weights)
    return fit_cure_data(data, distribution, plateau=plateau, start=start)


@underflow_is_zero
def fit_cure_data(
    data: CureData,
    distribution: DelayName,
    *,
    plateau: float | None = None,
    start: CureFit | Sequence[float] | None = None,
) -> CureFit:
    """:func:`fit_cure_model` on durations already prepared as :class:`CureData`.

    A bootstrap prepares the durations once (:class:`~funnelkit.conversion.cure_refit.
    CureRows`) and hands every sample's reweighted data here.
    """
    from funnelkit._blas import single_threaded_blas

    # the optimisers' linear algebra is on 1-6 parameters: OpenBLAS threads only spin
    # between its calls, and on a busy machine that costs milliseconds per iteration
    with single_threaded_blas():
        return _fit(data, distribution, plateau, start)


def _fit(
    data: CureData,
    distribution: DelayName,
    plateau: float | None,
    start: CureFit | Sequence[float] | None,
) -> CureFit:
    delay = DELAYS[distribution]
    coefficients, metric = _start_of(start)
    fix_p = data.log_censored.size == 0
    if plateau is None:
        plateau = data.n_converted / max(data.n_converted + data.n_censored, 1)
    if isinstance(delay, LogNormalMixture):
        # imported here: the mixture's modules build on CureData and the covariance above
        if coefficients is not None:
            from funnelkit.conversion.cure_refit import refit_mixture

            return refit_mixture(data, coefficients, fix_p, metric)
        from funnelkit.conversion.cure_mixture import fit_mixture

        if data.weighted:
            # the from-scratch mixture fit counts rows: hand it the rows repeated
            data = _repeated(data)
        return fit_mixture(data, plateau, fix_p)
    family = delay
    if coefficients is None:
        x0 = _start(data, family, plateau, fix_p)
    else:
        x0 = _warm_start(coefficients, lambda: _start(data, family, plateau, fix_p), family, fix_p)
    objective = _Objective(data, family, fix_p)
    # from a nearby start (a refit) Newton steps with the analytic Hessian settle in two or
    # three evaluations; the trust region is the fallback, and the search from scratch
    settled = None
    checked: tuple[float, np.ndarray] | None = None
    if coefficients is not None:
        on_grid = _grid_refit(data, family, fix_p, x0)
        if on_grid is not None:
            settled, checked = on_grid
            if checked is None:
                # the check on the rows did not settle: Newton steps on the rows from the
                # grid's maximum (the start's row terms are not those of this point)
                objective = _Objective(data, family, fix_p, first=False)
                settled = newton(objective._at, settled)
        if settled is None:
            objective = _Objective(data, family, fix_p)
            settled = newton(objective._at, x0)
    if settled is not None:
        x, success, found = settled, True, "converged (Newton steps from the start)"
    else:
        n_rows = data.n_converted + data.n_censored
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            res = optimize.minimize(
                objective.fun,
                x0,
                jac=objective.jac,
                hess=objective.hess,
                method="trust-exact",
                options={"gtol": 1e-7 * max(n_rows, 1), "maxiter": 200},
            )
        x, success, found = np.asarray(res.x, dtype=float), bool(res.success), str(res.message)
    ll, _, hess = objective._at(x) if checked is None else (checked[0], None, checked[1])
    covariance = covariance_from_information(-hess)
    # Without a single conversion at a positive time the likelihood only knows that every
    # delay is below eps: it grows as the delay distribution collapses towards 0, so
    # whatever point the optimiser stopped at is not an estimate of the delay.
    identified = data.log_exact.size > 0
    converged = success and math.isfinite(ll) and covariance is not None and identified
    if not identified:
        message = (
            f"every conversion happened at duration 0 (all {data.n_zero} at the instant of "
            "entering the source stage): the delay distribution is not identified"
        )
    elif not success:
        message = found
    elif not math.isfinite(ll):
        message = (
            "the log-likelihood is not finite at the optimum (the delay distribution degenerates)"
        )
    elif covariance is None:
        message = (
            "the observed information is not positive definite at the optimum (a parameter "
            "is not identified by these data, e.g. all delays are equal)"
        )
    else:
        message = found
    coefficients = x if not fix_p else np.concatenate(([math.inf], x))
    n_params = x.size
    return CureFit(
        distribution=distribution,
        coefficients=tuple(float(c) for c in coefficients),
        covariance=covariance_field(covariance, fix_p),
        log_likelihood=float(ll),
        aic=float(2 * n_params - 2 * ll) if math.isfinite(ll) else math.inf,
        n_params=int(n_params),
        converged=converged,
        p_fixed=fix_p,
        message=message,
    )


def covariance_field(
    covariance: np.ndarray | None, fix_p: bool
) -> tuple[tuple[float, ...], ...] | None:
    """A covariance on the fitting scale as :class:`CureFit` holds it: with a zero row and
    column for ``logit p`` where p is fixed (and not fitted)."""
    if covariance is None:
        return None
    if fix_p:
        padded = np.zeros((covariance.shape[0] + 1, covariance.shape[0] + 1))
        padded[1:, 1:] = covariance
        covariance = padded
    return tuple(map(tuple, covariance.tolist()))


def covariance_from_information(information: np.ndarray) -> np.ndarray | None:
    """Inverse of the observed information by Cholesky; None unless positive definite."""
    if not np.all(np.isfinite(information)):
        return None
    try:
        chol = np.linalg.cholesky(information)
    except np.linalg.LinAlgError:
        return None
    inv = np.linalg.inv(chol)
    cov: np.ndarray = inv.T @ inv
    return cov
