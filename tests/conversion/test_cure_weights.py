"""Row weights and warm starts of the cure-model fits (what a bootstrap refit uses)."""

from __future__ import annotations

import numpy as np
import pytest

from funnelkit.conversion import fit_cure_model
from funnelkit.conversion.cure import CureData, fit_cure_data
from funnelkit.conversion.cure_refit import CureRows, mixture_log_likelihood
from funnelkit.exceptions import DataError


def two_mode_delays(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    will = rng.random(n) < 0.5
    fast = rng.random(n) < 0.4
    delay = np.where(fast, rng.lognormal(-2.0, 0.7, n), rng.lognormal(2.0, 0.8, n))
    follow_up = rng.uniform(0.0, 60.0, n)
    converted = will & (delay <= follow_up)
    durations = np.where(converted, delay, follow_up)
    durations[:25] = 0.0  # instant conversions and entrants censored at once
    return durations, converted


@pytest.fixture(scope="module")
def sample() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    durations, converted = two_mode_delays(6000, seed=4)
    counts = np.random.default_rng(5).poisson(1.0, durations.size).astype(float)
    return durations, converted, counts


@pytest.mark.parametrize("family", ["exponential", "weibull", "lognormal"])
def test_weighted_fit_equals_the_fit_on_repeated_rows(sample, family) -> None:
    durations, converted, counts = sample
    reps = counts.astype(np.int64)
    weighted = fit_cure_model(durations, converted, family, weights=counts)
    repeated = fit_cure_model(np.repeat(durations, reps), np.repeat(converted, reps), family)
    np.testing.assert_allclose(weighted.coefficients, repeated.coefficients, atol=1e-6)
    assert weighted.log_likelihood == pytest.approx(repeated.log_likelihood, abs=1e-6)
    assert weighted.covariance is not None and repeated.covariance is not None
    np.testing.assert_allclose(weighted.covariance, repeated.covariance, atol=1e-8)
    # a warm start from another sample's fit ends at the same maximum
    other = fit_cure_model(durations, converted, family)
    warm = fit_cure_model(durations, converted, family, weights=counts, start=other)
    np.testing.assert_allclose(warm.coefficients, repeated.coefficients, atol=1e-5)


def test_weighted_mixture_refit_reaches_the_maximum_of_the_repeated_rows(sample) -> None:
    durations, converted, counts = sample
    reps = counts.astype(np.int64)
    full = fit_cure_model(durations, converted, "lognormal-mixture")
    assert full.converged and full.covariance is not None
    scratch = fit_cure_model(
        np.repeat(durations, reps), np.repeat(converted, reps), "lognormal-mixture"
    )
    for start in (full, full.coefficients):  # Newton in the start's metric; L-BFGS-B
        refit = fit_cure_model(
            durations, converted, "lognormal-mixture", weights=counts, start=start
        )
        assert refit.converged, refit.message
        assert refit.covariance is None
        assert refit.log_likelihood == pytest.approx(scratch.log_likelihood, abs=1e-5)
        np.testing.assert_allclose(refit.coefficients, scratch.coefficients, atol=2e-4)
    # without a start the weighted rows are handed over repeated: the same fit
    plain = fit_cure_model(durations, converted, "lognormal-mixture", weights=counts)
    assert plain.coefficients == scratch.coefficients


def test_mixture_refit_on_a_segment_rescales_the_metric(sample) -> None:
    durations, converted, _ = sample
    full = fit_cure_model(durations, converted, "lognormal-mixture")
    segment = np.arange(durations.size) % 4 == 0
    refit = fit_cure_model(
        durations, converted, "lognormal-mixture", weights=segment.astype(float), start=full
    )
    scratch = fit_cure_model(durations[segment], converted[segment], "lognormal-mixture")
    assert refit.converged
    assert refit.log_likelihood >= scratch.log_likelihood - 1e-6


@pytest.mark.parametrize("fix_p", [False, True])
def test_mixture_gradient_matches_central_differences(sample, fix_p) -> None:
    durations, converted, counts = sample
    if fix_p:
        durations, converted, counts = durations[converted], converted[converted], counts[converted]
    data = CureData.from_durations(durations, converted, counts)
    x = np.array([0.1, -0.3, -1.9, -0.4, 2.1, -0.2])[int(fix_p) :]
    ll, grad = mixture_log_likelihood(x, data, fix_p)
    h = 1e-5
    numeric = [
        (
            mixture_log_likelihood(x + e, data, fix_p)[0]
            - mixture_log_likelihood(x - e, data, fix_p)[0]
        )
        / (2 * h)
        for e in np.eye(x.size) * h
    ]
    np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-4)
    # the value is the weighted sum of the unweighted rows' values
    reps = counts.astype(np.int64)
    repeated = CureData.from_durations(np.repeat(durations, reps), np.repeat(converted, reps))
    assert ll == pytest.approx(mixture_log_likelihood(x, repeated, fix_p)[0], rel=1e-12)


