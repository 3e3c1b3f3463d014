"""Cure-model refits from a nearby start, with row weights (bootstrap samples, segments).

:class:`CureRows` prepares a transition's durations once (logarithms, which rows convert,
the order of the durations), so that each sample's :class:`CureData` is gathered from them
instead of built again.

A bootstrap sample is the training data reweighted: its maximum lies next to the full-data
estimate. :func:`refit_mixture` starts there and climbs with the analytic gradient of the
weighted log-likelihood, first on the rows spread over a grid of log times
(:meth:`CureRows.coarse`, a tenth of the cost) and then on the rows themselves (or
L-BFGS-B within the bounds of
:func:`~funnelkit.conversion.cure_mixture.fit_mixture`), where the fit from scratch starts
twice with finite-difference gradients and ends with a numerical Hessian. The refit gives
no covariance: a bootstrap takes its spread from the samples.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import optimize, special

from funnelkit._quasi_newton import LAST_STEP, ascend, refit_decrement
from funnelkit.conversion.cure_grid import (
    GRID_NODES,
    NodeSplit,
    Shifted,
    agree,
    halved,
    log_time_grid,
    spread,
    tied,
)
from funnelkit.conversion.cure_likelihood import (
    CureData,
    assemble_parts,
    check_row_weights,
    log_likelihood_parts,
)
from funnelkit.conversion.cure_mixture import (
    _faster_first,
    mixture_bounds,
    mixture_log_likelihood,
    mixture_row_terms,
)
from funnelkit.conversion.cure_result import CureFit
from funnelkit.conversion.delay import MIXTURE, DelayFamily

__all__ = ["GRID_NODES", "CureRows", "mixture_log_likelihood", "refit_mixture"]

#: how many of the shortest positive durations :class:`CureRows` keeps in order
_SHORTEST = 64


@dataclass(frozen=True)
class CureRows:
    """A transition's durations prepared once for cure-model fits under many row weightings.

    :meth:`data` gives ``CureData.from_durations(durations, converted, weights)`` without
    taking logarithms or scanning for the smallest delay again: the same rows in the same
    order, or, where tied delays are common (whole days, say: see
    :func:`~funnelkit.conversion.cure_grid.tied`), each distinct delay once with the
    summed weight of its rows, which has the same likelihood at a fraction of the work.

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
    by_duration: np.ndarray  # the rows of the shortest positive durations, shortest first
    shortest: np.ndarray  # their durations, in that order
    positive: np.ndarray  # every row with a positive duration
    durations: np.ndarray  # their durations
    #: per ``exact`` (``censored``) row, its log delay's position in ``log_exact``
    #: (``log_censored``) when those hold each tied value once; None: one value per row
    exact_code: np.ndarray | None = None
    censored_code: np.ndarray | None = None
    #: the row terms of :func:`~funnelkit.conversion.cure_mixture.mixture_row_terms` at the
    #: point last asked for (a fit's estimate)
    terms: dict[bytes, tuple[np.ndarray, np.ndarray] | None] = field(
        default_factory=dict, compare=False, repr=False
    )
    #: per kind of row (exact, censored): the grid of :meth:`coarse`, found once
    grids: dict[str, NodeSplit | None] = field(default_factory=dict, compare=False, repr=False)
    #: the same for one-component families: :func:`row_parts` at the point last asked for
    parts: dict[tuple[str, bytes], tuple[np.ndarray, np.ndarray]] = field(
        default_factory=dict, compare=False, repr=False
    )

    @classmethod
    def of(cls, durations: np.ndarray, converted: np.ndarray) -> CureRows:
        t = np.asarray(durations, dtype=float)
        e = np.asarray(converted, dtype=bool)
        positive = t > 0
        exact = np.flatnonzero(e & positive)
        censored = np.flatnonzero(~e & positive)
        rows = np.flatnonzero(positive)
        durations = t[rows]
        # the shortest few in order (a sample nearly always draws one of them), not a sort
        # of every row: that cost a quarter of a second per million rows
        head = np.arange(rows.size)
        if rows.size > _SHORTEST:
            head = np.argpartition(durations, _SHORTEST)[:_SHORTEST]
        head = head[np.argsort(durations[head], kind="stable")]
        log_exact, log_censored = np.log(t[exact]), np.log(t[censored])
        exact_ties, censored_ties = tied(log_exact), tied(log_censored)
        return cls(
            n_rows=int(t.size),
            exact=exact,
            censored=censored,
            zero_converted=np.flatnonzero(e & ~positive),
            zero_waiting=np.flatnonzero(~e & ~positive),
            log_exact=log_exact if exact_ties is None else exact_ties[0],
            log_censored=log_censored if censored_ties is None else censored_ties[0],
            by_duration=rows[head],
            shortest=durations[head],
            positive=rows,
            durations=durations,
            exact_code=None if exact_ties is None else exact_ties[1],
            censored_code=None if censored_ties is None else censored_ties[1],
        )

    def data(self, weights: np.ndarray | None = None, *, whole: bool = False) -> CureData:
        """The likelihood's view of the rows, each counted ``weights`` times (None: once).

        ``whole=True``: ``weights`` are known to be one float per row, whole and >= 0 (a
        bootstrap sample's counts): not checked again.
        """
        if weights is None:
            return self._unweighted()
        w = weights if whole else check_row_weights(weights, self.n_rows)
        log_eps = math.log(self._smallest(w) / 2.0)
        # every row's weight, drawn or not (a tied value's: the sum of its rows')
        drawn = (
            self._counted(w[self.exact], self.exact_code, self.log_exact.size),
            self._counted(w[self.censored], self.censored_code, self.log_censored.size),
        )
        w_exact, w_censored = drawn
        # positions, not masks: a random mask selects five times slower than a gather
        keep_e, keep_c = np.flatnonzero(w_exact > 0), np.flatnonzero(w_censored > 0)
        log_exact, w_exact = self.log_exact[keep_e], w_exact[keep_e]
        log_censored, w_censored = self.log_censored[keep_c], w_censored[keep_c]
        n_zero = int(w[self.zero_converted].sum())
        waiting_at_zero = int(w[self.zero_waiting].sum())
        zero = _zero_rows(n_zero, waiting_at_zero, log_eps)
        n_exact_drawn = float(w_exact.sum())
        sum_log_exact = float(np.einsum("i,i->", log_exact, w_exact))
        return _with_zero_rows(
            zero,
            (log_exact, w_exact),
            (log_censored, w_censored),
            sum_log_exact,
            first_evaluation=lambda x, fix_p: self.first_evaluation(drawn, zero, x, fix_p),
            coarse=lambda: self.coarse(drawn, zero, sum_log_exact),
            first_parts=lambda x, family, fix_p: self.first_parts(
                drawn, (n_exact_drawn, sum_log_exact), zero, x, family, fix_p
            ),
        )

    def first_parts(
        self,
        weights: tuple[np.ndarray, np.ndarray],
        exact: tuple[float, float],
        zero: CureData,
        x: np.ndarray,
        family: DelayFamily,
        fix_p: bool,
    ) -> tuple[float, np.ndarray, np.ndarray] | None:
        """:func:`~funnelkit.conversion.cure_likelihood.log_likelihood_parts` at ``x`` of the rows
        counted ``weights`` times, from per-row terms found once per point (see
        :meth:`first_evaluation`); ``exact``: the sample's converters with a positive delay
        (weighted count, weighted sum of log delays). None where the terms do not apply
        (``fix_p``) or are not finite."""
        if fix_p:
            return None
        key = (family.name, np.asarray(x, dtype=float).tobytes())
        if key not in self.parts:
            self.parts.clear()  # one point at a time: the terms are as large as the rows
            with np.errstate(all="ignore"):
                self.parts[key] = row_parts(x, self.log_exact, self.log_censored, family)
        on_exact, on_waiting = self.parts[key]
        exact_sums = on_exact @ weights[0]
        s = on_waiting @ weights[1]
        if not (np.all(np.isfinite(exact_sums)) and np.all(np.isfinite(s))):
            return None
        p, q = float(special.expit(float(x[0]))), float(special.expit(-float(x[0])))
        # the sums of funnelkit.conversion.cure_likelihood._censored_sums, from the columns' sums
        waiting = [float(v) for v in -s[:6]] + [-p * q * float(s[6])]
        waiting[0] = float(s[0])
        waiting.append(-p * q * ((1.0 - 2.0 * p) * float(s[7]) + p * p * float(s[8])))
        waiting += [-q * float(s[9]), -q * float(s[10])]
        rows = CureData(
            log_exact=self.log_exact[:1],  # the count and sums below stand for the rows
            n_zero=0,
            log_eps=zero.log_eps,
            log_censored=self.log_censored[:1],
            sum_log_exact=exact[1],
            weight_exact=np.array([exact[0]]),
        )
        found = assemble_parts(
            np.asarray(x, dtype=float),
            rows,
            family,
            fix_p,
            tuple(exact_sums) if weights[0].size else None,
            waiting if weights[1].size else None,
        )
        if zero.n_zero or zero.log_censored.size:
            ll, g, h = log_likelihood_parts(x, zero, family, fix_p=fix_p)
            found = (found[0] + ll, found[1] + g, found[2] + h)
        return found

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
                self.terms[key] = mixture_row_terms(
                    np.asarray(x, dtype=float), self.log_exact, self.log_censored
                )
        found = self.terms[key]
        if found is None:
            return None
        exact, waiting = found
        # matrix-vector products: einsum sums over rows a dozen times slower here, and the
        # bootstrap runs with one BLAS thread (no waiting on idle threads)
        out = exact @ weights[0]
        out += waiting @ weights[1]
        if zero.n_zero:
            ll, grad = mixture_log_likelihood(x, zero, fix_p)
            out[0] += ll
            out[1:] += grad
        return float(out[0]), out[1:]

    def coarse(
        self, weights: tuple[np.ndarray, np.ndarray], zero: CureData, sum_log_exact: float
    ) -> tuple[CureData, CureData] | None:
        """The rows counted ``weights`` times (per exact row, per waiting row) with each
        row's weight split between the two nearest of :data:`GRID_NODES` evenly spaced log
        times (linear interpolation), and the same over every other node
        (:func:`~funnelkit.conversion.cure_grid.halved`); ``zero``: the sample's rows at
        duration 0, kept as they are. None when there are too few rows for a grid to save
        work.

        The split keeps every row's weight and weighted log time, and a likelihood term
        varies little between neighbouring nodes: the maximum of the mixture likelihood on
        the grid lies about 1e-3 standard errors from the rows' own (measured on 100,000
        entrants), at a tenth of the cost per evaluation. A refit takes its steps there,
        shifted to the rows' value and gradient at its start, and checks its end on the
        wider grid (see :mod:`~funnelkit.conversion.cure_grid`).
        """
        if self.n_rows < 4 * GRID_NODES:
            return None
        exact = self._binned("exact", self.log_exact, weights[0])
        censored = self._binned("censored", self.log_censored, weights[1])
        fine, wide = (_with_zero_rows(zero, exact[i], censored[i], sum_log_exact) for i in (0, 1))
        return fine, wide

    def _binned(
        self, kind: str, values: np.ndarray, w: np.ndarray
    ) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
        """``values`` counted ``w`` times, as the grid nodes of positive weight and their
        weights, on the grid and on every other node of it (the rows themselves, twice,
        when they take no grid: few, or all equal)."""
        split = self._split(kind, values)
        if split is None:
            rows = spread(None, values, w)
            return rows, rows
        node_w = split.weights(w)
        keep = np.flatnonzero(node_w > 0)
        return (split.nodes[keep], node_w[keep]), halved(split.nodes, node_w)

    def _split(self, kind: str, values: np.ndarray) -> NodeSplit | None:
        """The grid of ``values`` (the ``kind`` of row), found once."""
        if kind not in self.grids:
            self.grids[kind] = NodeSplit.of(log_time_grid(values))
        return self.grids[kind]

    def prepare_grids(self) -> None:
        """Find the grids of :meth:`coarse` now rather than at the first sample's refit."""
        if self.n_rows >= 4 * GRID_NODES:
            self._split("exact", self.log_exact)
            self._split("censored", self.log_censored)

    def _smallest(self, w: np.ndarray) -> float:
        """The shortest positive duration among the rows of positive weight (2e-6 if none)."""
        # the shortest rows are nearly always drawn: look at a few before scanning them all
        drawn = np.flatnonzero(w[self.by_duration] > 0)
        if drawn.size:
            return float(self.shortest[drawn[0]])
        drawn = np.flatnonzero(w[self.positive] > 0)
        return float(self.durations[drawn].min()) if drawn.size else 2e-6

    @staticmethod
    def _counted(w: np.ndarray, code: np.ndarray | None, size: int) -> np.ndarray:
        """Weights per row as weights per tied value (``code``: each row's value)."""
        return w if code is None else np.bincount(code, weights=w, minlength=size)

    def _unweighted(self) -> CureData:
        n_zero, waiting_at_zero = self.zero_converted.size, self.zero_waiting.size
        log_eps = math.log((float(self.shortest[0]) if self.shortest.size else 2e-6) / 2.0)
        # one value per row, in row order (tied values are held once)
        log_exact = self.log_exact if self.exact_code is None else self.log_exact[self.exact_code]
        log_censored = self.log_censored
        if self.censored_code is not None:
            log_censored = log_censored[self.censored_code]
        if n_zero and waiting_at_zero:
            log_censored = np.concatenate([np.full(waiting_at_zero, log_eps), log_censored])
        return CureData(
            log_exact=log_exact,
            sum_log_exact=float(log_exact.sum()),
            n_zero=int(n_zero),
            log_eps=log_eps,
            log_censored=log_censored,
        )


