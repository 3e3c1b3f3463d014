"""Pareto/NBD: Poisson purchasing with gamma-mixed rates and exponential lifetimes."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy import integrate
from scipy.special import digamma, gammaln

from funnelkit.clv._base import FitData, MLEFitter, as_horizon
from funnelkit.clv._geometric import softplus
from funnelkit.clv._hyp2f1 import log_hyp1

__all__ = ["ParetoNBDFitter"]


class ParetoNBDFitter(MLEFitter):
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

    # ------------------------------------------------------------------ likelihood
    # Per customer, LL = head(x) + alive(x, T) + softplus(dead - alive) where
    # dead = log s - log(r+s+x) + log A0(x, tx, T) and A0 = F(x, tx) - F(x, T). Everything
    # except A0 depends on (x, T) pairs only and F on (x, tx) or (x, T) pairs, so special
    # functions run per pair; rows only combine them, and the gradient is summed with bincounts.
    def _pair_terms(self, params: np.ndarray, data: FitData, *, gradient: bool) -> dict[str, Any]:
        r, alpha, s, beta = params
        (px, ptx), i_tx = data.groups("frequency", "recency")
        (qx, qT), i_T = data.groups("frequency", "T")
        log_f_tx, d_tx = _log_f(params, px, ptx, gradient=gradient)
        log_f_T, d_T = _log_f(params, qx, qT, gradient=gradient)
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
        t = self._pair_terms(params, data, gradient=False)
        return np.asarray(t["base"][t["i_T"]] + softplus(t["odds"]))

    def _weighted_log_likelihood(
        self, params: np.ndarray, data: FitData
    ) -> tuple[float, np.ndarray]:
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

    def _initial_params(self, data: FitData) -> np.ndarray:
        w = data.weights
        mean_t = max(float(np.average(data["T"], weights=w)), 1e-6)
        mean_x = float(np.average(data["frequency"], weights=w))
        scale = mean_t / (mean_x + 0.5)
        # alpha = beta makes the hypergeometric term trivial at the start
        return np.array([1.0, scale, 1.0, scale])

    # ------------------------------------------------------------------ predictions
    def _log_death_odds(self, d: Any) -> np.ndarray:
        """log of P(dead, data) / P(alive, data) for each customer."""
        params = np.array(self._params())
        r, alpha, s, beta = params
        x, tx, T = d["frequency"], d["recency"], d["T"]
        log_f_tx, _ = _log_f(params, x, tx, gradient=False)
        log_f_T, _ = _log_f(params, x, T, gradient=False)
        delta = np.minimum(log_f_T - log_f_tx, 0.0)
        with np.errstate(divide="ignore"):
            log_a0 = log_f_tx + np.log(-np.expm1(delta))
        return np.asarray(
            np.log(s)
            - np.log(r + s + x)
            + log_a0
            + (r + x) * np.log(alpha + T)
            + s * np.log(beta + T)
        )

    def probability_alive(self, data: Any = None, *, at: Any = 0.0) -> np.ndarray:
        """P(customer alive ``at`` time units after the end of observation | history).

        Given alive at ``T``, the dropout rate has posterior ``Gamma(s, beta + T)``, so
        ``P(alive at T + at) = P(alive at T) * ((beta + T) / (beta + T + at))^s``.

        Parameters
        ----------
        data
            RFM, frame or mapping of customers; ``None`` = the training customers.
        at
            Time after each customer's ``T`` (fitted unit); 0 = at the end of observation.
        """
        _, _, s, beta = self._params()
        ahead = as_horizon(at, "at")
        d = self._data_for_prediction(data)
        now = np.exp(-softplus(self._log_death_odds(d)))
        return np.asarray(now * np.exp(-s * np.log1p(ahead / (beta + d["T"]))))

    def expected_purchases(self, t: Any, data: Any = None) -> np.ndarray:
        """Expected purchases in ``(T, T + t]`` given each customer's history.

        ``P(alive) (r+x)(beta+T) / ((alpha+T)(s-1)) [1 - ((beta+T)/(beta+T+t))^(s-1)]``
        (Schmittlein et al. 1987; Fader & Hardie 2005, eq. 41), with the ``s = 1`` limit.

        Parameters
        ----------
        t
            Horizon(s) in the fitted time unit (scalar or array broadcasting to customers).
        data
            RFM, frame or mapping of customers; ``None`` = the training customers.
        """
        r, alpha, s, beta = self._params()
        horizon = as_horizon(t)
        d = self._data_for_prediction(data)
        x, T = d["frequency"], d["T"]
        alive = np.exp(-softplus(self._log_death_odds(d)))
        span = _lifetime_integral(s, beta + T, horizon)
        return np.asarray(alive * (r + x) / (alpha + T) * span)

    def expected_purchases_new_customer(self, t: Any) -> np.ndarray:
        """Expected purchases in ``(0, t]`` for a new customer (Fader & Hardie 2005, eq. 27)."""
        r, alpha, s, beta = self._params()
        horizon = as_horizon(t)
        return np.asarray(r / alpha * _lifetime_integral(s, beta, horizon))

    def probability_of_purchases(self, n: Any, t: Any) -> np.ndarray:
        """P(X(t) = n) for a new customer.

        Conditioning on the lifetime ``tau``: ``P(tau > t) NB(n; t) + int_0^t f(u) NB(n; u) du``
        with ``NB`` the gamma-Poisson count over an active span. The first part is closed-form;
        the second, ``s beta^s Gamma(r+n) alpha^r / (Gamma(r) n!) int_0^t u^n (alpha+u)^-(r+n)
        (beta+u)^-(s+1) du``, is integrated by adaptive quadrature (one integral per
        ``(n, t)`` pair, not per customer). Fader & Hardie (2006) give a closed form with two
        hypergeometric functions.
        """
        r, alpha, s, beta = self._params()
        horizon = as_horizon(t)
        count = np.asarray(n, dtype=float)
        if np.any(count < 0) or np.any(count != np.round(count)):
            raise ValueError(f"n must be whole numbers >= 0; got {n!r}.")
        count, horizon = np.broadcast_arrays(count, horizon)
        out = np.empty(count.shape)
        for idx in np.ndindex(count.shape):
            out[idx] = _pmf_new(r, alpha, s, beta, float(count[idx]), float(horizon[idx]))
        return out


def _lifetime_integral(s: float, b: Any, t: np.ndarray) -> np.ndarray:
    """``int_0^t E[alive at u]`` scaled: ``b/(s-1) [1 - (b/(b+t))^(s-1)]`` (``b log`` at s=1)."""
    span = np.log1p(t / b)
    if abs(s - 1.0) < 1e-12:
        return np.asarray(b * span)
    return np.asarray(b * -np.expm1(-(s - 1.0) * span) / (s - 1.0))


def _pmf_new(r: float, alpha: float, s: float, beta: float, n: float, t: float) -> float:
    log_nb_head = gammaln(r + n) - gammaln(r) - gammaln(n + 1.0) + r * math.log(alpha)
    if t == 0.0:
        return 1.0 if n == 0 else 0.0
    alive = math.exp(
        log_nb_head + n * math.log(t) - (r + n) * math.log(alpha + t) - s * math.log1p(t / beta)
    )

    def log_g(u: float) -> float:
        return (
            n * math.log(u) - (r + n) * math.log(alpha + u) - (s + 1.0) * math.log(beta + u)
            if u > 0
            else (-math.inf if n > 0 else -r * math.log(alpha) - (s + 1.0) * math.log(beta))
        )

    # scale by the largest integrand value on a grid so the quadrature sees numbers near 1
    grid = np.linspace(0.0, t, 65)
    scale = max(log_g(float(u)) for u in grid)
    value, _ = integrate.quad(
        lambda u: math.exp(log_g(u) - scale), 0.0, t, epsabs=0.0, epsrel=1e-12, limit=200
    )
    dead = math.exp(log_nb_head + math.log(s) + s * math.log(beta) + scale) * value
    return float(alive + dead)


def _log_f(
    params: np.ndarray, x: np.ndarray, y: np.ndarray, *, gradient: bool
) -> tuple[np.ndarray, np.ndarray | None]:
    """log F(y) with A0 = F(tx) - F(T) (Fader & Hardie 2005, eqs. 19-20), and its gradient.

    After Euler's transformation, with ``G(b, c, z) = 2F1(1, b; c; z)``, for alpha >= beta::

        log F = -s log(beta+y) - (r+x) log(alpha+y) + log G(r+x, r+s+x+1, (alpha-beta)/(alpha+y))

    and for alpha < beta::

        log F = -(r+x-1) log(alpha+y) - (s+1) log(beta+y)
                + log G(s+1, r+s+x+1, (beta-alpha)/(beta+y))
    """
    r, alpha, s, beta = params
    la, lb = np.log(alpha + y), np.log(beta + y)
    c = r + s + x + 1.0
    if alpha >= beta:
        z = (alpha - beta) / (alpha + y)
        log_g, dg = log_hyp1(r + x, c, z, gradient=gradient)
        value = -s * lb - (r + x) * la + log_g
        if dg is None:
            return value, None
        g_b, g_c, g_z = dg
        grad = np.stack(
            [
                -la + g_b + g_c,
                -(r + x) / (alpha + y) + g_z * (beta + y) / (alpha + y) ** 2,
                -lb + g_c,
                -s / (beta + y) - g_z / (alpha + y),
            ]
        )
        return value, grad
    z = (beta - alpha) / (beta + y)
    log_g, dg = log_hyp1(s + 1.0, c, z, gradient=gradient)
    value = -(r + x - 1.0) * la - (s + 1.0) * lb + log_g
    if dg is None:
        return value, None
    g_b, g_c, g_z = dg
    grad = np.stack(
        [
            -la + g_c,
            -(r + x - 1.0) / (alpha + y) - g_z / (beta + y),
            -lb + g_b + g_c,
            -(s + 1.0) / (beta + y) + g_z * (alpha + y) / (beta + y) ** 2,
        ]
    )
    return value, grad
