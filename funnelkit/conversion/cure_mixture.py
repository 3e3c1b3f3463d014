"""The cure model with a two-component log-normal delay: its likelihood, and its fit.

Delays with a fast and a slow mode (:class:`~funnelkit.conversion.delay.LogNormalMixture`)
give a likelihood with several local maxima: it is maximised with L-BFGS-B from two starts,
with the analytic gradient of :func:`mixture_log_likelihood` (row weights count as
repeated rows), and standard errors come from central differences of that gradient. On
many rows the searches run on the rows spread over a grid of log times
(:mod:`funnelkit.conversion.cure_grid`) and finish on the rows themselves. Refits from a
nearby start live in :mod:`funnelkit.conversion.cure_refit`.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable

import numpy as np
from scipy import optimize, special

from funnelkit._quasi_newton import DECREMENT, ascend
from funnelkit.conversion.cure import covariance_field, covariance_from_information
from funnelkit.conversion.cure_grid import coarse_data
from funnelkit.conversion.cure_likelihood import CureData, _wsum
from funnelkit.conversion.cure_result import CureFit
from funnelkit.conversion.delay import MIXTURE

__all__ = ["fit_mixture", "mixture_bounds", "mixture_log_likelihood", "mixture_row_terms"]

_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)
#: Bounds of the mixture's log sigmas: a component narrower than this sits on a single
#: delay, where the likelihood grows without bound (a spike, not an estimate).
_LOG_S_BOUNDS = (math.log(0.02), math.log(20.0))
_LOGIT_BOUNDS = (-12.0, 12.0)
_LOGIT_P_BOUNDS = (-30.0, 30.0)


def mixture_bounds(fix_p: bool) -> list[tuple[float | None, float | None]]:
    """Bounds of ``(logit p, logit w, m1, log s1, m2, log s2)`` (no ``logit p`` when ``fix_p``)."""
    bounds: list[tuple[float | None, float | None]] = [
        _LOGIT_BOUNDS,
        (None, None),
        _LOG_S_BOUNDS,
        (None, None),
        _LOG_S_BOUNDS,
    ]
    return bounds if fix_p else [_LOGIT_P_BOUNDS, *bounds]


def _faster_first(x: np.ndarray, fix_p: bool) -> np.ndarray:
    """Order the components so that the first has the smaller median (labels are free)."""
    k = 0 if fix_p else 1
    logit_w, m1, ls1, m2, ls2 = x[k:]
    if m1 <= m2:
        return x
    return np.concatenate((x[:k], [-logit_w, m2, ls2, m1, ls1]))


def _weighted(weights: np.ndarray | None, values: np.ndarray) -> float:
    # einsum, not a BLAS dot: multithreaded BLAS dots are slow on busy machines
    return float(values.sum() if weights is None else np.einsum("i,i->", values, weights))


def _split(x: np.ndarray, fix_p: bool) -> tuple[float, float, float, float, np.ndarray]:
    """``(p, q, log p, log q, delay coefficients)`` of the mixture's coefficients ``x``."""
    if fix_p:
        return 1.0, 0.0, 0.0, -math.inf, x
    eta = float(x[0])
    p, q = float(special.expit(eta)), float(special.expit(-eta))
    return p, q, float(special.log_expit(eta)), float(special.log_expit(-eta)), x[1:]


