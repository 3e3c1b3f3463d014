"""From a fit to its results: the value grid, the seed, the stage values and their intervals."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from funnelkit.lifecycle._bootstrap import MIN_REPLICATES, ReplicateFailures, estimate
from funnelkit.lifecycle._data import CustomerTable
from funnelkit.lifecycle.results import StageValue
from funnelkit.lifecycle.values import ValueGrid
from funnelkit.units import TimeUnit, TimeUnitLike

__all__ = ["draw_seed", "interval_method", "stage_value_results", "value_grid"]


def value_grid(
    horizon: float, time_unit: TimeUnitLike, period: TimeUnitLike, discount_rate: float, n_grid: int
) -> ValueGrid:
    """The horizon and discount of the settings in model time (``period``)."""
    per_unit = TimeUnit.parse(time_unit).days / TimeUnit.parse(period).days
    return ValueGrid(
        horizon=float(horizon) * per_unit,
        delta=math.log1p(float(discount_rate)) / per_unit,
        n_grid=int(n_grid),
    )


def interval_method(failures: ReplicateFailures, n_ok: int) -> str:
    if failures.too_many:
        return failures.interval_method()
    if n_ok >= MIN_REPLICATES:
        return f"percentile bootstrap over customers ({n_ok} samples)"
    if not failures.total:
        return "none (no bootstrap)"
    fitted = f", {n_ok} fitted" if n_ok < failures.total else ""
    return (
        f"none ({failures.total} bootstrap samples drawn{fitted}; an interval needs at "
        f"least {MIN_REPLICATES} fitted)"
    )


def stage_value_results(
    table: CustomerTable,
    point: np.ndarray,
    boot_values: np.ndarray,
    buyers: np.ndarray,
    boot_buyers: np.ndarray,
    level: float,
) -> tuple[dict[str, StageValue], dict[str, Any]]:
    stages = {}
    for k, name in enumerate(table.stage_names):
        est = estimate(float(point[k]), boot_values[:, k], level)
        pre = table.pre.get(name)
        post = table.post.get(name)
        n_pre = 0 if pre is None else int(pre.customers.size)
        n_post = 0 if post is None else int(post.customers.size)
        n = n_pre + n_post
        stages[name] = StageValue(
            stage=name,
            value=est.value,
            ci=est.ci,
            std_error=est.std_error,
            n_entrants=n,
            share_bought_before=None if n == 0 else n_post / n,
        )
    buyer_values = {
        g: estimate(float(buyers[i]), boot_buyers[:, i], level)
        for i, g in enumerate(table.group_names)
    }
    return stages, buyer_values


def draw_seed(seed: int | None) -> int:
    # A drawn seed is kept so that a run without one can still be repeated exactly.
    if seed is None:
        return int(np.random.SeedSequence().entropy % 2**32)  # type: ignore[operator]
    return int(seed)
