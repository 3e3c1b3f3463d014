"""Fit results of the CLV fitters: parameter estimates, diagnostics and the JSON document."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
from pydantic import BaseModel, ConfigDict, Field
from scipy import stats

from funnelkit._frames import Backend, frame_from_columns
from funnelkit._results import Result, html_table
from funnelkit.exceptions import FunnelkitError
from funnelkit.units import TimeUnitField

__all__ = [
    "REMEDIES",
    "FitResult",
    "FittedModel",
    "ParameterEstimate",
    "covariance_from_log_hessian",
    "estimates",
    "load_document",
]

SCHEMA = "funnelkit.clv.fitter"


class ParameterEstimate(BaseModel):
    """One fitted parameter: ``std_error``/``ci`` are ``None`` when not estimable."""

    model_config = ConfigDict(frozen=True, extra="forbid", ser_json_inf_nan="constants")
    estimate: float
    std_error: float | None = None
    ci: tuple[float, float] | None = None


class FitResult(Result):
    """The outcome of a maximum-likelihood fit: estimates, uncertainty and diagnostics.

    ``log_likelihood`` is the total (summed over customers, without the penalty);
    ``aic = 2k - 2 LL`` and ``bic = k log(n_customers) - 2 LL``. Confidence intervals are
    Wald intervals on the log scale, ``exp(log(est) ± z · se / est)``, so they stay positive.
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

    def table(self) -> list[dict[str, Any]]:
        """One record per parameter: estimate, standard error and interval bounds."""
        pct = f"{100 * self.conf_level:g}%"
        rows = []
        for name, est in self.params.items():
            lower, upper = est.ci if est.ci is not None else (None, None)
            rows.append(
                {
                    "parameter": name,
                    "estimate": est.estimate,
                    "std_error": est.std_error,
                    f"lower {pct}": lower,
                    f"upper {pct}": upper,
                }
            )
        return rows

    def summary(self, backend: Backend = "pandas") -> Any:
        """The parameter table as a pandas, polars or pyarrow frame (NaN = not estimable)."""
        rows = self.table()
        columns = {
            key: np.array([np.nan if r[key] is None else r[key] for r in rows])
            for key in rows[0]
            if key != "parameter"
        }
        return frame_from_columns(
            {"parameter": np.array([r["parameter"] for r in rows], dtype=object), **columns},
            backend,
        )

    def _header(self) -> dict[str, Any]:
        unit = self.time_unit.value if self.time_unit is not None else None
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
        }

    def as_text(self) -> str:
        lines = [f"{self.fitter} ({self.model})"]
        lines += [f"  {k}: {_fmt(v)}" for k, v in self._header().items()]
        if not self.converged:
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


def covariance_from_log_hessian(
    hess_log: np.ndarray, grad_log: np.ndarray, params: np.ndarray, n: float
) -> np.ndarray | None:
    """Covariance (natural scale) from the Hessian of the mean objective in log-parameters.

    ``None`` when the observed information is not finite or not positive definite.
    """
    hess = 0.5 * (hess_log + hess_log.T)
    # chain rule: d²f/dp_i dp_j = (d²f/dθ_i dθ_j - δ_ij df/dθ_i) / (p_i p_j), θ = log p
    info = (hess - np.diag(grad_log)) / np.outer(params, params) * n
    if not np.all(np.isfinite(info)):
        return None
    try:
        if np.linalg.eigvalsh(info).min() <= 0:
            return None
        cov = np.linalg.inv(info)
    except np.linalg.LinAlgError:
        return None
    if not np.all(np.isfinite(cov)) or np.any(np.diag(cov) <= 0):
        return None
    return np.asarray(cov)


def estimates(
    names: tuple[str, ...], params: np.ndarray, cov: np.ndarray | None, conf_level: float
) -> dict[str, ParameterEstimate]:
    z = float(stats.norm.ppf(0.5 + conf_level / 2.0))
    out = {}
    for i, name in enumerate(names):
        est = float(params[i])
        if cov is None:
            out[name] = ParameterEstimate(estimate=est)
            continue
        se = float(math.sqrt(cov[i, i]))
        half = z * se / est
        out[name] = ParameterEstimate(
            estimate=est, std_error=se, ci=(est * math.exp(-half), est * math.exp(half))
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
    doc = FittedModel.from_json(text)
    if doc.schema_name != SCHEMA or doc.schema_version != 1:
        raise FunnelkitError(
            f"Not a funnelkit fitter document (schema {doc.schema_name!r} "
            f"version {doc.schema_version})."
        )
    return doc
