"""A fitter's covariate state (table, HTML, JSON) and its predictions per customer.

Customers are grouped by covariate pattern; each pattern is predicted by a copy of the
model at that pattern's parameters, with the model's own formulas (limit models included),
and the results are assembled per customer. :meth:`CovariatePredictions._customer_params`
gives the per-customer natural parameters to other code.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar, NoReturn, TypeVar

import numpy as np
from scipy.special import expit, logit

from funnelkit._frames import Backend
from funnelkit._results import html_table
from funnelkit.clv._base import MLEFitter
from funnelkit.clv._data import as_rfm
from funnelkit.clv._uncertainty_tools import draw_parameters, resample_count
from funnelkit.clv.covariates import CovariateFit, coefficient_frame, unique_patterns
from funnelkit.exceptions import FunnelkitError, MissingDependencyError

__all__ = ["CovariatePredictions"]

P = TypeVar("P", bound="CovariatePredictions")


class CovariatePredictions(MLEFitter):
    """Covariate state and prediction routing of a fitter with covariates (the fitting
    half is :class:`~funnelkit.clv._covariate_model.CovariateModel`)."""

    #: process -> ((parameter, sign), ...): theta_i = theta · exp(sign · gamma' z_i)
    _covariate_links: ClassVar[dict[str, tuple[tuple[str, int], ...]]] = {}
    _state_keys: ClassVar[frozenset[str]] = frozenset({"covariates"})

    def _covariate_fit(self) -> CovariateFit | None:
        found = self.__dict__.get("_covariates")
        return found if isinstance(found, CovariateFit) else None

    #: a parameter of the full model -> its counterparts in the limit models, each with the
    #: factor of the sign: ``alpha -> lambda`` (``lambda = r / alpha``), ``beta -> mu``,
    #: ``v -> nu`` and ``v -> s``
    _limit_links: ClassVar[dict[str, tuple[tuple[str, int], ...]]] = {}

    def _links_of(self, names: Sequence[str]) -> dict[str, tuple[tuple[str, int], ...]]:
        """The covariate links of a parameter set (the full model's or a limit's): a link
        to a parameter the set lacks moves to its counterpart, or is dropped."""
        out = {}
        for proc, links in self._covariate_links.items():
            kept = []
            for name, sign in links:
                if name in names:
                    kept.append((name, sign))
                    continue
                for other, factor in self._limit_links.get(name, ()):
                    if other in names:
                        kept.append((other, sign * factor))
            if kept:
                out[proc] = tuple(kept)
        return out

    @staticmethod
    def _natural(
        base: np.ndarray,
        coefs: Mapping[str, np.ndarray],
        design: np.ndarray,
        names: Sequence[str],
        links: Mapping[str, Sequence[tuple[str, int]]],
        probabilities: Sequence[str] = (),
    ) -> np.ndarray:
        """Per-pattern natural parameters ``names``, shape ``(n_params, n_patterns)``.

        A link scales a positive parameter by ``exp(sign * eta)``, and the odds of one of
        the ``probabilities`` (a limit's dropout probability: the full model's effect on
        the odds ``a / b_i`` carries over unchanged).
        """
        out = np.repeat(np.asarray(base, dtype=float)[:, None], design.shape[0], axis=1)
        index = {nm: i for i, nm in enumerate(names)}
        odds = [index[nm] for nm in probabilities if nm in index]
        out[odds] = logit(out[odds])
        for proc, gamma in coefs.items():
            eta = design @ gamma
            for name, sign in links[proc]:
                if index[name] in odds:
                    out[index[name]] += sign * eta
                else:
                    out[index[name]] *= np.exp(sign * eta)
        out[odds] = expit(out[odds])
        return out

    def _patterns_natural(self, fit: CovariateFit, design: np.ndarray) -> dict[str, np.ndarray]:
        names = tuple(self.params_)
        base = np.array([self.params_[k] for k in names])
        nat = self._natural(
            base, fit.coefficients, design, names, fit.links, self._probability_names()
        )
        return {nm: nat[i] for i, nm in enumerate(names)}

    # ------------------------------------------------------------------ fitted attributes
    def coefficient_table(self, backend: Backend = "pandas") -> Any:
        """:attr:`coefficients_` as a ``backend`` frame (``pandas``, ``polars``, ``pyarrow``)."""
        return coefficient_frame(self.coefficient_rows(), float(self.conf_level), backend)

    def coefficient_rows(self) -> list[dict[str, Any]]:
        """:attr:`coefficients_` as plain rows (``process, covariate, estimate, std_error,
        lower, upper``; None where not estimable), for callers without a frame library."""
        self._check_fitted()
        fit = self._covariate_fit()
        if fit is None:
            raise FunnelkitError(
                f"This {type(self).__name__} was fitted without covariates: fit(data, "
                "covariates=...) to estimate covariate effects."
            )
        return [dict(row) for row in fit.rows]

    def __repr__(self) -> str:
        text = super().__repr__()
        fit = self._covariate_fit()
        if fit is None or not self.is_fitted:
            return text
        return f"{text[:-1]}; {len(fit.rows)} covariate effects>"

    def _fitted_html(self) -> str | None:
        body = super()._fitted_html()
        fit = self._covariate_fit()
        if fit is None or body is None:
            return body
        refs = ", ".join(
            f"{c.name} = {c.reference}" for c in fit.encoding.columns if c.kind == "categorical"
        )
        caption = "Covariate effects (log scale" + (f"; reference {refs})" if refs else ")")
        test = fit.test
        rows: list[Mapping[str, Any]] = list(fit.rows)
        return (
            body
            + html_table(rows, caption=caption)
            + html_table(
                {
                    "statistic": round(test.statistic, 4),
                    "df": test.df,
                    "p_value": test.p_value,
                },
                caption="Likelihood-ratio test against the model without covariates",
            )
        )

    def _extra_state(self) -> dict[str, Any]:
        fit = self._covariate_fit()
        return {} if fit is None else {"covariates": fit.state()}

    def _restore_extra_state(self, state: Mapping[str, Any]) -> None:
        found = state.get("covariates")
        self._set_covariates(None if found is None else CovariateFit.from_state(found), None)

    def _set_covariates(self, fit: CovariateFit | None, design: np.ndarray | None) -> None:
        """Set the covariate state and its public attributes: ``coefficients_`` (a table in
        the library the covariates came in, ``None`` without covariates),
        ``covariate_columns_`` (the input columns predictions need, ``None`` without
        covariates) and ``covariate_test_``
        (:class:`~funnelkit.clv.covariates.CovariateTest` or ``None``)."""
        self.__dict__["_covariates"] = fit
        self.__dict__["_training_design"] = design
        self.coefficients_ = None if fit is None else self._first_table(fit)
        self.covariate_columns_ = (
            None if fit is None else tuple(col.name for col in fit.encoding.columns)
        )
        self.covariate_test_ = None if fit is None else fit.test

    def _first_table(self, fit: CovariateFit) -> Any:
        # the caller's library first; a model loaded where it is missing uses another one
        order = [fit.backend] + [b for b in ("pandas", "polars", "pyarrow") if b != fit.backend]
        for backend in order[:-1]:
            try:
                return coefficient_frame(fit.rows, float(self.conf_level), backend)
            except MissingDependencyError:
                continue
        return coefficient_frame(fit.rows, float(self.conf_level), order[-1])

    def _prediction_ids(self, data: Any) -> np.ndarray | None:
        """Customer ids of prediction data (to join a covariate frame on)."""
        return np.asarray(as_rfm(data, None, self.time_unit_).customer_ids)

    # ------------------------------------------------------------------ predictions
    def _customer_params(
        self, covariates: Any, n: int, *, ids: np.ndarray | None = None
    ) -> dict[str, np.ndarray]:
        """Per-customer natural parameters ``{name: array (n,)}`` for ``n`` customers.

        ``covariates`` as in :meth:`fit` (keyed by ``ids`` when it is a frame with a
        ``customer_id`` column); a model without covariates broadcasts its parameters.
        """
        self._check_fitted()
        fit = self._covariate_fit()
        if fit is None:
            if covariates is not None:
                self._refuse_covariates()
            return {k: np.full(n, v) for k, v in self.params_.items()}
        if covariates is None:
            self._require_covariates()
        return self._patterns_natural(fit, fit.encoding.design(covariates, ids, n))

    def _covariate_route(self, covariates: Any) -> bool:
        if self._covariate_fit() is None:
            return super()._covariate_route(covariates)
        return True

    def _require_covariates(self) -> NoReturn:
        raise FunnelkitError(
            f"This {type(self).__name__} was fitted with covariates, so its predictions "
            "depend on each customer's covariates: pass covariates=... (the same columns as "
            "at fit; one row per customer, or one row for a new-customer prediction)."
        )

    def _at(self: P, z: np.ndarray, training: Mapping[str, np.ndarray] | None) -> P:
        """A copy of the model without covariates, at the parameters of pattern ``z``."""
        fit = self._covariate_fit()
        assert fit is not None
        nat = self._patterns_natural(fit, np.asarray(z, dtype=float)[None, :])
        clone = copy.copy(self)
        clone.__dict__.update(
            params_={nm: float(v[0]) for nm, v in nat.items()},
            training_data_=training,
            _covariates=None,
            _training_design=None,
        )
        return clone

    def _profile(self: P, covariates: Any) -> P:
        """The model at one covariate profile (population-level predictions)."""
        fit = self._covariate_fit()
        assert fit is not None
        if covariates is None:
            self._require_covariates()
        return self._at(fit.encoding.design(covariates, None, 1)[0], None)

    def _predict_for(self, method: str, data: Any, covariates: Any, **kwargs: Any) -> np.ndarray:
        """``method(data=None, **kwargs)`` of each pattern's copy, assembled per customer."""
        columns = self._data_for_prediction(data)
        n = int(np.asarray(next(iter(columns.values()))).shape[0])
        design = self._customer_design(data, covariates, n)

        def call(model: CovariatePredictions, idx: np.ndarray) -> np.ndarray:
            model.training_data_ = {k: np.asarray(v)[idx] for k, v in columns.items()}
            args = {k: _customers_of(v, idx, n) for k, v in kwargs.items()}
            return np.asarray(getattr(model, method)(data=None, **args))

        return self._by_pattern(design, call)

    def _customer_design(self, data: Any, covariates: Any, n: int) -> np.ndarray:
        """Design rows of the ``n`` customers of ``data`` (``None`` = the training customers,
        whose own covariates are used when ``covariates`` is ``None``)."""
        fit = self._covariate_fit()
        assert fit is not None
        if data is None and covariates is None:
            design = self.__dict__.get("_training_design")
            if design is None:
                self._require_covariates()
            return np.asarray(design)
        if covariates is None:
            self._require_covariates()
        ids = self.__dict__.get("_training_ids") if data is None else self._prediction_ids(data)
        return fit.encoding.design(covariates, ids, n)

    def covariate_patterns(
        self: P, data: Any = None, *, covariates: Any = None
    ) -> tuple[list[P], np.ndarray]:
        """The model at each distinct covariate pattern of the customers, and each
        customer's pattern.

        Every customer of a pattern has the same parameters, so a copy of the model without
        covariates at those parameters predicts them with the plain model's formulas: this
        is how scoring and lifetime values handle covariates. A model fitted without
        covariates is its own single pattern.

        Parameters
        ----------
        data
            Customers (RFM, frame or mapping); ``None`` = the training customers.
        covariates
            One row per customer of ``data``, as in :meth:`expected_purchases`
            (``data=None`` = the training customers' own covariates).

        Returns
        -------
        tuple of (list of models, numpy.ndarray)
            The models, and the index of each customer's model (one per customer).

        Examples
        --------
        >>> from funnelkit.clv import BetaGeoFitter
        >>> from funnelkit.datasets.covariates import simulate_bgnbd_covariates
        >>> world = simulate_bgnbd_covariates(
        ...     1000, T=52.0, coefficients={"purchase": {"member[True]": 0.5}}, seed=1)
        >>> member = {"member": world.covariates["member"]}
        >>> model = BetaGeoFitter().fit(world.rfm, covariates=member)
        >>> models, index = model.covariate_patterns(world.rfm, covariates=member)
        >>> len(models), index.shape
        (2, (1000,))
        """
        self._check_fitted()
        columns = self._data_for_prediction(data)
        n = int(np.asarray(next(iter(columns.values()))).shape[0])
        if self._covariate_fit() is None:
            if covariates is not None:
                self._refuse_covariates()
            return [self], np.zeros(n, dtype=np.int64)
        design = self._customer_design(data, covariates, n)
        patterns, codes = unique_patterns(design)
        return [self._at(z, None) for z in patterns], codes

    # ------------------------------------------------------------------ parameter draws
    def _point_draw(self) -> dict[str, float]:
        """The estimates as one draw: base parameters, then the coefficients named
        ``"process:covariate"`` (as in :attr:`coefficients_`) for a model with covariates."""
        self._check_fitted()
        point = {k: float(v) for k, v in self.params_.items()}
        fit = self._covariate_fit()
        if fit is None:
            return point
        for proc in fit.links:
            for name, value in zip(fit.encoding.names, fit.coefficients[proc], strict=True):
                point[f"{proc}:{name}"] = float(value)
        return point

    def _params_at(self, draw: Mapping[str, float], design: np.ndarray | None) -> dict[str, Any]:
        """The natural parameters of a draw (:meth:`_point_draw`'s keys) for customers with
        ``design`` rows: one array per parameter, or the draw's numbers without covariates."""
        names = tuple(self.params_)
        fit = self._covariate_fit()
        if fit is None or design is None:
            return {k: draw[k] for k in names}
        base = np.array([draw[k] for k in names], dtype=float)
        coefs = {
            proc: np.array([draw[f"{proc}:{nm}"] for nm in fit.encoding.names], dtype=float)
            for proc in fit.links
        }
        design = np.asarray(design, dtype=float)
        nat = self._natural(base, coefs, design, names, fit.links, self._probability_names())
        return {nm: nat[i] for i, nm in enumerate(names)}

    def _probability_names(self) -> tuple[str, ...]:
        """Parameters that are probabilities (those of a limit model at the boundary)."""
        boundary = self.result_.boundary
        for limit in self._limits:
            if boundary and limit.name == boundary[0]:
                return tuple(limit.probabilities)
        return ()

    def parameter_draws(
        self, n_resamples: int = 200, *, seed: int | np.random.Generator | None = 0
    ) -> list[dict[str, float]]:
        """Parameter sets drawn from the fitted model's asymptotic normal distribution.

        Normal on the scale the fit works on (``log`` of positive parameters, ``logit`` of
        probabilities) with the inverse observed information as covariance. For a model
        fitted with covariates the draws are joint: each holds the base parameters (the
        reference customer's) and the coefficients, named ``"process:covariate"`` as in
        :attr:`coefficients_` (drawn on their own, log-linear, scale), so a draw gives every
        customer's parameters. Raises a :class:`~funnelkit.exceptions.FunnelkitError` when
        the fit has no covariance.

        Examples
        --------
        >>> import numpy as np
        >>> from funnelkit.clv import GammaGammaFitter
        >>> from funnelkit.datasets import load_cdnow
        >>> summary = load_cdnow()
        >>> repeat = summary[summary.frequency > 0]
        >>> member = {"member": np.where(np.arange(len(repeat)) % 2 == 0, "yes", "no")}
        >>> ggf = GammaGammaFitter().fit(repeat, covariates=member)
        >>> sorted(ggf.parameter_draws(2, seed=0)[0])
        ['p', 'q', 'spend:member[yes]', 'v']
        """
        self._check_fitted()
        count = resample_count(n_resamples)
        fit = self._covariate_fit()
        covariance = self.result_.covariance if fit is None else fit.covariance
        if covariance is None:
            raise FunnelkitError(
                f"This {type(self).__name__} has no parameter covariance (the observed "
                "information was not positive definite, or the model was loaded from a "
                "document written without it), so parameter uncertainty cannot be drawn: "
                "refit the model (a small penalizer helps an ill-conditioned fit)."
            )
        point = self._point_draw()
        return draw_parameters(
            point,
            covariance,
            self._probability_names(),
            count,
            seed,
            n_free=len(point) - len(self.params_),
        )

    def _by_pattern(
        self, design: np.ndarray, call: Callable[[Any, np.ndarray], np.ndarray]
    ) -> np.ndarray:
        """``call(model at pattern, customer indices)`` per distinct row of ``design``,
        assembled along the last (customer) axis."""
        patterns, codes = unique_patterns(design)
        out: np.ndarray | None = None
        for g in range(patterns.shape[0]):
            idx = np.flatnonzero(codes == g)
            value = call(self._at(patterns[g], None), idx)
            if out is None:
                out = np.empty((*value.shape[:-1], design.shape[0]))
            out[..., idx] = value
        assert out is not None
        return out

    def _design_for(self, covariates: Any, n: int) -> np.ndarray:
        """Design rows of ``n`` customers given in order (one row = the same profile)."""
        fit = self._covariate_fit()
        assert fit is not None
        if covariates is None:
            self._require_covariates()
        try:
            row = fit.encoding.design(covariates, None, 1)
        except FunnelkitError:
            return fit.encoding.design(covariates, None, n)
        return np.repeat(row, n, axis=0)


def _customers_of(value: Any, idx: np.ndarray, n: int) -> Any:
    """A per-customer argument (last axis of length ``n``) restricted to ``idx``."""
    arr = np.asarray(value) if not isinstance(value, str | type(None)) else None
    if arr is None or arr.ndim == 0 or arr.shape[-1] != n or arr.dtype.kind not in "iuf":
        return value
    if arr.ndim >= 2 and arr.shape[-1] == 1:
        return value
    return arr[..., idx]
