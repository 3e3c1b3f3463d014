"""``log 2F1(1, b; c; z)`` and its derivatives, for the Pareto/NBD likelihood.

For ``c > b > 0`` and ``0 <= z < 1`` the Gauss series ``G = sum_n t_n``,
``t_{n+1} = t_n z (b+n)/(c+n)``, has positive terms whose ratios increase towards ``z``: ``G``
lies in ``[1, 1/(1-z)]`` (no overflow, whatever ``b`` and ``c``) and the tail after ``t_n`` is
below ``t_n z/(1-z)``. The series is summed in blocks of terms (vectorised over rows *and*
terms), each row leaving as soon as its tail bound is negligible; parameter derivatives come
from ``dt_n/db = t_n sum_{k<n} 1/(b+k)``, ``dt_n/dc = -t_n sum_{k<n} 1/(c+k)`` and
``dt_n/dz = n t_n/z``. Rows still unfinished after ``MAX_TERMS`` terms (only when ``z`` is
close to 1) get a geometric estimate of their remaining tail.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy.special import hyp2f1

from funnelkit.clv._data import unique_combinations

__all__ = ["MAX_TERMS", "Distinct", "log_hyp1", "table_products"]

MAX_TERMS = 2048
_TOL = 1e-16
_BLOCK_CELLS = 2**20
_DEDUPE_ROWS = 50_000
# scipy's hyp2f1 agrees with the series to ~1e-15 for z <= 0.5 (checked in the tests) and
# is much faster there; beyond that it can return NaN for large b, so the series takes over
_SCIPY_MAX_Z = 0.5
# the tables of _table: used where the distinct (b, c) times the distinct z are at most
# _TABLE_GAIN per row (each cell of the products costs a fraction of a term of the series
# row by row) and the tables hold at most _TABLE_CELLS numbers (z near 1 takes thousands of
# terms)
_TABLE_GAIN = 16
_TABLE_CELLS = 2**22


#: the distinct values of some rows: the row of the first of each (in ascending order) and
#: each row's number among them, for ``(b, c)`` and for ``z``
Distinct = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def log_hyp1(
    b: Any, c: Any, z: Any, *, gradient: bool = False, distinct: Distinct | None = None
) -> tuple[np.ndarray, np.ndarray | None]:
    """``log G(b, c, z)`` and, with ``gradient``, ``d log G / d(b, c, z)`` (shape ``(3, ...)``).

    ``distinct``: the rows' distinct ``(b, c)`` and ``z`` (:data:`Distinct`, of 1-D
    arguments), where the caller knows them from values it keeps (the frequencies and clocks
    of a fit's rows): the tables then need not find them again at every evaluation.
    """
    z = np.asarray(z, dtype=float)
    shape = z.shape
    zf = z.ravel()
    bf = np.broadcast_to(np.asarray(b, dtype=float), shape).ravel()
    cf = np.broadcast_to(np.asarray(c, dtype=float), shape).ravel()
    total = np.ones(zf.size)
    if not gradient:
        easy = zf <= _SCIPY_MAX_Z
        total[easy] = hyp2f1(1.0, bf[easy], cf[easy], zf[easy])
        hard = np.flatnonzero(~easy)
        if hard.size > _DEDUPE_ROWS:
            # scoring many customers: sum the slow series once per distinct (b, c, z)
            (ub, uc, uz), inverse = unique_combinations(bf[hard], cf[hard], zf[hard])
            total[hard] = _series(ub, uc, uz, gradient=False)[0][inverse]
        elif hard.size:
            total[hard] = _series(bf[hard], cf[hard], zf[hard], gradient=False)[0]
        return np.log(total).reshape(shape), None
    rows = np.flatnonzero(zf > 0)
    s_b, s_c, s_z = np.zeros(zf.size), np.zeros(zf.size), np.zeros(zf.size)
    if rows.size:
        known = distinct if rows.size == zf.size else None
        sums = _table(bf[rows], cf[rows], zf[rows], known)
        if sums is None:
            sums = _series(bf[rows], cf[rows], zf[rows], gradient=True)
        total[rows], s_b[rows], s_c[rows], s_z[rows] = sums
    with np.errstate(invalid="ignore", divide="ignore"):
        # at z = 0 the z-derivative of G is its first coefficient b/c
        d_z = np.where(zf > 0, s_z / np.where(zf > 0, zf, 1.0) / total, bf / cf)
    grad = np.stack([s_b / total, -s_c / total, d_z]).reshape((3, *shape))
    return np.log(total).reshape(shape), grad


def table_products(n_bc: int, n_z: int, n_rows: int, z_max: float) -> int | None:
    """Multiply-adds of :func:`_table`'s sums for ``n_rows`` rows with ``n_bc`` distinct
    ``(b, c)``, ``n_z`` distinct ``z`` and the largest ``z_max`` (in ``(0, 1)``); None where it
    declines the rows (more cells than the series row by row would sum, or tables too large).

    >>> table_products(50, 300, 10_000, 0.5)  # 56 terms
    3360000
    >>> table_products(5_000, 3_000, 10_000, 0.5) is None  # nearly every row distinct
    True
    """
    if not 0.0 < z_max < 1.0 or n_bc * n_z > _TABLE_GAIN * n_rows:
        return None
    n_terms = _table_terms(z_max) + 1
    if n_terms * (n_z + 4 * n_bc) > _TABLE_CELLS:
        return None
    return n_terms * n_z * 4 * n_bc


def _table_terms(z_max: float) -> int:
    """The terms :func:`_table` sums: ``z^(N+1) / (1 - z) <= _TOL`` at the largest ``z``."""
    return max(1, math.ceil(math.log(_TOL * (1.0 - z_max)) / math.log(z_max)))


def _table(
    b: np.ndarray, c: np.ndarray, z: np.ndarray, distinct: Distinct | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None:
    """The sums of :func:`_series` as matrix products, when rows share ``(b, c)`` and ``z``.

    ``t_n = z^n P_n`` with ``P_n = prod_(k<n) (b+k)/(c+k)``, so with ``B_n = sum_(k<n)
    1/(b+k)`` and ``C_n = sum_(k<n) 1/(c+k)`` the four sums are ``sum_n z^n P_n (1, B_n, C_n,
    n)``: a table of powers of the distinct ``z`` times coefficient tables of the distinct
    ``(b, c)``. In the Pareto/NBD likelihood ``(b, c)`` depend on the frequency only and
    ``z`` on the recency or age only, so day-level data have a few hundred of each. The
    series is cut after ``N`` terms with ``z^(N+1) / (1 - z) <= _TOL`` for the largest
    ``z`` (``t_N <= z^N`` since ``c > b``, and the tail after ``t_N`` is below
    ``t_N z/(1-z)`` while ``G >= 1``). ``None`` where :func:`table_products` declines
    (distinct values, or ``z`` so near 1 that the tables would be too large). ``distinct``
    gives the distinct ``(b, c)`` and ``z`` (see :func:`log_hyp1`).
    """
    z_max = float(z.max())
    if distinct is None:
        (ub, uc), i_bc = unique_combinations(b, c)
        uz, i_z = np.unique(z, return_inverse=True)
    else:
        first_bc, i_bc, first_z, i_z = distinct
        ub, uc, uz = b[first_bc], c[first_bc], z[first_z]
    if table_products(ub.size, uz.size, z.size, z_max) is None:
        return None
    n_terms = _table_terms(z_max)
    k = np.arange(n_terms, dtype=float)
    bk, ck = ub[:, None] + k, uc[:, None] + k
    coef = np.ones((ub.size, n_terms + 1))
    coef[:, 1:] = np.cumprod(bk / ck, axis=1)
    acc_b = np.zeros_like(coef)
    acc_c = np.zeros_like(coef)
    acc_b[:, 1:] = np.cumsum(1.0 / bk, axis=1)
    acc_c[:, 1:] = np.cumsum(1.0 / ck, axis=1)
    n = np.arange(n_terms + 1, dtype=float)
    # (terms, 4 x distinct (b, c)): the coefficients of the four sums side by side
    right = np.concatenate([coef, coef * acc_b, coef * acc_c, coef * n], axis=0).T
    with np.errstate(under="ignore"):  # high powers of a small z vanish, as they should
        powers = uz[:, None] ** n
    table = (powers @ right).reshape(uz.size, 4, ub.size)
    i_z, i_bc = i_z.ravel(), i_bc.ravel()
    return (
        table[i_z, 0, i_bc],
        table[i_z, 1, i_bc],
        table[i_z, 2, i_bc],
        table[i_z, 3, i_bc],
    )


def _series(
    b: np.ndarray, c: np.ndarray, z: np.ndarray, *, gradient: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Sum ``G`` (and the raw derivative sums) for rows with ``0 < z < 1``."""
    m = z.size
    out = [np.ones(m), np.zeros(m), np.zeros(m), np.zeros(m)]
    live = np.arange(m)
    # per live row: current term, running sums of 1/(b+k), 1/(c+k), and the partial sums
    state = np.zeros((7, m))
    state[0] = 1.0
    state[3] = 1.0
    bound = z / (1.0 - z)
    n, block = 0, 16
    while live.size:
        # rows x terms blocks stay below ~2**20 numbers, so memory does not grow with rows
        step = max(1, _BLOCK_CELLS // block)
        for lo in range(0, live.size, step):
            sl = slice(lo, lo + step)
            _block(b[sl], c[sl], z[sl], state[:, sl], n, block, gradient)
        n += block
        term, part_t = state[0], state[3]
        done = term * bound <= _TOL * part_t
        if n >= MAX_TERMS:
            _add_tail(b, c, z, state, n)
            done[:] = True
        if np.any(done):
            for row, dst in zip((3, 4, 5, 6), out, strict=True):
                dst[live[done]] = state[row, done]
            keep = ~done
            live, state = live[keep], state[:, keep]
            b, c, z, bound = b[keep], c[keep], z[keep], bound[keep]
        block = min(block * 4, 1024)
    return out[0], out[1], out[2], out[3]


def _block(
    b: np.ndarray, c: np.ndarray, z: np.ndarray, state: np.ndarray, n: int, block: int, grad: bool
) -> None:
    """Add terms ``n+1 .. n+block`` to ``state`` (a view: term, acc_b, acc_c, sums t/b/c/z)."""
    k = n + np.arange(block, dtype=float)
    bk, ck = b[:, None] + k, c[:, None] + k
    terms = state[0][:, None] * np.cumprod(z[:, None] * bk / ck, axis=1)
    state[3] += terms.sum(axis=1)
    if grad:
        run_b = state[1][:, None] + np.cumsum(1.0 / bk, axis=1)
        run_c = state[2][:, None] + np.cumsum(1.0 / ck, axis=1)
        state[4] += np.einsum("ij,ij->i", terms, run_b)
        state[5] += np.einsum("ij,ij->i", terms, run_c)
        state[6] += np.einsum("ij,j->i", terms, k + 1.0)
        state[1], state[2] = run_b[:, -1], run_c[:, -1]
    state[0] = terms[:, -1]


def _add_tail(b: np.ndarray, c: np.ndarray, z: np.ndarray, state: np.ndarray, n: int) -> None:
    """Geometric estimate of the remaining tail, with the current (lower-bound) ratio."""
    term, acc_b, acc_c = state[0], state[1], state[2]
    rho = z * (b + n) / (c + n)
    extent = rho / (1.0 - rho)
    tail = term * extent
    state[3] += tail
    # the running sums keep growing like log(b + n) over the tail's mean extent
    state[4] += (acc_b + np.log1p(extent / (b + n))) * tail
    state[5] += (acc_c + np.log1p(extent / (c + n))) * tail
    state[6] += term * (n * extent + rho / (1.0 - rho) ** 2)
