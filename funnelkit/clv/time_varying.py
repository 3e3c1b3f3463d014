"""Pareto/NBD with covariates that change over calendar time (a campaign, a season)."""

from __future__ import annotations

import math
import sys
import warnings
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
from pydantic import Field
from scipy import optimize, stats

from funnelkit._estimator import Estimator
from funnelkit._frames import Backend, frame_from_columns
from funnelkit._results import Result, html_table
from funnelkit.clv._data import as_horizon
from funnelkit.clv._result import ParameterEstimate
from funnelkit.clv._time_varying_data import Design, Source, build_panel
from funnelkit.clv._time_varying_likelihood import Panel, future, log_likelihood, posterior
from funnelkit.clv.pareto_nbd import ParetoNBDFitter
from funnelkit.exceptions import ConvergenceWarning, FunnelkitError
from funnelkit.ingest.columns import DEFAULT_EVENT_COL
from funnelkit.intervals import normal_quantile
from funnelkit.units import TimeUnit, TimeUnitField, TimeUnitLike

__all__ = ["CoefficientEstimate", "TimeVaryingFitResult", "TimeVaryingParetoNBDFitter"]

SCHEMA = "funnelkit.clv.time_varying"
_BASE = ("r", "alpha", "s", "beta")
#: coefficients beyond this size (a multiplier of e^20) mean the data cannot bound them
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
        lines += [f"  {k}: {v:.6g}" if isinstance(v, float) else f"  {k}: {v}" for k, v in
                  self._header().items()]
        if not self.converged:
            lines.append(f"  message: {self.message}")
        for row in self.table():
            cells = [f"{v:.6g}" if isinstance(v, float) else str(v) for v in row.values()]
            lines.append("  " + "  ".join(c.replace("None", "not estimable") for c in cells))
        return "\n".join(lines)

    def as_html(self) -> str:
        header = html_table(self._header(), caption=f"{self.fitter} ({self.model})")
        return header + html_table(self.table())


class _Document(Result):
    schema_name: str = SCHEMA
    fitter: str
    settings: dict[str, Any]
    theta: list[float]
    purchase_covariates: list[str]
    dropout_covariates: list[str]
    columns: dict[str, str | None]
    result: TimeVaryingFitResult


