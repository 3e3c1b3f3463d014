"""The count grids behind prediction_interval: fast paths that equal the per-count pmf."""

from __future__ import annotations

import json
import math
from decimal import Decimal, getcontext

import numpy as np
import pytest

from funnelkit.clv import BetaGeoFitter, ModifiedBetaGeoFitter, ParetoNBDFitter, conditional as cond
from funnelkit.clv._mixing import (
    BetaDropout,
    CommonDropout,
    CommonLifetime,
    CommonRate,
    GammaLifetime,
    GammaRate,
    TwoPointDropout,
)
from funnelkit.datasets.btyd import simulate_bgnbd, simulate_mbgnbd, simulate_pareto_nbd

WIDTH = 300
#: busy buyers, about 40 purchases each in 52 weeks
BUSY = {
    "bgnbd": (BetaGeoFitter, simulate_bgnbd, {"r": 2.0, "alpha": 2.0, "a": 0.3, "b": 30.0}),
    "mbgnbd": (
        ModifiedBetaGeoFitter,
        simulate_mbgnbd,
        {"r": 2.0, "alpha": 2.0, "a": 0.3, "b": 30.0},
    ),
    "pareto": (
        ParetoNBDFitter,
        simulate_pareto_nbd,
        {"r": 2.0, "alpha": 2.0, "s": 0.3, "beta": 100.0},
    ),
}


def _histories(n: int, seed: int) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 120, n).astype(float)
    T = rng.uniform(5.0, 60.0, n)
    tx = np.where(x > 0, T * rng.uniform(0.0, 1.0, n), 0.0)
    t = rng.uniform(0.0, 60.0, n)
    t[:2] = 0.0
    return t, x, tx, T


def _certain_zero(customers: int) -> np.ndarray:
    """The grid of customers who make no purchase for sure."""
    grid = np.zeros((WIDTH, customers))
    grid[0] = 1.0
    return grid


GEOMETRIC = [
    (GammaRate(2.0, 3.0), BetaDropout(0.3, 30.0)),
    (GammaRate(0.4, 1.5), BetaDropout(1.2, 2.5)),
    (CommonRate(0.8), BetaDropout(0.5, 3.0)),
    (GammaRate(0.5, 1.0), CommonDropout(0.05)),
    (GammaRate(1.0, 1.0), CommonDropout(0.0)),
    (GammaRate(0.5, 1.0), TwoPointDropout(0.3)),
    (CommonRate(0.8), TwoPointDropout(0.6)),
]


@pytest.mark.parametrize("k", [0, 1])
@pytest.mark.parametrize(("rate", "dropout"), GEOMETRIC)
def test_geometric_grid_is_the_pmf_at_every_count(rate: object, dropout: object, k: int) -> None:
    t, x, tx, T = _histories(200, seed=1)
    grid = cond.geometric_pmf_grid(WIDTH, t, x, tx, T, rate, dropout, k=k)  # type: ignore[arg-type]
    counts = np.arange(WIDTH, dtype=float)[:, None]
    exact = cond.geometric_pmf(counts, t, x, tx, T, rate, dropout, k=k)  # type: ignore[arg-type]
    assert grid.shape == (WIDTH, 200)
    assert np.abs(grid - exact).max() < 1e-13
    # horizon 0: no purchase for sure
    np.testing.assert_array_equal(grid[:, :2], _certain_zero(2))


PARETO = [
    (GammaRate(2.0, 3.0), GammaLifetime(0.3, 100.0)),
    (CommonRate(0.8), GammaLifetime(0.5, 10.0)),
    (GammaRate(0.5, 1.0), CommonLifetime(0.01)),
    (GammaRate(1.0, 1.0), CommonLifetime(0.0)),
]


@pytest.mark.parametrize(("rate", "lifetime"), PARETO)
def test_pareto_grid_is_the_pmf_at_every_count(rate: object, lifetime: object) -> None:
    t, x, tx, T = _histories(150, seed=2)
    grid = cond.pareto_pmf_grid(WIDTH, t, x, tx, T, rate, lifetime)  # type: ignore[arg-type]
    counts = np.arange(WIDTH, dtype=float)[:, None]
    exact = cond.pareto_pmf(counts, t, x, tx, T, rate, lifetime)  # type: ignore[arg-type]
    assert np.abs(grid - exact).max() < 1e-13
    np.testing.assert_array_equal(grid[:, :2], _certain_zero(2))


