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

from typing import Any, ClassVar

import numpy as np
from scipy.special import digamma, gammaln, hyp2f1, xlogy

from funnelkit.clv._base import MLEFitter, as_horizon
from funnelkit.clv._data import FitData
from funnelkit.exceptions import FunnelkitError

__all__ = ["BetaGeometricFitter", "row_log_likelihood", "softplus", "weighted_log_likelihood"]


class BetaGeometricFitter(MLEFitter):
    """Fitting half of BG/NBD and MBG/NBD; subclasses set ``_first_purchase_dropout`` (k)."""

    _param_names = ("r", "alpha", "a", "b")
    _first_purchase_dropout: ClassVar[int] = 0

    def _log_likelihood(self, params: np.ndarray, data: FitData) -> np.ndarray:
        return row_log_likelihood(params, data, self._first_purchase_dropout)

    def _weighted_log_likelihood(
        self, params: np.ndarray, data: FitData
    ) -> tuple[float, np.ndarray]:
        return weighted_log_likelihood(params, data, self._first_purchase_dropout)

    def _initial_params(self, data: FitData) -> np.ndarray:
        w = data.weights
        mean_t = float(np.average(data["T"], weights=w))
        mean_x = float(np.average(data["frequency"], weights=w))
        # rate r/alpha near the observed purchase rate; a, b give a moderate dropout rate
        return np.array([1.0, max(mean_t, 1e-6) / (mean_x + 0.5), 1.0, 2.0])

    # ------------------------------------------------------------------ predictions
    def _log_dropout_odds(self, x: np.ndarray, tx: np.ndarray, T: np.ndarray) -> np.ndarray:
        """``d`` above: log P(dropped out after the last purchase) / P(alive).

        ``-inf`` (certainly alive) when there was no dropout chance yet (``x + k = 0``).
        """
        r, alpha, a, b = self._params()
        k = self._first_purchase_dropout
        chances = x + k
        with np.errstate(divide="ignore"):
            return np.where(
                chances > 0,
                np.log(a)
                - np.log(b + np.maximum(chances, 1.0) - 1.0)
                + (r + x) * (np.log(alpha + T) - np.log(alpha + tx)),
                -np.inf,
            )

    def probability_alive(self, data: Any = None) -> np.ndarray:
        """P(customer still alive at the end of observation | frequency, recency, T).

        ``1 / (1 + e^d)``: Fader, Hardie & Lee (2008) eq. 2 for BG/NBD, and its MBG/NBD
        analogue (one more dropout chance). There is no ``at=`` (alive at a future time):
        dropout happens only at purchases, so that probability depends on the future purchase
        path and has no closed form; Pareto/NBD and BG/BB offer it.

        Parameters
        ----------
        data
            RFM, frame or mapping of customers; ``None`` = the training customers.

        Returns
        -------
        numpy.ndarray
            One probability per customer.
        """
        d = self._data_for_prediction(data)
        odds = self._log_dropout_odds(d["frequency"], d["recency"], d["T"])
        return np.asarray(np.exp(-softplus(odds)))

    def expected_purchases(self, t: Any, data: Any = None) -> np.ndarray:
        """Expected repeat purchases in ``(T, T + t]`` given each customer's history.

        P(alive) times ``c/(a-1) (1 - (1-z)^(a-1) 2F1(c-r, a-1; c; z))`` with
        ``c = a+b+x+k-1`` and ``z = t/(alpha+T+t)``: FHL (2005) eq. 10 for BG/NBD, Batislam
        et al. (2007) with Wagner & Hoppe's (2008) correction for MBG/NBD, after Euler's
        transformation so the parameters stay small for customers with thousands of
        purchases. Where that closed form overflows (very large ``a``) the same expectation
        is computed by quadrature (:func:`beta_mean_purchases`).

        Parameters
        ----------
        t
            Horizon(s) in the fitted time unit (scalar or array broadcasting to customers).
        data
            RFM, frame or mapping of customers; ``None`` = the training customers.
        """
        r, alpha, a, b = self._params()
        horizon = as_horizon(t)
        d = self._data_for_prediction(data)
        x, T = d["frequency"], d["T"]
        z = horizon / (alpha + T + horizon)
        c = a + b + x + self._first_purchase_dropout - 1.0
        alive = np.exp(-softplus(self._log_dropout_odds(x, d["recency"], T)))
        with np.errstate(all="ignore"):
            tail = (1.0 - z) ** (a - 1.0) * hyp2f1(c - x - r, a - 1.0, c, z)
            value = c / (a - 1.0) * (1.0 - tail) * alive
        return self._fill_non_finite(value, horizon, (x, T, alive))

    def expected_purchases_new_customer(self, t: Any) -> np.ndarray:
        """Expected repeat purchases in ``(0, t]`` for a new customer (FHL 2005, eq. 9).

        ``E[X(t)] = m/(a-1) (1 - (1-z)^(a-1) 2F1(a+b-1-r+k, a-1; a+b-1+k; z))``,
        ``z = t/(alpha+t)``, with ``m = a+b-1`` for BG/NBD and ``m = b`` for MBG/NBD (whose
        first purchase already gives a dropout chance).
        """
        r, alpha, a, b = self._params()
        k = self._first_purchase_dropout
        horizon = as_horizon(t)
        z = horizon / (alpha + horizon)
        c = a + b - 1.0 + k
        with np.errstate(all="ignore"):
            tail = (1.0 - z) ** (a - 1.0) * hyp2f1(c - r, a - 1.0, c, z)
            value = (c - k * a) / (a - 1.0) * (1.0 - tail)
        return self._fill_non_finite(value, horizon)

    def _poisson_gamma_terms(self, n: Any, t: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(n, p, log NB(n))`` for ``P(X(t) = n)``: ``p = alpha/(alpha+t)`` and the
        negative-binomial log-probability of ``n`` purchases by ``t`` while alive."""
        r, alpha, _, _ = self._params()
        count = np.asarray(n, dtype=float)
        if np.any(count < 0) or np.any(count != np.round(count)):
            raise FunnelkitError(f"n must be whole numbers >= 0; got {n!r}.")
        p = alpha / (alpha + as_horizon(t))
        log_nb = (
            gammaln(r + count)
            - gammaln(r)
            - gammaln(count + 1.0)
            + r * np.log(p)
            + xlogy(count, 1.0 - p)
        )
        return count, p, log_nb

    def _fill_non_finite(
        self,
        value: np.ndarray,
        t: np.ndarray,
        history: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
    ) -> np.ndarray:
        """Replace closed-form expected purchases that overflowed by their quadrature.

        ``history`` is ``(frequency, T, probability alive)`` for conditional expectations,
        ``None`` for a new customer.
        """
        value = np.asarray(value, dtype=float)
        bad = ~np.isfinite(value)
        if not bad.any():
            return value
        r, alpha, a, b = self._params()
        k0 = self._first_purchase_dropout
        horizon = np.broadcast_to(t, value.shape)[bad]
        if history is None:
            ones = np.ones(horizon.shape)
            fixed = beta_mean_purchases(
                a, b * ones, r * ones, alpha * ones, horizon, survive=bool(k0)
            )
        else:
            x, T, alive = (np.broadcast_to(v, value.shape)[bad] for v in history)
            fixed = alive * beta_mean_purchases(
                a, b + x + k0, r + x, alpha + T, horizon, survive=False
            )
        value = value.copy()
        value[bad] = fixed
        return value


def _dot(u: np.ndarray, v: np.ndarray) -> float:
    # einsum, not BLAS: threaded BLAS dots are slow for one-off vectors on busy machines
    return float(np.einsum("i,i->", u, v))


def softplus(d: np.ndarray) -> np.ndarray:
    """``log(1 + exp(d))`` without overflow (and faster than ``np.logaddexp(0, d)``)."""
    return np.asarray(np.maximum(d, 0.0) + np.log1p(np.exp(-np.abs(d))))


def _pieces(params: np.ndarray, data: FitData, k: int) -> dict[str, np.ndarray]:
    r, alpha, a, b = params
    (ux,), ix = data.groups("frequency")
    (uT,), iT = data.groups("T")
    (utx,), itx = data.groups("recency")
    has_chance = ux + k > 0
    with np.errstate(divide="ignore"):
        log_drop = np.where(
            has_chance, np.log(a) - np.log(b + np.maximum(ux + k, 1.0) - 1.0), -np.inf
        )
    rx = (r + ux)[ix]
    log_at = np.log(alpha + uT)[iT]
    diff = log_at - np.log(alpha + utx)[itx]
    d = log_drop[ix] + rx * diff
    sp = softplus(d)
    head = (
        gammaln(r + ux)
        - gammaln(r)
        + r * np.log(alpha)
        + gammaln(a + b)
        + gammaln(b + ux + k)
        - gammaln(b)
        - gammaln(a + b + ux + k)
    )
    return {
        "ux": ux, "ix": ix, "uT": uT, "iT": iT, "utx": utx, "itx": itx, "rx": rx,
        "log_at": log_at, "diff": diff, "d": d, "sp": sp, "head": head,
        "has_chance": has_chance,
    }  # fmt: skip


def row_log_likelihood(params: np.ndarray, data: FitData, k: int) -> np.ndarray:
    """Per-row log-likelihood."""
    p = _pieces(params, data, k)
    return np.asarray(p["head"][p["ix"]] + p["sp"] - p["rx"] * p["log_at"])


def weighted_log_likelihood(params: np.ndarray, data: FitData, k: int) -> tuple[float, np.ndarray]:
    """Weighted total log-likelihood and its analytic gradient in ``(r, alpha, a, b)``."""
    r, alpha, a, b = params
    p = _pieces(params, data, k)
    w, ix, ux = data.weights, p["ix"], p["ux"]
    w_x = np.bincount(ix, weights=w, minlength=ux.size)
    rx, log_at, diff = p["rx"], p["log_at"], p["diff"]
    total = float(_dot(w_x, p["head"]) + _dot(w, p["sp"]) - _dot(w * rx, log_at))
    # w4 = P(dropped out | row): the weight of the dropout branch in the mixture
    ww4 = w * np.exp(p["d"] - p["sp"])
    inv_at = (1.0 / (alpha + p["uT"]))[p["iT"]]
    inv_ax = (1.0 / (alpha + p["utx"]))[p["itx"]]
    d_ab = digamma(a + b) - digamma(a + b + ux + k)
    inv_b = np.where(p["has_chance"], 1.0 / (b + np.maximum(ux + k, 1.0) - 1.0), 0.0)
    grad = np.empty(4)
    grad[0] = (
        _dot(w_x, digamma(r + ux) - digamma(r) + np.log(alpha)) - _dot(w, log_at) + _dot(ww4, diff)
    )
    grad[1] = w_x.sum() * r / alpha - _dot(w * rx, inv_at) + _dot(ww4 * rx, inv_at - inv_ax)
    grad[2] = _dot(w_x, d_ab) + ww4.sum() / a
    grad[3] = _dot(w_x, d_ab + digamma(b + ux + k) - digamma(b)) - _dot(
        inv_b, np.bincount(ix, weights=ww4, minlength=ux.size)
    )
    return total, grad


def beta_mean_purchases(
    a: float, b: np.ndarray, k: np.ndarray, scale: np.ndarray, t: np.ndarray, *, survive: bool
) -> np.ndarray:
    """``E_p[w(p) (1 - (scale / (scale + p t))^k) / p]`` for ``p ~ Beta(a, b)``, by quadrature.

    The mixture form of the expected purchase count: given ``lambda ~ Gamma(k, scale)`` and
    dropout probability ``p``, an alive customer makes ``(1 - E e^{-lambda p t}) / p`` purchases
    in ``t`` (``w = 1``), a new MBG/NBD customer ``(1 - p)`` times that (``survive=True``).
    Used where the closed form's ``(1-z)^(a-1) 2F1(...)`` under- or overflows (very large
    ``a``); Gauss-Jacobi quadrature is exact for polynomials and the integrand is analytic.
    """
    from scipy.special import roots_jacobi

    b, k, scale, t = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (b, k, scale, t)))
    out = np.empty(b.shape)
    for value in np.unique(b):
        rows = b == value
        nodes, weights = roots_jacobi(64, value - 1.0, a - 1.0)
        p = (nodes + 1.0) / 2.0
        w = weights / weights.sum()
        ratio = np.log1p(np.outer(t[rows], p) / scale[rows, None])
        count = -np.expm1(-k[rows, None] * ratio) / p
        if survive:
            count = count * (1.0 - p)
        out[rows] = count @ w
    return out
