"""The Gamma-Gamma model of spend per transaction (Fader, Hardie & Lee 2005)."""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import gammaln

from funnelkit.clv._covariate_model import CovariateModel
from funnelkit.clv._data import FitData, customer_weights, numbers
from funnelkit.clv._limits import CONCENTRATED, Limit, concentrated_gamma
from funnelkit.clv._mixing import CommonRate, GammaRate, RateMixing
from funnelkit.clv._special import digamma_difference, log_pochhammer
from funnelkit.exceptions import (
    ConvergenceError,
    ConvergenceWarning,
    DataError,
    format_examples,
)
from funnelkit.rfm import RFM

if TYPE_CHECKING:
    from funnelkit.clv._base import MLEFitter

__all__ = ["GammaGammaFitter"]

_SPEND_REMEDIES = (
    "Things to try: 1. look for extreme or mis-scaled spends (refunds, totals in cents, bulk "
    "orders) and fix or trim them; 2. fit on a more homogeneous group of customers; "
    "3. add a small penalizer, e.g. penalizer=0.001, which pulls q towards moderate values; "
    "4. if spend is very heavy-tailed, use each customer's observed mean spend instead."
)

# concentration of a gamma placed next to its point-mass limit (to start a full fit there)

_COMMON_RATE = Limit(
    name="common spend rate",
    meaning="q, v → ∞ with q / v = nu: every customer has the same spend rate nu, so the "
    "same mean spend p / nu per transaction",
    params=("p", "nu"),
    start=lambda k: {"p": k["p"], "nu": k["q"] / k["v"]},
    embed=lambda k: {"p": k["p"], "q": CONCENTRATED, "v": CONCENTRATED / k["nu"]},
    near=lambda k: concentrated_gamma(k["q"]),
)

_NO_SPREAD = Limit(
    name="no spread within a customer",
    meaning="p → ∞ and v → 0 with p v = s: each customer's spends equal their own mean, "
    "which across customers is inverse-gamma with shape q and scale s",
    params=("q", "s"),
    start=lambda k: {"q": k["q"], "s": k["p"] * k["v"]},
    embed=lambda k: {"p": CONCENTRATED, "q": k["q"], "v": k["s"] / CONCENTRATED},
    near=lambda k: concentrated_gamma(k["p"]),
)