def row_parts(
    x: np.ndarray, log_exact: np.ndarray, log_waiting: np.ndarray, family: DelayFamily
) -> tuple[np.ndarray, np.ndarray]:
    """Per-row terms of a one-component cure model at ``x = (logit p, m[, log s])``.

    Per exact row ``log g, l', l' w, l'', l'' w, l'' w^2`` (``w`` the standardised log
    delay, ``l`` = log g); per waiting row the terms whose weighted sums
    ``funnelkit.conversion.cure_likelihood._censored_sums`` forms: ``log(1 - p G), b, b w, d, d w,
    d w^2, G r, G r^2, (G r)^2, b r, b r w`` with ``r = 1 / (1 - p G)``, ``b = p g r``,
    ``d = b (d log g / dw + b)``, one term per row of each array. A sample's sums are their
    products with its weights.
    """
    m = float(x[1])
    s = 1.0 if family.fixed_scale else float(np.exp(float(x[2])))
    p, q = float(special.expit(float(x[0]))), float(special.expit(-float(x[0])))
    w = (log_exact - m) / s
    log_pdf, lw, lww = family.log_pdf_derivatives(w)
    on_exact = np.stack([log_pdf, lw, lw * w, lww, lww * w, lww * w * w])
    v = (log_waiting - m) / s
    sf, g, dlog = np.empty(v.size), np.empty(v.size), np.empty(v.size)
    family.sf_pdf_dlog_into(v, sf, g, dlog)
    c = q + p * sf  # 1 - p G as a sum of positive terms
    e = np.log(c)
    tiny = c <= 1e-300
    if tiny.any():
        e[tiny] = np.logaddexp(math.log(q), math.log(p) + family.log_sf(v[tiny]))
    r = 1.0 / np.maximum(c, 1e-300)
    b = p * g * r
    d = b * (dlog + b)
    gr = (1.0 - sf) * r
    on_waiting = np.stack([e, b, b * v, d, d * v, d * v * v, gr, gr * r, gr * gr, b * r, b * r * v])
    return on_exact, on_waiting


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