def test_grids_take_parameters_per_customer() -> None:
    t, x, tx, T = _histories(60, seed=3)
    r = np.linspace(0.5, 3.0, 60)
    b = np.linspace(5.0, 40.0, 60)
    counts = np.arange(80, dtype=float)[:, None]
    rate, dropout = GammaRate(r, 2.0), BetaDropout(0.4, b)  # type: ignore[arg-type]
    grid = cond.geometric_pmf_grid(80, t, x, tx, T, rate, dropout, k=0)
    exact = cond.geometric_pmf(counts, t, x, tx, T, rate, dropout, k=0)
    assert np.abs(grid - exact).max() < 1e-13
    lifetime = GammaLifetime(0.4, b)  # type: ignore[arg-type]
    grid = cond.pareto_pmf_grid(80, t, x, tx, T, rate, lifetime)
    exact = cond.pareto_pmf(counts, t, x, tx, T, rate, lifetime)
    assert np.abs(grid - exact).max() < 1e-13


def test_count_grid_keeps_its_digits_next_to_the_common_rate_limit() -> None:
    # Gamma(1e9, 1e9) is a common rate in all but name: alpha / (alpha + t) is within 1e-8
    # of one. Without dropout and before any purchase the grid is the NBD pmf itself.
    x, T, t = 54.0, 20.1, 1.04
    one = np.ones(1)
    grid = cond.geometric_pmf_grid(
        61, t * one, 0 * one, 0 * one, T * one, GammaRate(1e9 + x, 1e9), CommonDropout(0.0), k=0
    )[:, 0]
    getcontext().prec = 40
    r, alpha, span = Decimal(1e9 + x), Decimal("1e9") + Decimal(T), Decimal(t)
    log_pmf, want = Decimal(0), []
    for n in range(61):
        if n:
            log_pmf += ((r + n - 1) / n).ln()
        want.append(
            float(
                (
                    log_pmf + r * (alpha / (alpha + span)).ln() + n * (span / (alpha + span)).ln()
                ).exp()
            )
        )
    rel = np.abs(grid / np.array(want) - 1.0)
    assert rel.max() < 1e-12


def _with(model: object, params: dict) -> object:
    document = json.loads(model.to_json())  # type: ignore[attr-defined]
    document["params"] = params
    return type(model).from_json(json.dumps(document))


@pytest.mark.parametrize("name", sorted(BUSY))
def test_heavy_buyers_match_the_brute_force_full_grid(name: str) -> None:
    cls, simulate, params = BUSY[name]
    sim = simulate(120, T=52.0, seed=7, **params)
    model = cls().fit(sim.rfm)
    assert float(np.mean(sim.rfm.frequency)) > 30.0
    table = model.prediction_interval(52.0, sim.rfm, conf_level=0.9, n_resamples=12, seed=4)
    # brute force: the per-count pmf (no grid, no recursion) of every draw on counts 0..399,
    # mixed, and the documented quantile rule
    counts = np.arange(400)[:, None]
    mixed = np.mean(
        [
            _with(model, p).conditional_probability_of_purchases(52.0, sim.rfm, n=counts)  # type: ignore[attr-defined]
            for p in model.parameter_draws(12, seed=4)
        ],
        axis=0,
    )
    cdf = np.cumsum(mixed, axis=0)
    assert float(cdf[-1].min()) > 1.0 - 1e-9
    cols = np.arange(cdf.shape[1])
    lower = np.sum(cdf < 0.05, axis=0)
    below = np.where(lower > 0, cdf[np.maximum(lower - 1, 0), cols], 0.0)
    upper = np.sum(cdf - below < 0.9 - 1e-12, axis=0)
    np.testing.assert_array_equal(table.lower, lower)
    np.testing.assert_array_equal(table.upper, upper)
    assert np.abs(table.coverage - (cdf[upper, cols] - below)).max() < 1e-10
    assert float(table.upper.mean()) > 30.0


def test_gamma_count_pmf_keeps_its_precision_next_to_the_common_rate_limit() -> None:
    # alpha >> t: 1 - alpha / (alpha + t) cancels to ~1e-7 relative; t / (alpha + t) does not
    r, alpha, t = 2.0, 1e9, 1.0
    n = np.array([0.0, 1.0, 5.0, 20.0])
    got = GammaRate(r, alpha).log_count_pmf(n, np.full(4, t))
    want = [
        math.lgamma(r + k)
        - math.lgamma(r)
        - math.lgamma(k + 1.0)
        - r * math.log1p(t / alpha)
        + k * (math.log(t) - math.log(alpha + t))
        for k in n
    ]
    np.testing.assert_allclose(got, want, rtol=1e-13)
