"""Cure data and the mixture cure log-likelihood with its analytic derivatives.

A share ``p`` of the people who enter a stage eventually convert, with delays from a
parametric family ``F0``; a customer who converted after ``t`` contributes ``p f0(t)`` and
one still waiting at ``c`` contributes ``1 - p F0(c)`` (Maller & Zhou 1996). The sums here
serve the fits in :mod:`funnelkit.conversion.cure`, the bootstrap's prepared rows
(:mod:`funnelkit.conversion.cure_refit`) and the two-component delay
(:mod:`funnelkit.conversion.cure_mixture`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import special

from funnelkit.conversion.delay import DelayFamily
from funnelkit.exceptions import DataError

__all__ = [
    "CureData",
    "assemble_parts",
    "check_row_weights",
    "log_likelihood_gradient",
    "log_likelihood_parts",
    "weighted_rows",
]


@dataclass(frozen=True)
class CureData:
    """The likelihood's view of a transition.

    Conversions at duration 0 (target reached at the same instant, or before the source) are
    treated as interval-censored in ``(0, eps]`` with ``eps`` half the smallest positive
    duration. A customer censored at 0 is, as in the Kaplan-Meier estimator, still at risk
    after the conversions tied with them: with conversions at 0 they are censored at ``eps``
    (seen not to have converted when the instant converters had); without any, they carry
    no information and are left out.
    """

    log_exact: np.ndarray
    n_zero: int
    log_eps: float
    log_censored: np.ndarray
    sum_log_exact: float
    #: how many customers each exact / censored row stands for (None: one each)
    weight_exact: np.ndarray | None = None
    weight_censored: np.ndarray | None = None
    #: ``(x, fix_p) -> (log-likelihood, gradient)`` of the mixture without evaluating it, or
    #: None where unknown: a bootstrap sample's value at its start, read off row terms
    #: prepared once (:meth:`~funnelkit.conversion.cure_refit.CureRows.data`)
    first_evaluation: Callable[[np.ndarray, bool], tuple[float, np.ndarray] | None] | None = field(
        default=None, compare=False, repr=False
    )
    #: ``(x, family, fix_p) -> (log-likelihood, gradient, Hessian)`` of a one-component
    #: delay family in the same way, or None where unknown
    first_parts: (
        Callable[[np.ndarray, DelayFamily, bool], tuple[float, np.ndarray, np.ndarray] | None]
        | None
    ) = field(default=None, compare=False, repr=False)
    #: ``() -> (CureData, CureData) or None``: the same rows with their weights spread over
    #: a grid of their log times and over every other node of it
    #: (:meth:`~funnelkit.conversion.cure_refit.CureRows.coarse`): a refit's cheap steps
    #: in place of exact ones
    coarse: Callable[[], tuple[CureData, CureData] | None] | None = field(
        default=None, compare=False, repr=False
    )

    @property
    def n_exact(self) -> int:
        """Converters with a positive delay (weighted)."""
        w = self.weight_exact
        return int(self.log_exact.size if w is None else round(float(w.sum())))

    @property
    def n_converted(self) -> int:
        return self.n_exact + self.n_zero

    @property
    def n_censored(self) -> int:
        w = self.weight_censored
        return int(self.log_censored.size if w is None else round(float(w.sum())))

    @classmethod
    def from_durations(
        cls, durations: np.ndarray, converted: np.ndarray, weights: np.ndarray | None = None
    ) -> CureData:
        """``weights``: how many times each row counts (whole numbers >= 0; None: once).

        Weighted rows give the same likelihood as the rows repeated, without the copies;
        rows of weight 0 are left out.
        """
        t, e, w = weighted_rows(durations, converted, weights)
        positive = t > 0
        smallest = float(t[positive].min()) if positive.any() else 2e-6
        log_eps = math.log(smallest / 2.0)
        exact, censored = e & positive, ~e & positive
        log_exact = np.log(t[exact])
        log_censored = np.log(t[censored])
        if w is None:
            n_zero = int((e & ~positive).sum())
            waiting_at_zero = int((~e & ~positive).sum())
            w_exact = w_censored = None
        else:
            n_zero = int(w[e & ~positive].sum())
            waiting_at_zero = int(w[~e & ~positive].sum())
            w_exact, w_censored = w[exact], w[censored]
        if n_zero and waiting_at_zero:
            if w_censored is None:
                log_censored = np.concatenate([np.full(waiting_at_zero, log_eps), log_censored])
            else:
                log_censored = np.concatenate([[log_eps], log_censored])
                w_censored = np.concatenate([[float(waiting_at_zero)], w_censored])
        return cls(
            log_exact=log_exact,
            sum_log_exact=float(log_exact.sum() if w_exact is None else _dot(log_exact, w_exact)),
            n_zero=n_zero,
            log_eps=log_eps,
            log_censored=log_censored,
            weight_exact=w_exact,
            weight_censored=w_censored,
        )

    @property
    def weighted(self) -> bool:
        return self.weight_exact is not None


def check_row_weights(weights: np.ndarray, n_rows: int) -> np.ndarray:
    """``weights`` as floats, or a DataError unless they are ``n_rows`` whole numbers >= 0."""
    given = np.asarray(weights)
    w = given.astype(float).reshape(-1)
    if w.size != n_rows:
        raise DataError(f"weights has {w.size} values for {n_rows} rows; pass one weight per row.")
    if np.issubdtype(given.dtype, np.integer):  # counts, as a bootstrap draws them
        bad = w < 0
    else:
        bad = ~(np.isfinite(w) & (w >= 0) & (w == np.round(w)))
    if bad.any():
        rows = np.flatnonzero(bad)
        raise DataError(
            f"weights must be whole numbers >= 0 (how many times each row counts); "
            f"{rows.size} row(s) are not, e.g. rows {rows[:5].tolist()} with "
            f"{w[rows[:5]].tolist()}. Round them or drop those rows."
        )
    return w


def weighted_rows(
    durations: np.ndarray, converted: np.ndarray, weights: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Durations and conversion flags as arrays, with their checked row weights (None:
    once each); rows of weight 0 are left out."""
    t = np.asarray(durations, dtype=float)
    e = np.asarray(converted, dtype=bool)
    if weights is None:
        return t, e, None
    w = check_row_weights(weights, t.size)
    keep = w > 0
    return t[keep], e[keep], w[keep]


