"""Discounted expected purchases over a horizon of periods, with little work per customer.

The lifetime value of a customer is ``sum_k (1 + rate)^-t_k (E[X(t_k)] - E[X(t_(k-1))])``
over period ends ``t_1 < ... < t_K`` (one model time unit step each, the last one possibly
shorter). Taken literally that is ``K`` evaluations of the model's special function per
customer. Two facts make it far cheaper:

* For BG/NBD, MBG/NBD and Pareto/NBD the expected purchases factor as
  ``E[X(t) | x, t_x, T] = P(alive | x, t_x, T) * m_x(T, t)``: the purchases of a customer
  alive at ``T`` depend on the history only through the frequency ``x`` and the age ``T``
  (the posterior of the purchase rate is ``Gamma(r + x, alpha + T)``, that of the dropout
  process conditions on ``x`` and on survival to ``T``; Fader, Hardie & Lee 2005, eq. 10;
  Schmittlein et al. 1987). The models give ``m_x`` as ``expected_purchases_if_alive``.
  So the discounted sum is ``P(alive) * D_x(T)`` with
  ``D_x(T) = sum_k (1 + rate)^-t_k (m_x(T, t_k) - m_x(T, t_(k-1)))`` and P(alive) is
  computed once per customer.
* ``D_x`` and ``m_x(., t_K)`` are analytic functions of ``T`` on ``[0, inf)``: their only
  singularities lie at negative ages (``T = -alpha - t_k`` for BG/NBD, ``T = -beta - t_k``
  and ``-alpha`` for Pareto/NBD). On the range of ages of the customers with frequency
  ``x`` they are therefore represented to rounding error by Chebyshev interpolants
  (Trefethen 2013, *Approximation Theory and Approximation Practice*, ch. 8: the
  coefficients decay geometrically, at a rate set by the distance to the nearest
  singularity). Each interpolant is built from ``_NODES`` direct evaluations on a piece of
  the age range, and accepted only when its last coefficients are below ``_TOL`` times the
  smallest value it interpolates; otherwise the piece is halved, and after ``_MAX_DEPTH``
  halvings its customers are evaluated directly. Frequencies with few customers are always
  evaluated directly. Evaluating an interpolant (Clenshaw's recurrence) costs a few dozen
  multiply-adds per customer, instead of ``K`` special functions.

Models without the factorisation are asked for all period ends of a customer in one call (a
column of horizons), so whatever does not depend on the horizon is computed once.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from funnelkit.exceptions import FunnelkitError
from funnelkit.rfm import RFM

__all__ = ["discounted_and_total"]

# horizon-by-row cells evaluated at once (a few MiB per intermediate array)
_GRID_CELLS = 2**20
#: Chebyshev nodes per piece of an age range
_NODES = 16
#: accepted size of the last coefficients, relative to the smallest interpolated value
_TOL = 1e-13
#: coefficients below this, relative to the smallest value, are dropped after the fit
_CHOP = 1e-16
#: most halvings of an age range before its customers are evaluated directly
_MAX_DEPTH = 16
#: fewest customers of one frequency for which an interpolant pays for its construction
_INTERPOLATE_FROM = 512

_THETA = np.pi * (np.arange(_NODES) + 0.5) / _NODES
_CHEB_NODES = np.cos(_THETA)
# values at the nodes -> Chebyshev coefficients (discrete cosine transform of type II)
_TO_COEFFS = (2.0 / _NODES) * np.cos(np.outer(np.arange(_NODES), _THETA))
_TO_COEFFS[0] /= 2.0

Values = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]


def discounted_and_total(
    model: Any,
    rows: Mapping[str, np.ndarray],
    horizon: float,
    step: float,
    rate: float,
    chunk_size: int,
    *,
    n_jobs: int | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Discounted expected purchases per period and expected purchases over the horizon.

    ``rows`` holds customer rows (``frequency``, ``recency``, ``T``, ``unit``). Period ``k``
    ends at ``t_k = min(k, horizon)`` periods of ``step`` model units, and its purchases
    ``E[X(t_k)] - E[X(t_(k-1))]`` are discounted by ``(1 + rate)^-t_k``; the second result is
    ``E[X(t_K)]``, the third ``P(alive)`` of each row when the model's purchases factor
    through it (``None`` otherwise). See the module notes for how little of this is
    evaluated per customer. Pieces of at most ``chunk_size`` rows are spread over ``n_jobs``
    threads (``None`` = the available cores); numpy and scipy release the GIL in their loops.
    """
    h = float(horizon)
    ends = np.minimum(np.arange(1, math.ceil(h) + 1, dtype=float), h)
    discount = (1.0 + rate) ** -ends
    times = ends * step
    n = rows["T"].shape[0]
    if_alive = getattr(model, "expected_purchases_if_alive", None)
    if callable(if_alive):
        unit = str(rows["unit"])

        def per_age(x: np.ndarray, T: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            grid = np.asarray(if_alive(times[:, None], _customers(x, T, T, unit)), dtype=float)
            return _discount_grid(grid, discount), grid[-1]

        alive = np.empty(n)

        def alive_of(start: int, stop: int) -> None:
            part = _rows_rfm(rows, start, stop)
            alive[start:stop] = np.asarray(model.probability_alive(part), dtype=float)

        _in_pieces(alive_of, n, min(int(chunk_size), _GRID_CELLS), n_jobs)
        value, total = _by_frequency(rows["frequency"], rows["T"], per_age, times.size, n_jobs)
        with np.errstate(under="ignore"):  # certain death: no purchases, no value
            return alive * value, alive * total, alive

    value, total = np.empty(n), np.empty(n)

    def run(start: int, stop: int) -> None:
        part = _rows_rfm(rows, start, stop)
        grid = _cumulative(model, times, part)
        value[start:stop] = _discount_grid(grid, discount)
        total[start:stop] = grid[-1]

    _in_pieces(run, n, max(1, min(int(chunk_size), _GRID_CELLS // times.size)), n_jobs)
    return value, total, None


def _discount_grid(grid: np.ndarray, discount: np.ndarray) -> np.ndarray:
    """``sum_k discount_k (grid_k - grid_(k-1))`` for cumulative values ``grid`` (K, n)."""
    with np.errstate(under="ignore"):  # vanishing purchases discount to 0
        per_period = np.diff(grid, axis=0, prepend=0.0)
        return np.asarray(np.einsum("k,kj->j", discount, per_period))


def _by_frequency(
    x: np.ndarray, T: np.ndarray, per_age: Values, n_times: int, n_jobs: int | None
) -> tuple[np.ndarray, np.ndarray]:
    """``per_age`` of every row, by interpolation in ``T`` within each frequency."""
    n = x.shape[0]
    value, total = np.empty(n), np.empty(n)
    # frequencies are counts: as 16-bit integers numpy sorts them by radix, in one pass
    small = x.size and float(x.max()) < 2**16 and np.array_equal(x, np.floor(x))
    order = np.argsort(x.astype(np.uint16) if small else x, kind="stable")
    sorted_x = x[order]
    cuts = np.flatnonzero(sorted_x[1:] != sorted_x[:-1]) + 1
    direct: list[np.ndarray] = []
    for members in np.split(order, cuts):
        ages = T[members]
        done = False
        if members.size >= _INTERPOLATE_FROM:
            done = _interpolate(_at_frequency(per_age, x[members[0]]), ages, members, value, total)
        if not done:
            direct.append(members)
    if direct:
        rest = np.concatenate(direct)
        piece = max(1, _GRID_CELLS // n_times)

        def run(start: int, stop: int) -> None:
            idx = rest[start:stop]
            value[idx], total[idx] = per_age(x[idx], T[idx])

        _in_pieces(run, rest.size, piece, n_jobs)
    return value, total


def _at_frequency(
    per_age: Values, frequency: float
) -> Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """``per_age`` as a function of the age alone, at one frequency."""

    def at(ages: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return per_age(np.full(ages.shape, frequency), ages)

    return at


def _interpolate(
    fn: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]],
    ages: np.ndarray,
    members: np.ndarray,
    value: np.ndarray,
    total: np.ndarray,
) -> bool:
    """Fill ``value`` and ``total`` at ``members`` from Chebyshev interpolants of ``fn`` over
    ``ages``; ``False`` (nothing written) when some piece does not converge."""
    lo, hi = float(ages.min()), float(ages.max())
    if not hi > lo:
        return False
    pieces: list[tuple[float, float, np.ndarray]] = []
    stack = [(lo, hi, 0)]
    while stack:
        a, b, depth = stack.pop()
        coeffs = _fit(fn, a, b)
        if coeffs is not None:
            pieces.append((a, b, coeffs))
        elif depth < _MAX_DEPTH:
            mid = 0.5 * (a + b)
            stack += [(a, mid, depth + 1), (mid, b, depth + 1)]
        else:
            return False
    pieces.sort(key=lambda p: p[0])
    bounds = np.array([p[0] for p in pieces[1:]])
    which = np.searchsorted(bounds, ages, side="right")
    # customers in piece order: a radix sort of the small piece numbers, then slices
    order = np.argsort(which.astype(np.uint16), kind="stable")
    stops = np.cumsum(np.bincount(which, minlength=len(pieces)))
    for (a, b, coeffs), stop, count in zip(pieces, stops, np.diff(stops, prepend=0), strict=True):
        at = order[stop - count : stop]
        y = (2.0 * ages[at] - (a + b)) / (b - a)
        out = _clenshaw(coeffs, y)
        value[members[at]], total[members[at]] = out[0], out[1]
    return True


def _fit(
    fn: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]], a: float, b: float
) -> np.ndarray | None:
    """Chebyshev coefficients ``(2, _NODES)`` of ``fn`` on ``[a, b]``, or ``None`` when the
    last ones are not negligible (or a value is not finite and positive)."""
    ages = 0.5 * (a + b) + 0.5 * (b - a) * _CHEB_NODES
    values = np.stack(fn(ages))
    if not np.all(np.isfinite(values)) or not np.all(values > 0):
        return None
    coeffs = values @ _TO_COEFFS.T
    floor = values.min(axis=1)[:, None]
    if np.any(np.abs(coeffs[:, -4:]) > _TOL * floor):
        return None
    # the trailing coefficients below rounding are dropped: fewer steps per customer
    needed = np.flatnonzero(np.any(np.abs(coeffs) > _CHOP * floor, axis=0))
    return coeffs[:, : int(needed[-1]) + 1 if needed.size else 1]


def _clenshaw(coeffs: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``sum_k c_k T_k(y)`` for each row of ``coeffs`` (Clenshaw's recurrence)."""
    two_y = 2.0 * y
    # three buffers rotated in place: no new arrays per step
    b1, b2, nxt = (np.zeros((coeffs.shape[0], y.size)) for _ in range(3))
    for k in range(coeffs.shape[1] - 1, 0, -1):
        np.multiply(two_y, b1, out=nxt)
        nxt -= b2
        nxt += coeffs[:, k : k + 1]
        b1, b2, nxt = nxt, b1, b2
    return np.asarray(y * b1 - b2 + coeffs[:, :1])


def _cumulative(model: Any, times: np.ndarray, part: RFM) -> np.ndarray:
    """``E[X(t)]`` for every ``t`` of ``times`` (rows) and customer of ``part`` (columns)."""
    grid = np.asarray(model.expected_purchases(times[:, None], part), dtype=float)
    if grid.shape == (times.size, len(part)):
        return grid
    # a model without horizon grids: one call per horizon
    return np.stack(
        [np.asarray(model.expected_purchases(t, part), dtype=float) for t in times]
    ).reshape(times.size, len(part))


def _in_pieces(fn: Callable[[int, int], None], n: int, piece: int, n_jobs: int | None) -> None:
    """``fn(start, stop)`` over ``[0, n)`` in pieces, on up to ``n_jobs`` threads."""
    starts = range(0, n, piece)
    workers = _workers(n_jobs, len(starts))
    if workers == 1:
        for start in starts:
            fn(start, min(start + piece, n))
        return
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=workers) as pool:
        # list() re-raises the first error of any piece
        list(pool.map(lambda start: fn(start, min(start + piece, n)), starts))


def _workers(n_jobs: int | None, pieces: int) -> int:
    """Threads to use: ``n_jobs`` (``None`` = the available cores), at most one a piece."""
    if n_jobs is None:
        try:
            wanted = len(os.sched_getaffinity(0))
        except AttributeError:  # pragma: no cover - not on Linux
            wanted = os.cpu_count() or 1
    else:
        wanted = int(n_jobs)
        if wanted < 1:
            raise FunnelkitError(f"n_jobs must be >= 1 or None (all cores); got {n_jobs!r}.")
    return max(1, min(wanted, pieces))


def _customers(x: np.ndarray, tx: np.ndarray, T: np.ndarray, unit: str) -> RFM:
    return RFM(customer_ids=np.arange(x.size), frequency=x, recency=tx, T=T, time_unit=unit)


def _rows_rfm(rows: Mapping[str, np.ndarray], start: int, stop: int) -> RFM:
    return RFM(
        customer_ids=np.arange(start, stop),
        frequency=rows["frequency"][start:stop],
        recency=rows["recency"][start:stop],
        T=rows["T"][start:stop],
        time_unit=str(rows["unit"]),
    )
