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

Fitters whose data are not RFM summaries (the shifted-beta-geometric model takes durations
and churn flags, Gamma-Gamma needs spend) override :meth:`MLEFitter._fit_data` (build a
:class:`FitData`) and :meth:`MLEFitter._prediction_data`, or write their own ``fit`` that
builds a :class:`FitData` and calls :meth:`MLEFitter._fit_prepared`. Extra settings go in the
subclass ``__init__`` as keyword arguments stored under the same name (scikit-learn style);
extend :meth:`MLEFitter._validate_settings` to check them.
"""

from __future__ import annotations

import inspect
import math
import time
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

import numpy as np
from pydantic import BaseModel, ConfigDict, Field
from scipy import optimize, stats

from funnelkit._frames import Backend, frame_from_columns
from funnelkit._results import Result, html_table
from funnelkit.exceptions import (
    ConvergenceError,
    ConvergenceWarning,
    DataError,
    FunnelkitError,
    NotFittedError,
)
from funnelkit.rfm import RFM
from funnelkit.units import TimeUnit, TimeUnitField, TimeUnitLike

__all__ = ["FitData", "FitResult", "MLEFitter", "ParameterEstimate", "as_horizon"]

F = TypeVar("F", bound="MLEFitter")

# log-parameters are kept inside these bounds: a parameter that ends on one is diverging
_LOG_BOUND = 30.0
_SCHEMA = "funnelkit.clv.fitter"


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


class _FittedModel(Result):
    """The JSON document of a fitted model (no training data, no pickle)."""

    schema_name: str = _SCHEMA
    fitter: str
    settings: dict[str, Any]
    params: dict[str, float]
    result: FitResult
    state: dict[str, Any] = Field(default_factory=dict)


@dataclass(frozen=True)
class FitData:
    """What a likelihood sees: unique rows (``columns``) with their ``weights``.

    ``training`` holds the per-customer arrays that predictions with ``data=None`` use.
    """

    columns: Mapping[str, np.ndarray]
    weights: np.ndarray
    n_customers: int
    time_unit: TimeUnit | None = None
    training: Mapping[str, np.ndarray] | None = field(default=None, repr=False)

    def __getitem__(self, name: str) -> np.ndarray:
        return self.columns[name]

    @property
    def n_rows(self) -> int:
        return int(self.weights.shape[0])


class MLEFitter:
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
    def _log_likelihood(self, params: np.ndarray, data: FitData) -> np.ndarray:
        """Per-row log-likelihood (natural-scale ``params``), shape ``(n_rows,)``."""
        raise NotImplementedError

    def _log_likelihood_gradient(self, params: np.ndarray, data: FitData) -> np.ndarray | None:
        """Per-row gradient, shape ``(n_params, n_rows)``; ``None`` = use finite differences."""
        return None

    def _initial_params(self, data: FitData) -> np.ndarray:
        return np.ones(len(self._param_names))

    def _fit_data(self, data: Any, **kwargs: Any) -> FitData:
        """Turn the ``fit`` input into unique rows + weights (default: RFM summaries)."""
        rfm = _as_rfm(data, kwargs.get("time_unit"), None)
        weights = kwargs.get("weights")
        compressed = rfm.compress()
        if weights is None:
            row_weights = compressed.weights
        else:
            w = _customer_weights(weights, data, len(rfm))
            row_weights = np.bincount(compressed.inverse, weights=w, minlength=compressed.T.size)
        columns = {
            "frequency": compressed.frequency,
            "recency": compressed.recency,
            "T": compressed.T,
        }
        self._check_rfm(columns)
        keep = row_weights > 0
        return FitData(
            columns={k: v[keep] for k, v in columns.items()},
            weights=row_weights[keep],
            n_customers=round(float(row_weights.sum())),
            time_unit=rfm.time_unit,
            training={"frequency": rfm.frequency, "recency": rfm.recency, "T": rfm.T},
        )

    def _check_rfm(self, columns: Mapping[str, np.ndarray]) -> None:
        """Model-specific data checks (e.g. BG/BB needs whole-number periods)."""

    def _prediction_data(self, data: Any) -> Mapping[str, np.ndarray]:
        """Per-customer arrays of ``data`` for predictions (default: RFM columns)."""
        rfm = _as_rfm(data, None, getattr(self, "time_unit_", None))
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

    def _fit_prepared(self: F, data: FitData) -> F:
        """Validate settings, optimise, check convergence and set the fitted attributes."""
        self._validate_settings()
        if data.n_rows == 0 or data.n_customers <= 0:
            raise DataError("Nothing to fit: the data has no customers with positive weight.")
        names = self._param_names
        k = len(names)
        start = time.perf_counter()
        x0 = self._start(data)
        n = float(np.sum(data.weights))

        def objective(theta: np.ndarray) -> tuple[float, np.ndarray]:
            params = np.exp(theta)
            value = self._penalized_mean_nll(params, data, n)
            grad = self._penalized_mean_nll_grad(params, data, n, theta) * params
            return value, grad

        with np.errstate(all="ignore"):
            opt = optimize.minimize(
                objective,
                np.log(x0),
                jac=True,
                method="L-BFGS-B",
                bounds=[(-_LOG_BOUND, _LOG_BOUND)] * k,
                options={"maxiter": int(self.max_iter), "ftol": 1e-15, "gtol": 1e-9},
            )
        theta = np.asarray(opt.x, dtype=float)
        params = np.exp(theta)
        with np.errstate(all="ignore"):
            final_value, final_grad = objective(theta)
        grad_ok = bool(np.all(np.isfinite(final_grad))) and float(np.max(np.abs(final_grad))) < 1e-4
        if not np.isfinite(final_value):
            self._fail(f"the log-likelihood is not finite at the solution ({opt.message})")
        if not opt.success and not grad_ok:
            self._fail(f"the optimiser stopped without converging: {opt.message}")
        at_bound = [nm for nm, th in zip(names, theta, strict=True) if abs(th) > _LOG_BOUND - 1e-3]
        converged, message = True, str(opt.message)
        if at_bound:
            converged = False
            message = f"parameter(s) {at_bound} diverged to a bound of the search space"
            warnings.warn(
                f"{type(self).__name__}: {message}; the estimates are not trustworthy. "
                + _REMEDIES,
                ConvergenceWarning,
                stacklevel=3,
            )
        cov = self._covariance(params, data, n)
        if cov is None and converged:
            converged = False
            message = "the observed information matrix is not finite or not positive definite"
            warnings.warn(
                f"{type(self).__name__}: {message}, so standard errors are not estimable. "
                + _REMEDIES,
                ConvergenceWarning,
                stacklevel=3,
            )
        with np.errstate(all="ignore"):
            ll = float(np.dot(data.weights, self._log_likelihood(params, data)))
        self.params_ = {nm: float(p) for nm, p in zip(names, params, strict=True)}
        self.log_likelihood_ = ll
        self.time_unit_ = data.time_unit
        self.training_data_ = data.training
        self.result_ = FitResult(
            model=self._model_name,
            fitter=type(self).__name__,
            params=_estimates(names, params, cov, self.conf_level),
            log_likelihood=ll,
            aic=2.0 * k - 2.0 * ll,
            bic=k * math.log(data.n_customers) - 2.0 * ll,
            n_customers=data.n_customers,
            n_unique_rows=data.n_rows,
            converged=converged,
            message=message,
            iterations=int(getattr(opt, "nit", 0)),
            time_unit=data.time_unit,
            conf_level=float(self.conf_level),
            penalizer=float(self.penalizer),
        )
        self.fit_seconds_ = time.perf_counter() - start
        return self

    @property
    def summary(self) -> Any:
        """Parameter table (pandas frame): estimate, standard error, interval bounds."""
        self._check_fitted()
        return self.result_.summary()

    def get_params(self) -> dict[str, Any]:
        """The constructor settings (scikit-learn convention)."""
        return {name: getattr(self, name) for name in _init_names(type(self))}

    def to_json(self, *, indent: int | None = None) -> str:
        """Serialise the fitted model (settings, parameters, fit result; no data, no pickle)."""
        self._check_fitted()
        settings = {
            k: (dict(v) if isinstance(v, Mapping) else v) for k, v in self.get_params().items()
        }
        doc = _FittedModel(
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
        doc = _FittedModel.from_json(text)
        if doc.schema_name != _SCHEMA or doc.schema_version != 1:
            raise FunnelkitError(
                f"Not a funnelkit fitter document (schema {doc.schema_name!r} "
                f"version {doc.schema_version})."
            )
        klass = MLEFitter._registry.get(doc.fitter)
        if klass is None or not issubclass(klass, cls):
            raise FunnelkitError(
                f"The JSON holds a {doc.fitter}, which cannot be loaded as a {cls.__name__}."
            )
        model = klass(**doc.settings)
        model.params_ = {k: float(doc.params[k]) for k in klass._param_names}
        model.log_likelihood_ = doc.result.log_likelihood
        model.time_unit_ = doc.result.time_unit
        model.training_data_ = None
        model.result_ = doc.result
        model._restore_extra_state(doc.state)
        return model

    # ------------------------------------------------------------------ helpers for subclasses
    def _check_fitted(self) -> None:
        if "params_" not in self.__dict__:
            raise NotFittedError(
                f"This {type(self).__name__} is not fitted yet: call fit(data) first."
            )

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
        _check_number(name, "penalizer", self.penalizer, ">= 0", lambda v: v >= 0)
        _check_number(name, "conf_level", self.conf_level, "in (0, 1)", lambda v: 0 < v < 1)
        if isinstance(self.max_iter, bool) or not isinstance(self.max_iter, int | np.integer):
            raise FunnelkitError(
                f"The 'max_iter' parameter of {name} must be an int >= 1. "
                f"Got {self.max_iter!r} instead."
            )
        _check_number(name, "max_iter", self.max_iter, ">= 1", lambda v: v >= 1)
        if self.initial_params is not None:
            given = dict(self.initial_params)
            if set(given) != set(self._param_names) or not all(
                isinstance(v, int | float) and math.isfinite(v) and v > 0 for v in given.values()
            ):
                raise FunnelkitError(
                    f"The 'initial_params' parameter of {name} must map each of "
                    f"{list(self._param_names)} to a positive finite number. "
                    f"Got {self.initial_params!r} instead."
                )

    # ------------------------------------------------------------------ internals
    def _start(self, data: FitData) -> np.ndarray:
        if self.initial_params is not None:
            return np.array([float(self.initial_params[nm]) for nm in self._param_names])
        x0 = np.asarray(self._initial_params(data), dtype=float)
        return np.clip(x0, math.exp(-_LOG_BOUND + 1), math.exp(_LOG_BOUND - 1))

    def _penalized_mean_nll(self, params: np.ndarray, data: FitData, n: float) -> float:
        ll = float(np.dot(data.weights, self._log_likelihood(params, data)))
        value = -ll / n + float(self.penalizer) * float(np.sum(params**2))
        return value if math.isfinite(value) else math.inf

    def _penalized_mean_nll_grad(
        self, params: np.ndarray, data: FitData, n: float, theta: np.ndarray | None = None
    ) -> np.ndarray:
        rows = self._log_likelihood_gradient(params, data)
        if rows is not None:
            grad = -(rows @ data.weights) / n
        else:
            # central differences on the log scale: relative steps suit every parameter size
            th = np.log(params) if theta is None else theta
            grad = np.empty(params.size)
            for i in range(params.size):
                step = np.zeros(params.size)
                step[i] = 1e-6
                up = self._penalized_mean_nll(np.exp(th + step), data, n)
                down = self._penalized_mean_nll(np.exp(th - step), data, n)
                grad[i] = (up - down) / 2e-6 / params[i]
            return grad
        return grad + 2.0 * float(self.penalizer) * params

    def _covariance(self, params: np.ndarray, data: FitData, n: float) -> np.ndarray | None:
        """Inverse observed information of the (penalised) total log-likelihood.

        The Hessian is taken on the log scale by central differences of the gradient (analytic
        when the subclass provides it) and mapped to the natural scale with the chain rule.
        """
        k = params.size
        theta = np.log(params)
        analytic = self._log_likelihood_gradient(params, data) is not None
        h = 1e-5 if analytic else 1e-4

        def grad_log(th: np.ndarray) -> np.ndarray:
            p = np.exp(th)
            return self._penalized_mean_nll_grad(p, data, n, th) * p

        with np.errstate(all="ignore"):
            g0 = grad_log(theta)
            hess = np.empty((k, k))
            for i in range(k):
                step = np.zeros(k)
                step[i] = h
                hess[:, i] = (grad_log(theta + step) - grad_log(theta - step)) / (2 * h)
        hess = 0.5 * (hess + hess.T)
        # d²f/dp_i dp_j = (d²f/dθ_i dθ_j - δ_ij df/dθ_i) / (p_i p_j)
        hess_nat = (hess - np.diag(g0)) / np.outer(params, params) * n
        if not np.all(np.isfinite(hess_nat)):
            return None
        try:
            eig = np.linalg.eigvalsh(hess_nat)
            if eig.min() <= 0:
                return None
            cov = np.linalg.inv(hess_nat)
        except np.linalg.LinAlgError:
            return None
        if not np.all(np.isfinite(cov)) or np.any(np.diag(cov) <= 0):
            return None
        return np.asarray(cov)

    def _fail(self, what: str) -> None:
        raise ConvergenceError(f"{type(self).__name__} did not converge: {what}. " + _REMEDIES)

    def __getattr__(self, name: str) -> Any:
        # fitted attributes are missing until fit(): say so instead of a bare AttributeError
        if name.endswith("_") and not name.startswith("_"):
            raise NotFittedError(
                f"This {type(self).__name__} is not fitted yet: call fit(data) before using "
                f"'{name}'."
            )
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __repr__(self) -> str:
        defaults = {
            k: p.default
            for k, p in inspect.signature(type(self).__init__).parameters.items()
            if k != "self"
        }
        shown = ", ".join(
            f"{k}={v!r}" for k, v in self.get_params().items() if not _same(v, defaults.get(k))
        )
        text = f"{type(self).__name__}({shown})"
        if "params_" not in self.__dict__:
            return text
        fitted = ", ".join(f"{k}={v:.4g}" for k, v in self.params_.items())
        return f"<{text} fitted on {self.result_.n_customers:,} customers: {fitted}>"

    def _repr_html_(self) -> str:
        if "params_" not in self.__dict__:
            settings = {k: repr(v) for k, v in self.get_params().items()}
            return html_table(settings, caption=f"{type(self).__name__} (not fitted)")
        return self.result_.as_html()


_REMEDIES = (
    "Things to try: "
    "1. add a small penalizer, e.g. penalizer=0.001, to keep parameters finite; "
    "2. pass initial_params={...} closer to the expected values; "
    "3. check the data: frequency, recency and T in one time unit, recency <= T, enough repeat "
    "buyers (a model of repeat purchasing needs some); "
    "4. refit in a coarser time unit (weeks instead of hours) so parameters are of moderate size; "
    "5. raise max_iter if the optimiser ran out of iterations."
)


def _same(a: Any, b: Any) -> bool:
    try:
        return bool(a == b) and type(a) is type(b)
    except Exception:
        return False


def _init_names(cls: type) -> list[str]:
    sig = inspect.signature(cls.__init__)  # type: ignore[misc]
    return [k for k, p in sig.parameters.items() if k != "self" and p.kind == p.KEYWORD_ONLY]


def _check_number(owner: str, name: str, value: Any, rule: str, ok: Any) -> None:
    valid = (
        isinstance(value, int | float | np.integer | np.floating)
        and not isinstance(value, bool)
        and math.isfinite(float(value))
        and ok(float(value))
    )
    if not valid:
        raise FunnelkitError(
            f"The {name!r} parameter of {owner} must be {rule}. Got {value!r} instead."
        )


def _estimates(
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


def _as_rfm(data: Any, time_unit: TimeUnitLike | None, fitted_unit: TimeUnit | None) -> RFM:
    """Coerce an RFM, a dataframe or a mapping of arrays into a validated RFM."""
    if data is None:
        raise DataError("No data: pass an RFM, a dataframe or a mapping of arrays.")
    unit = time_unit if time_unit is not None else (fitted_unit or "D")
    if isinstance(data, RFM):
        rfm = data
        if time_unit is not None and TimeUnit.parse(time_unit) != rfm.time_unit:
            raise DataError(
                f"time_unit={time_unit!r} contradicts the RFM's own unit {rfm.time_unit.value!r}."
            )
    elif isinstance(data, Mapping):
        missing = [c for c in ("frequency", "recency", "T") if c not in data]
        if missing:
            raise DataError(
                f"The mapping is missing {missing}: it needs 'frequency', 'recency' and 'T'."
            )
        rfm = RFM.from_arrays(
            frequency=data["frequency"], recency=data["recency"], T=data["T"], time_unit=unit
        )
    else:
        import narwhals as nw

        # only the purchase columns matter here: a missing spend must not reject the fit
        frame = nw.from_native(data, eager_only=True)
        if "monetary_value" in frame.columns:
            frame = frame.drop("monetary_value")
        customer_col = "customer_id" if "customer_id" in frame.columns else None
        rfm = RFM.from_frame(nw.to_native(frame), customer_col=customer_col, time_unit=unit)
    if fitted_unit is not None and rfm.time_unit != fitted_unit:
        raise DataError(
            f"The data are in {rfm.time_unit.value}s but the model was fitted in "
            f"{fitted_unit.value}s: rebuild the RFM with time_unit={fitted_unit.value!r}."
        )
    return rfm


def _customer_weights(weights: Any, data: Any, n: int) -> np.ndarray:
    if isinstance(weights, str):
        if isinstance(data, Mapping):
            weights = data[weights]
        else:
            import narwhals as nw

            weights = nw.from_native(data, eager_only=True)[weights].to_numpy()
    w = np.asarray(weights, dtype=float)
    bad = ~np.isfinite(w) | (w < 0) | (w != np.round(w)) if w.shape == (n,) else None
    if bad is None:
        raise DataError(f"weights must have one entry per row ({n}); got shape {w.shape}.")
    if np.any(bad):
        raise DataError(
            f"{int(bad.sum())} weight(s) are not whole numbers >= 0: weights count the "
            "customers sharing a row."
        )
    return w


def as_horizon(t: Any, name: str = "t") -> np.ndarray:
    """A prediction horizon as a float array (broadcasts against customers); finite, >= 0."""
    arr = np.asarray(t, dtype=float)
    if not np.all(np.isfinite(arr)) or np.any(arr < 0):
        raise FunnelkitError(
            f"{name} must be finite and >= 0 (in the fitted time unit); got {t!r}."
        )
    return arr
