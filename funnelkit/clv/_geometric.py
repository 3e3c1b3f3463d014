"""Likelihood shared by BG/NBD and MBG/NBD: Poisson-gamma purchasing, geometric dropout.

With ``k = 0`` (BG/NBD, Fader, Hardie & Lee 2005, eq. 6) dropout chances follow repeat
purchases only; with ``k = 1`` (MBG/NBD, Batislam et al. 2007) the first purchase gives one
too. The per-customer log-likelihood is ``head(x) + tail(x, tx, T)`` with

* ``head = lnG(r+x) - lnG(r) + r ln(alpha) + lnB(a, b+x+k) - lnB(a, b)`` (frequency only),
* ``tail = -(r+x) ln(alpha+T) + softplus(d)``, ``d = ln(a) - ln(b+x+k-1) + (r+x)
  (ln(alpha+T) - ln(alpha+tx))``, ``d = -inf`` when there is no dropout chance (``x+k = 0``).

``d`` is the log-odds of "dropped out after the last purchase" against "still alive".
Special functions are evaluated per distinct frequency and logarithms per distinct ``T`` and
recency; the gradient is analytic and summed without materialising per-row matrices.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
from scipy.special import hyp2f1

from funnelkit.clv._base import as_horizon
from funnelkit.clv._calls import PurchasePredictions
from funnelkit.clv._covariate_model import CovariateModel
from funnelkit.clv._data import FitData, on_distinct_rows, whole_counts
from funnelkit.clv._limits import (
    CONCENTRATED,
    Limit,
    concentrated_beta,
    concentrated_gamma,
    splitting_beta,
    vanishing,
)
from funnelkit.clv._mixing import (
    BetaDropout,
    CommonDropout,
    DropoutMixing,
    GammaRate,
    RateMixing,
    TwoPointDropout,
    gamma_rate_near,
    mean_rate,
    rate_mixing,
)
from funnelkit.clv._special import digamma_difference, log_pochhammer
from funnelkit.clv.conditional import GeometricUncertainty

__all__ = [
    "BetaGeometricFitter",
    "alive_from_odds",
    "limits_of",
    "mean_purchases",
    "mixings",
    "row_log_likelihood",
    "softplus",
    "weighted_log_likelihood",
]


#: ``a + b`` of a full model placed next to the two-point limit (to start a full fit there)
SPLIT = 1.0 / CONCENTRATED


def limits_of(first_purchase_dropout: int) -> tuple[Limit, ...]:
    """The limits of BG/NBD (``first_purchase_dropout = 0``) or MBG/NBD (1): the beta
    dropout and the gamma purchase rate may each collapse to a point mass, the dropout
    probability may vanish altogether, and the beta dropout may split into its two ends
    (some drop out at the first chance, the others never)."""
    first_chance = (
        "their first purchase (they never buy again)"
        if first_purchase_dropout
        else "their first repeat purchase"
    )

    def p_of(q: Mapping[str, float]) -> float:
        return q["a"] / (q["a"] + q["b"]) if "a" in q else q.get("p", 0.0)

    def beta_near(q: Mapping[str, float]) -> dict[str, float]:
        p = q.get("p", 1e-6)
        return {"a": p * CONCENTRATED, "b": (1.0 - p) * CONCENTRATED}

    def common_rate(q: Mapping[str, float]) -> bool:
        return concentrated_gamma(q["r"])

    def common_p(q: Mapping[str, float]) -> bool:
        return concentrated_beta(q["a"], q["b"])

    def no_dropout(q: Mapping[str, float]) -> bool:
        return vanishing(q["a"], q["b"])

    def pi_of(q: Mapping[str, float]) -> float:
        # kept off the ends: from a fit stuck where nobody drops out (a → 0 with b finite,
        # a local maximum) the two-point limit's search starts where its slope shows
        return min(max(q["a"] / (q["a"] + q["b"]), 0.01), 0.99)

    def beta_split(q: Mapping[str, float]) -> dict[str, float]:
        return {"a": q["pi"] * SPLIT, "b": (1.0 - q["pi"]) * SPLIT}

    def two_point(q: Mapping[str, float]) -> bool:
        # also from "no dropout", which is the two-point limit at pi = 0: the full model's
        # search can stop at a → 0 while a, b → 0 together climbs higher
        return splitting_beta(q["a"], q["b"]) or no_dropout(q)

    return (
        Limit(
            name="common dropout probability",
            meaning="a + b → ∞ with a / (a + b) = p: every customer drops out with the same "
            "probability p after each purchase",
            params=("r", "alpha", "p"),
            probabilities=("p",),
            start=lambda q: {"r": q["r"], "alpha": q["alpha"], "p": p_of(q)},
            embed=lambda q: {"r": q["r"], "alpha": q["alpha"], **beta_near(q)},
            near=common_p,
        ),
        Limit(
            name="common purchase rate",
            meaning="r, alpha → ∞ with r / alpha = lambda: every customer buys at the same "
            "Poisson rate lambda while alive",
            params=("lambda", "a", "b"),
            start=lambda q: {"lambda": mean_rate(q), "a": q["a"], "b": q["b"]},
            embed=lambda q: {**gamma_rate_near(q, CONCENTRATED), "a": q["a"], "b": q["b"]},
            near=common_rate,
        ),
        Limit(
            name="common purchase rate and dropout probability",
            meaning="no heterogeneity at all: every customer buys at rate lambda and drops out "
            "with probability p after each purchase",
            params=("lambda", "p"),
            probabilities=("p",),
            start=lambda q: {"lambda": mean_rate(q), "p": p_of(q)},
            embed=lambda q: {**gamma_rate_near(q, CONCENTRATED), **beta_near(q)},
            near=lambda q: common_rate(q) and common_p(q),
        ),
        Limit(
            name="no dropout",
            meaning="a → 0: nobody drops out; purchases follow the NBD model",
            params=("r", "alpha"),
            start=lambda q: {"r": q["r"], "alpha": q["alpha"]},
            embed=lambda q: {"r": q["r"], "alpha": q["alpha"], **beta_near({})},
            near=no_dropout,
        ),
        Limit(
            name="no dropout and a common purchase rate",
            meaning="nobody drops out and everybody buys at the same Poisson rate lambda",
            params=("lambda",),
            start=lambda q: {"lambda": mean_rate(q)},
            embed=lambda q: {**gamma_rate_near(q, CONCENTRATED), **beta_near({})},
            near=lambda q: common_rate(q) and no_dropout(q),
        ),
        Limit(
            name="two-point dropout",
            meaning="a, b → 0 with a / (a + b) = pi: a share pi of customers drop out at "
            f"{first_chance}, the others never",
            params=("r", "alpha", "pi"),
            probabilities=("pi",),
            start=lambda q: {"r": q["r"], "alpha": q["alpha"], "pi": pi_of(q)},
            embed=lambda q: {"r": q["r"], "alpha": q["alpha"], **beta_split(q)},
            near=two_point,
        ),
        Limit(
            name="common purchase rate and two-point dropout",
            meaning="every customer buys at the same Poisson rate lambda while alive; a share "
            f"pi drop out at {first_chance}, the others never",
            params=("lambda", "pi"),
            probabilities=("pi",),
            start=lambda q: {"lambda": mean_rate(q), "pi": pi_of(q)},
            embed=lambda q: {**gamma_rate_near(q, CONCENTRATED), **beta_split(q)},
            near=lambda q: common_rate(q) and two_point(q),
        ),
    )


class BetaGeometricFitter(GeometricUncertainty, PurchasePredictions, CovariateModel):
    """Fitting half of BG/NBD and MBG/NBD; subclasses set ``_first_purchase_dropout`` (k).

    Besides the full model the fit can end at one of its limits (``result_.boundary``):
    a common dropout probability ``p`` (``a + b → ∞``), a common purchase rate ``lambda``
    (``r, alpha → ∞``), both, no dropout (``p = 0``), or a two-point dropout (``a, b → 0``:
    a share ``pi`` drop out at their first chance, the others never), alone or with a
    common purchase rate. ``params_`` then holds the limit model's parameters, and every
    prediction uses the limit's exact closed forms.

    **Covariates** (``fit(data, covariates=X)``): ``alpha_i = alpha exp(-gamma_purchase'
    z_i)`` (``exp(gamma)`` multiplies the mean purchase rate ``r / alpha_i``, as in CLVTools'
    BG/NBD with static covariates) and ``b_i = b exp(-gamma_dropout' z_i)`` (``exp(gamma)``
    multiplies the odds ``a / b_i`` of the mean dropout probability after a purchase, as the
    sBG's dropout effect does). CLVTools scales ``a`` and ``b`` by one factor instead, which
    keeps the mean dropout probability and only changes its spread, so a group that drops
    out more could not show it. Fits with covariates use the full model and, when it heads
    for a limit, that limit too (keeping the effects it can carry: ``lambda_i = lambda
    exp(gamma_purchase' z_i)`` for a common purchase rate, and ``exp(gamma_dropout' z_i)``
    on the odds of a common or two-point dropout probability, as on ``a / b_i``).
    """

    _param_names = ("r", "alpha", "a", "b")
    _covariate_links: ClassVar[dict[str, tuple[tuple[str, int], ...]]] = {
        "purchase": (("alpha", -1),),
        "dropout": (("b", -1),),
    }
    _limit_links: ClassVar[dict[str, tuple[tuple[str, int], ...]]] = {
        "alpha": (("lambda", -1),),
        # the odds a / b_i of a common or two-point dropout probability (see _natural)
        "b": (("p", -1), ("pi", -1)),
    }
    _first_purchase_dropout: ClassVar[int] = 0
    _limits = limits_of(0)

    def _log_likelihood(self, params: np.ndarray, data: FitData) -> np.ndarray:
        return row_log_likelihood(params, data, self._first_purchase_dropout)

    def _weighted_log_likelihood(
        self, params: np.ndarray, data: FitData
    ) -> tuple[float, np.ndarray]:
        return weighted_log_likelihood(params, data, self._first_purchase_dropout)

    def _rows_log_likelihood(
        self, params: np.ndarray, data: FitData
    ) -> tuple[np.ndarray, np.ndarray | None]:
        return rows_log_likelihood(params, data, self._first_purchase_dropout)

    def _log_likelihood_and_gradient(
        self, params: np.ndarray, data: FitData
    ) -> tuple[np.ndarray, np.ndarray | None]:
        # the per-row formulas take scalar parameters as well as per-row ones
        return rows_log_likelihood(params, data, self._first_purchase_dropout)

    def _limit_log_likelihood(self, params: Mapping[str, float], data: FitData) -> np.ndarray:
        rate, dropout = mixings(params)
        k = self._first_purchase_dropout
        x, tx, T = data["frequency"], data["recency"], data["T"]
        # log_weight(x, s) = log_weight(x, 0) + log_weight_ratio(x, 0, s): the gamma
        # functions once per frequency (per distinct one for scalar parameters; covariate
        # fits give per-row ones), and only logarithms per row
        freq, of_row = x, np.arange(x.size)
        if not any(np.ndim(v) for v in params.values()):
            (freq,), of_row = data.groups("frequency")
        zero = np.zeros(1)
        head = rate.log_weight(freq, zero)
        with np.errstate(divide="ignore"):
            alive = (dropout.log_survive(freq + k) + head)[of_row]
            dropped = (dropout.log_drop_at(freq + k) + head)[of_row]
        alive += rate.log_weight_ratio(x, zero, T)
        dropped += rate.log_weight_ratio(x, zero, tx)
        return np.asarray(np.logaddexp(alive, dropped))

    def _initial_params(self, data: FitData) -> np.ndarray:
        w = data.weights
        mean_t = float(np.average(data["T"], weights=w))
        mean_x = float(np.average(data["frequency"], weights=w))
        # rate r/alpha near the observed purchase rate; a, b give a moderate dropout rate
        return np.array([1.0, max(mean_t, 1e-6) / (mean_x + 0.5), 1.0, 2.0])

    def _mixings(self) -> tuple[RateMixing, DropoutMixing]:
        self._check_fitted()
        return mixings(self.params_)

    # ------------------------------------------------------------------ predictions
    def _log_dropout_odds(self, x: np.ndarray, tx: np.ndarray, T: np.ndarray) -> np.ndarray:
        """``d``: log P(dropped out after the last purchase) / P(alive).

        ``-inf`` (certainly alive) when there was no dropout chance yet (``x + k = 0``).
        """
        rate, dropout = self._mixings()
        chances = x + self._first_purchase_dropout
        # a subnormal recency underflows in the exposure ratio: harmless, the term is then 0
        with np.errstate(divide="ignore", invalid="ignore", under="ignore"):
            odds = dropout.log_drop_odds(chances) + rate.log_weight_ratio(x, T, tx)
        return np.asarray(np.where(chances > 0, odds, -np.inf))

    def probability_alive(
        self, data: Any = None, *, at: Any = 0.0, covariates: Any = None
    ) -> np.ndarray:
        """P(customer alive ``at`` time units after the end of observation | history).

        At the end of observation (``at = 0``) it is ``1 / (1 + e^d)``: Fader, Hardie & Lee
        (2008) eq. 2 for BG/NBD, and its MBG/NBD analogue (one more dropout chance). Later,
        a customer alive at ``T`` drops out at rate ``lambda p`` (each purchase ends their
        life with probability ``p``: a thinned Poisson process), so they are still alive at
        ``T + at`` with probability ``E[e^(-lambda p at)]`` over the rates of customers
        alive at ``T`` with this history, ``lambda ~ Gamma(r + x, alpha + T)`` and
        ``p ~ Beta(a, b + x + k)``::

            P(alive at T + at) = P(alive at T) * E_p[(1 + p at / (alpha + T))^-(r + x)]

        (= ``2F1(r + x, a; a + b + x + k; -at / (alpha + T))``), the expectation over ``p``
        by Gauss-Jacobi quadrature; exact for the limit models.

        Parameters
        ----------
        data
            RFM, frame or mapping of customers; ``None`` = the training customers.
        at
            Time after each customer's ``T`` in the fitted unit (a number, one per customer,
            or a column ``(k, 1)`` for a grid); 0 = at the end of observation.
        covariates
            For a model fitted with covariates: one row per customer of ``data``.

        Returns
        -------
        numpy.ndarray
            One probability per customer (per horizon and customer for a column of ``at``).

        Examples
        --------
        >>> from funnelkit.clv import BetaGeoFitter
        >>> from funnelkit.datasets.btyd import simulate_bgnbd
        >>> model = BetaGeoFitter().fit(simulate_bgnbd(2000, T=52.0, seed=1).rfm)
        >>> now, later = model.probability_alive(), model.probability_alive(at=26.0)
        >>> bool((later <= now).all())
        True
        """
        if self._covariate_route(covariates):
            return self._predict_for("probability_alive", data, covariates, at=at)
        d = self._data_for_prediction(data)
        x, T = d["frequency"], d["T"]
        ahead = as_horizon(at, "at", customers=x.shape[0])
        alive = alive_from_odds(self._log_dropout_odds(x, d["recency"], T))
        if not np.any(ahead > 0):
            if np.broadcast_shapes(alive.shape, ahead.shape) == alive.shape:
                return np.asarray(alive)  # one horizon per customer (or one for all)
            return np.asarray(alive * np.ones(ahead.shape))
        rate, dropout = self._mixings()
        shape = np.broadcast_shapes(x.shape, ahead.shape)
        xb, Tb, ab = (np.broadcast_to(v, shape).reshape(-1) for v in (x, T, ahead))
        posterior = rate.posterior(xb[:, None], Tb[:, None])

        def stay(p: np.ndarray) -> np.ndarray:
            with np.errstate(under="ignore"):
                return np.asarray(np.exp(posterior.log_laplace(p * ab[:, None])))

        later = dropout.alive_posterior(xb + self._first_purchase_dropout).expect(stay, xb.shape)
        # at = 0 exactly: the plain probability, not a quadrature of ones
        later = np.where(ab > 0, np.minimum(later, 1.0), 1.0).reshape(shape)
        with np.errstate(under="ignore"):  # a tiny probability times another is 0, rightly
            return np.asarray(alive * later)

    def _expected_purchases(self, t: Any, data: Any) -> np.ndarray:
        """Expected repeat purchases in ``(T, T + t]`` given each customer's history.

        P(alive) times ``c/(a-1) (1 - (1-z)^(a-1) 2F1(c-r, a-1; c; z))`` with
        ``c = a+b+x+k-1`` and ``z = t/(alpha+T+t)``: FHL (2005) eq. 10 for BG/NBD, Batislam
        et al. (2007) with Wagner & Hoppe's (2008) correction for MBG/NBD, after Euler's
        transformation so the parameters stay small for customers with thousands of
        purchases. Where that closed form overflows (very large ``a``), and for the limit
        models, the same expectation is computed from its mixture form
        ``E_p[(1 - E e^(-lambda p t)) / p]`` over the posterior dropout probability
        (:func:`mean_purchases`).

        Parameters
        ----------
        t
            Horizon(s) in the fitted time unit (scalar or array broadcasting to customers).
        data
            RFM, frame or mapping of customers; ``None`` = the training customers.
        """
        d = self._data_for_prediction(data)
        x, T = d["frequency"], d["T"]
        alive = alive_from_odds(self._log_dropout_odds(x, d["recency"], T))
        with np.errstate(under="ignore"):  # near-certain death: 0 purchases, rightly
            return np.asarray(self._purchases_if_alive(t, x, T) * alive)

    def expected_purchases_if_alive(
        self, horizon: Any, data: Any = None, *, covariates: Any = None
    ) -> np.ndarray:
        """Expected repeat purchases in ``(T, T + horizon]`` of customers alive at ``T``.

        It depends on the history through ``frequency`` and ``T`` only (recency is ignored),
        and ``expected_purchases(horizon, data) = probability_alive(data) *
        expected_purchases_if_alive(horizon, data)``: the factorisation lets scoring evaluate
        its special function once per distinct ``(frequency, T)``.

        Examples
        --------
        >>> from funnelkit.clv import BetaGeoFitter
        >>> from funnelkit.datasets.btyd import simulate_bgnbd
        >>> model = BetaGeoFitter().fit(simulate_bgnbd(2000, T=52.0, seed=1).rfm)
        >>> both = model.probability_alive() * model.expected_purchases_if_alive(10.0)
        >>> float(abs(both - model.expected_purchases(10.0)).max()) < 1e-12
        True
        """
        if self._covariate_route(covariates):
            return self._predict_for(
                "expected_purchases_if_alive", data, covariates, horizon=horizon
            )
        d = self._data_for_prediction(data)
        return self._purchases_if_alive(horizon, d["frequency"], d["T"])

    def _purchases_if_alive(self, t: Any, x: np.ndarray, T: np.ndarray) -> np.ndarray:
        if as_horizon(t, customers=x.shape[0]).ndim == 0:
            # one horizon for all: the special function once per distinct (frequency, T)
            return on_distinct_rows(lambda xs, Ts: self._if_alive_rows(t, xs, Ts), x, T)
        return self._if_alive_rows(t, x, T)

    def _if_alive_rows(self, t: Any, x: np.ndarray, T: np.ndarray) -> np.ndarray:
        rate, dropout = self._mixings()
        horizon = as_horizon(t, customers=x.shape[0])
        k = self._first_purchase_dropout
        shape = np.broadcast_shapes(x.shape, horizon.shape)
        value = np.full(shape, np.nan)
        if isinstance(rate, GammaRate) and isinstance(dropout, BetaDropout):
            r, alpha, a, b = rate.shape, rate.rate, dropout.a, dropout.b
            z = horizon / (alpha + T + horizon)
            c = a + b + (x + k - 1.0)
            with np.errstate(all="ignore"):
                tail = (1.0 - z) ** (a - 1.0) * hyp2f1(c - x - r, a - 1.0, c, z)
                value = np.broadcast_to(c / (a - 1.0) * (1.0 - tail), shape).copy()
        bad = ~np.isfinite(value)
        if bad.any():
            xb, Tb, tb = (np.broadcast_to(v, shape)[bad] for v in (x, T, horizon))
            value[bad] = mean_purchases(
                rate.posterior(xb[:, None], Tb[:, None]),
                dropout.alive_posterior(xb + k),
                tb,
                survive=False,
            )
        return value

    def _expected_purchases_new_customer(self, t: Any) -> np.ndarray:
        """Expected repeat purchases in ``(0, t]`` for a new customer (FHL 2005, eq. 9).

        ``E[X(t)] = m/(a-1) (1 - (1-z)^(a-1) 2F1(a+b-1-r+k, a-1; a+b-1+k; z))``,
        ``z = t/(alpha+t)``, with ``m = a+b-1`` for BG/NBD and ``m = b`` for MBG/NBD (whose
        first purchase already gives a dropout chance); the mixture form where that
        overflows and for the limit models.
        """
        rate, dropout = self._mixings()
        k = self._first_purchase_dropout
        horizon = as_horizon(t)
        value = np.full(horizon.shape, np.nan)
        if isinstance(rate, GammaRate) and isinstance(dropout, BetaDropout):
            r, alpha, a, b = rate.shape, rate.rate, dropout.a, dropout.b
            z = horizon / (alpha + horizon)
            c = a + b + (k - 1.0)
            with np.errstate(all="ignore"):
                tail = (1.0 - z) ** (a - 1.0) * hyp2f1(c - r, a - 1.0, c, z)
                # a = 1 is a removable singularity of the closed form: numpy division gives
                # a non-finite value there, which the mixture form below replaces
                value = np.asarray(np.divide(c - k * a, a - 1.0) * (1.0 - tail), dtype=float)
        bad = ~np.isfinite(value)
        if bad.any():
            value = value.copy()
            value[bad] = mean_purchases(rate, dropout, horizon[bad], survive=bool(k))
        return value

    def _probability_of_purchases(self, n: Any, t: Any) -> np.ndarray:
        """P(X(t) = n): probability that a new customer makes ``n`` repeat purchases by ``t``.

        Either the customer survives the ``n`` dropout chances of those purchases and the
        purchase process gives exactly ``n``, or they drop out at the ``(n + k)``-th chance
        while it would have given at least ``n + k``:
        ``E[(1-p)^n] P(N(t) = n) + E[p (1-p)^(n+k-1)] P(N(t) >= n + k)`` (FHL 2005 eq. 8 for
        BG/NBD, ``k = 0``; its MBG/NBD analogue, ``k = 1``). The finite sum in FHL eq. 8 is a
        negative-binomial tail, computed with the regularised incomplete beta function.
        """
        rate, dropout = self._mixings()
        count = whole_counts(n)
        horizon = as_horizon(t)
        k = self._first_purchase_dropout
        # tiny probabilities underflow to 0 (e.g. 10,000 purchases in one period)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore", under="ignore"):
            stay = np.exp(dropout.log_survive(count) + rate.log_count_pmf(count, horizon))
            chances = count + k
            leave = np.where(
                chances > 0,
                np.exp(dropout.log_drop_at(chances)) * rate.count_at_least(chances, horizon),
                0.0,
            )
        return np.asarray(stay + leave)


def mixings(params: Mapping[str, float]) -> tuple[RateMixing, DropoutMixing]:
    """The purchase-rate and dropout mixing distributions of a full or limit parameter set."""
    rate = rate_mixing(params)
    dropout: DropoutMixing
    if "a" in params:
        dropout = BetaDropout(params["a"], params["b"])
    elif "pi" in params:
        dropout = TwoPointDropout(params["pi"])
    else:
        dropout = CommonDropout(params.get("p", 0.0))
    return rate, dropout


def mean_purchases(
    rate: RateMixing, dropout: DropoutMixing, t: np.ndarray, *, survive: bool
) -> np.ndarray:
    """``E_p[w(p) (1 - E_lambda e^(-lambda p t)) / p]``: expected purchases in ``t``.

    The mixture form of the expected purchase count: given the dropout probability ``p`` and
    the rate distribution, an alive customer makes ``(1 - E e^(-lambda p t)) / p`` purchases
    (geometric number of purchases until dropout, thinned Poisson process), ``w = 1``; a new
    MBG/NBD customer ``(1 - p)`` times that (``survive=True``). At ``p = 0`` it is
    ``t E[lambda]``. Over a beta dropout the expectation is a Gauss-Jacobi quadrature
    (:func:`~funnelkit.clv._mixing.beta_expectation`), exact for a common ``p``.
    """
    t = np.asarray(t, dtype=float)
    horizon = t[..., None]
    mean = np.asarray(rate.mean)

    def count(p: np.ndarray) -> np.ndarray:
        positive = p > 0
        with np.errstate(divide="ignore", invalid="ignore"):
            gain = -np.expm1(rate.log_laplace(p * horizon)) / np.where(positive, p, 1.0)
        gain = np.where(positive, gain, horizon * mean)
        return np.asarray(gain * (1.0 - p) if survive else gain)

    return dropout.expect(count, t.shape)


def _dot(u: np.ndarray, v: np.ndarray) -> float:
    # einsum, not BLAS: threaded BLAS dots are slow for one-off vectors on busy machines
    return float(np.einsum("i,i->", u, v))


def alive_from_odds(d: np.ndarray) -> np.ndarray:
    """``1 / (1 + e^d)`` from the log odds of having dropped out: a probability in [0, 1].

    A customer far past their usual purchase gap has ``d`` in the thousands, where the
    probability underflows to 0 (the right answer, not a floating-point error).
    """
    with np.errstate(under="ignore"):
        return np.asarray(np.exp(-softplus(d)))


def softplus(d: np.ndarray) -> np.ndarray:
    """``log(1 + exp(d))`` without overflow (and faster than ``np.logaddexp(0, d)``)."""
    # exp(-|d|) underflows to 0 for |d| > 745, where log1p(0) = 0 is the right answer
    with np.errstate(under="ignore"):
        return np.asarray(np.maximum(d, 0.0) + np.log1p(np.exp(-np.abs(d))))


def _fixed(data: FitData) -> dict[str, np.ndarray]:
    """Row terms that do not depend on the parameters, once per fit data (every evaluation
    of a fit, and of a bootstrap refit, reads them)."""
    if "geometric" not in data.cache:
        x, w = data["frequency"], data.weights
        data.cache["geometric"] = {
            "gap": data["T"] - data["recency"],
            "w_x": data.group_sums("frequency", w),
            "wx": w * x,
        }
    found: dict[str, np.ndarray] = data.cache["geometric"]
    return found


def _pieces(params: np.ndarray, data: FitData, k: int) -> dict[str, np.ndarray]:
    r, alpha, a, b = params
    (ux,), ix = data.groups("frequency")
    (uT,), iT = data.groups("T")
    (utx,), itx = data.groups("recency")
    x, tx = data["frequency"], data["recency"]
    has_chance = ux + k > 0
    with np.errstate(divide="ignore"):
        # b + (n - 1), the whole numbers first: b + n - 1 rounds a tiny b (two-point limit)
        log_drop = np.where(
            has_chance, np.log(a) - np.log(b + (np.maximum(ux + k, 1.0) - 1.0)), -np.inf
        )
    rx = r + x
    log_at = np.log(alpha + uT)[iT]
    # log((alpha + T) / (alpha + tx)) as a log1p: a difference of two logs loses the digits
    # that a huge r (common-rate limit) multiplies
    diff = np.log1p(_fixed(data)["gap"] / (alpha + tx))
    d = log_drop[ix] + rx * diff
    sp = softplus(d)
    # rising factorials and log1p instead of differences of large gammaln / log terms, so
    # the likelihood keeps its digits as the fit approaches a limit (a + b or r ~ 1e12)
    head = log_pochhammer(r, ux) + log_pochhammer(b, ux + k) - log_pochhammer(a + b, ux + k)
    log1p_t = np.log1p(uT / alpha)[iT]
    exposure = r * log1p_t + x * log_at
    return {
        "ux": ux, "ix": ix, "uT": uT, "iT": iT, "utx": utx, "itx": itx, "rx": rx,
        "log_at": log_at, "diff": diff, "d": d, "sp": sp, "head": head, "exposure": exposure,
        "has_chance": has_chance, "log1p_t": log1p_t,
    }  # fmt: skip


def row_log_likelihood(params: np.ndarray, data: FitData, k: int) -> np.ndarray:
    """Per-row log-likelihood."""
    p = _pieces(params, data, k)
    return np.asarray(p["head"][p["ix"]] + p["sp"] - p["exposure"])


def rows_log_likelihood(params: np.ndarray, data: FitData, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-row log-likelihood and gradient ``(4, n_rows)`` with per-row parameters
    ``params`` of shape ``(4, n_rows)`` (customers with covariates): the terms of
    :func:`weighted_log_likelihood` evaluated row by row."""
    r, alpha, a, b = (np.asarray(v, dtype=float) for v in params)
    x, tx, T = data["frequency"], data["recency"], data["T"]
    chances = x + k
    has_chance = chances > 0
    safe = np.maximum(chances, 1.0)
    with np.errstate(divide="ignore"):
        log_drop = np.where(has_chance, np.log(a) - np.log(b + (safe - 1.0)), -np.inf)
    diff = np.log1p((T - tx) / (alpha + tx))
    d = log_drop + (r + x) * diff
    sp = softplus(d)
    exposure = r * np.log1p(T / alpha) + x * np.log(alpha + T)
    w4 = np.exp(d - sp)
    inv_b = np.where(has_chance, 1.0 / (b + (safe - 1.0)), 0.0)

    def by_frequency(u: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The terms that depend on the frequency ``u`` alone: the rising factorials, and
        the digamma differences of the gradient in ``r``, ``a + b`` and ``b``."""
        head = log_pochhammer(r, u) + log_pochhammer(b, u + k) - log_pochhammer(a + b, u + k)
        return (
            head,
            digamma_difference(r, u),
            -digamma_difference(a + b, u + k),
            digamma_difference(b, u + k),
        )

    head, d_r, d_ab, d_b = data.frequency_terms(by_frequency, r, a, b)
    grad = np.stack(
        [
            d_r - np.log1p(T / alpha) + w4 * diff,
            r * T / (alpha * (alpha + T))
            - x / (alpha + T)
            + w4 * (r + x) * (1.0 / (alpha + T) - 1.0 / (alpha + tx)),
            d_ab + w4 / a,
            d_ab + d_b - w4 * inv_b,
        ]
    )
    return np.asarray(head + sp - exposure), grad


def weighted_log_likelihood(params: np.ndarray, data: FitData, k: int) -> tuple[float, np.ndarray]:
    """Weighted total log-likelihood and its analytic gradient in ``(r, alpha, a, b)``."""
    r, alpha, a, b = params
    p = _pieces(params, data, k)
    w, ux = data.weights, p["ux"]
    fixed = _fixed(data)
    w_x = fixed["w_x"]
    rx, diff = p["rx"], p["diff"]
    total = float(_dot(w_x, p["head"]) + _dot(w, p["sp"]) - _dot(w, p["exposure"]))
    # w4 = P(dropped out | row): the weight of the dropout branch in the mixture
    ww4 = w * np.exp(p["d"] - p["sp"])
    uT = p["uT"]
    inv_at = (1.0 / (alpha + uT))[p["iT"]]
    inv_ax = (1.0 / (alpha + p["utx"]))[p["itx"]]
    d_ab = -digamma_difference(a + b, ux + k)
    inv_b = np.where(p["has_chance"], 1.0 / (b + (np.maximum(ux + k, 1.0) - 1.0)), 0.0)
    grad = np.empty(4)
    # log(alpha / (alpha + T)) and r / alpha - (r + x) / (alpha + T) written without the
    # cancellation that would swamp them for a huge r
    grad[0] = _dot(w_x, digamma_difference(r, ux)) - _dot(w, p["log1p_t"]) + _dot(ww4, diff)
    grad[1] = (
        r * _dot(w, (uT / (alpha * (alpha + uT)))[p["iT"]])
        - _dot(fixed["wx"], inv_at)
        + _dot(ww4 * rx, inv_at - inv_ax)
    )
    grad[2] = _dot(w_x, d_ab) + ww4.sum() / a
    grad[3] = _dot(w_x, d_ab + digamma_difference(b, ux + k)) - _dot(
        inv_b, data.group_sums("frequency", ww4)
    )
    return total, grad
