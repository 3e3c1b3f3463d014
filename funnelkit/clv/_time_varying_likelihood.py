"""Likelihood and posterior quantities of the Pareto/NBD with time-varying covariates.

Time runs on each customer's own axis (0 = first purchase period, ``T`` = end of
calibration, in whole periods of the fitted unit, as in :class:`funnelkit.RFM`). The
covariates are piecewise constant on *segments* ``[lo, hi)`` of that axis; while alive a
customer buys at ``lambda a(t)`` and drops out at ``mu b(t)``, with ``a = exp(gamma_p' z)``
and ``b = exp(gamma_d' w)``. With ``A(t) = int_0^t a`` and ``B(t) = int_0^t b`` the
exposures, integrating the gammas out of Fader & Hardie's (2005) conditional likelihood
gives (Bachmann, Meierer & Näf 2021)::

    L = G(r+x)/G(r) alpha^r beta^s prod_j a(t_j) [ (alpha+A(T))^-(r+x) (beta+B(T))^-s
        + s int_tx^T b(tau) (alpha+A(tau))^-(r+x) (beta+B(tau))^-(s+1) d tau ]

The dropout integral has no stable closed form per segment (an incomplete beta function
whose two bases move at different speeds), so each segment of ``(tx, T]`` is integrated by
a Gauss-Legendre rule in the variable ``v = log(1 + c (tau - lo))``, where ``c`` is the
integrand's rate of decay at the segment's start (as :func:`funnelkit.clv._mixing.
log_death_integral` does for the whole window): the integrand falls at most exponentially
at rate ``c`` and becomes a smooth function of ``v``. Everything is vectorised over the
flattened segments of all customers; per-customer sums are bincounts.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.polynomial.legendre import leggauss
from scipy.special import digamma, gammaln

__all__ = ["Panel", "Window", "customer_log_likelihood", "log_likelihood", "posterior"]

#: Gauss-Legendre nodes per segment of the dropout integral. A segment is at most the whole
#: window, the hardest case: there, against the Pareto/NBD's own likelihood, 16 nodes are
#: within 5e-9 and 24 within 2e-13 over the parameter ranges of the tests
N_NODES = 24
_NODES, _WEIGHTS = leggauss(N_NODES)


@dataclass(frozen=True)
class Panel:
    """Customers and their covariate segments on their own time axes.

    Segments are sorted by customer and start, cover ``[0, inf)`` for every customer without
    gaps (the last one never ends: the covariates stay at their last values), and adjacent
    segments of one customer differ in at least one covariate.
    """

    customer_ids: np.ndarray
    x: np.ndarray
    tx: np.ndarray
    T: np.ndarray
    #: per customer, the purchase covariates summed over the repeat purchases
    purchase_sums: np.ndarray
    seg_customer: np.ndarray
    seg_lo: np.ndarray
    seg_hi: np.ndarray
    #: purchase covariates ``z`` and dropout covariates ``w`` of each segment
    seg_z: np.ndarray
    seg_w: np.ndarray

    @property
    def n_customers(self) -> int:
        return int(self.x.shape[0])

    def window(self, start: np.ndarray, end: np.ndarray) -> Window:
        """The segments clipped to ``[start_i, end_i]`` per customer (empty parts dropped)."""
        c = self.seg_customer
        lo = np.maximum(self.seg_lo, start[c])
        hi = np.minimum(self.seg_hi, end[c])
        keep = hi > lo
        return Window(
            n=self.n_customers,
            customer=c[keep],
            lo=lo[keep],
            hi=hi[keep],
            z=self.seg_z[keep],
            w=self.seg_w[keep],
        )


@dataclass(frozen=True)
class Window:
    """Segments of one window per customer (see :meth:`Panel.window`)."""

    n: int
    customer: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    z: np.ndarray
    w: np.ndarray

    def exposures(
        self, gamma_p: np.ndarray, gamma_d: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Multipliers ``a``, ``b`` and the exposures ``A``, ``B`` at each segment's start
        (cumulated from the window's start)."""
        a = np.exp(self.z @ gamma_p)
        b = np.exp(self.w @ gamma_d)
        span = self.hi - self.lo
        return a, b, self.before(a * span), self.before(b * span)

    def before(self, values: np.ndarray) -> np.ndarray:
        """Per segment, the sum of ``values`` over the earlier segments of its customer."""
        if values.shape[0] == 0:
            return np.zeros_like(values)
        total = np.cumsum(values, axis=0)
        first = np.flatnonzero(np.r_[True, self.customer[1:] != self.customer[:-1]])
        offset = np.repeat(total[first] - values[first], np.diff(np.r_[first, values.shape[0]]), 0)
        return np.asarray(total - values - offset)

    def per_customer(self, values: np.ndarray) -> np.ndarray:
        """Sum of ``values`` (1-D or 2-D by rows) per customer."""
        if values.ndim == 1:
            return np.bincount(self.customer, weights=values, minlength=self.n)
        out = np.zeros((self.n, values.shape[1]))
        for k in range(values.shape[1]):
            out[:, k] = np.bincount(self.customer, weights=values[:, k], minlength=self.n)
        return out


