"""Degenerate transitions: ties at time zero, entry at the end, nobody or everybody converting.

Each case once broke an estimator (an OverflowError from a delta-method interval, an
eventual rate outside its own interval); the assertions pin the honest answer instead.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

import funnelkit as fk
from funnelkit.conversion import ConversionFitter, TransitionEstimate
from funnelkit.conversion.cure import CureData, fit_cure_model
from funnelkit.conversion.cure_result import CureFit
from funnelkit.intervals import log_interval, logit_interval
from funnelkit.journeys import Journeys

MODELS = ("kaplan-meier", "exponential", "weibull", "lognormal", "auto")
NAN = math.nan


def _journeys(entry: list[list[float]], end: float) -> Journeys:
    times = np.array(entry, dtype=float)
    n = times.shape[0]
    return Journeys(
        stage_names=("s0", "s1"),
        entry_times=times,
        customer_ids=np.array([f"c{i}" for i in range(n)], dtype=object),
        censoring_times=np.full(n, end),
        time_unit="D",
        attributes={"g": np.array(["a", "b"] * (n // 2) + ["a"] * (n % 2), dtype=object)},
    )


def _instant_converters() -> Journeys:
    # 10 of 30 convert at the very instant they enter; the rest wait 11 to 30 days.
    return _journeys([[i, i] if i < 10 else [i, NAN] for i in range(30)], end=40.0)


def _entered_at_the_end() -> Journeys:
    # All 30 enter at the end of observation; 10 convert at that instant.
    return _journeys([[40.0, 40.0] if i < 10 else [40.0, NAN] for i in range(30)], end=40.0)


def _assert_honest(est: TransitionEstimate) -> None:
    pairs = [
        (est.naive_rate, est.naive_rate_ci),
        (est.eventual_rate, est.eventual_rate_ci),
        (est.km_plateau_rate, est.km_plateau_rate_ci),
    ]
    for rate, ci in pairs:
        if rate is not None:
            assert 0.0 <= rate <= 1.0
        if ci is not None:
            assert rate is not None and 0.0 <= ci[0] <= rate <= ci[1] <= 1.0
    for tq in est.time_quantiles:
        if tq.time_ci is not None:
            assert tq.time is not None and tq.time_ci[0] <= tq.time <= tq.time_ci[1]


# ---------------------------------------------------------------------- reported failures
@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("by", [None, "g"])
def test_conversions_all_at_time_zero_fall_back_to_kaplan_meier(model: str, by: str | None):
    fitter = ConversionFitter(model=model).fit(_instant_converters(), by=by)
    est = fitter.estimate("s0", "s1")
    _assert_honest(est)
    # No delay was ever observed: the delay distribution is not identified, so no cure model
    # is reported, and the Kaplan-Meier plateau (10 converted, 20 followed past 0) stands.
    assert est.model == "kaplan-meier" and est.cure_fit is None
    assert est.eventual_rate == pytest.approx(10 / 30, abs=1e-12)
    assert est.median_time == 0.0 and est.median_time_ci == (0.0, 0.0)
    if model != "kaplan-meier":
        assert any("every conversion happened at duration 0" in n for n in est.notes)


def test_conversions_at_entry_through_the_public_api() -> None:
    rows = []
    for i in range(30):
        day = pd.Timestamp("2024-01-01") + pd.Timedelta(days=i)
        rows.append((f"c{i}", day, "visit"))
        if i < 10:
            rows.append((f"c{i}", day, "join"))
    frame = pd.DataFrame(rows, columns=["customer_id", "timestamp", "event"])
    funnel = fk.Funnel(stages=[fk.Stage(name="visitor", events=["visit"]),
                               fk.Stage(name="member", events=["join"])])  # fmt: skip
    journeys = funnel.journeys(fk.EventLog.from_frame(frame), observation_end="2024-02-10")
    for model in ("weibull", "lognormal", "auto"):
        est = ConversionFitter(model=model).fit(journeys).estimate("visitor", "member")
        assert est.model == "kaplan-meier"
        assert est.eventual_rate == pytest.approx(1 / 3, abs=1e-12)


@pytest.mark.parametrize("model", MODELS)
def test_everyone_entered_at_the_end_keeps_the_estimate_inside_its_interval(model: str) -> None:
    est = ConversionFitter(model=model).fit(_entered_at_the_end()).estimate("s0", "s1")
    _assert_honest(est)
    # Like Kaplan-Meier, the 20 seen at 0 without converting were still waiting after the
    # 10 instant conversions: they are not ignored, and 1/3 is the only honest answer.
    assert est.model == "kaplan-meier"
    assert est.eventual_rate == pytest.approx(1 / 3, abs=1e-12)
    lo, hi = est.eventual_rate_ci
    assert (round(lo, 4), round(hi, 4)) == (0.1953, 0.5308)


@pytest.mark.parametrize("model", ["exponential", "weibull", "lognormal"])
def test_p_fixed_at_one_has_an_interval_that_reaches_one(model: str) -> None:
    # 10 converters at positive times; 20 entered at the end and were never followed.
    journeys = _journeys(
        [[0.0, 1.0 + i * 1.7] if i < 10 else [40.0, NAN] for i in range(30)], end=40.0
    )
    est = ConversionFitter(model=model).fit(journeys).estimate("s0", "s1")
    _assert_honest(est)
    assert est.model == model and est.eventual_rate == 1.0
    lo, hi = est.eventual_rate_ci
    # Wilson (1927) interval of 10 successes in the 10 customers followed past time 0.
    assert (round(lo, 4), hi) == (0.7225, 1.0)
    assert any("20 entrant(s) censored at time 0" in n for n in est.notes)


def test_censored_at_zero_join_the_zero_conversions_as_waiting_at_eps() -> None:
    data = CureData.from_durations(
        np.array([0.0, 0.0, 0.0, 4.0, 0.0]), np.array([True, True, False, False, False])
    )
    assert data.n_zero == 2 and data.log_eps == math.log(2.0)
    assert np.array_equal(data.log_censored, np.log([2.0, 2.0, 4.0]))
    # Without conversions at 0, a customer seen only at 0 says nothing and is left out.
    alone = CureData.from_durations(np.array([0.0, 3.0]), np.array([False, True]))
    assert alone.log_censored.size == 0


@pytest.mark.parametrize("name", ["exponential", "weibull", "lognormal"])
def test_cure_model_without_a_positive_delay_is_not_converged(name: str) -> None:
    t = np.array([0.0] * 6 + [5.0, 9.0, 12.0])
    e = np.array([True] * 6 + [False] * 3)
    with np.errstate(all="raise"):
        fit = fit_cure_model(t, e, name)  # type: ignore[arg-type]
        quantile = fit.delay_quantile(0.5)
        within = fit.rate_within(3.0)
    assert not fit.converged
    assert "every conversion happened at duration 0" in fit.message
    assert quantile[0] is None or math.isfinite(quantile[0])
    assert within[0] is not None and 0.0 <= within[0] <= 1.0


# ---------------------------------------------------------------------- overflow-free intervals
def test_delay_quantile_interval_saturates_instead_of_overflowing() -> None:
    fit = CureFit(
        distribution="weibull",
        coefficients=(0.0, 1.0, 0.0),
        covariance=((1.0, 0.0, 0.0), (0.0, 1e6, 0.0), (0.0, 0.0, 1.0)),
        log_likelihood=-1.0,
        aic=8.0,
        n_params=3,
        converged=True,
    )
    with np.errstate(all="raise"):
        time, ci = fit.delay_quantile(0.5)
    assert time == pytest.approx(math.exp(1.0 + math.log(math.log(2.0))))
    assert ci is not None and ci[0] == 0.0 and ci[1] == math.inf


def test_a_wild_fit_reports_no_time_rather_than_overflowing() -> None:
    fit = CureFit(
        distribution="lognormal",
        coefficients=(0.0, 900.0, 2.0),
        covariance=None,
        log_likelihood=-1.0,
        aic=8.0,
        n_params=3,
        converged=False,
    )
    with np.errstate(all="raise"):
        assert fit.delay_quantile(0.9) == (None, None)
        assert fit.delay_parameters["scale"] == math.inf


def test_log_and_logit_intervals_saturate() -> None:
    assert log_interval(0.0, 500.0, conf_level=0.95) == (0.0, math.inf)
    assert log_interval(math.log(2.0), None, conf_level=0.95) is None
    lo, hi = log_interval(math.log(2.0), 0.1, conf_level=0.95)
    assert (round(lo, 4), round(hi, 4)) == (1.644, 2.433)
    assert logit_interval(0.0, 1e4, conf_level=0.95) == (0.0, 1.0)