def _with_zero_rows(
    zero: CureData,
    exact: tuple[np.ndarray, np.ndarray],
    waiting: tuple[np.ndarray, np.ndarray],
    sum_log_exact: float,
    **hooks: Any,
) -> CureData:
    """A sample's data: its ``exact`` and ``waiting`` (log time, weight) rows with its rows
    at duration 0 (:func:`_zero_rows`), the waiting ones at 0 first."""
    log_censored, w_censored = waiting
    if zero.log_censored.size:
        log_censored = np.concatenate([zero.log_censored, log_censored])
        w_censored = np.concatenate([zero.weight_censored, w_censored])
    return CureData(
        log_exact=exact[0],
        sum_log_exact=sum_log_exact,
        n_zero=zero.n_zero,
        log_eps=zero.log_eps,
        log_censored=log_censored,
        weight_exact=exact[1],
        weight_censored=w_censored,
        **hooks,
    )


def _checked(data: CureData, fix_p: bool) -> Callable[[np.ndarray], tuple[float, np.ndarray]]:
    """:func:`mixture_log_likelihood` of ``data``, ``(-inf, 0)`` where it is not finite."""

    def log_likelihood(x: np.ndarray) -> tuple[float, np.ndarray]:
        with np.errstate(over="ignore", under="ignore", invalid="ignore", divide="ignore"):
            ll, grad = mixture_log_likelihood(x, data, fix_p)
        if not (math.isfinite(ll) and np.all(np.isfinite(grad))):
            return -math.inf, np.zeros_like(x)
        return ll, grad

    return log_likelihood


