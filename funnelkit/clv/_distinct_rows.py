"""Valuing customers on their distinct ``(frequency, recency, T)`` rows.

A purchase model's predictions depend on nothing but these three numbers, and a large
customer base repeats them a lot: each distinct row is evaluated once, in chunks of at most
``chunk_size`` rows, and the values are spread back to the customers. Memory stays linear in
the number of customers.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from funnelkit.clv._data import distinct_combinations
from funnelkit.clv._discounting import _rows_rfm, discounted_and_total
from funnelkit.clv._value_settings import check_horizon, check_rate, unit_step
from funnelkit.exceptions import FunnelkitError
from funnelkit.rfm import RFM
from funnelkit.units import TimeUnitLike

__all__ = ["CHUNK", "discounted_purchases", "discounted_rows", "over_chunks", "unique_rows"]

#: default largest number of distinct rows evaluated at once
CHUNK = 1_000_000


def discounted_purchases(
    model: Any,
    rfm: RFM,
    horizon: float,
    time_unit: TimeUnitLike | None,
    discount_rate: float,
    chunk_size: int,
    *,
    month: str | None = None,
    n_jobs: int | None = None,
) -> np.ndarray:
    """Discounted expected purchases over the horizon for each customer of ``rfm``."""
    rows, inverse = unique_rows(rfm)
    value, _, _ = discounted_rows(
        model, rows, horizon, time_unit, discount_rate, chunk_size, month=month, n_jobs=n_jobs
    )
    return value[inverse]


def discounted_rows(
    model: Any,
    rows: Mapping[str, np.ndarray],
    horizon: float,
    time_unit: TimeUnitLike | None,
    discount_rate: float,
    chunk_size: int = CHUNK,
    *,
    month: str | None = None,
    n_jobs: int | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Checked settings, then :func:`discounted_and_total` of distinct rows in ``time_unit``
    periods (months of ``month`` when given)."""
    h = check_horizon(horizon, time_unit)
    if int(chunk_size) < 1:
        raise FunnelkitError(f"chunk_size must be >= 1; got {chunk_size!r}.")
    rate = check_rate(discount_rate)
    step = unit_step(model, time_unit, month)
    return discounted_and_total(model, rows, h, step, rate, chunk_size, n_jobs=n_jobs)


def unique_rows(rfm: RFM) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Distinct ``(frequency, recency, T)`` rows and the map from customers to them."""
    first, inverse = distinct_combinations(rfm.frequency, rfm.recency, rfm.T)
    rows = {
        "frequency": rfm.frequency[first],
        "recency": rfm.recency[first],
        "T": rfm.T[first],
        "unit": np.asarray(rfm.time_unit.value),
    }
    return rows, inverse


def over_chunks(
    rows: Mapping[str, np.ndarray], chunk_size: int, fn: Callable[[RFM], Any]
) -> np.ndarray:
    """``fn`` of the distinct ``rows``, evaluated ``chunk_size`` rows at a time."""
    if int(chunk_size) < 1:
        raise FunnelkitError(f"chunk_size must be >= 1; got {chunk_size!r}.")
    n = rows["T"].shape[0]
    out = np.empty(n)
    for start in range(0, n, int(chunk_size)):
        stop = min(start + int(chunk_size), n)
        out[start:stop] = fn(_rows_rfm(rows, start, stop))
    return out
