"""Fitting the time-varying Pareto/NBD: the start, the optimiser, the observed information and
the estimates with their Wald intervals, and the result they make."""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from dataclasses import replace
from typing import Any, ClassVar

import numpy as np
from pydantic import Field
from scipy import optimize

from funnelkit._frames import Backend, frame_from_columns
from funnelkit._results import Result, html_table
from funnelkit.clv._result import ParameterEstimate, inverse_information
from funnelkit.clv._time_varying_data import Design
from funnelkit.clv._time_varying_likelihood import Panel, log_likelihood
from funnelkit.clv.pareto_nbd import ParetoNBDFitter
from funnelkit.exceptions import FunnelkitError
from funnelkit.intervals import normal_quantile
from funnelkit.units import TimeUnitField

__all__ = [
    "CoefficientEstimate",
    "TimeVaryingFitResult",
    "base_estimates",
    "coefficient_estimates",
    "covariance",
    "maximise",
    "plain_start",
    "standardise",
]

BASE = ("r", "alpha", "s", "beta")
#: standardised coefficients beyond this size (a factor of e^20 per standard deviation of
#: the covariate) mean the data cannot bound them
_COEF_BOUND = 20.0
_LOG_BOUND = 30.0


class CoefficientEstimate(ParameterEstimate):
    """One covariate effect: ``process`` ("purchase" or "dropout"), ``covariate`` and the
    log-multiplier of that process's rate per unit of the covariate, with its Wald interval."""

    process: str
    covariate: str


class TimeVaryingFitResult(Result):
    """Estimates, covariate effects and diagnostics of a :class:`TimeVaryingParetoNBDFitter`.

    ``lr_statistic`` is the likelihood-ratio statistic of the covariate model against the
    plain Pareto/NBD on the same customers (``lr_df`` coefficients, ``lr_p_value`` from the
    chi-square distribution).
    """

    title: ClassVar[str] = "Fit result"
    model: str = "Pareto/NBD with time-varying covariates"
    fitter: str = "TimeVaryingParetoNBDFitter"
    params: dict[str, ParameterEstimate]
    coefficients: list[CoefficientEstimate]
    log_likelihood: float
    plain_log_likelihood: float
    lr_statistic: float
    lr_df: int
    lr_p_value: float
    aic: float
    bic: float
    n_customers: int
    n_segments: int
    converged: bool
    message: str
    iterations: int
    time_unit: TimeUnitField
    conf_level: float = 0.95
    dropped_covariates: list[str] = Field(default_factory=list)

    def table(self) -> list[dict[str, Any]]:
        """One record per parameter and coefficient: ``process, parameter, estimate,
        std_error, lower, upper`` (``None`` = not estimable)."""
        process = {"r": "purchase", "alpha": "purchase", "s": "dropout", "beta": "dropout"}
        rows = [(process[k], k, v) for k, v in self.params.items()]
        rows += [(c.process, c.covariate, c) for c in self.coefficients]
        return [
            {
                "process": proc,
                "parameter": name,
                "estimate": est.estimate,
                "std_error": est.std_error,
                "lower": est.lower,
                "upper": est.upper,
            }
            for proc, name, est in rows
        ]

    def summary(self, backend: Backend = "pandas") -> Any:
        """All estimates as a pandas, polars or pyarrow frame; NaN = not estimable."""
        return _frame(self.table(), ("process", "parameter"), backend)

    def coefficients_table(self, backend: Backend = "pandas") -> Any:
        """The covariate effects: ``process, covariate, estimate, std_error, lower, upper``."""
        rows = [c.model_dump(exclude={"level"}) for c in self.coefficients]
        return _frame(rows, ("process", "covariate"), backend)

    def _header(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "customers": self.n_customers,
            "covariate segments": self.n_segments,
            "log-likelihood": self.log_likelihood,
            "LR test against the plain model": f"statistic {self.lr_statistic:.4g} on "
            f"{self.lr_df} df, p = {self.lr_p_value:.3g}",
            "AIC": self.aic,
            "BIC": self.bic,
            "converged": self.converged,
            "iterations": self.iterations,
            "time unit": self.time_unit.value,
            "confidence level": self.conf_level,
            "constant covariates left out": ", ".join(self.dropped_covariates) or "none",
        }

    def as_text(self) -> str:
        lines = [f"{self.fitter} ({self.model})"]
        lines += [
            f"  {k}: {v:.6g}" if isinstance(v, float) else f"  {k}: {v}"
            for k, v in self._header().items()
        ]
        if not self.converged:
            lines.append(f"  message: {self.message}")
        for row in self.table():
            cells = [
                "not estimable" if v is None else f"{v:.6g}" if isinstance(v, float) else str(v)
                for v in row.values()
            ]
            lines.append("  " + "  ".join(cells))
        return "\n".join(lines)

    def as_html(self) -> str:
        header = html_table(self._header(), caption=f"{self.fitter} ({self.model})")
        rows: list[Mapping[str, Any]] = list(self.table())
        return header + html_table(rows)