class GammaGammaFitter(CovariateModel):
    """Gamma-Gamma model of the average spend per repeat transaction.

    A customer's transaction values are Gamma(p, ν) around their own mean p/ν; across customers
    the rate ν is Gamma(q, v). Only the number of repeat transactions ``x`` (``frequency``) and
    their mean value ``m`` (``monetary_value``) are needed; the model assumes spend is
    independent of the purchase process, which is worth checking (correlation of ``frequency``
    and ``monetary_value`` close to 0) before combining it with a purchase model.

    Customers with ``frequency == 0`` carry no spend information and are excluded from the fit;
    how many were excluded is stored in ``n_excluded_``. Their expected spend
    (:meth:`expected_spend`) is the population mean ``p v / (q - 1)``.

    When customers' mean spends differ no more than their transaction-to-transaction noise
    explains, the likelihood keeps rising as ``q, v → ∞`` with ``q / v`` fixed: the fit
    then ends at the limit model with a common spend rate ``nu`` (``result_.boundary``,
    ``params_ = {"p": ..., "nu": ...}``). Every customer's mean spend is then ``p / nu``, so
    :meth:`expected_spend` is ``p / nu`` whatever the history (the credibility weight of the
    customer's own mean, ``p x / (p x + q - 1)``, tends to 0) and
    :meth:`population_mean_spend` is ``p / nu``; the likelihood is that of the average of
    ``x`` Gamma(p, nu) spends, Gamma(p x, nu x) (FHL 2005, appendix, with ``nu`` fixed).

    When customers' mean spends spread no less among those with many transactions than
    among those with one, the likelihood keeps rising as ``p → ∞`` and ``v → 0`` with ``p v``
    fixed: a customer's spends then vary not at all around their own mean, and the fit ends
    at the limit model in which the mean spends ``m`` are inverse-gamma with shape ``q`` and
    scale ``s = p v`` whatever ``x`` (``params_ = {"q": ..., "s": ...}``). A repeat
    customer's own mean is then their expected spend (the credibility weight tends to 1),
    and the population mean is ``s / (q - 1)``.

    Parameters
    ----------
    penalizer, conf_level, initial_params, max_iter
        See :class:`~funnelkit.clv.MLEFitter`.

    Attributes
    ----------
    params_ : dict
        ``{"p": ..., "q": ..., "v": ...}``, or at a limit ``{"p": ..., "nu": ...}`` or
        ``{"q": ..., "s": ...}``.
    result_ : FitResult
        Estimates with standard errors and intervals, log-likelihood, AIC/BIC.
    n_excluded_ : int
        Customers without repeat transactions left out of the fit.

    Examples
    --------
    >>> from funnelkit.clv import GammaGammaFitter
    >>> from funnelkit.datasets import load_cdnow
    >>> summary = load_cdnow()
    >>> ggf = GammaGammaFitter().fit(summary)
    >>> {k: round(v, 2) for k, v in ggf.params_.items()}
    {'p': 6.25, 'q': 3.74, 'v': 15.45}
    >>> ggf.n_excluded_
    1411
    >>> round(float(ggf.expected_spend(summary)[0]), 2)
    24.66

    References
    ----------
    Fader, P. S., Hardie, B. G. S. & Lee, K. L. (2005). RFM and CLV: Using iso-value curves
    for customer base analysis. *Journal of Marketing Research*, 42(4), 415-430.

    Fader, P. S. & Hardie, B. G. S. (2013). The Gamma-Gamma model of monetary value.
    http://brucehardie.com/notes/025/
    """

    _param_names = ("p", "q", "v")
    _model_name = "Gamma-Gamma"
    _state_keys = frozenset({"covariates", "n_excluded"})
    _limits = (_COMMON_RATE, _NO_SPREAD)
    _fitted_attributes = (*CovariateModel._fitted_attributes, "n_excluded_")
    # nu_i ~ Gamma(q, v_i): the mean spend p v_i / (q - 1) is multiplied by exp(gamma' z_i)
    _covariate_links: ClassVar[dict[str, tuple[tuple[str, int], ...]]] = {"spend": (("v", 1),)}
    _limit_links: ClassVar[dict[str, tuple[tuple[str, int], ...]]] = {"v": (("nu", -1), ("s", 1))}

    # ------------------------------------------------------------------ fitting
    def fit(
        self, data: Any, *, covariates: Any = None, weights: Any = None, time_unit: Any = None
    ) -> GammaGammaFitter:
        """Fit p, q and v by maximum likelihood on the repeat customers.

        Parameters
        ----------
        data
            An :class:`~funnelkit.RFM` built with spend values, a dataframe with
            ``frequency`` and ``monetary_value`` columns, or a mapping of those arrays.
        covariates
            Optional static covariates, one row per customer of ``data`` (a frame with
            ``customer_id`` or a mapping of arrays in ``data``'s order): the scale ``v_i = v
            exp(gamma' z_i)``, so ``exp(gamma)`` multiplies the mean spend ``p v_i / (q - 1)``.
        weights
            Optional number of customers sharing each row (array or column name).
        time_unit
            Ignored (spend has no time unit); accepted so every fitter has one ``fit`` signature.

        Returns
        -------
        self
        """
        super().fit(data, covariates=covariates, weights=weights, time_unit=time_unit)
        q = self.params_.get("q", math.inf)
        if q <= 1.0:
            warnings.warn(
                f"GammaGammaFitter: the fitted q = {q:.4g} is <= 1, so the population mean "
                f"spend {_mean_formula(self.params_)} does not exist and expected_spend() will "
                "refuse to predict. " + _SPEND_REMEDIES,
                ConvergenceWarning,
                stacklevel=2,
            )
        return self

    def refit(
        self,
        data: Any,
        *,
        weights: Any = None,
        time_unit: Any = None,
        start: MLEFitter | None = None,
    ) -> GammaGammaFitter:
        """See :meth:`~funnelkit.clv.MLEFitter.refit`; fit data hold repeat customers only."""
        if isinstance(data, FitData):
            self.n_excluded_ = 0
        return super().refit(data, weights=weights, time_unit=time_unit, start=start)

    def _fit_data(self, data: Any, **kwargs: Any) -> FitData:
        freq, money, ids = _spend_columns(data)
        weights = kwargs.get("weights")
        w = np.ones(freq.size) if weights is None else customer_weights(weights, data, freq.size)
        repeat = freq > 0
        _check_spend(freq, money, ids, repeat)
        n_excluded = round(float(w[~repeat].sum()))
        freq, money, w = freq[repeat], money[repeat], w[repeat]
        if freq.size == 0 or not np.any(w > 0):
            raise DataError(
                "No repeat customers: the Gamma-Gamma model is fitted on customers with "
                f"frequency > 0, and all {n_excluded} customer(s) have frequency 0."
            )
        self.n_excluded_ = n_excluded
        if _sorted_by_spend(freq, money):
            # rows handed over in (frequency, spend) order, as a bootstrap does with its one
            # sort of the buyers, are not sorted again
            f, m, ws = freq, money, w
        else:
            order = np.lexsort((money, freq))
            f, m, ws = freq[order], money[order], w[order]
        new = np.ones(f.size, dtype=bool)
        new[1:] = (f[1:] != f[:-1]) | (m[1:] != m[:-1])
        group = np.cumsum(new) - 1
        row_w = np.bincount(group, weights=ws)
        keep = row_w > 0
        return FitData(
            columns={"frequency": f[new][keep], "monetary_value": m[new][keep]},
            weights=row_w[keep],
            n_customers=round(float(row_w.sum())),
            time_unit=None,
            training={"frequency": freq, "monetary_value": money},
        )

    def _covariate_ids(
        self, data: Any, weights: Any, time_unit: Any
    ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
        freq, _, ids = _spend_columns(data)
        w = np.ones(freq.size) if weights is None else customer_weights(weights, data, freq.size)
        return ids, freq > 0, w[freq > 0]

    def _prediction_ids(self, data: Any) -> np.ndarray | None:
        return _spend_columns(data)[2]

    def _prediction_data(self, data: Any) -> Mapping[str, np.ndarray]:
        freq, money, ids = _spend_columns(data)
        # a zero average spend cannot be fitted (log 0) but can be scored: it is shrunk
        # towards the population mean like any other
        _check_spend(freq, money, ids, freq > 0, allow_zero=True)
        return {"frequency": freq, "monetary_value": money}

    def _initial_params(self, data: FitData) -> np.ndarray:
        mean = float(np.average(data["monetary_value"], weights=data.weights))
        # p v / (q - 1) equals the mean spend at the start, a moderate place to begin.
        return np.array([2.0, 3.0, max(mean, 1e-6)])

    def _log_likelihood(self, params: np.ndarray, data: FitData) -> np.ndarray:
        return _rows(params, data, gradient=False)[0]

    def _log_likelihood_and_gradient(
        self, params: np.ndarray, data: FitData
    ) -> tuple[np.ndarray, np.ndarray | None]:
        return _rows(params, data, gradient=True)

    def _weighted_log_likelihood(
        self, params: np.ndarray, data: FitData
    ) -> tuple[float, np.ndarray | None]:
        # The per-row terms of _rows, summed: the gamma-function terms once per distinct
        # frequency, the sums of w log m and w log(x m) once per fit; per row there are one
        # log1p and two divisions left (about 10x fewer special-function calls).
        p, q, v = params
        g = _grouped(data)
        x, w_x = g["x"], g["w_x"]
        head, d_head_p, d_head_q = _gamma_terms(p * x, q)
        wx_log_b, w_log_a = _log_sums(g, data.weights, p, q, v)
        total = float(w_x @ head) - g["log_m"] - p * wx_log_b - q * w_log_a
        d_p = float(x @ (w_x * d_head_p)) - wx_log_b
        d_q = float(w_x @ d_head_q) - w_log_a
        # (q x m - p x v) / (v (x m + v)) summed with p v formed first: q / v and p are
        # both huge next to no spread within a customer, and their terms would cancel
        inv = 1.0 / (g["xm"] + v)
        d_v = (q * float(g["wxm"] @ inv) - p * v * float(g["wx"] @ inv)) / v
        return total, np.array([d_p, d_q, d_v])

    def _rows_log_likelihood(
        self, params: np.ndarray, data: FitData
    ) -> tuple[np.ndarray, np.ndarray | None]:
        # the per-row formulas are elementwise: per-row parameters broadcast through them
        return self._log_likelihood_and_gradient(params, data)

    def _limit_log_likelihood(self, params: Mapping[str, float], data: FitData) -> np.ndarray:
        if "s" in params:
            # no spread within a customer: m = s / G with G ~ Gamma(q, 1), an inverse gamma
            q, s = params["q"], params["s"]
            m = data["monetary_value"]
            return np.asarray(q * np.log(s) - gammaln(q) - (q + 1.0) * np.log(m) - s / m)
        p = params["p"]
        rate = _rate_of(params)
        x, m = data["frequency"], data["monetary_value"]
        px = p * x
        # the mean of x Gamma(p, nu) spends: nu^(p x) integrated over nu, times the rest of
        # the Gamma(p x, x nu) density of m
        return np.asarray(
            rate.log_weight(px, x * m) - gammaln(px) + (px - 1.0) * np.log(m) + px * np.log(x)
        )

    def _extra_state(self) -> dict[str, Any]:
        return {**super()._extra_state(), "n_excluded": int(self.n_excluded_)}

    def _restore_extra_state(self, state: Mapping[str, Any]) -> None:
        super()._restore_extra_state(state)
        n = state.get("n_excluded", 0)
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise ValueError(f"n_excluded must be a whole number >= 0, got {n!r}")
        self.n_excluded_ = n

    # ------------------------------------------------------------------ predictions
    def population_mean_spend(self, *, covariates: Any = None) -> float:
        """Mean spend per transaction across the population, ``p E[1 / nu]``: ``p v / (q - 1)``,
        ``p / nu`` for a common spend rate, ``s / (q - 1)`` with no spread within a customer
        (for one covariate profile with covariates)."""
        if self._covariate_route(covariates):
            return self._profile(covariates).population_mean_spend()
        self._check_fitted()
        return _population_mean(self.params_)

    def expected_spend(self, data: Any = None, *, covariates: Any = None) -> np.ndarray:
        """Conditional expected average spend per transaction of each customer.

        A credibility-weighted mean of the customer's own average spend ``m`` and the
        population mean: ``w m + (1 - w) p v / (q - 1)`` with ``w = p x / (p x + q - 1)``.
        Customers with ``frequency == 0`` get the population mean. For a common spend rate
        it is ``p / nu`` for everyone: their history says nothing more. With no spread
        within a customer it is a repeat customer's own ``m``: their history says it all.

        Parameters
        ----------
        data
            Customers to score (RFM, frame or mapping with ``frequency`` and
            ``monetary_value``); ``None`` = the repeat customers the model was fitted on.
        covariates
            For a model fitted with covariates: one row per customer of ``data``.

        Returns
        -------
        ndarray
            One expected spend per customer, in the currency of ``monetary_value``.
        """
        if self._covariate_route(covariates):
            return self._predict_for("expected_spend", data, covariates)
        self._check_fitted()
        _population_mean(self.params_)  # refuses q <= 1 before the data are converted
        columns = self._data_for_prediction(data)
        return conditional_spend(self.params_, columns["frequency"], columns["monetary_value"])


def conditional_spend(
    params: Mapping[str, float], frequency: np.ndarray, monetary_value: np.ndarray
) -> np.ndarray:
    """:meth:`GammaGammaFitter.expected_spend` of a plain fit's ``params_`` on columns the
    caller has checked already (whole frequencies >= 0, spends finite and >= 0 where the
    frequency is positive): a resampling loop scores the same customers with each sample's
    fit and need not convert and check them again each time.

    Examples
    --------
    >>> import numpy as np
    >>> spend = conditional_spend({"p": 2.0, "q": 3.0, "v": 10.0}, np.array([0.0, 4.0]),
    ...                           np.array([0.0, 20.0]))
    >>> [round(float(s), 4) for s in spend]
    [10.0, 18.0]
    """
    population = _population_mean(params)
    x = np.asarray(frequency, dtype=float)
    m = np.asarray(monetary_value, dtype=float)
    if "nu" in params:  # a common spend rate
        return np.full(x.shape, population)
    if "s" in params:  # no spread within a customer
        return np.where(x > 0, m, population)
    p, q = params["p"], params["q"]
    weight = p * x / (p * x + q - 1.0)
    return np.asarray(weight * m + (1.0 - weight) * population)


def _mean_formula(params: Mapping[str, float]) -> str:
    """The population mean spend in the fitted model's own parameters, for messages."""
    return "s/(q-1)" if "s" in params else "p·v/(q-1)"


def _population_mean(params: Mapping[str, float]) -> float:
    """``p E[1 / nu]`` of the full model or a limit; refuses ``q <= 1``, where it is infinite."""
    q = params.get("q", math.inf)
    if q <= 1.0:
        raise ConvergenceError(
            f"The fitted q = {q:.4g} of GammaGammaFitter is <= 1: the population mean spend "
            f"{_mean_formula(params)} does not exist, so expected spend is undefined. "
            + _SPEND_REMEDIES
        )
    if "s" in params:
        return float(params["s"] / (q - 1.0))
    return float(params["p"] * _rate_of(params).mean_inverse())


def _rows(
    params: np.ndarray, data: FitData, *, gradient: bool
) -> tuple[np.ndarray, np.ndarray | None]:
    """Per-row log-likelihood and, with ``gradient``, its gradient ``(3, rows)``;
    parameters scalar or one per row.

    The density of the mean ``m`` of ``x`` spends (Fader, Hardie & Lee 2005),
    ``G(px + q) / (G(px) G(q)) v^q m^(px - 1) x^px / (v + x m)^(px + q)``, is written
    ``head - log m - px log1p(v / (x m)) - q log1p(x m / v)``, whose terms are all of
    moderate size at both limits: next to the common-rate limit (``q`` and ``v`` huge) and
    next to no spread within a customer (``p`` huge, ``v`` tiny) the plain form is a
    difference of terms near ``1e14`` and loses whole units of log-likelihood, enough to pass
    the full model off as better than its limit. ``head``, the gamma-function ratio, is a
    rising factorial of the larger of ``p x`` and ``q`` (:func:`_gamma_terms`). With the
    same parameters on every row, the special functions of ``p x`` are evaluated once per
    distinct frequency.
    """
    p, q, v = params
    x, m = data["frequency"], data["monetary_value"]

    def by_frequency(u: np.ndarray) -> list[np.ndarray]:
        return list(_gamma_terms(p * u, q)[: 3 if gradient else 1])

    head, *slopes = data.frequency_terms(by_frequency, p, q)
    xm = x * m
    log_a, log_b = _spend_logs(xm, np.log(xm), p, q, v)
    px = p * x
    ll = np.asarray(head - np.log(m) - px * log_b - q * log_a)
    if not gradient:
        return ll, None
    d_p = x * (slopes[0] - log_b)
    d_q = slopes[1] - log_a
    d_v = (q * xm - p * v * x) / (v * (xm + v))
    return ll, np.vstack(np.broadcast_arrays(d_p, d_q, d_v))


def _gamma_terms(px: np.ndarray, q: ArrayLike) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``lnG(px + q) - lnG(px) - lnG(q)`` and its derivatives in ``px`` and ``q``, from the
    rising factorial of the larger argument (:func:`log_pochhammer` keeps its digits for a
    huge base, not for a huge step)."""
    px, q = np.broadcast_arrays(np.asarray(px, dtype=float), np.asarray(q, dtype=float))
    base_px = px >= q
    if base_px.all():
        head = log_pochhammer(px, q) - gammaln(q)
    elif not base_px.any():
        head = log_pochhammer(q, px) - gammaln(px)
    else:
        head = np.where(
            base_px, log_pochhammer(px, q) - gammaln(q), log_pochhammer(q, px) - gammaln(px)
        )
    return head, digamma_difference(px, q), digamma_difference(q, px)


def _log_sums(
    g: dict[str, Any], w: np.ndarray, p: float, q: float, v: float
) -> tuple[float, float]:
    """``sum w x log1p(v / (x m))`` and ``sum w log1p(x m / v)``: :func:`_spend_logs`,
    summed, with the sums of ``log(x m / v)`` from sums found once per fit."""
    log_v = math.log(v)
    if p >= q:
        log_b = np.log1p(v * g["inv_xm"])
        w_log_a = float(w @ log_b) + g["w_log_xm"] - log_v * g["w_sum"]
        return float(g["wx"] @ log_b), w_log_a
    log_a = np.log1p(g["xm"] * (1.0 / v))
    wx_log_b = float(g["wx"] @ log_a) - (g["wx_log_xm"] - log_v * g["wx_sum"])
    return wx_log_b, float(w @ log_a)


def _spend_logs(
    xm: np.ndarray, log_xm: np.ndarray, p: ArrayLike, q: ArrayLike, v: ArrayLike
) -> tuple[np.ndarray, np.ndarray]:
    """``log1p(x m / v)`` and ``log1p(v / (x m))``, one of them from the other and
    ``log(x m / v)``, their difference. The one multiplied by the larger of ``p`` and
    ``q`` in the likelihood is a log1p of its own: next to no spread within a customer
    (``p`` huge) ``log1p(v / (x m))`` is tiny and must keep its digits, next to the
    common-rate limit (``q`` huge) ``log1p(x m / v)`` is."""
    log_ratio = log_xm - np.log(v)
    b_first = np.asarray(p) >= np.asarray(q)
    if b_first.ndim == 0:  # one parameter set for every row: one log1p per row
        if b_first:
            log_b = np.log1p(v / xm)
            return log_b + log_ratio, log_b
        log_a = np.log1p(xm / v)
        return log_a, log_a - log_ratio
    log_b, log_a = np.log1p(v / xm), np.log1p(xm / v)
    return np.where(b_first, log_b + log_ratio, log_a), np.where(b_first, log_b, log_a - log_ratio)


def _grouped(data: FitData) -> dict[str, Any]:
    """Sums of the likelihood that do not depend on the parameters, once per fit data."""
    if "gamma_gamma" not in data.cache:
        (x,), _ = data.groups("frequency")
        f, m, w = data["frequency"], data["monetary_value"], data.weights
        xm = f * m
        log_xm = np.log(xm)
        data.cache["gamma_gamma"] = {
            "x": x,
            "w_x": data.group_sums("frequency", w),
            "log_m": float(w @ np.log(m)),
            "xm": xm,
            "inv_xm": 1.0 / xm,
            "log_xm": log_xm,
            "w_sum": float(w.sum()),
            "w_log_xm": float(w @ log_xm),
            "wx": w * f,
            "wx_sum": float(w @ f),
            "wx_log_xm": float((w * f) @ log_xm),
            "wxm": w * xm,
        }
    found: dict[str, Any] = data.cache["gamma_gamma"]
    return found


def _sorted_by_spend(freq: np.ndarray, money: np.ndarray) -> bool:
    """Whether rows are in (frequency, monetary_value) order already (O(n), no sort)."""
    step = np.diff(freq)
    return bool(np.all(step >= 0) and np.all((step > 0) | (np.diff(money) >= 0)))


def _rate_of(params: Mapping[str, float]) -> RateMixing:
    """The spend-rate distribution of the full model or the common-rate limit."""
    if "q" in params:
        return GammaRate(params["q"], params["v"])
    return CommonRate(params["nu"])


def _spend_columns(data: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Frequency, monetary value and customer ids from an RFM, a frame or a mapping."""
    if data is None:
        raise DataError("No data: pass an RFM, a dataframe or a mapping of arrays.")
    if isinstance(data, RFM):
        if data.monetary_value is None:
            raise DataError(
                "This RFM has no monetary_value: build it from a log with a value column "
                "(EventLog.from_frame(..., value_col='value')) to fit the spend model."
            )
        return data.frequency, data.monetary_value, data.customer_ids
    if isinstance(data, Mapping):
        missing = [c for c in ("frequency", "monetary_value") if c not in data]
        if missing:
            raise DataError(
                f"The mapping is missing {missing}: it needs 'frequency' and 'monetary_value'."
            )
        given = np.asarray(data["customer_id"]) if "customer_id" in data else None
        freq = numbers("frequency", data["frequency"], given)
        money = numbers("monetary_value", data["monetary_value"], given)
        ids = given if given is not None else np.arange(freq.size)
    else:
        import narwhals as nw

        from funnelkit._frames import check_columns

        frame = nw.from_native(data, eager_only=True)
        check_columns(
            list(frame.columns),
            {"frequency_col": "frequency", "monetary_value_col": "monetary_value"},
        )
        if "customer_id" in frame.columns:
            given = frame["customer_id"].to_numpy()
        else:
            index = nw.maybe_get_index(frame)
            given = np.asarray(index) if index is not None else None
        # a text column is counted and named like in RFM.from_frame, not a bare ValueError
        freq = numbers("frequency", frame["frequency"].to_numpy(), given)
        money = numbers("monetary_value", frame["monetary_value"].to_numpy(), given)
        ids = given if given is not None else np.arange(freq.size)
    if freq.ndim != 1 or money.shape != freq.shape:
        raise DataError(
            "frequency and monetary_value must be one-dimensional and of equal length; got "
            f"shapes {freq.shape} and {money.shape}."
        )
    if freq.size == 0:
        raise DataError("The data are empty: the spend model needs at least one customer.")
    return freq, money, ids


def _check_spend(
    freq: np.ndarray,
    money: np.ndarray,
    ids: np.ndarray,
    repeat: np.ndarray,
    *,
    allow_zero: bool = False,
) -> None:
    def fail(bad: np.ndarray, what: str, fix: str) -> None:
        rows = np.flatnonzero(bad)
        raise DataError(
            f"{rows.size} customer(s) {what} (e.g. customer ids {format_examples(ids[rows])}); "
            f"{fix}."
        )

    bad = ~np.isfinite(freq)
    if bad.any():
        fail(bad, "have a missing or non-finite frequency", "drop or impute them")
    if np.any(freq < 0) or np.any(freq != np.round(freq)):
        fail(
            (freq < 0) | (freq != np.round(freq)),
            "have a negative or fractional frequency",
            "frequency counts repeat transactions",
        )
    bad = repeat & ~np.isfinite(money)
    if bad.any():
        fail(bad, "have a missing or non-finite monetary_value", "drop or impute them")
    bad = repeat & ((money < 0) if allow_zero else (money <= 0))
    if bad.any():
        fail(
            bad,
            "have repeat transactions but a monetary_value " + ("< 0" if allow_zero else "<= 0"),
            "the Gamma-Gamma model needs positive spend: drop refunds/zero-value orders or "
            "net them out before building the RFM",
        )
