"""Pareto/NBD: Poisson purchasing with gamma-mixed rates and exponential lifetimes."""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
from numpy.polynomial.legendre import leggauss
from scipy import integrate
from scipy.special import digamma, gammaln

from funnelkit.clv._base import FitData, as_horizon
from funnelkit.clv._calls import PurchasePredictions
from funnelkit.clv._covariate_model import CovariateModel
from funnelkit.clv._data import on_distinct_rows, whole_counts
from funnelkit.clv._geometric import softplus
from funnelkit.clv._limits import (
    CONCENTRATED,
    Limit,
    concentrated_gamma,
    vanishing_gamma,
)
from funnelkit.clv._mixing import (
    CommonLifetime,
    GammaLifetime,
    GammaRate,
    LifetimeMixing,
    RateMixing,
    gamma_rate_near,
    log_death_integral,
    mean_rate,
    rate_mixing,
)
from funnelkit.clv._pareto_rows import (
    _by_quadrature,
    _log_f,
    _quadrature_log_likelihood,
    _series_is_poor,
    pair_levels,
    rows_log_likelihood,
)
from funnelkit.clv.conditional import ParetoUncertainty
from funnelkit.exceptions import FunnelkitError

__all__ = ["ParetoNBDFitter", "mixings"]


def _limits() -> tuple[Limit, ...]:
    def mu_of(q: Mapping[str, float]) -> float:
        return q["s"] / q["beta"] if "s" in q else q.get("mu", 0.0)

    def gamma_lifetime_near(q: Mapping[str, float]) -> dict[str, float]:
        if "mu" not in q:  # no dropout: a gamma with almost all its mass at 0
            return {"s": 1e-4, "beta": 1.0}
        return {"s": CONCENTRATED, "beta": CONCENTRATED / q["mu"]}

    return (
        Limit(
            name="common dropout rate",
            meaning="s, beta → ∞ with s / beta = mu: every customer's lifetime is "
            "exponential with the same dropout rate mu",
            params=("r", "alpha", "mu"),
            start=lambda q: {"r": q["r"], "alpha": q["alpha"], "mu": mu_of(q)},
            embed=lambda q: {"r": q["r"], "alpha": q["alpha"], **gamma_lifetime_near(q)},
            near=lambda q: concentrated_gamma(q["s"]),
        ),
        Limit(
            name="common purchase rate",
            meaning="r, alpha → ∞ with r / alpha = lambda: every customer buys at the same "
            "Poisson rate lambda while alive",
            params=("lambda", "s", "beta"),
            start=lambda q: {"lambda": mean_rate(q), "s": q["s"], "beta": q["beta"]},
            embed=lambda q: {**gamma_rate_near(q, CONCENTRATED), "s": q["s"], "beta": q["beta"]},
            near=lambda q: concentrated_gamma(q["r"]),
        ),
        Limit(
            name="common purchase and dropout rates",
            meaning="no heterogeneity at all: every customer buys at rate lambda and drops out "
            "at rate mu",
            params=("lambda", "mu"),
            start=lambda q: {"lambda": mean_rate(q), "mu": mu_of(q)},
            embed=lambda q: {**gamma_rate_near(q, CONCENTRATED), **gamma_lifetime_near(q)},
            near=lambda q: concentrated_gamma(q["r"]) and concentrated_gamma(q["s"]),
        ),
        Limit(
            name="no dropout",
            meaning="s → 0: nobody drops out; purchases follow the NBD model",
            params=("r", "alpha"),
            start=lambda q: {"r": q["r"], "alpha": q["alpha"]},
            embed=lambda q: {"r": q["r"], "alpha": q["alpha"], **gamma_lifetime_near({})},
            near=lambda q: vanishing_gamma(q["s"]),
        ),
        Limit(
            name="no dropout and a common purchase rate",
            meaning="nobody drops out and everybody buys at the same Poisson rate lambda",
            params=("lambda",),
            start=lambda q: {"lambda": mean_rate(q)},
            embed=lambda q: {**gamma_rate_near(q, CONCENTRATED), **gamma_lifetime_near({})},
            near=lambda q: concentrated_gamma(q["r"]) and vanishing_gamma(q["s"]),
        ),
    )