class TimeVaryingParetoNBDFitter(Estimator):
    """Pareto/NBD whose purchase and dropout rates move with covariates over calendar time.

    While alive, customer ``i`` buys at ``lambda_i exp(gamma_p' z_i(t))`` and drops out at
    ``mu_i exp(gamma_d' w_i(t))``, with ``lambda ~ Gamma(r, alpha)`` and ``mu ~ Gamma(s,
    beta)`` as in the Pareto/NBD. ``z`` and ``w`` come from a per-customer, per-period table
    (customer id, period start, covariate columns), constant within a period; after a
    customer's last row the covariates keep its values. The gammas are integrated out in
    closed form; the dropout-time integral is a Gauss-Legendre rule per period
    (:mod:`funnelkit.clv._time_varying_likelihood`). Time is in whole periods of
    ``time_unit`` from each customer's first purchase, as in :meth:`funnelkit.RFM.from_events`;
    a period start falls in the period of that unit that holds it.

    Parameters
    ----------
    purchase_covariates, dropout_covariates
        Columns of the covariate table entering each process; ``None`` = every column
        besides the customer and period columns. ``()`` = none.
    conf_level
        Level of the Wald intervals.
    max_iter
        Iteration limit of the optimiser (L-BFGS-B on ``log r, log alpha, log s, log beta``
        and the raw coefficients).

    Examples
    --------
    >>> from funnelkit.clv import TimeVaryingParetoNBDFitter
    >>> from funnelkit.datasets import simulate_time_varying_pareto_nbd
    >>> sim = simulate_time_varying_pareto_nbd(600, seed=1)
    >>> model = TimeVaryingParetoNBDFitter(dropout_covariates=()).fit(
    ...     sim.events, covariates=sim.covariates, calibration_end=sim.calibration_end)
    >>> list(model.coefficients_["covariate"])
    ['campaign']
    >>> model.expected_purchases(28.0).shape
    (585,)

    References
    ----------
    .. [1] Bachmann, P., Meierer, M. & Näf, J. (2021). The Role of Time-Varying Contextual
       Factors in Latent Attrition Models for Customer Base Analysis. *Marketing Science*
       40(4), 783-809.
    .. [2] Fader, P. S. & Hardie, B. G. S. (2005). A Note on Deriving the Pareto/NBD Model
       and Related Expressions. http://brucehardie.com/notes/009/
    """

    _fitted_attributes = ("result_", "params_", "coefficients_", "customer_ids_")
    _fit_call = "fit(events, covariates=table)"

    def __init__(
        self,
        *,
        purchase_covariates: Sequence[str] | None = None,
        dropout_covariates: Sequence[str] | None = None,
        conf_level: float = 0.95,
        max_iter: int = 500,
    ) -> None:
        self.purchase_covariates = purchase_covariates
        self.dropout_covariates = dropout_covariates
        self.conf_level = conf_level
        self.max_iter = max_iter

    # ------------------------------------------------------------------ fit
    def fit(
        self,
        events: Any,
        *,
        covariates: Any,
        customer_col: str = "customer_id",
        time_col: str = "timestamp",
        event_col: str | None = DEFAULT_EVENT_COL,
        period_col: str = "period_start",
        time_unit: TimeUnitLike | None = None,
        observation_end: Any = None,
        calibration_end: Any = None,
        purchase_events: Sequence[str] | None = None,
    ) -> TimeVaryingParetoNBDFitter:
        """Fit to ``events`` (an EventLog or anything ``EventLog.from_frame`` reads) and the
        per-period ``covariates`` table (a frame of any supported library, or a mapping of
        arrays). The window arguments are those of :meth:`funnelkit.RFM.from_events`;
        ``period_col`` holds each period's start (dates, or numbers for numeric events)."""
        if not (0.0 < self.conf_level < 1.0):
            raise FunnelkitError(
                f"The 'conf_level' parameter of {type(self).__name__} must be in (0, 1). "
                f"Got {self.conf_level!r} instead."
            )
        if int(self.max_iter) < 1:
            raise FunnelkitError(
                f"The 'max_iter' parameter of {type(self).__name__} must be >= 1. "
                f"Got {self.max_iter!r} instead."
            )
        source = Source(
            customer_col, time_col, event_col, period_col, time_unit, observation_end,
            calibration_end, purchase_events,
        )
        panel, design = build_panel(
            events,
            covariates,
            source,
            purchase=self.purchase_covariates,
            dropout=self.dropout_covariates,
            drop_constant=True,
        )
        plain, start = _plain_start(panel, design.time_unit)
        theta, ll, converged, message, iterations = _maximise(panel, start, int(self.max_iter))
        cov = _covariance(panel, theta)
        self._design, self._theta, self._panel = design, theta, panel
        self._columns: dict[str, str | None] = {
            "customer_col": customer_col,
            "time_col": time_col,
            "event_col": event_col,
            "period_col": period_col,
        }
        self._training: tuple[Any, Source] | None = (events, source)
        k, n = theta.size, panel.n_customers
        lr = max(2.0 * (ll - plain), 0.0)
        df = k - 4
        self.result_ = TimeVaryingFitResult(
            params=_base_estimates(theta, cov, self.conf_level),
            coefficients=_coefficient_estimates(theta, cov, design, self.conf_level),
            log_likelihood=ll,
            plain_log_likelihood=plain,
            lr_statistic=lr,
            lr_df=df,
            lr_p_value=float(stats.chi2.sf(lr, df)) if df else 1.0,
            aic=2.0 * k - 2.0 * ll,
            bic=k * math.log(n) - 2.0 * ll,
            n_customers=n,
            n_segments=int(panel.seg_customer.size),
            converged=converged,
            message=message,
            iterations=iterations,
            time_unit=design.time_unit,
            conf_level=float(self.conf_level),
            dropped_covariates=list(design.dropped),
        )
        if not converged:
            warnings.warn(
                f"{type(self).__name__} did not converge: {message}", ConvergenceWarning, 2
            )
        self._finish(_backend_of(covariates))
        return self

    def _finish(self, backend: Backend) -> None:
        self.params_ = {k: v.estimate for k, v in self.result_.params.items()}
        self.coefficients_ = self.result_.coefficients_table(backend)
        if self._panel is not None:
            self.customer_ids_ = self._panel.customer_ids

    def summary(self, backend: Backend = "pandas") -> Any:
        """Every estimate (base parameters and coefficients) as a frame; see
        :meth:`TimeVaryingFitResult.summary`."""
        self._check_fitted()
        return self.result_.summary(backend)

    def _fitted_summary(self) -> str | None:
        r = self.result_
        return f"{r.n_customers:,} customers, {len(r.coefficients)} coefficient(s)"

    # ------------------------------------------------------------------ predictions
    def expected_purchases(
        self,
        horizon: Any,
        events: Any = None,
        *,
        covariates: Any = None,
        observation_end: Any = None,
        calibration_end: Any = None,
    ) -> np.ndarray:
        """Expected purchases in the ``horizon`` time units after each customer's end of
        calibration, given their history.

        Given alive at ``T``, ``lambda ~ Gamma(r + x, alpha + A(T))`` and the dropout rate
        ``mu ~ Gamma(s, beta + B(T))``, so ``E = P(alive) (r + x) / (alpha + A(T)) int_T^(T+h)
        a(u) ((beta + B(T)) / (beta + B(u)))^s du``, closed-form per period. The future
        covariates are the rows of ``covariates`` after ``T``; where the table ends, the last
        period's values hold.

        Parameters
        ----------
        horizon
            Time units after the end of calibration: one number or one per customer.
        events, covariates
            The customers' events and covariate table (with future periods where known);
            ``None`` for both = the training customers (``covariates`` alone = the training
            events with a new table, e.g. one extended with planned campaigns).
        observation_end, calibration_end
            The window of ``events``, as in :meth:`fit`.

        Returns
        -------
        ndarray
            One value per purchasing customer, in the order of
            ``RFM.from_events(events, ...).customer_ids`` (``customer_ids_`` for the training
            customers).
        """
        theta, panel, post = self._state(events, covariates, observation_end, calibration_end)
        h = _horizon(horizon, panel.n_customers, "horizon")
        purchases, _ = future(theta, panel, post, h)
        return np.asarray(post.p_alive * purchases)

    def probability_alive(
        self,
        events: Any = None,
        *,
        covariates: Any = None,
        at: Any = 0.0,
        observation_end: Any = None,
        calibration_end: Any = None,
    ) -> np.ndarray:
        """P(alive ``at`` time units after each customer's end of calibration | history).

        ``P(alive at T) ((beta + B(T)) / (beta + B(T + at)))^s``, with the dropout
        covariates after ``T`` taken as in :meth:`expected_purchases`.
        """
        theta, panel, post = self._state(events, covariates, observation_end, calibration_end)
        h = _horizon(at, panel.n_customers, "at")
        _, log_stay = future(theta, panel, post, h)
        with np.errstate(under="ignore"):
            return np.asarray(post.p_alive * np.exp(log_stay))

    def _state(
        self, events: Any, covariates: Any, observation_end: Any, calibration_end: Any
    ) -> tuple[np.ndarray, Panel, Any]:
        self._check_fitted()
        if events is None and covariates is None and observation_end is None and (
            calibration_end is None and self._panel is not None
        ):
            panel = self._panel
        else:
            panel = self._panel_for(events, covariates, observation_end, calibration_end)
        return self._theta, panel, posterior(self._theta, panel)

    def _panel_for(
        self, events: Any, covariates: Any, observation_end: Any, calibration_end: Any
    ) -> Panel:
        if covariates is None or (events is None and self._training is None):
            raise FunnelkitError(
                "Pass the customers' events and their covariates (events, covariates=table): "
                "a model loaded from JSON keeps no data, and new events need their own table."
            )
        source: Source
        if events is None and self._training is not None:
            events, source = self._training
        else:
            cols = self._columns
            source = Source(
                str(cols["customer_col"]), str(cols["time_col"]), cols["event_col"],
                str(cols["period_col"]), self.result_.time_unit, observation_end,
                calibration_end,
            )
        design = self._design
        panel, _ = build_panel(
            events, covariates, source,
            purchase=design.purchase, dropout=design.dropout, drop_constant=False,
        )
        return panel

    # ------------------------------------------------------------------ persistence
    def to_json(self, *, indent: int | None = None) -> str:
        """The fitted model as JSON (settings, estimates, covariate names; no data)."""
        self._check_fitted()
        settings = {
            k: list(v) if isinstance(v, tuple | list) else v for k, v in self.get_params().items()
        }
        doc = _Document(
            fitter=type(self).__name__,
            settings=settings,
            theta=[float(v) for v in self._theta],
            purchase_covariates=list(self._design.purchase),
            dropout_covariates=list(self._design.dropout),
            columns=self._columns,
            result=self.result_,
        )
        return doc.to_json(indent=indent)

    @classmethod
    def from_json(cls, text: str | bytes) -> TimeVaryingParetoNBDFitter:
        """Load a model written by :meth:`to_json`; it predicts exactly like the original
        (predictions then need ``events`` and ``covariates``)."""
        from pydantic import ValidationError

        try:
            doc = _Document.from_json(text)
        except ValidationError as exc:
            raise FunnelkitError(
                f"Not a valid {cls.__name__} document ({exc.error_count()} problem(s)): "
                f"{exc.errors()[0]['msg']}. Load only what to_json() wrote."
            ) from None
        if doc.schema_name != SCHEMA or doc.fitter != cls.__name__:
            raise FunnelkitError(f"Not a {cls.__name__} document (schema {doc.schema_name!r}).")
        model = cls(**doc.settings)
        model._theta = np.asarray(doc.theta, dtype=float)
        model._design = Design(
            tuple(doc.purchase_covariates),
            tuple(doc.dropout_covariates),
            tuple(doc.result.dropped_covariates),
            TimeUnit.parse(doc.result.time_unit),
        )
        model._columns = dict(doc.columns)
        model._panel = None
        model._training = None
        model.result_ = doc.result
        model._finish("pandas")
        return model