def plain_start(panel: Panel) -> tuple[float, np.ndarray]:
    """The plain Pareto/NBD's maximum log-likelihood on the same customers, and a start:
    its estimates with every coefficient at 0."""
    k = 4 + panel.seg_z.shape[1] + panel.seg_w.shape[1]
    data = {"frequency": panel.x, "recency": panel.tx, "T": panel.T}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        plain = ParetoNBDFitter().fit(data)
    params = plain.params_
    start = np.zeros(k)
    if set(BASE) <= set(params):
        start[:4] = np.log([params[n] for n in BASE])
    else:  # the plain fit ended at a limit model: start at moderate heterogeneity
        scale = float(np.mean(panel.T)) / (float(np.mean(panel.x)) + 0.5) + 1e-6
        start[:4] = np.log([1.0, scale, 1.0, scale])
    start[:4] = np.clip(start[:4], -_LOG_BOUND + 1.0, _LOG_BOUND - 1.0)
    return float(plain.result_.log_likelihood), start


def _bounds(k: int) -> list[tuple[float, float]]:
    return [(-_LOG_BOUND, _LOG_BOUND)] * 4 + [(-_COEF_BOUND, _COEF_BOUND)] * (k - 4)


def maximise(
    panel: Panel, start: np.ndarray, max_iter: int
) -> tuple[np.ndarray, float, bool, str, int]:
    n = float(panel.n_customers)

    def objective(theta: np.ndarray) -> tuple[float, np.ndarray]:
        value, grad = log_likelihood(theta, panel)
        if not (math.isfinite(value) and np.all(np.isfinite(grad))):
            return math.inf, np.zeros_like(theta)
        return -value / n, -grad / n

    theta, iterations, opt = start, 0, None
    with np.errstate(all="ignore"):
        for _ in range(3):  # a line-search stop on a flat ridge usually needs a fresh start
            opt = optimize.minimize(
                objective,
                theta,
                jac=True,
                method="L-BFGS-B",
                bounds=_bounds(start.size),
                options={"maxiter": max_iter, "ftol": 1e-15, "gtol": 1e-9},
            )
            iterations += int(opt.nit)
            moved = float(np.max(np.abs(opt.x - theta)))
            theta = np.asarray(opt.x, dtype=float)
            if opt.success or moved < 1e-8:
                break
        value, grad = objective(theta)
    if not math.isfinite(value):
        raise FunnelkitError(
            "The likelihood is not finite anywhere the optimiser looked: check the "
            "covariates for extreme values (a few outlying periods can dominate the rates)."
        )
    largest = float(np.max(np.abs(grad)))
    converged = largest < 1e-4
    message = (
        ""
        if converged
        else (
            f"the gradient is not negligible where the optimiser stopped (largest component "
            f"{largest:.2g}; {opt.message if opt is not None else ''}); raise max_iter, or "
            "check that the data identify every coefficient"
        )
    )
    edge = np.abs(theta) >= np.array([b for _, b in _bounds(theta.size)]) - 1e-3
    if edge.any():
        converged = False
        message = (
            "an estimate ran to the edge of the search space (a factor of e^20 per standard "
            "deviation of a covariate, or a gamma without heterogeneity): the data cannot "
            "bound it; drop or recode that covariate"
        )
    return theta, -value * n, converged, message, iterations