def test_weights_must_be_whole_numbers_per_row() -> None:
    t, e = np.array([1.0, 2.0, 3.0]), np.array([True, False, True])
    with pytest.raises(DataError, match=r"weights has 2 values for 3 rows"):
        fit_cure_model(t, e, "exponential", weights=np.array([1.0, 2.0]))
    with pytest.raises(DataError, match=r"1 row\(s\) are not, e.g. rows \[1\] with \[0.5\]"):
        fit_cure_model(t, e, "exponential", weights=np.array([1.0, 0.5, 2.0]))
    with pytest.raises(DataError, match=r"rows \[0\] with \[-1.0\]"):
        fit_cure_model(t, e, "exponential", weights=np.array([-1.0, 1.0, 2.0]))


def _same_data(a: CureData, b: CureData) -> None:
    for name in ("log_exact", "log_censored", "weight_exact", "weight_censored"):
        left, right = getattr(a, name), getattr(b, name)
        assert (left is None) == (right is None), name
        if left is not None:
            np.testing.assert_array_equal(left, right, err_msg=name)
    assert (a.n_zero, a.log_eps, a.sum_log_exact) == (b.n_zero, b.log_eps, b.sum_log_exact)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_prepared_rows_give_the_data_of_the_durations(sample, seed) -> None:
    durations, converted, _ = sample
    rows = CureRows.of(durations, converted)
    _same_data(rows.data(), CureData.from_durations(durations, converted))
    counts = np.random.default_rng(seed).poisson(1.0, durations.size)
    # the shortest positive delays left out: the smallest drawn one sets eps
    counts[np.argsort(np.where(durations > 0, durations, np.inf))[: 70 * seed]] = 0
    _same_data(rows.data(counts), CureData.from_durations(durations, converted, counts))
    with pytest.raises(DataError, match=r"weights has 3 values for 6000 rows"):
        rows.data(np.ones(3))


@pytest.mark.parametrize("family", ["exponential", "weibull", "lognormal"])
def test_refit_from_a_start_takes_newton_steps_to_the_maximum(sample, family) -> None:
    durations, converted, counts = sample
    full = fit_cure_model(durations, converted, family)
    data = CureRows.of(durations, converted).data(counts)
    refit = fit_cure_data(data, family, start=full)
    scratch = fit_cure_data(data, family)
    assert refit.converged and refit.message == "converged (Newton steps from the start)"
    assert scratch.message != refit.message
    # the same maximum: at least as high, and apart by far less than a standard error
    assert refit.log_likelihood >= scratch.log_likelihood - 1e-8
    assert refit.covariance is not None and scratch.covariance is not None
    se = np.sqrt(np.diag(scratch.covariance))
    assert np.all(np.abs(np.subtract(refit.coefficients, scratch.coefficients)) < 1e-3 * se)
    np.testing.assert_allclose(refit.covariance, scratch.covariance, rtol=1e-4)


@pytest.mark.parametrize("seed", [0, 1])
def test_a_samples_first_evaluation_is_read_off_the_prepared_rows(sample, seed) -> None:
    durations, converted, _ = sample
    rows = CureRows.of(durations, converted)
    counts = np.random.default_rng(seed).poisson(1.0, durations.size)
    counts[:12] = 0  # some of the rows at duration 0 not drawn
    data = rows.data(counts)
    x = np.array([0.3, -0.4, -2.0, -0.3, 2.0, -0.2])
    assert data.first_evaluation is not None
    found = data.first_evaluation(x, False)
    assert found is not None
    ll, grad = mixture_log_likelihood(x, data, False)
    assert found[0] == pytest.approx(ll, rel=1e-12)
    np.testing.assert_allclose(found[1], grad, rtol=1e-10, atol=1e-8)
    # p fixed at 1 (nobody waiting) takes the general form: nothing to read off
    assert data.first_evaluation(x[1:], True) is None
    assert rows.data().first_evaluation is None


def test_a_refit_from_the_prepared_rows_is_the_refit_of_their_data(sample) -> None:
    from dataclasses import replace

    durations, converted, counts = sample
    rows = CureRows.of(durations, converted)
    full = fit_cure_model(durations, converted, "lognormal-mixture")
    prepared = rows.data(counts.astype(np.int64))
    plain = replace(prepared, first_evaluation=None)
    a = fit_cure_data(prepared, "lognormal-mixture", start=full)
    b = fit_cure_data(plain, "lognormal-mixture", start=full)
    assert a.converged and b.converged
    np.testing.assert_allclose(a.coefficients, b.coefficients, rtol=1e-8, atol=1e-10)
    assert a.log_likelihood == pytest.approx(b.log_likelihood, rel=1e-12)