def _split(theta: np.ndarray, p: int) -> tuple[float, float, float, float, np.ndarray, np.ndarray]:
    r, alpha, s, beta = np.exp(theta[:4])
    return float(r), float(alpha), float(s), float(beta), theta[4 : 4 + p], theta[4 + p :]


def _terms(
    theta: np.ndarray, panel: Panel, *, gradient: bool
) -> tuple[np.ndarray, np.ndarray | None]:
    """Per-customer log-likelihood and (optionally) its gradient in ``theta`` (rows)."""
    p, d = panel.seg_z.shape[1], panel.seg_w.shape[1]
    r, alpha, s, beta, gp, gd = _split(theta, p)
    x, tx, T, n = panel.x, panel.tx, panel.T, panel.n_customers
    full = panel.window(np.zeros(n), T)
    a, b, A0, B0 = full.exposures(gp, gd)
    span = full.hi - full.lo
    A_T = full.per_customer(a * span)
    B_T = full.per_customer(b * span)
    rx = r + x
    log_at, log_bt = np.log(alpha + A_T), np.log(beta + B_T)
    log_alive = -rx * log_at - s * log_bt

    # the dropout branch: segments of (tx, T], integrated node by node in log space
    dead = np.flatnonzero(full.hi > tx[full.customer])
    c = full.customer[dead]
    start = np.maximum(full.lo[dead], tx[c])
    ad, bd = a[dead], b[dead]
    A_s = A0[dead] + ad * (start - full.lo[dead])
    B_s = B0[dead] + bd * (start - full.lo[dead])
    rate = rx[c] * ad / (alpha + A_s) + (s + 1.0) * bd / (beta + B_s)
    top = np.log1p(rate * (full.hi[dead] - start))[:, None]
    v = top * (_NODES + 1.0) / 2.0
    u = np.expm1(v) / rate[:, None]
    qa = alpha + A_s[:, None] + ad[:, None] * u
    qb = beta + B_s[:, None] + bd[:, None] * u
    log_qa, log_qb = np.log(qa), np.log(qb)
    ell = (
        np.log(top * _WEIGHTS / 2.0)
        + v
        - np.log(rate)[:, None]
        + np.log(bd)[:, None]
        - rx[c][:, None] * log_qa
        - (s + 1.0) * log_qb
    )
    seg_max = ell.max(axis=1)
    cust_max = np.full(n, -np.inf)
    np.maximum.at(cust_max, c, seg_max)
    with np.errstate(divide="ignore", invalid="ignore"):
        weight = np.exp(ell - cust_max[c][:, None])
        mass = np.bincount(c, weights=weight.sum(axis=1), minlength=n)
        log_dead = np.log(s) + cust_max + np.log(mass)
    head = gammaln(rx) - gammaln(r) + r * np.log(alpha) + s * np.log(beta)
    head = head + panel.purchase_sums @ gp
    ll = head + np.logaddexp(log_alive, log_dead)
    if not gradient:
        return ll, None

    with np.errstate(invalid="ignore", over="ignore"):
        p_dead = np.exp(log_dead - np.logaddexp(log_alive, log_dead))
        pi = weight / np.where(mass > 0, mass, 1.0)[c][:, None]  # node shares within a customer
    ia, ib = 1.0 / qa, 1.0 / qb
    offset = (start - full.lo[dead])[:, None] + u  # tau - lo of the segment
    d_dead = np.zeros((n, 4 + p + d))
    d_dead[:, 0] = -np.bincount(c, weights=(pi * log_qa).sum(1), minlength=n)
    d_dead[:, 1] = -rx * np.bincount(c, weights=(pi * ia).sum(1), minlength=n)
    d_dead[:, 2] = 1.0 / s - np.bincount(c, weights=(pi * log_qb).sum(1), minlength=n)
    d_dead[:, 3] = -(s + 1.0) * np.bincount(c, weights=(pi * ib).sum(1), minlength=n)
    if p:
        dA0 = full.before((a * span)[:, None] * full.z)[dead]
        p1, p2 = (pi * ia).sum(1), (pi * ia * offset).sum(1)
        rows = p1[:, None] * dA0 + (p2 * ad)[:, None] * full.z[dead]
        d_dead[:, 4 : 4 + p] = -rx[:, None] * _rows_per_customer(rows, c, n)
    if d:
        dB0 = full.before((b * span)[:, None] * full.w)[dead]
        q1, q2 = (pi * ib).sum(1), (pi * ib * offset).sum(1)
        rows = q1[:, None] * dB0 + (q2 * bd)[:, None] * full.w[dead]
        share = pi.sum(1)[:, None] * full.w[dead]
        d_dead[:, 4 + p :] = _rows_per_customer(share - (s + 1.0) * rows, c, n)

    d_alive = np.zeros((n, 4 + p + d))
    d_alive[:, 0] = -log_at
    d_alive[:, 1] = -rx / (alpha + A_T)
    d_alive[:, 2] = -log_bt
    d_alive[:, 3] = -s / (beta + B_T)
    if p:
        dA_T = full.per_customer((a * span)[:, None] * full.z)
        d_alive[:, 4 : 4 + p] = -(rx / (alpha + A_T))[:, None] * dA_T
    if d:
        dB_T = full.per_customer((b * span)[:, None] * full.w)
        d_alive[:, 4 + p :] = -(s / (beta + B_T))[:, None] * dB_T
    d_head = np.zeros((n, 4 + p + d))
    d_head[:, 0] = digamma(rx) - digamma(r) + np.log(alpha)
    d_head[:, 1] = r / alpha
    d_head[:, 2] = np.log(beta)
    d_head[:, 3] = s / beta
    d_head[:, 4 : 4 + p] = panel.purchase_sums
    has_dead = (p_dead > 0)[:, None]
    grad = d_head + (1.0 - p_dead)[:, None] * d_alive
    grad += np.where(has_dead, p_dead[:, None] * np.nan_to_num(d_dead), 0.0)
    grad[:, :4] *= np.array([r, alpha, s, beta])  # to the log scale of theta
    return ll, grad


