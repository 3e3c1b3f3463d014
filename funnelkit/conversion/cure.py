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
from dataclasses import dataclass

import numpy as np
from scipy import optimize, special

from funnelkit._floating import underflow_is_zero
from funnelkit.conversion.cure_result import CureFit
from funnelkit.conversion.delay import (
    DELAYS,
    DelayFamily,
    DelayName,
    LogNormalMixture,
)

__all__ = ["CureData", "fit_cure_model", "log_likelihood_parts"]


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

    @property
    def n_converted(self) -> int:
        return int(self.log_exact.size + self.n_zero)

    @classmethod
    def from_durations(cls, durations: np.ndarray, converted: np.ndarray) -> CureData:
        t = np.asarray(durations, dtype=float)
        e = np.asarray(converted, dtype=bool)
        positive = t > 0
        smallest = float(t[positive].min()) if positive.any() else 2e-6
        log_eps = math.log(smallest / 2.0)
        log_exact = np.log(t[e & positive])
        n_zero = int((e & ~positive).sum())
        log_censored = np.log(t[~e & positive])
        if n_zero:
            waiting_at_zero = int((~e & ~positive).sum())
            log_censored = np.concatenate([np.full(waiting_at_zero, log_eps), log_censored])
        return cls(
            log_exact=log_exact,
            sum_log_exact=float(log_exact.sum()),
            n_zero=n_zero,
            log_eps=log_eps,
            log_censored=log_censored,
        )


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
    w = (data.log_exact - m) / s
    n_exact = w.size
    if n_exact:
        log_pdf, lw, lww = family.log_pdf_derivatives(w)
        ll += n_exact * (log_p - log_s) + float(log_pdf.sum()) - data.sum_log_exact
        s_w += float(lw.sum())
        s_w_w += _dot(lw, w)
        s_ww += float(lww.sum())
        s_ww_w += _dot(lww, w)
        s_ww_w2 += _dot(lww, w, w)
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
    if data.log_censored.size:
        sums = _censored_sums(data.log_censored, m, s, p, q, log_p, family, fix_p, work)
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
) -> tuple[float, ...]:
    """Sums of ``log(1 - p G(w))`` and its derivatives over the censored rows.

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
        exact = np.logaddexp(log_q, log_p + family.log_sf(w[tiny]))
        ll = float(np.log(c[~tiny]).sum() + exact.sum())
        np.maximum(c, 1e-300, out=c)
    else:
        ll = float(np.log(c, out=e).sum())
    np.reciprocal(c, out=c)  # r = 1 / (1 - p G)
    a *= c
    a *= p  # b = p g r: minus the score in w
    s_b, s_bw = float(a.sum()), _dot(a, w)
    d += a
    d *= a  # -(second derivative in w) = b (dlog + b)
    out = [ll, -s_b, -s_bw, -float(d.sum()), -_dot(d, w), -_dot(d, w, w), 0.0, 0.0, 0.0, 0.0]
    if not fix_p:
        np.subtract(1.0, sf, out=sf)
        sf *= c  # G r
        out[6] = -p * q * float(sf.sum())
        out[7] = -p * q * ((1.0 - 2.0 * p) * _dot(sf, c) + p * p * _dot(sf, sf))
        a *= c  # b r
        out[8] = -q * float(a.sum())
        out[9] = -q * _dot(a, w)
    return tuple(out)


def _dot(*arrays: np.ndarray) -> float:
    # einsum without BLAS: multithreaded BLAS dots are slow on busy machines.
    spec = ",".join("i" for _ in arrays) + "->"
    return float(np.einsum(spec, *arrays))


class _Objective:
    """Negative log-likelihood with its derivatives, computed once per point."""

    def __init__(self, data: CureData, family: DelayFamily, fix_p: bool) -> None:
        self.data, self.family, self.fix_p = data, family, fix_p
        self._x: np.ndarray | None = None
        self._work = [np.empty(data.log_censored.size) for _ in range(6)]
        self._parts: tuple[float, np.ndarray, np.ndarray] = (0.0, np.empty(0), np.empty(0))

    def _at(self, x: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
        if self._x is None or not np.array_equal(x, self._x):
            with np.errstate(over="ignore", under="ignore", invalid="ignore"):
                ll, g, h = log_likelihood_parts(
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


def _start(data: CureData, family: DelayFamily, plateau: float, fix_p: bool) -> np.ndarray:
    delay = family.start(data.log_exact, data.log_eps)
    if fix_p:
        return np.asarray(delay)
    p0 = min(max(plateau, 0.02), 0.98)
    return np.asarray([math.log(p0 / (1.0 - p0)), *delay])


@underflow_is_zero
def fit_cure_model(
    durations: np.ndarray,
    converted: np.ndarray,
    distribution: DelayName,
    *,
    plateau: float | None = None,
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
    delay = DELAYS[distribution]
    data = CureData.from_durations(durations, converted)
    fix_p = data.log_censored.size == 0
    if plateau is None:
        n = max(len(np.asarray(durations)), 1)
        plateau = data.n_converted / n
    if isinstance(delay, LogNormalMixture):
        # imported here: the mixture's module builds on CureData and the covariance above
        from funnelkit.conversion.cure_mixture import fit_mixture

        return fit_mixture(data, plateau, fix_p)
    family = delay
    x0 = _start(data, family, plateau, fix_p)
    objective = _Objective(data, family, fix_p)
    n_rows = data.n_converted + data.log_censored.size
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
    x = np.asarray(res.x, dtype=float)
    ll, _, hess = objective._at(x)
    covariance = covariance_from_information(-hess)
    # Without a single conversion at a positive time the likelihood only knows that every
    # delay is below eps: it grows as the delay distribution collapses towards 0, so
    # whatever point the optimiser stopped at is not an estimate of the delay.
    identified = data.log_exact.size > 0
    converged = bool(res.success) and math.isfinite(ll) and covariance is not None and identified
    if not identified:
        message = (
            f"every conversion happened at duration 0 (all {data.n_zero} at the instant of "
            "entering the source stage): the delay distribution is not identified"
        )
    elif not res.success:
        message = str(res.message)
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
        message = str(res.message)
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
