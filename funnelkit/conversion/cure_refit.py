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
from dataclasses import dataclass, field

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
    #: the row terms of :func:`_row_terms` at the point last asked for (a fit's estimate)
    terms: dict[bytes, tuple[np.ndarray, np.ndarray] | None] = field(
        default_factory=dict, compare=False, repr=False
    )

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
        drawn = w[self.exact], w[self.censored]  # every row's weight, drawn or not
        w_exact, w_censored = drawn
        keep_e, keep_c = w_exact > 0, w_censored > 0
        log_exact, w_exact = self.log_exact[keep_e], w_exact[keep_e]
        log_censored, w_censored = self.log_censored[keep_c], w_censored[keep_c]
        n_zero = int(w[self.zero_converted].sum())
        waiting_at_zero = int(w[self.zero_waiting].sum())
        zero = _zero_rows(n_zero, waiting_at_zero, log_eps)
        if zero.log_censored.size:
            log_censored = np.concatenate([zero.log_censored, log_censored])
            w_censored = np.concatenate([zero.weight_censored, w_censored])
        return CureData(
            log_exact=log_exact,
            sum_log_exact=float(np.einsum("i,i->", log_exact, w_exact)),
            n_zero=n_zero,
            log_eps=log_eps,
            log_censored=log_censored,
            weight_exact=w_exact,
            weight_censored=w_censored,
            first_evaluation=lambda x, fix_p: self.first_evaluation(drawn, zero, x, fix_p),
        )

    def first_evaluation(
        self,
        weights: tuple[np.ndarray, np.ndarray],
        zero: CureData,
        x: np.ndarray,
        fix_p: bool,
    ) -> tuple[float, np.ndarray] | None:
        """:func:`mixture_log_likelihood` at ``x`` of the rows counted ``weights`` times (per
        exact row, per waiting row), from row terms found once per point: a bootstrap
        sample's first evaluation.

        Every sample's refit starts at the full-data estimate, where each row's terms do
        not depend on the weights: a sample's value and gradient there are their weighted
        sums, a fraction of an evaluation. ``zero``: the rows at duration 0 of the sample
        (their ``eps`` depends on which rows were drawn), evaluated directly. None where
        the terms do not apply (``fix_p``, or ``q`` tiny).
        """
        if fix_p:
            return None
        key = np.asarray(x, dtype=float).tobytes()
        if key not in self.terms:
            self.terms.clear()  # one point at a time: the terms are as large as the rows
            with np.errstate(all="ignore"):
                self.terms[key] = _row_terms(np.asarray(x, dtype=float), self)
        found = self.terms[key]
        if found is None:
            return None
        exact, waiting = found
        out = np.einsum("i,ik->k", weights[0], exact)
        out += np.einsum("i,ik->k", weights[1], waiting)
        if zero.n_zero:
            ll, grad = mixture_log_likelihood(x, zero, fix_p)
            out[0] += ll
            out[1:] += grad
        return float(out[0]), out[1:]

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


def _zero_rows(n_zero: int, waiting_at_zero: int, log_eps: float) -> CureData:
    """The rows at duration 0: ``n_zero`` conversions, and those waiting there, censored at
    ``eps`` when there are conversions at 0 (else they carry no information)."""
    waiting = n_zero > 0 and waiting_at_zero > 0
    return CureData(
        log_exact=np.empty(0),
        sum_log_exact=0.0,
        n_zero=n_zero,
        log_eps=log_eps,
        log_censored=np.full(int(waiting), log_eps),
        weight_exact=np.empty(0),
        weight_censored=np.full(int(waiting), float(waiting_at_zero)),
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
) -> np.ndarray:
    """What each row adds to :func:`_exact_terms`: ``(rows, 6)``, value then gradient."""
    ls1, ls2 = float(delay[2]), float(delay[4])
    z0, z1, q0, q1, d, c0, c1 = _exact_rows(log_t, log_w, delay)
    return np.column_stack(
        [
            (log_w[1] - ls2 - _LOG_SQRT_2PI) - 0.5 * q1 + d,
            c0 - w1,
            math.exp(-ls1) * c0 * z0,
            c0 * q0 - c0,
            math.exp(-ls2) * c1 * z1,
            c1 * q1 - c1,
        ]
    )


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
) -> np.ndarray:
    """What each row adds to :func:`_waiting_terms`: ``(rows, 7)``, the value, the
    derivative in ``logit p``, then the delay gradient."""
    inv = (math.exp(-float(delay[2])), math.exp(-float(delay[4])))
    row, tail0, u, bumps, scale = _waiting_rows(log_c, p, q, log_w, delay)
    log_row = np.log(row)
    inv_row = np.reciprocal(row, out=row)
    moved = 1.0 - q * inv_row
    columns = [log_row, moved - p, tail0 * inv_row - w1 * moved]
    for k in (0, 1):
        columns.append(scale[k] * inv[k] * bumps[k] * inv_row)
        columns.append(-scale[k] * bumps[k] * inv_row * u[k])
    return np.column_stack(columns)


def _row_terms(x: np.ndarray, rows: CureRows) -> tuple[np.ndarray, np.ndarray] | None:
    """Per exact and per waiting row of ``rows``: what it adds to the mixture's
    log-likelihood and gradient at ``x`` (``logit p`` free), as :func:`mixture_log_likelihood`
    sums them; None where that sum takes its general form (``q`` tiny) or is not finite."""
    p, q, log_p, _, delay = _split(x, False)
    if not q > 1e-10:
        return None
    log_w = (float(special.log_expit(delay[0])), float(special.log_expit(-delay[0])))
    w1 = float(special.expit(delay[0]))
    exact = _exact_row_terms(rows.log_exact, log_w, w1, delay)
    exact[:, 0] += log_p - rows.log_exact  # log p + log f(log t) - log t
    exact = np.insert(exact, 1, q, axis=1)  # d log p / d logit p
    waiting = _waiting_row_terms(rows.log_censored, p, q, log_w, w1, delay)
    if not (np.all(np.isfinite(exact)) and np.all(np.isfinite(waiting))):
        return None
    return exact, waiting


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
            found = None
            if not last and data.first_evaluation is not None:
                # the start of a bootstrap sample: from row terms prepared once
                found = data.first_evaluation(x, fix_p)
            ll, grad = mixture_log_likelihood(x, data, fix_p) if found is None else found
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