def mixture_log_likelihood(x: np.ndarray, data: CureData, fix_p: bool) -> tuple[float, np.ndarray]:
    """Weighted log-likelihood of the mixture cure model and its gradient in ``x``.

    ``x`` is ``(logit p, logit w, m1, log s1, m2, log s2)``, without ``logit p`` when
    ``fix_p``. Every term is a log-sum of positive parts (component responsibilities),
    so neither the value nor the gradient cancels in the tails.
    """
    x = np.asarray(x, dtype=float)
    p, q, log_p, log_q, delay = _split(x, fix_p)
    a, m1, ls1, m2, ls2 = (float(v) for v in delay)
    log_w = (float(special.log_expit(a)), float(special.log_expit(-a)))
    w1 = float(special.expit(a))
    centres, log_scales = (m1, m2), (ls1, ls2)
    grad_delay = np.zeros(5)  # (logit w, m1, log s1, m2, log s2)
    d_eta = 0.0

    def components(log_t: np.ndarray) -> list[np.ndarray]:
        return [(log_t - centres[k]) / math.exp(log_scales[k]) for k in (0, 1)]

    def add(shares: list[np.ndarray], rw: np.ndarray | None, d_m: list, d_ls: list) -> None:
        # shares[k]: component k's part of the row's probability; d_m, d_ls its derivatives
        grad_delay[0] += _weighted(rw, shares[0]) - w1 * _weighted(rw, shares[0] + shares[1])
        for k in (0, 1):
            grad_delay[1 + 2 * k] += _weighted(rw, d_m[k])
            grad_delay[2 + 2 * k] += _weighted(rw, d_ls[k])

    # converters with an exact delay: log p + log f(log t) - log t
    ll = data.n_exact * log_p - data.sum_log_exact
    if data.log_exact.size:
        ll += _exact_terms(data.log_exact, data.weight_exact, log_w, w1, delay, grad_delay)
        d_eta += data.n_exact * q
    # converters at duration 0: log p + log F(eps)
    if data.n_zero:
        z = components(np.array([data.log_eps]))
        cdf = [log_w[k] + special.log_ndtr(z[k]) for k in (0, 1)]
        log_cdf = np.logaddexp(cdf[0], cdf[1])
        counts = np.array([float(data.n_zero)])
        ll += float(data.n_zero * (log_p + log_cdf[0]))
        dens = [np.exp(log_w[k] - 0.5 * z[k] ** 2 - _LOG_SQRT_2PI - log_cdf) for k in (0, 1)]
        add(
            [np.exp(cdf[k] - log_cdf) for k in (0, 1)],
            counts,
            [-dens[k] / math.exp(log_scales[k]) for k in (0, 1)],
            [-dens[k] * z[k] for k in (0, 1)],
        )
        d_eta += data.n_zero * q
    # still waiting at c: log(q + p S(c))
    if data.log_censored.size:
        rw = data.weight_censored
        if q > 1e-10:
            terms = _waiting_terms(data.log_censored, rw, p, q, log_w, w1, delay, grad_delay)
            ll += terms[0]
            d_eta += terms[1]
        else:
            z = components(data.log_censored)
            tails = [log_w[k] + special.log_ndtr(-z[k]) for k in (0, 1)]
            log_sf = np.logaddexp(tails[0], tails[1])
            log_row = log_p + log_sf if fix_p else np.logaddexp(log_q, log_p + log_sf)
            ll += _weighted(rw, log_row)
            # the waiting row's probability q + p S, split into its parts
            moved = np.exp(log_p + log_sf - log_row)  # p S / (q + p S)
            share = [np.exp(log_p + tails[k] - log_row) for k in (0, 1)]
            dens = [
                np.exp(log_p + log_w[k] - 0.5 * z[k] ** 2 - _LOG_SQRT_2PI - log_row) for k in (0, 1)
            ]
            if not fix_p:
                d_eta += _weighted(rw, moved * q - (1.0 - moved) * p)
            add(
                share,
                rw,
                [dens[k] / math.exp(log_scales[k]) for k in (0, 1)],
                [dens[k] * z[k] for k in (0, 1)],
            )
    grad = grad_delay if fix_p else np.concatenate(([d_eta], grad_delay))
    return float(ll), grad


# The two sums below run over most rows of every bootstrap sample: each is written in as few
# passes over the rows as the algebra allows (sums of products in one einsum, no temporary
# per factor), with the same terms as the general form above.
def _exact_rows(
    log_t: np.ndarray, log_w: tuple[float, float], delay: np.ndarray
) -> tuple[np.ndarray, ...]:
    """Per converter with a positive delay: ``(z0, z1, q0, q1, d, c0, c1)``.

    ``z`` the standardised log delays, ``q = z**2``, ``d`` the softplus of the difference of
    the two components' log densities, ``c0, c1`` the components' shares of the density.
    With ``e = exp(-|difference|)`` the shares are ``1 / (1 + e)`` and ``e / (1 + e)`` (the
    larger first) and ``log f = log part_1 + max(difference, 0) + log1p(e)``: one ``exp``
    and one ``log1p`` per row, where ``logaddexp`` or ``expit`` and ``log_expit`` cost four
    times as much, with nothing that cancels or overflows.
    """
    _, m1, ls1, m2, ls2 = (float(v) for v in delay)
    z0 = log_t - m1
    z0 *= math.exp(-ls1)
    z1 = log_t - m2
    z1 *= math.exp(-ls2)
    q0, q1 = z0 * z0, z1 * z1
    d = q1 - q0
    d *= 0.5
    d += (log_w[0] - ls1) - (log_w[1] - ls2)
    first = d >= 0.0  # component 0 has the larger share
    e = np.abs(d)
    np.negative(e, out=e)
    np.exp(e, out=e)
    larger = 1.0 + e
    np.reciprocal(larger, out=larger)
    smaller = e * larger
    c0 = np.where(first, larger, smaller)
    c1 = np.where(first, smaller, larger)
    np.maximum(d, 0.0, out=d)
    d += np.log1p(e, out=e)  # softplus(d) = log(1 + exp(d))
    return z0, z1, q0, q1, d, c0, c1