# ---------------------------------------------------------------------- fitting helpers
def _plain_start(panel: Panel, unit: TimeUnit) -> tuple[float, np.ndarray]:
    """The plain Pareto/NBD's maximum log-likelihood on the same customers, and a start:
    its estimates with every coefficient at 0."""
    k = 4 + panel.seg_z.shape[1] + panel.seg_w.shape[1]
    data = {"frequency": panel.x, "recency": panel.tx, "T": panel.T}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        plain = ParetoNBDFitter().fit(data)
    params = plain.params_
    start = np.zeros(k)
    if set(_BASE) <= set(params):
        start[:4] = np.log([params[n] for n in _BASE])
    else:  # the plain fit ended at a limit model: start at moderate heterogeneity
        scale = float(np.mean(panel.T)) / (float(np.mean(panel.x)) + 0.5) + 1e-6
        start[:4] = np.log([1.0, scale, 1.0, scale])
    start[:4] = np.clip(start[:4], -_LOG_BOUND + 1.0, _LOG_BOUND - 1.0)
    return float(plain.result_.log_likelihood), start


def _bounds(k: int) -> list[tuple[float, float]]:
    return [(-_LOG_BOUND, _LOG_BOUND)] * 4 + [(-_COEF_BOUND, _COEF_BOUND)] * (k - 4)


