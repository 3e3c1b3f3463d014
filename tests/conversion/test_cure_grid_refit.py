"""One-component cure refits that take their steps on the grid of log times and check on the
rows (what a bootstrap sample's delay curve uses on many rows)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from funnelkit._quasi_newton import bootstrap_precision
from funnelkit.conversion import cure, fit_cure_model
from funnelkit.conversion.cure import (
    CureData,
    fit_cure_data,
    log_likelihood_gradient,
    log_likelihood_parts,
)
from funnelkit.conversion.cure_refit import CureRows
from funnelkit.conversion.delay import DELAYS
from tests.conversion.test_cure_weights import two_mode_delays

FAMILIES = ["exponential", "weibull", "lognormal"]


@pytest.fixture(scope="module")
def rows() -> tuple[np.ndarray, np.ndarray, CureRows]:
    durations, converted = two_mode_delays(12000, seed=6)
    return durations, converted, CureRows.of(durations, converted)


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("fix_p", [False, True])
def test_the_gradient_alone_equals_that_of_the_full_evaluation(rows, family, fix_p) -> None:
    durations, converted, prepared = rows
    counts = np.random.default_rng(3).poisson(1.0, durations.size)
    data = prepared.data(counts)
    if fix_p:  # nobody waiting: p fixed at 1
        data = replace(data, log_censored=np.empty(0), weight_censored=np.empty(0))
    delay = DELAYS[family]
    x = np.array([0.3, 1.1, -0.2])[: 2 + (not delay.fixed_scale)]
    x = x[1:] if fix_p else x
    ll, grad = log_likelihood_gradient(x, data, delay, fix_p=fix_p)
    full = log_likelihood_parts(x, data, delay, fix_p=fix_p)
    assert ll == pytest.approx(full[0], rel=1e-12)
    np.testing.assert_allclose(grad, full[1], rtol=1e-10, atol=1e-8)
    # unweighted rows, with conversions and waiting entrants at duration 0
    plain = CureData.from_durations(durations, converted)
    assert plain.n_zero > 0
    ll, grad = log_likelihood_gradient(x, plain, delay, fix_p=fix_p)
    full = log_likelihood_parts(x, plain, delay, fix_p=fix_p)
    assert ll == pytest.approx(full[0], rel=1e-12)
    np.testing.assert_allclose(grad, full[1], rtol=1e-10, atol=1e-8)


@pytest.mark.parametrize("family", FAMILIES)
def test_a_refit_on_the_grid_ends_within_the_bootstraps_stop_of_the_rows_maximum(
    rows, family, monkeypatch
) -> None:
    durations, converted, prepared = rows
    full = fit_cure_model(durations, converted, family)
    assert full.converged
    n_rows = prepared.log_exact.size + prepared.log_censored.size
    on_rows: list[int] = []
    parts = cure.log_likelihood_parts

    def counted(x, data, *args, **kwargs):
        if data.log_exact.size + data.log_censored.size > n_rows // 2:
            on_rows.append(1)
        return parts(x, data, *args, **kwargs)

    for seed in (7, 8):
        counts = np.random.default_rng(seed).poisson(1.0, durations.size).astype(float)
        data = prepared.data(counts, whole=True)
        exact = fit_cure_data(replace(data, coarse=None), family, start=full)
        monkeypatch.setattr(cure, "log_likelihood_parts", counted)
        with bootstrap_precision():
            gridded = fit_cure_data(data, family, start=full)
        monkeypatch.setattr(cure, "log_likelihood_parts", parts)
        # the steps ran on the grid; the rows were evaluated once, without their Hessian
        assert on_rows == []
        assert gridded.converged and exact.converged and gridded.covariance is not None
        assert gridded.message == exact.message == "converged (Newton steps from the start)"
        gap = np.subtract(gridded.coefficients, exact.coefficients)
        cov = np.asarray(exact.covariance)
        # within the bootstrap's stop of the maximum: 0.01 standard errors
        assert float(gap @ np.linalg.solve(cov, gap)) < 1e-4
        assert gridded.log_likelihood == pytest.approx(
            log_likelihood_parts(np.asarray(gridded.coefficients), data, DELAYS[family])[0],
            rel=1e-12,
        )


@pytest.mark.parametrize("family", FAMILIES)
def test_outside_a_bootstrap_the_refit_on_the_grid_goes_on_to_the_rows_maximum(
    rows, family
) -> None:
    durations, converted, prepared = rows
    full = fit_cure_model(durations, converted, family)
    counts = np.random.default_rng(9).poisson(1.0, durations.size).astype(float)
    data = prepared.data(counts, whole=True)
    exact = fit_cure_data(replace(data, coarse=None), family, start=full)
    gridded = fit_cure_data(data, family, start=full)  # the stop of a fit: 1e-8
    # both stop within 1e-4 standard errors of the maximum (a decrement of 1e-8)
    gap = np.subtract(gridded.coefficients, exact.coefficients)
    assert float(gap @ np.linalg.solve(np.asarray(exact.covariance), gap)) < 4e-8
    assert gridded.log_likelihood == pytest.approx(exact.log_likelihood, rel=1e-10)
    # the grid's curvature where it last took a step: a metric for later refits
    np.testing.assert_allclose(gridded.covariance, exact.covariance, rtol=0.05)
