"""Fit results of the CLV fitters: parameter estimates, diagnostics and the JSON document."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
from pydantic import ConfigDict, Field, model_validator

from funnelkit._frames import Backend, frame_from_columns
from funnelkit._results import Interval, Result, html_table
from funnelkit.clv._limits import LimitTest, ParameterSpace
from funnelkit.exceptions import FunnelkitError
from funnelkit.intervals import normal_quantile
from funnelkit.units import TimeUnitField

__all__ = [
    "REMEDIES",
    "RESOLVED_CURVATURE",
    "SUMMARY_COLUMNS",
    "FitResult",
    "FittedModel",
    "ParameterEstimate",
    "covariance_from_hessian",
    "estimates",
    "inverse_information",
    "load_document",
]

SCHEMA = "funnelkit.clv.fitter"
#: the columns of every fitter's ``summary()``
SUMMARY_COLUMNS = ("parameter", "estimate", "std_error", "lower", "upper")


class ParameterEstimate(Interval):
    """One fitted parameter: an :class:`~funnelkit._results.Interval` with its ``std_error``.

    ``std_error``, ``lower`` and ``upper`` are ``None`` when not estimable; ``level`` is the
    confidence level of the bounds. Documents written with the earlier ``ci: [lower, upper]``
    pair still load, and :attr:`ci` still reads the bounds.

    >>> est = ParameterEstimate(estimate=2.0, std_error=0.5, lower=1.2, upper=3.3, level=0.95)
    >>> lower, upper = est.ci
    >>> (lower, upper, est.std_error)
    (1.2, 3.3, 0.5)
    """

    model_config = ConfigDict(frozen=True, extra="forbid", ser_json_inf_nan="constants")
    estimate: float
    std_error: float | None = None
    lower: float | None = None
    upper: float | None = None

    @model_validator(mode="before")
    @classmethod
    def _from_stored_pair(cls, data: Any) -> Any:
        # the earlier document shape: {"estimate", "std_error", "ci": [lower, upper] | null}
        if isinstance(data, Mapping) and "ci" in data:
            data = dict(data)
            pair = data.pop("ci")
            data["lower"], data["upper"] = pair if pair is not None else (None, None)
        return data

    @property
    def ci(self) -> tuple[float, float] | None:
        """The bounds as the earlier ``(lower, upper)`` pair; ``None`` when not estimable."""
        if self.lower is None or self.upper is None:
            return None
        return (self.lower, self.upper)

    @property
    def standard_error(self) -> float | None:
        """Alias of :attr:`std_error`."""
        return self.std_error


class FitResult(Result):
    """The outcome of a maximum-likelihood fit: estimates, uncertainty and diagnostics.

    ``log_likelihood`` is the total (summed over customers, without the penalty);
    ``aic = 2k - 2 LL`` and ``bic = k log(n_customers) - 2 LL``. Confidence intervals are
    Wald intervals on the log scale (logit scale for probabilities), so they stay in range and
    contain the estimate. ``boundary`` names the limit model when the maximum lies at the edge
    of the parameter space (see :mod:`funnelkit.clv._limits`); ``limit_test`` is then the
    likelihood-ratio test of that limit against the full model.
    """

    title: ClassVar[str] = "Fit result"
    model: str
    fitter: str
    params: dict[str, ParameterEstimate]
    log_likelihood: float
    aic: float
    bic: float
    n_customers: int
    n_unique_rows: int
    converged: bool
    message: str
    iterations: int
    time_unit: TimeUnitField | None = None
    conf_level: float = 0.95
    penalizer: float = 0.0
    #: the limit model reached at the boundary of the parameter space, if any
    boundary: list[str] = Field(default_factory=list)
    limit_test: LimitTest | None = None
    #: covariance of the estimates on the natural scale (inverse observed information mapped
    #: with the Jacobian), rows and columns in ``params`` order; ``None`` when the information
    #: matrix is not finite or not positive definite, or for documents written without it
    covariance: list[list[float]] | None = None

    @staticmethod
    def natural_covariance(
        space: ParameterSpace, params: np.ndarray, cov_theta: np.ndarray | None
    ) -> list[list[float]] | None:
        """``J cov_theta J`` with ``J = d param / d theta`` (diagonal): the covariance on the
        natural scale as nested lists, for the ``covariance`` field."""
        if cov_theta is None:
            return None
        jac = np.asarray(space.jacobian(params), dtype=float)
        theta = np.asarray(cov_theta, dtype=float)
        # a matrix inverse is symmetric only up to rounding; the stored matrix is exactly so
        # (the outer product first: (J_i J_j) S_ij is the same number for (i, j) and (j, i))
        cov = np.outer(jac, jac) * (0.5 * (theta + theta.T))
        if not np.all(np.isfinite(cov)):
            return None
        return [[float(v) for v in row] for row in cov]

    @model_validator(mode="before")
    @classmethod
    def _level_of_stored_estimates(cls, data: Any) -> Any:
        # estimates stored before they carried their level have the fit's conf_level
        if isinstance(data, Mapping) and isinstance(data.get("params"), Mapping):
            level = data.get("conf_level", 0.95)
            params = {
                k: {**v, "level": level} if isinstance(v, Mapping) and "level" not in v else v
                for k, v in data["params"].items()
            }
            data = {**data, "params": params}
        return data

    def table(self) -> list[dict[str, Any]]:
        """One record per parameter: ``parameter, estimate, std_error, lower, upper``.

        The bounds are those of a ``conf_level`` interval; ``None`` = not estimable.
        """
        return [
            {
                "parameter": name,
                "estimate": est.estimate,
                "std_error": est.std_error,
                "lower": est.lower,
                "upper": est.upper,
            }
            for name, est in self.params.items()
        ]

    def summary(self, backend: Backend = "pandas") -> Any:
        """The parameter table as a pandas, polars or pyarrow frame.

        Columns ``parameter, estimate, std_error, lower, upper``; NaN = not estimable. The
        bounds are those of a ``conf_level`` interval, which a pandas frame also carries in
        ``frame.attrs["conf_level"]``.
        """
        rows = self.table()
        columns = {
            key: np.array([np.nan if r[key] is None else r[key] for r in rows], dtype=float)
            for key in SUMMARY_COLUMNS[1:]
        }
        frame = frame_from_columns(
            {"parameter": np.array([r["parameter"] for r in rows], dtype=object), **columns},
            backend,
        )
        if backend == "pandas":
            frame.attrs["conf_level"] = self.conf_level
        return frame

    def _header(self) -> dict[str, Any]:
        # A spend model (Gamma-Gamma) has no time axis: say so rather than "not estimable".
        unit = self.time_unit.value if self.time_unit is not None else "none (spend model)"
        return {
            "model": self.model,
            "customers": self.n_customers,
            "unique rows": self.n_unique_rows,
            "log-likelihood": self.log_likelihood,
            "AIC": self.aic,
            "BIC": self.bic,
            "converged": self.converged,
            "iterations": self.iterations,
            "time unit": unit,
            "penalizer": self.penalizer,
            "confidence level": self.conf_level,
            "boundary": ", ".join(self.boundary) if self.boundary else "none",
            **self._limit_header(),
        }

    def _limit_header(self) -> dict[str, Any]:
        if self.limit_test is None:
            return {}
        test = self.limit_test
        return {
            "LR test of the limit": f"statistic {test.statistic:.3g} on {test.df} df, "
            f"p = {test.p_value:.3g}"
        }

    def as_text(self) -> str:
        lines = [f"{self.fitter} ({self.model})"]
        lines += [f"  {k}: {_fmt(v)}" for k, v in self._header().items()]
        if not self.converged or self.boundary:
            lines.append(f"  message: {self.message}")
        rows = self.table()
        keys = list(rows[0])
        cells = [keys] + [[_fmt(r[k]) for k in keys] for r in rows]
        widths = [max(len(str(row[i])) for row in cells) for i in range(len(keys))]
        for row in cells:
            lines.append(
                "  " + "  ".join(str(c).rjust(w) for c, w in zip(row, widths, strict=True))
            )
        return "\n".join(lines)

    def as_html(self) -> str:
        header = html_table(self._header(), caption=f"{self.fitter} ({self.model})")
        rows: list[Mapping[str, Any]] = list(self.table())
        return header + html_table(rows)


def _fmt(value: Any) -> str:
    if value is None:
        return "not estimable"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


class FittedModel(Result):
    """The JSON document of a fitted model (no training data, no pickle)."""

    schema_name: str = SCHEMA
    fitter: str
    settings: dict[str, Any]
    params: dict[str, float]
    result: FitResult
    state: dict[str, Any] = Field(default_factory=dict)


#: the smallest curvature, relative to the largest, that a Hessian found by central
#: differences of an analytic gradient (step 1e-5) resolves: its rounding is about
#: ``1e-16 / 1e-5`` of the gradient, its truncation ``1e-10`` of the third derivatives
RESOLVED_CURVATURE = 1e-8


def covariance_from_hessian(
    hess_theta: np.ndarray, jacobian: np.ndarray, n: float
) -> np.ndarray | None:
    """Covariance in the unconstrained coordinates ``theta`` from the Hessian of the mean
    objective there (:func:`inverse_information` of ``n`` times it). ``jacobian`` (``d param
    / d theta``) is only checked to be finite here; the natural-scale covariance is ``J cov
    J`` (see :func:`estimates`)."""
    if not np.all(np.isfinite(jacobian)):
        return None
    return inverse_information(0.5 * (hess_theta + hess_theta.T) * n)


def inverse_information(info: np.ndarray) -> np.ndarray | None:
    """The inverse of an observed information found by differences of analytic gradients, or
    ``None`` when it is not finite or not positive definite.

    An eigenvalue below :data:`RESOLVED_CURVATURE` times the largest counts as zero: there
    the differences' sign and size are rounding. Data that do not determine every parameter
    (three customers and four parameters) give such a direction, and an inverse there would
    show standard errors made of noise, which differ with the CPU's floating-point kernels.
    """
    if not np.all(np.isfinite(info)):
        return None
    try:
        eigenvalues = np.linalg.eigvalsh(info)
        if eigenvalues[0] <= RESOLVED_CURVATURE * eigenvalues[-1]:
            return None
        cov = np.linalg.inv(info)
    except np.linalg.LinAlgError:
        return None
    if not np.all(np.isfinite(cov)) or np.any(np.diag(cov) <= 0):
        return None
    return np.asarray(cov)


def estimates(
    space: ParameterSpace, params: np.ndarray, cov_theta: np.ndarray | None, conf_level: float
) -> dict[str, ParameterEstimate]:
    """Estimates with delta-method standard errors and intervals built in ``theta``.

    The interval is ``g(theta ± z se_theta)`` with ``g = exp`` for positive parameters and the
    logistic function for probabilities: it never leaves the parameter's range, saturates at
    ``0``/``1`` instead of overflowing, and always contains the estimate. When the data do not
    bound a positive parameter at all (a log-scale standard error in the hundreds, e.g. a
    handful of customers), its upper bound would be infinite: the interval is then ``None``,
    not estimable, like a standard error that is not finite.
    """
    if cov_theta is None:  # a refit: estimates only, without the quantile and the Jacobian
        return {
            name: ParameterEstimate(estimate=float(params[i]), level=float(conf_level))
            for i, name in enumerate(space.names)
        }
    z = normal_quantile(conf_level)
    jac = space.jacobian(params)
    theta = space.to_theta(params)
    out = {}
    for i, name in enumerate(space.names):
        est = float(params[i])
        se_theta = math.sqrt(float(cov_theta[i, i]))
        with np.errstate(over="ignore"):
            lower = space.to_params(theta - z * se_theta)[i]
            upper = space.to_params(theta + z * se_theta)[i]
        std_error = float(se_theta * abs(jac[i]))
        bounded = math.isfinite(lower) and math.isfinite(upper)
        out[name] = ParameterEstimate(
            estimate=est,
            std_error=std_error if math.isfinite(std_error) else None,
            lower=float(min(lower, est)) if bounded else None,
            upper=float(max(upper, est)) if bounded else None,
            level=float(conf_level),
        )
    return out


REMEDIES = (
    "Things to try: "
    "1. add a small penalizer, e.g. penalizer=0.001, to keep parameters finite; "
    "2. pass initial_params={...} closer to the expected values; "
    "3. check the data: frequency, recency and T in one time unit, recency <= T, enough repeat "
    "buyers (a model of repeat purchasing needs some); "
    "4. refit in a coarser time unit (weeks instead of hours) so parameters are of moderate size; "
    "5. raise max_iter if the optimiser ran out of iterations."
)


def load_document(text: str | bytes) -> FittedModel:
    """Parse a fitted-model JSON document and check its schema."""
    from pydantic import ValidationError

    try:
        doc = FittedModel.from_json(text)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "the document"
        raise FunnelkitError(
            f"Not a valid funnelkit fitter document: {where}: {first['msg']} "
            f"({exc.error_count()} problem(s)). Load only what to_json() wrote."
        ) from None
    if doc.schema_name != SCHEMA or doc.schema_version != 1:
        raise FunnelkitError(
            f"Not a funnelkit fitter document (schema {doc.schema_name!r} "
            f"version {doc.schema_version})."
        )
    return doc