def _maximise(
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
                objective, theta, jac=True, method="L-BFGS-B", bounds=_bounds(start.size),
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
            "The likelihood is not finite anywhere the optimiser looked: check that the "
            "covariates are of moderate size (standardise large ones)."
        )
    largest = float(np.max(np.abs(grad)))
    converged = largest < 1e-4
    message = "" if converged else (
        f"the gradient is not negligible where the optimiser stopped (largest component "
        f"{largest:.2g}; {opt.message if opt is not None else ''}); raise max_iter or "
        "standardise the covariates"
    )
    edge = np.abs(theta) >= np.array([b for _, b in _bounds(theta.size)]) - 1e-3
    if edge.any():
        converged = False
        message = (
            "an estimate ran to the edge of the search space (a coefficient of +/-20 or a "
            "gamma parameter without heterogeneity): the data cannot bound it; drop or "
            "recode that covariate"
        )
    return theta, -value * n, converged, message, iterations


def _covariance(panel: Panel, theta: np.ndarray) -> np.ndarray | None:
    """Inverse observed information in ``theta`` (central differences of the analytic
    gradient), or ``None`` where it is not positive definite."""
    k, h = theta.size, 1e-5
    hess = np.empty((k, k))
    with np.errstate(all="ignore"):
        for i in range(k):
            step = np.zeros(k)
            step[i] = h
            up = log_likelihood(theta + step, panel)[1]
            down = log_likelihood(theta - step, panel)[1]
            hess[:, i] = (up - down) / (2.0 * h)
    info = -0.5 * (hess + hess.T)
    if not np.all(np.isfinite(info)) or np.linalg.eigvalsh(info).min() <= 0:
        return None
    cov = np.linalg.inv(info)
    return cov if np.all(np.isfinite(cov)) and np.all(np.diag(cov) > 0) else None


def _base_estimates(
    theta: np.ndarray, cov: np.ndarray | None, level: float
) -> dict[str, ParameterEstimate]:
    z = normal_quantile(level)
    out = {}
    for i, name in enumerate(_BASE):
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


def _coefficient_estimates(
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


def _horizon(value: Any, n: int, name: str) -> np.ndarray:
    arr = as_horizon(value, name, customers=n)
    if arr.ndim > 1:
        raise FunnelkitError(f"{name} must be one number or one per customer ({n}).")
    return np.broadcast_to(arr, (n,)).astype(float)


def _frame(rows: list[dict[str, Any]], keys: tuple[str, str], backend: Backend) -> Any:
    numbers = ("estimate", "std_error", "lower", "upper")
    columns: dict[str, np.ndarray] = {
        k: np.array([r[k] for r in rows], dtype=object) for k in keys
    }
    for k in numbers:
        columns[k] = np.array([np.nan if r[k] is None else r[k] for r in rows], dtype=float)
    return frame_from_columns(columns, backend)


def _backend_of(table: Any) -> Backend:
    """The frame library of the caller's table (pandas for a mapping of arrays)."""
    root = type(table).__module__.split(".")[0]
    if root == "polars":
        return "polars"
    if root == "pyarrow":
        return "pyarrow"
    if root == "pandas" or "pandas" in sys.modules:
        return "pandas"
    return "pyarrow" if "pyarrow" in sys.modules else "polars"
