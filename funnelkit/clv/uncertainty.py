"""How sure are we about each customer: purchase-count distributions and intervals.

Three calls on every purchase model (BG/NBD, MBG/NBD, Pareto/NBD, BG/BB):

* :meth:`~CustomerUncertainty.conditional_probability_of_purchases`:
  ``P(X(T, T + t) = n | x, t_x, T)``, the distribution of a customer's purchase count in the
  next ``t`` (see :mod:`funnelkit.clv.conditional` for the formulas);
* :meth:`~CustomerUncertainty.prediction_interval`: per-customer lower and upper purchase
  counts, combining that distribution with the uncertainty of the fitted parameters;
* :meth:`~CustomerUncertainty.probability_alive_interval`: an interval for P(alive).

Parameter uncertainty comes from draws of the parameters from their fitted (asymptotic
normal) distribution, on the scale the fit works on (``log`` of positive parameters,
``logit`` of probabilities), with the inverse observed information as covariance
(``result_.covariance``). Draws, not a bootstrap: a refit per replicate would cost hundreds of
fits, while the draws reuse the one fit and keep every parameter in its range. The count
interval takes quantiles of the mixture of the conditional pmf over the draws, i.e. of the
posterior predictive distribution under a flat prior (approximately).

A model fitted with covariates answers each call for each customer's own parameters (given
with ``covariates=``, as in its other predictions). Its draws are joint over the base
parameters and the coefficients (their full covariance is kept with the covariate state),
and each draw is mapped to every customer's parameters through the model's log-linear link.
"""

from __future__ import annotations

import warnings
from abc import abstractmethod
from collections.abc import Mapping
from typing import Any, NoReturn

import numpy as np

from funnelkit._frames import Backend, frame_from_columns
from funnelkit.clv._calls import horizon_of, is_customer_data
from funnelkit.clv._data import as_horizon, whole_counts
from funnelkit.clv._uncertainty_tools import (
    count_bounds,
    customer_ids,
    distinct_rows,
    draw_parameters,
    interval_level,
    resample_count,
)
from funnelkit.exceptions import FunnelkitError, StatisticalWarning

__all__ = [
    "CustomerUncertainty",
    "customer_ids",
    "draw_parameters",
    "interval_level",
    "resample_count",
]

_FORM = "conditional_probability_of_purchases(horizon=10.0, data=customers, n=0)"
Params = Mapping[str, Any]


