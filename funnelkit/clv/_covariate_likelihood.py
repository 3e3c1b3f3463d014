"""The likelihood of a CLV fitter with static covariates, in its base parameters and
coefficients (the fitting half of :class:`~funnelkit.clv._covariate_model.CovariateModel`).

Customer ``i`` with covariates ``z_i`` has ``theta_i = theta · exp(± gamma_process' z_i)``.
Customers sharing a covariate pattern share their parameters: when the patterns are few
(channels, membership), each pattern's rows are summed by the model's own grouped weighted
likelihood, which evaluates its special functions once per distinct frequency; otherwise
(numeric covariates, every customer a pattern of their own) the model's per-row likelihood
takes every row at its own parameters. Either way the chain rule gives the gradient in
``(theta, gamma)``.

The logarithms of a unit's (pattern's or row's) natural parameters are linear in the fitting
coordinates (``log theta`` and ``gamma``), so the Hessian there is a sum of each unit's
4 x 4 Hessian in its own log parameters, mapped through its design row: differencing the
units' analytic gradients along each of the model's few parameters (every unit at once)
gives the whole Hessian in twice as many evaluations as the model has parameters, however
many coefficients there are (:class:`UnitLikelihood`).
"""

from __future__ import annotations

import math
from abc import abstractmethod
from collections.abc import Callable, Mapping, Sequence

import numpy as np

from funnelkit._quasi_newton import backtrack, newton_step
from funnelkit.clv._covariate_predict import CovariatePredictions
from funnelkit.clv._data import FitData
from funnelkit.clv._limits import Limit
from funnelkit.clv._optimise import (
    GRADIENT_TOLERANCE,
    LOG_BOUND,
    Candidate,
    CoefficientSpace,
    LogLikelihood,
)

__all__ = ["CovariateLikelihood", "UnitLikelihood", "newton_search", "penalised_hessian"]

#: Patterns are summed one by one (:meth:`CovariateLikelihood._pattern_likelihood`) when each
#: has this many compressed rows on average: below it the per-pattern calls cost more than
#: the per-row special functions they save.
_ROWS_PER_PATTERN = 256

#: Step in the units' log parameters of the differenced gradients (as the optimiser's own
#: Hessian by differences of an analytic gradient takes)
_STEP = 1e-5

#: Newton steps stop this close to the maximum, in squared standard errors (1e-6 of a
#: standard error): far closer than L-BFGS-B's stop (about 1e-5 to 1e-4 of one), and the
#: last step is cheap where convergence is quadratic
_DECREMENT = 1e-12

#: Below this decrement Newton steps are taken in full, with the central Hessian: the
#: maximum is a hundredth of a standard error away, where the quadratic model is exact to
#: far more digits than a line search can resolve in a total of millions
_NEAR = 1e-4

#: natural parameters of every unit ``(n_params, n_units)`` -> the weighted total
#: log-likelihood and each unit's weighted gradient in its log parameters (``None``: none)
UnitGradients = Callable[[np.ndarray], tuple[float, np.ndarray | None]]

Links = Mapping[str, Sequence[tuple[str, int]]]


def _pattern_parts(data: FitData, n_patterns: int) -> list[tuple[int, FitData]]:
    """The rows of each covariate pattern as their own fit data (patterns without rows left
    out); built once per fit, so each part keeps its grouped-value cache across evaluations."""
    of_row = data["pattern"].astype(np.int64)
    order = np.argsort(of_row, kind="stable")
    bounds = np.searchsorted(of_row[order], np.arange(n_patterns + 1))
    parts = []
    for g in range(n_patterns):
        rows = order[bounds[g] : bounds[g + 1]]
        if rows.size == 0:
            continue
        weights = data.weights[rows]
        part = FitData(
            columns={name: column[rows] for name, column in data.columns.items()},
            weights=weights,
            n_customers=round(float(weights.sum())),
            time_unit=data.time_unit,
        )
        parts.append((g, part))
    return parts


