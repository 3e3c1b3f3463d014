"""Every fitted cure model is checked against Kaplan-Meier."""

from __future__ import annotations

import numpy as np
import pytest

from funnelkit.conversion.cure import fit_cure_model
from funnelkit.conversion.estimate import _consistent_with_km, estimate_transition
from funnelkit.conversion.kaplan_meier import kaplan_meier
from funnelkit.units import TimeUnit


def _two_mode_world(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """60% convert: 85% of them within about a minute, the rest about 10 days later."""
    rng = np.random.default_rng(seed)
    n = 4000
    will = rng.random(n) < 0.6
    early = rng.random(n) < 0.85
    delay = np.where(
        early, rng.lognormal(np.log(0.0005), 0.8, n), rng.lognormal(np.log(10.0), 0.7, n)
    )
    follow_up = rng.uniform(0.0, 40.0, n)
    converted = will & (delay <= follow_up)
    return np.where(converted, delay, follow_up), converted


def _estimate(durations: np.ndarray, converted: np.ndarray, model: str = "auto"):  # type: ignore[no-untyped-def]
    return estimate_transition(
        durations,
        converted,
        source="visitor",
        target="member",
        segment=None,
        time_unit=TimeUnit.parse("day"),
        model=model,
        conf_level=0.95,
        ci_method="log-log",
        quantiles=(0.5,),
    )


def test_a_single_shape_fit_below_what_was_observed_is_not_used() -> None:
    durations, converted = _two_mode_world(3)
    single = fit_cure_model(durations, converted, "lognormal")
    km = kaplan_meier(durations, converted)
    assert single.converged
    assert single.eventual_rate < km.lower[-1]  # the failure, reproduced
    estimate = _estimate(durations, converted, model="lognormal")
    assert estimate.model == "kaplan-meier"
    assert estimate.eventual_rate == pytest.approx(float(km.rate[-1]), abs=1e-15)
    assert estimate.eventual_rate >= float(km.rate[-1])
    assert any(
        note.startswith("the lognormal cure model's eventual rate 0.567 is below the Kaplan-Meier")
        for note in estimate.notes
    )
    assert any("Kaplan-Meier estimates are reported" in note for note in estimate.notes)


def test_a_far_worse_family_is_no_fallback() -> None:
    # The exponential's eventual rate is within Kaplan-Meier's band, but its AIC is thousands worse
    # than the log-normal's: once the log-normal is set aside, neither answers.
    durations, converted = _two_mode_world(3)
    km = kaplan_meier(durations, converted)
    fits = {
        name: fit_cure_model(durations, converted, name) for name in ("exponential", "lognormal")
    }
    assert fits["exponential"].eventual_rate > km.lower[-1]
    assert fits["exponential"].aic - fits["lognormal"].aic > 1000
    notes: list[str] = []
    assert _consistent_with_km(fits, km, TimeUnit.parse("day"), notes) == {}
    assert len(notes) == 1 and notes[0].startswith("the lognormal cure model's eventual rate")


def test_auto_fits_two_modes_when_no_single_shape_follows_the_curve() -> None:
    durations, converted = _two_mode_world(3)
    estimate = _estimate(durations, converted)
    assert estimate.model == "lognormal-mixture"
    assert set(estimate.model_aic) == {"exponential", "weibull", "lognormal", "lognormal-mixture"}
    # the single shapes are now far worse than the mixture: set aside without a note each
    assert estimate.notes == (
        "no single-shape delay follows the Kaplan-Meier curve consistently: a two-component "
        "delay was fitted as well",
    )
    km = kaplan_meier(durations, converted)
    assert estimate.eventual_rate is not None and estimate.eventual_rate >= km.rate[-1]
    assert estimate.eventual_rate_ci is not None
    assert estimate.eventual_rate_ci.lower < 0.6 < estimate.eventual_rate_ci.upper
    fit = estimate.cure_fit
    assert fit is not None and fit.km_distance is not None and fit.km_distance < 0.015


def test_auto_keeps_a_single_shape_that_follows_the_curve() -> None:
    rng = np.random.default_rng(12)
    n = 3000
    will = rng.random(n) < 0.4
    delay = rng.weibull(1.3, n) * 8.0
    follow_up = rng.uniform(0.0, 90.0, n)
    converted = will & (delay <= follow_up)
    estimate = _estimate(np.where(converted, delay, follow_up), converted)
    assert estimate.model == "weibull"
    assert "lognormal-mixture" not in estimate.model_aic
    assert estimate.notes == ()


def test_the_chosen_fit_carries_its_distance_to_kaplan_meier() -> None:
    rng = np.random.default_rng(11)
    n = 3000
    will = rng.random(n) < 0.4
    delay = rng.weibull(1.3, n) * 8.0
    follow_up = rng.uniform(0.0, 90.0, n)
    converted = will & (delay <= follow_up)
    durations = np.where(converted, delay, follow_up)
    estimate = _estimate(durations, converted, model="weibull")
    fit = estimate.cure_fit
    assert fit is not None and fit.km_distance is not None
    km = kaplan_meier(durations, converted)
    model = fit.cdf(km.times)
    before = np.concatenate(([0.0], km.rate[:-1]))
    expected = max(np.abs(model - km.rate).max(), np.abs(model - before).max())
    assert fit.km_distance == pytest.approx(expected, rel=1e-12)
    assert fit.km_distance < 0.02  # the right family follows the curve closely
    assert fit.eventual_rate >= km.lower[-1]
    # the statistic survives the JSON round trip
    assert type(estimate).from_json(estimate.to_json()).cure_fit.km_distance == fit.km_distance  # type: ignore[union-attr]


def test_distance_of_an_empty_curve_is_zero() -> None:
    durations, converted = _two_mode_world(3)
    fit = fit_cure_model(durations, converted, "weibull")
    assert fit.distance_to(np.array([]), np.array([])) == 0.0