def _exact_terms(
    log_t: np.ndarray,
    rw: np.ndarray | None,
    log_w: tuple[float, float],
    w1: float,
    delay: np.ndarray,
    grad: np.ndarray,
) -> float:
    """``sum log f(log t)`` over converters with a positive delay (:func:`_exact_rows`);
    adds its gradient to ``grad``."""
    ls1, ls2 = float(delay[2]), float(delay[4])
    z0, z1, q0, q1, d, c0, c1 = _exact_rows(log_t, log_w, delay)
    total = float(log_t.size) if rw is None else float(rw.sum())
    ll = total * (log_w[1] - ls2 - _LOG_SQRT_2PI) - 0.5 * _wsum(rw, q1) + _wsum(rw, d)
    s0, s1 = _wsum(rw, c0), _wsum(rw, c1)
    grad[0] += s0 - w1 * total
    grad[1] += math.exp(-ls1) * _wsum(rw, c0, z0)
    grad[2] += _wsum(rw, c0, q0) - s0
    grad[3] += math.exp(-ls2) * _wsum(rw, c1, z1)
    grad[4] += _wsum(rw, c1, q1) - s1
    return ll


def _exact_row_terms(
    log_t: np.ndarray, log_w: tuple[float, float], w1: float, delay: np.ndarray
) -> list[np.ndarray]:
    """What each row adds to :func:`_exact_terms`: the value, then the gradient."""
    ls1, ls2 = float(delay[2]), float(delay[4])
    z0, z1, q0, q1, d, c0, c1 = _exact_rows(log_t, log_w, delay)
    return [
        (log_w[1] - ls2 - _LOG_SQRT_2PI) - 0.5 * q1 + d,
        c0 - w1,
        math.exp(-ls1) * c0 * z0,
        c0 * q0 - c0,
        math.exp(-ls2) * c1 * z1,
        c1 * q1 - c1,
    ]


def _waiting_rows(
    log_c: np.ndarray, p: float, q: float, log_w: tuple[float, float], delay: np.ndarray
) -> tuple[np.ndarray, np.ndarray, list[np.ndarray], list[np.ndarray], list[float]]:
    """Per waiting row: ``q + p S(c)``, component 0's part ``p w0 S0(c)``, minus the
    standardised log delays ``u``, ``exp(-u**2 / 2)`` and the factors of the densities
    (``p w_k / sqrt(2 pi)``). For ``q`` not tiny: then ``q + p S >= q`` cannot cancel or
    underflow, and ``ndtr`` costs half of ``log_ndtr``."""
    _, m1, ls1, m2, ls2 = (float(v) for v in delay)
    u = [(m1 - log_c) * math.exp(-ls1), (m2 - log_c) * math.exp(-ls2)]
    a = (p * math.exp(log_w[0]), p * math.exp(log_w[1]))
    tail0 = special.ndtr(u[0])
    row = a[1] * special.ndtr(u[1])
    row += q
    tail0 *= a[0]
    row += tail0  # q + p S, component 0's part in tail0
    bumps = []
    for k in (0, 1):
        e = u[k] * u[k]
        e *= -0.5
        bumps.append(np.exp(e, out=e))  # the density at the delay, up to a constant
    return row, tail0, u, bumps, [a[k] / math.sqrt(2.0 * math.pi) for k in (0, 1)]


