"""Helpers of the customer-level uncertainty calls: settings, parameter draws, the
count bounds of a mixture pmf and the count grids they read, distinct rows and the
customer ids of a table.

:mod:`funnelkit.clv.uncertainty` holds the calls themselves and re-exports the public
helpers (``customer_ids``, ``draw_parameters``, ``interval_level``, ``resample_count``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any, TypeVar

import numpy as np

from funnelkit.clv._data import as_rfm, check_setting, repeated_combinations
from funnelkit.clv._mixing import (
    BetaDropout,
    DropoutMixing,
    GammaRate,
    RateMixing,
    TwoPointDropout,
)
from funnelkit.clv._optimise import LOG_BOUND, CoefficientSpace
from funnelkit.exceptions import FunnelkitError
from funnelkit.rfm import RFM

__all__ = [
    "alive_from_odds",
    "count_bounds",
    "customer_ids",
    "distinct_rows",
    "draw_parameters",
    "dropout_grid",
    "expanded",
    "interval_level",
    "log_count_grid",
    "resample_count",
    "running",
    "with_dead",
    "with_dead_grid",
]

Params = Mapping[str, Any]
#: rows of the (counts x customers) pmf grid evaluated at once in prediction_interval
_GRID_CELLS = 400_000
#: the largest purchase count an interval may reach
_MAX_COUNT = 1 << 16
#: most rows in one chunk of that grid
_CHUNK_ROWS = 4096
#: most customer-draw columns and cells in one call when draws share a call: small enough
#: for the cache (a Pareto/NBD column carries 64 quadrature nodes)
_BATCH_COLUMNS = 1024
_BATCH_CELLS = 100_000
#: standard deviations of a count (about sqrt(mean)) above the mean in a first grid; a
#: row whose grid falls short goes again on a grid twice as long
_SPREAD = 3.0


def resample_count(n_resamples: Any, n_draws: Any = None) -> int:
    """The number of parameter draws: ``n_resamples``, or its alias ``n_draws`` if given."""
    name = "n_resamples"
    if n_draws is not None:
        name, n_resamples = "n_draws", n_draws
    if isinstance(n_resamples, bool) or not isinstance(n_resamples, int | np.integer):
        raise FunnelkitError(f"{name} must be an integer >= 1. Got {n_resamples!r} instead.")
    if n_resamples < 1:
        raise FunnelkitError(f"{name} must be an integer >= 1. Got {n_resamples!r} instead.")
    return int(n_resamples)


def interval_level(conf_level: Any, owner: str) -> float:
    """``conf_level`` checked: a number in ``(0, 1)``."""
    check_setting(owner, "conf_level", conf_level, "in (0, 1)", lambda v: 0 < v < 1)
    return float(conf_level)


def draw_parameters(
    params: Mapping[str, float],
    covariance: Sequence[Sequence[float]],
    probabilities: Collection[str],
    n_resamples: int,
    seed: int | np.random.Generator | None,
    *,
    n_free: int = 0,
) -> list[dict[str, float]]:
    """``n_resamples`` parameter sets drawn from the fit's asymptotic normal distribution.

    The draws are normal on the fit's own scale (``log`` of positive parameters, ``logit``
    of the names in ``probabilities``) with the natural-scale ``covariance`` mapped there by
    the Jacobian, so every draw is a valid parameter set. The last ``n_free`` entries of
    ``params`` (covariate coefficients) are unconstrained and drawn as they are.
    """
    names = tuple(params)
    kept = tuple(p for p in probabilities if p in params)
    space = CoefficientSpace(names, kept, n_free=n_free)
    values = np.array([params[k] for k in names], dtype=float)
    jac = np.asarray(space.jacobian(values), dtype=float)
    cov = np.asarray(covariance, dtype=float) / (jac[:, None] * jac[None, :])
    # a symmetric square root that tolerates rounding below zero in tiny eigenvalues
    eigval, eigvec = np.linalg.eigh(0.5 * (cov + cov.T))
    root = eigvec * np.sqrt(np.clip(eigval, 0.0, None))
    rng = np.random.default_rng(seed)
    theta = space.to_theta(values) + rng.standard_normal((n_resamples, len(names))) @ root.T
    drawn = space.to_params(np.clip(theta, -LOG_BOUND, LOG_BOUND))
    return [dict(zip(names, (float(v) for v in row), strict=True)) for row in drawn]


def count_bounds(
    pmf: Callable[[int, np.ndarray, list[dict[str, Any]]], np.ndarray],
    draws: list[dict[str, Any]],
    means: np.ndarray,
    level: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Bounds of each row's draw-averaged pmf and their probability.

    ``pmf(width, rows, batch)`` is the sum over the draws of ``batch`` of the pmf grids of
    ``rows`` (counts ``0 .. width - 1``, shape ``(width, rows.size)``). ``lower`` is the
    smallest ``n`` with ``F(n) >= (1 - level) / 2``, ``upper`` the smallest count from which
    ``[lower, upper]`` holds at least ``level``: the tail a lower bound of 0 cannot use goes
    to the upper bound, which keeps intervals of customers with a likely zero as short as
    their distribution allows. Rows go in chunks of similar means, so each chunk's count
    grid is short (a row whose grid falls short goes again on one twice as long), and
    draws go in batches of ``_BATCH_COLUMNS`` columns at most, so the fixed cost of a call
    is shared by many draws.
    """
    low_q = (1.0 - level) / 2.0
    lower = np.zeros(means.shape[0])
    upper = np.zeros(means.shape[0])
    coverage = np.zeros(means.shape[0])
    # a first grid per row: the mean plus a few standard deviations of a count, rounded up
    # to a quarter of its power of two (at least 16) so rows share few grid widths while a
    # grid holds at most a quarter more counts than asked
    finite = np.where(np.isfinite(means), np.clip(means, 0.0, _MAX_COUNT), 0.0)
    need = np.maximum(np.ceil(finite + _SPREAD * np.sqrt(finite + 1.0) + 8.0), 16.0)
    quarter = 2 ** np.maximum(np.floor(np.log2(need)) - 2.0, 2.0)
    widths = (np.ceil(need / quarter) * quarter).astype(int)
    queue = []
    for width in np.unique(widths):
        rows = np.flatnonzero(widths == width)
        step = max(1, min(_CHUNK_ROWS, _GRID_CELLS // int(width)))
        queue += [(int(width), rows[i : i + step]) for i in range(0, rows.size, step)]
    while queue:
        width, idx = queue.pop()
        total = np.zeros((width, idx.size))
        batch = max(1, min(_BATCH_CELLS // (width * idx.size), _BATCH_COLUMNS // idx.size))
        for start in range(0, len(draws), batch):
            total += pmf(width, idx, draws[start : start + batch])
        total /= len(draws)
        cdf = running(total)
        low = np.sum(cdf < low_q, axis=0)
        below = np.where(low > 0, cdf[np.maximum(low - 1, 0), np.arange(idx.size)], 0.0)
        # a cdf that is complete may end a few ulps below 1 (rounding)
        done = cdf[-1] >= np.minimum(below + level, 1.0 - 1e-9)
        if not done.all():
            if width >= _MAX_COUNT:
                raise FunnelkitError(
                    f"The purchase counts of {int(np.sum(cdf[-1] < below + level))} "
                    f"customer(s) reach beyond {_MAX_COUNT:,} in this horizon, too many to "
                    "list their distribution: check that the horizon is in the model's time "
                    "unit (weeks, not days, for a model fitted in weeks)."
                )
            # only the rows whose grid fell short go again, on a grid twice as long
            queue.append((width * 2, idx[~done]))
        cdf, low, below, idx = cdf[:, done], low[done], below[done], idx[done]
        high = np.minimum(np.sum(cdf - below < level - 1e-12, axis=0), width - 1)
        lower[idx], upper[idx] = low, high
        coverage[idx] = np.minimum(cdf[high, np.arange(idx.size)] - below, 1.0)
    return lower, upper, coverage


def running(values: np.ndarray, *, product: bool = False) -> np.ndarray:
    """Running sums (or products) down the first axis, in place: the same numbers as
    ``np.cumsum(values, axis=0)``, several times faster for the short, wide count grids
    (one vector operation per count instead of a strided accumulation)."""
    step = np.multiply if product else np.add
    for i in range(1, values.shape[0]):
        step(values[i], values[i - 1], out=values[i])
    return values


def log_count_grid(rate: RateMixing, width: int, t: np.ndarray) -> np.ndarray:
    """``log P(N(t) = n)`` for ``n = 0 .. width - 1``, shape ``(width,) + t.shape``.

    From ``log P(N(t) = 0)`` (the rate's Laplace transform) by the ratio of consecutive
    counts, ``(r + n) / (n + 1) * t / (alpha + t)`` for a gamma rate and ``lam t / (n + 1)``
    for a common one: one logarithm per cell instead of the gamma functions of
    ``log_count_pmf``, and no underflow where ``P(N(t) = 0)`` is below the smallest double.
    """
    steps = np.arange(width - 1, dtype=float).reshape(-1, *(1,) * t.ndim)
    with np.errstate(divide="ignore", invalid="ignore"):
        if isinstance(rate, GammaRate):
            shape, scale = np.asarray(rate.shape), np.asarray(rate.rate)
            ratio = np.log(np.broadcast_to(shape, t.shape) + steps)
            ratio += np.log(t / (scale + t))
        else:
            ratio = np.broadcast_to(np.log(rate.lam * t), (width - 1, *t.shape)).copy()
        ratio -= np.log1p(steps)
    out = np.empty((width, *t.shape))
    out[0] = rate.log_laplace(t)
    out[1:] = ratio
    return running(out)


def dropout_grid(
    dropout: DropoutMixing, width: int, shape: tuple[int, ...]
) -> tuple[np.ndarray, np.ndarray]:
    """``E[(1-p)^n]`` and ``E[p (1-p)^(n-1)]`` (0 at ``n = 0``) for ``n = 0 .. width - 1``.

    Products of the ratios ``E[(1-p)^(m+1)] / E[(1-p)^m] = (b + m) / (a + b + m)`` and
    ``E[p (1-p)^m] / E[(1-p)^m] = a / (a + b + m)`` (``1 - p`` and ``p`` for a common
    dropout probability), which stay accurate for the concentrated betas near that limit; a
    two-point dropout's ratios are ``1 - pi`` and ``pi`` at the first chance, 1 and 0 after.
    """
    steps = np.arange(width - 1, dtype=float).reshape(-1, *(1,) * len(shape))
    if isinstance(dropout, TwoPointDropout):
        # p = 1 for a share pi (gone at the first chance), p = 0 for the rest
        first = steps == 0
        hazard = np.where(first, dropout.pi, 0.0)
        keep = np.where(first, 1.0 - np.asarray(dropout.pi), 1.0)
    elif isinstance(dropout, BetaDropout):
        a, b = np.asarray(dropout.a), np.asarray(dropout.b)
        keep = (b + steps) / (a + b + steps)
        hazard = a / (a + b + steps)
    else:
        hazard = np.asarray(dropout.p, dtype=float)
        keep = 1.0 - hazard
    survive = np.ones((width, *shape))
    survive[1:] = keep
    running(survive, product=True)
    drop = np.zeros((width, *shape))
    drop[1:] = survive[:-1] * hazard
    return survive, drop


def distinct_rows(
    columns: Params, extra: list[np.ndarray], design: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray], np.ndarray | None]:
    """Distinct rows of ``(frequency, recency, T, *extra, *design)``: the rows, the map from
    customers to them, their history columns and their design rows (``None`` without)."""
    history = [np.asarray(columns[k], dtype=float) for k in ("frequency", "recency", "T")]
    parts = [*history, *(np.asarray(c, dtype=float) for c in extra)]
    if design is not None:
        parts.extend(np.asarray(design, dtype=float).T)
    first, inverse = repeated_combinations(*parts)
    unique = np.stack([c[first] for c in parts], axis=1)
    rows = {k: unique[:, i] for i, k in enumerate(("frequency", "recency", "T"))}
    start = 3 + len(extra)
    patterns = None if design is None else unique[:, start:]
    return unique, inverse, rows, patterns


def customer_ids(data: Any, unit: Any = None) -> np.ndarray | None:
    """The customer ids the data carry, in row order (``None`` when they carry none)."""
    if data is None:
        return None
    if isinstance(data, RFM):
        return np.asarray(data.customer_ids)
    if isinstance(data, Mapping):
        ids = data.get("customer_id")
        return None if ids is None else np.asarray(ids)
    # a pandas Index has no truth value: look the attribute up rather than `or` them
    columns = data.columns if hasattr(data, "columns") else getattr(data, "column_names", ())
    if "customer_id" not in list(columns):
        return None
    return np.asarray(as_rfm(data, None, unit).customer_ids)


# ---------------------------------------------------------------------- every model's pmf
M = TypeVar("M")


def expanded(mixing: M) -> M:
    """The mixing with a trailing axis on every parameter (per-node broadcasting)."""
    values = [
        np.asarray(getattr(mixing, f.name), dtype=float)[..., None]
        for f in dataclasses.fields(mixing)  # type: ignore[arg-type]
    ]
    return type(mixing)(*values)


def alive_from_odds(log_odds: np.ndarray) -> np.ndarray:
    """P(alive) from the log odds of having dropped out."""
    # exp(-log(1 + e^d)); certain death (d in the thousands) underflows to 0, as it should
    with np.errstate(under="ignore", over="ignore"):
        return np.asarray(np.exp(-np.logaddexp(0.0, log_odds)))


def with_dead(alive: np.ndarray, if_alive: np.ndarray, n: np.ndarray) -> np.ndarray:
    """``(1 - P(alive)) [n = 0] + P(alive) P(n | alive)``, clipped to ``[0, 1]`` (rounding)."""
    with np.errstate(under="ignore"):  # a tiny P(alive) times a tiny P(n): 0, rightly
        value = alive * if_alive + (1.0 - alive) * (n == 0)
    return np.asarray(np.clip(value, 0.0, 1.0))


def with_dead_grid(alive: np.ndarray, if_alive: np.ndarray) -> np.ndarray:
    """:func:`with_dead` for a grid of the counts ``0, 1, ...`` (first axis), in place."""
    with np.errstate(under="ignore"):  # as in with_dead
        if_alive *= alive
    if_alive[0] += 1.0 - alive
    return np.clip(if_alive, 0.0, 1.0, out=if_alive)
