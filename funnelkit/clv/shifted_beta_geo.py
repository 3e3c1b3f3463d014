"""The shifted-beta-geometric (sBG) model of contractual retention (Fader & Hardie 2007)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
from scipy.special import expit

from funnelkit.clv._covariate_model import CovariateModel
from funnelkit.clv._data import FitData
from funnelkit.clv._mixing import DropoutMixing
from funnelkit.clv._sbg_data import (
    check_informative,
    compress,
    lifetime_columns,
    lifetime_rows,
    survivor_rows,
    whole_periods,
)
from funnelkit.clv._sbg_likelihood import (
    COMMON_CHURN,
    limit_log_likelihood,
    log_likelihood,
    log_likelihood_gradient,
    mixing,
)
from funnelkit.exceptions import DataError, FunnelkitError
from funnelkit.units import TimeUnit, TimeUnitLike

__all__ = ["ShiftedBetaGeoFitter"]


class ShiftedBetaGeoFitter(CovariateModel):
    """Shifted-beta-geometric model of contract renewals (subscriptions, memberships).

    At the end of every period an active customer churns with their own probability θ, which
    is Beta(alpha, beta) across customers. Heterogeneity makes the *aggregate* retention rate
    rise over time (the customers who churn easily leave first), which a single churn rate
    cannot capture. A customer's lifetime ``T`` (periods paid for, ``T >= 1``) then has
    ``P(T = t) = B(alpha + 1, beta + t - 1) / B(alpha, beta)`` and survival
    ``S(t) = P(T > t) = B(alpha, beta + t) / B(alpha, beta)``.

    When the data show no heterogeneity (e.g. every customer churned in the same period),
    the likelihood keeps rising as ``alpha + beta → ∞``: the fit then ends at the limit
    model with a common churn probability ``theta`` (``result_.boundary``, ``params_ =
    {"theta": ...}``), whose lifetimes are geometric: ``S(t) = (1 - theta)^t``, ``P(T = t) =
    theta (1 - theta)^(t-1)``, ``r(t) = 1 - theta``, mean lifetime ``1 / theta``, ``DEL =
    (1 + d) / (d + theta)`` (Fader & Hardie 2007, section 2, the model without
    heterogeneity). Data in which nobody churned, or everybody churned in the first period,
    put ``theta`` on 0 or 1 and are refused with an explanation.

    Fit either on individual customers (:meth:`fit`: durations and churn flags) or on the
    survivor counts of one cohort (:meth:`fit_survivors`). Periods are whole contract periods;
    ``time_unit`` optionally names their length (e.g. ``"year"``, ``"month"``), which lets
    discount rates be given in another unit.

    Parameters
    ----------
    penalizer, conf_level, initial_params, max_iter
        See :class:`~funnelkit.clv.MLEFitter`.

    Attributes
    ----------
    params_ : dict
        ``{"alpha": ..., "beta": ...}``.
    result_ : FitResult
        Estimates, standard errors, intervals, log-likelihood, AIC/BIC.
    time_unit_ : TimeUnit or None
        Length of one period, if given.

    Examples
    --------
    >>> from funnelkit.clv import ShiftedBetaGeoFitter
    >>> regular = [1000, 631, 468, 382, 326, 289, 262, 241]
    >>> sbg = ShiftedBetaGeoFitter().fit_survivors(regular, time_unit="year")
    >>> {k: round(v, 3) for k, v in sbg.params_.items()}
    {'alpha': 0.704, 'beta': 1.182}
    >>> sbg.survival_function([0, 1, 2]).round(3)
    array([1.   , 0.627, 0.474])
    >>> round(float(sbg.discounted_expected_lifetime(discount_rate=0.1)), 3)
    3.695

    References
    ----------
    Fader, P. S. & Hardie, B. G. S. (2007). How to project customer retention. *Journal of
    Interactive Marketing*, 21(1), 76-90.

    Fader, P. S. & Hardie, B. G. S. (2010). Customer-base valuation in a contractual setting:
    the perils of ignoring heterogeneity. *Marketing Science*, 29(1), 85-93.
    """

    _param_names = ("alpha", "beta")
    _model_name = "sBG"
    # beta_i = beta exp(-gamma' z_i): exp(gamma) multiplies the odds alpha / beta_i of the
    # mean churn probability
    _covariate_links: ClassVar[dict[str, tuple[tuple[str, int], ...]]] = {
        "dropout": (("beta", -1),)
    }
    _limits = (COMMON_CHURN,)

    # ------------------------------------------------------------------ fitting
    def fit(
        self,
        data: Any = None,
        *,
        durations: Any = None,
        churned: Any = None,
        weights: Any = None,
        time_unit: TimeUnitLike | None = None,
        covariates: Any = None,
    ) -> ShiftedBetaGeoFitter:
        """Fit alpha and beta on individual customers' lifetimes.

        Parameters
        ----------
        data
            Optional dataframe or mapping with ``duration`` and ``churned`` columns (and
            optionally ``customer_id``); alternatively pass the arrays as keywords.
        durations
            Whole periods per customer, each at least 1: for a churned customer the period in
            which they left (they paid for periods ``1..duration``); for an active customer the
            number of periods completed so far (they are known to outlast it).
        churned
            Boolean per customer: ``True`` = churned, ``False`` = still active (censored).
        weights
            Optional number of customers sharing each row.
        time_unit
            Length of one period (e.g. ``"year"``); optional.
        covariates
            Optional static covariates, one row per customer (a frame with ``customer_id``
            joined on the data's ids, or rows in the data's order): ``beta_i = beta
            exp(-gamma' z_i)``, so ``exp(gamma)`` multiplies the odds ``alpha / beta_i`` of
            the mean churn probability.

        Returns
        -------
        self
        """
        self._set_covariates(None, None)
        if data is not None:
            if durations is not None or churned is not None:
                raise FunnelkitError("Pass either data or durations=/churned=, not both.")
            durations, churned, ids = lifetime_columns(data)
        else:
            if durations is None or churned is None:
                raise DataError("Pass durations=... and churned=... (or a frame as data).")
            ids = None
        plain, w, order = lifetime_rows(
            durations, churned, ids, weights=weights, frame=data, time_unit=time_unit
        )
        if covariates is None:
            return self._fit_prepared(plain)
        check_informative(plain)
        return self._fit_covariates(plain, covariates, order, None, w)

    def fit_survivors(
        self, survivors: Any, *, time_unit: TimeUnitLike | None = None
    ) -> ShiftedBetaGeoFitter:
        """Fit on the survivor counts of one cohort, as in Fader & Hardie (2007).

        Parameters
        ----------
        survivors
            ``n_0, n_1, ..., n_k``: the cohort size, then how many customers are still active
            after each period. Must be non-increasing whole numbers with ``n_0 > 0``.
        time_unit
            Length of one period (e.g. ``"year"``); optional.

        Returns
        -------
        self
        """
        dur, died, lost = survivor_rows(survivors)
        self._set_covariates(None, None)
        return self._fit_prepared(compress(dur, died, lost, time_unit))

    def _fit_prepared(self, data: FitData) -> ShiftedBetaGeoFitter:
        check_informative(data)
        return super()._fit_prepared(data)

    def _fit_data(self, data: Any, **kwargs: Any) -> FitData:
        """Lifetimes (a frame or mapping with ``duration`` and ``churned``) as compressed
        rows: what :meth:`refit` reads, where the other fitters read RFM summaries."""
        durations, churned, ids = lifetime_columns(data)
        fit_data, _, _ = lifetime_rows(
            durations,
            churned,
            ids,
            weights=kwargs.get("weights"),
            frame=data,
            time_unit=kwargs.get("time_unit"),
        )
        check_informative(fit_data)
        return fit_data

    def _rows_log_likelihood(
        self, params: np.ndarray, data: FitData
    ) -> tuple[np.ndarray, np.ndarray | None]:
        # the per-row formulas are elementwise: per-row parameters broadcast through them
        return self._log_likelihood(params, data), self._log_likelihood_gradient(params, data)

    def _limit_log_likelihood(self, params: Mapping[str, float], data: FitData) -> np.ndarray:
        return limit_log_likelihood(params, data)

    def _predictions_finite(self) -> bool:
        # sBG has no expected_purchases_new_customer: probe its own curves instead
        t = np.array([1.0, 2.0, 10.0, 100.0, 1000.0])
        with np.errstate(all="ignore"):
            values = np.concatenate(
                [
                    self.survival_function(t),
                    self.churn_probability(t),
                    self.retention_rate(t),
                    [self.discounted_expected_lifetime(discount_rate=0.1)],
                    self.discounted_expected_residual_lifetime(t, discount_rate=0.1),
                ]
            )
        return bool(np.all(np.isfinite(values)))

    def _dropout(self) -> DropoutMixing:
        self._check_fitted()
        return mixing(self.params_)

    def _log_likelihood(self, params: np.ndarray, data: FitData) -> np.ndarray:
        return log_likelihood(params, data)

    def _log_likelihood_gradient(self, params: np.ndarray, data: FitData) -> np.ndarray:
        return log_likelihood_gradient(params, data)

    def _initial_params(self, data: FitData) -> np.ndarray:
        return np.array([1.0, 1.0])

    # ------------------------------------------------------------------ predictions
    def survival_function(self, t: Any, *, covariates: Any = None) -> np.ndarray:
        """``S(t)``: share of a new cohort still active after ``t`` periods (``S(0) = 1``).

        ``E[(1 - theta)^t] = B(alpha, beta + t) / B(alpha, beta)``; ``(1 - theta)^t`` for a
        common churn probability.
        """
        if self._covariate_route(covariates):
            return self._profile(covariates).survival_function(t)
        tt = whole_periods(t, "t", minimum=0)
        with np.errstate(under="ignore"):
            return np.asarray(np.exp(self._dropout().log_survive(tt)))

    def churn_probability(self, t: Any, *, covariates: Any = None) -> np.ndarray:
        """``P(T = t)``: probability that a new customer churns in period ``t`` (``t >= 1``).

        ``E[theta (1 - theta)^(t-1)]``: ``B(alpha + 1, beta + t - 1) / B(alpha, beta)``, or
        ``theta (1 - theta)^(t-1)`` for a common churn probability.
        """
        if self._covariate_route(covariates):
            return self._profile(covariates).churn_probability(t)
        tt = whole_periods(t, "t", minimum=1)
        with np.errstate(under="ignore"):
            return np.asarray(np.exp(self._dropout().log_drop_at(tt)))

    def retention_rate(self, t: Any, *, covariates: Any = None) -> np.ndarray:
        """``r(t) = S(t) / S(t - 1)``: share of period ``t - 1`` survivors renewing at ``t``.

        ``1 / (1 + P(T = t) / S(t))``: it rises with ``t``,
        ``r(t) = (beta + t - 1) / (alpha + beta + t - 1)``, and is the constant ``1 - theta``
        for a common churn probability.
        """
        if self._covariate_route(covariates):
            return self._profile(covariates).retention_rate(t)
        tt = whole_periods(t, "t", minimum=1)
        with np.errstate(divide="ignore"):
            return np.asarray(expit(-self._dropout().log_drop_odds(tt)))

    def probability_alive(
        self, renewals: Any, *, at: Any = 0, covariates: Any = None
    ) -> np.ndarray:
        """P(an active customer is still a customer ``at`` periods from now | ``renewals``).

        In a contract setting the present is observed (an active customer is alive, ``at =
        0`` gives 1); ahead, the churn probability of someone who renewed ``n`` times is
        ``Beta(alpha, beta + n)``, so ``P = E[(1 - theta)^at] = S(n + at) / S(n) =
        B(alpha, beta + n + at) / B(alpha, beta + n)``; ``(1 - theta)^at`` for a common churn
        probability.

        Parameters
        ----------
        renewals
            Renewals made so far (``n >= 0``, the ``durations`` of active customers), one
            per customer or a scalar.
        at
            Whole periods ahead (broadcasts against ``renewals``).
        covariates
            For a model fitted with covariates: one profile, or one row per customer in the
            order of ``renewals``.

        Examples
        --------
        >>> from funnelkit.clv import ShiftedBetaGeoFitter
        >>> sbg = ShiftedBetaGeoFitter().fit_survivors([1000, 631, 468, 382, 326, 289])
        >>> sbg.probability_alive([1, 5], at=1).round(3)
        array([0.753, 0.894])
        """
        n = whole_periods(renewals, "renewals", minimum=0)
        ahead = whole_periods(at, "at", minimum=0)
        try:
            np.broadcast_shapes(n.shape, ahead.shape)
        except ValueError:
            raise FunnelkitError(
                f"renewals has shape {n.shape} and at has shape {ahead.shape}: give one "
                "horizon for all customers, one per customer, or a column (shape (k, 1))."
            ) from None
        if self._covariate_route(covariates):
            shape = np.broadcast_shapes(n.shape, ahead.shape)
            nb, ab = (np.atleast_1d(np.broadcast_to(v, shape)) for v in (n, ahead))
            return self._by_pattern(
                self._design_for(covariates, nb.shape[-1]),
                lambda model, idx: model.probability_alive(nb[..., idx], at=ab[..., idx]),
            ).reshape(shape)
        survivor = self._dropout().alive_posterior(n)
        with np.errstate(under="ignore"):
            return np.asarray(np.exp(np.minimum(survivor.log_survive(ahead), 0.0)))

    def expected_lifetime(self, *, covariates: Any = None) -> float:
        """Mean lifetime in periods of a new customer, ``E[1 / theta]``.

        ``(alpha + beta - 1) / (alpha - 1)``, infinite when ``alpha <= 1``: the churn
        probabilities then pile up so close to 0 that the mean does not exist, though
        discounted lifetimes stay finite. ``1 / theta`` for a common churn probability.
        """
        if self._covariate_route(covariates):
            return self._profile(covariates).expected_lifetime()
        return float(self._dropout().mean_inverse())

    def discounted_expected_lifetime(
        self,
        *,
        discount_rate: float,
        time_unit: TimeUnitLike | None = None,
        covariates: Any = None,
    ) -> float:
        """DEL: expected discounted number of periods a *new* customer pays for.

        ``DEL = sum_{t>=0} S(t) / (1 + d)^t = 2F1(1, beta; alpha + beta; 1 / (1 + d))``, with
        the first payment (t = 0) undiscounted; ``(1 + d) / (d + theta)`` for a common churn
        probability. Multiply by the margin per period for the expected lifetime value of a
        new customer.

        Parameters
        ----------
        discount_rate
            Discount rate per ``time_unit`` (per period when ``time_unit`` is omitted).
        time_unit
            Unit of ``discount_rate``; needs the model's own ``time_unit_``.
        """
        if self._covariate_route(covariates):
            return self._profile(covariates).discounted_expected_lifetime(
                discount_rate=discount_rate, time_unit=time_unit
            )
        dropout = self._dropout()
        d = self._period_rate(discount_rate, time_unit)
        return float(dropout.discounted_survival(0.0, 1.0 / (1.0 + d)))

    def discounted_expected_residual_lifetime(
        self,
        renewals: Any,
        *,
        discount_rate: float,
        time_unit: TimeUnitLike | None = None,
        covariates: Any = None,
    ) -> np.ndarray:
        """DERL: expected discounted number of further payments of an active customer.

        For a customer who has made ``renewals`` renewals (is active after that many periods:
        pass the ``durations`` of active customers), valued when the next renewal is due,
        which counts undiscounted (Fader & Hardie 2010, eq. 6)::

            DERL = (beta + n) / (alpha + beta + n) * 2F1(1, beta + n + 1; alpha + beta + n + 1;
                                                        1 / (1 + d))

        i.e. ``sum_{j>=0} q^j E[(1 - theta)^(1+j)]`` over the churn probability of someone
        who survived ``n`` periods, ``Beta(alpha, beta + n)``; ``(1 - theta) (1 + d) / (d +
        theta)`` for a common churn probability, whatever ``n``.

        Parameters
        ----------
        renewals
            Renewals made so far (``n >= 0``), one per customer or a scalar.
        discount_rate, time_unit
            As in :meth:`discounted_expected_lifetime`.
        """
        n = whole_periods(renewals, "renewals", minimum=0)
        if self._covariate_route(covariates):
            flat = np.atleast_1d(n)
            return self._by_pattern(
                self._design_for(covariates, flat.shape[-1]),
                lambda model, idx: model.discounted_expected_residual_lifetime(
                    flat[..., idx], discount_rate=discount_rate, time_unit=time_unit
                ),
            ).reshape(n.shape)
        d = self._period_rate(discount_rate, time_unit)
        survivor = self._dropout().alive_posterior(n)
        return np.asarray(survivor.discounted_survival(np.ones(n.shape), 1.0 / (1.0 + d)))

    def _period_rate(self, discount_rate: float, time_unit: TimeUnitLike | None) -> float:
        rate = float(discount_rate)
        if not math.isfinite(rate) or rate <= 0:
            raise FunnelkitError(
                f"discount_rate must be a positive finite rate per period; got {discount_rate!r} "
                "(with no discounting the sums diverge when alpha <= 1; use expected_lifetime())."
            )
        if time_unit is None:
            return rate
        if self.time_unit_ is None:
            raise FunnelkitError(
                "discount_rate was given per time_unit, but the model's period length is "
                "unknown: fit with time_unit=... or omit time_unit (rate per period)."
            )
        exponent = TimeUnit.parse(self.time_unit_).days / TimeUnit.parse(time_unit).days
        return (1.0 + rate) ** exponent - 1.0
