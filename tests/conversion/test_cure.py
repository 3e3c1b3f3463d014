"""Mixture cure models: derivatives, recovery of known parameters, edge cases."""

from __future__ import annotations

import math

import numpy as np
import pytest

from funnelkit.conversion.cure import CureData, fit_cure_model, log_likelihood_parts
from funnelkit.conversion.cure_result import CureFit
from funnelkit.conversion.delay import FAMILIES
from funnelkit.datasets.conversion import DelaySpec


def _sample(seed: int, n: int, p: float, delay: DelaySpec, follow_up: float):
    rng = np.random.default_rng(seed)
    will = rng.random(n) < p
    delays = delay.sample(rng, n)
    window = rng.uniform(0.0, follow_up, n)
    converted = will & (delays <= window)
    return np.where(converted, delays, window), converted


@pytest.mark.parametrize("name", ["exponential", "weibull", "lognormal"])
@pytest.mark.parametrize("fix_p", [False, True])
def test_gradient_and_hessian_match_finite_differences(name: str, fix_p: bool) -> None:
    durations, converted = _sample(0, 3000, 0.5, DelaySpec(scale=5.0, shape=1.4), 30.0)
    durations[:5] = 0.0  # conversions at time 0 and censorings at time 0
    converted[:3] = True
    data = CureData.from_durations(durations, converted)
    family = FAMILIES[name]
    k = 1 + family.n_delay_params - int(fix_p)
    theta = np.array([0.2, 1.5, -0.2][int(fix_p) : int(fix_p) + k])
    _, grad, hess = log_likelihood_parts(theta, data, family, fix_p=fix_p)
    h = 1e-6
    num_g, num_h = np.empty(k), np.empty((k, k))
    for i in range(k):
        step = np.eye(k)[i] * h
        up = log_likelihood_parts(theta + step, data, family, fix_p=fix_p)
        down = log_likelihood_parts(theta - step, data, family, fix_p=fix_p)
        num_g[i] = (up[0] - down[0]) / (2 * h)
        num_h[i] = (up[1] - down[1]) / (2 * h)
    np.testing.assert_allclose(grad, num_g, rtol=1e-6, atol=1e-5)
    np.testing.assert_allclose(hess, num_h, rtol=1e-6, atol=1e-4)


@pytest.mark.parametrize(
    "delay",
    [
        DelaySpec(distribution="exponential", scale=6.0),
        DelaySpec(distribution="weibull", scale=8.0, shape=1.6),
        DelaySpec(distribution="lognormal", scale=10.0, shape=0.7),
    ],
)
def test_recovers_rate_and_delay_and_prefers_the_true_family(delay: DelaySpec) -> None:
    durations, converted = _sample(11, 20_000, 0.35, delay, 60.0)
    fits = {n: fit_cure_model(durations, converted, n) for n in FAMILIES}
    assert all(f.converged for f in fits.values())
    true = fits[delay.distribution]
    assert true.eventual_rate == pytest.approx(0.35, abs=0.015)
    lo, hi = true.eventual_rate_interval()
    assert lo < true.eventual_rate < hi
    assert true.delay_parameters["scale"] == pytest.approx(delay.scale, rel=0.05)
    assert true.delay_parameters["shape"] == pytest.approx(delay.shape, rel=0.05)
    median, (mlo, mhi) = true.delay_quantile(0.5)
    assert mlo < median < mhi
    assert median == pytest.approx(delay.quantile(0.5), rel=0.05)
    # AIC prefers the true family (the exponential is a Weibull with shape 1, so allow a tie)
    best = min(fits.values(), key=lambda f: f.aic)
    if delay.distribution == "exponential":
        assert best.distribution in {"exponential", "weibull"}
    else:
        assert best.distribution == delay.distribution


def test_rate_within_matches_p_times_delay_cdf_and_has_a_logit_interval() -> None:
    delay = DelaySpec(distribution="weibull", scale=8.0, shape=1.6)
    durations, converted = _sample(12, 5000, 0.4, delay, 50.0)
    fit = fit_cure_model(durations, converted, "weibull")
    rate, (lo, hi) = fit.rate_within(10.0)
    assert rate == pytest.approx(float(fit.cdf(10.0)))
    assert lo < rate < hi
    assert rate == pytest.approx(0.4 * float(delay.cdf(10.0)), abs=0.02)
    assert fit.rate_within(0.0) == (0.0, None)


def test_everyone_converted_fixes_p_at_one() -> None:
    rng = np.random.default_rng(3)
    durations = rng.exponential(4.0, 300)
    fit = fit_cure_model(durations, np.ones(300, dtype=bool), "exponential")
    assert fit.p_fixed and fit.converged
    assert fit.eventual_rate == 1.0 and fit.eventual_rate_interval() is None
    assert fit.delay_parameters["scale"] == pytest.approx(durations.mean(), rel=1e-6)


def test_zero_durations_are_handled_as_tiny_intervals() -> None:
    durations, converted = _sample(4, 2000, 0.5, DelaySpec(scale=5.0, shape=1.2), 40.0)
    idx = np.flatnonzero(converted)[:50]
    durations[idx] = 0.0
    fit = fit_cure_model(durations, converted, "lognormal")
    assert fit.converged and math.isfinite(fit.log_likelihood)


def test_fit_result_round_trips_through_json() -> None:
    durations, converted = _sample(5, 1000, 0.5, DelaySpec(scale=5.0, shape=1.2), 40.0)
    fit = fit_cure_model(durations, converted, "weibull")
    again = CureFit.from_json(fit.to_json())
    assert again == fit
    assert again.rate_within(5.0) == fit.rate_within(5.0)
    assert again.parameter_names == ("logit_p", "location", "log_s")


def test_eventual_rate_ci_method_is_a_warning_alias_of_eventual_rate_interval() -> None:
    durations, converted = _sample(6, 1000, 0.4, DelaySpec(scale=5.0, shape=1.0), 40.0)
    fit = fit_cure_model(durations, converted, "exponential")
    with pytest.warns(DeprecationWarning, match="eventual_rate_interval"):
        old = fit.eventual_rate_ci(0.9)
    new = fit.eventual_rate_interval(0.9)
    assert old == new and new is not None
    assert new.estimate == fit.eventual_rate and new.level == 0.9
    se = fit.eventual_rate_std_error
    assert se is not None and new.lower < fit.eventual_rate - se < fit.eventual_rate < new.upper
