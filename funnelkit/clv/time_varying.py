"""Pareto/NBD with covariates that change over calendar time (a campaign, a season)."""

from __future__ import annotations

import math
import sys
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import stats

from funnelkit._estimator import Estimator
from funnelkit._frames import Backend
from funnelkit._results import Result, to_builtin
from funnelkit.clv._data import as_horizon
from funnelkit.clv._time_varying_data import Design, Source, build_panel
from funnelkit.clv._time_varying_fit import (
    CoefficientEstimate,
    TimeVaryingFitResult,
    base_estimates,
    coefficient_estimates,
    covariance,
    maximise,
    plain_start,
    standardise,
)
from funnelkit.clv._time_varying_likelihood import Panel, future, posterior
from funnelkit.exceptions import ConvergenceWarning, FunnelkitError
from funnelkit.ingest.columns import DEFAULT_EVENT_COL
from funnelkit.units import TimeUnit, TimeUnitLike

__all__ = ["CoefficientEstimate", "TimeVaryingFitResult", "TimeVaryingParetoNBDFitter"]

SCHEMA = "funnelkit.clv.time_varying"


class _Document(Result):
    schema_name: str = SCHEMA
    fitter: str
    settings: dict[str, Any]
    theta: list[float]
    purchase_covariates: list[str]
    dropout_covariates: list[str]
    columns: dict[str, Any]
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
    >>> model = TimeVaryingParetoNBDFitter(
    ...     purchase_covariates=["campaign"], dropout_covariates=()
    ... ).fit(sim.events, covariates=sim.covariates, calibration_end=sim.calibration_end)
    >>> list(model.coefficients_["covariate"])
    ['campaign']
    >>> model.expected_purchases(28.0).shape
    (600,)

    References
    ----------
    .. [1] Bachmann, P., Meierer, M. & Näf, J. (2021). The Role of Time-Varying Contextual
       Factors in Latent Attrition Models for Customer Base Analysis. *Marketing Science*
       40(4), 783-809.
    .. [2] Fader, P. S. & Hardie, B. G. S. (2005). A Note on Deriving the Pareto/NBD Model
       and Related Expressions. http://brucehardie.com/notes/009/
    """

    _fitted_attributes = ("result_", "params_", "customer_ids_")
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
            customer_col,
            time_col,
            event_col,
            period_col,
            time_unit,
            observation_end,
            calibration_end,
            purchase_events,
        )
        panel, design = build_panel(
            events,
            covariates,
            source,
            purchase=self.purchase_covariates,
            dropout=self.dropout_covariates,
            drop_constant=True,
        )
        plain, start = plain_start(panel)
        scaled, back = standardise(panel)
        found, ll, converged, message, iterations = maximise(scaled, start, int(self.max_iter))
        theta = back @ found
        cov = covariance(scaled, found)
        cov = None if cov is None else back @ cov @ back.T
        if cov is None and converged:
            converged = False
            message = (
                "the observed information is not positive definite at the maximum: some "
                "coefficient is not identified (e.g. a covariate that hardly changes while "
                "customers are observed, or two that always move together); drop or recode it"
            )
        self._design, self._theta = design, theta
        self._panel: Panel | None = panel
        self._columns: dict[str, Any] = {
            "customer_col": customer_col,
            "time_col": time_col,
            "event_col": event_col,
            "period_col": period_col,
            "purchase_events": None if purchase_events is None else list(purchase_events),
        }
        self._training: tuple[Any, Source] | None = (events, source)
        k, n = theta.size, panel.n_customers
        lr = max(2.0 * (ll - plain), 0.0)
        df = k - 4
        self.result_ = TimeVaryingFitResult(
            params=base_estimates(theta, cov, self.conf_level),
            coefficients=coefficient_estimates(theta, cov, design, self.conf_level),
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
        self._backend = backend
        # a loaded model keeps no data: it predicts for the customers it is given
        self.customer_ids_ = None if self._panel is None else self._panel.customer_ids

    @property
    def coefficients_(self) -> Any:
        """The covariate effects as a frame in the covariate table's library (pandas for a
        mapping of arrays or a loaded model): ``process, covariate, estimate, std_error,
        lower, upper``; see :meth:`TimeVaryingFitResult.coefficients_table`."""
        self._check_fitted()
        return self.result_.coefficients_table(self._backend)

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
        with np.errstate(under="ignore"):  # near-certain death: 0 purchases, rightly
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
        given = (events, covariates, observation_end, calibration_end)
        if self._panel is not None and all(v is None for v in given):
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
            if observation_end is not None or calibration_end is not None:
                raise FunnelkitError(
                    "The training events keep the window they were fitted with; to predict "
                    "from another window, pass the events too."
                )
            events, source = self._training
        else:
            cols = self._columns
            source = Source(
                str(cols["customer_col"]),
                str(cols["time_col"]),
                cols["event_col"],
                str(cols["period_col"]),
                self.result_.time_unit,
                observation_end,
                calibration_end,
                cols.get("purchase_events"),
            )
        design = self._design
        panel, _ = build_panel(
            events,
            covariates,
            source,
            purchase=design.purchase,
            dropout=design.dropout,
            drop_constant=False,
        )
        return panel

    # ------------------------------------------------------------------ persistence
    def to_json(self, *, indent: int | None = None) -> str:
        """The fitted model as JSON (settings, estimates, covariate names; no data)."""
        self._check_fitted()
        settings = {
            k: list(v) if isinstance(v, tuple | list) else v for k, v in self.get_params().items()
        }
        settings = to_builtin(settings)
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


def _horizon(value: Any, n: int, name: str) -> np.ndarray:
    arr = as_horizon(value, name, customers=n)
    if arr.ndim > 1:
        raise FunnelkitError(f"{name} must be one number or one per customer ({n}).")
    return np.broadcast_to(arr, (n,)).astype(float)


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
