"""Cure-model refits from a nearby start, with row weights (bootstrap samples, segments).

:class:`CureRows` prepares a transition's durations once (logarithms, which rows convert,
the order of the durations), so that each sample's :class:`CureData` is gathered from them
instead of built again.

A bootstrap sample is the training data reweighted: its maximum lies next to the full-data
estimate. :func:`refit_mixture` starts there and climbs with the analytic gradient of the
weighted log-likelihood (L-BFGS-B within the bounds of
:func:`~funnelkit.conversion.cure_mixture.fit_mixture`), where the fit from scratch starts
twice with finite-difference gradients and ends with a numerical Hessian. The refit gives
no covariance: a bootstrap takes its spread from the samples.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import optimize, special

from funnelkit._quasi_newton import ascend
from funnelkit.conversion.cure import CureData, _wsum, check_row_weights
from funnelkit.conversion.cure_result import CureFit
from funnelkit.conversion.delay import MIXTURE

__all__ = ["CureRows", "mixture_log_likelihood", "refit_mixture"]

_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)
#: Bounds of the mixture's log sigmas: a component narrower than this sits on a single
#: delay, where the likelihood grows without bound (a spike, not an estimate).
_LOG_S_BOUNDS = (math.log(0.02), math.log(20.0))
_LOGIT_BOUNDS = (-12.0, 12.0)
_LOGIT_P_BOUNDS = (-30.0, 30.0)


@dataclass(frozen=True)
class CureRows:
    """A transition's durations prepared once for cure-model fits under many row weightings.

    :meth:`data` gives exactly ``CureData.from_durations(durations, converted, weights)``
    (the same rows in the same order) without taking logarithms or scanning for the
    smallest delay again.

    Examples
    --------
    >>> rows = CureRows.of(np.array([0.0, 2.0, 5.0, 1.0]), np.array([True, True, False, False]))
    >>> data = rows.data(np.array([1, 2, 0, 1]))  # the second row twice, the third not at all
    >>> data.n_zero, data.n_exact, data.n_censored
    (1, 2, 1)
    """

    n_rows: int
    exact: np.ndarray  # rows converted after a positive delay
    censored: np.ndarray  # rows still waiting after a positive time
    zero_converted: np.ndarray  # rows converted at duration 0
    zero_waiting: np.ndarray  # rows censored at duration 0
    log_exact: np.ndarray  # log durations of the ``exact`` rows
    log_censored: np.ndarray
    by_duration: np.ndarray  # rows with a positive duration, shortest first
    shortest: np.ndarray  # their durations, in that order

    @classmethod
    def of(cls, durations: np.ndarray, converted: np.ndarray) -> CureRows:
        t = np.asarray(durations, dtype=float)
        e = np.asarray(converted, dtype=bool)
        positive = t > 0
        exact = np.flatnonzero(e & positive)
        censored = np.flatnonzero(~e & positive)
        by_duration = np.flatnonzero(positive)
        by_duration = by_duration[np.argsort(t[by_duration], kind="stable")]
        return cls(
            n_rows=int(t.size),
            exact=exact,
            censored=censored,
            zero_converted=np.flatnonzero(e & ~positive),
            zero_waiting=np.flatnonzero(~e & ~positive),
            log_exact=np.log(t[exact]),
            log_censored=np.log(t[censored]),
            by_duration=by_duration,
            shortest=t[by_duration],
        )

    def data(self, weights: np.ndarray | None = None) -> CureData:
        """The likelihood's view of the rows, each counted ``weights`` times (None: once)."""
        if weights is None:
            return self._unweighted()
        w = check_row_weights(weights, self.n_rows)
        log_eps = math.log(self._smallest(w) / 2.0)
        w_exact, w_censored = w[self.exact], w[self.censored]
        keep_e, keep_c = w_exact > 0, w_censored > 0
        log_exact, w_exact = self.log_exact[keep_e], w_exact[keep_e]
        log_censored, w_censored = self.log_censored[keep_c], w_censored[keep_c]
        n_zero = int(w[self.zero_converted].sum())
        waiting_at_zero = int(w[self.zero_waiting].sum())
        if n_zero and waiting_at_zero:
            log_censored = np.concatenate([[log_eps], log_censored])
            w_censored = np.concatenate([[float(waiting_at_zero)], w_censored])
        return CureData(
            log_exact=log_exact,
            sum_log_exact=float(np.einsum("i,i->", log_exact, w_exact)),
            n_zero=n_zero,
            log_eps=log_eps,
            log_censored=log_censored,
            weight_exact=w_exact,
            weight_censored=w_censored,
        )

    def _smallest(self, w: np.ndarray) -> float:
        """The shortest positive duration among the rows of positive weight (2e-6 if none)."""
        # the shortest rows are nearly always drawn: look at a few before scanning them all
        for head in (self.by_duration[:64], self.by_duration):
            drawn = np.flatnonzero(w[head] > 0)
            if drawn.size:
                return float(self.shortest[drawn[0]])
        return 2e-6

    def _unweighted(self) -> CureData:
        n_zero, waiting_at_zero = self.zero_converted.size, self.zero_waiting.size
        log_eps = math.log((float(self.shortest[0]) if self.shortest.size else 2e-6) / 2.0)
        log_censored = self.log_censored
        if n_zero and waiting_at_zero:
            log_censored = np.concatenate([np.full(waiting_at_zero, log_eps), log_censored])
        return CureData(
            log_exact=self.log_exact,
            sum_log_exact=float(self.log_exact.sum()),
            n_zero=int(n_zero),
            log_eps=log_eps,
            log_censored=log_censored,
        )


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


