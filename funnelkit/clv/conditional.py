"""The conditional distribution of a customer's purchase count in the next period.

``P(X(T, T + t) = n | x, t_x, T)``: how many purchases a customer with history
``(x, t_x, T)`` makes in the next ``t``, including ``n = 0`` (no purchase). Each model's
expression splits the same way (Fader, Hardie & Lee's notes on the conditional pmf)::

    P(X = n | history) = (1 - P(alive)) [n = 0] + P(alive) P(X = n | alive at T)

where an alive customer's future is that of a *new* customer whose mixing distributions are
the posteriors given the history (gamma-gamma and beta-geometric conjugacy): the purchase
rate ``Gamma(r + x, alpha + T)``, the dropout probability ``Beta(a, b + x + k)`` (BG/NBD
``k = 0``, MBG/NBD ``k = 1``), the dropout rate ``Gamma(s, beta + T)`` (Pareto/NBD), the
transaction probability ``Beta(alpha + x, beta + T - x)`` and the dropout probability
``Beta(gamma, delta + T)`` (BG/BB).

The functions take the models' mixing distributions (:mod:`funnelkit.clv._mixing`), so the
limit models (a common rate, a common or two-point dropout probability, no dropout) are
exact, and every mixing parameter may be one number or one per customer (arrays
broadcasting against the customers): a model with covariates gives each customer their own
parameters. The ``*Uncertainty`` classes at the end bind them to the model families (the
base classes that give the models
:class:`~funnelkit.clv.uncertainty.CustomerUncertainty`'s calls).

References
----------
.. [1] Fader, P. S., Hardie, B. G. S. & Lee, K. L. (2007). Deriving the Conditional PMF of
   the BG/NBD Model. http://brucehardie.com/notes/032/
.. [2] Fader, P. S. & Hardie, B. G. S. (2014). Deriving the Conditional PMF of the
   Pareto/NBD Model. http://brucehardie.com/notes/028/
.. [3] Fader, P. S., Hardie, B. G. S. & Shang, J. (2010). Customer-Base Analysis in a
   Discrete-Time Noncontractual Setting. *Marketing Science* 29(6), 1086-1108 (appendix).
.. [4] Batislam, E. P., Denizel, M. & Filiztekin, A. (2007). Empirical validation and
   comparison of models for customer base analysis. *IJRM* 24(3), 201-209.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.special import gammaln, logsumexp

from funnelkit.clv._mixing import DropoutMixing, PurchaseMixing, RateMixing

# the Pareto/NBD part lives in its own modules
from funnelkit.clv._pareto_alive import pareto_alive
from funnelkit.clv._pareto_conditional import PMF_NODES as PMF_NODES, pareto_pmf, pareto_pmf_grid
from funnelkit.clv._uncertainty_tools import (
    alive_from_odds,
    dropout_grid,
    expanded,
    log_count_grid,
    running,
    with_dead,
    with_dead_grid,
)
from funnelkit.clv.uncertainty import CustomerUncertainty, Params
from funnelkit.exceptions import FunnelkitError

__all__ = [
    "BetaBinomialUncertainty",
    "GeometricUncertainty",
    "ParetoUncertainty",
    "bgbb_alive",
    "bgbb_pmf",
    "geometric_alive",
    "geometric_pmf",
    "geometric_pmf_grid",
    "pareto_alive",
    "pareto_pmf",
    "pareto_pmf_grid",
]


# ---------------------------------------------------------------------- BG/NBD, MBG/NBD
def geometric_alive(
    rate: RateMixing, dropout: DropoutMixing, x: Any, tx: Any, T: Any, k: int
) -> np.ndarray:
    """P(alive at ``T`` | x, t_x, T) of BG/NBD (``k = 0``, Fader, Hardie & Lee 2008 eq. 2)
    and MBG/NBD (``k = 1``): ``1 / (1 + e^d)`` with ``d`` the log odds of "dropped out after
    the last purchase" (``-inf`` when there was no dropout chance yet)."""
    x, tx, T = (np.asarray(v, dtype=float) for v in (x, tx, T))
    chances = x + k
    with np.errstate(divide="ignore", invalid="ignore", under="ignore"):
        odds = dropout.log_drop_odds(chances) + rate.log_weight_ratio(x, T, tx)
    return alive_from_odds(np.where(chances > 0, odds, -np.inf))


