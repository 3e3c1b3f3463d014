"""Pareto/NBD likelihood pieces: the ``2F1`` term, the quadrature form and the row form.

The plain fit sums them over unique rows (:class:`~funnelkit.clv.ParetoNBDFitter`); a fit
with covariates evaluates them row by row with per-row parameters
(:func:`rows_log_likelihood`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.special import digamma, gammaln, logsumexp

from funnelkit.clv._data import FitData
from funnelkit.clv._geometric import softplus
from funnelkit.clv._hyp2f1 import Distinct, log_hyp1, table_products
from funnelkit.clv._mixing import DEATH_NODES, GammaLifetime, GammaRate, death_nodes
from funnelkit.clv._special import digamma_difference, log_pochhammer

__all__ = ["pair_levels", "rows_log_likelihood"]


def rows_log_likelihood(params: np.ndarray, data: FitData) -> tuple[np.ndarray, np.ndarray]:
    """Per-row log-likelihood and gradient ``(4, n_rows)`` with per-row parameters
    ``(4, n_rows)`` (customers with covariates): the terms of
    :meth:`ParetoNBDFitter._weighted_log_likelihood` row by row: the ``2F1`` series, or the
    quadrature of :func:`_quadrature_rows` on the rows where the series is slow or
    inexact (:func:`_series_is_poor`), as the plain fit does."""
    r, alpha, s, beta = (np.asarray(v, dtype=float) for v in params)
    x, tx, T = data["frequency"], data["recency"], data["T"]
    slow = _series_is_poor(r, alpha, s, beta)
    if slow.any():
        # the rows where the series would be slow or inexact: by quadrature, the rest
        # by the series (both are the same likelihood)
        ll, grad = _quadrature_rows((r, alpha, s, beta), x, tx, T)
        fast = ~slow
        if fast.any():
            subset = FitData(
                columns={"frequency": x[fast], "recency": tx[fast], "T": T[fast]},
                weights=np.ones(int(fast.sum())),
                n_customers=int(fast.sum()),
            )
            ll[fast], grad[:, fast] = rows_log_likelihood(
                np.stack([v[fast] for v in (r, alpha, s, beta)]), subset
            )
        return ll, grad
    log_f_tx, log_f_T = np.empty(x.size), np.empty(x.size)
    d_tx, d_T = np.empty((4, x.size)), np.empty((4, x.size))
    for upper in (True, False):
        m = (alpha >= beta) == upper
        if not m.any():
            continue
        part = (r[m], alpha[m], s[m], beta[m])
        log_f_tx[m], g_tx = _log_f(part, x[m], tx[m], gradient=True, upper=upper)
        log_f_T[m], g_T = _log_f(part, x[m], T[m], gradient=True, upper=upper)
        assert g_tx is not None and g_T is not None
        d_tx[:, m], d_T[:, m] = g_tx, g_T
    log_at, log_bt = np.log(alpha + T), np.log(beta + T)
    head = gammaln(r + x) - gammaln(r) + r * np.log(alpha) + s * np.log(beta)
    alive = -(r + x) * log_at - s * log_bt
    delta = np.minimum(log_f_T - log_f_tx, 0.0)
    gap = -np.expm1(delta)
    with np.errstate(divide="ignore"):
        odds = np.log(s) - np.log(r + s + x) - alive + log_f_tx + np.log(gap)
    sp = softplus(odds)
    inv_rsx = 1.0 / (r + s + x)
    d_base = np.stack(
        [
            digamma(r + x) - digamma(r) + np.log(alpha) - log_at,
            r / alpha - (r + x) / (alpha + T),
            np.log(beta) - log_bt,
            s / beta - s / (beta + T),
        ]
    )
    d_odds = np.stack(
        [-inv_rsx + log_at, (r + x) / (alpha + T), 1.0 / s - inv_rsx + log_bt, s / (beta + T)]
    )
    dead = np.exp(odds - sp)  # P(dropped out | row)
    with np.errstate(invalid="ignore", divide="ignore"):
        d_a0 = np.where(gap > 0, (d_tx - (1.0 - gap) * d_T) / np.where(gap > 0, gap, 1.0), 0.0)
    return np.asarray(head + alive + sp), d_base + dead * (d_odds + d_a0)


#: beyond this ratio of alpha and beta the 2F1 series needs hundreds of terms per customer
#: (z near 1); the dropout integral is then cheaper by quadrature (64 nodes a row)
_SLOW_SERIES_RATIO = 8.0
#: shapes above this take the quadrature too: next to the limit of common purchase and
#: dropout rates (``r`` and ``s`` growing together) the series form's terms of order
#: ``shape * log(rate)`` cancel to their last digits. Measured against the limit's
#: likelihood: 0.2 of a log-likelihood unit off at 1e10 and hundreds at 1e13, in either
#: direction, which could pass the full model off as better than its limit; the
#: quadrature stays at the true gap (O(1 / shape)) there, and the series is exact to 1e-12
#: below 1e8.
_SERIES_SHAPE_LIMIT = 1e6


def _series_is_poor(r: Any, alpha: Any, s: Any, beta: Any) -> Any:
    """Where the likelihood's ``2F1`` series is slow or loses digits (elementwise): there
    the likelihood takes the quadrature."""
    slow = np.maximum(alpha, beta) > _SLOW_SERIES_RATIO * np.minimum(alpha, beta)
    return slow | (np.maximum(r, s) > _SERIES_SHAPE_LIMIT)


#: a node of the quadrature (:func:`_quadrature_rows`) a row costs about as much as this many
#: multiply-adds of the series' tables: 27-67 ns against 60-120 ps, measured on one core
#: over 2,000 to 50,000 rows with alpha and beta 8 to 100 times apart (where the two took
#: the same time, 400 to 600)
_NODE_COST = 500


def _by_quadrature(params: np.ndarray, data: FitData) -> bool:
    """Whether the weighted log-likelihood at ``params`` takes the quadrature: where the
    series is poor (:func:`_series_is_poor`), unless the series' tables
    (:func:`~funnelkit.clv._hyp2f1.table_products`) sum it for less.

    Whole-period clocks (days, weeks) give a few hundred distinct recencies and ages, and
    the tables sum the series for every row at once: with ``alpha`` and ``beta`` 8 to 60
    times apart they take 3-15 times less than the quadrature on 20,000 to 50,000 rows,
    where the series row by row would take longer than it. Both give the same likelihood.
    """
    r, alpha, s, beta = (float(v) for v in params)
    if not _series_is_poor(r, alpha, s, beta):
        return False
    if max(r, s) > _SERIES_SHAPE_LIMIT:
        return True
    products = 0
    for names in (("frequency", "recency"), ("frequency", "T")):
        (x, y), _ = data.groups(*names)
        first_x, _, first_z, _ = pair_levels(data, names)
        # z = |alpha - beta| / (max(alpha, beta) + y) is largest at the smallest clock
        z_max = abs(alpha - beta) / (max(alpha, beta) + float(y[first_z[-1]]))
        found = table_products(first_x.size, first_z.size, x.size, z_max)
        if found is None:
            return True
        products += found
    return products > _NODE_COST * DEATH_NODES * data.n_rows


def pair_levels(data: FitData, names: tuple[str, str]) -> Distinct:
    """The distinct ``(b, c)`` and ``z`` of :func:`_log_f`'s ``2F1`` on the distinct
    ``names`` pairs of ``data`` (frequency, then recency or age), for
    :func:`~funnelkit.clv._hyp2f1.log_hyp1` (cached per fit data).

    With one set of parameters ``b`` and ``c`` grow with the frequency and ``z`` falls as the
    clock grows: the distinct frequencies in ascending order, the clocks in descending.
    """
    key = "pair levels:" + ",".join(names)
    if key not in data.cache:
        (x, y), _ = data.groups(*names)
        _, first_x, code_x = np.unique(x, return_index=True, return_inverse=True)
        _, first_y, code_y = np.unique(y, return_index=True, return_inverse=True)
        data.cache[key] = (first_x, code_x, first_y[::-1].copy(), first_y.size - 1 - code_y)
    found: Distinct = data.cache[key]
    return found


def _quadrature_log_likelihood(params: np.ndarray, data: FitData) -> tuple[float, np.ndarray]:
    """Weighted log-likelihood and its analytic gradient with the dropout integral by
    quadrature (:func:`~funnelkit.clv.pareto_nbd.mixture_log_likelihood` for two gammas);
    see :func:`_quadrature_rows`.
    """
    ll, grad = _quadrature_rows(params, data["frequency"], data["recency"], data["T"])
    w = data.weights
    return float(np.einsum("i,i->", w, ll)), np.einsum("ki,i->k", grad, w)


def _quadrature_rows(
    params: Any, x: np.ndarray, tx: np.ndarray, T: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per-row log-likelihood and gradient ``(4, n_rows)`` with the dropout integral by
    quadrature; the parameters are numbers or one per row (customers with covariates).

    With ``g(tau) = log E[lambda^x e^(-lambda tau)] + log E[mu e^(-mu tau)]``, the gradient of
    ``log int e^g`` is ``int e^g dg / int e^g``: the same rule applied to ``dg``, i.e. the
    node weights' softmax times ``dg`` at the nodes.
    """
    r, alpha, s, beta = (np.asarray(v, dtype=float) for v in params)
    rate, lifetime = GammaRate(r, alpha), GammaLifetime(s, beta)  # type: ignore[arg-type]
    tau, log_w = death_nodes(rate, lifetime, x, tx, T)
    # per-row parameters meet the nodes on a new axis
    r_n, a_n, s_n, b_n = (v[..., None] for v in (r, alpha, s, beta))
    # r log(alpha) - (r+x) log(alpha+t) written as -r log1p(t/alpha) - x log(alpha+t) (and
    # likewise for s, beta): near a limit r and s are huge and the two terms would cancel
    # to noise that the optimiser then follows
    scalar = r.ndim == 0
    rising = _log_rising(float(r), x) if scalar else log_pochhammer(r, x)
    with np.errstate(all="ignore"):
        la, lb = np.log(a_n + tau), np.log(b_n + tau)
        log_f = (
            (rising + np.log(s))[..., None]
            - r_n * np.log1p(tau / a_n)
            - x[:, None] * la
            - s_n * np.log1p(tau / b_n)
            - lb
            + log_w
        )
        log_dead = logsumexp(log_f, axis=1)
        dead = np.isfinite(log_dead)
        share = np.where(dead[:, None], np.exp(log_f - log_dead[:, None]), 0.0)
    log_at, log_bt = np.log(alpha + T), np.log(beta + T)
    log_alive = rising - r * np.log1p(T / alpha) - x * log_at - s * np.log1p(T / beta)
    ll = np.logaddexp(log_alive, log_dead)
    p_dead = np.exp(log_dead - ll)
    psi = digamma(r + x) - digamma(r) if scalar else digamma_difference(r, x)
    common_r = psi + np.log(alpha)
    d_alive = np.stack(
        np.broadcast_arrays(
            common_r - log_at,
            r / alpha - (r + x) / (alpha + T),
            np.log(beta) - log_bt,
            s / beta - s / (beta + T),
        )
    )
    d_dead = np.stack(
        np.broadcast_arrays(
            common_r - np.einsum("ik,ik->i", share, la),
            r / alpha - (r + x) * np.einsum("ik,ik->i", share, 1.0 / (a_n + tau)),
            1.0 / s + np.log(beta) - np.einsum("ik,ik->i", share, lb),
            s / beta - (s + 1.0) * np.einsum("ik,ik->i", share, 1.0 / (b_n + tau)),
        )
    )
    grad = d_alive * (1.0 - p_dead) + np.where(dead, d_dead, 0.0) * p_dead
    return np.asarray(ll), grad