def mixings(params: Mapping[str, float]) -> tuple[RateMixing, LifetimeMixing]:
    """The purchase-rate and dropout-rate mixing distributions of a full or limit parameter
    set (no ``s``/``beta``/``mu`` = no dropout)."""
    rate = rate_mixing(params)
    lifetime: LifetimeMixing = (
        GammaLifetime(params["s"], params["beta"])
        if "s" in params
        else CommonLifetime(params.get("mu", 0.0))
    )
    return rate, lifetime


class ParetoNBDFitter(ParetoUncertainty, PurchasePredictions, CovariateModel):
    """Pareto/NBD model (Schmittlein, Morrison & Colombo 1987).

    While alive a customer buys at Poisson rate ``lambda ~ Gamma(r, alpha)``; their lifetime
    is exponential with rate ``mu ~ Gamma(s, beta)``. ``frequency``, ``recency`` and ``T`` are
    in the fitted time unit, as are ``alpha`` and ``beta``.

    The likelihood follows Fader & Hardie (2005), eqs. (18)-(20). Their Gauss hypergeometric
    term ``2F1(r+s+x, s+1 or r+x; r+s+x+1; z)`` grows like ``(1-z)^-(r+x)`` and overflows for
    customers with thousands of purchases; Euler's transformation turns it into
    ``(1-z)^(...) 2F1(1, b; c; z)`` with ``c > b``, whose series has positive terms, lies in
    ``[1, 1/(1-z)]`` and is summed here in double precision together with its derivatives in
    ``b``, ``c`` and ``z``. Everything else is in log space, so the log-likelihood and its
    **analytic gradient** stay finite for any frequency. The series needs many terms only
    when ``|alpha - beta|`` dwarfs ``min(alpha, beta) + recency``; it is capped at 2,048
    terms with a geometric tail estimate (accurate while ``1 - z`` is not tiny; a fit
    drifting there is usually heading for a degenerate boundary anyway).

    **Limit models.** When the data show no heterogeneity in a rate, the likelihood keeps
    rising as its gamma concentrates, and the fit ends at a limit model
    (``result_.boundary``; ``params_`` then holds the limit's parameters):

    * common dropout rate ``mu``: ``s, beta → ∞`` with ``s / beta = mu``. The gamma's
      variance ``mu / beta`` vanishes, so ``E[e^(-mu t)] = (1 + t/beta)^-s -> e^(-mu t)`` and
      the lifetime density ``(s/beta)(1 + t/beta)^-(s+1) -> mu e^(-mu t)``;
    * common purchase rate ``lambda``: ``r, alpha → ∞`` with ``r / alpha = lambda``,
      ``E[lambda^x e^(-lambda t)] -> lambda^x e^(-lambda t)``;
    * both, and no dropout (``s → 0``: all of the gamma's mass moves to ``mu = 0``; the NBD
      model), alone or with a common purchase rate.

    Schmittlein et al.'s derivation conditions on the two rates before mixing (Fader &
    Hardie 2005, eqs. 11-13), so every expression is an expectation over the rate and the
    dropout-rate distributions, which :mod:`funnelkit.clv._mixing` provides for the gamma and
    its point mass alike: the limits use the same formulas with exact point-mass
    expectations, not the general closed form at huge parameters (where ``2F1`` cannot be
    evaluated). The likelihood's dropout integral has no stable closed form once a gamma has
    collapsed (incomplete gamma functions of negative order) and is integrated numerically
    (:func:`~funnelkit.clv._mixing.log_death_integral`).

    **Covariates** (``fit(data, covariates=X)``), as in CLVTools' Pareto/NBD with static
    covariates: ``alpha_i = alpha exp(-gamma_purchase' z_i)`` and ``beta_i = beta
    exp(-gamma_dropout' z_i)``, so ``exp(gamma)`` multiplies the mean purchase rate
    ``r / alpha_i`` and the mean dropout rate ``s / beta_i``. Fits with covariates use the
    full model and, when it heads for a limit, that limit too (keeping the effects it can
    carry: ``lambda_i = lambda exp(gamma_purchase' z_i)`` for a common purchase rate).

    Examples
    --------
    >>> from funnelkit.clv import ParetoNBDFitter
    >>> from funnelkit.datasets.btyd import simulate_pareto_nbd
    >>> sim = simulate_pareto_nbd(2000, T=52.0, seed=3)
    >>> model = ParetoNBDFitter().fit(sim.rfm)
    >>> model.probability_alive(at=10.0).shape
    (2000,)

    References
    ----------
    .. [1] Schmittlein, D. C., Morrison, D. G. & Colombo, R. (1987). Counting Your Customers:
       Who Are They and What Will They Do Next? *Management Science* 33(1), 1-24.
    .. [2] Fader, P. S. & Hardie, B. G. S. (2005). A Note on Deriving the Pareto/NBD Model and
       Related Expressions. http://brucehardie.com/notes/009/
    .. [3] Fader, P. S., Hardie, B. G. S. & Lee, K. L. (2005). RFM and CLV: Using Iso-Value
       Curves for Customer Base Analysis. *Journal of Marketing Research* 42(4), 415-430.
    .. [4] Fader, P. S. & Hardie, B. G. S. (2006). Deriving an Expression for P(X(t) = x)
       Under the Pareto/NBD Model. http://brucehardie.com/notes/012/
    """

    _param_names = ("r", "alpha", "s", "beta")
    _model_name = "Pareto/NBD"
    _covariate_links: ClassVar[dict[str, tuple[tuple[str, int], ...]]] = {
        "purchase": (("alpha", -1),),
        "dropout": (("beta", -1),),
    }
    _limit_links: ClassVar[dict[str, tuple[tuple[str, int], ...]]] = {
        "alpha": (("lambda", -1),),
        "beta": (("mu", -1),),
    }
    _limits = _limits()

    # ------------------------------------------------------------------ likelihood
    # Per customer, LL = head(x) + alive(x, T) + softplus(dead - alive) where
    # dead = log s - log(r+s+x) + log A0(x, tx, T) and A0 = F(x, tx) - F(x, T). Everything
    # except A0 depends on (x, T) pairs only and F on (x, tx) or (x, T) pairs, so special
    # functions run per pair; rows only combine them, and the gradient is summed with bincounts.
    def _pair_terms(self, params: np.ndarray, data: FitData, *, gradient: bool) -> dict[str, Any]:
        r, alpha, s, beta = params
        (px, ptx), i_tx = data.groups("frequency", "recency")
        (qx, qT), i_T = data.groups("frequency", "T")
        at_tx, at_T = (pair_levels(data, n) for n in (("frequency", "recency"), ("frequency", "T")))
        log_f_tx, d_tx = _log_f(params, px, ptx, gradient=gradient, distinct=at_tx)
        log_f_T, d_T = _log_f(params, qx, qT, gradient=gradient, distinct=at_T)
        log_at, log_bt = np.log(alpha + qT), np.log(beta + qT)
        head = gammaln(r + qx) - gammaln(r) + r * np.log(alpha) + s * np.log(beta)
        alive = -(r + qx) * log_at - s * log_bt
        dead_const = np.log(s) - np.log(r + s + qx)
        delta = np.minimum(log_f_T[i_T] - log_f_tx[i_tx], 0.0)
        gap = -np.expm1(delta)  # A0 / F(tx), in [0, 1)
        with np.errstate(divide="ignore"):
            # A0 = 0 exactly for a purchase at the very end (tx == T): no dropout branch
            odds = (dead_const - alive)[i_T] + log_f_tx[i_tx] + np.log(gap)
        out = {"i_T": i_T, "i_tx": i_tx, "base": head + alive, "odds": odds, "gap": gap}
        if gradient:
            inv_rsx = 1.0 / (r + s + qx)
            d_base = np.stack(
                [
                    digamma(r + qx) - digamma(r) + np.log(alpha) - log_at,
                    r / alpha - (r + qx) / (alpha + qT),
                    np.log(beta) - log_bt,
                    s / beta - s / (beta + qT),
                ]
            )
            d_odds = np.stack(
                [
                    -inv_rsx + log_at,
                    (r + qx) / (alpha + qT),
                    1.0 / s - inv_rsx + log_bt,
                    s / (beta + qT),
                ]
            )
            out.update(d_base=d_base, d_odds=d_odds, d_tx=d_tx, d_T=d_T)
        return out

    def _log_likelihood(self, params: np.ndarray, data: FitData) -> np.ndarray:
        if _series_is_poor(*params):
            rate, lifetime = mixings(dict(zip(self._param_names, params, strict=True)))
            return mixture_log_likelihood(
                rate, lifetime, data["frequency"], data["recency"], data["T"]
            )
        t = self._pair_terms(params, data, gradient=False)
        return np.asarray(t["base"][t["i_T"]] + softplus(t["odds"]))

    def _weighted_log_likelihood(
        self, params: np.ndarray, data: FitData
    ) -> tuple[float, np.ndarray]:
        if _by_quadrature(params, data):
            return _quadrature_log_likelihood(params, data)
        t = self._pair_terms(params, data, gradient=True)
        w, i_T, i_tx, gap = data.weights, t["i_T"], t["i_tx"], t["gap"]
        n_q, n_p = t["base"].size, t["d_tx"].shape[1]
        sp = softplus(t["odds"])
        w_q = np.bincount(i_T, weights=w, minlength=n_q)
        total = float(np.einsum("i,i->", w_q, t["base"]) + np.einsum("i,i->", w, sp))
        # weight of the dropout branch per row; d log A0 = (dF(tx) - (1 - gap) dF(T)) / gap
        ww = w * np.exp(t["odds"] - sp)
        with np.errstate(invalid="ignore", divide="ignore"):
            per_gap = np.where(gap > 0, ww / gap, 0.0)
        # einsum rather than BLAS matrix-vector products (see _geometric._dot)
        grad = np.einsum("ki,i->k", t["d_base"], w_q)
        grad += np.einsum("ki,i->k", t["d_odds"], np.bincount(i_T, weights=ww, minlength=n_q))
        grad += np.einsum("ki,i->k", t["d_tx"], np.bincount(i_tx, weights=per_gap, minlength=n_p))
        grad -= np.einsum(
            "ki,i->k", t["d_T"], np.bincount(i_T, weights=per_gap - ww, minlength=n_q)
        )
        return total, grad

    def _rows_log_likelihood(
        self, params: np.ndarray, data: FitData
    ) -> tuple[np.ndarray, np.ndarray | None]:
        return rows_log_likelihood(params, data)

    def _log_likelihood_and_gradient(
        self, params: np.ndarray, data: FitData
    ) -> tuple[np.ndarray, np.ndarray | None]:
        # per row, as with covariates: a bootstrap refit's first evaluation comes from these
        # terms, found once on the rows every sample reweights (without them each refit
        # evaluated its start again, a third of its evaluations)
        per_row = np.repeat(np.asarray(params, dtype=float)[:, None], data.n_rows, axis=1)
        return rows_log_likelihood(per_row, data)

    def _initial_params(self, data: FitData) -> np.ndarray:
        w = data.weights
        mean_t = max(float(np.average(data["T"], weights=w)), 1e-6)
        mean_x = float(np.average(data["frequency"], weights=w))
        scale = mean_t / (mean_x + 0.5)
        # alpha = beta makes the hypergeometric term trivial at the start
        return np.array([1.0, scale, 1.0, scale])

    def _limit_log_likelihood(self, params: Mapping[str, float], data: FitData) -> np.ndarray:
        rate, lifetime = mixings(params)
        return mixture_log_likelihood(rate, lifetime, data["frequency"], data["recency"], data["T"])

    def _mixings(self) -> tuple[RateMixing, LifetimeMixing]:
        self._check_fitted()
        return mixings(self.params_)

    # ------------------------------------------------------------------ predictions
    def _log_death_odds(self, d: Any) -> np.ndarray:
        """log of P(dead, data) / P(alive, data) for each customer."""
        rate, lifetime = self._mixings()
        x, tx, T = d["frequency"], d["recency"], d["T"]
        if not (isinstance(rate, GammaRate) and isinstance(lifetime, GammaLifetime)):
            return _log_death_odds_by_quadrature(rate, lifetime, x, tx, T)
        r, alpha, s, beta = rate.shape, rate.rate, lifetime.shape, lifetime.rate
        params = np.array([r, alpha, s, beta])
        if _series_is_poor(*params):
            return _log_death_odds_by_quadrature(rate, lifetime, x, tx, T)
        with np.errstate(under="ignore"):
            log_f_tx, _ = _log_f(params, x, tx, gradient=False)
            log_f_T, _ = _log_f(params, x, T, gradient=False)
        delta = np.minimum(log_f_T - log_f_tx, 0.0)
        with np.errstate(divide="ignore", under="ignore"):
            log_a0 = log_f_tx + np.log(-np.expm1(delta))
        return np.asarray(
            np.log(s)
            - np.log(r + s + x)
            + log_a0
            + (r + x) * np.log(alpha + T)
            + s * np.log(beta + T)
        )

    def _alive_now(self, d: Any) -> np.ndarray:
        def alive(x: np.ndarray, tx: np.ndarray, T: np.ndarray) -> np.ndarray:
            odds = self._log_death_odds({"frequency": x, "recency": tx, "T": T})
            # certain death underflows to a probability of 0, as it should
            with np.errstate(under="ignore"):
                return np.asarray(np.exp(-softplus(odds)))

        # the special function once per distinct history where many repeat
        return on_distinct_rows(alive, d["frequency"], d["recency"], d["T"])

    def probability_alive(
        self, data: Any = None, *, at: Any = 0.0, covariates: Any = None
    ) -> np.ndarray:
        """P(customer alive ``at`` time units after the end of observation | history).

        Given alive at ``T``, the dropout rate has posterior ``Gamma(s, beta + T)``, so
        ``P(alive at T + at) = P(alive at T) * ((beta + T) / (beta + T + at))^s``; with a
        common dropout rate ``mu`` the factor is ``e^(-mu at)``.

        Parameters
        ----------
        data
            RFM, frame or mapping of customers; ``None`` = the training customers.
        at
            Time after each customer's ``T`` (fitted unit); 0 = at the end of observation.
        covariates
            For a model fitted with covariates: one row per customer of ``data``.
        """
        if self._covariate_route(covariates):
            return self._predict_for("probability_alive", data, covariates, at=at)
        _, lifetime = self._mixings()
        ahead = as_horizon(at, "at")
        d = self._data_for_prediction(data)
        with np.errstate(under="ignore"):
            later = np.exp(lifetime.alive_posterior(d["T"]).log_survival(ahead))
            return np.asarray(self._alive_now(d) * later)

    def _expected_purchases(self, t: Any, data: Any) -> np.ndarray:
        """Expected purchases in ``(T, T + t]`` given each customer's history.

        ``P(alive) E[lambda | x, T] E[(1 - e^(-mu t)) / mu | alive at T]``: for the full model
        ``P(alive) (r+x)(beta+T) / ((alpha+T)(s-1)) [1 - ((beta+T)/(beta+T+t))^(s-1)]``
        (Schmittlein et al. 1987; Fader & Hardie 2005, eq. 41), with the ``s = 1`` limit; a
        common rate replaces ``(r+x)/(alpha+T)`` by ``lambda``, a common dropout rate the
        last factor by ``(1 - e^(-mu t)) / mu`` (``t`` without dropout).

        Parameters
        ----------
        t
            Horizon(s) in the fitted time unit (scalar or array broadcasting to customers).
        data
            RFM, frame or mapping of customers; ``None`` = the training customers.
        """
        d = self._data_for_prediction(data)
        if_alive = self._purchases_if_alive(t, d["frequency"], d["T"])
        with np.errstate(under="ignore"):
            return np.asarray(self._alive_now(d) * if_alive)

    def expected_purchases_if_alive(
        self, horizon: Any, data: Any = None, *, covariates: Any = None
    ) -> np.ndarray:
        """Expected purchases in ``(T, T + horizon]`` of customers alive at ``T``.

        ``E[lambda | x, T] E[(1 - e^(-mu t)) / mu | alive at T]`` depends on the history
        through ``frequency`` and ``T`` only (recency is ignored), and
        ``expected_purchases(horizon, data) = probability_alive(data) *
        expected_purchases_if_alive(horizon, data)``: the factorisation lets scoring
        evaluate ``P(alive)``, the model's special function, once per customer.

        Examples
        --------
        >>> from funnelkit.clv import ParetoNBDFitter
        >>> from funnelkit.datasets.btyd import simulate_pareto_nbd
        >>> model = ParetoNBDFitter().fit(simulate_pareto_nbd(2000, T=52.0, seed=3).rfm)
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
        rate, lifetime = self._mixings()
        horizon = as_horizon(t, customers=x.shape[0])
        with np.errstate(under="ignore"):
            span = lifetime.alive_posterior(T).expected_lifetime_within(horizon)
            return np.asarray(rate.posterior(x, T).mean * span)

    def _expected_purchases_new_customer(self, t: Any) -> np.ndarray:
        """Expected purchases in ``(0, t]`` for a new customer (Fader & Hardie 2005, eq. 27):
        ``E[lambda] E[(1 - e^(-mu t)) / mu]``."""
        rate, lifetime = self._mixings()
        horizon = as_horizon(t)
        return np.asarray(rate.mean * lifetime.expected_lifetime_within(horizon))

    def _probability_of_purchases(self, n: Any, t: Any) -> np.ndarray:
        """P(X(t) = n) for a new customer.

        Conditioning on the lifetime ``tau``: ``P(tau > t) P(N(t) = n) + int_0^t f(u)
        P(N(u) = n) du`` with ``N`` the (gamma-mixed) Poisson count over an active span and
        ``f`` the lifetime density. The first part is closed-form; the second is integrated
        in log-scaled form (one integral per ``(n, t)`` pair, not per customer), so it stays
        finite at limit parameters: by Gauss-Legendre rules over every pair at once, and
        adaptively where they do not agree (see :func:`_pmf_new_all`). Fader & Hardie (2006)
        give a closed form with two hypergeometric functions.
        """
        rate, lifetime = self._mixings()
        horizon = as_horizon(t)
        count = whole_counts(n)
        count, horizon = np.broadcast_arrays(count, horizon)
        flat_n, flat_t = count.ravel().astype(float), horizon.ravel().astype(float)
        out = np.empty(flat_n.size)
        for at in range(0, flat_n.size, _PAIRS_AT_ONCE):
            part = slice(at, at + _PAIRS_AT_ONCE)
            out[part] = _pmf_new_all(rate, lifetime, flat_n[part], flat_t[part])
        return out.reshape(count.shape)

    def discounted_residual_purchases(
        self, delta: float, data: Any = None, *, covariates: Any = None
    ) -> np.ndarray:
        """DERT: purchases over the remaining lifetime, discounted continuously at ``delta``.

        ``P(alive) E[lambda | x, T] E[1 / (delta + mu) | alive at T]``, which for the full
        model is Fader, Hardie & Lee (2005), eq. 2; see
        :func:`~funnelkit.clv.discounted_expected_residual_transactions`.

        Parameters
        ----------
        delta
            Continuous discount rate per fitted time unit, ``log(1 + rate)``; > 0.
        data
            RFM, frame or mapping of customers; ``None`` = the training customers.
        covariates
            For a model fitted with covariates: one row per customer of ``data``.
        """
        if not (math.isfinite(delta) and delta > 0):
            raise FunnelkitError(f"delta must be finite and > 0; got {delta!r}.")
        if self._covariate_route(covariates):
            return self._predict_for("discounted_residual_purchases", data, covariates, delta=delta)
        rate, lifetime = self._mixings()
        d = self._data_for_prediction(data)
        x, T = d["frequency"], d["T"]
        remaining = lifetime.alive_posterior(T).discounted_lifetime(delta)
        return np.asarray(self._alive_now(d) * rate.posterior(x, T).mean * remaining)


def _log_death_odds_by_quadrature(
    rate: RateMixing, lifetime: LifetimeMixing, x: Any, tx: Any, T: Any
) -> np.ndarray:
    with np.errstate(all="ignore"):
        alive = rate.log_weight(x, T) + lifetime.log_survival(T)
        return np.asarray(log_death_integral(rate, lifetime, x, tx, T) - alive)


def mixture_log_likelihood(
    rate: RateMixing, lifetime: LifetimeMixing, x: Any, tx: Any, T: Any
) -> np.ndarray:
    """Per-customer log-likelihood written against the mixing distributions.

    ``L = E[lambda^x e^(-lambda T)] E[e^(-mu T)] + int_tx^T E[lambda^x e^(-lambda tau)]
    E[mu e^(-mu tau)] d tau``: alive at ``T``, or dropped out at ``tau`` after the last
    purchase (Fader & Hardie 2005, eqs. 11-13, with the rates integrated out inside the
    integral). For the full model this equals eqs. 18-20; for the limits it is exact where
    the closed form degenerates. Without dropout it is the NBD likelihood.
    """
    with np.errstate(all="ignore"):
        alive = rate.log_weight(x, T) + lifetime.log_survival(T)
        # no dropout: the NBD likelihood (the mean is per row for customers with covariates)
        if not np.any(np.asarray(lifetime.mean) > 0):
            return np.asarray(alive)
        return np.asarray(np.logaddexp(alive, log_death_integral(rate, lifetime, x, tx, T)))


def _composite_rule(panels: int, nodes: int) -> tuple[np.ndarray, np.ndarray]:
    """Gauss-Legendre ``nodes`` on each of ``panels`` equal parts of ``[0, 1]``."""
    x, w = leggauss(nodes)
    at = (np.arange(panels)[:, None] + (x[None, :] + 1.0) / 2.0).ravel() / panels
    return at, np.tile(w, panels) / (2.0 * panels)


#: The integral of :func:`_pmf_new` over every ``(n, t)`` pair at once: 8 panels of 16
#: Gauss-Legendre nodes, checked against 8 of 8. Where the two agree to 1e-10 the finer
#: is kept: on 5,767 pairs of random parameters (``n`` up to 100) against adaptive
#: quadrature to 1e-12, 90% agreed and the worst kept was 7e-14 off (relative); the rest,
#: peaked integrands of many purchases mostly, go to :func:`_pmf_new`.
_FINE_RULE, _COARSE_RULE = _composite_rule(8, 16), _composite_rule(8, 8)
_RULES_AGREE = 1e-10
#: pairs integrated together: bounds the nodes' arrays (pairs x 192 floats)
_PAIRS_AT_ONCE = 4096


def _pmf_new_all(
    rate: RateMixing, lifetime: LifetimeMixing, n: np.ndarray, t: np.ndarray
) -> np.ndarray:
    """:func:`_pmf_new` of each pair ``(n[i], t[i])``, vectorised: the same integral (in the
    same log-scaled variable), by fixed rules where they are accurate."""
    out = np.where(n == 0.0, 1.0, 0.0)  # at t = 0
    todo = np.flatnonzero(t > 0.0)
    n, t = n[todo], t[todo]
    zero = np.array(0.0)
    with np.errstate(all="ignore"):
        alive = np.exp(lifetime.log_survival(t) + rate.log_count_pmf(n, t))
        scale = float(lifetime.log_density(zero))
        if not math.isfinite(scale):  # nobody drops out
            out[todo] = np.clip(alive, 0.0, 1.0)
            return out
        c = float(lifetime.death_rate(zero)) + float(rate.mean)
        end = np.log1p(c * t)
        peak = end - math.log(c)

        def integral(rule: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
            v = end[:, None] * rule[0]
            u = np.expm1(v) / c
            log_g = lifetime.log_density(u) + rate.log_count_pmf(n[:, None], u)
            return end * (np.exp(log_g - scale + v - math.log(c) - peak[:, None]) @ rule[1])

        value, check = integral(_FINE_RULE), integral(_COARSE_RULE)
        # a value of 0 is every node underflowing: the integral is left to the adaptive rule
        kept = (value > 0.0) & (np.abs(value - check) <= _RULES_AGREE * value)
        log_dead = scale + peak + np.log(np.where(kept, value, 1.0))
        found = np.clip(alive + np.exp(np.minimum(log_dead, 0.0)), 0.0, 1.0)
    for i in np.flatnonzero(~kept):
        found[i] = _pmf_new(rate, lifetime, float(n[i]), float(t[i]))
    out[todo] = found
    return out


def _pmf_new(rate: RateMixing, lifetime: LifetimeMixing, n: float, t: float) -> float:
    if t == 0.0:
        return 1.0 if n == 0 else 0.0
    count, zero = np.array(n), np.array(0.0)
    with np.errstate(all="ignore"):
        alive = math.exp(
            float(lifetime.log_survival(np.array(t)) + rate.log_count_pmf(count, np.array(t)))
        )

        def log_g(u: float) -> float:
            at = np.array(u)
            return float(lifetime.log_density(at) + rate.log_count_pmf(count, at))

        # divide by an upper bound of the integrand (the lifetime density is decreasing and a
        # probability is at most 1), so no value handed to the quadrature can overflow
        scale = float(lifetime.log_density(zero))
        if not math.isfinite(scale):  # nobody drops out
            return alive
        # integrate over v, u = expm1(v) / c: a lifetime density falling within a tiny
        # fraction of (0, t] (huge s / beta) is spread over the range instead of being missed
        c = float(lifetime.death_rate(zero)) + float(rate.mean)
        end = math.log1p(c * t)
        # the Jacobian e^v / c peaks at the upper end: dividing by that peak too keeps every
        # integrand value <= 1 however small c is
        peak = end - math.log(c)

        def scaled(v: float) -> float:
            return math.exp(log_g(math.expm1(v) / c) - scale + v - math.log(c) - peak)

        with warnings.catch_warnings():
            # near-degenerate gammas carry ~1e-8 rounding in the integrand itself; quad then
            # warns that it cannot reach 1e-12, while the result is as accurate as the input
            warnings.simplefilter("ignore", integrate.IntegrationWarning)
            value, _ = integrate.quad(scaled, 0.0, end, epsabs=0.0, epsrel=1e-12, limit=200)
        # a probability: anything above log 1 is rounding, so the exponent is capped there
        dead = math.exp(min(scale + peak + math.log(value), 0.0)) if value > 0 else 0.0
    return float(min(max(alive + dead, 0.0), 1.0))
