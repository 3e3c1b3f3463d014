"""The likelihood of a CLV fitter with static covariates, in its base parameters and
coefficients (the fitting half of :class:`~funnelkit.clv._covariate_model.CovariateModel`).

Customer ``i`` with covariates ``z_i`` has ``theta_i = theta · exp(± gamma_process' z_i)``.
Customers sharing a covariate pattern share their parameters: when the patterns are few
(channels, membership), each pattern's rows are summed by the model's own grouped weighted
likelihood, which evaluates its special functions once per distinct frequency; otherwise
(numeric covariates, every customer a pattern of their own) the model's per-row likelihood
takes every row at its own parameters. Either way the chain rule gives the gradient in
``(theta, gamma)``.
"""

from __future__ import annotations

import math
from abc import abstractmethod
from collections.abc import Mapping, Sequence

import numpy as np

from funnelkit.clv._covariate_predict import CovariatePredictions
from funnelkit.clv._data import FitData
from funnelkit.clv._limits import Limit
from funnelkit.clv._optimise import LogLikelihood

__all__ = ["CovariateLikelihood"]

#: Patterns are summed one by one (:meth:`CovariateLikelihood._pattern_likelihood`) when each
#: has this many compressed rows on average: below it the per-pattern calls cost more than
#: the per-row special functions they save.
_ROWS_PER_PATTERN = 256


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
        links: Mapping[str, Sequence[tuple[str, int]]],
        limit: Limit | None,
        patterns: np.ndarray,
        data: FitData,
        p: int,
    ) -> LogLikelihood:
        """The weighted log-likelihood in ``(base parameters, coefficients)``: analytic
        gradient by the chain rule for the full model, none (finite differences) for a limit,
        whose per-row formula (``_limit_log_likelihood``) takes per-row parameters too."""
        index = {nm: i for i, nm in enumerate(names)}
        of_row = data["pattern"].astype(np.int64)
        k = len(names)
        if limit is None and patterns.shape[0] * _ROWS_PER_PATTERN <= data.n_rows:
            return self._pattern_likelihood(names, links, patterns, data, p)
        design = patterns[of_row]

        def loglik(vector: np.ndarray) -> tuple[float, np.ndarray | None]:
            base, coefs = self._split(vector, tuple(links), p, k)
            nat = self._natural(base, coefs, patterns, names, links)[:, of_row]
            grad: np.ndarray | None = None
            with np.errstate(all="ignore"):
                if limit is None:
                    ll, grad = self._rows_log_likelihood(nat, data)
                else:
                    ll = self._limit_log_likelihood(dict(zip(names, nat, strict=True)), data)
                total = float(data.weights @ ll)
            if not math.isfinite(total):
                return -math.inf, None
            if grad is None:
                return total, None
            weighted = grad * nat * data.weights
            d_base = weighted.sum(axis=1) / base
            d_coef = [
                sum(sign * weighted[index[nm]] @ design for nm, sign in v) for v in links.values()
            ]
            return total, np.concatenate([d_base, *d_coef])

        return loglik

    def _pattern_likelihood(
        self,
        names: Sequence[str],
        links: Mapping[str, Sequence[tuple[str, int]]],
        patterns: np.ndarray,
        data: FitData,
        p: int,
    ) -> LogLikelihood:
        """:meth:`_rows_likelihood` summed pattern by pattern: within a covariate pattern
        every row has the same parameters, so the model's grouped weighted likelihood
        (special functions once per distinct frequency, not once per row) gives that
        pattern's total and gradient; the chain rule then runs over patterns, not rows."""
        index = {nm: i for i, nm in enumerate(names)}
        k = len(names)
        parts = _pattern_parts(data, patterns.shape[0])

        def loglik(vector: np.ndarray) -> tuple[float, np.ndarray | None]:
            base, coefs = self._split(vector, tuple(links), p, k)
            nat = self._natural(base, coefs, patterns, names, links)
            total = 0.0
            grad: np.ndarray | None = np.zeros_like(nat)
            with np.errstate(all="ignore"):
                for g, part in parts:
                    ll, d_nat = self._weighted_log_likelihood(nat[:, g], part)
                    total += float(ll)
                    if grad is not None and d_nat is not None:
                        grad[:, g] = d_nat
                    else:
                        grad = None
            if not math.isfinite(total):
                return -math.inf, None
            if grad is None:
                return total, None
            weighted = grad * nat
            d_base = weighted.sum(axis=1) / base
            d_coef = [
                sum(sign * weighted[index[nm]] @ patterns for nm, sign in v) for v in links.values()
            ]
            return total, np.concatenate([d_base, *d_coef])

        return loglik