def _natural(
    theta: np.ndarray, family: DelayFamily, fix_p: bool
) -> tuple[float, float, float, float, float, float]:
    """``theta`` on the natural scale: ``(m, log s, s, p, 1 - p, log p)``."""
    rest = theta if fix_p else theta[1:]
    log_s = 0.0 if family.fixed_scale else float(rest[1])
    # np.exp, not math.exp: a trial step far out must give inf (a rejected step), not raise.
    s = float(np.exp(log_s))
    if fix_p:
        return float(rest[0]), log_s, s, 1.0, 0.0, 0.0
    eta = float(theta[0])
    # 1 - p as expit(-eta): without cancellation
    p, q = float(special.expit(eta)), float(special.expit(-eta))
    return float(rest[0]), log_s, s, p, q, float(special.log_expit(eta))


def log_likelihood_parts(
    theta: np.ndarray,
    data: CureData,
    family: DelayFamily,
    *,
    fix_p: bool = False,
    work: list[np.ndarray] | None = None,
) -> tuple[float, np.ndarray, np.ndarray]:
    """Log-likelihood, gradient and Hessian at ``theta``.

    ``theta`` is ``(logit p, m, log s)``, without ``log s`` for the exponential and without
    ``logit p`` when ``fix_p`` (everyone converted, so ``p = 1``). ``work`` holds six
    reusable buffers the size of the censored rows.
    """
    theta = np.asarray(theta, dtype=float)
    m, _, s, p, q, log_p = _natural(theta, family, fix_p)
    # converters with an exact delay: log p + log g(w) - log s - log t
    w = (data.log_exact - m) / s
    rw = data.weight_exact  # row weights (None: one each)
    exact = None
    if w.size:
        log_pdf, lw, lww = family.log_pdf_derivatives(w)
        exact = (
            _wsum(rw, log_pdf),
            _wsum(rw, lw),
            _wsum(rw, lw, w),
            _wsum(rw, lww),
            _wsum(rw, lww, w),
            _wsum(rw, lww, w, w),
        )
    censored = None
    if data.log_censored.size:
        censored = _censored_sums(
            data.log_censored, m, s, p, q, log_p, family, fix_p, work, data.weight_censored
        )
    return assemble_parts(theta, data, family, fix_p, exact, censored)


