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
limit models (a common rate, a common dropout probability, no dropout) are exact, and every
mixing parameter may be one number or one per customer (arrays broadcasting against the
customers): a model with covariates gives each customer their own parameters. The
``*Uncertainty`` classes at the end bind them to the model families (the base classes that
give the models :class:`~funnelkit.clv.uncertainty.CustomerUncertainty`'s calls).

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

import dataclasses
from typing import Any, TypeVar

import numpy as np
from numpy.polynomial.legendre import leggauss
from scipy.special import gammaln, logsumexp

from funnelkit.clv._mixing import (
    DropoutMixing,
    GammaRate,
    LifetimeMixing,
    PurchaseMixing,
    RateMixing,
    death_nodes,
)
from funnelkit.clv._uncertainty_tools import dropout_grid, log_count_grid, running
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

#: Gauss-Legendre nodes of the integral over a future dropout time (Pareto/NBD)
PMF_NODES = 64
_NODES, _WEIGHTS = leggauss(PMF_NODES)
_LOG_HALF_WEIGHTS = np.log(_WEIGHTS / 2.0)

M = TypeVar("M")


def _expanded(mixing: M) -> M:
    """The same mixing distribution with a trailing axis on every parameter, so per-customer
    parameters broadcast against per-node values of shape ``customers + (nodes,)``."""
    values = [
        np.asarray(getattr(mixing, f.name), dtype=float)[..., None]
        for f in dataclasses.fields(mixing)  # type: ignore[arg-type]
    ]
    return type(mixing)(*values)


def _alive_from_odds(log_odds: np.ndarray) -> np.ndarray:
    # exp(-log(1 + e^d)); certain death (d in the thousands) underflows to 0, as it should
    with np.errstate(under="ignore", over="ignore"):
        return np.asarray(np.exp(-np.logaddexp(0.0, log_odds)))


def _with_dead(alive: np.ndarray, if_alive: np.ndarray, n: np.ndarray) -> np.ndarray:
    """``(1 - P(alive)) [n = 0] + P(alive) P(n | alive)``, clipped to ``[0, 1]`` (rounding)."""
    value = alive * if_alive + (1.0 - alive) * (n == 0)
    return np.asarray(np.clip(value, 0.0, 1.0))


def _with_dead_grid(alive: np.ndarray, if_alive: np.ndarray) -> np.ndarray:
    """:func:`_with_dead` for a grid of the counts ``0, 1, ...`` (first axis), in place."""
    if_alive *= alive
    if_alive[0] += 1.0 - alive
    return np.clip(if_alive, 0.0, 1.0, out=if_alive)


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
    return _alive_from_odds(np.where(chances > 0, odds, -np.inf))


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
    return _with_dead(alive, stay + leave, n)


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
    return _with_dead_grid(alive, survive)


# ---------------------------------------------------------------------- Pareto/NBD
def pareto_alive(rate: RateMixing, lifetime: LifetimeMixing, x: Any, tx: Any, T: Any) -> np.ndarray:
    """P(alive at ``T`` | x, t_x, T) of the Pareto/NBD model.

    ``E[lambda^x e^(-lambda T)] E[e^(-mu T)]`` against the dropout branch
    ``int_tx^T E[lambda^x e^(-lambda tau)] E[mu e^(-mu tau)] d tau`` (Fader & Hardie 2005,
    eq. 13 before the gammas are integrated out), integrated on the nodes of
    :func:`~funnelkit.clv._mixing.death_nodes` (relative error below 1e-10), so per-customer
    parameters and the limit models need no special case.
    """
    x, tx, T = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (x, tx, T)))
    tau, log_w = death_nodes(rate, lifetime, x, tx, T)
    wide_rate, wide_life = _expanded(rate), _expanded(lifetime)
    with np.errstate(all="ignore"):
        # the purchase weights relative to the one at T: no gamma functions per node, and
        # no cancelling of the alive branch's
        log_dead = _logsumexp_last(
            wide_rate.log_weight_ratio(x[..., None], T[..., None], tau)
            + wide_life.log_density(tau)
            + log_w
        )
        odds = np.where(np.isfinite(log_dead), log_dead - lifetime.log_survival(T), -np.inf)
    return _alive_from_odds(odds)