def standardise(panel: Panel) -> tuple[Panel, np.ndarray]:
    """The panel with every covariate centred and scaled over the segments of the
    calibration windows, and the matrix ``M`` with ``theta = M theta_standardised``.

    A covariate in the hundreds (a temperature, a spend) would otherwise leave the optimiser
    a likelihood that changes a million times faster along its coefficient than along the
    others. Centring moves ``exp(-gamma m)`` into the gamma's scale: ``lambda exp(gamma (z -
    m))`` with ``lambda ~ Gamma(r, alpha')`` is ``lambda' exp(gamma z)`` with ``lambda' ~
    Gamma(r, alpha' exp(gamma m))``, so ``log alpha = log alpha' + gamma m``; likewise for
    ``beta``. The reparametrisation is exact: the likelihood is the same at ``M theta'``.
    """
    p, d = panel.seg_z.shape[1], panel.seg_w.shape[1]
    seen = panel.seg_lo < panel.T[panel.seg_customer]
    rows = np.concatenate([panel.seg_z, panel.seg_w], axis=1)[seen]
    mean = rows.mean(axis=0) if rows.shape[0] else np.zeros(p + d)
    scale = rows.std(axis=0) if rows.shape[0] else np.ones(p + d)
    scale = np.where(scale > 0, scale, 1.0)
    mz, sz, mw, sw = mean[:p], scale[:p], mean[p:], scale[p:]
    shifted = replace(
        panel,
        seg_z=(panel.seg_z - mz) / sz,
        seg_w=(panel.seg_w - mw) / sw,
        purchase_sums=(panel.purchase_sums - panel.x[:, None] * mz) / sz,
    )
    k = 4 + p + d
    back = np.eye(k)
    back[4:, 4:] = np.diag(1.0 / scale)
    back[1, 4 : 4 + p] = mz / sz
    back[3, 4 + p :] = mw / sw
    return shifted, back


def covariance(panel: Panel, theta: np.ndarray) -> np.ndarray | None:
    """Inverse observed information in ``theta`` (central differences of the analytic
    gradient), or ``None`` where it is not positive definite (see :func:`inverse_information`)."""
    k, h = theta.size, 1e-5
    hess = np.empty((k, k))
    with np.errstate(all="ignore"):
        for i in range(k):
            step = np.zeros(k)
            step[i] = h
            up = log_likelihood(theta + step, panel)[1]
            down = log_likelihood(theta - step, panel)[1]
            hess[:, i] = (up - down) / (2.0 * h)
    return inverse_information(-0.5 * (hess + hess.T))


def base_estimates(
    theta: np.ndarray, cov: np.ndarray | None, level: float
) -> dict[str, ParameterEstimate]:
    z = normal_quantile(level)
    out = {}
    for i, name in enumerate(BASE):
        est = float(np.exp(theta[i]))
        if cov is None:
            out[name] = ParameterEstimate(estimate=est, level=level)
            continue
        se = math.sqrt(cov[i, i])
        out[name] = ParameterEstimate(
            estimate=est,
            std_error=est * se,
            lower=float(np.exp(theta[i] - z * se)),
            upper=float(np.exp(theta[i] + z * se)),
            level=level,
        )
    return out


def coefficient_estimates(
    theta: np.ndarray, cov: np.ndarray | None, design: Design, level: float
) -> list[CoefficientEstimate]:
    z = normal_quantile(level)
    names = [("purchase", c) for c in design.purchase] + [("dropout", c) for c in design.dropout]
    out = []
    for j, (process, covariate) in enumerate(names):
        i, est = 4 + j, float(theta[4 + j])
        se = math.sqrt(cov[i, i]) if cov is not None else None
        out.append(
            CoefficientEstimate(
                process=process,
                covariate=covariate,
                estimate=est,
                std_error=se,
                lower=None if se is None else est - z * se,
                upper=None if se is None else est + z * se,
                level=level,
            )
        )
    return out


def _frame(rows: list[dict[str, Any]], keys: tuple[str, str], backend: Backend) -> Any:
    numbers = ("estimate", "std_error", "lower", "upper")
    columns: dict[str, np.ndarray] = {k: np.array([r[k] for r in rows], dtype=object) for k in keys}
    for k in numbers:
        columns[k] = np.array([np.nan if r[k] is None else r[k] for r in rows], dtype=float)
    return frame_from_columns(columns, backend)
