"""Static covariates on a CLV fitter: log-linear effects on its natural parameters.

A fitter that takes covariates declares, per process, which of its parameters a covariate
scales and in which direction (``_covariate_links``): customer ``i`` with covariates ``z_i``
has ``theta_i = theta · exp(± gamma_process' z_i)``. The coefficients ``gamma`` are extra,
unconstrained entries of the optimiser's parameter vector, so the shared optimiser, the
Hessian and the covariance cover them. The likelihood runs on compressed rows (customers
sharing their data row and their covariate pattern are one row), pattern by pattern or row
by row (:mod:`funnelkit.clv._covariate_likelihood`). The full model is maximised by Newton
steps with the Hessian assembled from each pattern's own curvature (a handful of likelihood
evaluations per step however many coefficients), the shared L-BFGS-B search taking over
where they do not settle and for the limit models.

Predictions are in :mod:`funnelkit.clv._covariate_predict`: per covariate pattern, by a copy
of the model at that pattern's parameters, with the model's own formulas.
"""

from __future__ import annotations

import dataclasses
import math
import time
import warnings
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, TypeVar

import numpy as np

from funnelkit.clv._base import MLEFitter
from funnelkit.clv._covariate_likelihood import (
    CovariateLikelihood,
    UnitLikelihood,
    newton_search,
    penalised_hessian,
)
from funnelkit.clv._data import FitData, as_rfm, compress_rows, customer_weights
from funnelkit.clv._limits import (
    Limit,
    LimitTest,
    ParameterSpace,
    chi_bar_square_sf,
    simpler_limits,
)
from funnelkit.clv._optimise import (
    Candidate,
    CoefficientSpace,
    LogLikelihood,
    choose,
    hessian,
    maximise,
)
from funnelkit.clv._result import (
    REMEDIES,
    FitResult,
    covariance_from_hessian,
    estimates,
)
from funnelkit.clv.covariates import (
    PROCESSES,
    CovariateEncoding,
    CovariateFit,
    CovariateTest,
    frame_backend,
    learn_encoding,
    unique_patterns,
)
from funnelkit.exceptions import ConvergenceWarning, FunnelkitError
from funnelkit.intervals import normal_quantile
from funnelkit.units import TimeUnitLike

__all__ = ["CovariateModel"]

C = TypeVar("C", bound="CovariateModel")
Links = dict[str, tuple[tuple[str, int], ...]]
#: one maximised parameter set: the fit, its covariance, its links and its limit (if any)
SpaceFit = tuple[Candidate, np.ndarray | None, Links, Limit | None]


def _iterable(value: Any) -> bool:
    try:
        iter(value)
    except TypeError:
        return False
    return True


def _base_size(fit: Candidate) -> int:
    """How many of a fit's parameters are base parameters (the rest are coefficients)."""
    space = fit.space
    assert isinstance(space, CoefficientSpace)
    return len(space.names) - space.n_free