def _rows_per_customer(rows: np.ndarray, customer: np.ndarray, n: int) -> np.ndarray:
    out = np.zeros((n, rows.shape[1]))
    for k in range(rows.shape[1]):
        out[:, k] = np.bincount(customer, weights=rows[:, k], minlength=n)
    return out


def customer_log_likelihood(theta: np.ndarray, panel: Panel) -> np.ndarray:
    """Per-customer log-likelihood at ``theta = [log r, log alpha, log s, log beta,
    gamma_p..., gamma_d...]``."""
    with np.errstate(under="ignore"):
        return _terms(theta, panel, gradient=False)[0]


def log_likelihood(theta: np.ndarray, panel: Panel) -> tuple[float, np.ndarray]:
    """Total log-likelihood and its gradient in ``theta``."""
    with np.errstate(under="ignore"):
        ll, grad = _terms(theta, panel, gradient=True)
    assert grad is not None
    return float(ll.sum()), grad.sum(axis=0)


@dataclass(frozen=True)
class Posterior:
    """What a customer's history says at the end of calibration ``T``.

    ``log_alive_odds`` is ``log P(alive at T | history) - log P(dead | history)``; given
    alive at ``T``, ``lambda ~ Gamma(r + x, alpha + A(T))`` and ``mu ~ Gamma(s, beta +
    B(T))``.
    """

    log_alive_odds: np.ndarray
    purchase_shape: np.ndarray
    purchase_rate: np.ndarray
    dropout_rate: np.ndarray

    @property
    def p_alive(self) -> np.ndarray:
        with np.errstate(over="ignore", under="ignore"):
            return np.asarray(1.0 / (1.0 + np.exp(-self.log_alive_odds)))