class UnitLikelihood:
    """The weighted log-likelihood of covariate units (patterns, or rows each at their own
    pattern's parameters) in ``(base parameters, coefficients)``.

    Calling it gives the total and its gradient (natural base parameters, coefficients), as
    the shared optimiser takes; :meth:`hessian` gives the Hessian in the fitting coordinates
    ``(log base parameters, coefficients)`` (see the module docstring).

    Parameters
    ----------
    names
        The base parameters, in order.
    links
        Process -> ``(parameter, sign)`` pairs it scales.
    patterns
        The distinct design rows ``(n_patterns, p)``.
    of_unit
        Each unit's pattern; ``None``: the units are the patterns.
    gradients
        Natural parameters of every unit -> the total and the units' weighted gradients in
        their log parameters.
    """

    def __init__(
        self,
        names: Sequence[str],
        links: Links,
        patterns: np.ndarray,
        of_unit: np.ndarray | None,
        gradients: UnitGradients,
    ) -> None:
        self._names = tuple(names)
        self._links = links
        self._patterns = patterns
        self._of_unit = of_unit
        self._design = patterns if of_unit is None else patterns[of_unit]
        self._gradients = gradients
        self._last: tuple[np.ndarray, np.ndarray] | None = None
        index = {nm: i for i, nm in enumerate(names)}
        k, p = len(names), patterns.shape[1]
        # d log(theta_i) / d (log base, coefficients) = [1, design row] @ selector_i
        self._selectors = np.zeros((k, p + 1, k + p * len(links)))
        for i in range(k):
            self._selectors[i, 0, i] = 1.0
        for q, pairs in enumerate(links.values()):
            for nm, sign in pairs:
                block = slice(k + q * p, k + (q + 1) * p)
                self._selectors[index[nm], 1:, block] += sign * np.eye(p)

    def _natural(self, vector: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The base parameters and every unit's natural parameters ``(n_params, n_units)``."""
        k, p = len(self._names), self._patterns.shape[1]
        base = vector[:k]
        coefs = {proc: vector[k + i * p : k + (i + 1) * p] for i, proc in enumerate(self._links)}
        nat = CovariatePredictions._natural(base, coefs, self._patterns, self._names, self._links)
        return base, nat if self._of_unit is None else nat[:, self._of_unit]

    def __call__(self, vector: np.ndarray) -> tuple[float, np.ndarray | None]:
        base, nat = self._natural(vector)
        with np.errstate(all="ignore"):
            total, weighted = self._gradients(nat)
        self._last = None
        if not math.isfinite(total):
            return -math.inf, None
        if weighted is None:
            return total, None
        # the units' gradients here: a forward-difference Hessian starts from them
        self._last = (np.array(vector, dtype=float, copy=True), weighted)
        index = {nm: i for i, nm in enumerate(self._names)}
        d_base = weighted.sum(axis=1) / base
        d_coef = [
            sum(sign * weighted[index[nm]] @ self._design for nm, sign in pairs)
            for pairs in self._links.values()
        ]
        return total, np.concatenate([d_base, *d_coef])

    def hessian(self, vector: np.ndarray, *, central: bool = True) -> np.ndarray | None:
        """Hessian of the total in ``(log base parameters, coefficients)``; ``None`` where a
        differenced gradient is not finite.

        Differences of the units' gradients along each log parameter (all units moved at
        once: a unit's terms depend on its own parameters only) give each unit's Hessian in
        its log parameters; each is mapped through the unit's design row. Central
        differences (twice as many evaluations as base parameters) for the standard errors;
        forward ones from the last call's gradients (as many) for search steps, whose
        length an error of 1e-5 in the curvature hardly changes.
        """
        _, nat = self._natural(vector)
        k = len(self._names)
        n_units = nat.shape[1]
        columns = np.empty((k, k, n_units))
        steps = (_STEP, -_STEP) if central else (_STEP,)
        with np.errstate(all="ignore"):
            at = None
            if not central:
                last = self._last
                if last is None or not np.array_equal(last[0], vector):
                    self(vector)
                    last = self._last
                if last is None:
                    return None
                at = last[1]
            for j in range(k):
                moved = []
                for step in steps:
                    shifted = nat.copy()
                    shifted[j] *= math.exp(step)
                    total, weighted = self._gradients(shifted)
                    if weighted is None or not math.isfinite(total):
                        return None
                    moved.append(weighted)
                if at is None:
                    columns[:, j] = (moved[0] - moved[1]) / (2.0 * _STEP)
                else:
                    columns[:, j] = (moved[0] - at) / _STEP
        unit = 0.5 * (columns + columns.transpose(1, 0, 2))
        if not np.all(np.isfinite(unit)):
            return None
        n_patterns = self._patterns.shape[0]
        if self._of_unit is not None:
            # units of one pattern share its design row: their Hessians add up first
            unit = np.stack(
                [
                    [
                        np.bincount(self._of_unit, weights=unit[i, j], minlength=n_patterns)
                        for j in range(k)
                    ]
                    for i in range(k)
                ]
            )
        rows = np.column_stack([np.ones(n_patterns), self._patterns])
        out = np.zeros((self._selectors.shape[2],) * 2)
        for i in range(k):
            for j in range(k):
                inner = rows.T @ (unit[i, j][:, None] * rows)
                out += self._selectors[i].T @ inner @ self._selectors[j]
        return 0.5 * (out + out.T)


def penalised_hessian(
    loglik: UnitLikelihood,
    space: CoefficientSpace,
    params: np.ndarray,
    n: float,
    penalizer: float,
    *,
    central: bool = True,
) -> np.ndarray | None:
    """Hessian of the penalised total (``-n`` times the optimiser's mean objective) in the
    fitting coordinates of ``space`` at ``params``; None where it is not finite."""
    hess = loglik.hessian(params, central=central)
    if hess is None:
        return None
    # the L2 penalty's curvature in theta: 4 c p^2 on a log scale, 2 c on a coefficient
    penalty = penalizer * np.where(space.free, 2.0, 4.0 * params**2)
    return np.asarray(hess - n * np.diag(penalty))


def newton_search(
    space: CoefficientSpace,
    x0: np.ndarray,
    loglik: UnitLikelihood,
    n: float,
    penalizer: float,
    *,
    max_steps: int = 50,
) -> tuple[Candidate, np.ndarray] | None:
    """Maximise ``loglik`` from ``x0`` by Newton steps with its Hessian.

    A general-purpose optimiser learns the curvature of a dozen coordinates over dozens of
    evaluations and then needs the Hessian for the standard errors anyway; the Hessian of a
    :class:`UnitLikelihood` costs one evaluation per base parameter (forward differences,
    on the way) or two (central, at the end), and Newton steps settle in a handful.
    Works on the penalised total (``-n`` times the optimiser's mean objective, in the same
    coordinates), with backtracking until the steps are short (decrement below
    :data:`_NEAR`), then full steps with the central Hessian until the decrement is below
    :data:`_DECREMENT`. Returns the maximum and the Hessian of the mean objective there
    (what the covariance is built from), or None when the steps do not settle, head for
    the edge of the search box or meet a Hessian that is not negative definite: the caller
    then falls back on the general optimiser.
    """
    if np.any(space.is_probability):
        return None
    theta = np.clip(space.to_theta(np.asarray(x0, dtype=float)), -LOG_BOUND + 1, LOG_BOUND - 1)

    def value(t: np.ndarray) -> tuple[float, float, np.ndarray | None]:
        """Penalised total, plain total and gradient in theta at ``t``."""
        params = space.to_params(t)
        total, grad = loglik(params)
        penalised = total - n * penalizer * float(np.sum(params**2))
        if not math.isfinite(penalised) or grad is None or not np.all(np.isfinite(grad)):
            return -math.inf, total, None
        grad_theta = (np.asarray(grad) - 2.0 * n * penalizer * params) * space.jacobian(params)
        return penalised, total, grad_theta

    def curvature(t: np.ndarray, central: bool) -> np.ndarray | None:
        return penalised_hessian(loglik, space, space.to_params(t), n, penalizer, central=central)

    with np.errstate(all="ignore"):
        ll, total, grad = value(theta)
        hess = None if grad is None else curvature(theta, central=False)
        central = False
        steps = 0
        for _ in range(max_steps):
            if grad is None or hess is None:
                return None
            uphill = newton_step(grad, hess)
            if uphill is None:
                return None
            step, decrement = uphill
            if decrement < _DECREMENT and central:
                break
            if decrement < _NEAR:
                # in the quadratic region a full step is safe: its gain is below the
                # rounding of the total, which a line search would mistake for a loss
                theta = theta + step
                steps += 1
                ll, total, grad = value(theta)
                hess = None if grad is None else curvature(theta, central=True)
                central = True
                continue
            found = backtrack(value, theta, step, ll, decrement)
            if found is None:
                return None
            theta, (ll, total, grad) = found
            steps += 1
            hess = None if grad is None else curvature(theta, central=False)
            central = False
        else:
            return None
    assert grad is not None and hess is not None
    if np.any(np.abs(theta) > LOG_BOUND - 1.0):
        return None  # heading for a bound: the general optimiser says which and stops there
    if not np.max(np.abs(grad), initial=0.0) / n < GRADIENT_TOLERANCE:
        return None
    params = space.to_params(theta)
    fit = Candidate(
        space=space,
        limit=None,
        theta=theta,
        params=params,
        log_likelihood=total,
        converged=True,
        message="",
        iterations=steps,
    )
    return fit, -hess / n


class CovariateLikelihood(CovariatePredictions):
    """The covariate model's log-likelihood as a function of ``(base parameters,
    coefficients)``, for the shared optimiser (see the module docstring)."""

    @staticmethod
    def _split(
        vector: np.ndarray, processes: Sequence[str], p: int, k: int
    ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        coefs = {proc: vector[k + i * p : k + (i + 1) * p] for i, proc in enumerate(processes)}
        return vector[:k], coefs

    @abstractmethod
    def _rows_log_likelihood(
        self, params: np.ndarray, data: FitData
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """Per-row log-likelihood and gradient ``(n_params, n_rows)`` (``None``: finite
        differences) with per-row parameters ``(n_params, n_rows)``: each customer at their
        own parameters, all rows at once."""

    def _rows_likelihood(
        self,
        names: Sequence[str],
        links: Links,
        limit: Limit | None,
        patterns: np.ndarray,
        data: FitData,
        p: int,
    ) -> LogLikelihood:
        """The weighted log-likelihood in ``(base parameters, coefficients)``: a
        :class:`UnitLikelihood` (analytic gradient by the chain rule, Hessian from differenced
        gradients) for the full model, a function without gradient (finite differences) for
        a limit, whose per-row formula (``_limit_log_likelihood``) takes per-row parameters
        too."""
        of_row = data["pattern"].astype(np.int64)
        if limit is None:
            if patterns.shape[0] * _ROWS_PER_PATTERN <= data.n_rows:
                return self._pattern_likelihood(names, links, patterns, data, p)

            def rows(nat: np.ndarray) -> tuple[float, np.ndarray | None]:
                ll, grad = self._rows_log_likelihood(nat, data)
                total = float(data.weights @ ll)
                return total, None if grad is None else grad * nat * data.weights

            return UnitLikelihood(names, links, patterns, of_row, rows)
        k = len(names)

        def loglik(vector: np.ndarray) -> tuple[float, np.ndarray | None]:
            base, coefs = self._split(vector, tuple(links), p, k)
            nat = self._natural(base, coefs, patterns, names, links, limit.probabilities)
            nat = nat[:, of_row]
            with np.errstate(all="ignore"):
                ll = self._limit_log_likelihood(dict(zip(names, nat, strict=True)), data)
                total = float(data.weights @ ll)
            return (total if math.isfinite(total) else -math.inf), None

        return loglik

    def _pattern_likelihood(
        self,
        names: Sequence[str],
        links: Links,
        patterns: np.ndarray,
        data: FitData,
        p: int,
    ) -> UnitLikelihood:
        """:meth:`_rows_likelihood` summed pattern by pattern: within a covariate pattern
        every row has the same parameters, so the model's grouped weighted likelihood
        (special functions once per distinct frequency, not once per row) gives that
        pattern's total and gradient; the chain rule then runs over patterns, not rows."""
        parts = _pattern_parts(data, patterns.shape[0])

        def by_pattern(nat: np.ndarray) -> tuple[float, np.ndarray | None]:
            total = 0.0
            grad: np.ndarray | None = np.zeros_like(nat)
            for g, part in parts:
                ll, d_nat = self._weighted_log_likelihood(nat[:, g], part)
                total += float(ll)
                if grad is not None and d_nat is not None:
                    grad[:, g] = d_nat
                else:
                    grad = None
            return total, None if grad is None else grad * nat

        return UnitLikelihood(names, links, patterns, None, by_pattern)