class CustomerUncertainty:
    """Per-customer uncertainty calls of a purchase model.

    A model family implements ``_conditional_pmf(n, horizon, columns, params)`` and
    ``_alive_probability(columns, params)``, where ``params`` maps each parameter name to a
    number or to one value per customer.
    """

    @abstractmethod
    def _conditional_pmf(
        self, n: np.ndarray, horizon: np.ndarray, columns: Params, params: Params
    ) -> np.ndarray:
        """``P(X(T, T + horizon) = n | history)`` with the given parameters."""

    @abstractmethod
    def _alive_probability(self, columns: Params, params: Params) -> np.ndarray:
        """P(alive at ``T`` | history) with the given parameters."""

    #: whether conditional_probability_of_purchases evaluates customers alike in history,
    #: horizon and covariates once: worth it where the pmf costs more than finding them
    _pmf_shares_rows = False

    def _checked_horizon(self, horizon: np.ndarray) -> np.ndarray:
        return horizon

    def _conditional_pmf_grid(
        self, width: int, horizon: np.ndarray, columns: Params, params: Params
    ) -> np.ndarray:
        """The pmf of the counts ``0 .. width - 1``, shape ``(width, customers)``."""
        grid = np.arange(width, dtype=float)[:, None]
        return self._conditional_pmf(grid, horizon, columns, params)

    # ------------------------------------------------------------------ parameters
    def _design_or_none(self, data: Any, covariates: Any, n: int) -> np.ndarray | None:
        """Each customer's covariate design row, ``None`` for a model without covariates
        (which refuses ``covariates=``, like its other predictions)."""
        if not self._covariate_route(covariates):  # type: ignore[attr-defined]
            return None
        # only a CovariatePredictions fitter routes by covariates
        return np.asarray(self._customer_design(data, covariates, n))  # type: ignore[attr-defined]

    def _draw_params(self, draw: Mapping[str, float], design: np.ndarray | None) -> dict[str, Any]:
        """The parameters of ``draw`` for customers with ``design`` rows (per customer with
        covariates, the draw's own numbers without)."""
        if design is None:
            return {k: draw[k] for k in self.params_}  # type: ignore[attr-defined]
        return dict(self._params_at(draw, design))  # type: ignore[attr-defined]

    def _point(self) -> dict[str, float]:
        """The estimates as one draw (with the coefficients for a model with covariates)."""
        self._check_fitted()  # type: ignore[attr-defined]
        if self._has_covariates():
            return dict(self._point_draw())  # type: ignore[attr-defined]
        return dict(self.params_)  # type: ignore[attr-defined]

    def _has_covariates(self) -> bool:
        fit_of = getattr(self, "_covariate_fit", None)
        return fit_of is not None and fit_of() is not None

    def _probability_names(self) -> tuple[str, ...]:
        """Parameters that are probabilities (those of a limit model at the boundary)."""
        boundary = self.result_.boundary  # type: ignore[attr-defined]
        for limit in self._limits:  # type: ignore[attr-defined]
            if boundary and limit.name == boundary[0]:
                return tuple(limit.probabilities)
        return ()

    def parameter_draws(
        self, n_resamples: int = 200, *, seed: int | np.random.Generator | None = 0
    ) -> list[dict[str, float]]:
        """Parameter sets drawn from the fitted model's asymptotic normal distribution.

        Normal on the log scale (logit for probabilities) with the inverse observed
        information (``result_.covariance``) as covariance: what the intervals of this
        module average over. For a model fitted with covariates the draws are joint over
        the base parameters and the coefficients (whose covariance the model keeps with its
        covariate state): each draw holds the base parameters (those of the reference
        customer) and the coefficients, named ``"process:covariate"`` as in
        :attr:`coefficients_` and drawn on their own scale, and gives every customer their
        parameters through the model's log-linear link. Raises a
        :class:`~funnelkit.exceptions.FunnelkitError` when the fit has no covariance
        (information matrix not positive definite, or a model loaded from a document written
        before the covariance was stored).

        Examples
        --------
        >>> from funnelkit.clv import BetaGeoFitter
        >>> from funnelkit.datasets.btyd import simulate_bgnbd
        >>> model = BetaGeoFitter().fit(simulate_bgnbd(2000, T=52.0, seed=1).rfm)
        >>> draws = model.parameter_draws(3, seed=0)
        >>> len(draws), sorted(draws[0])
        (3, ['a', 'alpha', 'b', 'r'])
        """
        self._check_fitted()  # type: ignore[attr-defined]
        if self._has_covariates():
            from funnelkit.clv._covariate_predict import CovariatePredictions

            return CovariatePredictions.parameter_draws(self, n_resamples, seed=seed)  # type: ignore[arg-type]
        count = resample_count(n_resamples)
        covariance = self.result_.covariance  # type: ignore[attr-defined]
        if covariance is None:
            raise FunnelkitError(
                f"This {type(self).__name__} has no parameter covariance (the observed "
                "information was not positive definite, or the model was loaded from a "
                "document written without it), so parameter uncertainty cannot be drawn: "
                "refit the model (a small penalizer helps an ill-conditioned fit)."
            )
        return draw_parameters(
            self.params_,  # type: ignore[attr-defined]
            covariance,
            self._probability_names(),
            count,
            seed,
        )

    # ------------------------------------------------------------------ public calls
    def conditional_probability_of_purchases(
        self,
        *args: Any,
        n: Any = None,
        horizon: Any = None,
        data: Any = None,
        t: Any = None,
        future_t: Any = None,
        covariates: Any = None,
    ) -> np.ndarray:
        """``P(X(T, T + horizon) = n | x, t_x, T)``: probability of exactly ``n`` purchases.

        The distribution of each customer's purchase count in the next ``horizon`` given
        their history; ``n=0`` is the probability of no purchase. Its mean over ``n`` is
        :meth:`expected_purchases`. Formulas in :mod:`funnelkit.clv.conditional` (Fader,
        Hardie & Lee's notes on the conditional pmf; Fader, Hardie & Shang 2010 for BG/BB).
        These calls are the same::

            model.conditional_probability_of_purchases(horizon=10.0, data=rfm, n=0)
            model.conditional_probability_of_purchases(10.0, rfm, n=0)   # horizon, data
            model.conditional_probability_of_purchases(10.0, n=0)        # training customers
            model.conditional_probability_of_purchases(t=10.0, data=rfm, n=0)

        Parameters
        ----------
        n
            Purchase count(s): whole numbers >= 0, one for all customers, one per customer,
            or a column ``(k, 1)`` for a counts-by-customers grid.
        horizon
            Time ahead in the fitted unit (whole transaction opportunities for BG/BB): one
            number or one per customer. ``t`` and ``future_t`` are aliases.
        data
            Customers: an :class:`~funnelkit.RFM`, a frame or a mapping with ``frequency``,
            ``recency`` and ``T``; ``None`` = the training customers.
        covariates
            For a model fitted with covariates: one row per customer of ``data`` (a frame
            with ``customer_id`` joined on the data's ids, or a mapping of arrays in their
            order), as in :meth:`expected_purchases`; ``data=None`` = the training
            customers' own covariates. Each customer's pmf is at their own parameters.

        Returns
        -------
        numpy.ndarray
            One probability per customer (per count and customer for a column of ``n``).

        Examples
        --------
        >>> import numpy as np
        >>> from funnelkit.clv import BetaGeoFitter
        >>> from funnelkit.datasets.btyd import simulate_bgnbd
        >>> model = BetaGeoFitter().fit(simulate_bgnbd(2000, T=52.0, seed=1).rfm)
        >>> pmf = model.conditional_probability_of_purchases(10.0, n=np.arange(200)[:, None])
        >>> bool(np.allclose(pmf.sum(axis=0), 1.0))
        True
        >>> mean = (np.arange(200)[:, None] * pmf).sum(axis=0)
        >>> bool(np.allclose(mean, model.expected_purchases(10.0)))
        True
        """
        given = horizon_of(
            "conditional_probability_of_purchases", _FORM, horizon=horizon, t=t, future_t=future_t
        )
        if len(args) > 2:
            _refuse(f"{len(args)} positional arguments")
        if args and is_customer_data(args[0]):
            _refuse("customers as the first positional argument (positional: horizon, data)")
        if args:
            if given is not None:
                _refuse("a positional horizon and a horizon keyword")
            given = args[0]
        if len(args) == 2:
            if data is not None:
                _refuse("customers both positionally and as data=")
            data = args[1]
        if given is None or n is None:
            _refuse("no horizon" if given is None else "no n (the purchase count asked about)")
        if is_customer_data(given) or is_customer_data(n):
            _refuse("customers where the horizon or n belongs")
        columns = self._data_for_prediction(data)  # type: ignore[attr-defined]
        customers = columns["frequency"].shape[0]
        count = whole_counts(n)
        try:
            np.broadcast_shapes(count.shape, (customers,))
        except ValueError:
            raise FunnelkitError(
                f"n has shape {count.shape} but there are {customers} customers: give one "
                "count for all of them, one per customer, or a column of counts (shape "
                "(k, 1)) for a k-by-customers grid."
            ) from None
        span = self._checked_horizon(as_horizon(given, customers=customers))
        if span.ndim > 1:
            raise FunnelkitError(
                f"horizon has shape {span.shape}: give one horizon, or one per customer; "
                "a grid of counts goes in n (a column of counts)."
            )
        design = self._design_or_none(data, covariates, customers)
        if not self._pmf_shares_rows or (count.ndim and count.shape[-1] == customers > 1):
            # a pmf as cheap as finding the distinct rows, or a count per customer
            params = self._draw_params(self._point(), design)
            return self._conditional_pmf(count, span, columns, params)
        # customers alike in history, horizon and covariate pattern share their pmf
        unique, inverse, rows, patterns = distinct_rows(
            columns, [np.broadcast_to(span, (customers,))], design
        )
        params = self._draw_params(self._point(), patterns)
        value = self._conditional_pmf(count, unique[:, 3], rows, params)
        return np.asarray(np.take(value, inverse, axis=-1))

    def prediction_interval(
        self,
        *args: Any,
        horizon: Any = None,
        data: Any = None,
        t: Any = None,
        future_t: Any = None,
        covariates: Any = None,
        conf_level: float = 0.9,
        n_resamples: int = 200,
        n_draws: int | None = None,
        seed: int | np.random.Generator | None = 0,
        backend: Backend = "pandas",
    ) -> Any:
        """Per-customer interval for the number of purchases in the next ``horizon``.

        ``lower`` and ``upper`` are whole purchase counts from the customer's predictive
        distribution, which mixes the conditional pmf
        (:meth:`conditional_probability_of_purchases`, the purchase process) over
        ``n_resamples`` parameter draws from the fit (the parameter uncertainty; see
        :meth:`parameter_draws` and the module docstring for why draws, not a bootstrap).
        ``lower`` is its ``(1 - conf_level) / 2`` quantile and ``upper`` the smallest count
        that makes ``[lower, upper]`` hold at least ``conf_level``: when ``lower`` is 0 the
        unused lower tail goes to the upper bound instead of widening the interval.
        ``coverage`` is the probability of ``[lower, upper]`` under that distribution.
        Counts are whole numbers, so ``coverage`` exceeds ``conf_level`` where counts are
        small: a customer who will most likely not buy (P(0) above ``conf_level``) gets
        ``[0, 0]`` with coverage P(0). Across customers, the share of realised counts inside
        their intervals estimates the mean ``coverage``, not ``conf_level``.
        ``estimate`` is :meth:`expected_purchases`. When the fit has no covariance the
        parameters are taken as known, with a
        :class:`~funnelkit.exceptions.StatisticalWarning`.

        Parameters
        ----------
        horizon
            Time ahead in the fitted unit (whole transaction opportunities for BG/BB): one
            number or one per customer. ``t`` and ``future_t`` are aliases; positional
            arguments are ``(horizon, data)``.
        data
            Customers (RFM, frame with an optional ``customer_id`` column, or mapping);
            ``None`` = the training customers.
        covariates
            For a model fitted with covariates, each customer's covariates (as in
            :meth:`conditional_probability_of_purchases`); the draws are then joint over
            the base parameters and the coefficients (:meth:`parameter_draws`).
        conf_level
            Probability the interval is meant to hold.
        n_resamples
            Parameter draws (``n_draws`` is an alias).
        seed
            Seed of the draws (an int, a numpy Generator, or ``None`` for fresh entropy).
        backend
            ``"pandas"``, ``"polars"`` or ``"pyarrow"``.

        Returns
        -------
        frame
            ``customer_id`` (when the data carry ids), ``estimate``, ``lower``, ``upper``
            (integers) and ``coverage``.

        Examples
        --------
        >>> from funnelkit.clv import BetaGeoFitter
        >>> from funnelkit.datasets.btyd import simulate_bgnbd
        >>> sim = simulate_bgnbd(2000, T=52.0, holdout=26.0, seed=1)
        >>> model = BetaGeoFitter().fit(sim.rfm)
        >>> table = model.prediction_interval(26.0, sim.rfm, conf_level=0.9)
        >>> list(table.columns)
        ['customer_id', 'estimate', 'lower', 'upper', 'coverage']
        >>> bool((table.coverage >= 0.9).all())
        True
        >>> held = sim.rfm.holdout_frequency
        >>> inside = (table.lower <= held) & (held <= table.upper)
        >>> bool(abs(inside.mean() - table.coverage.mean()) < 0.02)
        True
        """
        owner = f"{type(self).__name__}.prediction_interval"
        level = interval_level(conf_level, owner)
        count = resample_count(n_resamples, n_draws)
        given = horizon_of("prediction_interval", _FORM, horizon=horizon, t=t, future_t=future_t)
        given, data = _horizon_and_data("prediction_interval", args, given, data)
        columns = self._data_for_prediction(data)  # type: ignore[attr-defined]
        customers = columns["frequency"].shape[0]
        span = self._checked_horizon(as_horizon(given, customers=customers))
        if span.ndim > 1:
            raise FunnelkitError(
                f"horizon has shape {span.shape}: give one horizon, or one per customer."
            )
        design = self._design_or_none(data, covariates, customers)
        estimate = self.expected_purchases(  # type: ignore[attr-defined]
            horizon=span, data=data, covariates=covariates
        )
        draws = self._draws_or_point(count, seed, owner)
        # customers alike in history, horizon and covariate pattern share their interval
        unique, inverse, rows, patterns = distinct_rows(
            columns, [np.broadcast_to(span, (customers,))], design
        )
        # the expectation depends on nothing but the row, so any customer's copy will do
        row_mean = np.zeros(unique.shape[0])
        row_mean[inverse] = estimate

        def mixed_grid(width: int, idx: np.ndarray, batch: list[dict[str, Any]]) -> np.ndarray:
            # the draws of a batch side by side as columns of one grid: each column holds its
            # row's history and its draw's parameters, so one call serves them all
            reps = len(batch)
            pattern = None if patterns is None else patterns[idx]
            each = [self._draw_params(draw, pattern) for draw in batch]
            if pattern is None:  # one number per draw
                params = {
                    k: np.repeat(np.array([p[k] for p in each], dtype=float), idx.size)
                    for k in each[0]
                }
            else:
                params = {k: np.concatenate([p[k] for p in each]) for k in each[0]}
            grid = self._conditional_pmf_grid(
                width,
                np.tile(unique[idx, 3], reps),
                {k: np.tile(v[idx], reps) for k, v in rows.items()},
                params,
            )
            return np.asarray(grid.reshape(width, reps, idx.size).sum(axis=1))

        lower, upper, coverage = count_bounds(mixed_grid, draws, row_mean, level)
        out = {
            "estimate": np.asarray(estimate, dtype=float),
            "lower": lower[inverse].astype(np.int64),
            "upper": upper[inverse].astype(np.int64),
            "coverage": coverage[inverse],
        }
        return self._table(data, out, level, backend)

    def probability_alive_interval(
        self,
        data: Any = None,
        *,
        covariates: Any = None,
        conf_level: float = 0.9,
        n_resamples: int = 200,
        n_draws: int | None = None,
        seed: int | np.random.Generator | None = 0,
        backend: Backend = "pandas",
    ) -> Any:
        """Per-customer interval for P(alive at the end of observation).

        ``estimate`` is :meth:`probability_alive`; ``lower`` and ``upper`` are the
        ``(1 -/+ conf_level) / 2`` quantiles of P(alive) over ``n_resamples`` parameter draws
        from the fit (:meth:`parameter_draws`), widened to contain the estimate. It says how
        well the data pin down each customer's P(alive), not whether they are alive: that
        is the probability itself. Raises a :class:`~funnelkit.exceptions.FunnelkitError`
        when the fit has no covariance.

        Parameters
        ----------
        data
            Customers (RFM, frame or mapping); ``None`` = the training customers.
        covariates
            For a model fitted with covariates, each customer's covariates (as in
            :meth:`prediction_interval`).
        conf_level, n_resamples, seed, backend
            As in :meth:`prediction_interval` (``n_draws`` is an alias of ``n_resamples``).

        Examples
        --------
        >>> from funnelkit.clv import BetaGeoFitter
        >>> from funnelkit.datasets.btyd import simulate_bgnbd
        >>> sim = simulate_bgnbd(2000, T=52.0, seed=1)
        >>> table = BetaGeoFitter().fit(sim.rfm).probability_alive_interval(sim.rfm)
        >>> bool(((table.lower <= table.estimate) & (table.estimate <= table.upper)).all())
        True
        """
        owner = f"{type(self).__name__}.probability_alive_interval"
        level = interval_level(conf_level, owner)
        count = resample_count(n_resamples, n_draws)
        columns = self._data_for_prediction(data)  # type: ignore[attr-defined]
        design = self._design_or_none(data, covariates, columns["frequency"].shape[0])
        if design is None:
            alive_now = self.probability_alive(data)  # type: ignore[attr-defined]
        else:
            alive_now = self.probability_alive(data, covariates=covariates)  # type: ignore[attr-defined]
        estimate = np.asarray(alive_now, dtype=float)
        draws = self.parameter_draws(count, seed=seed)
        _, inverse, rows, patterns = distinct_rows(columns, [], design)
        values = np.stack(
            [self._alive_probability(rows, self._draw_params(p, patterns)) for p in draws]
        )
        bounds = np.quantile(values, [(1.0 - level) / 2.0, (1.0 + level) / 2.0], axis=0)
        out = {
            "estimate": estimate,
            "lower": np.minimum(bounds[0][inverse], estimate),
            "upper": np.maximum(bounds[1][inverse], estimate),
        }
        return self._table(data, out, level, backend)

    def conditional_probability_of_n_purchases_up_to_time(
        self, n: Any, t: Any, frequency: Any, recency: Any, T: Any
    ) -> np.ndarray:
        """lifetimes' name and argument order for
        :meth:`conditional_probability_of_purchases` (``n, t, frequency, recency, T``)."""
        columns = {"frequency": frequency, "recency": recency, "T": T}
        arrays = {k: np.atleast_1d(np.asarray(v, dtype=float)) for k, v in columns.items()}
        value = self.conditional_probability_of_purchases(horizon=t, data=arrays, n=n)
        return value if np.ndim(frequency) else np.asarray(value.reshape(-1)[0])

    # ------------------------------------------------------------------ helpers
    def _draws_or_point(
        self, count: int, seed: int | np.random.Generator | None, owner: str
    ) -> list[dict[str, Any]]:
        if self._has_covariates():
            covariance = self._covariate_fit().covariance  # type: ignore[attr-defined]
        else:
            covariance = self.result_.covariance  # type: ignore[attr-defined]
        if covariance is None:
            warnings.warn(
                f"{owner}: the fit has no parameter covariance, so the interval covers the "
                "purchase process only (parameters taken as known) and is too narrow; refit "
                "the model to include parameter uncertainty.",
                StatisticalWarning,
                stacklevel=3,
            )
            return [self._point()]
        return self.parameter_draws(count, seed=seed)

    def _table(
        self, data: Any, columns: dict[str, np.ndarray], level: float, backend: Backend
    ) -> Any:
        ids = customer_ids(data, getattr(self, "time_unit_", None))
        ordered = ({"customer_id": ids} if ids is not None else {}) | columns
        frame = frame_from_columns(ordered, backend)
        if backend == "pandas":
            frame.attrs["conf_level"] = level
        return frame