def _log_rising(r: float, x: np.ndarray) -> np.ndarray:
    """``log Gamma(r+x) - log Gamma(r)``; for large ``r`` by the difference of Stirling
    series (next term below 1e-15), where subtracting the two gammaln values loses
    ``eps r log r``."""
    x = np.asarray(x, dtype=float)
    if r <= 1e4:
        return np.asarray(gammaln(r + x) - gammaln(r))
    return np.asarray(
        (r - 0.5) * np.log1p(x / r) + x * np.log(r + x) - x + (1.0 / (r + x) - 1.0 / r) / 12.0
    )


def _log_f(
    params: Any,
    x: np.ndarray,
    y: np.ndarray,
    *,
    gradient: bool,
    upper: bool | None = None,
    distinct: Distinct | None = None,
) -> tuple[np.ndarray, np.ndarray | None]:
    """log F(y) with A0 = F(tx) - F(T) (Fader & Hardie 2005, eqs. 19-20), and its gradient.

    After Euler's transformation, with ``G(b, c, z) = 2F1(1, b; c; z)``, for alpha >= beta::

        log F = -s log(beta+y) - (r+x) log(alpha+y) + log G(r+x, r+s+x+1, (alpha-beta)/(alpha+y))

    and for alpha < beta::

        log F = -(r+x-1) log(alpha+y) - (s+1) log(beta+y)
                + log G(s+1, r+s+x+1, (beta-alpha)/(beta+y))

    ``upper`` forces the first form (``True``) or the second (``False``) for parameters given
    per row (the caller splits the rows by ``alpha >= beta``). ``distinct``: the rows'
    :func:`pair_levels`, for one set of parameters.
    """
    r, alpha, s, beta = params
    la, lb = np.log(alpha + y), np.log(beta + y)
    c = r + s + x + 1.0
    if upper if upper is not None else alpha >= beta:
        z = (alpha - beta) / (alpha + y)
        log_g, dg = log_hyp1(r + x, c, z, gradient=gradient, distinct=distinct)
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
    log_g, dg = log_hyp1(s + 1.0, c, z, gradient=gradient, distinct=distinct)
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
