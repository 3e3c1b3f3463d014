"""Shared machinery of the CLV fitters: maximum likelihood on compressed rows.

A fitter declares its parameter names and a vectorised per-row log-likelihood; :class:`MLEFitter`
does the rest: input coercion (an :class:`~funnelkit.RFM`, a dataframe or a mapping of arrays),
compression into unique rows with weights, optimisation on log-parameters, an optional L2
penalty, convergence checks, standard errors from the observed information, confidence
intervals, AIC/BIC, JSON persistence and text/HTML representations.

Writing a fitter
----------------
All parameters are positive (they are optimised as ``log(param)``). ``data`` is a
:class:`FitData`: ``data["frequency"]`` etc. are the *unique* rows, ``data.weights`` how many
customers share each row. The base multiplies the per-row values by the weights itself::

    import numpy as np
    from scipy.special import gammaln

    from funnelkit.clv._base import FitData, MLEFitter


    class NBDFitter(MLEFitter):
        _param_names = ("r", "alpha")
        _model_name = "NBD"

        def _log_likelihood(self, params: np.ndarray, data: FitData) -> np.ndarray:
            r, alpha = params
            x, T = data["frequency"], data["T"]
            return (
                gammaln(r + x) - gammaln(r) - gammaln(x + 1)
                + r * np.log(alpha / (alpha + T)) + x * np.log(T / (alpha + T))
            )

        # Optional: analytic per-row gradient, shape (n_params, n_rows), natural scale.
        # Without it the base uses central differences of _log_likelihood.
        def _log_likelihood_gradient(self, params: np.ndarray, data: FitData) -> np.ndarray:
            ...

        # Optional: starting values on the natural scale (default: all ones).
        def _initial_params(self, data: FitData) -> np.ndarray:
            return np.array([1.0, float(np.average(data["T"], weights=data.weights))])

For speed, a fitter may instead override ``_log_likelihood_and_gradient`` (both per row, sharing
work) or ``_weighted_log_likelihood`` (the weighted total and its gradient directly), using
``data.groups("frequency")`` etc. to evaluate special functions once per distinct value; see
BG/NBD and Pareto/NBD. ``_log_likelihood`` is still needed for the final log-likelihood.

Fitters whose data are not RFM summaries (the shifted-beta-geometric model takes durations
and churn flags, Gamma-Gamma needs spend) override :meth:`MLEFitter._fit_data` (build a
:class:`FitData`) and :meth:`MLEFitter._prediction_data`, or write their own ``fit`` that
builds a :class:`FitData` and calls :meth:`MLEFitter._fit_prepared`. Extra settings go in the
subclass ``__init__`` as keyword arguments stored under the same name (scikit-learn style);
extend :meth:`MLEFitter._validate_settings` to check them.

Fitters that take static covariates (``fit(data, covariates=X)``) subclass
:class:`~funnelkit.clv._covariate_model.CovariateModel` instead, declare which parameter each
process scales (``_covariate_links``) and give a per-row likelihood that takes per-row
parameters (``_rows_log_likelihood``).
"""

from __future__ import annotations

import math
import time
import warnings
from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any, ClassVar, NoReturn, TypeVar

import numpy as np

from funnelkit._estimator import Estimator
from funnelkit._frames import Backend
from funnelkit.clv._data import (
    FitData,
    as_horizon,
    as_rfm,
    check_setting,
    customer_weights,
    rfm_fit_data,
)
from funnelkit.clv._limits import (
    Limit,
    LimitTest,
    ParameterSpace,
    chi_bar_square_sf,
    simpler_limits,
)
from funnelkit.clv._optimise import (
    LOG_BOUND,
    RESAMPLE_TOLERANCES,
    Candidate,
    LogLikelihood,
    choose,
    hessian,
    inverse_hessian,
    maximise,
    settle,
)
from funnelkit.clv._result import (
    REMEDIES,
    FitResult,
    FittedModel,
    ParameterEstimate,
    covariance_from_hessian,
    estimates,
    load_document,
)
from funnelkit.exceptions import (
    ConvergenceError,
    ConvergenceWarning,
    DataError,
    FunnelkitError,
)
from funnelkit.units import TimeUnitLike