def mixture_log_likelihood(x: np.ndarray, data: CureData, fix_p: bool) -> tuple[float, np.ndarray]:
    """Weighted log-likelihood of the mixture cure model and its gradient in ``x``.

    ``x`` is ``(logit p, logit w, m1, log s1, m2, log s2)``, without ``logit p`` when
    ``fix_p``. Every term is a log-sum of positive parts (component responsibilities),
    so neither the value nor the gradient cancels in the tails.
    """
    x = np.asarray(x, dtype=float)
    if fix_p:
        eta, delay = math.inf, x
        p, q, log_p, log_q = 1.0, 0.0, 0.0, -math.inf
    else:
        eta, delay = float(x[0]), x[1:]
        p, q = float(special.expit(eta)), float(special.expit(-eta))
        log_p, log_q = float(special.log_expit(eta)), float(special.log_expit(-eta))
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
def _exact_terms(
    log_t: np.ndarray,
    rw: np.ndarray | None,
    log_w: tuple[float, float],
    w1: float,
    delay: np.ndarray,
    grad: np.ndarray,
) -> float:
    """``sum log f(log t)`` over converters with a positive delay; adds its gradient to ``grad``.

    With ``d`` the difference of the two components' log densities and ``e = exp(-|d|)``,
    the components' shares of the density are ``1 / (1 + e)`` and ``e / (1 + e)`` (the
    larger first) and ``log f = log part_1 + max(d, 0) + log1p(e)``: one ``exp`` and one
    ``log1p`` per row, where ``logaddexp`` or ``expit`` and ``log_expit`` cost four times
    as much, with nothing that cancels or overflows.
    """
    _, m1, ls1, m2, ls2 = (float(v) for v in delay)
    inv0, inv1 = math.exp(-ls1), math.exp(-ls2)
    z0 = log_t - m1
    z0 *= inv0
    z1 = log_t - m2
    z1 *= inv1
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
    total = float(log_t.size) if rw is None else float(rw.sum())
    ll = total * (log_w[1] - ls2 - _LOG_SQRT_2PI) - 0.5 * _wsum(rw, q1) + _wsum(rw, d)
    s0, s1 = _wsum(rw, c0), _wsum(rw, c1)
    grad[0] += s0 - w1 * total
    grad[1] += inv0 * _wsum(rw, c0, z0)
    grad[2] += _wsum(rw, c0, q0) - s0
    grad[3] += inv1 * _wsum(rw, c1, z1)
    grad[4] += _wsum(rw, c1, q1) - s1
    return ll


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
    """``sum log(q + p S(c))`` over the waiting rows and its derivative in ``logit p``, for
    ``q`` not tiny (then ``q + p S >= q`` cannot cancel or underflow, and ``ndtr`` costs
    half of ``log_ndtr``); adds the delay gradient to ``grad``."""
    _, m1, ls1, m2, ls2 = (float(v) for v in delay)
    inv = (math.exp(-ls1), math.exp(-ls2))
    u = [m1 - log_c, m2 - log_c]  # minus the standardised delay of each component
    u[0] *= inv[0]
    u[1] *= inv[1]
    a = (p * math.exp(log_w[0]), p * math.exp(log_w[1]))
    tail0 = special.ndtr(u[0])
    row = a[1] * special.ndtr(u[1])
    row += q
    tail0 *= a[0]
    row += tail0  # q + p S, component 0's part in tail0
    ll = _wsum(rw, np.log(row))
    inv_row = np.reciprocal(row, out=row)
    total = float(log_c.size) if rw is None else float(rw.sum())
    moved = total - q * _wsum(rw, inv_row)  # sum of p S / (q + p S)
    grad[0] += _wsum(rw, tail0, inv_row) - w1 * moved
    for k in (0, 1):
        e = u[k] * u[k]
        e *= -0.5
        np.exp(e, out=e)  # the density at the delay, up to a constant
        scale = a[k] / math.sqrt(2.0 * math.pi)
        grad[1 + 2 * k] += scale * inv[k] * _wsum(rw, e, inv_row)
        grad[2 + 2 * k] -= scale * _wsum(rw, e, inv_row, u[k])
    return ll, moved - p * total


