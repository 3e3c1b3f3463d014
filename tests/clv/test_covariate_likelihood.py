"""The covariate likelihood summed pattern by pattern equals the row-by-row sum; its
Hessian from the units' gradients and the Newton search built on it."""

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
from funnelkit.clv._covariate_likelihood import newton_search
from funnelkit.clv._data import compress_rows
from funnelkit.clv._optimise import Candidate, CoefficientSpace, hessian, maximise
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


def _objective_parts(model, world, monkeypatch, rows_per_pattern):
    """The full BG/NBD space with covariates, its likelihood and a point near its maximum."""
    data = {"frequency": world.rfm.frequency, "recency": world.rfm.recency, "T": world.rfm.T}
    monkeypatch.setattr(_covariate_likelihood, "_ROWS_PER_PATTERN", rows_per_pattern)
    loglik, _, size, _ = _both_likelihoods(model, data, world.covariates, monkeypatch)
    monkeypatch.setattr(_covariate_likelihood, "_ROWS_PER_PATTERN", rows_per_pattern)
    n_coefs = size - len(model._param_names)
    names = (*model._param_names, *(f"c{i}" for i in range(n_coefs)))
    space = CoefficientSpace(names, (), n_free=n_coefs)
    rng = np.random.default_rng(1)
    point = np.concatenate([[0.25, 4.5, 0.7, 2.1], rng.normal(0.0, 0.2, n_coefs)])
    return loglik, space, point


@pytest.mark.parametrize("rows_per_pattern", [1, 10**9])
def test_unit_hessian_is_the_differenced_whole_gradient(world, monkeypatch, rows_per_pattern):
    # pattern by pattern (1) and row by row (10**9): the Hessian from the units' own
    # gradients is the optimiser's Hessian by differences of the whole gradient
    model = BetaGeoFitter(penalizer=0.01)
    loglik, space, point = _objective_parts(model, world, monkeypatch, rows_per_pattern)
    n = float(len(world.rfm.frequency))
    fit = Candidate(space, None, space.to_theta(point), point, 0.0, True, "", 0)
    expected = hessian(fit, loglik, n, 0.01, analytic=True)
    penalty = 0.01 * np.where(space.free, 2.0, 4.0 * point**2)
    central = -loglik.hessian(point) / n + np.diag(penalty)
    np.testing.assert_allclose(central, expected, rtol=1e-6, atol=1e-9)
    forward = -loglik.hessian(point, central=False) / n + np.diag(penalty)
    np.testing.assert_allclose(forward, expected, rtol=1e-3, atol=1e-6)


def test_newton_search_finds_the_lbfgs_maximum(world, monkeypatch):
    model = BetaGeoFitter()
    loglik, space, point = _objective_parts(model, world, monkeypatch, 1)
    n = float(len(world.rfm.frequency))
    x0 = np.concatenate([point[:4], np.zeros(point.size - 4)])
    found = newton_search(space, x0, loglik, n, 0.0)
    assert found is not None
    fit, curvature = found
    reference = maximise(space, x0, loglik, n, penalizer=0.0, max_iter=1000)
    assert reference is not None and fit.converged
    # the L-BFGS-B optimum within its own stopping tolerance, and never a lower maximum
    np.testing.assert_allclose(fit.params, reference.params, rtol=1e-5, atol=1e-5)
    assert fit.log_likelihood >= reference.log_likelihood - 1e-9 * abs(reference.log_likelihood)
    gradient = loglik(fit.params)[1]
    assert np.max(np.abs(gradient * space.jacobian(fit.params))) / n < 1e-10
    np.testing.assert_allclose(curvature, -loglik.hessian(fit.params) / n, rtol=1e-12)


def test_newton_search_gives_up_where_the_hessian_is_not_negative_definite(world, monkeypatch):
    # far from the maximum the curvature is not negative definite: the search falls back
    model = BetaGeoFitter()
    loglik, space, point = _objective_parts(model, world, monkeypatch, 1)
    n = float(len(world.rfm.frequency))
    far = np.concatenate([point[:4], np.full(point.size - 4, 8.0)])
    assert np.isfinite(loglik(far)[0])
    assert np.linalg.eigvalsh(-loglik.hessian(far, central=False)).min() < 0.0
    assert newton_search(space, far, loglik, n, 0.0) is None