def _logsumexp_last(values: np.ndarray) -> np.ndarray:
    """``log(sum(exp(values)))`` over the last axis; ``-inf`` where all are ``-inf``."""
    top = np.max(values, axis=-1, keepdims=True)
    top = np.where(np.isfinite(top), top, 0.0)
    return np.asarray(np.log(np.sum(np.exp(values - top), axis=-1)) + top[..., 0])


def pareto_pmf(
    n: Any,
    horizon: Any,
    x: Any,
    tx: Any,
    T: Any,
    rate: RateMixing,
    lifetime: LifetimeMixing,
) -> np.ndarray:
    """``P(X(T, T + horizon) = n | x, t_x, T)`` of the Pareto/NBD model.

    Alive at ``T``, the customer buys at rate ``lambda ~ Gamma(r + x, alpha + T)`` for an
    exponential remaining lifetime with rate ``mu ~ Gamma(s, beta + T)``; conditioning on
    the dropout time ``u``::

        P(X = n | alive) = S(t) NBD(n; t) + int_0^t f(u) NBD(n; u) du

    with ``S`` and ``f`` the (Lomax) survival and density of the remaining lifetime. Fader &
    Hardie (2014) write the integral with two Gauss hypergeometric functions, which overflow
    for frequent buyers; here it is a ``PMF_NODES``-point Gauss-Legendre rule after the map
    ``u = expm1(v) / c`` (``c`` = the purchase plus the dropout rate at the start), which
    spreads a dropout density falling fast near 0 over the range. Vectorised over customers;
    exact at ``horizon = 0``.
    """
    n = np.asarray(n, dtype=float)
    t, x, tx, T = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (horizon, x, tx, T)))
    nodes = _pareto_nodes(t, x, tx, T, rate, lifetime)
    with np.errstate(all="ignore"):
        at_end = nodes.post_rate.log_count_pmf(n, t)
        powers = np.exp(n[..., None] * np.log(nodes.ratio))
        dead = np.sum(nodes.weight * powers, axis=-1)
    return nodes.combine(n, at_end, dead)


def pareto_pmf_grid(
    width: int,
    horizon: Any,
    x: Any,
    tx: Any,
    T: Any,
    rate: RateMixing,
    lifetime: LifetimeMixing,
) -> np.ndarray:
    """:func:`pareto_pmf` for every count ``0 .. width - 1``, shape ``(width, customers)``:
    the same numbers, with the node powers built by one multiplication per count instead
    of an exponential and the end point's NBD pmf by its ratio recursion
    (:func:`log_count_grid`): the prediction intervals evaluate whole grids for hundreds
    of parameter draws."""
    t, x, tx, T = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (horizon, x, tx, T)))
    nodes = _pareto_nodes(t, x, tx, T, rate, lifetime)
    # nodes first, so each count's sum over them is one matrix-vector product
    ratio = nodes.ratio.reshape(-1, PMF_NODES).T.copy()
    power = nodes.weight.reshape(-1, PMF_NODES).T.copy()
    ones = np.ones(PMF_NODES)
    dead = np.empty((width, ratio.shape[1]))
    with np.errstate(all="ignore"):
        for i in range(width):
            dead[i] = ones @ power
            power *= ratio
        at_end = log_count_grid(nodes.post_rate, width, t)
    return nodes.combine_grid(at_end, dead.reshape(width, *t.shape))


