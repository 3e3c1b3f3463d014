"""Mixture cure models for stage conversion, fitted by maximum likelihood.

A share ``p`` of the people who enter a stage eventually convert; the delay of those who do
follows a parametric distribution ``F0`` (:mod:`funnelkit.conversion.delay`). Everyone else
never converts. With right censoring, a customer who converted after ``t`` contributes
``p f0(t)`` and one still waiting at ``c`` contributes ``1 - p F0(c)`` (Maller & Zhou 1996).

The parameters are fitted on an unconstrained scale, ``(logit p, m, log s)``, with the
analytic gradient and Hessian (Newton-type trust region from :func:`scipy.optimize.minimize`);
standard errors come from the inverse of the observed information.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import optimize, special

from funnelkit._floating import underflow_is_zero
from funnelkit._quasi_newton import backtrack, newton, newton_step, refit_decrement
from funnelkit.conversion.cure_result import CureFit
from funnelkit.conversion.delay import (
    DELAYS,
    DelayFamily,
    DelayName,
    LogNormalMixture,
)
from funnelkit.exceptions import DataError

__all__ = ["CureData", "fit_cure_data", "fit_cure_model", "log_likelihood_parts"]


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
    #: ``() -> CureData or None``: the same rows with their weights spread over a grid of
    #: their log times (:meth:`~funnelkit.conversion.cure_refit.CureRows.coarse`), whose
    #: maximum lies a thousandth of a standard error from this one's: a refit's cheap steps
    #: before its exact ones
    coarse: Callable[[], CureData | None] | None = field(default=None, compare=False, repr=False)

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
        t = np.asarray(durations, dtype=float)
        e = np.asarray(converted, dtype=bool)
        if weights is not None:
            w = check_row_weights(weights, t.size)
            keep = w > 0
            t, e, w = t[keep], e[keep], w[keep]
        positive = t > 0
        smallest = float(t[positive].min()) if positive.any() else 2e-6
        log_eps = math.log(smallest / 2.0)
        exact, censored = e & positive, ~e & positive
        log_exact = np.log(t[exact])
        log_censored = np.log(t[censored])
        if weights is None:
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
    rest = theta if fix_p else theta[1:]
    m = float(rest[0])
    s = float(np.exp(0.0 if family.fixed_scale else float(rest[1])))
    p = 1.0 if fix_p else float(special.expit(float(theta[0])))
    q = 1.0 - p if fix_p else float(special.expit(-float(theta[0])))
    log_p = 0.0 if fix_p else float(special.log_expit(float(theta[0])))
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
    rest = theta if fix_p else theta[1:]
    m = float(rest[0])
    s = float(np.exp(0.0 if family.fixed_scale else float(rest[1])))
    p = 1.0 if fix_p else float(special.expit(float(theta[0])))
    q = 1.0 - p if fix_p else float(special.expit(-float(theta[0])))
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
    eta = math.inf if fix_p else float(theta[0])
    rest = theta if fix_p else theta[1:]
    m = float(rest[0])
    log_s = 0.0 if family.fixed_scale else float(rest[1])
    # np.exp, not math.exp: a trial step far out must give inf (a rejected step), not raise.
    s = float(np.exp(log_s))
    p = 1.0 if fix_p else float(special.expit(eta))
    q = 1.0 - p if fix_p else float(special.expit(-eta))  # 1 - p without cancellation
    log_p = 0.0 if fix_p else float(special.log_expit(eta))

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


def _dot(*arrays: np.ndarray) -> float:
    # einsum without BLAS: multithreaded BLAS dots are slow on busy machines.
    spec = ",".join("i" for _ in arrays) + "->"
    return float(np.einsum(spec, *arrays))


def _wsum(weights: np.ndarray | None, *arrays: np.ndarray) -> float:
    """The sum over rows of the product of ``arrays``, each row counted ``weights`` times."""
    if weights is None:
        return float(arrays[0].sum()) if len(arrays) == 1 else _dot(*arrays)
    if len(arrays) > 2:
        # einsum runs four operands in a generic loop, several times slower than one
        # product and a sum over three (measured 80 vs 30 us on 30k rows)
        arrays = (arrays[0] * arrays[1], *arrays[2:])
    return _dot(weights, *arrays)


class _Objective:
    """Negative log-likelihood with its derivatives, computed once per point."""

    def __init__(
        self, data: CureData, family: DelayFamily, fix_p: bool, *, first: bool = True
    ) -> None:
        """``first=False``: evaluate the first point too, rather than read it off the row
        terms of ``data.first_parts`` (which are those of a bootstrap's start only)."""
        self.data, self.family, self.fix_p = data, family, fix_p
        self._first = first
        self._x: np.ndarray | None = None
        self._work = [np.empty(data.log_censored.size) for _ in range(6)]
        self._parts: tuple[float, np.ndarray, np.ndarray] = (0.0, np.empty(0), np.empty(0))

    def _at(self, x: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
        if self._x is None or not np.array_equal(x, self._x):
            with np.errstate(over="ignore", under="ignore", invalid="ignore"):
                found = None
                if self._first and self._x is None and self.data.first_parts is not None:
                    # the start of a bootstrap sample: from row terms prepared once
                    found = self.data.first_parts(x, self.family, self.fix_p)
                ll, g, h = found or log_likelihood_parts(
                    x, self.data, self.family, fix_p=self.fix_p, work=self._work
                )
            bad = not (np.isfinite(ll) and np.all(np.isfinite(g)) and np.all(np.isfinite(h)))
            # a point where the likelihood breaks down is infinitely bad, never a maximum
            self._parts = (-math.inf, np.zeros_like(g), np.zeros_like(h)) if bad else (ll, g, h)
            self._x = np.array(x, copy=True)
        return self._parts

    def fun(self, x: np.ndarray) -> float:
        return -self._at(x)[0]

    def jac(self, x: np.ndarray) -> np.ndarray:
        return -self._at(x)[1]

    def hess(self, x: np.ndarray) -> np.ndarray:
        return -self._at(x)[2]


def _start_of(
    start: CureFit | Sequence[float] | None,
) -> tuple[np.ndarray | None, np.ndarray | None]:
    """``start`` as (coefficients, covariance or None)."""
    if start is None:
        return None, None
    if isinstance(start, CureFit):
        cov = None if start.covariance is None else np.asarray(start.covariance, dtype=float)
        return np.asarray(start.coefficients, dtype=float), cov
    return np.asarray(start, dtype=float), None


def _warm_start(
    start: np.ndarray, default: Callable[[], np.ndarray], family: DelayFamily, fix_p: bool
) -> np.ndarray:
    """``start`` on this fit's scale: without ``logit p`` when p is fixed, the default
    ``logit p`` when the start had p fixed (infinite) and this fit has not. ``default``
    gives the start from scratch (a pass over the rows: only asked for where needed)."""
    delay = start[1:]
    x0 = delay if fix_p else np.concatenate((start[:1], delay))
    if not fix_p and not math.isfinite(float(x0[0])):
        x0[0] = default()[0]
    size = (1 if fix_p else 2) + (0 if family.fixed_scale else 1)
    if x0.shape != (size,) or not np.all(np.isfinite(x0)):
        return default()
    return x0


#: a Newton step from a point whose decrement is below this is taken without evaluating the
#: grid where it lands: the decrement after a step from ``d`` was below ``1e-4 * d**2`` in
#: bootstrap refits on 100,000 entrants (below 1e-8 from here), and the check on the rows
#: that follows catches a step that did not settle
_LAST_NEWTON_STEP = 1e-2


def _grid_refit(
    data: CureData, family: DelayFamily, fix_p: bool, x0: np.ndarray
) -> tuple[np.ndarray, tuple[float, np.ndarray] | None] | None:
    """A refit from ``x0`` on ``data``'s rows spread over a grid of log times
    (``data.coarse``), checked on the rows: the grid's maximum and, where the check settles
    it, its log-likelihood on the rows and the Hessian on the grid; None where there is no
    grid (few rows) or the steps there do not settle.

    A Newton step on the grid costs two evaluations of 2048 points each, not one of every
    row, and the grid's maximum lies about 1e-3 standard errors from the rows' own (see
    :mod:`funnelkit.conversion.cure_grid`). One evaluation of the rows' value and gradient
    (no Hessian: the grid's stands in, equal to a few parts in a million) checks the Newton
    decrement there against :func:`~funnelkit._quasi_newton.refit_decrement`.
    """
    coarse = None if data.coarse is None else data.coarse()
    if coarse is None:
        return None
    on_grid = _Objective(coarse, family, fix_p, first=False)
    tolerance = refit_decrement() * 1e-2
    x = x0
    ll, grad, hess = on_grid._at(x)
    for _ in range(25):
        uphill = newton_step(grad, hess) if math.isfinite(ll) else None
        if uphill is None:
            return None
        step, decrement = uphill
        if decrement < tolerance:
            break
        if decrement < _LAST_NEWTON_STEP:
            x = x + step  # lands far within the tolerance: the rows check it, not the grid
            break
        found = backtrack(on_grid._at, x, step, ll, decrement)
        if found is None:
            return None
        x, (ll, grad, hess) = found
    else:
        return None
    with np.errstate(over="ignore", under="ignore", invalid="ignore", divide="ignore"):
        ll, grad = log_likelihood_gradient(x, data, family, fix_p=fix_p)
    uphill = newton_step(grad, hess) if math.isfinite(ll) else None
    if uphill is None or not uphill[1] < refit_decrement():
        return x, None
    return x, (ll, hess)


def _repeated(data: CureData) -> CureData:
    """Weighted cure data as unweighted rows, each repeated its weight times."""
    assert data.weight_exact is not None and data.weight_censored is not None
    log_exact = np.repeat(data.log_exact, data.weight_exact.astype(np.int64))
    return CureData(
        log_exact=log_exact,
        n_zero=data.n_zero,
        log_eps=data.log_eps,
        log_censored=np.repeat(data.log_censored, data.weight_censored.astype(np.int64)),
        sum_log_exact=float(log_exact.sum()),
    )


def _start(data: CureData, family: DelayFamily, plateau: float, fix_p: bool) -> np.ndarray:
    delay = family.start(data.log_exact, data.log_eps)
    if fix_p:
        return np.asarray(delay)
    p0 = min(max(plateau, 0.02), 0.98)
    return np.asarray([math.log(p0 / (1.0 - p0)), *delay])


def fit_cure_model(
    durations: np.ndarray,
    converted: np.ndarray,
    distribution: DelayName,
    *,
    plateau: float | None = None,
    weights: np.ndarray | None = None,
    start: CureFit | Sequence[float] | None = None,
) -> CureFit:
    """Fit a mixture cure model by maximum likelihood.

    Parameters
    ----------
    durations, converted
        Time from entering the source stage to converting or to censoring, and whether the
        customer converted.
    distribution
        ``"exponential"``, ``"weibull"``, ``"lognormal"`` or ``"lognormal-mixture"`` (two
        log-normal components, for delays with a fast and a slow mode) delay among
        converters.
    plateau
        Starting value for ``p`` (the Kaplan-Meier plateau is a good one); default the share
        of converters.
    weights
        How many times each row counts (whole numbers >= 0, e.g. bootstrap counts): the same
        fit as the rows repeated, without the copies. Default: each row once.
    start
        A fit of the same family on similar data (or its coefficients), as in a bootstrap
        refit: one local search from there instead of the default starts (Newton steps
        with the analytic Hessian; the two-component delay steps in the metric of the
        start's covariance and computes none of its own, ``covariance`` None). On many
        rows the steps run on the rows spread over a grid of log times and end where one
        evaluation of the rows settles them: the covariance is then the grid's at the
        last step (within a few percent: the metric of later refits, not for intervals).

    Returns
    -------
    CureFit
        Coefficients on the fitting scale, their covariance (None if the observed information
        is not positive definite), log-likelihood, AIC and convergence diagnostics.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> n = 2000
    >>> will = rng.random(n) < 0.4
    >>> delay = rng.exponential(5.0, n)
    >>> follow_up = rng.uniform(0, 60, n)
    >>> converted = will & (delay <= follow_up)
    >>> fit = fit_cure_model(np.where(converted, delay, follow_up), converted, "exponential")
    >>> round(fit.eventual_rate, 2)
    0.41

    References
    ----------
    Maller, R. A. & Zhou, X. (1996). *Survival Analysis with Long-Term Survivors*. Wiley.
    """
    data = CureData.from_durations(durations, converted, weights)
    return fit_cure_data(data, distribution, plateau=plateau, start=start)


@underflow_is_zero
def fit_cure_data(
    data: CureData,
    distribution: DelayName,
    *,
    plateau: float | None = None,
    start: CureFit | Sequence[float] | None = None,
) -> CureFit:
    """:func:`fit_cure_model` on durations already prepared as :class:`CureData`.

    A bootstrap prepares the durations once (:class:`~funnelkit.conversion.cure_refit.
    CureRows`) and hands every sample's reweighted data here.
    """
    from funnelkit._blas import single_threaded_blas

    # the optimisers' linear algebra is on 1-6 parameters: OpenBLAS threads only spin
    # between its calls, and on a busy machine that costs milliseconds per iteration
    with single_threaded_blas():
        return _fit(data, distribution, plateau, start)


def _fit(
    data: CureData,
    distribution: DelayName,
    plateau: float | None,
    start: CureFit | Sequence[float] | None,
) -> CureFit:
    delay = DELAYS[distribution]
    coefficients, metric = _start_of(start)
    fix_p = data.log_censored.size == 0
    if plateau is None:
        plateau = data.n_converted / max(data.n_converted + data.n_censored, 1)
    if isinstance(delay, LogNormalMixture):
        # imported here: the mixture's modules build on CureData and the covariance above
        if coefficients is not None:
            from funnelkit.conversion.cure_refit import refit_mixture

            return refit_mixture(data, coefficients, fix_p, metric)
        from funnelkit.conversion.cure_mixture import fit_mixture

        if data.weighted:
            # the from-scratch mixture fit counts rows: hand it the rows repeated
            data = _repeated(data)
        return fit_mixture(data, plateau, fix_p)
    family = delay
    if coefficients is None:
        x0 = _start(data, family, plateau, fix_p)
    else:
        x0 = _warm_start(coefficients, lambda: _start(data, family, plateau, fix_p), family, fix_p)
    objective = _Objective(data, family, fix_p)
    # from a nearby start (a refit) Newton steps with the analytic Hessian settle in two or
    # three evaluations; the trust region is the fallback, and the search from scratch
    settled = None
    checked: tuple[float, np.ndarray] | None = None
    if coefficients is not None:
        on_grid = _grid_refit(data, family, fix_p, x0)
        if on_grid is not None:
            settled, checked = on_grid
            if checked is None:
                # the check on the rows did not settle: Newton steps on the rows from the
                # grid's maximum (the start's row terms are not those of this point)
                objective = _Objective(data, family, fix_p, first=False)
                settled = newton(objective._at, settled)
        if settled is None:
            objective = _Objective(data, family, fix_p)
            settled = newton(objective._at, x0)
    if settled is not None:
        x, success, found = settled, True, "converged (Newton steps from the start)"
    else:
        n_rows = data.n_converted + data.n_censored
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            res = optimize.minimize(
                objective.fun,
                x0,
                jac=objective.jac,
                hess=objective.hess,
                method="trust-exact",
                options={"gtol": 1e-7 * max(n_rows, 1), "maxiter": 200},
            )
        x, success, found = np.asarray(res.x, dtype=float), bool(res.success), str(res.message)
    ll, _, hess = objective._at(x) if checked is None else (checked[0], None, checked[1])
    covariance = covariance_from_information(-hess)
    # Without a single conversion at a positive time the likelihood only knows that every
    # delay is below eps: it grows as the delay distribution collapses towards 0, so
    # whatever point the optimiser stopped at is not an estimate of the delay.
    identified = data.log_exact.size > 0
    converged = success and math.isfinite(ll) and covariance is not None and identified
    if not identified:
        message = (
            f"every conversion happened at duration 0 (all {data.n_zero} at the instant of "
            "entering the source stage): the delay distribution is not identified"
        )
    elif not success:
        message = found
    elif not math.isfinite(ll):
        message = (
            "the log-likelihood is not finite at the optimum (the delay distribution degenerates)"
        )
    elif covariance is None:
        message = (
            "the observed information is not positive definite at the optimum (a parameter "
            "is not identified by these data, e.g. all delays are equal)"
        )
    else:
        message = found
    coefficients = x if not fix_p else np.concatenate(([math.inf], x))
    if covariance is not None and fix_p:
        k = covariance.shape[0]
        padded = np.zeros((k + 1, k + 1))
        padded[1:, 1:] = covariance
        covariance = padded
    n_params = x.size
    return CureFit(
        distribution=distribution,
        coefficients=tuple(float(c) for c in coefficients),
        covariance=None if covariance is None else tuple(map(tuple, covariance.tolist())),
        log_likelihood=float(ll),
        aic=float(2 * n_params - 2 * ll) if math.isfinite(ll) else math.inf,
        n_params=int(n_params),
        converged=converged,
        p_fixed=fix_p,
        message=message,
    )


def covariance_from_information(information: np.ndarray) -> np.ndarray | None:
    """Inverse of the observed information by Cholesky; None unless positive definite."""
    if not np.all(np.isfinite(information)):
        return None
    try:
        chol = np.linalg.cholesky(information)
    except np.linalg.LinAlgError:
        return None
    inv = np.linalg.inv(chol)
    cov: np.ndarray = inv.T @ inv
    return cov