def _waiting_terms(
    log_c: np.ndarray,
    rw: np.ndarray | None,
    p: float,
    q: float,
    log_w: tuple[float, float],
    w1: float,
    delay: np.ndarray,
    grad: np.ndarray,
) -> tuple[float, float]:
    """``sum log(q + p S(c))`` over the waiting rows (:func:`_waiting_rows`) and its
    derivative in ``logit p``; adds the delay gradient to ``grad``."""
    inv = (math.exp(-float(delay[2])), math.exp(-float(delay[4])))
    row, tail0, u, bumps, scale = _waiting_rows(log_c, p, q, log_w, delay)
    ll = _wsum(rw, np.log(row))
    inv_row = np.reciprocal(row, out=row)
    total = float(log_c.size) if rw is None else float(rw.sum())
    moved = total - q * _wsum(rw, inv_row)  # sum of p S / (q + p S)
    grad[0] += _wsum(rw, tail0, inv_row) - w1 * moved
    for k in (0, 1):
        grad[1 + 2 * k] += scale[k] * inv[k] * _wsum(rw, bumps[k], inv_row)
        grad[2 + 2 * k] -= scale[k] * _wsum(rw, bumps[k], inv_row, u[k])
    return ll, moved - p * total


def _waiting_row_terms(
    log_c: np.ndarray, p: float, q: float, log_w: tuple[float, float], w1: float, delay: np.ndarray
) -> list[np.ndarray]:
    """What each row adds to :func:`_waiting_terms`: the value, the derivative in
    ``logit p``, then the delay gradient."""
    inv = (math.exp(-float(delay[2])), math.exp(-float(delay[4])))
    row, tail0, u, bumps, scale = _waiting_rows(log_c, p, q, log_w, delay)
    log_row = np.log(row)
    inv_row = np.reciprocal(row, out=row)
    moved = 1.0 - q * inv_row
    columns = [log_row, moved - p, tail0 * inv_row - w1 * moved]
    for k in (0, 1):
        columns.append(scale[k] * inv[k] * bumps[k] * inv_row)
        columns.append(-scale[k] * bumps[k] * inv_row * u[k])
    return columns


def mixture_row_terms(
    x: np.ndarray, log_exact: np.ndarray, log_censored: np.ndarray
) -> tuple[np.ndarray, np.ndarray] | None:
    """Per converter (log delays ``log_exact``) and per waiting row (log times
    ``log_censored``): what it adds to the mixture's log-likelihood and gradient at ``x``
    (``logit p`` free), as :func:`mixture_log_likelihood` sums them, ``(7, rows)`` each (a
    term's rows contiguous: a sample's sums are one matrix-vector product, and the terms
    are stacked at copying speed); None where that sum takes its general form (``q`` tiny)
    or is not finite."""
    p, q, log_p, _, delay = _split(x, False)
    if not q > 1e-10:
        return None
    log_w = (float(special.log_expit(delay[0])), float(special.log_expit(-delay[0])))
    w1 = float(special.expit(delay[0]))
    value, *grad = _exact_row_terms(log_exact, log_w, w1, delay)
    value += log_p - log_exact  # log p + log f(log t) - log t
    # q: d log p / d logit p
    exact = np.stack([value, np.full(log_exact.size, q), *grad])
    waiting = np.stack(_waiting_row_terms(log_censored, p, q, log_w, w1, delay))
    if not (np.all(np.isfinite(exact)) and np.all(np.isfinite(waiting))):
        return None
    return exact, waiting


def _value_and_gradient(x: np.ndarray, data: CureData, fix_p: bool) -> tuple[float, np.ndarray]:
    """Log-likelihood and gradient, or ``(-inf, 0)`` where either is not finite."""
    with np.errstate(over="ignore", under="ignore", invalid="ignore", divide="ignore"):
        ll, grad = mixture_log_likelihood(x, data, fix_p)
    if not (math.isfinite(ll) and np.all(np.isfinite(grad))):
        return -math.inf, np.zeros_like(np.asarray(x, dtype=float))
    return ll, grad


def _start_delays(data: CureData) -> np.ndarray:
    """The exact log delays, each repeated its weight times (only the starts need copies)."""
    if data.weight_exact is None:
        return data.log_exact
    return np.repeat(data.log_exact, np.rint(data.weight_exact).astype(np.int64))


