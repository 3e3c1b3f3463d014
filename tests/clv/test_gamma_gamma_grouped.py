"""The grouped Gamma-Gamma likelihood equals the per-row sum; sorted input is not re-sorted."""

from __future__ import annotations

import numpy as np
import pytest

from funnelkit.clv import GammaGammaFitter
from funnelkit.clv.gamma_gamma import _sorted_by_spend


def _data(seed: int = 4, n: int = 3_000) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    freq = rng.integers(0, 9, n).astype(float)
    money = np.round(rng.gamma(3.0, 12.0, n), 2)
    return {"frequency": freq, "monetary_value": money}


@pytest.mark.parametrize("params", [(6.2, 3.7, 15.4), (0.8, 1.3, 2.0), (40.0, 90.0, 700.0)])
def test_grouped_total_and_gradient_equal_the_row_sums(params: tuple[float, float, float]) -> None:
    data = _data()
    weights = np.random.default_rng(1).integers(0, 4, data["frequency"].size).astype(float)
    fitter = GammaGammaFitter()
    fit_data = fitter._fit_data(data, weights=weights)
    p = np.array(params)
    total, grad = fitter._weighted_log_likelihood(p, fit_data)
    rows = fitter._log_likelihood(p, fit_data)
    both, row_grad = fitter._log_likelihood_and_gradient(p, fit_data)
    np.testing.assert_array_equal(both, rows)
    assert total == pytest.approx(float(fit_data.weights @ rows), rel=1e-11)
    assert grad is not None and row_grad is not None
    np.testing.assert_allclose(grad, row_grad @ fit_data.weights, rtol=1e-9, atol=1e-8)


def test_fit_is_the_same_for_sorted_and_shuffled_rows() -> None:
    data = _data(seed=9)
    order = np.lexsort((data["monetary_value"], data["frequency"]))
    in_order = {k: v[order] for k, v in data.items()}
    assert _sorted_by_spend(in_order["frequency"], in_order["monetary_value"])
    assert not _sorted_by_spend(data["frequency"], data["monetary_value"])
    a = GammaGammaFitter().fit(data).params_
    b = GammaGammaFitter().fit(in_order).params_
    assert a == pytest.approx(b, rel=1e-12)


def test_sortedness_check_looks_at_spend_within_a_frequency() -> None:
    assert _sorted_by_spend(np.array([1.0, 1.0, 2.0]), np.array([5.0, 6.0, 1.0]))
    assert not _sorted_by_spend(np.array([1.0, 1.0, 2.0]), np.array([6.0, 5.0, 1.0]))
