"""The two-component log-normal delay: a fast mode and a slow one."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from funnelkit.conversion.cure import CureData, fit_cure_model
from funnelkit.conversion.cure_mixture import fit_mixture, with_curvature
from funnelkit.conversion.cure_refit import mixture_log_likelihood, refit_mixture
from funnelkit.conversion.cure_result import CureFit
from funnelkit.conversion.delay import DELAYS, MIXTURE
from funnelkit.conversion.kaplan_meier import kaplan_meier

PARAMS = (math.log(0.85 / 0.15), math.log(0.0005), math.log(0.8), math.log(10.0), math.log(0.7))


def _world(seed: int, n: int = 4000) -> tuple[np.ndarray, np.ndarray]:
    """60% convert: 85% of them about a minute in (0.0005 days), the rest about 10 days later."""
    rng = np.random.default_rng(seed)
    will = rng.random(n) < 0.6
    delay = MIXTURE.sample(rng, n, *PARAMS)
    follow_up = rng.uniform(0.0, 40.0, n)
    converted = will & (delay <= follow_up)
    return np.where(converted, delay, follow_up), converted


def test_mixture_functions_match_scipy() -> None:
    t = np.array([0.0, 1e-4, 0.0005, 0.01, 1.0, 10.0, 100.0])
    w = 0.85
    expected_cdf = w * stats.lognorm.cdf(t, 0.8, scale=0.0005) + (1 - w) * stats.lognorm.cdf(
        t, 0.7, scale=10.0
    )
    expected_pdf = w * stats.lognorm.pdf(t, 0.8, scale=0.0005) + (1 - w) * stats.lognorm.pdf(
        t, 0.7, scale=10.0
    )
    np.testing.assert_allclose(MIXTURE.cdf(t, *PARAMS), expected_cdf, rtol=1e-12, atol=1e-300)
    np.testing.assert_allclose(MIXTURE.pdf(t, *PARAMS), expected_pdf, rtol=1e-10, atol=1e-300)
    for q in (0.1, 0.5, 0.9):
        t_q = math.exp(MIXTURE.log_quantile(q, *PARAMS))
        assert float(MIXTURE.cdf(np.array([t_q]), *PARAMS)[0]) == pytest.approx(q, abs=1e-10)
    assert DELAYS["lognormal-mixture"] is MIXTURE


def test_mixture_cure_model_recovers_both_modes() -> None:
    durations, converted = _world(3)
    fit = fit_cure_model(durations, converted, "lognormal-mixture")
    assert fit.converged, fit.message
    assert fit.n_params == 6
    assert fit.parameter_names == (
        "logit_p",
        "logit_w",
        "location_1",
        "log_s_1",
        "location_2",
        "log_s_2",
    )
    truth = {"weight": 0.85, "scale": 0.0005, "shape": 0.8, "scale_2": 10.0, "shape_2": 0.7}
    for name, value in fit.delay_parameters.items():
        assert value == pytest.approx(truth[name], rel=0.1), name
    interval = fit.eventual_rate_interval()
    assert interval is not None and interval.lower < 0.6 < interval.upper
    # far better than any single shape, and close to the Kaplan-Meier curve
    single = fit_cure_model(durations, converted, "lognormal")
    assert single.aic - fit.aic > 1000
    km = kaplan_meier(durations, converted)
    assert fit.distance_to(km.times, km.rate) < 0.015 < single.distance_to(km.times, km.rate)
    assert fit.eventual_rate >= km.lower[-1]


def test_mixture_quantities_have_intervals_and_survive_json() -> None:
    durations, converted = _world(4)
    fit = fit_cure_model(durations, converted, "lognormal-mixture")
    median, median_ci = fit.delay_quantile(0.5)
    assert median is not None and median_ci is not None
    assert float(fit.delay_cdf(median)) == pytest.approx(0.5, abs=1e-9)
    assert median_ci.lower < median < median_ci.upper
    rate, rate_ci = fit.rate_within(20.0)
    assert rate == pytest.approx(float(fit.cdf(20.0)), rel=1e-12)
    assert rate_ci is not None and rate_ci.lower < rate < rate_ci.upper
    loaded = CureFit.from_json(fit.to_json())
    assert loaded == fit
    assert loaded.rate_within(20.0) == fit.rate_within(20.0)


def test_one_mode_collapses_or_stays_honest() -> None:
    # Single-mode delays: the mixture either finds no second mode (and says so) or, if it
    # converged, describes the same curve as the log-normal.
    rng = np.random.default_rng(5)
    n = 3000
    will = rng.random(n) < 0.5
    delay = rng.lognormal(np.log(3.0), 0.6, n)
    follow_up = rng.uniform(0.0, 60.0, n)
    converted = will & (delay <= follow_up)
    durations = np.where(converted, delay, follow_up)
    fit = fit_cure_model(durations, converted, "lognormal-mixture")
    single = fit_cure_model(durations, converted, "lognormal")
    assert fit.log_likelihood >= single.log_likelihood - 1e-6
    grid = np.linspace(0.5, 40.0, 20)
    np.testing.assert_allclose(fit.cdf(grid), single.cdf(grid), atol=0.01)
    if not fit.converged:
        assert "collapsed" in fit.message or "not positive definite" in fit.message


def test_weighted_fit_from_scratch_equals_the_fit_on_repeated_rows() -> None:
    durations, converted = _world(6, n=3000)
    counts = np.random.default_rng(7).poisson(1.0, durations.size)
    weighted = CureData.from_durations(durations, converted, counts)
    repeated = CureData.from_durations(np.repeat(durations, counts), np.repeat(converted, counts))
    assert weighted.weighted and not repeated.weighted
    plateau = 0.6
    a = fit_mixture(weighted, plateau, fix_p=False)
    b = fit_mixture(repeated, plateau, fix_p=False)
    assert a.converged and b.converged, (a.message, b.message)
    np.testing.assert_allclose(a.coefficients, b.coefficients, atol=1e-6)
    assert a.log_likelihood == pytest.approx(b.log_likelihood, abs=1e-6)
    assert a.covariance is not None and b.covariance is not None
    np.testing.assert_allclose(a.covariance, b.covariance, rtol=1e-4, atol=1e-9)


def test_standard_errors_match_a_likelihood_difference_hessian() -> None:
    # the Hessian from differences of the analytic gradient against one from differences of
    # the log-likelihood alone (four evaluations per pair of parameters)
    durations, converted = _world(8, n=3000)
    data = CureData.from_durations(durations, converted)
    fit = fit_mixture(data, 0.6, fix_p=False)
    assert fit.covariance is not None
    x = np.asarray(fit.coefficients)
    h = 1e-4 * np.maximum(1.0, np.abs(x))
    k = x.size

    def ll(y: np.ndarray) -> float:
        return mixture_log_likelihood(y, data, False)[0]

    hess = np.empty((k, k))
    for i in range(k):
        for j in range(k):
            ei, ej = np.zeros(k), np.zeros(k)
            ei[i], ej[j] = h[i], h[j]
            hess[i, j] = (ll(x + ei + ej) - ll(x + ei - ej) - ll(x - ei + ej) + ll(x - ei - ej)) / (
                4.0 * h[i] * h[j]
            )
    expected = np.linalg.inv(-hess)
    np.testing.assert_allclose(
        np.sqrt(np.diag(fit.covariance)), np.sqrt(np.diag(expected)), rtol=1e-3
    )


def test_a_refit_given_its_curvature_has_the_covariance_of_a_fit_from_scratch() -> None:
    durations, converted = _world(9, n=3000)
    data = CureData.from_durations(durations, converted)
    scratch = fit_mixture(data, 0.6, fix_p=False)
    assert scratch.covariance is not None
    # from everyone's fit in its metric, the way a segment's own fit starts
    everyone = fit_mixture(CureData.from_durations(*_world(10, n=6000)), 0.6, fix_p=False)
    refit = refit_mixture(data, everyone.coefficients, False, np.asarray(everyone.covariance))
    assert refit.converged and refit.covariance is None
    curved = with_curvature(refit, data)
    assert curved.coefficients == refit.coefficients
    assert curved.model_dump(exclude={"covariance"}) == refit.model_dump(exclude={"covariance"})
    np.testing.assert_allclose(curved.covariance, scratch.covariance, rtol=2e-3, atol=1e-9)
    one_family = fit_cure_model(durations, converted, "lognormal")
    assert with_curvature(one_family, data) is one_family  # not a mixture: left as it is


def test_a_segments_own_fit_keeps_the_curvature_of_its_delay_mixture() -> None:
    # the lifecycle model's refit of a stage's delays, as a segment's own fit makes it
    from funnelkit.lifecycle._components import FirstPurchaseCurve, _refit_curve
    from funnelkit.lifecycle._data import PreEntrants

    durations, converted = _world(11, n=3000)
    pre = PreEntrants(
        customers=np.arange(durations.size),
        durations=durations,
        converted=converted,
        member_at_purchase=np.zeros(durations.size, dtype=bool),
    )
    everyone = FirstPurchaseCurve(
        cure=fit_mixture(CureData.from_durations(*_world(12, n=6000)), 0.6, fix_p=False)
    )
    ones = np.ones(durations.size)
    quick = _refit_curve(pre, ones, everyone, [], "prospect")
    own = _refit_curve(pre, ones, everyone, [], "prospect", curvature=True)
    assert quick.cure is not None and own.cure is not None
    assert quick.cure.covariance is None and own.cure.coefficients == quick.cure.coefficients
    scratch = fit_mixture(CureData.from_durations(durations, converted), 0.6, fix_p=False)
    np.testing.assert_allclose(own.cure.covariance, scratch.covariance, rtol=2e-3, atol=1e-9)
