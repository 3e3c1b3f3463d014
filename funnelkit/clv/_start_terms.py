"""A refit's first evaluation from per-row terms found once (bootstrap samples).

Every bootstrap sample's refit starts at the full-data estimates, where the per-row terms
of the log-likelihood do not depend on the weights: found once on the rows prepared for all
samples, they give each sample's first evaluation as weighted sums over its rows.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from funnelkit.clv._data import FitData

__all__ = ["checked", "row_terms", "starting", "weighted_sums"]

Terms = tuple[np.ndarray, np.ndarray | None]


def row_terms(value: np.ndarray, grad: np.ndarray | None) -> np.ndarray | None:
    """Per-row log-likelihood and gradient stacked as one C-ordered array (None: no gradient)."""
    return None if grad is None else np.vstack([value, grad])


def weighted_sums(terms: np.ndarray, weights: np.ndarray) -> tuple[float, np.ndarray]:
    """The log-likelihood and gradient of ``weights`` from :func:`row_terms` of their rows.

    Elementwise products summed pairwise along each row, not BLAS products, whose result
    depends on how the arrays fall in memory: the same rows give the same sums wherever
    they are stored (a bootstrap sample's rows taken from prepared ones, or its summary).
    """
    # rows in C order: numpy sums a contiguous axis pairwise, a strided one in sequence
    sums = np.sum(np.ascontiguousarray(terms) * weights, axis=1)
    return float(sums[0]), sums[1:]


def checked(
    value: np.ndarray,
    grad: np.ndarray | None,
    own: Callable[[], tuple[float, np.ndarray | None]],
    data: FitData,
) -> Terms:
    """``(value, grad)``, the gradient None (the terms unusable) unless their weighted sums
    agree with ``own()``, the model's own sums, to 1e-10 of the sums of their magnitudes.

    A model may sum its likelihood in a form that keeps digits the per-row terms lose (near
    a limit, Gamma-Gamma's ``q`` and ``v`` grow without bound and the per-row terms cancel).
    """
    stacked = row_terms(value, grad)
    if stacked is None:
        return value, None
    with np.errstate(all="ignore"):
        total, gradient = own()
        if gradient is None:
            return value, None
        expected = np.concatenate(([total], np.asarray(gradient, dtype=float)))
        mine_total, mine_grad = weighted_sums(stacked, data.weights)
        mine = np.concatenate(([mine_total], mine_grad))
        size = np.abs(stacked) @ data.weights  # a scale for the tolerance only
        close = np.abs(mine - expected) <= 1e-10 * (size + 1.0)
    return value, grad if bool(np.all(close)) else None


def starting(
    loglik: Callable[[np.ndarray], tuple[float, np.ndarray | None]],
    data: FitData,
    terms: Callable[[np.ndarray, FitData], Terms],
    model: type,
) -> Callable[[np.ndarray], tuple[float, np.ndarray | None]]:
    """``loglik`` whose first evaluation comes from ``terms(params, rows)`` where they apply.

    Fit data that are some rows of a larger set prepared once (a bootstrap sample's rows,
    see :class:`funnelkit.lifecycle._rows.RowsOf`) offer ``weighted_terms(key, terms)``:
    the weighted sums of per-row terms that ``terms`` computes on all rows, once per
    ``key``; other fit data take the same sums on their own rows, so that a refit gives the
    same estimates whether its rows come prepared or as a summary.
    """
    weighted = getattr(data, "weighted_terms", None)
    if weighted is None:

        def weighted(key: str, found: Any) -> tuple[float, np.ndarray] | None:
            stacked = row_terms(*found(data))
            return None if stacked is None else weighted_sums(stacked, data.weights)

    calls = [0]

    def first(p: np.ndarray) -> tuple[float, np.ndarray | None]:
        calls[0] += 1
        if calls[0] == 1:
            key = model.__name__ + ":" + np.asarray(p, dtype=float).tobytes().hex()
            found = weighted(key, lambda rows: terms(p, rows))
            if found is not None and math.isfinite(found[0]) and np.all(np.isfinite(found[1])):
                return found
        return loglik(p)

    return first
