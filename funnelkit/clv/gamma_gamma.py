"""The Gamma-Gamma model of spend per transaction (Fader, Hardie & Lee 2005)."""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
from scipy.special import digamma, gammaln

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

    Parameters
    ----------
    penalizer, conf_level, initial_params, max_iter
        See :class:`~funnelkit.clv.MLEFitter`.

    Attributes
    ----------
    params_ : dict
        ``{"p": ..., "q": ..., "v": ...}``, or ``{"p": ..., "nu": ...}`` at the limit.
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
    _limits = (_COMMON_RATE,)
    _fitted_attributes = (*CovariateModel._fitted_attributes, "n_excluded_")
    # nu_i ~ Gamma(q, v_i): the mean spend p v_i / (q - 1) is multiplied by exp(gamma' z_i)
    _covariate_links: ClassVar[dict[str, tuple[tuple[str, int], ...]]] = {"spend": (("v", 1),)}
    _limit_links: ClassVar[dict[str, tuple[str, int]]] = {"v": ("nu", -1)}

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
        rate = self._rate()
        if isinstance(rate, GammaRate) and rate.shape <= 1.0:
            q = rate.shape
            warnings.warn(
                f"GammaGammaFitter: the fitted q = {q:.4g} is <= 1, so the population mean "
                "spend p·v/(q-1) does not exist and expected_spend() will refuse to predict. "
                + _SPEND_REMEDIES,
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
        # The terms in x alone (gammaln, digamma, x log x) are evaluated once per distinct
        # frequency, and the sums of w log m per frequency are computed once per fit: per row
        # there is one log and one division left (about 10x fewer special-function calls).
        p, q, v = params
        g = _grouped(data)
        x, w_x = g["x"], g["w_x"]
        px = p * x
        # log(x m + v) = log v + log1p(x m / v), and q/v - q/(x m + v) = q x m / (v (x m + v)):
        # near the common-rate limit q and v are huge and the plain forms cancel.
        rel = np.log1p(g["xm"] / v)
        inv = 1.0 / (g["xm"] + v)
        w_rel = float(data.weights @ rel)
        wx_log = float(g["wx"] @ rel) + g["wx_sum"] * np.log(v)
        # So would lnG(px + q) - lnG(q) ~ px log q, by 0.1 of a log-likelihood unit at
        # q = 1e12 (enough to pass the full model off as better than its limit): rising
        # factorials (log_pochhammer, digamma_difference) keep the digits
        total = (
            float(w_x @ (log_pochhammer(q, px) - gammaln(px) + px * g["log_x"]))
            + p * float(x @ g["log_m_x"])
            - g["log_m"]
            - p * wx_log
            - q * w_rel
        )
        common = digamma(px + q)
        d_p = float(x @ (w_x * (common - digamma(px) + g["log_x"]) + g["log_m_x"])) - wx_log
        d_q = float(w_x @ digamma_difference(q, px)) - w_rel
        d_v = q / v * float(g["wxm"] @ inv) - p * float(g["wx"] @ inv)
        return total, np.array([d_p, d_q, d_v])

    def _rows_log_likelihood(
        self, params: np.ndarray, data: FitData
    ) -> tuple[np.ndarray, np.ndarray | None]:
        # the per-row formulas are elementwise: per-row parameters broadcast through them
        return self._log_likelihood_and_gradient(params, data)

    def _limit_log_likelihood(self, params: Mapping[str, float], data: FitData) -> np.ndarray:
        p = params["p"]
        rate = _rate_of(params)
        x, m = data["frequency"], data["monetary_value"]
        px = p * x
        # the mean of x Gamma(p, nu) spends: nu^(p x) integrated over nu, times the rest of
        # the Gamma(p x, x nu) density of m
        return np.asarray(
            rate.log_weight(px, x * m) - gammaln(px) + (px - 1.0) * np.log(m) + px * np.log(x)
        )

    def _rate(self) -> RateMixing:
        self._check_fitted()
        return _rate_of(self.params_)

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
        or ``p / nu`` for a common spend rate (for one covariate profile with covariates)."""
        if self._covariate_route(covariates):
            return self._profile(covariates).population_mean_spend()
        p, rate = self._spend_params()
        return float(p * rate.mean_inverse())

    def expected_spend(self, data: Any = None, *, covariates: Any = None) -> np.ndarray:
        """Conditional expected average spend per transaction of each customer.

        A credibility-weighted mean of the customer's own average spend ``m`` and the
        population mean: ``w m + (1 - w) p v / (q - 1)`` with ``w = p x / (p x + q - 1)``.
        Customers with ``frequency == 0`` get the population mean. For a common spend rate
        it is ``p / nu`` for everyone: their history says nothing more.

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
        self._spend_params()
        columns = self._data_for_prediction(data)
        return conditional_spend(self.params_, columns["frequency"], columns["monetary_value"])

    def _spend_params(self) -> tuple[float, RateMixing]:
        self._check_fitted()
        return _checked_spend_params(self.params_)


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
    p, rate = _checked_spend_params(params)
    x = np.asarray(frequency, dtype=float)
    m = np.asarray(monetary_value, dtype=float)
    population = p * rate.mean_inverse()
    if isinstance(rate, CommonRate):
        return np.full(x.shape, population)
    q = rate.shape
    weight = p * x / (p * x + q - 1.0)
    return np.asarray(weight * m + (1.0 - weight) * population)


def _checked_spend_params(params: Mapping[str, float]) -> tuple[float, RateMixing]:
    rate = _rate_of(params)
    if isinstance(rate, GammaRate) and rate.shape <= 1.0:
        raise ConvergenceError(
            f"The fitted q = {rate.shape:.4g} of GammaGammaFitter is <= 1: the population "
            "mean spend p·v/(q-1) does not exist, so expected spend is undefined. "
            + _SPEND_REMEDIES
        )
    return params["p"], rate


def _rows(
    params: np.ndarray, data: FitData, *, gradient: bool
) -> tuple[np.ndarray, np.ndarray | None]:
    """Per-row log-likelihood and, with ``gradient``, its gradient ``(3, rows)``;
    parameters scalar or one per row.

    ``q log v - (px + q) log(x m + v)`` is written ``-px log v - (px + q) log1p(x m / v)``,
    and the gamma-function ratio as a rising factorial: next to the common-rate limit (q, v
    huge) the plain forms cancel (see ``_weighted_log_likelihood``). With the same
    parameters on every row, the special functions of ``p x`` are evaluated once per
    distinct frequency.
    """
    p, q, v = params
    x, m = data["frequency"], data["monetary_value"]

    def by_frequency(u: np.ndarray) -> list[np.ndarray]:
        pu = p * u
        terms = [log_pochhammer(q, pu) - gammaln(pu)]
        if gradient:
            terms += [digamma(pu + q) - digamma(pu), digamma_difference(q, pu)]
        return terms

    head, *slopes = data.frequency_terms(by_frequency, p, q)
    px = p * x
    ll = np.asarray(
        head
        + (px - 1.0) * np.log(m)
        + px * np.log(x)
        - px * np.log(v)
        - (px + q) * np.log1p(x * m / v)
    )
    if not gradient:
        return ll, None
    xm = x * m
    d_p = x * (slopes[0] + np.log(m) + np.log(x) - np.log(xm + v))
    d_q = slopes[1] - np.log1p(xm / v)
    d_v = (q * xm / v - px) / (xm + v)
    return ll, np.vstack(np.broadcast_arrays(d_p, d_q, d_v))


def _grouped(data: FitData) -> dict[str, Any]:
    """Sums of the likelihood that do not depend on the parameters, once per fit data."""
    if "gamma_gamma" not in data.cache:
        (x,), _ = data.groups("frequency")
        f, m, w = data["frequency"], data["monetary_value"], data.weights
        log_m = np.log(m)
        data.cache["gamma_gamma"] = {
            "x": x,
            "log_x": np.log(x),
            "w_x": data.group_sums("frequency", w),
            "log_m_x": data.group_sums("frequency", w * log_m),
            "log_m": float(w @ log_m),
            "xm": f * m,
            "wx": w * f,
            "wx_sum": float(w @ f),
            "wxm": w * f * m,
        }
    found: dict[str, Any] = data.cache["gamma_gamma"]
    return found


def _sorted_by_spend(freq: np.ndarray, money: np.ndarray) -> bool:
    """Whether rows are in (frequency, monetary_value) order already (O(n), no sort)."""
    step = np.diff(freq)
    return bool(np.all(step >= 0) and np.all((step > 0) | (np.diff(money) >= 0)))


def _rate_of(params: Mapping[str, float]) -> RateMixing:
    """The spend-rate distribution of the full or the limit parameter set."""
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