__all__ = ["FitData", "FitResult", "MLEFitter", "ParameterEstimate", "as_horizon", "as_rfm"]

# kept importable under its earlier private name
_customer_weights = customer_weights

F = TypeVar("F", bound="MLEFitter")


#: how to mend a damaged or foreign model document
_REWRITE = "Re-create the document with to_json() from a fitted model."


class MLEFitter(Estimator, ABC):
    """Base class of the CLV fitters (see the module docstring for the subclass contract).

    Parameters
    ----------
    penalizer
        L2 penalty ``penalizer * sum(params**2)`` added to the *mean* negative log-likelihood
        (as in lifetimes). Parameters are on their natural scale, so the penalty on a
        time-scale parameter (``alpha``, ``beta``) depends on the time unit. ``0`` = plain MLE.
    conf_level
        Level of the confidence intervals in :attr:`result_`.
    initial_params
        Optional starting values ``{name: value}`` (all parameters, positive).
    max_iter
        Iteration limit of the optimiser (L-BFGS-B on the log-parameters).
    """

    _param_names: ClassVar[tuple[str, ...]] = ()
    _model_name: ClassVar[str] = ""
    _registry: ClassVar[dict[str, type[MLEFitter]]] = {}
    #: boundary models the fitter can reach (see :mod:`funnelkit.clv._limits`)
    _limits: ClassVar[tuple[Limit, ...]] = ()
    #: the entries :meth:`_extra_state` may write into a JSON document's ``state``
    _state_keys: ClassVar[frozenset[str]] = frozenset()
    _fitted_marker: ClassVar[str] = "params_"
    _fitted_attributes: ClassVar[tuple[str, ...]] = (
        "params_",
        "result_",
        "log_likelihood_",
        "time_unit_",
        "training_data_",
        "fit_seconds_",
    )

    def __init__(
        self,
        *,
        penalizer: float = 0.0,
        conf_level: float = 0.95,
        initial_params: Mapping[str, float] | None = None,
        max_iter: int = 1000,
    ) -> None:
        self.penalizer = penalizer
        self.conf_level = conf_level
        self.initial_params = initial_params
        self.max_iter = max_iter

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        MLEFitter._registry[cls.__name__] = cls

    # ------------------------------------------------------------------ subclass hooks
    @abstractmethod
    def _log_likelihood(self, params: np.ndarray, data: FitData) -> np.ndarray:
        """Per-row log-likelihood (natural-scale ``params``), shape ``(n_rows,)``.

        The one hook every model must define; a subclass without it cannot be instantiated.
        """

    def _log_likelihood_gradient(self, params: np.ndarray, data: FitData) -> np.ndarray | None:
        """Per-row gradient, shape ``(n_params, n_rows)``; ``None`` = use finite differences."""
        return None

    def _log_likelihood_and_gradient(
        self, params: np.ndarray, data: FitData
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """Both at once; override when they share most of the work."""
        return self._log_likelihood(params, data), self._log_likelihood_gradient(params, data)

    def _weighted_log_likelihood(
        self, params: np.ndarray, data: FitData
    ) -> tuple[float, np.ndarray | None]:
        """Weighted total and its gradient; override to sum per-group terms without rows."""
        ll_rows, grad_rows = self._log_likelihood_and_gradient(params, data)
        total = float(np.einsum("i,i->", data.weights, ll_rows))
        return total, None if grad_rows is None else np.einsum("ki,i->k", grad_rows, data.weights)

    def _initial_params(self, data: FitData) -> np.ndarray:
        return np.ones(len(self._param_names))

    def _fit_data(self, data: Any, **kwargs: Any) -> FitData:
        """Turn the ``fit`` input into unique rows + weights (default: RFM summaries)."""
        fit_data = rfm_fit_data(
            data, weights=kwargs.get("weights"), time_unit=kwargs.get("time_unit")
        )
        # every customer given, also those weighted 0: predictions for the training data
        # (data=None) cover them too
        self._check_rfm(fit_data.training if fit_data.training is not None else fit_data.columns)
        if fit_data.n_rows and not np.any(fit_data["frequency"] > 0):
            raise DataError(
                f"None of the {fit_data.n_customers} customers made a repeat purchase, so "
                f"{type(self).__name__} cannot tell purchase rates from dropout: fit on a "
                "longer observation window or a larger customer base."
            )
        return fit_data

    def _check_rfm(self, columns: Mapping[str, np.ndarray]) -> None:
        """Model-specific data checks (e.g. BG/BB needs whole-number periods)."""

    def _prediction_data(self, data: Any) -> Mapping[str, np.ndarray]:
        """Per-customer arrays of ``data`` for predictions (default: RFM columns)."""
        rfm = as_rfm(data, None, getattr(self, "time_unit_", None))
        columns = {"frequency": rfm.frequency, "recency": rfm.recency, "T": rfm.T}
        self._check_rfm(columns)
        return columns

    def _extra_state(self) -> dict[str, Any]:
        """Extra fitted state to persist in JSON (JSON-able builtins)."""
        return {}

    def _restore_extra_state(self, state: Mapping[str, Any]) -> None:
        """Inverse of :meth:`_extra_state`."""

    # ------------------------------------------------------------------ public API
    def fit(
        self: F,
        data: Any,
        *,
        weights: Any = None,
        time_unit: TimeUnitLike | None = None,
    ) -> F:
        """Fit the model by maximum likelihood.

        Parameters
        ----------
        data
            An :class:`~funnelkit.RFM`, a dataframe with ``frequency``, ``recency`` and ``T``
            columns (pandas, polars, pyarrow...), or a mapping of arrays with those keys.
        weights
            Optional number of customers sharing each row (array or column name), for
            summaries that are already aggregated; whole numbers >= 0.
        time_unit
            Unit of ``recency``/``T`` when ``data`` is a frame or mapping (default ``"D"``);
            an RFM carries its own.

        Returns
        -------
        self
        """
        fit_data = self._fit_data(data, weights=weights, time_unit=time_unit)
        return self._fit_prepared(fit_data)

    def refit(
        self: F,
        data: Any,
        *,
        weights: Any = None,
        time_unit: TimeUnitLike | None = None,
        start: MLEFitter | None = None,
    ) -> F:
        """Fit again on reweighted data, as a bootstrap sample does: faster, no standard errors.

        Takes what :meth:`fit` takes (or the fit data of a summary compressed and checked
        already, with its own weights and unit), and ``start``: the same model fitted on
        similar data (the full data, for a bootstrap sample). The search starts at its
        estimates (else at ``initial_params``), steps in the metric of its curvature
        (quasi-Newton, see :mod:`funnelkit._quasi_newton`) and stops far below the sampling
        error (1e-4 standard errors from the maximum; 0.01 inside
        :func:`funnelkit._quasi_newton.bootstrap_precision`, as a bootstrap does); the
        covariance is not computed (``result_`` has no parameter intervals) and the
        predictions are not probed. A bootstrap needs only the estimates.
        """
        from funnelkit._blas import single_threaded_blas

        if isinstance(data, FitData):  # rows compressed and checked already (a bootstrap)
            if weights is not None or time_unit is not None:
                raise FunnelkitError(
                    "refit takes weights and time_unit with a summary, not with FitData "
                    "(which carries its own)."
                )
            fit_data = data
        else:
            fit_data = self._fit_data(data, weights=weights, time_unit=time_unit)
        metric, x0 = None, None
        if start is not None and set(start.params_) == set(self._param_names):
            x0 = np.array([float(start.params_[nm]) for nm in self._param_names])
            metric = vars(start).get("_refit_metric")
            if metric is None:  # e.g. a fit loaded from JSON: its covariance keeps the curvature
                metric = self._stored_metric(start, x0)
        with single_threaded_blas():
            return self._optimise(fit_data, resample=True, begin=(x0, metric))

    def _stored_metric(self, start: MLEFitter, params: np.ndarray) -> np.ndarray | None:
        """The curvature a refit from ``start`` steps in, from its stored covariance.

        ``refit`` takes the inverse Hessian of the mean objective in the fitting coordinates;
        the covariance of ``start`` is that matrix over its customer count, mapped to the
        natural scale by the Jacobian ``J``: undo both. None when there is none to undo.
        """
        result = getattr(start, "result_", None)
        if (
            result is None
            or result.covariance is None
            or tuple(result.params) != tuple(self._param_names)
        ):
            return None
        jac = ParameterSpace(self._param_names).jacobian(params)
        with np.errstate(all="ignore"):
            metric = np.asarray(result.covariance, dtype=float) / np.outer(jac, jac)
            metric *= float(result.n_customers)
        return metric if np.all(np.isfinite(metric)) else None

    def _fit_prepared(self: F, data: FitData) -> F:
        """Validate settings, optimise, check convergence and set the fitted attributes."""
        # L-BFGS-B's tiny BLAS calls otherwise wait on idle OpenBLAS threads after each heavy
        # numpy step: 5-20 ms per iteration on a busy 2-core machine, more than the likelihood
        from funnelkit._blas import single_threaded_blas

        with single_threaded_blas():
            return self._optimise(data)

    def _fit_reference(self: F, data: FitData) -> F:
        """:meth:`_fit_prepared` without the covariance: the plain fit a covariate fit tests
        against and starts from reads only its estimates and log-likelihood, and the
        observed information costs 8 more likelihood evaluations on all rows."""
        from funnelkit._blas import single_threaded_blas

        # no curvature of this fit is kept, so none of an earlier fit may linger for a refit
        self.__dict__.pop("_refit_metric", None)
        with single_threaded_blas():
            return self._optimise(data, covariance=False)

    def _optimise(
        self: F,
        data: FitData,
        *,
        resample: bool = False,
        begin: tuple[np.ndarray | None, np.ndarray | None] = (None, None),
        covariance: bool = True,
    ) -> F:
        self._validate_settings()
        if data.n_rows == 0 or data.n_customers <= 0:
            raise DataError("Nothing to fit: the data has no customers with positive weight.")
        start = time.perf_counter()
        n = float(np.sum(data.weights))
        full_space = ParameterSpace(self._param_names)
        # a refit may begin at another fit's estimates, in the metric of its curvature
        x0 = self._start(data) if begin[0] is None else begin[0]
        full = None
        if begin[1] is not None:
            settled = settle(
                full_space, x0, self._starting_likelihood(data), n, float(self.penalizer), begin[1]
            )
            full = None if settled is None else settled[0]
            self._refit_metric: np.ndarray | None = None if settled is None else settled[1]
        if full is None:
            full = self._maximise(full_space, x0, self._full_likelihood(data), n, resample=resample)
        candidates = [full] if full is not None else []
        source = full.params if full is not None else x0
        queue = [
            (lim, dict(zip(self._param_names, source, strict=True)))
            for lim in self._limits_to_try(full)
        ]
        tried = {lim.name for lim, _ in queue}
        while queue:
            boundary, origin = queue.pop(0)
            found = self._fit_limit(boundary, origin, data, n)
            if found is None:
                continue
            candidates.append(found)
            point = boundary.embed(dict(zip(boundary.params, found.params, strict=True)))
            queue += [(s, point) for s in simpler_limits(self._limits, boundary, point, tried)]
        if not candidates:
            self._fail("the log-likelihood is not finite anywhere the optimiser looked")
        chosen = choose(candidates)
        if chosen.stopped:
            self._fail(chosen.message)
        limit = chosen.limit
        params = chosen.params
        names = chosen.space.names
        k = len(names)
        converged, message = chosen.converged, chosen.message or "converged"
        with_covariance = covariance and not resample
        cov = self._covariance(chosen, data, n) if with_covariance else None
        if cov is None and converged and with_covariance:
            converged = False
            message = "the observed information matrix is not finite or not positive definite"
        if resample and math.isfinite(chosen.log_likelihood):
            # the search's own last evaluation (the grouped sums): a refit needs no second
            # pass over the rows for the value it stopped at
            ll = chosen.log_likelihood
        else:
            ll = self._total_log_likelihood(dict(zip(names, params, strict=True)), data)
        self.params_ = {nm: float(p) for nm, p in zip(names, params, strict=True)}
        self.log_likelihood_ = ll
        self.time_unit_ = data.time_unit
        self.training_data_ = data.training
        if converged and not resample and not self._predictions_finite():
            converged = False
            message = "the predictions at the estimates are not finite"
        if not converged:
            warnings.warn(
                f"{type(self).__name__}: {message}; the estimates are not trustworthy. " + REMEDIES,
                ConvergenceWarning,
                stacklevel=3,
            )
        test = None
        if limit is not None:
            full_ll = max(c.log_likelihood for c in candidates if c.limit is None or c is chosen)
            full_ll = max(full_ll, ll)
            statistic = max(0.0, 2.0 * (full_ll - ll))
            df = len(self._param_names) - k
            test = LimitTest(
                limit=limit.name,
                statistic=statistic,
                df=df,
                p_value=chi_bar_square_sf(statistic, df),
                full_log_likelihood=full_ll,
            )
            message = f"the maximum is the limit model: {limit.meaning}" + (
                "" if converged else f" ({message})"
            )
        self.result_ = FitResult(
            model=self._model_name,
            fitter=type(self).__name__,
            params=estimates(chosen.space, params, cov, self.conf_level),
            log_likelihood=ll,
            aic=2.0 * k - 2.0 * ll,
            bic=k * math.log(data.n_customers) - 2.0 * ll,
            n_customers=data.n_customers,
            n_unique_rows=data.n_rows,
            converged=converged,
            message=message,
            iterations=chosen.iterations,
            time_unit=data.time_unit,
            conf_level=float(self.conf_level),
            penalizer=float(self.penalizer),
            boundary=[] if limit is None else [limit.name],
            limit_test=test,
            covariance=FitResult.natural_covariance(chosen.space, params, cov),
        )
        self.fit_seconds_ = time.perf_counter() - start
        return self

    def _maximise(
        self,
        space: ParameterSpace,
        x0: np.ndarray,
        loglik: LogLikelihood,
        n: float,
        limit: Limit | None = None,
        *,
        resample: bool = False,
    ) -> Candidate | None:
        return maximise(
            space,
            x0,
            loglik,
            n,
            penalizer=float(self.penalizer),
            max_iter=int(self.max_iter),
            limit=limit,
            **(RESAMPLE_TOLERANCES if resample else {}),
        )

    def _covariance(self, fit: Candidate, data: FitData, n: float) -> np.ndarray | None:
        """Inverse observed information of the (penalised) total log-likelihood.

        The Hessian is taken in the unconstrained coordinates (analytic gradients when the
        fitter provides them for the full model) and mapped to the natural scale with the
        Jacobian; ``None`` when it is not finite or not positive definite.
        """
        space = fit.space
        loglik: LogLikelihood = self._limit_likelihood(space, data)
        analytic = False
        if fit.limit is None:
            loglik = self._full_likelihood(data)
            analytic = loglik(fit.params)[1] is not None
        hess = hessian(fit, loglik, n, float(self.penalizer), analytic=analytic)
        # the curvature a bootstrap refit of this fit starts from (see refit)
        self._refit_metric = None if fit.limit is not None else inverse_hessian(hess)
        return covariance_from_hessian(hess, space.jacobian(fit.params), n)

    def _limits_to_try(self, full: Candidate | None) -> list[Limit]:
        """The limits the full fit may be approaching (all of them when it failed)."""
        if full is None or not full.converged:
            return list(self._limits)
        estimates = dict(zip(self._param_names, full.params, strict=True))
        return [limit for limit in self._limits if limit.near(estimates)]

    def _fit_limit(
        self, limit: Limit, origin: Mapping[str, float], data: FitData, n: float
    ) -> Candidate | None:
        """The limit model fitted from the full-model point ``origin`` (mapped by
        ``limit.start``)."""
        space = ParameterSpace(limit.params, limit.probabilities)
        start = limit.start(origin)
        x = np.array([start[name] for name in limit.params], dtype=float)
        x = np.where(space.is_probability, np.clip(x, 1e-6, 1 - 1e-6), np.clip(x, 1e-8, 1e8))
        return self._maximise(space, x, self._limit_likelihood(space, data), n, limit)

    def _full_likelihood(self, data: FitData) -> LogLikelihood:
        """The full model's weighted log-likelihood (and gradient) in its parameters."""

        def loglik(p: np.ndarray) -> tuple[float, np.ndarray | None]:
            return self._weighted_log_likelihood(p, data)

        return loglik

    def _starting_likelihood(self, data: FitData) -> LogLikelihood:
        """:meth:`_full_likelihood`, whose first evaluation (a refit's start) may come from
        per-row terms found once (see :func:`funnelkit.clv._start_terms.starting`)."""
        from funnelkit.clv._start_terms import starting

        return starting(self._full_likelihood(data), data, self._checked_row_terms, type(self))

    def _checked_row_terms(
        self, params: np.ndarray, data: FitData
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """Per-row log-likelihood and gradient at ``params``; the gradient None (the terms
        unusable) unless their weighted sums are the model's own sums (see
        :func:`funnelkit.clv._start_terms.checked`)."""
        from funnelkit.clv._start_terms import checked

        value, grad = self._log_likelihood_and_gradient(params, data)
        return checked(value, grad, lambda: self._weighted_log_likelihood(params, data), data)

    def _limit_likelihood(self, space: ParameterSpace, data: FitData) -> LogLikelihood:
        """A limit model's weighted log-likelihood (no analytic gradient) in its parameters."""

        def loglik(p: np.ndarray) -> tuple[float, None]:
            return self._total_log_likelihood(dict(zip(space.names, p, strict=True)), data), None

        return loglik

    def _total_log_likelihood(self, params: Mapping[str, float], data: FitData) -> float:
        with np.errstate(all="ignore"):
            if set(params) == set(self._param_names):
                values = self._log_likelihood(
                    np.array([params[k] for k in self._param_names]), data
                )
            else:
                values = self._limit_log_likelihood(params, data)
            total = float(np.einsum("i,i->", data.weights, values))
        return total if math.isfinite(total) else -math.inf

    def _limit_log_likelihood(self, params: Mapping[str, float], data: FitData) -> np.ndarray:
        """Per-row log-likelihood of a limit model (fitters that declare ``_limits``)."""
        raise FunnelkitError(f"{type(self).__name__} has no limit models.")

    def _predictions_finite(self) -> bool:
        """Whether the fitted model's predictions are finite (checked before ``converged``)."""
        probe = getattr(self, "expected_purchases_new_customer", None)
        if probe is None:
            return True
        horizons = np.array([0.1, 1.0, 10.0, 100.0])
        with np.errstate(all="ignore"):
            values = np.asarray(probe(horizons), dtype=float)
            if self.training_data_ is not None and hasattr(self, "probability_alive"):
                values = np.concatenate([values, np.asarray(self.probability_alive())])
        return bool(np.all(np.isfinite(values)))

    def summary(self, backend: Backend = "pandas") -> Any:
        """The parameter table: ``parameter, estimate, std_error, lower, upper``.

        The bounds are those of a ``conf_level`` interval (in ``frame.attrs["conf_level"]``
        for pandas); NaN = not estimable. ``backend`` is ``"pandas"``, ``"polars"`` or
        ``"pyarrow"``. Same as ``result_.summary(backend)``.

        Examples
        --------
        >>> from funnelkit.clv import BetaGeoFitter
        >>> from funnelkit.datasets.btyd import simulate_bgnbd
        >>> model = BetaGeoFitter().fit(simulate_bgnbd(2000, T=52.0, seed=1).rfm)
        >>> list(model.summary().columns)
        ['parameter', 'estimate', 'std_error', 'lower', 'upper']
        """
        self._check_fitted()
        return self.result_.summary(backend)

    def to_json(self, *, indent: int | None = None) -> str:
        """Serialise the fitted model (settings, parameters, fit result; no data, no pickle)."""
        self._check_fitted()
        settings = {
            k: (dict(v) if isinstance(v, Mapping) else v) for k, v in self.get_params().items()
        }
        doc = FittedModel(
            fitter=type(self).__name__,
            settings=settings,
            params=self.params_,
            result=self.result_,
            state=self._extra_state(),
        )
        return doc.to_json(indent=indent)

    @classmethod
    def from_json(cls: type[F], text: str | bytes) -> F:
        """Load a model written by :meth:`to_json`; it predicts exactly like the original.

        The training data are not stored, so predictions need explicit ``data``.
        """
        doc = load_document(text)
        klass = MLEFitter._registry.get(doc.fitter)
        if klass is None or not issubclass(klass, cls):
            raise FunnelkitError(
                f"The JSON holds a {doc.fitter}, which cannot be loaded as a {cls.__name__}."
            )
        model = klass._from_settings(doc.settings)
        model.params_ = klass._checked_params(doc.params)
        model.log_likelihood_ = doc.result.log_likelihood
        model.time_unit_ = doc.result.time_unit
        model.training_data_ = None
        model.result_ = doc.result
        # a log-likelihood of -inf is a fit's (nothing estimable); NaN is no fit's
        estimates = doc.result.params.items()
        broken = [f"the estimate of {k}" for k, v in estimates if not math.isfinite(v.estimate)]
        if math.isnan(doc.result.log_likelihood):
            broken.append("the log-likelihood")
        if broken:
            raise FunnelkitError(
                f"The {klass.__name__} document's result is damaged, not a number: "
                f"{', '.join(broken)}. {_REWRITE}"
            )
        unknown = sorted(set(doc.state) - klass._state_keys)
        if unknown:
            keeps = sorted(klass._state_keys) or "none"
            raise FunnelkitError(
                f"The {klass.__name__} document has unknown state entries {unknown}; a "
                f"{klass.__name__} keeps {keeps}. {_REWRITE}"
            )
        try:
            model._restore_extra_state(doc.state)
        except (ValueError, TypeError, KeyError) as exc:
            raise FunnelkitError(
                f"The {klass.__name__} document's state is damaged ({exc}). {_REWRITE}"
            ) from None
        return model

    @classmethod
    def _from_settings(cls: type[F], settings: Mapping[str, Any]) -> F:
        """An unfitted model with a document's settings, checked as ``fit`` checks them."""
        known = set(cls().get_params())
        unknown = sorted(set(settings) - known)
        if unknown:
            raise FunnelkitError(
                f"The {cls.__name__} document has unknown setting(s) {unknown}; "
                f"{cls.__name__} takes {sorted(known)}. {_REWRITE}"
            )
        model = cls(**settings)
        try:
            model._validate_settings()
        except FunnelkitError as exc:
            raise FunnelkitError(
                f"The {cls.__name__} document is invalid: {exc} {_REWRITE}"
            ) from None
        return model

    @classmethod
    def _checked_params(cls, params: Mapping[str, Any]) -> dict[str, float]:
        """Loaded parameters: the full model's or one limit's, each finite and in range."""
        sets = [(cls._param_names, ())] + [(lim.params, lim.probabilities) for lim in cls._limits]
        for names, probabilities in sets:
            if set(params) != set(names):
                continue
            bad = [
                f"{k}={params[k]!r}"
                for k in names
                if not isinstance(params[k], int | float)
                or not math.isfinite(params[k])
                or params[k] <= 0
                or (k in probabilities and params[k] >= 1)
            ]
            if bad:
                raise FunnelkitError(
                    f"The {cls.__name__} document has invalid parameter(s) {', '.join(bad)}: "
                    "parameters must be finite and positive (probabilities below 1). "
                    "Re-create the document with to_json() from a fitted model."
                )
            return {k: float(params[k]) for k in names}
        expected = " or ".join(str(list(names)) for names, _ in sets)
        raise FunnelkitError(
            f"The {cls.__name__} document has parameters {sorted(params)}; expected {expected}. "
            "Re-create the document with to_json() from a fitted model."
        )

    # ------------------------------------------------------------------ helpers for subclasses
    def _params(self) -> tuple[float, ...]:
        self._check_fitted()
        return tuple(self.params_[name] for name in self._param_names)

    def _data_for_prediction(self, data: Any) -> Mapping[str, np.ndarray]:
        self._check_fitted()
        if data is None:
            if self.training_data_ is None:
                raise FunnelkitError(
                    f"This {type(self).__name__} was loaded from JSON and does not carry its "
                    "training data: pass data=... (an RFM or a frame) to predict."
                )
            return self.training_data_
        return self._prediction_data(data)

    def _validate_settings(self) -> None:
        name = type(self).__name__
        check_setting(name, "penalizer", self.penalizer, ">= 0", lambda v: v >= 0)
        check_setting(name, "conf_level", self.conf_level, "in (0, 1)", lambda v: 0 < v < 1)
        if isinstance(self.max_iter, bool) or not isinstance(self.max_iter, int | np.integer):
            raise FunnelkitError(
                f"The 'max_iter' parameter of {name} must be an int >= 1. "
                f"Got {self.max_iter!r} instead."
            )
        check_setting(name, "max_iter", self.max_iter, ">= 1", lambda v: v >= 1)
        if self.initial_params is not None:
            # a list or a string would make dict() raise its own TypeError/ValueError
            given = dict(self.initial_params) if isinstance(self.initial_params, Mapping) else {}
            # the full model's parameters, or those of one of its limit models
            allowed = [set(self._param_names)] + [set(lim.params) for lim in self._limits]
            if set(given) not in allowed or not all(
                isinstance(v, int | float) and math.isfinite(v) and v > 0 for v in given.values()
            ):
                raise FunnelkitError(
                    f"The 'initial_params' parameter of {name} must map each of "
                    f"{list(self._param_names)} to a positive finite number. "
                    f"Got {self.initial_params!r} instead."
                )

    # ------------------------------------------------------------------ covariates
    def _covariate_route(self, covariates: Any) -> bool:
        """Whether a prediction runs per covariate pattern (fitters with covariates say so);
        a model without covariates refuses them."""
        if covariates is not None:
            self._check_fitted()
            self._refuse_covariates()
        return False

    def _refuse_covariates(self) -> NoReturn:
        name = type(self).__name__
        raise FunnelkitError(
            f"This {name} was fitted without covariates, so covariates=... has no effect on "
            f"its predictions: drop the argument, or fit with {name}().fit(data, "
            "covariates=...) where the model supports covariates."
        )

    # ------------------------------------------------------------------ internals
    def _start(self, data: FitData) -> np.ndarray:
        given = self.initial_params
        if given is not None:
            given = dict(given)
            if set(given) != set(self._param_names):
                # the parameters of a limit model: start the full fit close to that limit
                limit = next(lim for lim in self._limits if set(lim.params) == set(given))
                given = limit.embed(given)
            return np.array([float(given[nm]) for nm in self._param_names])
        x0 = np.asarray(self._initial_params(data), dtype=float)
        return np.clip(x0, math.exp(-LOG_BOUND + 1), math.exp(LOG_BOUND - 1))

    def _fail(self, what: str) -> None:
        raise ConvergenceError(f"{type(self).__name__} did not converge: {what}. " + REMEDIES)

    def __repr__(self) -> str:
        text = self._settings_repr()
        if "params_" not in self.__dict__:
            return text
        fitted = ", ".join(f"{k}={v:.4g}" for k, v in self.params_.items())
        return f"<{text} fitted on {self.result_.n_customers:,} customers: {fitted}>"