def refit_mixture(
    data: CureData,
    start: Sequence[float] | np.ndarray,
    fix_p: bool,
    metric: np.ndarray | None = None,
) -> CureFit:
    """The mixture cure model refitted from ``start`` (coefficients of a fit on similar data).

    With ``metric``, the covariance of ``start`` (the inverse information of that fit),
    Newton steps in that fixed metric (the information of a reweighted sample differs by
    sampling error only), which settle in a few likelihood evaluations; otherwise, or when
    they do not settle, one L-BFGS-B search with the analytic gradient. A component pressed
    against a bound of its weight or spread is reported as not converged, as by the fit
    from scratch.
    """
    x0 = np.asarray(start, dtype=float)
    if metric is not None:
        metric = np.asarray(metric, dtype=float)
        if fix_p or not math.isfinite(float(x0[0])):
            metric = None if not fix_p else metric[1:, 1:]
    if fix_p:
        x0 = x0[1:]
    elif not math.isfinite(float(x0[0])):
        share = data.n_converted / max(data.n_converted + data.n_censored, 1)
        x0 = np.concatenate(([special.logit(min(max(share, 0.02), 0.98))], x0[1:]))
    bounds = mixture_bounds(fix_p)
    low = np.array([-math.inf if lo is None else lo for lo, _ in bounds])
    high = np.array([math.inf if hi is None else hi for _, hi in bounds])
    x0 = np.clip(x0, low, high)

    last: list[tuple[np.ndarray, float]] = []  # the latest point and its value

    def log_likelihood(x: np.ndarray) -> tuple[float, np.ndarray]:
        with np.errstate(over="ignore", under="ignore", invalid="ignore", divide="ignore"):
            ll, grad = mixture_log_likelihood(x, data, fix_p)
        if not (math.isfinite(ll) and np.all(np.isfinite(grad))):
            ll, grad = -math.inf, np.zeros_like(x)
        last[:] = [(np.array(x, copy=True), ll)]
        return ll, grad

    found = None
    if metric is not None and metric.shape == (x0.size, x0.size) and np.all(np.isfinite(metric)):
        settled = ascend(log_likelihood, x0, metric, low + 1e-6, high - 1e-6)
        found = None if settled is None else settled[0]
    if found is not None:
        x, success, message = found, True, "converged (Newton steps in the start's metric)"
    else:

        def negative(x: np.ndarray) -> tuple[float, np.ndarray]:
            ll, grad = log_likelihood(x)
            return (-ll, -grad) if math.isfinite(ll) else (1e300, grad)

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            res = optimize.minimize(
                negative,
                x0,
                jac=True,
                method="L-BFGS-B",
                bounds=bounds,
                options={"maxiter": 500, "ftol": 1e-12, "gtol": 1e-6},
            )
        x, success, message = np.asarray(res.x, dtype=float), bool(res.success), str(res.message)
    x = _faster_first(x, fix_p)
    # the search ends where it evaluated last (the steps' end): no need to evaluate again
    ll = last[0][1] if last and np.array_equal(last[0][0], x) else log_likelihood(x)[0]
    offset = 0 if fix_p else 1
    on_bound = bool(np.any(np.minimum(x - low, high - x)[offset:] < 1e-6))
    finite = math.isfinite(ll)
    if on_bound:
        message = (
            "a mixture component collapsed (its weight or spread reached a bound): the "
            "delays show no second mode"
        )
    coefficients = x if not fix_p else np.concatenate(([math.inf], x))
    return CureFit(
        distribution=MIXTURE.name,
        coefficients=tuple(float(c) for c in coefficients),
        covariance=None,
        log_likelihood=float(ll),
        aic=float(2 * x.size - 2 * ll) if finite else math.inf,
        n_params=int(x.size),
        converged=success and finite and not on_bound,
        p_fixed=fix_p,
        message=message,
    )
