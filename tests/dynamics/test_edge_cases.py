"""Degenerate and bad inputs: clear errors, or results that say "not estimable"."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from funnelkit import DataError, EventLog, Funnel, FunnelkitError, Stage, StatisticalWarning
from funnelkit.dynamics import (
    StageForecast,
    StageMarkovFitter,
    StageMarkovResult,
    simulate_stage_chain,
)

from ._helpers import make_journeys

NAN = np.nan


def _fit_quietly(journeys, **kwargs) -> StageMarkovFitter:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", StatisticalWarning)
        return StageMarkovFitter().fit(journeys, **kwargs)


def _assert_no_fake_numbers(result: StageMarkovResult | StageForecast) -> None:
    text = result.to_json()
    assert "NaN" not in text
    assert type(result).from_json(text) == result


def test_stage_nobody_enters() -> None:
    # Nobody ever reaches s1: s0 has no advances, s1 no entrants.
    journeys = make_journeys([[0.0, NAN, NAN], [2.0, NAN, NAN], [5.0, NAN, NAN]], 10.0)
    with pytest.warns(StatisticalWarning) as caught:
        fitter = StageMarkovFitter().fit(journeys)
    messages = [str(w.message) for w in caught]
    assert any("nobody advanced from stage 's0'" in m for m in messages)
    assert any("nobody entered stage 's1'" in m for m in messages)
    s0, s1 = fitter.result_.transitions
    assert (s0.status, s1.status) == ("no_advances", "no_entrants")
    assert s0.advance_rate.estimate == 0.0
    assert s0.dropout_rate.estimate is None
    assert s0.advance_probability.estimate == 0.0
    assert s1.advance_rate.estimate is None and s1.log_likelihood is None
    _assert_no_fake_numbers(fitter.result_)
    fc = fitter.forecast(journeys, horizon=30.0, n_draws=10)
    assert fc.reached == {"s0": 3.0, "s1": 0.0, "s2": 0.0}
    assert fc.reached_upper["s1"] == 0.0
    # Who is still active in s0 depends on the drop-out rate, which nobody can estimate.
    assert fc.occupancy["s0"] is None and fc.occupancy_curve["s0"] is None
    assert fc.dormant is None
    assert fc.occupancy["s1"] == 0.0
    _assert_no_fake_numbers(fc)
    assert "not estimable" in str(fc)
    assert fitter.probability_of_reaching("s2") == {"s0": 0.0, "s1": None}


def test_stage_nobody_advances_from() -> None:
    sim = simulate_stage_chain(400, advance_rates=[0.3, 0.0], dropout_rates=[0.1, 0.2], seed=2)
    journeys = sim.funnel.journeys(sim.log(), observation_end=120.0)
    with pytest.warns(StatisticalWarning, match="nobody advanced from stage 's1'"):
        fitter = StageMarkovFitter().fit(journeys)
    s0, s1 = fitter.result_.transitions
    assert s0.status == "estimated"
    assert s1.status == "no_advances"
    reach = fitter.reach("s2")
    assert reach.probability["s0"].estimate == 0.0
    assert reach.expected_time["s0"].estimate is None
    assert fitter.reach("s1").probability["s0"].estimate > 0.5
    fc = fitter.forecast(journeys, horizon=10.0, n_draws=10)
    assert fc.reached["s2"] == 0.0
    assert fc.reached["s1"] > journeys.counts()["s1"]
    assert fc.occupancy["s0"] is not None
    assert fc.occupancy["s1"] is None
    assert fc.dormant is None
    _assert_no_fake_numbers(fc)


def test_everyone_censored_at_time_zero() -> None:
    journeys = make_journeys([[5.0, NAN], [5.0, NAN]], 5.0)
    with pytest.warns(StatisticalWarning, match="censored at once"):
        fitter = StageMarkovFitter().fit(journeys)
    (t,) = fitter.result_.transitions
    assert t.status == "no_exposure"
    assert t.advance_rate.estimate is None
    assert t.advance_probability.estimate is None
    assert t.mean_time_in_stage.estimate is None
    fc = fitter.forecast(journeys, horizon=1.0, n_draws=5)
    assert fc.reached["s0"] == 2.0
    assert fc.reached["s1"] is None
    assert fc.occupancy == {"s0": None, "s1": None}
    _assert_no_fake_numbers(fitter.result_)
    _assert_no_fake_numbers(fc)
    assert fitter.probability_of_reaching("s1") == {"s0": None}


@pytest.mark.parametrize(
    ("entry", "status"),
    [
        ([[0.0, 4.0, NAN]], ("no_dropout", "no_advances")),
        ([[0.0, NAN, NAN]], ("no_advances", "no_entrants")),
    ],
)
def test_single_customer(entry, status) -> None:
    journeys = make_journeys(entry, 10.0)
    fitter = _fit_quietly(journeys)
    assert tuple(t.status for t in fitter.result_.transitions) == status
    fc = fitter.forecast(journeys, horizon=5.0, n_draws=10)
    assert fc.n_customers == 1
    assert fc.reached["s0"] == 1.0
    _assert_no_fake_numbers(fc)
    _assert_no_fake_numbers(fitter.result_)


def test_single_advancer_gets_a_rate_and_an_interval() -> None:
    fitter = _fit_quietly(make_journeys([[0.0, 4.0]], 10.0))
    (t,) = fitter.result_.transitions
    assert t.status == "no_dropout"
    assert t.advance_rate.estimate == pytest.approx(0.25)
    assert t.advance_rate.lower < 0.25 < t.advance_rate.upper
    # On the boundary the bounds come from the profile likelihood: wide for one customer.
    assert t.dropout_rate.estimate == 0.0 and t.dropout_rate.upper > 0.25
    assert t.advance_probability.estimate == 1.0
    assert t.advance_probability.lower < 0.5


@pytest.mark.parametrize("waiting", [0, 3])
def test_instantaneous_advances_are_not_given_a_rate(waiting: int) -> None:
    # Two advance at once; `waiting` more have waited a while without advancing. However
    # large λ and μ get, the likelihood keeps growing: only the share who advance is known.
    entry = [[1.0, 1.0], [2.0, 2.0]] + [[float(i), NAN] for i in range(waiting)]
    journeys = make_journeys(entry, 10.0)
    with pytest.warns(StatisticalWarning, match="unbounded"):
        fitter = StageMarkovFitter().fit(journeys)
    (t,) = fitter.result_.transitions
    assert t.status == "instantaneous"
    assert t.advance_rate.estimate is None
    assert t.dropout_rate.estimate is None
    p = t.advance_probability
    assert p.estimate == pytest.approx(2 / (2 + waiting))
    assert 0 < p.lower <= p.estimate <= p.upper <= 1
    _assert_no_fake_numbers(fitter.result_)
    fc = fitter.forecast(journeys, horizon=5.0, n_draws=5)
    # With customers still waiting, their future depends on the unknown intensities.
    assert fc.reached["s1"] == (2.0 if waiting == 0 else None)
    _assert_no_fake_numbers(fc)


def test_fit_refuses_what_it_cannot_use() -> None:
    with pytest.raises(FunnelkitError, match="takes Journeys"):
        StageMarkovFitter().fit(pd.DataFrame({"a": [1]}))
    with pytest.raises(FunnelkitError, match="at least two stages"):
        StageMarkovFitter().fit(make_journeys([[0.0]], 1.0))
    with pytest.raises(DataError, match="Nobody entered the first stage"):
        StageMarkovFitter().fit(make_journeys([[NAN, NAN]], 1.0))
    with pytest.raises(DataError, match=r"1 customers entered a stage after .* 'c1'"):
        StageMarkovFitter().fit(make_journeys([[0.0, 2.0], [1.0, 9.0]], np.array([5.0, 5.0])))


@pytest.fixture(scope="module")
def fitted():
    sim = simulate_stage_chain(500, advance_rates=[0.2, 0.1], dropout_rates=[0.1, 0.1], seed=0)
    journeys = sim.funnel.journeys(sim.log(), observation_end=80.0)
    return StageMarkovFitter().fit(journeys), journeys


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"horizon": 0.0}, "'horizon' parameter .* must be a positive number"),
        ({"horizon": np.nan}, "must be a positive number"),
        ({"horizon": True}, "must be a positive number"),
        ({"horizon": 5.0, "n_points": 1}, "n_points must be an integer >= 2"),
        ({"horizon": 5.0, "n_draws": -1}, "n_draws must be an integer >= 0"),
        ({"horizon": 5.0, "conf_level": 1.5}, "'conf_level' parameter of StageMarkovFitter"),
        ({"horizon": 5.0, "inflow": -2.0}, "inflow rates must be finite and >= 0"),
        ({"horizon": 5.0, "inflow": {"a": 1.0}}, "no segments"),
        ({"horizon": 5.0, "inflow": 1.0, "inflow_stage": "zz"}, "No stage named 'zz'"),
        ({"horizon": 5.0, "time_unit": "fortnight"}, "Unknown time unit"),
    ],
)
def test_forecast_argument_errors(fitted, kwargs, message) -> None:
    fitter, journeys = fitted
    with pytest.raises(FunnelkitError, match=message):
        fitter.forecast(journeys, **kwargs)


def test_forecast_needs_journeys_of_the_same_funnel(fitted) -> None:
    fitter, _ = fitted
    other = make_journeys([[0.0, NAN]], 3.0, stage_names=("a", "b"))
    with pytest.raises(DataError, match="same funnel"):
        fitter.forecast(other, horizon=1.0)
    late = make_journeys([[0.0, 9.0, NAN]], 5.0)
    with pytest.raises(DataError, match="after their censoring time"):
        fitter.forecast(late, horizon=1.0)


def test_segment_errors_at_forecast_time() -> None:
    frames = [
        simulate_stage_chain(
            300, advance_rates=[0.2], dropout_rates=[0.1], seed=i, segment=name
        ).frame()
        for i, name in enumerate(("a", "b", "c"))
    ]
    log = EventLog.from_frame(pd.concat(frames), attribute_cols=["segment"])
    funnel = Funnel.model_validate({"stages": [{"name": "s0", "events": ["s0"]},
                                               {"name": "s1", "events": ["s1"]}]})  # fmt: skip
    journeys = funnel.journeys(log, observation_end=60.0)
    seen = journeys.attributes["segment"] != "c"
    partial = make_journeys(
        journeys.entry_times[seen],
        60.0,
        attributes={"segment": journeys.attributes["segment"][seen]},
    )
    fitter = StageMarkovFitter().fit(partial, by="segment")
    with pytest.raises(DataError, match="segments the model never saw"):
        fitter.forecast(journeys, horizon=5.0)
    with pytest.raises(FunnelkitError, match="pass inflow as a mapping"):
        fitter.forecast(partial, horizon=5.0, inflow=3.0)
    with pytest.raises(FunnelkitError, match="unknown segments"):
        fitter.forecast(partial, horizon=5.0, inflow={"c": 3.0})
    fc = fitter.forecast(partial, horizon=5.0, inflow={"a": 3.0}, n_draws=0)
    plain = fitter.forecast(partial, horizon=5.0, n_draws=0)
    assert fc.reached["s0"] == pytest.approx(plain.reached["s0"] + 15.0)
    no_attr = make_journeys(journeys.entry_times, 60.0)
    with pytest.raises(DataError, match="no such attribute"):
        fitter.forecast(no_attr, horizon=5.0)


def test_no_drop_out_and_a_very_long_wait_forecast_cleanly() -> None:
    # Fitted on the boundary μ = 0; then a customer who has waited 10,000 days: e^{θd}
    # overflows, yet without drop-out they are active for sure.
    fitter = _fit_quietly(
        make_journeys([[0, 1], [0, 2], [0, 3], [0, NAN]], np.array([9, 9, 9, 0.1]))
    )
    assert fitter.result_.transitions[0].status == "no_dropout"
    today = make_journeys([[0.0, NAN]], 10_000.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fc = fitter.forecast(today, horizon=1.0, n_draws=0)
        pi = fitter.probability_active(today)
    assert pi[0] == 1.0
    assert fc.occupancy["s0"] == pytest.approx(
        np.exp(-fitter.result_.transitions[0].advance_rate.estimate)
    )


@pytest.mark.parametrize("library", ["pandas", "polars", "pyarrow"])
def test_missing_attribute_is_one_segment_labelled_missing(library: str) -> None:
    frame = pd.DataFrame(
        {
            "customer_id": ["a", "a", "b", "b", "c", "c"],
            "timestamp": pd.to_datetime(["2024-01-01", "2024-01-03"] * 3),
            "event": ["visit", "purchase"] * 3,
            "channel": ["ig", "ig", None, None, "fb", "fb"],
        }
    )
    native = {
        "pandas": lambda: frame,
        "polars": lambda: pytest.importorskip("polars").from_pandas(frame),
        "pyarrow": lambda: pytest.importorskip("pyarrow").Table.from_pandas(frame),
    }[library]()
    funnel = Funnel(
        stages=[Stage(name="visitor", events=["visit"]), Stage(name="buyer", events=["purchase"])]
    )
    journeys = funnel.journeys(EventLog.from_frame(native, attribute_cols=["channel"]))
    fitted = _fit_quietly(journeys, by="channel")
    assert [t.segment for t in fitted.result_.transitions] == ["fb", "ig", "(missing)"]
