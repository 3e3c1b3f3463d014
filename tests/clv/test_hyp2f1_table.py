"""The table form of the Pareto/NBD hypergeometric sums against the row-by-row series."""

from __future__ import annotations

import numpy as np

from funnelkit.clv import ParetoNBDFitter
from funnelkit.clv._hyp2f1 import _series, _table, log_hyp1
from funnelkit.clv._pareto_rows import (
    _by_quadrature,
    _quadrature_log_likelihood,
    _series_is_poor,
)


def day_level(n: int, seed: int, alpha: float, beta: float) -> tuple[np.ndarray, ...]:
    """``(b, c, z)`` of the likelihood's pairs on integer frequencies and days."""
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 60, n).astype(float)
    y = rng.integers(0, 366, n).astype(float)
    x[:5] = [0.0, 1.0, 500.0, 3000.0, 20_000.0]
    r, s = 0.54, 0.53
    z = (alpha - beta) / (alpha + y)
    return r + x, r + s + x + 1.0, z


def test_table_sums_match_the_series() -> None:
    # the last two: z up to 0.9 and 0.95, hundreds of terms
    for alpha, beta in ((72.7, 66.8), (300.0, 60.0), (5.0, 1.0), (600.0, 60.0), (1200.0, 60.0)):
        b, c, z = day_level(20_000, seed=4, alpha=alpha, beta=beta)
        table = _table(b, c, z)
        assert table is not None
        for got, want in zip(table, _series(b, c, z, gradient=True), strict=True):
            assert float(np.max(np.abs(got - want) / np.maximum(np.abs(want), 1.0))) <= 1e-13


def test_gradient_path_uses_the_table_and_stays_exact() -> None:
    b, c, z = day_level(5_000, seed=9, alpha=80.0, beta=60.0)
    log_g, grad = log_hyp1(b, c, z, gradient=True)
    total, s_b, s_c, s_z = _series(b, c, z, gradient=True)
    assert grad is not None
    assert float(np.max(np.abs(log_g - np.log(total)))) <= 1e-14
    assert float(np.max(np.abs(grad[0] - s_b / total))) <= 1e-13
    assert float(np.max(np.abs(grad[1] + s_c / total))) <= 1e-13
    assert float(np.max(np.abs(grad[2] - s_z / z / total))) <= 1e-12


def test_table_declines_where_the_series_is_cheaper() -> None:
    rng = np.random.default_rng(2)
    # every z distinct (continuous clocks) and many frequencies: more cells than rows
    x = rng.integers(0, 400, 3000).astype(float)
    z = rng.random(3000) * 0.5
    assert _table(1.0 + x, 2.5 + x, z) is None
    # z next to 1 would need billions of terms
    assert _table(np.array([1.0, 2.0]), np.array([3.0, 4.0]), np.array([1 - 1e-9, 0.5])) is None


def test_pareto_likelihood_takes_the_tables_where_they_are_cheaper() -> None:
    # day-level clocks, alpha and beta more than 8 times apart: the series would be slow
    # row by row, but the tables sum it for every row at less than the quadrature's cost
    rng = np.random.default_rng(5)
    n = 20_000
    x = rng.poisson(2.0, n).astype(float)
    T = rng.integers(30, 366, n).astype(float)
    tx = np.where(x > 0, np.floor(T * rng.random(n)), 0.0)
    days = ParetoNBDFitter()._fit_data({"frequency": x, "recency": tx, "T": T}, time_unit="D")
    spread = rng.random(n) * 0.999
    instants = ParetoNBDFitter()._fit_data(
        {"frequency": x, "recency": tx * spread, "T": T + spread}, time_unit="D"
    )
    for ratio in (9.0, 20.0):
        for params in ([0.6, 10.0, 0.8, 10.0 * ratio], [0.6, 10.0 * ratio, 0.8, 10.0]):
            p = np.array(params)
            assert _series_is_poor(*p)
            assert not _by_quadrature(p, days)
            assert _by_quadrature(p, instants)  # every clock distinct: no tables
            got, grad = ParetoNBDFitter()._weighted_log_likelihood(p, days)
            want, want_grad = _quadrature_log_likelihood(p, days)
            assert abs(got - want) <= 1e-12 * abs(want)
            assert float(np.max(np.abs(grad - want_grad) / np.abs(want_grad))) <= 1e-10
    # far apart, thousands of terms: the quadrature is cheaper again
    assert _by_quadrature(np.array([0.6, 10.0, 0.8, 3000.0]), days)