@pytest.mark.parametrize("family", ["exponential", "weibull", "lognormal"])
@pytest.mark.parametrize("seed", [0, 1])
def test_a_samples_first_parts_are_read_off_the_prepared_rows(sample, family, seed) -> None:
    from funnelkit.conversion.cure import log_likelihood_parts
    from funnelkit.conversion.delay import DELAYS

    durations, converted, _ = sample
    rows = CureRows.of(durations, converted)
    counts = np.random.default_rng(seed).poisson(1.0, durations.size)
    counts[:12] = 0  # some of the rows at duration 0 not drawn
    data = rows.data(counts)
    delay = DELAYS[family]
    x = np.array([0.3, 1.1, -0.2])[: 2 + (not delay.fixed_scale)]
    assert data.first_parts is not None
    found = data.first_parts(x, delay, False)
    assert found is not None
    ll, grad, hess = log_likelihood_parts(x, data, delay)
    assert found[0] == pytest.approx(ll, rel=1e-12)
    np.testing.assert_allclose(found[1], grad, rtol=1e-10, atol=1e-8)
    np.testing.assert_allclose(found[2], hess, rtol=1e-10, atol=1e-8)
    # p fixed at 1 (nobody waiting) takes the general form: nothing to read off
    assert data.first_parts(x[1:], delay, True) is None
    assert rows.data().first_parts is None


@pytest.mark.parametrize("family", ["exponential", "weibull", "lognormal"])
def test_a_one_component_refit_from_prepared_rows_is_the_refit_of_their_data(
    sample, family
) -> None:
    from dataclasses import replace

    durations, converted, counts = sample
    rows = CureRows.of(durations, converted)
    full = fit_cure_model(durations, converted, family)
    prepared = rows.data(counts.astype(np.int64))
    plain = replace(prepared, first_parts=None)
    a = fit_cure_data(prepared, family, start=full)
    b = fit_cure_data(plain, family, start=full)
    assert a.converged and b.converged
    np.testing.assert_allclose(a.coefficients, b.coefficients, rtol=1e-10, atol=1e-12)
    assert a.log_likelihood == pytest.approx(b.log_likelihood, rel=1e-12)


def test_weighted_sums_of_three_factors_equal_the_sums_of_their_products() -> None:
    from funnelkit.conversion.cure_likelihood import _wsum

    rng = np.random.default_rng(8)
    a, b, c = (rng.normal(size=1000) for _ in range(3))
    w = rng.poisson(1.0, 1000).astype(float)
    assert _wsum(w, a, b, c) == pytest.approx(float(np.sum(w * a * b * c)), rel=1e-12)
    assert _wsum(w, a, b) == pytest.approx(float(np.sum(w * a * b)), rel=1e-12)
    # unweighted sums keep their own form
    assert _wsum(None, a, b, c) == float(np.einsum("i,i,i->", a, b, c))


def test_coarse_rows_keep_every_weight_and_weighted_log_time() -> None:
    from tests.conversion.test_mixture_grid import assert_grid_keeps_weights

    durations, converted = two_mode_delays(12000, seed=6)
    rows = CureRows.of(durations, converted)
    counts = np.random.default_rng(7).poisson(1.0, durations.size).astype(float)
    data = rows.data(counts, whole=True)
    assert data.coarse is not None
    grids = data.coarse()
    assert grids is not None
    for grid in grids:  # the grid, and every other node of it
        assert_grid_keeps_weights(grid, data)
    fine, wide = grids
    assert wide.log_exact.size < fine.log_exact.size
    # a few rows take no grid
    small = CureRows.of(durations[:5000], converted[:5000]).data(counts[:5000], whole=True)
    assert small.coarse is not None and small.coarse() is None


