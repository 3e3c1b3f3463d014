"""The bounded hypergeometric series behind the Pareto/NBD likelihood."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import hyp2f1

from funnelkit.clv._hyp2f1 import log_hyp1


def _grid(seed: int, n: int, z_low: float, z_high: float) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    r = 10 ** rng.uniform(-2, 1.5, n)
    s = 10 ** rng.uniform(-2, 1.5, n)
    x = np.floor(10 ** rng.uniform(0, 4, n)) * rng.integers(0, 2, n)
    z = rng.uniform(z_low, z_high, n)
    return r, s, x, z


@pytest.mark.parametrize("branch", ["alpha>=beta", "alpha<beta"])
def test_series_agrees_with_scipy_where_scipy_is_reliable(branch: str) -> None:
    r, s, x, z = _grid(1, 5000, 0.0, 0.6)
    b = r + x if branch == "alpha>=beta" else s + 1.0
    c = r + s + x + 1.0
    series, grad = log_hyp1(b, c, z, gradient=True)  # always the series
    assert grad is not None
    np.testing.assert_allclose(series, np.log(hyp2f1(1.0, b, c, z)), rtol=0, atol=2e-15)
    scipy_path, _ = log_hyp1(b, c, z)  # uses scipy below z = 0.5
    np.testing.assert_allclose(scipy_path, series, rtol=0, atol=2e-15)


def test_values_stay_within_their_bounds_near_one() -> None:
    r, s, x, z = _grid(2, 3000, 0.5, 0.999)
    for b in (r + x, s + 1.0):
        value, _ = log_hyp1(b, r + s + x + 1.0, z)
        # G = 2F1(1, b; c; z) with c > b lies in [1, 1/(1-z)]
        assert np.all(value >= 0.0)
        assert np.all(value <= -np.log1p(-z) + 1e-12)


def test_derivatives_match_finite_differences() -> None:
    r, s, x, z = _grid(3, 2000, 0.0, 0.99)
    b, c = s + 1.0, r + s + x + 1.0
    _, grad = log_hyp1(b, c, z, gradient=True)
    assert grad is not None
    h = 1e-6
    for row, (db, dc, dz) in enumerate([(1, 0, 0), (0, 1, 0), (0, 0, 1)]):
        scale = b if db else (c if dc else z)
        up, _ = log_hyp1(b + db * h * b, c + dc * h * c, z + dz * h * z)
        down, _ = log_hyp1(b - db * h * b, c - dc * h * c, z - dz * h * z)
        numeric = (up - down) / (2 * h * scale)
        np.testing.assert_allclose(grad[row], numeric, rtol=1e-5, atol=1e-7)


def test_zero_argument_and_shapes() -> None:
    value, grad = log_hyp1(np.full((2, 3), 2.0), 5.0, np.zeros((2, 3)), gradient=True)
    assert value.shape == (2, 3) and np.all(value == 0.0)
    assert grad is not None and grad.shape == (3, 2, 3)
    np.testing.assert_allclose(grad[2], 2.0 / 5.0)  # dG/dz at 0 is b/c


def test_many_rows_are_deduplicated_without_changing_values() -> None:
    rng = np.random.default_rng(4)
    b = rng.choice([1.5, 2.5, 40.0], 120_000)
    c = b + rng.choice([0.3, 5.0], 120_000)
    z = rng.choice([0.7, 0.95, 0.999], 120_000)
    value, _ = log_hyp1(b, c, z)
    assert np.all(np.isfinite(value))
    picks = rng.integers(0, b.size, 50)
    single, _ = log_hyp1(b[picks], c[picks], z[picks])
    np.testing.assert_array_equal(value[picks], single)
