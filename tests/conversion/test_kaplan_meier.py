"""Kaplan-Meier cumulative conversion against lifelines' KaplanMeierFitter and first principles."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from funnelkit.conversion.kaplan_meier import KaplanMeierCurve, kaplan_meier
from funnelkit.intervals import normal_quantile


@pytest.fixture
def lifelines():
    """The reference implementation: only the oracle comparisons skip without it."""
    return pytest.importorskip("lifelines")


def _censored_sample(seed: int, n: int, *, rounding: float | None = None):
    rng = np.random.default_rng(seed)
    delay = rng.weibull(1.3, n) * 8.0
    follow = rng.uniform(0.0, 20.0, n)
    will = rng.random(n) < 0.6
    converted = will & (delay <= follow)
    durations = np.where(converted, delay, follow)
    if rounding is not None:  # heavy ties between conversions and censorings
        durations = np.round(durations / rounding) * rounding
    return durations, converted


def _lifelines_at(lifelines, durations, converted, conf_level):
    kmf = lifelines.KaplanMeierFitter(alpha=1 - conf_level).fit(durations, converted)
    sf = kmf.survival_function_.iloc[:, 0]
    ci = kmf.confidence_interval_survival_function_
    return sf, ci.iloc[:, 0], ci.iloc[:, 1]


@pytest.mark.parametrize(
    ("seed", "rounding", "conf_level"), [(0, None, 0.95), (1, 1.0, 0.9), (2, 0.5, 0.99)]
)
def test_matches_lifelines_survival_and_log_log_band(lifelines, seed, rounding, conf_level) -> None:
    durations, converted = _censored_sample(seed, 800, rounding=rounding)
    km = kaplan_meier(durations, converted, conf_level=conf_level)
    sf, lo, hi = _lifelines_at(lifelines, durations, converted, conf_level)
    np.testing.assert_allclose(1.0 - km.rate, sf.loc[km.times].to_numpy(), rtol=1e-12, atol=1e-14)
    ok = ~np.isnan(km.lower)
    assert ok[:-1].all()  # only a final jump to 100% can lose its band
    # our band is for the cumulative conversion F = 1 - S: it flips lifelines' survival band
    np.testing.assert_allclose(1.0 - km.upper[ok], lo.loc[km.times[ok]].to_numpy(), rtol=1e-10)
    np.testing.assert_allclose(1.0 - km.lower[ok], hi.loc[km.times[ok]].to_numpy(), rtol=1e-10)


def test_greenwood_variance_matches_lifelines_and_linear_band(lifelines) -> None:
    durations, converted = _censored_sample(3, 500, rounding=0.25)
    km = kaplan_meier(durations, converted, ci_method="linear")
    kmf = lifelines.KaplanMeierFitter().fit(durations, converted)
    np.testing.assert_allclose(
        km.greenwood, kmf._cumulative_sq_.loc[km.times].to_numpy(), rtol=1e-12
    )
    z = normal_quantile(0.95)
    half = z * (1.0 - km.rate) * np.sqrt(km.greenwood)
    np.testing.assert_allclose(km.lower, np.clip(km.rate - half, 0, 1), rtol=1e-12)
    np.testing.assert_allclose(km.upper, np.clip(km.rate + half, 0, 1), rtol=1e-12)


def test_conversions_come_before_censorings_at_the_same_time() -> None:
    # at t=2 one converts and one is censored: both are at risk, so S drops by 1/3, not 1/2
    km = kaplan_meier(np.array([1.0, 2.0, 2.0, 3.0]), np.array([True, True, False, False]))
    assert km.times.tolist() == [1.0, 2.0]
    assert km.n_at_risk.tolist() == [4, 3]
    np.testing.assert_allclose(km.rate, [0.25, 1 - 0.75 * (2 / 3)])
    assert km.max_followup == 3.0


def test_no_censoring_gives_the_empirical_cdf_and_an_unestimable_final_band() -> None:
    t = np.array([3.0, 1.0, 2.0, 2.0])
    km = kaplan_meier(t, np.ones(4, dtype=bool))
    np.testing.assert_allclose(km.rate, [0.25, 0.75, 1.0])
    assert np.isnan(km.lower[-1]) and np.isnan(km.upper[-1])


def test_empty_and_no_conversion_inputs_are_well_defined() -> None:
    empty = kaplan_meier(np.empty(0), np.empty(0, dtype=bool))
    assert empty.n_entered == 0 and empty.times.size == 0
    none = kaplan_meier(np.zeros(5), np.zeros(5, dtype=bool))
    assert none.times.size == 0 and none.max_followup == 0.0


def test_curve_result_round_trips_and_reads_steps() -> None:
    durations, converted = _censored_sample(4, 200)
    km = kaplan_meier(durations, converted)
    curve = KaplanMeierCurve.from_arrays(km, conf_level=0.95, ci_method="log-log")
    again = KaplanMeierCurve.from_json(curve.to_json())
    assert again == curve
    rate, ci = again.rate_at(float(km.times[3]) + 1e-9)
    assert rate == km.rate[3] and ci == (km.lower[3], km.upper[3])
    assert again.rate_at(float(km.times[0]) / 2) == (0.0, None)
    assert "conversion times" in again.as_text()


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 12).map(float), st.booleans()), min_size=1, max_size=40))
def test_properties_monotone_bounded_and_band_contains_estimate(rows) -> None:
    durations = np.array([r[0] for r in rows])
    converted = np.array([r[1] for r in rows])
    km = kaplan_meier(durations, converted)
    assert np.all(np.diff(km.rate) > 0)
    assert np.all((km.rate > 0) & (km.rate <= 1))
    ok = ~np.isnan(km.lower)
    assert np.all(km.lower[ok] <= km.rate[ok] + 1e-12)
    assert np.all(km.upper[ok] >= km.rate[ok] - 1e-12)
    assert km.n_converted.sum() == converted.sum()
    # brute force product-limit at every conversion time
    surv = 1.0
    for t, d, r in zip(km.times, km.n_converted, km.n_at_risk, strict=True):
        assert r == np.sum(durations >= t)
        assert d == np.sum(converted & (durations == t))
        surv *= 1 - d / r
    if km.rate.size:
        assert km.rate[-1] == pytest.approx(1 - surv)


def test_curve_from_arrays_equals_the_validated_curve() -> None:
    # A curve that reaches 1 has a missing band at its end: stored as None, as validation would.
    durations, converted = _censored_sample(3, 500)
    converted[np.argmax(durations)] = True
    km = kaplan_meier(durations, converted, conf_level=0.9)
    curve = KaplanMeierCurve.from_arrays(km, conf_level=0.9, ci_method="log-log")
    validated = KaplanMeierCurve.model_validate(curve.model_dump())
    assert curve == validated
    assert curve.to_json() == validated.to_json()
    assert curve.lower[-1] is None and curve.upper[-1] is None
    assert curve.lower.count(None) == int(np.isnan(km.lower).sum())
    assert all(type(v) is int for v in curve.n_at_risk + curve.n_converted)
    assert curve.times == tuple(km.times.tolist())


def test_curve_from_arrays_still_rejects_a_bad_setting() -> None:
    from pydantic import ValidationError

    km = kaplan_meier(np.array([1.0, 2.0]), np.array([True, False]))
    with pytest.raises(ValidationError, match="ci_method"):
        KaplanMeierCurve.from_arrays(km, conf_level=0.95, ci_method="plain")  # type: ignore[arg-type]


def test_curves_compare_and_hash_by_their_fields_after_reading_steps() -> None:
    durations, converted = _censored_sample(4, 200)
    km = kaplan_meier(durations, converted)
    one = KaplanMeierCurve.from_arrays(km, conf_level=0.95, ci_method="log-log")
    two = KaplanMeierCurve.from_json(one.to_json())
    other = KaplanMeierCurve.from_arrays(km, conf_level=0.9, ci_method="log-log")
    # reading a step caches the float arrays on each curve
    assert one.rate_at(5.0) == two.rate_at(5.0)
    other.rate_at(5.0)
    assert one == two and hash(one) == hash(two)
    assert one != other
    assert len({one, two, other}) == 2


def test_a_built_curve_keeps_the_arrays_of_its_loaded_copy() -> None:
    rng = np.random.default_rng(11)
    durations = rng.exponential(5.0, 3000).round(1)
    converted = rng.random(3000) < 0.4
    km = kaplan_meier(durations, converted)
    curve = KaplanMeierCurve.from_arrays(km, conf_level=0.95, ci_method="log-log")
    loaded = KaplanMeierCurve.model_validate_json(curve.model_dump_json())
    assert loaded == curve
    assert loaded.model_dump_json() == curve.model_dump_json()
    assert "arrays" not in curve.model_dump()
    for built, read in zip(curve.arrays, loaded.arrays, strict=True):
        assert built.dtype == read.dtype == np.float64
        np.testing.assert_array_equal(built, read)
    assert np.isnan(curve.arrays[2]).tolist() == [v is None for v in curve.lower]
