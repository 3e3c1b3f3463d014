"""BG/BB: beta-geometric / beta-Bernoulli model for discrete transaction opportunities."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from scipy.special import betaln, digamma, gammaln

from funnelkit.clv._base import FitData, MLEFitter, as_horizon
from funnelkit.exceptions import DataError

__all__ = ["BetaGeoBetaBinomFitter"]


class BetaGeoBetaBinomFitter(MLEFitter):
    """BG/BB model (Fader, Hardie & Shang 2010) for discrete-time, non-contractual settings.

    Customers have ``n`` transaction opportunities after their first (annual donation drives,
    yearly events...). While alive, a customer transacts at each opportunity with
    probability ``p ~ Beta(alpha, beta)``; at the start of each opportunity they die with
    probability ``theta ~ Beta(gamma, delta)``. In the input RFM, ``T`` is ``n`` (the
    number of opportunities), ``recency`` the opportunity of the last transaction (0 if
    none) and ``frequency`` the number of repeat transactions, as in lifetimes.

    The likelihood (FHS 2010, eq. 5) is a sum over the possible last-alive opportunities,
    evaluated with ``logsumexp`` on unique rows, with its analytic gradient.

    Examples
    --------
    >>> from funnelkit.clv import BetaGeoBetaBinomFitter
    >>> from funnelkit.datasets.btyd import simulate_bgbb
    >>> sim = simulate_bgbb(3000, n_periods=6, seed=4)
    >>> model = BetaGeoBetaBinomFitter().fit(sim.rfm)
    >>> round(float(model.probability_of_purchases(range(7), 6).sum()), 6)
    1.0

    References
    ----------
    .. [1] Fader, P. S., Hardie, B. G. S. & Shang, J. (2010). Customer-Base Analysis in a
       Discrete-Time Noncontractual Setting. *Marketing Science* 29(6), 1086-1108.
    """

    _param_names = ("alpha", "beta", "gamma", "delta")
    _model_name = "BG/BB"

    def _check_rfm(self, columns: Mapping[str, np.ndarray]) -> None:
        x, tx, n = columns["frequency"], columns["recency"], columns["T"]
        bad = (n != np.round(n)) | (tx != np.round(tx)) | (x > tx) | (n < 1)
        if np.any(bad):
            raise DataError(
                f"{int(bad.sum())} row(s) are not BG/BB data: T must be a whole number of "
                "transaction opportunities (>= 1), recency the whole-numbered opportunity of "
                "the last transaction, and frequency <= recency."
            )

    # ------------------------------------------------------------------ likelihood
    def _branches(
        self, params: np.ndarray, x: np.ndarray, tx: np.ndarray, n: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Log-terms of the likelihood: alive at ``n`` (column 0), last alive at ``tx + i``."""
        a, b, g, d = params
        width = int(np.max(n - tx)) if n.size else 0
        i = np.arange(width, dtype=float)[None, :]
        valid = i < (n - tx)[:, None]
        # padding cells (beyond n - tx) get a harmless value; their weight is exactly 0
        last = np.where(valid, tx[:, None] + i, tx[:, None])
        base = betaln(a, b) + betaln(g, d)
        alive = betaln(a + x, b + n - x) + betaln(g, d + n) - base
        died = betaln(a + x[:, None], b + last - x[:, None]) + betaln(g + 1.0, d + last) - base
        terms = np.concatenate([alive[:, None], np.where(valid, died, -np.inf)], axis=1)
        top = terms.max(axis=1, keepdims=True)
        weights = np.exp(terms - top)
        total = weights.sum(axis=1)
        ll = top[:, 0] + np.log(total)
        return ll, weights / total[:, None], last, valid

    def _log_likelihood(self, params: np.ndarray, data: FitData) -> np.ndarray:
        return self._branches(params, data["frequency"], data["recency"], data["T"])[0]

    def _log_likelihood_and_gradient(
        self, params: np.ndarray, data: FitData
    ) -> tuple[np.ndarray, np.ndarray]:
        a, b, g, d = params
        x, tx, n = data["frequency"], data["recency"], data["T"]
        ll, share, last, _ = self._branches(params, x, tx, n)
        # a branch's log-term depends on the opportunity m at which the customer was last
        # alive (n for column 0): d/dparam averages the branch derivatives with weights share
        m = np.concatenate([n[:, None], last], axis=1)
        xc = x[:, None]
        common_ab = digamma(a + xc) - digamma(a) + digamma(a + b)
        grad = np.empty((4, x.shape[0]))
        grad[0] = (share * (common_ab - digamma(a + b + m))).sum(axis=1)
        grad[1] = (
            share * (digamma(b + m - xc) - digamma(b) + digamma(a + b) - digamma(a + b + m))
        ).sum(axis=1)
        # alive branch: B(g, d+n); dead branches: B(g+1, d+m)
        gd = digamma(g + d) - digamma(g)
        d_g = np.empty_like(share)
        d_g[:, 0] = digamma(g) - digamma(g + d + n)
        d_g[:, 1:] = digamma(g + 1.0) - digamma(g + d + 1.0 + last)
        grad[2] = (share * (d_g + gd)).sum(axis=1)
        d_d = np.empty_like(share)
        d_d[:, 0] = digamma(d + n) - digamma(g + d + n)
        d_d[:, 1:] = digamma(d + last) - digamma(g + d + 1.0 + last)
        grad[3] = (share * (d_d - digamma(d) + digamma(g + d))).sum(axis=1)
        return ll, grad

    def _log_likelihood_gradient(self, params: np.ndarray, data: FitData) -> np.ndarray:
        return self._log_likelihood_and_gradient(params, data)[1]

    def _initial_params(self, data: FitData) -> np.ndarray:
        return np.array([1.0, 1.0, 1.0, 2.0])

    # ------------------------------------------------------------------ predictions
    def _history(self, data: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        d = self._data_for_prediction(data)
        x, tx, n = d["frequency"], d["recency"], d["T"]
        return x, tx, n, self._branches(np.array(self._params()), x, tx, n)[0]

    def probability_alive(self, data: Any = None, *, at: Any = 0) -> np.ndarray:
        """P(alive at opportunity ``n + at`` | x, tx, n) (FHS 2010, eq. A10).

        Parameters
        ----------
        data
            RFM, frame or mapping of customers; ``None`` = the training customers.
        at
            Opportunities after the last observed one (0 = alive at opportunity ``n``).
        """
        a, b, g, d = self._params()
        ahead = as_horizon(at, "at")
        x, _, n, ll = self._history(data)
        log_p = (
            betaln(a + x, b + n - x) - betaln(a, b) + betaln(g, d + n + ahead) - betaln(g, d) - ll
        )
        return np.asarray(np.exp(log_p))

    def expected_purchases(self, t: Any, data: Any = None) -> np.ndarray:
        """Expected transactions in the next ``t`` opportunities given history (FHS eq. 13).

        Parameters
        ----------
        t
            Number of future transaction opportunities (scalar or array).
        data
            RFM, frame or mapping of customers; ``None`` = the training customers.
        """
        a, b, g, d = self._params()
        horizon = as_horizon(t)
        x, _, n, ll = self._history(data)
        lead = betaln(a + x + 1.0, b + n - x) - betaln(a, b) - ll
        return np.asarray(np.exp(lead) * _future_alive_sum(g, d, n, horizon))

    def expected_purchases_new_customer(self, t: Any) -> np.ndarray:
        """Expected transactions in the first ``t`` opportunities of a new customer (eq. 9)."""
        a, b, g, d = self._params()
        horizon = as_horizon(t)
        return np.asarray(a / (a + b) * _future_alive_sum(g, d, 0.0, horizon))

    def probability_of_purchases(self, n: Any, t: Any) -> np.ndarray:
        """P(X(t) = n): ``n`` transactions in the first ``t`` opportunities (FHS eq. 7).

        ``t`` must be whole numbers here (the sum runs over opportunities).
        """
        a, b, g, d = self._params()
        count, horizon = np.broadcast_arrays(np.asarray(n, dtype=float), as_horizon(t))
        if (
            np.any(count < 0)
            or np.any(count != np.round(count))
            or np.any(horizon != np.round(horizon))
        ):
            raise ValueError("n and t must be whole numbers >= 0 for the BG/BB model.")
        out = np.zeros(count.shape)
        for idx in np.ndindex(count.shape):
            k, m = float(count[idx]), float(horizon[idx])
            if k > m:
                continue
            log_alive = _log_binom(m, k) + betaln(a + k, b + m - k) + betaln(g, d + m)
            i = np.arange(k, m)
            log_dead = _log_binom(i, k) + betaln(a + k, b + i - k) + betaln(g + 1.0, d + i)
            terms = np.append(log_dead, log_alive) - betaln(a, b) - betaln(g, d)
            out[idx] = float(np.exp(terms).sum())
        return out


def _log_binom(n: Any, k: float) -> Any:
    return gammaln(np.asarray(n) + 1.0) - gammaln(k + 1.0) - gammaln(np.asarray(n) - k + 1.0)


def _future_alive_sum(g: float, d: float, n: Any, t: np.ndarray) -> np.ndarray:
    """``sum_{j=1..t} P(alive at n + j | alive at n) * (survival odds)`` in closed form.

    ``delta/(gamma-1) * G(g+d)/G(1+d) * [G(1+d+n)/G(g+d+n) - G(1+d+n+t)/G(g+d+n+t)]``
    (FHS 2010, eqs. 9 and 13), with its ``gamma -> 1`` limit.
    """
    n = np.asarray(n, dtype=float)
    lead = np.log(d) + gammaln(g + d) - gammaln(1.0 + d)
    now = gammaln(1.0 + d + n) - gammaln(g + d + n)
    later = gammaln(1.0 + d + n + t) - gammaln(g + d + n + t)
    if abs(g - 1.0) < 1e-9:
        # d/dg of the bracket at g = 1
        return np.asarray(np.exp(lead) * (digamma(1.0 + d + n + t) - digamma(1.0 + d + n)))
    return np.asarray(np.exp(lead + now) * -np.expm1(later - now) / (g - 1.0))
