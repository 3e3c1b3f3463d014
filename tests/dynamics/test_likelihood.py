"""The per-stage likelihood: derivatives, boundary cases and recovery of λ and μ."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from _examples import DERANDOMIZE
from hypothesis import given, settings, strategies as st
from scipy import optimize, stats

from funnelkit.dynamics.likelihood import boundary_bounds, fit_stage, stage_loglik


def _censored_stage(
    rng: np.random.Generator, n: int, lam: float, mu: float, max_censor: float
) -> tuple[np.ndarray, np.ndarray]:
    theta = lam + mu
    leave = rng.exponential(1.0 / theta, n)
    advances = rng.random(n) < lam / theta
    censor = rng.uniform(0.0, max_censor, n)
    advanced = advances & (leave <= censor)
    return np.where(advanced, leave, censor), advanced


def test_loglik_matches_the_direct_formula_and_its_derivatives() -> None:
    rng = np.random.default_rng(11)
    d_adv, d_cen = rng.exponential(2.0, 40), rng.exponential(5.0, 60)
    x = np.array([-0.4, -1.3])
    ll, grad, hess = stage_loglik(x, d_adv, d_cen)
    lam, mu = np.exp(x)
    theta = lam + mu
    surv = np.exp(-theta * d_cen) + mu / theta * (1 - np.exp(-theta * d_cen))
    direct = np.sum(np.log(lam) - theta * d_adv) + np.sum(np.log(surv))
    assert ll == pytest.approx(direct, rel=1e-12)
    eps = 1e-6
    num_grad = [
        (stage_loglik(x + eps * e, d_adv, d_cen)[0] - stage_loglik(x - eps * e, d_adv, d_cen)[0])
        / (2 * eps)
        for e in np.eye(2)
    ]
    num_hess = [
        (stage_loglik(x + eps * e, d_adv, d_cen)[1] - stage_loglik(x - eps * e, d_adv, d_cen)[1])
        / (2 * eps)
        for e in np.eye(2)
    ]
    np.testing.assert_allclose(grad, num_grad, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(hess, num_hess, rtol=1e-5, atol=1e-5)


def test_loglik_is_finite_for_extreme_durations() -> None:
    ll, grad, hess = stage_loglik(np.array([2.0, 1.0]), np.array([1.0]), np.array([1e6, 0.0]))
    assert np.isfinite(ll)
    assert np.all(np.isfinite(grad))
    assert np.all(np.isfinite(hess))


@pytest.mark.parametrize(("lam", "mu", "max_censor"), [(0.2, 0.1, 40.0), (0.05, 0.15, 10.0)])
def test_recovers_rates_within_standard_errors_under_heavy_censoring(
    lam: float, mu: float, max_censor: float
) -> None:
    rng = np.random.default_rng(2024)
    duration, advanced = _censored_stage(rng, 6000, lam, mu, max_censor)
    fit = fit_stage(duration, advanced)
    assert fit.status == "estimated"
    assert fit.converged
    se = np.sqrt(np.diag(fit.log_covariance))
    errors = np.log([fit.advance_rate / lam, fit.dropout_rate / mu]) / se
    assert np.all(np.abs(errors) < 3.5), errors
    # The standard errors must be informative, not huge.
    assert np.all(se < 0.25)


def test_scale_of_time_does_not_change_the_fit() -> None:
    rng = np.random.default_rng(5)
    duration, advanced = _censored_stage(rng, 2000, 0.3, 0.2, 15.0)
    days = fit_stage(duration, advanced)
    weeks = fit_stage(duration / 7.0, advanced)
    assert weeks.advance_rate == pytest.approx(days.advance_rate * 7.0, rel=1e-6)
    assert weeks.dropout_rate == pytest.approx(days.dropout_rate * 7.0, rel=1e-6)
    np.testing.assert_allclose(weeks.log_covariance, days.log_covariance, rtol=1e-4)
    # Densities pick up the Jacobian of the time change: k log 7.
    shift = advanced.sum() * np.log(7.0)
    assert weeks.log_likelihood == pytest.approx(days.log_likelihood + shift, rel=1e-9)


def test_nobody_dropping_out_lands_on_the_boundary() -> None:
    # Those still waiting have waited far less than the advancers took: no sign of drop-out.
    duration = np.array([1.0, 2.0, 3.0, 4.0, 0.1, 0.2])
    advanced = np.array([True, True, True, True, False, False])
    fit = fit_stage(duration, advanced)
    assert fit.status == "no_dropout"
    assert fit.dropout_rate == 0.0
    assert fit.advance_rate == pytest.approx(advanced.sum() / duration.sum())
    assert fit.log_covariance[0, 0] == pytest.approx(1.0 / advanced.sum())
    assert np.isnan(fit.log_covariance[1, 1])


def test_degenerate_stages_have_a_status_instead_of_numbers() -> None:
    empty = fit_stage(np.array([]), np.array([], dtype=bool))
    assert empty.status == "no_entrants"
    assert np.isnan(empty.advance_rate)
    waiting = fit_stage(np.array([3.0, 5.0]), np.array([False, False]))
    assert waiting.status == "no_advances"
    assert waiting.advance_rate == 0.0
    assert np.isnan(waiting.dropout_rate)
    unseen = fit_stage(np.zeros(4), np.zeros(4, dtype=bool))
    assert unseen.status == "no_exposure"
    assert np.isnan(unseen.advance_rate)
    instant = fit_stage(np.zeros(3), np.ones(3, dtype=bool))
    assert instant.status == "instantaneous"


def test_boundary_bounds_are_where_the_profile_likelihood_drops_by_the_chi2_quantile() -> None:
    rng = np.random.default_rng(4)
    duration, advanced = _censored_stage(rng, 800, 0.2, 0.0, 30.0)
    fit = fit_stage(duration, advanced)
    assert fit.status == "no_dropout"  # with this seed the maximum is on the boundary
    mu_upper, p_lower = boundary_bounds(duration, advanced, fit, 0.95)
    assert 0 < mu_upper < 0.05
    assert 0.8 < p_lower < 1.0
    d_adv, d_cen = duration[advanced], duration[~advanced]
    drop = stats.chi2.ppf(0.95, 1) / 2

    def best_over_lambda(log_mu_of_a) -> float:
        res = optimize.minimize_scalar(
            lambda a: -stage_loglik(np.array([a, log_mu_of_a(a)]), d_adv, d_cen)[0],
            bounds=(-10, 5),
            method="bounded",
            options={"xatol": 1e-10},
        )
        return -res.fun

    at_mu = best_over_lambda(lambda a: np.log(mu_upper))
    at_p = best_over_lambda(lambda a: a + np.log((1 - p_lower) / p_lower))
    assert at_mu == pytest.approx(fit.log_likelihood - drop, abs=1e-6)
    assert at_p == pytest.approx(fit.log_likelihood - drop, abs=1e-6)


def test_intervals_of_hopelessly_uncertain_estimates_do_not_overflow() -> None:
    from funnelkit.dynamics.results import log_scale_estimate, logit_scale_estimate

    wide = logit_scale_estimate(0.3, 800.0, 1.96)
    assert (wide.lower, wide.upper) == (0.0, 1.0)
    rate = log_scale_estimate(0.1, 800.0, 1.96)
    assert rate.lower == 0.0 and rate.upper == np.inf
    assert "Infinity" in rate.model_dump_json()


@given(
    st.integers(1, 50),
    st.floats(-3.0, 4.0),
    st.floats(0.0, 1.0),
    st.integers(0, 2**32 - 1),
)
@settings(max_examples=60, deadline=None, derandomize=DERANDOMIZE)
def test_fit_is_a_global_maximum_on_small_awkward_samples(
    n: int, log_scale: float, share: float, seed: int
) -> None:
    # Tiny samples, zero durations and extreme time scales: no warning, no error, and no
    # multi-start Nelder-Mead search finds a higher likelihood.
    rng = np.random.default_rng(seed)
    scale = 10.0**log_scale
    duration = rng.exponential(scale, n) * (rng.random(n) < 0.9)
    advanced = rng.random(n) < share
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fit = fit_stage(duration, advanced)
    if fit.status not in ("estimated", "no_dropout"):
        return
    d_adv, d_cen = duration[advanced], duration[~advanced]
    for start in ([1.0, 1.0], [0.1, 1.0], [1.0, 0.01]):
        with np.errstate(all="ignore"):
            other = optimize.minimize(
                lambda x: -stage_loglik(x, d_adv, d_cen)[0],
                np.log(np.array(start) / scale),
                method="Nelder-Mead",
                options={"xatol": 1e-10, "fatol": 1e-12, "maxiter": 4000},
            )
        assert -other.fun <= fit.log_likelihood + 1e-6