def posterior(theta: np.ndarray, panel: Panel) -> Posterior:
    """The posterior at ``T`` of every customer of ``panel`` (see :class:`Posterior`)."""
    p = panel.seg_z.shape[1]
    r, alpha, s, beta, gp, gd = _split(theta, p)
    n = panel.n_customers
    full = panel.window(np.zeros(n), panel.T)
    a, b, _, _ = full.exposures(gp, gd)
    span = full.hi - full.lo
    A_T, B_T = full.per_customer(a * span), full.per_customer(b * span)
    rx = r + panel.x
    log_alive = -rx * np.log(alpha + A_T) - s * np.log(beta + B_T)
    with np.errstate(under="ignore"):
        ll = customer_log_likelihood(theta, panel)
    head = gammaln(rx) - gammaln(r) + r * np.log(alpha) + s * np.log(beta)
    head = head + panel.purchase_sums @ gp
    # log P(alive, data) - log P(data) = head + log_alive - ll; odds from that share
    log_share = np.minimum(head + log_alive - ll, 0.0)
    with np.errstate(divide="ignore"):
        odds = log_share - np.log(-np.expm1(log_share))
    return Posterior(odds, rx, alpha + A_T, beta + B_T)


def future(
    theta: np.ndarray, panel: Panel, post: Posterior, horizon: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Expected purchases in ``(T, T + horizon]`` and ``log P(alive at T + horizon | alive
    at T)`` per customer, with the covariates of the segments after ``T``.

    Given alive at ``T``: ``E[purchases] = E[lambda] int a(u) E[e^(-mu (B(u) - B(T)))] du``
    with ``E[e^(-mu D)] = (1 + D / beta_T)^-s``; on a segment with constant ``a``, ``b`` the
    integral of ``(c0 + b v)^-s`` over ``[0, span]`` is closed-form.
    """
    p = panel.seg_z.shape[1]
    _, _, s, _, gp, gd = _split(theta, p)
    win = panel.window(panel.T, panel.T + horizon)
    a, b, _, B0 = win.exposures(gp, gd)
    span = win.hi - win.lo
    base = post.dropout_rate[win.customer]
    c0 = base + B0
    lg = np.log1p(b * span / c0)
    k = s - 1.0
    # int_0^span (c0 + b v)^-s dv = c0^(1-s) (1 - (1 + b span / c0)^(1-s)) / (b (s-1))
    with np.errstate(invalid="ignore", divide="ignore"):
        shape = np.where(k == 0.0, lg, -np.expm1(-k * lg) / np.where(k == 0.0, 1.0, k))
    integral = a * (c0 / b) * np.exp(-s * np.log(c0 / base)) * shape
    within = win.per_customer(integral)
    log_stay = -s * np.log1p(win.per_customer(b * span) / post.dropout_rate)
    return post.purchase_shape / post.purchase_rate * within, log_stay