class CovariateModel(CovariateLikelihood):
    """A fitter that accepts static covariates (see the module docstring).

    Parameters
    ----------
    covariate_processes
        The processes covariates enter (``"purchase"``, ``"dropout"``, ``"spend"``, among
        those the model has); ``None`` = all of them.
    covariate_reference
        Reference level per categorical covariate, e.g. ``{"channel": "organic"}``; the
        default is each column's first level in sorted order.
    """

    _fitted_attributes: ClassVar[tuple[str, ...]] = (
        *MLEFitter._fitted_attributes,
        "coefficients_",
        "covariate_columns_",
        "covariate_test_",
    )

    def __init__(
        self,
        *,
        penalizer: float = 0.0,
        conf_level: float = 0.95,
        initial_params: Mapping[str, float] | None = None,
        max_iter: int = 1000,
        covariate_processes: Sequence[str] | None = None,
        covariate_reference: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(
            penalizer=penalizer,
            conf_level=conf_level,
            initial_params=initial_params,
            max_iter=max_iter,
        )
        self.covariate_processes = covariate_processes
        self.covariate_reference = covariate_reference

    # ------------------------------------------------------------------ settings
    def _validate_settings(self) -> None:
        super()._validate_settings()
        self._processes()
        ref = self.covariate_reference
        if ref is not None and not isinstance(ref, Mapping):
            raise FunnelkitError(
                f"The 'covariate_reference' parameter of {type(self).__name__} must map "
                f"covariate names to their reference level. Got {ref!r} instead."
            )

    def _processes(self) -> tuple[str, ...]:
        own = tuple(p for p in PROCESSES if p in self._covariate_links)
        given = self.covariate_processes
        if given is None:
            return own
        chosen = (given,) if isinstance(given, str) else tuple(given) if _iterable(given) else ()
        if not chosen or not set(chosen) <= set(own) or len(set(chosen)) != len(chosen):
            raise FunnelkitError(
                f"The 'covariate_processes' parameter of {type(self).__name__} must be a "
                f"non-empty selection of {list(own)}. Got {given!r} instead."
            )
        return tuple(p for p in own if p in chosen)

    # ------------------------------------------------------------------ fitting
    def _covariate_ids(
        self, data: Any, weights: Any, time_unit: Any
    ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
        """Ids of the input customers, which of them are training customers (``None`` = all)
        and the training customers' weights (RFM summaries; other data override this)."""
        rfm = as_rfm(data, time_unit, None)
        w = np.ones(len(rfm)) if weights is None else customer_weights(weights, data, len(rfm))
        return np.asarray(rfm.customer_ids), None, w

    def fit(
        self: C,
        data: Any,
        *,
        covariates: Any = None,
        weights: Any = None,
        time_unit: Any = None,
    ) -> C:
        """Fit the model, with static ``covariates`` (one row per customer) if given.

        See :class:`~funnelkit.clv.MLEFitter.fit` for ``data``, ``weights`` and
        ``time_unit``; ``covariates`` is a frame with a ``customer_id`` column (joined on the
        summary's ids) or a mapping of arrays in the summary's order (see
        :mod:`funnelkit.clv.covariates`).
        """
        self._set_covariates(None, None)
        if covariates is None:
            return super().fit(data, weights=weights, time_unit=time_unit)
        plain = self._fit_data(data, weights=weights, time_unit=time_unit)
        ids, keep, w = self._covariate_ids(data, weights, time_unit)
        return self._fit_covariates(plain, covariates, ids, keep, w)

    def refit(
        self: C,
        data: Any,
        *,
        weights: Any = None,
        time_unit: TimeUnitLike | None = None,
        start: MLEFitter | None = None,
    ) -> C:
        """The plain model fitted again on reweighted data (see :meth:`MLEFitter.refit`);
        covariate effects of an earlier :meth:`fit` are dropped, not kept stale."""
        self._set_covariates(None, None)
        return super().refit(data, weights=weights, time_unit=time_unit, start=start)

    def _fit_covariates(
        self: C,
        plain: FitData,
        covariates: Any,
        ids: np.ndarray,
        keep: np.ndarray | None,
        weights: np.ndarray,
    ) -> C:
        """Fit the plain model (for the likelihood-ratio test and a start), then the model
        with covariates on rows compressed by (data row, covariate pattern), then, when the
        base parameters head for a limit, that limit with the coefficients it keeps."""
        from funnelkit._blas import single_threaded_blas

        self._validate_settings()
        processes = self._processes()
        encoding, design = learn_encoding(covariates, ids, ids.shape[0], self.covariate_reference)
        design = design if keep is None else design[keep]
        if plain.training is None:
            raise FunnelkitError("Covariates need per-customer data; fit(data, ...) gives them.")
        with warnings.catch_warnings():
            # the plain model is only the reference of the test: its warnings are not the fit's
            warnings.simplefilter("ignore", ConvergenceWarning)
            self._fit_reference(plain)
        plain_ll = float(self.log_likelihood_)
        if set(self.params_) == set(self._param_names):
            start = np.array([self.params_[k] for k in self._param_names])
        else:
            start = self._start(plain)
        begin = time.perf_counter()
        # customers compressed into unique (data row, covariate pattern) rows
        patterns, codes = unique_patterns(design)
        columns = {**plain.training, "pattern": codes.astype(float)}
        rows = compress_rows(columns, weights, plain.time_unit)
        n = float(np.sum(weights))
        full_links = {p: v for p, v in self._links_of(self._param_names).items() if p in processes}
        with single_threaded_blas():
            full = self._fit_space(
                self._param_names, (), full_links, None, patterns, rows, encoding, n, start
            )
            candidates = [c for c in [full] if c is not None]
            queue = [(boundary, full) for boundary in self._covariate_limits(full)]
            tried = {boundary.name for boundary, _ in queue}
            while queue:
                boundary, origin = queue.pop(0)
                found = self._fit_limit_space(
                    boundary, origin, processes, patterns, rows, encoding, n
                )
                if found is None:
                    continue
                candidates.append(found)
                point = self._embedded(found, len(encoding.names))
                k = len(self._param_names)
                base = dict(zip(self._param_names, point[0].params[:k], strict=True))
                queue += [(s, point) for s in simpler_limits(self._limits, boundary, base, tried)]
        if not candidates:
            self._fail("the log-likelihood with covariates is not finite anywhere")
        chosen = choose([c[0] for c in candidates])
        fit, cov, links, limit = next(c for c in candidates if c[0] is chosen)
        full_ll = max(c[0].log_likelihood for c in candidates)
        self._set_covariate_fit(fit, cov, limit, full_ll, rows.n_rows, plain)
        k = _base_size(fit)
        covariate_fit = CovariateFit(
            encoding=encoding,
            links=links,
            coefficients=self._split(fit.params, tuple(links), len(encoding.names), k)[1],
            rows=self._coefficient_rows(fit, cov, k),
            test=CovariateTest.of(self.log_likelihood_, plain_ll, len(fit.params) - k),
            backend=frame_backend(covariates),
            covariance=FitResult.natural_covariance(fit.space, fit.params, cov),
        )
        self._set_covariates(covariate_fit, design)
        self.__dict__["_training_ids"] = ids if keep is None else ids[keep]
        self._warn_if_unconverged(patterns)
        self.fit_seconds_ = time.perf_counter() - begin
        return self

    def _fit_space(
        self,
        names: Sequence[str],
        probabilities: Sequence[str],
        links: Links,
        limit: Limit | None,
        patterns: np.ndarray,
        rows: FitData,
        encoding: CovariateEncoding,
        n: float,
        start: np.ndarray,
        start_coefs: Mapping[str, np.ndarray] | None = None,
    ) -> (
        tuple[Candidate, np.ndarray | None, dict[str, tuple[tuple[str, int], ...]], Limit | None]
        | None
    ):
        """Maximise one parameter set with its coefficients; the fit and its covariance
        (Newton steps where the likelihood gives its Hessian, else L-BFGS-B)."""
        p = len(encoding.names)
        coef_names = [f"{proc}:{nm}" for proc in links for nm in encoding.names]
        space = CoefficientSpace(
            (*names, *coef_names), tuple(probabilities), n_free=len(coef_names)
        )
        loglik = self._rows_likelihood(names, links, limit, patterns, rows, p)
        given = start_coefs or {}
        x0 = np.concatenate([start, *(given.get(proc, np.zeros(p)) for proc in links)])
        penalizer = float(self.penalizer)
        found = None
        if isinstance(loglik, UnitLikelihood):
            found = newton_search(space, x0, loglik, n, penalizer)
        if found is not None:
            fit, hess = found
        else:
            searched = maximise(
                space, x0, loglik, n, penalizer=penalizer, max_iter=int(self.max_iter), limit=limit
            )
            if searched is None:
                return None
            fit = dataclasses.replace(searched, log_likelihood=loglik(searched.params)[0])
            hess = self._curvature(fit, loglik, n)
        cov = covariance_from_hessian(hess, space.jacobian(fit.params), n)
        return fit, cov, links, limit

    def _curvature(self, fit: Candidate, loglik: LogLikelihood, n: float) -> np.ndarray:
        """Hessian of the mean objective at ``fit``: from the units' differenced gradients
        where the likelihood has them, else by differences of the whole gradient."""
        penalizer = float(self.penalizer)
        space = fit.space
        if isinstance(loglik, UnitLikelihood) and isinstance(space, CoefficientSpace):
            hess = penalised_hessian(loglik, space, fit.params, n, penalizer)
            if hess is not None:
                return -hess / n
        analytic = loglik(fit.params)[1] is not None
        return hessian(fit, loglik, n, penalizer, analytic=analytic)

    def _covariate_limits(self, full: SpaceFit | None) -> list[Limit]:
        """The limits the covariate model's base parameters are approaching: those near its
        estimates (a diverging fit is near the limit it heads for), all when none is near
        and it did not converge (the likelihood in the limits takes numerical gradients over
        every row, so only the plausible ones are fitted)."""
        if full is None:
            return list(self._limits)
        k = len(self._param_names)
        base = dict(zip(self._param_names, full[0].params[:k], strict=True))
        near = [limit for limit in self._limits if limit.near(base)]
        return near if near or full[0].converged else list(self._limits)

    def _embedded(self, fit: SpaceFit, p: int) -> SpaceFit:
        """A limit's covariate fit as a full-model point next to it (its ``embed``), with
        the same coefficients: where a simpler limit's fit starts."""
        found, _, links, limit = fit
        if limit is None:  # the full model is its own point
            return fit
        base, coefs = self._split(found.params, tuple(links), p, len(limit.params))
        near = limit.embed(dict(zip(limit.params, base, strict=True)))
        params = np.concatenate([[near[name] for name in self._param_names], *coefs.values()])
        return dataclasses.replace(found, params=params), None, links, None

    def _fit_limit_space(
        self,
        limit: Limit,
        full: SpaceFit | None,
        processes: Sequence[str],
        patterns: np.ndarray,
        rows: FitData,
        encoding: CovariateEncoding,
        n: float,
    ) -> SpaceFit | None:
        """A limit model with the coefficients of the processes it keeps (``None`` when it
        keeps none: it is then the plain limit, which the plain fit covers)."""
        links = {p: v for p, v in self._links_of(limit.params).items() if p in processes}
        if not links:
            return None
        k, p = len(self._param_names), len(encoding.names)
        source = full[0].params if full is not None else np.ones(k + p * len(processes))
        base = dict(zip(self._param_names, source[:k], strict=True))
        begin = limit.start(base)
        start = np.array([begin[name] for name in limit.params], dtype=float)
        space = ParameterSpace(limit.params, limit.probabilities)
        start = np.where(
            space.is_probability, np.clip(start, 1e-6, 1 - 1e-6), np.clip(start, 1e-8, 1e8)
        )
        coefs = {}
        if full is not None:
            coefs = self._split(full[0].params, tuple(full[2]), p, k)[1]
        return self._fit_space(
            limit.params,
            limit.probabilities,
            links,
            limit,
            patterns,
            rows,
            encoding,
            n,
            start,
            {proc: coefs[proc] for proc in links if proc in coefs},
        )

    def _set_covariate_fit(
        self,
        fit: Candidate,
        cov: np.ndarray | None,
        limit: Limit | None,
        full_ll: float,
        n_rows: int,
        plain: FitData,
    ) -> None:
        k = _base_size(fit)
        names = fit.space.names[:k]
        base = fit.params[:k]
        converged, message = fit.converged, fit.message or "converged"
        if cov is None and converged:
            converged = False
            message = "the observed information matrix is not finite or not positive definite"
        test = None
        if limit is not None:
            statistic = max(0.0, 2.0 * (full_ll - fit.log_likelihood))
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
        self.params_ = {nm: float(v) for nm, v in zip(names, base, strict=True)}
        self.log_likelihood_ = float(fit.log_likelihood)
        self.time_unit_ = plain.time_unit
        self.training_data_ = plain.training
        n_params = len(fit.params)
        sub = None if cov is None else cov[:k, :k]
        space = ParameterSpace(names, fit.space.probabilities)
        self.result_ = FitResult(
            model=self._model_name,
            fitter=type(self).__name__,
            params=estimates(space, base, sub, self.conf_level),
            log_likelihood=self.log_likelihood_,
            aic=2.0 * n_params - 2.0 * self.log_likelihood_,
            bic=n_params * math.log(max(plain.n_customers, 1)) - 2.0 * self.log_likelihood_,
            n_customers=plain.n_customers,
            n_unique_rows=n_rows,
            converged=converged,
            message=message,
            iterations=fit.iterations,
            time_unit=plain.time_unit,
            conf_level=float(self.conf_level),
            penalizer=float(self.penalizer),
            boundary=[] if limit is None else [limit.name],
            limit_test=test,
            # the base block: its draws alone describe the reference customer only
            covariance=FitResult.natural_covariance(space, base, sub),
        )

    def _coefficient_rows(
        self, fit: Candidate, cov: np.ndarray | None, k: int
    ) -> list[dict[str, Any]]:
        z = normal_quantile(self.conf_level)
        rows = []
        for i, name in enumerate(fit.space.names[k:], start=k):
            proc, covariate = name.split(":", 1)
            est = float(fit.params[i])
            se = None if cov is None else math.sqrt(float(cov[i, i]))
            rows.append(
                {
                    "process": proc,
                    "covariate": covariate,
                    "estimate": est,
                    "std_error": se,
                    "lower": None if se is None else est - z * se,
                    "upper": None if se is None else est + z * se,
                }
            )
        return rows

    def _warn_if_unconverged(self, patterns: np.ndarray) -> None:
        converged = self.result_.converged and self._patterns_finite(patterns)
        if not converged:
            message = self.result_.message
            if self.result_.converged:
                message = "the predictions at the estimates are not finite"
            self.result_ = self.result_.model_copy(update={"converged": False, "message": message})
            warnings.warn(
                f"{type(self).__name__}: {message}; the estimates are not trustworthy. " + REMEDIES,
                ConvergenceWarning,
                stacklevel=4,
            )

    def _patterns_finite(self, patterns: np.ndarray) -> bool:
        """Whether the model's predictions are finite at every training covariate pattern
        (the distinct rows of the training design, found once by the fit)."""
        return all(self._at(z, None)._predictions_finite() for z in patterns)
