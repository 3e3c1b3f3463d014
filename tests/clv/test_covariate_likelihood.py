"""The covariate likelihood summed pattern by pattern equals the row-by-row sum."""

from __future__ import annotations

import numpy as np
import pytest

from funnelkit.clv import (
    BetaGeoFitter,
    GammaGammaFitter,
    ModifiedBetaGeoFitter,
    ParetoNBDFitter,
    _covariate_likelihood,
)
from funnelkit.clv._data import compress_rows
from funnelkit.clv.covariates import learn_encoding, unique_patterns
from funnelkit.datasets.covariates import simulate_bgnbd_covariates

COEFFICIENTS = {"purchase": {"member[True]": 0.5}, "dropout": {"channel[tiktok]": 0.5}}


@pytest.fixture(scope="module")
def world():
    return simulate_bgnbd_covariates(3000, T=52.0, coefficients=COEFFICIENTS, seed=11)


def _spend_world():
    rng = np.random.default_rng(3)
    n = 3000
    member = rng.random(n) < 0.5
    nu = rng.gamma(4.0, 1.0 / (15.0 * np.exp(0.4 * member)))
    x = rng.poisson(3.0, n) + 1
    m = rng.gamma(6.0 * x, 1.0 / (x * nu))
    return {"frequency": x, "monetary_value": m}, {"member": member}


def _both_likelihoods(model, columns, covariates, monkeypatch):
    """The likelihood of ``model``'s full parameter set with these covariates, built once
    pattern by pattern and once row by row, and the number of patterns."""
    n = len(next(iter(columns.values())))
    encoding, design = learn_encoding(covariates, None, n, None)
    patterns, codes = unique_patterns(design)
    rows = compress_rows({**columns, "pattern": codes.astype(float)}, np.ones(n), None)
    names = model._param_names
    links = model._links_of(names)
    p = len(encoding.names)
    monkeypatch.setattr(_covariate_likelihood, "_ROWS_PER_PATTERN", 1)
    by_pattern = model._rows_likelihood(names, links, None, patterns, rows, p)
    monkeypatch.setattr(_covariate_likelihood, "_ROWS_PER_PATTERN", 10**9)
    by_row = model._rows_likelihood(names, links, None, patterns, rows, p)
    size = len(names) + p * len(links)
    return by_pattern, by_row, size, patterns.shape[0]


@pytest.mark.parametrize("fitter", [BetaGeoFitter, ModifiedBetaGeoFitter, ParetoNBDFitter])
def test_purchase_models_pattern_sum_is_the_row_sum(world, fitter, monkeypatch):
    data = {"frequency": world.rfm.frequency, "recency": world.rfm.recency, "T": world.rfm.T}
    model = fitter()
    by_pattern, by_row, size, n_patterns = _both_likelihoods(
        model, data, world.covariates, monkeypatch
    )
    assert n_patterns > 1
    rng = np.random.default_rng(0)
    base = model._initial_params(compress_rows(data, np.ones(len(world.rfm)), None))
    k = base.size
    for _ in range(3):
        vector = np.concatenate([base * rng.uniform(0.5, 2.0, k), rng.normal(0, 0.3, size - k)])
        value, grad = by_pattern(vector)
        expected, expected_grad = by_row(vector)
        assert value == pytest.approx(expected, rel=1e-10)
        np.testing.assert_allclose(grad, expected_grad, rtol=1e-7, atol=1e-6)


def test_spend_model_pattern_sum_is_the_row_sum(monkeypatch):
    data, covariates = _spend_world()
    model = GammaGammaFitter()
    by_pattern, by_row, size, n_patterns = _both_likelihoods(model, data, covariates, monkeypatch)
    assert (size, n_patterns) == (4, 2)
    for vector in ([6.0, 4.0, 15.0, 0.4], [2.0, 9.0, 40.0, -1.0]):
        value, grad = by_pattern(np.array(vector))
        expected, expected_grad = by_row(np.array(vector))
        assert value == pytest.approx(expected, rel=1e-10)
        np.testing.assert_allclose(grad, expected_grad, rtol=1e-7, atol=1e-6)


def test_fits_by_pattern_and_by_row_agree(world, monkeypatch):
    monkeypatch.setattr(_covariate_likelihood, "_ROWS_PER_PATTERN", 1)
    fast = BetaGeoFitter().fit(world.rfm, covariates=world.covariates)
    monkeypatch.setattr(_covariate_likelihood, "_ROWS_PER_PATTERN", 10**9)
    slow = BetaGeoFitter().fit(world.rfm, covariates=world.covariates)
    assert fast.log_likelihood_ == pytest.approx(slow.log_likelihood_, rel=1e-9)
    np.testing.assert_allclose(
        fast.coefficients_["estimate"], slow.coefficients_["estimate"], atol=1e-4
    )
    np.testing.assert_allclose(
        fast.coefficients_["std_error"], slow.coefficients_["std_error"], rtol=1e-3
    )
    for name, value in slow.params_.items():
        assert fast.params_[name] == pytest.approx(value, rel=1e-4)


@pytest.mark.parametrize("seed", range(4))
def test_unique_patterns_are_numpys_unique_rows(seed):
    rng = np.random.default_rng(seed)
    design = rng.integers(0, 3, size=(500, 3)).astype(float)
    design[:, 1] = np.round(rng.normal(size=500), 1)
    patterns, codes = unique_patterns(design)
    expected, expected_codes = np.unique(design, axis=0, return_inverse=True)
    assert np.array_equal(patterns, expected)
    assert np.array_equal(codes, expected_codes.ravel())
    assert codes.dtype == np.int64


def test_unique_patterns_without_columns_is_one_pattern():
    patterns, codes = unique_patterns(np.empty((4, 0)))
    assert patterns.shape == (1, 0)
    assert codes.tolist() == [0, 0, 0, 0]