def _mixture_refits(
    durations: np.ndarray, converted: np.ndarray, seeds: range, monkeypatch: pytest.MonkeyPatch
) -> list[int]:
    """Bootstrap refits of the mixture on the grids, each within the bootstrap's stop (0.01
    standard errors) of the rows' maximum: per sample, how often the rows were evaluated."""
    from dataclasses import replace

    from funnelkit._quasi_newton import bootstrap_precision
    from funnelkit.conversion import cure_refit

    rows = CureRows.of(durations, converted)
    full = fit_cure_model(durations, converted, "lognormal-mixture")
    assert full.converged and full.covariance is not None
    cov = np.asarray(full.covariance)
    evaluations = []
    for seed in seeds:
        counts = np.random.default_rng(seed).poisson(1.0, durations.size).astype(float)
        data = rows.data(counts, whole=True)
        exact = fit_cure_data(replace(data, coarse=None), "lognormal-mixture", start=full)
        on_rows: list[int] = []

        def counted(x, on, fix_p, *, data=data, on_rows=on_rows):
            on_rows.extend([1] if on is data else [])
            return mixture_log_likelihood(x, on, fix_p)

        with monkeypatch.context() as patch, bootstrap_precision():
            patch.setattr(cure_refit, "mixture_log_likelihood", counted)
            gridded = fit_cure_data(data, "lognormal-mixture", start=full)
        evaluations.append(len(on_rows))
        assert gridded.converged and exact.converged
        gap = np.subtract(gridded.coefficients, exact.coefficients)
        assert float(gap @ np.linalg.solve(cov, gap)) < 1e-4
        # the value on the rows: within the bootstrap's stop where the grids predict it, as
        # a refit's value is
        on_the_rows = mixture_log_likelihood(np.asarray(gridded.coefficients), data, False)
        assert abs(gridded.log_likelihood - float(on_the_rows[0])) < 1e-4
    return evaluations


def test_a_mixture_refit_on_the_grids_ends_at_the_maximum_of_the_rows(monkeypatch) -> None:
    durations, converted = two_mode_delays(12000, seed=6)
    # the grid, shifted to the rows at the start, and every other node of it agree: the
    # rows are not evaluated at all
    assert _mixture_refits(durations, converted, range(7, 9), monkeypatch) == [0, 0]


def test_a_mode_narrower_than_the_grid_sends_the_mixture_refit_to_the_rows(monkeypatch) -> None:
    rng = np.random.default_rng(1)
    will, fast = rng.random(20_000) < 0.5, rng.random(20_000) < 0.4
    # a fast mode of log-spread 0.025 on a grid spaced 0.01 (log times from 1e-7 to 60)
    delay = np.where(fast, rng.lognormal(-2.0, 0.025, 20_000), rng.lognormal(2.0, 0.8, 20_000))
    follow_up = rng.uniform(0.0, 60.0, 20_000)
    converted = will & (delay <= follow_up)
    durations = np.where(converted, delay, follow_up)
    durations[:5] = 1e-7
    # the wider grid's maximum lies too far from the grid's to vouch for it
    assert min(_mixture_refits(durations, converted, range(2), monkeypatch)) >= 1


@pytest.mark.parametrize("family", ["weibull", "lognormal-mixture"])
def test_tied_delays_are_held_once_with_the_likelihood_of_their_rows(family) -> None:
    from funnelkit.conversion.cure import log_likelihood_parts
    from funnelkit.conversion.delay import DELAYS

    durations, converted = two_mode_delays(12000, seed=6)
    days = np.ceil(durations * 24.0) / 24.0  # whole hours: ties among the delays
    rows = CureRows.of(days, converted)
    positive = days > 0
    assert rows.log_exact.size == np.unique(days[converted & positive]).size
    assert rows.log_censored.size == np.unique(days[~converted & positive]).size
    counts = np.random.default_rng(3).poisson(1.0, days.size).astype(float)
    full = fit_cure_model(days, converted, family)
    x = np.asarray(full.coefficients, dtype=float)
    for weights in (counts, None):
        held = rows.data(weights)
        plain = CureData.from_durations(days, converted, weights)
        assert held.n_exact == plain.n_exact and held.n_censored == plain.n_censored
        assert held.sum_log_exact == pytest.approx(plain.sum_log_exact, rel=1e-12)
        if family == "weibull":
            a = log_likelihood_parts(x, held, DELAYS[family])
            b = log_likelihood_parts(x, plain, DELAYS[family])
        else:
            a = mixture_log_likelihood(x, held, False)
            b = mixture_log_likelihood(x, plain, False)
        assert a[0] == pytest.approx(b[0], rel=1e-12)
        np.testing.assert_allclose(a[1], b[1], rtol=1e-9, atol=1e-7)
    # a sample's refit on the values held once is the refit on its rows
    refit = fit_cure_data(rows.data(counts), family, start=full)
    on_rows = fit_cure_data(CureData.from_durations(days, converted, counts), family, start=full)
    assert refit.converged and on_rows.converged and full.covariance is not None
    # both stop within 1e-4 standard errors of the maximum (a decrement of 1e-8)
    gap = np.subtract(refit.coefficients, on_rows.coefficients)
    assert float(gap @ np.linalg.solve(np.asarray(full.covariance), gap)) < 4e-8
    assert refit.log_likelihood == pytest.approx(on_rows.log_likelihood, rel=1e-10)
    # delays from a continuum are held one per row, in row order
    assert CureRows.of(durations, converted).exact_code is None