def log_likelihood_gradient(
    theta: np.ndarray, data: CureData, family: DelayFamily, *, fix_p: bool = False
) -> tuple[float, np.ndarray]:
    """Log-likelihood and gradient at ``theta`` (as :func:`log_likelihood_parts`, without
    the Hessian): the check of a refit whose steps were taken elsewhere, a third of the
    weighted sums over the rows and fewer passes over them."""
    theta = np.asarray(theta, dtype=float)
    m, _, s, p, q, _ = _natural(theta, family, fix_p)
    rw = data.weight_exact
    exact = None
    if data.log_exact.size:
        w = (data.log_exact - m) / s
        log_pdf, lw, _ = family.log_pdf_derivatives(w)
        exact = (_wsum(rw, log_pdf), _wsum(rw, lw), _wsum(rw, lw, w), 0.0, 0.0, 0.0)
    censored = None
    if data.log_censored.size:
        rw = data.weight_censored
        v = (data.log_censored - m) / s
        sf, b, dlog = np.empty(v.size), np.empty(v.size), np.empty(v.size)
        family.sf_pdf_dlog_into(v, sf, b, dlog)
        c = sf * p
        c += q  # 1 - p G as a sum of positive terms
        if float(c.min()) <= 1e-300:
            return log_likelihood_parts(theta, data, family, fix_p=fix_p)[:2]
        ll = _wsum(rw, np.log(c, out=dlog))
        np.reciprocal(c, out=c)  # r
        b *= c
        b *= p  # p g r
        g_eta = 0.0
        if not fix_p:
            np.subtract(1.0, sf, out=sf)
            g_eta = -p * q * _wsum(rw, sf, c)  # G r
        censored = (ll, -_wsum(rw, b), -_wsum(rw, b, v), 0.0, 0.0, 0.0, g_eta, 0.0, 0.0, 0.0)
    ll, grad, _ = assemble_parts(theta, data, family, fix_p, exact, censored)
    return ll, grad


def assemble_parts(
    theta: np.ndarray,
    data: CureData,
    family: DelayFamily,
    fix_p: bool,
    exact: Sequence[float] | None,
    censored: Sequence[float] | None,
) -> tuple[float, np.ndarray, np.ndarray]:
    """:func:`log_likelihood_parts` from the weighted sums over the rows of ``data``: over
    its exact rows ``log g, l', l' w, l'', l'' w, l'' w^2`` (``w`` the standardised log
    delay), and those of :func:`_censored_sums` over its waiting rows (None: no rows).
    The rows at duration 0 are ``data``'s own (few: evaluated here)."""
    m, log_s, s, p, q, log_p = _natural(theta, family, fix_p)

    # Sums of the per-row derivatives in (eta, w); the chain rule to (m, log s) comes last.
    ll = 0.0
    l_eta = l_eta2 = 0.0
    s_w = s_ww = s_ww_w = s_ww_w2 = s_w_w = s_etaw = s_etaw_w = 0.0

    # converters with an exact delay: log p + log g(w) - log s - log t
    n_exact = data.n_exact
    if exact is not None:
        ll += n_exact * (log_p - log_s) + exact[0] - data.sum_log_exact
        s_w += exact[1]
        s_w_w += exact[2]
        s_ww += exact[3]
        s_ww_w += exact[4]
        s_ww_w2 += exact[5]
        l_eta += n_exact * q
        l_eta2 -= n_exact * p * q

    # converters at duration 0: log p + log G(w_eps)
    if data.n_zero:
        k = float(data.n_zero)
        w0 = np.array([(data.log_eps - m) / s])
        log_cdf = float(family.log_cdf(w0)[0])
        log_g0, dlog0, _ = (float(v[0]) for v in family.log_pdf_derivatives(w0))
        ratio = float(np.exp(log_g0 - log_cdf))  # g / G; np.exp obeys the caller's errstate
        lw0 = ratio
        lww0 = ratio * (dlog0 - ratio)
        ww = float(w0[0])
        ll += k * (log_p + log_cdf)
        s_w += k * lw0
        s_w_w += k * lw0 * ww
        s_ww += k * lww0
        s_ww_w += k * lww0 * ww
        s_ww_w2 += k * lww0 * ww * ww
        l_eta += k * q
        l_eta2 -= k * p * q

    # still waiting at c: log(1 - p G(w))
    if censored is not None:
        sums = censored
        ll += sums[0]
        s_w += sums[1]
        s_w_w += sums[2]
        s_ww += sums[3]
        s_ww_w += sums[4]
        s_ww_w2 += sums[5]
        l_eta += sums[6]
        l_eta2 += sums[7]
        s_etaw += sums[8]
        s_etaw_w += sums[9]

    g_m = -s_w / s
    h_mm = s_ww / (s * s)
    grad = [l_eta, g_m]
    hess = [[l_eta2, -s_etaw / s], [-s_etaw / s, h_mm]]
    if not family.fixed_scale:
        g_ls = -s_w_w - n_exact
        h_mls = (s_ww_w + s_w) / s
        h_lsls = s_ww_w2 + s_w_w
        h_els = -s_etaw_w
        grad.append(g_ls)
        hess[0].append(h_els)
        hess[1].append(h_mls)
        hess.append([h_els, h_mls, h_lsls])
    g, h = np.asarray(grad), np.asarray(hess)
    if fix_p:
        g, h = g[1:], h[1:, 1:]
    return ll, g, h