def fit_mixture(data: CureData, plateau: float, fix_p: bool) -> CureFit:
    """Maximum likelihood for the two-component delay, from two starts.

    The likelihood of a mixture has several local maxima, so the fit starts from a split at
    the widest gap of the observed log delays and from a split at their median, and keeps
    the better. On ``4 * GRID_NODES`` rows or more both searches run on the rows spread over
    a grid of log times (:func:`~funnelkit.conversion.cure_grid.coarse_data`), a tenth of the
    cost per evaluation, and Newton steps finish on the rows (:func:`_finish`); fewer rows are
    searched directly. Standard errors come from central differences of the analytic
    gradient on the rows; a fit with a component pressed against a bound of its sigma or
    weight is reported as not converged. Weighted data (``data.weight_exact``) fit as the
    rows repeated.
    """
    log_exact = _start_delays(data)
    delay_starts = [MIXTURE.start(log_exact, data.log_eps)]
    if log_exact.size >= 4:
        x = np.sort(log_exact)
        half = x.size // 2
        m1, m2 = float(x[:half].mean()), float(x[half:].mean())
        s1, s2 = max(float(x[:half].std()), 0.1), max(float(x[half:].std()), 0.1)
        delay_starts.append([0.0, m1, math.log(s1), m2, math.log(s2)])
    p0 = min(max(plateau, 0.02), 0.98)
    bounds = mixture_bounds(fix_p)

    # on many rows the searches run on the rows spread over a grid of log times, a tenth of
    # the cost per evaluation, and finish on the rows themselves (:func:`_finish`)
    coarse = coarse_data(data)
    searched = data if coarse is None else coarse
    found = []
    for delay_start in delay_starts:
        clipped = [
            min(max(v, lo), hi) if lo is not None and hi is not None else v
            for v, (lo, hi) in zip(delay_start, bounds[-5:], strict=True)
        ]
        x0 = np.asarray(clipped if fix_p else [math.log(p0 / (1.0 - p0)), *clipped])
        found.append(_search(searched, x0, fix_p))
    if coarse is None:
        best = found[0]
        for res in found[1:]:
            if res.fun < best.fun:
                best = res
        x = _faster_first(np.asarray(best.x, dtype=float), fix_p)
        success, message = bool(best.success), str(best.message)
        ll = _value_and_gradient(x, data, fix_p)[0]
    else:
        ll, x, success, message = _finish(data, coarse, found, fix_p)
    offset = 0 if fix_p else 1
    on_bound = any(
        lo is not None and hi is not None and min(v - lo, hi - v) < 1e-6
        for v, (lo, hi) in zip(x[offset:], bounds[offset:], strict=True)
    )
    covariance = None if on_bound else _covariance(data, x, fix_p)
    converged = success and math.isfinite(ll) and covariance is not None
    if on_bound:
        message = (
            "a mixture component collapsed (its weight or spread reached a bound): the "
            "delays show no second mode"
        )
    elif covariance is None:
        message = "the observed information is not positive definite at the optimum"
    coefficients = x if not fix_p else np.concatenate(([math.inf], x))
    return CureFit(
        distribution=MIXTURE.name,
        coefficients=tuple(float(c) for c in coefficients),
        covariance=covariance_field(covariance, fix_p),
        log_likelihood=float(ll),
        aic=float(2 * x.size - 2 * ll) if math.isfinite(ll) else math.inf,
        n_params=int(x.size),
        converged=converged,
        p_fixed=fix_p,
        message=message,
    )


def _covariance(data: CureData, x: np.ndarray, fix_p: bool) -> np.ndarray | None:
    """The inverse observed information of the rows at ``x`` (on the fitting scale, without
    ``logit p`` when p is fixed); None unless positive definite."""
    return covariance_from_information(
        -_gradient_hessian(lambda y: _value_and_gradient(y, data, fix_p)[1], x)
    )


def with_curvature(fit: CureFit, data: CureData) -> CureFit:
    """``fit`` (a mixture refitted on ``data``, which carries no covariance) with the
    covariance of the rows at its estimate, where it is positive definite.

    A bootstrap refit steps in the metric of its start's covariance: a segment's samples
    start at the segment's own fit, whose curvature differs from everyone's by more than
    a scale (another mix of fast and slow delays), and take fewer steps in its own.
    """
    if fit.distribution != MIXTURE.name or fit.covariance is not None or not fit.converged:
        return fit
    x = np.asarray(fit.coefficients, dtype=float)
    if fit.p_fixed:
        x = x[1:]
    covariance = covariance_field(_covariance(data, x, fit.p_fixed), fit.p_fixed)
    return fit if covariance is None else fit.model_copy(update={"covariance": covariance})