def _horizon_and_data(method: str, args: tuple[Any, ...], given: Any, data: Any) -> tuple[Any, Any]:
    """Positional ``(horizon, data)`` merged with the keywords."""
    form = f"{method}(horizon=10.0, data=customers)"

    def refuse(what: str) -> NoReturn:
        raise FunnelkitError(
            f"{method} got {what}. Call it with keywords: {form} (t= and future_t= are "
            "aliases of horizon=; positional arguments are (horizon, data))."
        )

    if len(args) > 2:
        refuse(f"{len(args)} positional arguments")
    if args:
        if is_customer_data(args[0]):
            refuse("customers where the horizon belongs")
        if given is not None:
            refuse("a positional horizon and a horizon keyword")
        given = args[0]
    if len(args) == 2:
        if data is not None:
            refuse("customers both positionally and as data=")
        data = args[1]
    if given is None:
        refuse("no horizon")
    return given, data


def _refuse(what: str) -> NoReturn:
    raise FunnelkitError(
        f"conditional_probability_of_purchases got {what}. Call it with keywords: {_FORM} "
        "(positional arguments are (horizon, data); t= and future_t= are aliases of horizon=; "
        "lifetimes' conditional_probability_of_n_purchases_up_to_time(n, t, frequency, "
        "recency, T) is also available)."
    )