def _censored_sums(
    log_c: np.ndarray,
    m: float,
    s: float,
    p: float,
    q: float,
    log_p: float,
    family: DelayFamily,
    fix_p: bool,
    work: list[np.ndarray] | None,
    rw: np.ndarray | None = None,
) -> tuple[float, ...]:
    """Sums of ``log(1 - p G(w))`` and its derivatives over the censored rows (``rw``: weights).

    This is the hot loop of every fit (most entrants never convert), so it runs in six
    reusable buffers instead of allocating a temporary per operation.
    """
    n = log_c.size
    if work is None or work[0].size != n:
        work = [np.empty(n) for _ in range(6)]
    w, a, sf, c, d, e = work
    np.subtract(log_c, m, out=w)
    w *= 1.0 / s
    family.sf_pdf_dlog_into(w, sf, a, d)  # sf, g(w), d log g / dw
    # 1 - p G = (1 - p) + p S: a sum of positive terms, no cancellation
    np.multiply(sf, p, out=c)
    c += q
    if float(c.min()) <= 1e-300:
        tiny = c <= 1e-300
        log_q = -math.inf if fix_p else math.log(q)
        with np.errstate(divide="ignore"):
            np.log(c, out=e)
        e[tiny] = np.logaddexp(log_q, log_p + family.log_sf(w[tiny]))
        ll = _wsum(rw, e)
        np.maximum(c, 1e-300, out=c)
    else:
        ll = _wsum(rw, np.log(c, out=e))
    np.reciprocal(c, out=c)  # r = 1 / (1 - p G)
    a *= c
    a *= p  # b = p g r: minus the score in w
    s_b, s_bw = _wsum(rw, a), _wsum(rw, a, w)
    d += a
    d *= a  # -(second derivative in w) = b (dlog + b)
    out = [
        ll,
        -s_b,
        -s_bw,
        -_wsum(rw, d),
        -_wsum(rw, d, w),
        -_wsum(rw, d, w, w),
        0.0,
        0.0,
        0.0,
        0.0,
    ]
    if not fix_p:
        np.subtract(1.0, sf, out=sf)
        sf *= c  # G r
        out[6] = -p * q * _wsum(rw, sf)
        out[7] = -p * q * ((1.0 - 2.0 * p) * _wsum(rw, sf, c) + p * p * _wsum(rw, sf, sf))
        a *= c  # b r
        out[8] = -q * _wsum(rw, a)
        out[9] = -q * _wsum(rw, a, w)
    return tuple(out)


#: einsum's subscripts for the sum of the product of 1 to 4 columns
_SUBSCRIPTS = {k: ",".join("i" * k) + "->" for k in range(1, 5)}


def _dot(*arrays: np.ndarray) -> float:
    # einsum without BLAS: multithreaded BLAS dots are slow on busy machines.
    return float(np.einsum(_SUBSCRIPTS[len(arrays)], *arrays))


def _wsum(weights: np.ndarray | None, *arrays: np.ndarray) -> float:
    """The sum over rows of the product of ``arrays``, each row counted ``weights`` times."""
    if weights is None:
        return float(arrays[0].sum()) if len(arrays) == 1 else _dot(*arrays)
    if len(arrays) > 2:
        # einsum runs four operands in a generic loop, several times slower than one
        # product and a sum over three (measured 80 vs 30 us on 30k rows)
        arrays = (arrays[0] * arrays[1], *arrays[2:])
    return _dot(weights, *arrays)