def _on_grids(
    grids: tuple[CureData, CureData],
    at_start: tuple[float, np.ndarray] | None,
    x0: np.ndarray,
    metric: np.ndarray,
    bounds: tuple[np.ndarray, np.ndarray],
    fix_p: bool,
) -> tuple[np.ndarray, np.ndarray, float | None] | None:
    """Steps in ``metric`` from ``x0`` to the maximum of the rows spread over a grid, a
    tenth of an evaluation each: that maximum, the metric there and, where the rows' value
    and gradient at ``x0`` are known (``at_start``) and the wider grid agrees, the rows'
    log-likelihood there (None: the rows must check it); None where the steps do not settle.

    With ``at_start`` the grid is :class:`~funnelkit.conversion.cure_grid.Shifted` to the
    rows at ``x0``, and its maximum is the rows' within the refit's stop where the same
    rows and shift on every other node have their maximum next to it
    (:func:`~funnelkit.conversion.cure_grid.agree`).
    """
    fine, wide = grids
    tolerance = refit_decrement() * 1e-2
    on_fine = _checked(fine, fix_p)
    shifted = None if at_start is None else Shifted(on_fine, x0, at_start)
    if shifted is not None and not shifted.usable:
        shifted = None
    evaluate = on_fine if shifted is None else shifted
    near = ascend(evaluate, x0, metric, *bounds, tolerance=tolerance, last_step=LAST_STEP)
    if near is None:
        return None
    x, metric = near
    if shifted is None:
        return x, metric, None
    _, wide_gradient = shifted.on(_checked(wide, fix_p))(x)
    if not agree(wide_gradient, metric, refit_decrement()):
        return x, metric, None
    value = float(shifted(x)[0])
    return x, metric, value if math.isfinite(value) else None