@dataclasses.dataclass(frozen=True)
class _ParetoNodes:
    """The quadrature of :func:`pareto_pmf` with everything that does not depend on ``n``.

    ``NBD(n; u) = NBD(n; t) e^(B(u) - B(t)) e^(n (L(u) - L(t)))`` for both rate mixings
    (``B = log NBD(0; .)``), so the dead part is ``NBD(n; t) e^top sum_q weight_q
    ratio_q^n`` with ``ratio = e^(L(u) - L(t))``: special functions once per customer and
    node, and ``ratio <= 1`` (``L`` increases with ``u < t``) with ``weight <= 1`` so
    nothing can overflow.
    """

    alive: np.ndarray
    post_rate: Any
    survival: np.ndarray
    top: np.ndarray
    weight: np.ndarray
    ratio: np.ndarray
    t: np.ndarray

    def combine(self, n: np.ndarray, at_end: np.ndarray, dead: np.ndarray) -> np.ndarray:
        with np.errstate(all="ignore"):
            dead = np.exp(np.log(dead) + self.top + at_end)
            survive = np.exp(self.survival + at_end)
        dead = np.where((self.t > 0) & np.isfinite(dead), dead, 0.0)
        return _with_dead(self.alive, survive + dead, n)

    def combine_grid(self, at_end: np.ndarray, dead: np.ndarray) -> np.ndarray:
        """:meth:`combine` for the counts ``0, 1, ...`` (first axis), in place."""
        with np.errstate(all="ignore"):
            np.log(dead, out=dead)
            dead += self.top
            dead += at_end
            np.exp(dead, out=dead)
            at_end += self.survival
            np.exp(at_end, out=at_end)
        np.copyto(dead, 0.0, where=~((self.t > 0) & np.isfinite(dead)))
        at_end += dead
        return _with_dead_grid(self.alive, at_end)


def _pareto_nodes(
    t: np.ndarray,
    x: np.ndarray,
    tx: np.ndarray,
    T: np.ndarray,
    rate: RateMixing,
    lifetime: LifetimeMixing,
) -> _ParetoNodes:
    alive = pareto_alive(rate, lifetime, x, tx, T)
    post_rate = rate.posterior(x, T)
    post_life = lifetime.alive_posterior(T)
    wide_rate, wide_life = _expanded(post_rate), _expanded(post_life)
    with np.errstate(all="ignore"):
        c = np.asarray(post_rate.mean) + post_life.death_rate(np.zeros_like(t))
        span = np.log1p(c * t)[..., None]
        v = span * (_NODES + 1.0) / 2.0
        u = np.expm1(v) / c[..., None]
        # du = e^v / c dv
        log_w = (np.log(span) - np.log(c)[..., None]) + _LOG_HALF_WEIGHTS + v
        te = t[..., None]
        # B(u) - B(t) and e^(L(u) - L(t)) in closed form: the ratio of the rate's Laplace
        # transforms, and u / (alpha + u) over t / (alpha + t) (u / t for a common rate),
        # without gamma functions or the cancelling 1 - alpha / (alpha + u)
        zero = wide_rate.log_weight_ratio(np.zeros(()), te, u)
        if isinstance(wide_rate, GammaRate):
            scale = np.asarray(wide_rate.rate)
            ratio = u * (scale + te) / (te * (scale + u))
        else:
            ratio = u / te
        ratio = np.minimum(ratio, 1.0)
        base = wide_life.log_density(u) + log_w + zero
        top = np.max(base, axis=-1, keepdims=True)
        weight = np.exp(base - top)
    return _ParetoNodes(
        alive=alive,
        post_rate=post_rate,
        survival=np.asarray(post_life.log_survival(t)),
        top=top[..., 0],
        weight=weight,
        ratio=ratio,
        t=t,
    )


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
    wide_p, wide_d = _expanded(purchase), _expanded(dropout)
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
    wide_p, wide_d = _expanded(purchase), _expanded(dropout)
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

    # the pmf integrates over 64 dropout times per customer
    _pmf_shares_rows = True

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