def _search(data: CureData, x0: np.ndarray, fix_p: bool) -> optimize.OptimizeResult:
    """L-BFGS-B on the mixture's likelihood of ``data`` from ``x0``, within its bounds."""

    def negative(x: np.ndarray) -> tuple[float, np.ndarray]:
        ll, grad = _value_and_gradient(x, data, fix_p)
        return (-ll, -grad) if math.isfinite(ll) else (1e300, grad)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return optimize.minimize(
            negative,
            x0,
            jac=True,
            method="L-BFGS-B",
            bounds=mixture_bounds(fix_p),
            options={"maxiter": 500, "ftol": 1e-12, "gtol": 1e-6},
        )


def _finish(
    data: CureData, coarse: CureData, found: list[optimize.OptimizeResult], fix_p: bool
) -> tuple[float, np.ndarray, bool, str]:
    """The rows' own maximum from the maxima ``found`` on their grid (``coarse``), one per
    start: ``(log-likelihood, coefficients, converged, message)`` of the best on the rows.

    Each distinct maximum on the grid lies about 1e-3 standard errors from one of the rows'
    own: Newton steps in the metric of the grid's curvature there settle on the rows in two
    or three evaluations, to 1e-4 standard errors (:data:`DECREMENT`). A maximum on a bound,
    or steps that do not settle, take L-BFGS-B on the rows from there instead.
    """
    bounds = mixture_bounds(fix_p)
    low = np.array([-math.inf if lo is None else lo for lo, _ in bounds]) + 1e-6
    high = np.array([math.inf if hi is None else hi for _, hi in bounds]) - 1e-6
    best: tuple[float, np.ndarray, bool, str] | None = None
    seen: list[np.ndarray] = []
    last: list[tuple[np.ndarray, float]] = []  # the latest point on the rows and its value

    def on_rows(x: np.ndarray) -> tuple[float, np.ndarray]:
        ll, grad = _value_and_gradient(x, data, fix_p)
        last[:] = [(np.array(x, copy=True), ll)]
        return ll, grad

    for res in sorted(found, key=lambda r: float(r.fun)):
        x0 = _faster_first(np.asarray(res.x, dtype=float), fix_p)
        if any(np.allclose(x0, y, rtol=0.0, atol=1e-4) for y in seen):
            continue  # both starts reached the same maximum: finish it once
        seen.append(x0)
        settled = None
        if np.all((x0 > low) & (x0 < high)):
            metric = covariance_from_information(
                -_gradient_hessian(lambda y: _value_and_gradient(y, coarse, fix_p)[1], x0)
            )
            if metric is not None:
                settled = ascend(
                    on_rows,
                    x0,
                    metric,
                    low,
                    high,
                    tolerance=DECREMENT,
                )
        if settled is not None:
            x, success = settled[0], True
            message = "converged (Newton steps on the rows from their maximum on a grid)"
        else:
            polished = _search(data, x0, fix_p)
            x = _faster_first(np.asarray(polished.x, dtype=float), fix_p)
            success, message = bool(polished.success), str(polished.message)
        # the steps end where they evaluated last: no need to evaluate again
        ll = last[0][1] if last and np.array_equal(last[0][0], x) else on_rows(x)[0]
        if best is None or ll > best[0]:
            best = (ll, x, success, message)
    assert best is not None
    return best


def _gradient_hessian(gradient: Callable[[np.ndarray], np.ndarray], x: np.ndarray) -> np.ndarray:
    """Hessian at ``x`` by central differences of the analytic ``gradient``, symmetrised.

    Two gradients per parameter, where differences of the likelihood itself take four
    evaluations per pair of parameters; the error is of the order of the step squared.
    """
    k = x.size
    h = 1e-5 * np.maximum(1.0, np.abs(x))
    hess = np.empty((k, k))
    for i in range(k):
        e = np.zeros(k)
        e[i] = h[i]
        hess[:, i] = (gradient(x + e) - gradient(x - e)) / (2.0 * h[i])
    out: np.ndarray = 0.5 * (hess + hess.T)
    return out
