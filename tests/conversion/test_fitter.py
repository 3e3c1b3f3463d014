"""ConversionFitter: estimator conventions, results, and every awkward input."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

import funnelkit
from funnelkit import EventLog, Funnel, NotFittedError
from funnelkit.conversion import (
    ConversionFitter,
    ConversionSummary,
    TransitionEstimate,
    format_conversion_table,
)
from funnelkit.datasets import simulate_community
from funnelkit.datasets.conversion import simulate_transitions
from funnelkit.exceptions import DataError, FunnelkitError
from funnelkit.journeys import Journeys


def _journeys(entry: list[list[float]], end: float | list[float], **attributes) -> Journeys:
    times = np.array(entry, dtype=float).reshape(len(entry), -1)
    n = times.shape[0]
    return Journeys(
        stage_names=tuple(f"s{k}" for k in range(times.shape[1])),
        entry_times=times,
        customer_ids=np.array([f"c{i}" for i in range(n)], dtype=object),
        censoring_times=np.broadcast_to(np.asarray(end, dtype=float), (n,)).copy(),
        time_unit="D",
        attributes={k: np.asarray(v, dtype=object) for k, v in attributes.items()},
    )


@pytest.fixture(scope="module")
def sim():
    return simulate_transitions(1500, seed=21)


@pytest.fixture(scope="module")
def fitted(sim):
    return ConversionFitter().fit(sim.journeys)


# ---------------------------------------------------------------------- conventions
def test_top_level_export_and_fit_returns_self(sim) -> None:
    assert funnelkit.ConversionFitter is ConversionFitter
    assert funnelkit.TransitionEstimate is TransitionEstimate
    fitter = ConversionFitter(conf_level=0.9)
    assert fitter.fit(sim.journeys) is fitter
    assert fitter.transitions_ == (("visitor", "member"), ("member", "buyer"))
    assert fitter.n_customers_ == 1500 and fitter.time_unit_.value == "day"
    assert fitter.comparison_ is None and fitter.by_ is None


def test_init_only_stores_settings_and_repr_shows_changes() -> None:
    fitter = ConversionFitter(model="weibull", conf_level=0.9)
    assert fitter.get_params() == {
        "model": "weibull",
        "conf_level": 0.9,
        "ci_method": "log-log",
        "pairs": None,
        "quantiles": (0.25, 0.5, 0.75, 0.9),
        "windows": None,
    }
    assert repr(fitter) == "ConversionFitter(model='weibull', conf_level=0.9)"
    assert not [k for k in vars(fitter) if k.endswith("_")]
    assert "fitted" in fitter._repr_html_()


def test_fitted_only_methods_raise_not_fitted() -> None:
    fitter = ConversionFitter()
    with pytest.raises(NotFittedError, match="call fit"):
        fitter.estimate("a", "b")
    with pytest.raises(NotFittedError):
        fitter.summary()
    with pytest.raises(NotFittedError, match="estimates_"):
        _ = fitter.estimates_


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (
            {"conf_level": 2},
            "The 'conf_level' parameter of ConversionFitter must be in (0, 1). Got 2 instead.",
        ),
        ({"conf_level": True}, "must be in (0, 1)"),
        ({"model": "gamma"}, "The 'model' parameter of ConversionFitter must be one of"),
        ({"ci_method": "plain"}, "The 'ci_method' parameter"),
        ({"quantiles": (0.5, 1.0)}, "The 'quantiles' parameter"),
        ({"pairs": [("visitor",)]}, "The 'pairs' parameter"),
        ({"pairs": [("visitor", "nowhere")]}, "No stage named 'nowhere'"),
        ({"pairs": [("member", "member")]}, "two different stages"),
    ],
)
def test_settings_are_validated_at_fit_time(sim, settings, message) -> None:
    fitter = ConversionFitter(**settings)  # no error yet
    with pytest.raises(FunnelkitError) as info:
        fitter.fit(sim.journeys)
    assert message in str(info.value)


def test_fit_refuses_non_journeys_and_unknown_by(sim) -> None:
    with pytest.raises(FunnelkitError, match="takes Journeys"):
        ConversionFitter().fit(np.zeros(3))  # type: ignore[arg-type]
    with pytest.raises(FunnelkitError, match=r"Did you mean one of these: \['segment'\]"):
        ConversionFitter().fit(sim.journeys, by="segmnt")
    with pytest.raises(FunnelkitError, match="cohort period"):
        ConversionFitter().fit(sim.journeys, by="cohort:fortnight")


# ---------------------------------------------------------------------- results
def test_estimate_fields_and_naive_versus_eventual(fitted, sim) -> None:
    est = fitted.estimate("member", "buyer")
    assert est.n_entered == est.n_converted + est.n_censored
    assert est.naive_rate == pytest.approx(est.n_converted / est.n_entered)
    lo, hi = est.naive_rate_ci
    assert lo < est.naive_rate < hi
    assert est.model in {"exponential", "weibull", "lognormal"}
    assert set(est.model_aic) == {"exponential", "weibull", "lognormal"}
    assert est.model_aic[est.model] == min(v for v in est.model_aic.values() if v is not None)
    elo, ehi = est.eventual_rate_ci
    assert elo < est.eventual_rate < ehi
    assert est.eventual_rate > est.naive_rate  # heavy censoring: naive is biased low
    assert est.median_time_ci[0] < est.median_time < est.median_time_ci[1]
    levels = [q.level for q in est.time_quantiles]
    assert levels == [0.25, 0.5, 0.75, 0.9]
    times = [q.time for q in est.time_quantiles]
    assert times == sorted(times)
    assert est.time_to_convert(0.5).time == est.median_time
    assert est.time_to_convert(0.6).time > est.median_time


def test_rate_within_uses_km_inside_follow_up_and_the_model_beyond(fitted) -> None:
    est = fitted.estimate("visitor", "member")
    inside = est.rate_within(7)
    assert inside.method == "kaplan-meier" and not inside.extrapolated
    assert inside.rate == est.curve.rate_at(7.0)[0]
    assert inside.rate_ci[0] < inside.rate < inside.rate_ci[1]
    model = est.rate_within(7, method="model")
    assert model.method == est.model
    assert model.rate == pytest.approx(inside.rate, abs=0.03)
    far = est.rate_within(10 * est.max_followup)
    assert far.extrapolated and far.method == est.model
    assert far.rate == pytest.approx(est.eventual_rate, abs=1e-3)
    assert est.rate_within(10 * est.max_followup, method="kaplan-meier").rate is None
    assert est.rate_within(0).rate == 0.0
    with pytest.raises(FunnelkitError, match="window must be"):
        est.rate_within(-1)
    with pytest.raises(FunnelkitError, match="window must be"):
        est.rate_within(float("nan"))


def test_estimate_lookup_errors(fitted) -> None:
    with pytest.raises(FunnelkitError, match="pairs="):
        fitted.estimate("visitor", "buyer")
    with pytest.raises(FunnelkitError, match="no segments"):
        fitted.estimate("visitor", "member", "x")


def test_extra_pairs_are_estimated(sim) -> None:
    fitter = ConversionFitter(pairs=[("visitor", "buyer")]).fit(sim.journeys)
    assert fitter.transitions_[-1] == ("visitor", "buyer")
    direct = fitter.estimate("visitor", "buyer")
    # a visitor reaches buyer only through member: no more likely than either step
    assert direct.n_converted == fitter.estimate("member", "buyer").n_converted
    assert direct.eventual_rate < fitter.estimate("visitor", "member").eventual_rate


def test_results_round_trip_json_and_render(fitted) -> None:
    est = fitted.estimate("visitor", "member")
    again = TransitionEstimate.from_json(est.to_json())
    assert again == est
    assert again.rate_within(5.0) == est.rate_within(5.0)
    assert "eventual rate" in est.as_text() and "<table" in est._repr_html_()
    summary = fitted.conversion_summary()
    assert ConversionSummary.from_json(summary.to_json()) == summary
    text = format_conversion_table(fitted)
    assert text == summary.as_text() == str(summary)
    assert "visitor -> member" in text and "not estimable" not in text
    assert text.isascii()
    html = summary._repr_html_()
    assert html.count("<tr>") == 1 + len(summary.rows)
    frame = summary.to_frame()
    assert list(frame["target"]) == ["member", "buyer"]
    assert {"eventual_rate_lower", "eventual_rate_upper", "naive_rate_lower"} <= set(frame.columns)
    assert fitted.estimates_[("visitor", "member", None)] is est
    records = summary.to_records()
    assert json.loads(json.dumps(records))[0]["source"] == "visitor"


def test_kaplan_meier_model_reports_the_plateau(sim) -> None:
    fitter = ConversionFitter(model="kaplan-meier").fit(sim.journeys)
    est = fitter.estimate("visitor", "member")
    assert est.model == "kaplan-meier" and est.cure_fit is None and est.model_aic == {}
    assert est.eventual_rate == est.km_plateau_rate == est.curve.rate[-1]
    assert est.eventual_rate_ci == est.km_plateau_rate_ci
    lo, hi = est.median_time_ci
    assert lo <= est.median_time <= hi
    assert any("Maller & Zhou" in n for n in est.notes)
    assert est.rate_within(1e6).rate is None  # no model to extrapolate with


def test_linear_band_and_other_conf_level(sim) -> None:
    wide = ConversionFitter(conf_level=0.99, ci_method="linear").fit(sim.journeys)
    narrow = ConversionFitter(conf_level=0.8).fit(sim.journeys)
    a = wide.estimate("visitor", "member")
    b = narrow.estimate("visitor", "member")
    assert a.curve.ci_method == "linear"
    assert a.eventual_rate == pytest.approx(b.eventual_rate)
    assert (a.eventual_rate_ci[1] - a.eventual_rate_ci[0]) > (
        b.eventual_rate_ci[1] - b.eventual_rate_ci[0]
    )


# ---------------------------------------------------------------------- awkward inputs
def _no_nan_numbers(est: TransitionEstimate) -> None:
    for name, value in est:
        if isinstance(value, float):
            assert math.isfinite(value), name
        if isinstance(value, tuple) and value and isinstance(value[0], float):
            assert all(math.isfinite(v) for v in value), name
    json.loads(est.to_json())


def test_no_entrants_in_a_stage_gives_not_estimable() -> None:
    journeys = _journeys([[0.0, np.nan, np.nan], [1.0, np.nan, np.nan]], 10.0)
    fitter = ConversionFitter().fit(journeys)
    est = fitter.estimate("s1", "s2")
    assert est.n_entered == 0
    assert est.naive_rate is None and est.naive_rate_ci is None
    assert est.eventual_rate is None and est.eventual_rate_ci is None
    assert est.median_time is None and est.max_followup is None
    assert est.rate_within(3).rate is None
    assert "nobody entered" in " ".join(est.notes)
    assert "not estimable" in fitter.conversion_summary().as_text()
    _no_nan_numbers(est)


def test_a_stage_nobody_converts_from() -> None:
    journeys = _journeys([[0.0, np.nan], [1.0, np.nan], [3.0, np.nan]], 10.0)
    est = ConversionFitter().fit(journeys).estimate("s0", "s1")
    assert est.n_converted == 0 and est.naive_rate == 0.0
    assert est.naive_rate_ci[0] == 0.0 and 0 < est.naive_rate_ci[1] < 1
    assert est.eventual_rate is None and est.eventual_rate_ci is None
    assert est.median_time is None and est.km_plateau_rate == 0.0
    assert est.rate_within(2).rate == 0.0 and est.rate_within(2).rate_ci is None
    assert any("no conversions" in n for n in est.notes)
    _no_nan_numbers(est)


def test_everyone_censored_at_time_zero() -> None:
    journeys = _journeys([[5.0, np.nan]] * 4, 5.0)
    est = ConversionFitter().fit(journeys).estimate("s0", "s1")
    assert est.n_entered == 4 and est.max_followup == 0.0
    assert est.eventual_rate is None
    assert any("censored at time zero" in n for n in est.notes)
    _no_nan_numbers(est)


def test_everyone_converted_and_conversions_at_time_zero() -> None:
    rng = np.random.default_rng(4)
    start = rng.uniform(0, 5, 40)
    delay = rng.exponential(2.0, 40)
    delay[:6] = 0.0
    journeys = _journeys(np.c_[start, start + delay].tolist(), 100.0)
    est = ConversionFitter().fit(journeys).estimate("s0", "s1")
    assert est.eventual_rate == 1.0
    assert est.eventual_rate_ci == est.naive_rate_ci  # nobody is censored: Wilson on n/n
    assert est.median_time is not None and est.median_time_ci is not None
    _no_nan_numbers(est)


def test_too_few_conversions_fall_back_to_kaplan_meier() -> None:
    journeys = _journeys([[0.0, 2.0], [0.0, np.nan], [1.0, 4.0], [2.0, np.nan]], 10.0)
    est = ConversionFitter().fit(journeys).estimate("s0", "s1")
    assert est.model == "kaplan-meier"
    assert est.eventual_rate == pytest.approx(0.5)
    assert any("too few" in n for n in est.notes)
    _no_nan_numbers(est)


def test_single_customer_segments_are_well_defined() -> None:
    rng = np.random.default_rng(6)
    n = 60
    start = rng.uniform(0, 10, n)
    stop = np.where(rng.random(n) < 0.5, start + rng.exponential(3.0, n), np.nan)
    channel = np.array(["big"] * (n - 2) + ["solo_converter", "solo_waiting"], dtype=object)
    stop[-2], stop[-1] = start[-2] + 1.0, np.nan
    journeys = _journeys(np.c_[start, stop].tolist(), 30.0, channel=channel)
    fitter = ConversionFitter().fit(journeys, by="channel")
    solo = fitter.estimate("s0", "s1", "solo_converter")
    assert solo.n_entered == 1 and solo.naive_rate == 1.0
    assert solo.eventual_rate == 1.0 and solo.eventual_rate_ci is None  # curve hits 100%
    waiting = fitter.estimate("s0", "s1", "solo_waiting")
    assert waiting.eventual_rate is None
    for est in (solo, waiting):
        _no_nan_numbers(est)
    comparison = fitter.segment_comparison()
    assert comparison.tests[0].p_value is not None
    assert "fewer than two segments" in " ".join(comparison.notes)
    with pytest.raises(FunnelkitError, match="No segment 'nope'"):
        fitter.estimate("s0", "s1", "nope")


def test_bad_censoring_times_are_a_data_error() -> None:
    journeys = _journeys([[0.0, np.nan], [5.0, np.nan], [1.0, 2.0]], [10.0, 3.0, 10.0])
    with pytest.raises(DataError, match=r"1 customer\(s\).*'c1'"):
        ConversionFitter().fit(journeys)


def test_single_stage_journeys_need_pairs() -> None:
    with pytest.raises(FunnelkitError, match="single stage"):
        ConversionFitter().fit(_journeys([[0.0], [1.0]], 5.0))


def test_community_journeys_by_channel_and_cohort() -> None:
    sim = simulate_community(4000, seed=2)
    log = EventLog.from_frame(sim.events, value_col="value", attribute_cols=["channel"])
    journeys = Funnel.community().journeys(log, observation_end=sim.observation_end)
    fitter = ConversionFitter().fit(journeys, by="channel")
    labels = fitter.segments_[("prospect", "visitor")]
    assert labels == ("facebook", "instagram", "referral", "tiktok")
    referral = fitter.estimate("prospect", "visitor", "referral")
    lo, hi = referral.eventual_rate_ci
    assert lo < 0.60 < hi  # the simulator's referral visit probability
    test = next(t for t in fitter.segment_comparison().tests if t.target == "visitor")
    assert test.p_value_holm < 1e-6  # channels convert very differently
    monthly = ConversionFitter(model="exponential").fit(journeys, by="cohort:month")
    assert monthly.segments_[("prospect", "visitor")][0] == "2024-01"
    assert "[2024-01]" in monthly.conversion_summary().as_text()


def test_identical_delays_leave_only_identifiable_models() -> None:
    # every conversion takes exactly 2 days: Weibull and log-normal shapes run off to infinity
    start = np.arange(20.0)
    stop = np.where(np.arange(20) % 2 == 0, start + 2.0, np.nan)
    est = ConversionFitter().fit(_journeys(np.c_[start, stop].tolist(), 30.0)).estimate("s0", "s1")
    assert est.model == "exponential"
    assert est.model_aic["weibull"] is None and est.model_aic["lognormal"] is None
    assert sum("did not converge" in n for n in est.notes) == 2
    lo, hi = est.eventual_rate_ci
    assert lo < 0.5 < hi
    _no_nan_numbers(est)


# ------------------------------------------------------------- per-step conversion windows
def _windowed_journeys() -> tuple[Funnel, Journeys]:
    # member -> buyer after 1, 1, 2, 1 and 7 days; the last is outside a 5-day window
    events = {
        "customer_id": list("aaabbbcccdddeee"),
        "timestamp": [0, 1, 2, 0, 2, 3, 0, 1, 3, 0, 4, 5, 0, 2, 9],
        "event": ["visit", "join", "purchase"] * 5,
    }
    funnel = Funnel.model_validate(
        {
            "stages": [
                {"name": "visitor", "events": ["visit"]},
                {"name": "member", "events": ["join"]},
                {"name": "buyer", "events": ["purchase"], "within": 5},
            ]
        }
    )
    log = EventLog.from_frame(pytest.importorskip("pandas").DataFrame(events))
    return funnel, funnel.journeys(log)


def test_a_windowed_step_reports_its_rate_within_the_window() -> None:
    funnel, journeys = _windowed_journeys()
    assert funnel.windows == {"buyer": 5.0}
    fitter = ConversionFitter(model="kaplan-meier", windows=funnel.windows).fit(journeys)
    rate = fitter.window_rate("member", "buyer")
    assert (rate.window, rate.rate, rate.method, rate.extrapolated) == (
        5.0,
        0.8,
        "kaplan-meier",
        False,
    )
    assert fitter.estimate("member", "buyer").notes[-1] == (
        "member -> buyer: the funnel counts this step only within 5 day(s) of entering "
        f"'member'; its estimand is rate_within(5) = 0.800 ({rate.rate_ci.lower:.3f}-"
        f"{rate.rate_ci.upper:.3f})"
    )
    assert not any("rate_within" in n for n in fitter.estimate("visitor", "member").notes)
    loaded = ConversionFitter.from_json(fitter.to_json())
    assert loaded.get_params()["windows"] == {"buyer": 5.0}
    assert loaded.window_rate("member", "buyer") == rate
    with pytest.raises(FunnelkitError, match=r"Stage 'member' has no conversion window"):
        fitter.window_rate("visitor", "member")


@pytest.mark.parametrize(
    ("windows", "message"),
    [
        ({"member ": 3}, r"names stages the journeys lack: \['member '\]"),
        ({"buyer": 0}, r"needs positive finite durations\. Got \{'buyer': 0\}"),
        ({"buyer": math.inf}, r"needs positive finite durations"),
        ([5], r"must map stage names to durations"),
    ],
)
def test_bad_windows_say_what_is_wrong(windows, message) -> None:  # type: ignore[no-untyped-def]
    _, journeys = _windowed_journeys()
    with pytest.raises(FunnelkitError, match=message):
        ConversionFitter(windows=windows).fit(journeys)