def geometric_pmf(
    n: Any,
    horizon: Any,
    x: Any,
    tx: Any,
    T: Any,
    rate: RateMixing,
    dropout: DropoutMixing,
    *,
    k: int,
) -> np.ndarray:
    """``P(X(T, T + horizon) = n | x, t_x, T)`` of BG/NBD (``k = 0``) and MBG/NBD (``k = 1``).

    Alive at ``T``, the customer buys at rate ``lambda ~ Gamma(r + x, alpha + T)`` and drops
    out after each purchase with probability ``p ~ Beta(a, b + x + k)``, so (Fader, Hardie &
    Lee 2007, the conditional form of FHL 2005 eq. 8)::

        P(X = n | alive) = E[(1-p)^n] NBD(n; t) + [n > 0] E[p (1-p)^(n-1)] P(NBD(t) >= n)

    In MBG/NBD the first purchase's dropout chance lies in the past, so an alive customer's
    future has BG/NBD's form with the posterior ``Beta(a, b + x + 1)``.
    """
    n, t, x, tx, T = (np.asarray(v, dtype=float) for v in (n, horizon, x, tx, T))
    alive = geometric_alive(rate, dropout, x, tx, T, k)
    post_rate = rate.posterior(x, T)
    post_drop = dropout.alive_posterior(x + k)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore", under="ignore"):
        stay = np.exp(post_drop.log_survive(n) + post_rate.log_count_pmf(n, t))
        leave = np.where(
            n > 0, np.exp(post_drop.log_drop_at(n)) * post_rate.count_at_least(n, t), 0.0
        )
    return with_dead(alive, stay + leave, n)


def geometric_pmf_grid(
    width: int,
    horizon: Any,
    x: Any,
    tx: Any,
    T: Any,
    rate: RateMixing,
    dropout: DropoutMixing,
    *,
    k: int,
) -> np.ndarray:
    """:func:`geometric_pmf` for every count ``0 .. width - 1``, shape ``(width,
    customers)``. Each factor comes from its predecessor by the ratio of consecutive
    counts (:func:`log_count_grid`, :func:`dropout_grid`), and the tail ``P(NBD(t) >= n)``
    is one minus a running sum of the NBD pmf, instead of gamma and incomplete beta
    functions per cell: the same numbers to ~1e-14 at a fraction of the cost, which is what
    the prediction intervals need from grids over hundreds of parameter draws."""
    t, x, tx, T = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (horizon, x, tx, T)))
    alive = geometric_alive(rate, dropout, x, tx, T, k)
    post_rate = rate.posterior(x, T)
    post_drop = dropout.alive_posterior(x + k)
    # in place: these grids are the bulk of a prediction interval's work
    with np.errstate(divide="ignore", invalid="ignore", over="ignore", under="ignore"):
        counts = log_count_grid(post_rate, width, t)
        np.exp(counts, out=counts)
        survive, drop = dropout_grid(post_drop, width, t.shape)
        # P(NBD(t) >= n) = 1 - P(NBD(t) <= n - 1)
        tail = running(counts[:-1].copy())
        np.subtract(1.0, tail, out=tail)
        np.clip(tail, 0.0, 1.0, out=tail)
        survive *= counts
        drop[1:] *= tail
        survive += drop
    return with_dead_grid(alive, survive)