def refit_mixture(
    data: CureData,
    start: Sequence[float] | np.ndarray,
    fix_p: bool,
    metric: np.ndarray | None = None,
) -> CureFit:
    """The mixture cure model refitted from ``start`` (coefficients of a fit on similar data).

    With ``metric``, the covariance of ``start`` (the inverse information of that fit),
    Newton steps in that fixed metric (the information of a reweighted sample differs by
    sampling error only), which settle in a few likelihood evaluations: on the rows spread
    over a grid (``data.coarse``, where there are many), shifted to the rows' value and
    gradient at the start where per-row terms give them (a bootstrap sample: see
    :func:`_on_grids`), and from there on the rows themselves where the grids cannot settle
    it (they settle at their first evaluation). Otherwise, or when they do not
    settle, one L-BFGS-B search with the analytic gradient. A component pressed
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
    first = [True]  # the next evaluation is at the start (read off row terms)

    def log_likelihood(x: np.ndarray) -> tuple[float, np.ndarray]:
        with np.errstate(over="ignore", under="ignore", invalid="ignore", divide="ignore"):
            found = None
            if first[0] and data.first_evaluation is not None:
                # the start of a bootstrap sample: from row terms prepared once
                found = data.first_evaluation(x, fix_p)
            ll, grad = mixture_log_likelihood(x, data, fix_p) if found is None else found
        first[0] = False
        if not (math.isfinite(ll) and np.all(np.isfinite(grad))):
            ll, grad = -math.inf, np.zeros_like(x)
        last[:] = [(np.array(x, copy=True), ll)]
        return ll, grad

    found, value = None, None
    if metric is not None and metric.shape == (x0.size, x0.size) and np.all(np.isfinite(metric)):
        begin = x0
        grids = None if data.coarse is None else data.coarse()
        if grids is not None:
            at_start = None
            if data.first_evaluation is not None:
                with np.errstate(over="ignore", under="ignore", invalid="ignore", divide="ignore"):
                    at_start = data.first_evaluation(x0, fix_p)
            near = _on_grids(grids, at_start, x0, metric, (low + 1e-6, high - 1e-6), fix_p)
            if near is not None:
                begin, metric, value = near
                first[0] = False  # the row terms are those of x0: evaluate
                if value is not None:  # the wider grid agrees: no need for the rows
                    found = begin
        if found is None:
            settled = ascend(log_likelihood, begin, metric, low + 1e-6, high - 1e-6)
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
    if value is None:
        # the search ends where it evaluated last (the steps' end): no need to evaluate again
        value = last[0][1] if last and np.array_equal(last[0][0], x) else log_likelihood(x)[0]
    x, ll = _faster_first(x, fix_p), value
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
