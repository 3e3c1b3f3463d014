"""BG/BB: beta-geometric / beta-Bernoulli model for discrete transaction opportunities."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
from scipy.special import gammaln

from funnelkit.clv._base import FitData, MLEFitter, as_horizon
from funnelkit.clv._calls import PurchasePredictions
from funnelkit.clv._data import whole_counts
from funnelkit.clv._limits import CONCENTRATED, Limit, concentrated_beta, vanishing
from funnelkit.clv._mixing import (
    BetaDropout,
    BetaPurchase,
    CommonDropout,
    CommonPurchase,
    DropoutMixing,
    PurchaseMixing,
)
from funnelkit.clv._special import digamma_difference, log_pochhammer
from funnelkit.clv.conditional import BetaBinomialUncertainty
from funnelkit.exceptions import DataError, FunnelkitError

__all__ = ["MAX_OPPORTUNITIES", "BetaGeoBetaBinomFitter", "mixings", "row_log_likelihood"]

#: Largest number of transaction opportunities per customer. The likelihood sums over the
#: opportunity at which a customer may have died, so its cost grows with ``T``; beyond this
#: the periods are too fine for a discrete-time model (use coarser periods).
MAX_OPPORTUNITIES = 100_000

# cells of the (rows x last-alive opportunity) array evaluated at once: bounds memory
_CELLS = 1 << 20


def _limits() -> tuple[Limit, ...]:
    def p_of(q: Mapping[str, float]) -> float:
        return q["alpha"] / (q["alpha"] + q["beta"]) if "alpha" in q else q["p"]

    def theta_of(q: Mapping[str, float]) -> float:
        return q["gamma"] / (q["gamma"] + q["delta"]) if "gamma" in q else q.get("theta", 0.0)

    def purchase_near(q: Mapping[str, float]) -> dict[str, float]:
        return {"alpha": q["p"] * CONCENTRATED, "beta": (1.0 - q["p"]) * CONCENTRATED}

    def dropout_near(q: Mapping[str, float]) -> dict[str, float]:
        theta = q.get("theta", 1e-6)
        return {"gamma": theta * CONCENTRATED, "delta": (1.0 - theta) * CONCENTRATED}

    return (
        Limit(
            name="common transaction probability",
            meaning="alpha + beta → ∞ with alpha / (alpha + beta) = p: every customer "
            "transacts with the same probability p at each opportunity while alive",
            params=("p", "gamma", "delta"),
            probabilities=("p",),
            start=lambda q: {"p": p_of(q), "gamma": q["gamma"], "delta": q["delta"]},
            embed=lambda q: {**purchase_near(q), "gamma": q["gamma"], "delta": q["delta"]},
            near=lambda q: concentrated_beta(q["alpha"], q["beta"]),
        ),
        Limit(
            name="common dropout probability",
            meaning="gamma + delta → ∞ with gamma / (gamma + delta) = theta: every customer "
            "dies with the same probability theta at each opportunity",
            params=("alpha", "beta", "theta"),
            probabilities=("theta",),
            start=lambda q: {"alpha": q["alpha"], "beta": q["beta"], "theta": theta_of(q)},
            embed=lambda q: {"alpha": q["alpha"], "beta": q["beta"], **dropout_near(q)},
            near=lambda q: concentrated_beta(q["gamma"], q["delta"]),
        ),
        Limit(
            name="common transaction and dropout probabilities",
            meaning="no heterogeneity at all: every customer transacts with probability p and "
            "dies with probability theta at each opportunity",
            params=("p", "theta"),
            probabilities=("p", "theta"),
            start=lambda q: {"p": p_of(q), "theta": theta_of(q)},
            embed=lambda q: {**purchase_near(q), **dropout_near(q)},
            near=lambda q: (
                concentrated_beta(q["alpha"], q["beta"])
                and concentrated_beta(q["gamma"], q["delta"])
            ),
        ),
        Limit(
            name="no dropout",
            meaning="gamma → 0: nobody dies; transactions follow the beta-binomial model",
            params=("alpha", "beta"),
            start=lambda q: {"alpha": q["alpha"], "beta": q["beta"]},
            embed=lambda q: {"alpha": q["alpha"], "beta": q["beta"], **dropout_near({})},
            near=lambda q: vanishing(q["gamma"], q["delta"]),
        ),
        Limit(
            name="no dropout and a common transaction probability",
            meaning="nobody dies and everybody transacts with the same probability p",
            params=("p",),
            probabilities=("p",),
            start=lambda q: {"p": p_of(q)},
            embed=lambda q: {**purchase_near(q), **dropout_near({})},
            near=lambda q: (
                concentrated_beta(q["alpha"], q["beta"]) and vanishing(q["gamma"], q["delta"])
            ),
        ),
    )


class BetaGeoBetaBinomFitter(BetaBinomialUncertainty, PurchasePredictions, MLEFitter):
    """BG/BB model (Fader, Hardie & Shang 2010) for discrete-time, non-contractual settings.

    Customers have ``n`` transaction opportunities after their first (annual donation drives,
    yearly events...). While alive, a customer transacts at each opportunity with
    probability ``p ~ Beta(alpha, beta)``; at the start of each opportunity they die with
    probability ``theta ~ Beta(gamma, delta)``. In the input RFM, ``T`` is ``n`` (the
    number of opportunities, at most :data:`MAX_OPPORTUNITIES`), ``recency`` the opportunity
    of the last transaction (0 if none) and ``frequency`` the number of repeat transactions,
    as in lifetimes.

    The likelihood (FHS 2010, eq. 5) is a sum over the possible last-alive opportunities,
    evaluated with ``logsumexp`` on unique rows, with its analytic gradient.

    Besides the full model the fit can end at one of its limits (``result_.boundary``),
    where a beta collapses to a point mass: a common transaction probability ``p``
    (``alpha + beta → ∞``), a common dropout probability ``theta`` (``gamma + delta ->
    inf``), both, or no dropout (``theta = 0``). ``params_`` then holds the limit model's
    parameters. Every formula is written once against the mixing distributions
    (:mod:`funnelkit.clv._mixing`), so the limits are evaluated exactly: the beta moments
    ``E[p^x (1-p)^(m-x)] = B(alpha+x, beta+m-x) / B(alpha, beta)`` and ``E[(1-theta)^m] =
    B(gamma, delta+m) / B(gamma, delta)`` become ``p^x (1-p)^(m-x)`` and ``(1-theta)^m``.

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
    _limits = _limits()

    def _check_rfm(self, columns: Mapping[str, np.ndarray]) -> None:
        x, tx, n = columns["frequency"], columns["recency"], columns["T"]
        bad = (n != np.round(n)) | (tx != np.round(tx)) | (x > tx) | (n < 1)
        if np.any(bad):
            raise DataError(
                f"{int(bad.sum())} row(s) are not BG/BB data: T must be a whole number of "
                "transaction opportunities (>= 1), recency the whole-numbered opportunity of "
                "the last transaction, and frequency <= recency."
            )
        many = n > MAX_OPPORTUNITIES
        if np.any(many):
            raise DataError(
                f"{int(many.sum())} row(s) have more than {MAX_OPPORTUNITIES:,} transaction "
                f"opportunities (up to T = {float(np.max(n)):,.0f}): the BG/BB likelihood sums "
                "over every opportunity at which a customer may have died, so periods this "
                "fine cost time and memory in proportion to T. Count opportunities in coarser "
                "periods (weeks or months instead of days), or use a continuous-time model "
                "(BetaGeoFitter, ParetoNBDFitter) on the transaction times."
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
        # B(a+x, b+m-x) / B(a, b) and B(g, d+n) / B(g, d), B(g+1, d+m) / B(g, d) as ratios of
        # gamma functions that keep their digits when a + b or g + d is huge (near a limit)
        head = log_pochhammer(a, x)
        alive = head + log_pochhammer(b, n - x) - log_pochhammer(a + b, n)
        alive += log_pochhammer(d, n) - log_pochhammer(g + d, n)
        xc = x[:, None]
        died = head[:, None] + log_pochhammer(b, last - xc) - log_pochhammer(a + b, last)
        died += math.log(g / (g + d)) + log_pochhammer(d, last) - log_pochhammer(g + d + 1.0, last)
        terms = np.concatenate([alive[:, None], np.where(valid, died, -np.inf)], axis=1)
        top = terms.max(axis=1, keepdims=True)
        weights = np.exp(terms - top)
        total = weights.sum(axis=1)
        ll = top[:, 0] + np.log(total)
        return ll, weights / total[:, None], last, valid

    def _log_likelihood(self, params: np.ndarray, data: FitData) -> np.ndarray:
        x, tx, n = data["frequency"], data["recency"], data["T"]
        out = np.empty(x.shape)
        for rows in _blocks(n - tx):
            out[rows] = self._branches(params, x[rows], tx[rows], n[rows])[0]
        return out

    def _log_likelihood_and_gradient(
        self, params: np.ndarray, data: FitData
    ) -> tuple[np.ndarray, np.ndarray]:
        x, tx, n = data["frequency"], data["recency"], data["T"]
        ll = np.empty(x.shape)
        grad = np.empty((4, x.shape[0]))
        for rows in _blocks(n - tx):
            ll[rows], grad[:, rows] = self._block_gradient(params, x[rows], tx[rows], n[rows])
        return ll, grad

    def _block_gradient(
        self, params: np.ndarray, x: np.ndarray, tx: np.ndarray, n: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        a, b, g, d = params
        ll, share, last, _ = self._branches(params, x, tx, n)
        # a branch's log-term depends on the opportunity m at which the customer was last
        # alive (n for column 0): d/dparam averages the branch derivatives with weights share
        m = np.concatenate([n[:, None], last], axis=1)
        xc = x[:, None]
        d_ab = digamma_difference(a + b, m)
        grad = np.empty((4, x.shape[0]))
        grad[0] = (share * (digamma_difference(a, xc) - d_ab)).sum(axis=1)
        grad[1] = (share * (digamma_difference(b, m - xc) - d_ab)).sum(axis=1)
        # alive branch: B(g, d+n) / B(g, d); dead branches: B(g+1, d+m) / B(g, d)
        d_g = np.empty_like(share)
        d_g[:, 0] = -digamma_difference(g + d, n)
        d_g[:, 1:] = 1.0 / g - 1.0 / (g + d) - digamma_difference(g + d + 1.0, last)
        grad[2] = (share * d_g).sum(axis=1)
        d_d = np.empty_like(share)
        d_d[:, 0] = digamma_difference(d, n) - digamma_difference(g + d, n)
        d_d[:, 1:] = (
            digamma_difference(d, last) - digamma_difference(g + d + 1.0, last) - 1.0 / (g + d)
        )
        grad[3] = (share * d_d).sum(axis=1)
        return ll, grad

    def _log_likelihood_gradient(self, params: np.ndarray, data: FitData) -> np.ndarray:
        return self._log_likelihood_and_gradient(params, data)[1]

    def _limit_log_likelihood(self, params: Mapping[str, float], data: FitData) -> np.ndarray:
        purchase, dropout = mixings(params)
        return row_log_likelihood(purchase, dropout, data["frequency"], data["recency"], data["T"])

    def _initial_params(self, data: FitData) -> np.ndarray:
        return np.array([1.0, 1.0, 1.0, 2.0])

    # ------------------------------------------------------------------ predictions
    def _mixings(self) -> tuple[PurchaseMixing, DropoutMixing]:
        self._check_fitted()
        return mixings(self.params_)

    def _history(
        self, data: Any
    ) -> tuple[PurchaseMixing, DropoutMixing, np.ndarray, np.ndarray, np.ndarray]:
        """Mixings, frequency, opportunities and the log-likelihood of each history."""
        purchase, dropout = self._mixings()
        d = self._data_for_prediction(data)
        x, tx, n = d["frequency"], d["recency"], d["T"]
        return purchase, dropout, x, n, row_log_likelihood(purchase, dropout, x, tx, n)

    def probability_alive(self, data: Any = None, *, at: Any = 0) -> np.ndarray:
        """P(alive at opportunity ``n + at`` | x, tx, n) (FHS 2010, eq. A10).

        ``E[p^x (1-p)^(n-x)] E[(1-theta)^(n+at)] / L(x, tx, n)``: the alive branch of the
        likelihood, survived ``at`` more opportunities.

        Parameters
        ----------
        data
            RFM, frame or mapping of customers; ``None`` = the training customers.
        at
            Opportunities after the last observed one (0 = alive at opportunity ``n``).
        """
        ahead = as_horizon(at, "at")
        purchase, dropout, x, n, ll = self._history(data)
        with np.errstate(under="ignore"):
            log_p = purchase.log_weight(x, n) + dropout.log_survive(n + ahead) - ll
        # the alive branch is part of the likelihood, so log_p <= 0 up to rounding
        return np.asarray(np.exp(np.minimum(log_p, 0.0)))

    def _expected_purchases(self, t: Any, data: Any) -> np.ndarray:
        """Expected transactions in the next ``t`` opportunities given history (FHS eq. 13).

        ``E[p^(x+1) (1-p)^(n-x)] / L(x, tx, n) * sum_{j=1..t} E[(1-theta)^(n+j)]``: the
        posterior probability of a transaction times the expected opportunities survived
        (:meth:`~funnelkit.clv._mixing.BetaDropout.survival_sum`).

        Parameters
        ----------
        t
            Number of future transaction opportunities (scalar or array).
        data
            RFM, frame or mapping of customers; ``None`` = the training customers.
        """
        purchase, dropout, x, n, ll = self._history(data)
        horizon = as_horizon(t, customers=x.shape[0])
        with np.errstate(under="ignore"):
            lead = np.exp(purchase.log_weight(x + 1.0, n + 1.0) - ll)
            return np.asarray(lead * dropout.survival_sum(n, horizon))

    def _expected_purchases_new_customer(self, t: Any) -> np.ndarray:
        """Expected transactions in the first ``t`` opportunities of a new customer (eq. 9):
        ``E[p] sum_{j=1..t} E[(1-theta)^j]``."""
        purchase, dropout = self._mixings()
        horizon = as_horizon(t)
        with np.errstate(under="ignore"):
            return np.asarray(purchase.mean * dropout.survival_sum(0.0, horizon))

    def _probability_of_purchases(self, n: Any, t: Any) -> np.ndarray:
        """P(X(t) = n): ``n`` transactions in the first ``t`` opportunities (FHS eq. 7).

        ``C(t, n) E[p^n (1-p)^(t-n)] E[(1-theta)^t] + sum_{i=n..t-1} C(i, n)
        E[p^n (1-p)^(i-n)] E[theta (1-theta)^i]``: alive throughout, or last alive at
        opportunity ``i``. ``t`` must be whole numbers up to :data:`MAX_OPPORTUNITIES`
        (the sum runs over opportunities).
        """
        purchase, dropout = self._mixings()
        count, horizon = np.broadcast_arrays(whole_counts(n), as_horizon(t))
        if np.any(horizon != np.round(horizon)):
            raise FunnelkitError(
                f"t must be whole numbers of transaction opportunities for the BG/BB model; "
                f"got {t!r}."
            )
        if np.any(horizon > MAX_OPPORTUNITIES):
            raise FunnelkitError(
                f"t must be at most {MAX_OPPORTUNITIES:,} opportunities here (the probability "
                f"sums over each of them); got up to {float(np.max(horizon)):,.0f}. Use "
                "expected_purchases_new_customer(t) for the mean at longer horizons."
            )
        out = np.zeros(count.shape)
        with np.errstate(divide="ignore", under="ignore"):
            for idx in np.ndindex(count.shape):
                k, m = float(count[idx]), float(horizon[idx])
                if k > m:
                    continue
                log_alive = (
                    _log_binom(m, k)
                    + purchase.log_weight(k, m)
                    + dropout.log_survive(np.asarray(m))
                )
                i = np.arange(k, m)
                log_dead = (
                    _log_binom(i, k) + purchase.log_weight(k, i) + dropout.log_drop_at(i + 1.0)
                )
                out[idx] = float(np.exp(np.append(log_dead, log_alive)).sum())
        return out

    def discounted_residual_purchases(self, delta: float, data: Any = None) -> np.ndarray:
        """DERT discounted at the continuous rate ``delta`` per opportunity.

        :meth:`discounted_residual_transactions` at ``discount_rate = e^delta - 1``: the
        common hook that :func:`~funnelkit.clv.discounted_expected_residual_transactions`
        calls on every model.

        Parameters
        ----------
        delta
            Continuous discount rate per opportunity, ``log(1 + rate)``; > 0.
        data
            RFM, frame or mapping of customers; ``None`` = the training customers.
        """
        if not (math.isfinite(delta) and delta > 0):
            raise FunnelkitError(f"delta must be finite and > 0; got {delta!r}.")
        # capped where e^delta overflows: the discounted sum is then ~0 anyway
        return self.discounted_residual_transactions(
            data, discount_rate=math.expm1(min(delta, 700.0))
        )

    def discounted_residual_transactions(
        self, data: Any = None, *, discount_rate: float
    ) -> np.ndarray:
        """DERT: expected transactions over the remaining lifetime, discounted per opportunity.

        FHS (2010, eq. 14): ``sum_{j>=1} P(transaction at n + j | x, tx, n) / (1 + d)^j =
        E[p^(x+1) (1-p)^(n-x)] / L * q sum_{j>=0} q^j E[(1-theta)^(n+1+j)]`` with
        ``q = 1 / (1 + d)``; for a beta dropout the sum is
        ``E[(1-theta)^(n+1)] 2F1(1, delta+n+1; gamma+delta+n+1; q)``, for a common one
        ``(1-theta)^(n+1) / (1 - (1-theta) q)``. Use
        :func:`funnelkit.clv.discounted_expected_residual_transactions` to give the rate in
        another time unit.

        Parameters
        ----------
        data
            RFM, frame or mapping of customers; ``None`` = the training customers.
        discount_rate
            Discount rate per transaction opportunity (``> 0``).
        """
        rate = float(discount_rate)
        if not math.isfinite(rate) or rate <= 0:
            raise FunnelkitError(f"discount_rate must be finite and > 0; got {discount_rate!r}.")
        q = 1.0 / (1.0 + rate)
        purchase, dropout, x, n, ll = self._history(data)
        with np.errstate(under="ignore"):
            lead = np.exp(purchase.log_weight(x + 1.0, n + 1.0) - ll)
            return np.asarray(lead * q * dropout.discounted_survival(n + 1.0, q))


def mixings(params: Mapping[str, float]) -> tuple[PurchaseMixing, DropoutMixing]:
    """The transaction- and dropout-probability mixings of a full or limit parameter set."""
    purchase: PurchaseMixing = (
        BetaPurchase(params["alpha"], params["beta"])
        if "alpha" in params
        else CommonPurchase(params["p"])
    )
    dropout: DropoutMixing = (
        BetaDropout(params["gamma"], params["delta"])
        if "gamma" in params
        else CommonDropout(params.get("theta", 0.0))
    )
    return purchase, dropout


def row_log_likelihood(
    purchase: PurchaseMixing,
    dropout: DropoutMixing,
    x: np.ndarray,
    tx: np.ndarray,
    n: np.ndarray,
) -> np.ndarray:
    """Per-customer log-likelihood (FHS 2010, eq. 5) in mixing form.

    ``L = E[p^x (1-p)^(n-x)] E[(1-theta)^n] + sum_{i=0}^{n-tx-1} E[p^x (1-p)^(tx-x+i)]
    E[theta (1-theta)^(tx+i)]``: alive at ``n``, or last alive at opportunity ``tx + i``
    and dead at the next. Exact for the point-mass limits; summed in blocks of rows so
    memory stays bounded for long histories.
    """
    x, tx, n = (np.asarray(v, dtype=float) for v in (x, tx, n))
    out = np.empty(x.shape)
    with np.errstate(divide="ignore", invalid="ignore", under="ignore"):
        for rows in _blocks(n - tx):
            xb, txb, nb = x[rows], tx[rows], n[rows]
            width = int(np.max(nb - txb))
            i = np.arange(width, dtype=float)[None, :]
            valid = i < (nb - txb)[:, None]
            last = np.where(valid, txb[:, None] + i, txb[:, None])
            alive = purchase.log_weight(xb, nb) + dropout.log_survive(nb)
            # death after opportunity tx + i, built up from i = 0 by one-opportunity steps
            # (two logarithms a cell instead of six gamma functions)
            first = purchase.log_weight(xb, txb) + dropout.log_drop_at(txb + 1.0)
            steps = purchase.log_weight_step(xb[:, None], last[:, :-1]) + dropout.log_drop_step(
                last[:, :-1] + 1.0
            )
            died = (
                first[:, None]
                + np.concatenate([np.zeros((xb.size, 1)), np.cumsum(steps, axis=1)], axis=1)[
                    :, :width
                ]
            )
            terms = np.concatenate([alive[:, None], np.where(valid, died, -np.inf)], axis=1)
            top = terms.max(axis=1)
            top = np.where(np.isfinite(top), top, 0.0)
            out[rows] = top + np.log(np.exp(terms - top[:, None]).sum(axis=1))
    return out


def _blocks(widths: np.ndarray) -> list[np.ndarray]:
    """Row indices in groups whose ``rows x widest row`` stays within ``_CELLS``.

    All rows in one group when they fit (the usual case: few opportunities); otherwise rows
    sorted by width and cut greedily, so a few long histories do not inflate every row.
    """
    widths = np.maximum(np.asarray(widths, dtype=np.int64), 1)
    if widths.size == 0:
        return []
    if widths.size * int(widths.max()) <= _CELLS:
        return [np.arange(widths.size)]
    order = np.argsort(widths, kind="stable")
    sorted_widths = widths[order]
    blocks, start = [], 0
    while start < order.size:
        # the widest row of a block is its last one; the largest stop with
        # (stop - start) * sorted_widths[stop - 1] <= _CELLS, and at least one row
        step = max(_CELLS // int(sorted_widths[start]), 1)
        stop = min(start + step, order.size)
        while stop > start + 1 and (stop - start) * int(sorted_widths[stop - 1]) > _CELLS:
            stop = start + max((stop - start) // 2, 1)
        blocks.append(order[start:stop])
        start = stop
    return blocks


def _log_binom(n: Any, k: float) -> Any:
    return gammaln(np.asarray(n) + 1.0) - gammaln(k + 1.0) - gammaln(np.asarray(n) - k + 1.0)