# ---------------------------------------------------------------------- BG/BB
def _bgbb_terms(
    purchase: PurchaseMixing, dropout: DropoutMixing, x: np.ndarray, tx: np.ndarray, T: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Log of the alive branch and of the likelihood (FHS 2010, eq. 5) per customer.

    Written with per-customer parameters in mind (the mixings may hold arrays), which the
    fitting path's row-blocked likelihood does not allow.
    """
    width = int(np.max(T - tx)) if T.size else 0
    i = np.arange(width, dtype=float)
    last = tx[..., None] + i
    valid = i < (T - tx)[..., None]
    wide_p, wide_d = expanded(purchase), expanded(dropout)
    with np.errstate(divide="ignore", invalid="ignore", under="ignore"):
        alive = purchase.log_weight(x, T) + dropout.log_survive(T)
        died = wide_p.log_weight(x[..., None], last) + wide_d.log_drop_at(last + 1.0)
        died = np.where(valid, died, -np.inf)
        total = logsumexp(np.concatenate([alive[..., None], died], axis=-1), axis=-1)
    return np.asarray(alive), np.asarray(total)


def bgbb_alive(
    purchase: PurchaseMixing, dropout: DropoutMixing, x: Any, tx: Any, T: Any
) -> np.ndarray:
    """P(alive at opportunity ``T`` | x, t_x, T) of the BG/BB model (FHS 2010, eq. A10)."""
    x, tx, T = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (x, tx, T)))
    alive, total = _bgbb_terms(purchase, dropout, x, tx, T)
    return np.asarray(np.exp(np.minimum(alive - total, 0.0)))


def bgbb_pmf(
    n: Any,
    horizon: Any,
    x: Any,
    tx: Any,
    T: Any,
    purchase: PurchaseMixing,
    dropout: DropoutMixing,
) -> np.ndarray:
    """``P(X(T, T + horizon) = n | x, t_x, T)``: ``n`` transactions in the next ``horizon``
    transaction opportunities under the BG/BB model.

    The discrete counterpart of the continuous-time models (FHS 2010, appendix, with the
    posteriors of eq. A10): alive at ``T``, the customer survives ``j`` more opportunities
    (dying at the start of opportunity ``j + 1 <= horizon`` with probability
    ``E[theta (1-theta)^(T+j)]``, or surviving all of them) and transacts at each with
    probability ``p``; a beta-binomial count over the ``j`` opportunities::

        L P(X = n, alive) = sum_j C(j, n) E[p^(x+n) (1-p)^(T+j-x-n)] w_j

    with ``w_j = E[theta (1-theta)^(T+j)]`` for ``j < horizon`` and ``E[(1-theta)^(T+horizon)]``
    for ``j = horizon``, ``L`` the likelihood of the history. ``horizon`` must be whole
    numbers; ``n > horizon`` has probability 0.
    """
    arrays = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (n, horizon, x, tx, T)))
    n, m, x, tx, T = arrays
    alive, total = _bgbb_terms(purchase, dropout, x, tx, T)
    j = np.arange(int(np.max(m)) + 1 if m.size else 1, dtype=float)
    je, ne = j, n[..., None]
    wide_p, wide_d = expanded(purchase), expanded(dropout)
    ok = (je >= ne) & (je <= m[..., None])
    with np.errstate(divide="ignore", invalid="ignore", under="ignore", over="ignore"):
        safe_j = np.where(ok, je, ne)
        log_choose = gammaln(safe_j + 1.0) - gammaln(ne + 1.0) - gammaln(safe_j - ne + 1.0)
        counts = wide_p.log_weight(x[..., None] + ne, T[..., None] + safe_j)
        lives = np.where(
            je < m[..., None],
            wide_d.log_drop_at(T[..., None] + safe_j + 1.0),
            wide_d.log_survive(T[..., None] + safe_j),
        )
        terms = np.where(ok, log_choose + counts + lives, -np.inf)
        if_alive = np.exp(logsumexp(terms, axis=-1) - total)
    if_alive = np.where(np.isfinite(if_alive), if_alive, 0.0)
    # P(alive) * P(n | alive) is what the sum gives; the dead customers add to n = 0
    p_alive = np.exp(np.minimum(alive - total, 0.0))
    return np.asarray(np.clip(if_alive + (1.0 - p_alive) * (n == 0), 0.0, 1.0))


# ---------------------------------------------------------------------- the model families
class GeometricUncertainty(CustomerUncertainty):
    """BG/NBD and MBG/NBD (``_first_purchase_dropout`` = 0 or 1)."""

    def _conditional_pmf(
        self, n: np.ndarray, horizon: np.ndarray, columns: Params, params: Params
    ) -> np.ndarray:
        from funnelkit.clv._geometric import mixings

        rate, dropout = mixings(params)
        x, tx, T = columns["frequency"], columns["recency"], columns["T"]
        k = self._first_purchase_dropout  # type: ignore[attr-defined]
        return geometric_pmf(n, horizon, x, tx, T, rate, dropout, k=k)

    def _conditional_pmf_grid(
        self, width: int, horizon: np.ndarray, columns: Params, params: Params
    ) -> np.ndarray:
        from funnelkit.clv._geometric import mixings

        rate, dropout = mixings(params)
        x, tx, T = columns["frequency"], columns["recency"], columns["T"]
        k = self._first_purchase_dropout  # type: ignore[attr-defined]
        return geometric_pmf_grid(width, horizon, x, tx, T, rate, dropout, k=k)

    def _alive_probability(self, columns: Params, params: Params) -> np.ndarray:
        from funnelkit.clv._geometric import mixings

        rate, dropout = mixings(params)
        x, tx, T = columns["frequency"], columns["recency"], columns["T"]
        return geometric_alive(rate, dropout, x, tx, T, self._first_purchase_dropout)  # type: ignore[attr-defined]


class ParetoUncertainty(CustomerUncertainty):
    """Pareto/NBD."""

    @property
    def _pmf_shares_rows(self) -> bool:  # type: ignore[override]
        # pareto_pmf shares its work between customers alike in history itself, at a
        # fraction of the cost of finding distinct rows of all columns; customers with
        # covariates have parameters of their own, which it does not compare
        return self._has_covariates()

    def _conditional_pmf(
        self, n: np.ndarray, horizon: np.ndarray, columns: Params, params: Params
    ) -> np.ndarray:
        from funnelkit.clv.pareto_nbd import mixings

        rate, lifetime = mixings(params)
        x, tx, T = columns["frequency"], columns["recency"], columns["T"]
        return pareto_pmf(n, horizon, x, tx, T, rate, lifetime)

    def _conditional_pmf_grid(
        self, width: int, horizon: np.ndarray, columns: Params, params: Params
    ) -> np.ndarray:
        from funnelkit.clv.pareto_nbd import mixings

        rate, lifetime = mixings(params)
        x, tx, T = columns["frequency"], columns["recency"], columns["T"]
        return pareto_pmf_grid(width, horizon, x, tx, T, rate, lifetime)

    def _alive_probability(self, columns: Params, params: Params) -> np.ndarray:
        from funnelkit.clv.pareto_nbd import mixings

        rate, lifetime = mixings(params)
        return pareto_alive(rate, lifetime, columns["frequency"], columns["recency"], columns["T"])


class BetaBinomialUncertainty(CustomerUncertainty):
    """BG/BB: horizons are whole numbers of transaction opportunities."""

    # the pmf sums over the opportunities of the history and of the horizon
    _pmf_shares_rows = True

    def _checked_horizon(self, horizon: np.ndarray) -> np.ndarray:
        from funnelkit.clv.beta_geo_beta_binom import MAX_OPPORTUNITIES

        if np.any(horizon != np.round(horizon)) or np.any(horizon > MAX_OPPORTUNITIES):
            raise FunnelkitError(
                "horizon must be whole numbers of transaction opportunities for the BG/BB "
                f"model, at most {MAX_OPPORTUNITIES:,} (the pmf sums over each of them); got "
                f"values such as {float(np.max(horizon))!r}."
            )
        return horizon

    def _conditional_pmf(
        self, n: np.ndarray, horizon: np.ndarray, columns: Params, params: Params
    ) -> np.ndarray:
        from funnelkit.clv.beta_geo_beta_binom import mixings

        purchase, dropout = mixings(params)
        x, tx, T = columns["frequency"], columns["recency"], columns["T"]
        return bgbb_pmf(n, horizon, x, tx, T, purchase, dropout)

    def _alive_probability(self, columns: Params, params: Params) -> np.ndarray:
        from funnelkit.clv.beta_geo_beta_binom import mixings

        purchase, dropout = mixings(params)
        return bgbb_alive(purchase, dropout, columns["frequency"], columns["recency"], columns["T"])
