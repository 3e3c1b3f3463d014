"""A StageMarkovFitter saved to JSON and loaded back predicts exactly like the original."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest

from funnelkit import EventLog, Funnel, FunnelkitError
from funnelkit.dynamics import (
    Estimate,
    StageForecast,
    StageMarkovFitter,
    StageMarkovResult,
    forecast_stages,
    simulate_stage_chain,
)


@pytest.fixture(scope="module")
def segmented():
    frames = [
        simulate_stage_chain(
            800, advance_rates=rates, dropout_rates=[0.1, 0.05], seed=seed, segment=name
        ).frame()
        for seed, name, rates in ((4, "fast", [0.3, 0.1]), (5, "slow", [0.08, 0.1]))
    ]
    log = EventLog.from_frame(
        pd.concat(frames, ignore_index=True), attribute_cols=["segment"], time_unit="D"
    )
    funnel = Funnel.model_validate(
        {"stages": [{"name": s, "events": [s]} for s in ("s0", "s1", "s2")]}
    )
    journeys = funnel.journeys(log, observation_end=60.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fitter = StageMarkovFitter(conf_level=0.9, delays="exponential").fit(journeys, by="segment")
    return journeys, fitter


def _forecast_numbers(fc: StageForecast) -> np.ndarray:
    return fc.to_frame()[["expected", "lower", "upper"]].to_numpy()


def test_loaded_model_gives_the_same_numbers(segmented) -> None:
    journeys, fitter = segmented
    text = fitter.to_json()
    loaded = StageMarkovFitter.from_json(text)
    assert loaded.get_params() == {"conf_level": 0.9, "delays": "exponential"}
    assert loaded.segments_ == ("fast", "slow") and loaded.by_ == "segment"
    assert loaded.result_ == fitter.result_ and loaded.to_json() == text
    kwargs = {"horizon": 15.0, "inflow": {"fast": 2.0, "slow": 1.0}, "n_points": 6, "seed": 7}
    original, again = fitter.forecast(journeys, **kwargs), loaded.forecast(journeys, **kwargs)
    assert again == original
    np.testing.assert_array_equal(_forecast_numbers(again), _forecast_numbers(original))
    for segment in ("fast", "slow"):
        assert loaded.reach("s2", segment=segment) == fitter.reach("s2", segment=segment)
        assert loaded.probability_of_reaching("s2", segment=segment) == (
            fitter.probability_of_reaching("s2", segment=segment)
        )
        assert loaded.expected_time_to("s2", segment=segment) == (
            fitter.expected_time_to("s2", segment=segment)
        )
    np.testing.assert_array_equal(
        loaded.probability_active(journeys), fitter.probability_active(journeys)
    )
    pd.testing.assert_frame_equal(loaded.summary(), fitter.summary())


def test_forecast_takes_the_result_or_the_fitter(segmented) -> None:
    journeys, fitter = segmented
    result = StageMarkovResult.from_json(fitter.result_.to_json())
    kwargs = {"horizon": 5.0, "n_points": 3, "n_resamples": 10, "seed": 1, "conf_level": 0.9}
    by_result = forecast_stages(result, journeys, **kwargs)
    assert by_result == forecast_stages(fitter, journeys, **kwargs)
    assert by_result == fitter.forecast(journeys, **kwargs)


def test_n_draws_is_an_alias_of_n_resamples(segmented) -> None:
    journeys, fitter = segmented
    new = fitter.forecast(journeys, horizon=5.0, n_points=3, n_resamples=12, seed=2)
    old = fitter.forecast(journeys, horizon=5.0, n_points=3, n_draws=12, seed=2)
    assert old == new and new.n_resamples == new.n_draws == 12
    with pytest.raises(FunnelkitError, match=r"n_resamples must be an integer >= 0\. Got -1"):
        fitter.forecast(journeys, horizon=5.0, n_resamples=-1)


def test_a_result_without_intensities_cannot_forecast(segmented) -> None:
    journeys, fitter = segmented
    doc = json.loads(fitter.to_json())
    del doc["result"]["intensities"]  # as written before the intensities were stored
    old = StageMarkovFitter.from_json(json.dumps(doc))
    assert old.result_.transitions == fitter.result_.transitions
    with pytest.raises(FunnelkitError, match=r"holds no fitted intensities.*refit"):
        old.forecast(journeys, horizon=5.0)
    with pytest.raises(FunnelkitError, match="holds no fitted intensities"):
        old.reach("s2", segment="fast")


def test_malformed_json_is_a_funnelkit_error(segmented) -> None:
    _, fitter = segmented
    with pytest.raises(FunnelkitError, match="not a saved StageMarkovFitter"):
        StageMarkovFitter.from_json(fitter.result_.to_json())


def test_summary_is_one_row_per_transition_and_quantity(segmented) -> None:
    _, fitter = segmented
    frame = fitter.summary()
    assert list(frame.columns) == [
        "source",
        "target",
        "segment",
        "quantity",
        "estimate",
        "std_error",
        "lower",
        "upper",
        "status",
    ]
    assert len(frame) == 2 * 2 * 4  # segments x transitions x quantities
    row = frame[(frame["segment"] == "slow") & (frame["quantity"] == "advance_rate")].iloc[0]
    est = fitter.result_.transition("s0", segment="slow").advance_rate
    assert (row["estimate"], row["std_error"], row["lower"], row["upper"]) == (
        est.estimate,
        est.std_error,
        est.lower,
        est.upper,
    )


def test_estimates_record_the_level_of_their_bounds(segmented) -> None:
    _, fitter = segmented
    rate = fitter.result_.transition("s0", segment="fast").advance_rate
    assert rate.level == 0.9 and rate.contains(rate.estimate)
    reach = fitter.reach("s2", segment="slow").probability["s0"]
    assert reach.level == 0.9 and reach.lower < reach.estimate < reach.upper


def test_reach_summary_is_an_estimates_table(segmented) -> None:
    _, fitter = segmented
    reach = fitter.reach("s2", segment="fast")
    frame = reach.summary()
    assert frame[["from_stage", "quantity"]].values.tolist() == [
        ["s0", "probability"],
        ["s0", "expected_time"],
        ["s1", "probability"],
        ["s1", "expected_time"],
    ]
    time = reach.expected_time["s1"]
    assert frame.iloc[3][["estimate", "std_error", "lower", "upper"]].tolist() == [
        time.estimate,
        time.std_error,
        time.lower,
        time.upper,
    ]


def test_estimate_is_an_interval_with_a_standard_error_alias() -> None:
    est = Estimate.model_validate_json(
        '{"estimate": 2.0, "standard_error": 0.5, "lower": 1.0, "upper": 3.0}'
    )
    assert est.std_error == est.standard_error == 0.5
    lower, upper = est
    assert (lower, upper) == (1.0, 3.0) and est == (1.0, 3.0)
    assert est.contains(2.5) and not est.contains(3.5)
    assert json.loads(est.model_dump_json())["std_error"] == 0.5


def test_forecast_bands_keep_the_former_flat_names(segmented) -> None:
    journeys, fitter = segmented
    fc = fitter.forecast(journeys, horizon=10.0, n_points=4, n_resamples=10, seed=0)
    band = fc.reached_bands["s1"]
    assert band is not None and fc.reached_curve["s1"] == band.expected
    assert (fc.reached["s1"], fc.reached_lower["s1"], fc.reached_upper["s1"]) == (
        band.expected[-1],
        band.lower[-1],
        band.upper[-1],
    )
    assert fc.occupancy_curve_upper["s0"] == fc.occupancy_bands["s0"].upper
    assert fc.dormant_curve_lower == fc.dormant_band.lower
    interval = fc.interval("dormant")
    assert interval is not None and interval.level == 0.9
    assert (interval.estimate, *interval) == (fc.dormant, fc.dormant_lower, fc.dormant_upper)
    with pytest.raises(FunnelkitError, match="quantity must be"):
        fc.interval("active", "s0")  # type: ignore[arg-type]


def test_forecast_json_of_the_former_flat_layout_still_loads(segmented) -> None:
    journeys, fitter = segmented
    fc = fitter.forecast(journeys, horizon=10.0, n_points=4, n_resamples=10, seed=0)
    doc = json.loads(fc.to_json())
    for quantity in ("reached", "occupancy"):
        bands = doc.pop(f"{quantity}_bands")
        for sfx, part in (("", "expected"), ("_lower", "lower"), ("_upper", "upper")):
            doc[f"{quantity}_curve{sfx}"] = {k: v[part] for k, v in bands.items()}
            doc[f"{quantity}{sfx}"] = {k: v[part][-1] for k, v in bands.items()}
    dormant = doc.pop("dormant_band")
    for sfx, part in (("", "expected"), ("_lower", "lower"), ("_upper", "upper")):
        doc[f"dormant_curve{sfx}"] = dormant[part]
        doc[f"dormant{sfx}"] = dormant[part][-1]
    doc["n_draws"] = doc.pop("n_resamples")
    assert StageForecast.model_validate_json(json.dumps(doc)) == fc
