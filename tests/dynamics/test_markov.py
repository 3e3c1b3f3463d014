"""StageMarkovFitter: estimator conventions, parameter recovery, segments, reaching a stage."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest

import funnelkit
from funnelkit import EventLog, Funnel, FunnelkitError, NotFittedError
from funnelkit.datasets import ChannelParams, CommunityParams, simulate_community
from funnelkit.dynamics import StageMarkovFitter, StageMarkovResult, simulate_stage_chain

from ._helpers import make_journeys

LAM = (0.15, 0.06, 0.03)
MU = (0.10, 0.04, 0.02)


@pytest.fixture(scope="module")
def heavy_censoring() -> tuple[funnelkit.Journeys, object]:
    # Arrivals over 100 days, observation stops at 60: most journeys are cut short.
    sim = simulate_stage_chain(6000, advance_rates=LAM, dropout_rates=MU, seed=42)
    return sim.funnel.journeys(sim.log(), observation_end=60.0), sim


def test_top_level_exports() -> None:
    assert funnelkit.StageMarkovFitter is StageMarkovFitter
    assert funnelkit.StageForecast.__name__ == "StageForecast"


def test_the_chain_simulator_lives_with_the_other_simulators() -> None:
    from funnelkit import datasets, dynamics

    assert dynamics.simulate_stage_chain is datasets.simulate_stage_chain
    assert dynamics.SimulatedChain is datasets.SimulatedChain
    sim = datasets.simulate_stage_chain(50, advance_rates=[1.0], dropout_rates=[0.0], seed=0)
    assert sim.entry_times.shape == (50, 2) and np.isinf(sim.dormant_times).all()


def test_fit_returns_self_and_init_only_stores_settings(heavy_censoring) -> None:
    journeys, _ = heavy_censoring
    fitter = StageMarkovFitter(conf_level=0.9)
    assert vars(fitter) == {"conf_level": 0.9, "delays": "auto"}
    assert repr(fitter) == "StageMarkovFitter(conf_level=0.9)"
    assert fitter.fit(journeys) is fitter
    # fitted, the repr keeps the settings and adds what the fit found
    assert repr(fitter).startswith("<StageMarkovFitter(conf_level=0.9) fitted on 6,000 journeys")
    assert fitter.stage_names_ == ("s0", "s1", "s2", "s3")


@pytest.mark.parametrize(
    "call",
    [
        lambda f, j: f.forecast(j, horizon=1.0),
        lambda f, j: f.reach("s2"),
        lambda f, j: f.probability_active(j),
        lambda f, j: f.summary(),
    ],
)
def test_fitted_only_methods_raise_before_fit(heavy_censoring, call) -> None:
    with pytest.raises(NotFittedError, match="fit"):
        call(StageMarkovFitter(), heavy_censoring[0])


@pytest.mark.parametrize("bad", [2, 0, -0.1, 1.0, "0.9", True])
def test_conf_level_is_validated_at_fit_time(heavy_censoring, bad) -> None:
    fitter = StageMarkovFitter(conf_level=bad)  # no error yet
    with pytest.raises(FunnelkitError) as info:
        fitter.fit(heavy_censoring[0])
    assert str(info.value) == (
        f"The 'conf_level' parameter of StageMarkovFitter must be in (0, 1). Got {bad!r} instead."
    )


@pytest.mark.slow
def test_recovers_every_intensity_under_heavy_censoring(heavy_censoring) -> None:
    journeys, _ = heavy_censoring
    result = StageMarkovFitter().fit(journeys).result_
    for k, (lam, mu) in enumerate(zip(LAM, MU, strict=True)):
        t = result.transition(f"s{k}")
        assert t.status == "estimated"
        for est, truth in ((t.advance_rate, lam), (t.dropout_rate, mu)):
            log_se = est.standard_error / est.estimate
            assert abs(np.log(est.estimate / truth)) < 3.5 * log_se, (k, est, truth)
        p = t.advance_probability
        assert abs(p.estimate - lam / (lam + mu)) < 3.5 * p.standard_error
        assert p.lower < p.estimate < p.upper
        mean = t.mean_time_in_stage.estimate
        assert mean == pytest.approx(1 / (t.advance_rate.estimate + t.dropout_rate.estimate))


@pytest.mark.slow
def test_intervals_cover_the_truth_at_the_nominal_rate() -> None:
    # 100 fits x 4 quantities: coverage of 95% intervals must be neither too low nor too high.
    truth = {
        "advance_rate": 0.2,
        "dropout_rate": 0.1,
        "advance_probability": 2 / 3,
        "mean_time_in_stage": 1 / 0.3,
    }
    hits = []
    for seed in range(100):
        sim = simulate_stage_chain(
            600, advance_rates=[0.2], dropout_rates=[0.1], seed=seed, arrival_window=50.0
        )
        est = StageMarkovFitter().fit(sim.funnel.journeys(sim.log(), observation_end=40.0))
        t = est.result_.transition("s0")
        hits.extend(
            getattr(t, name).lower <= value <= getattr(t, name).upper
            for name, value in truth.items()
        )
    assert 0.92 <= np.mean(hits) <= 0.98


@pytest.mark.slow
def test_agrees_with_the_community_simulator_truth() -> None:
    params = CommunityParams(
        channels={"only": ChannelParams(share=1.0, visit_prob=0.35, visit_delay_mean=6.0)},
        join_prob=0.4,
        join_delay_mean=14.0,
    )
    sim = simulate_community(4000, seed=7, params=params)
    log = EventLog.from_frame(sim.events, value_col="value", attribute_cols=["channel"])
    result = StageMarkovFitter().fit(Funnel.community().journeys(log)).result_
    for source, prob, mean in (("prospect", 0.35, 6.0), ("visitor", 0.4, 14.0)):
        t = result.transition(source)
        assert t.advance_probability.lower < prob < t.advance_probability.upper
        # Delay among converters is Exp(λ+μ): its mean is the mean time in the stage.
        assert t.mean_time_in_stage.lower < mean < t.mean_time_in_stage.upper


def test_result_round_trips_and_renders(heavy_censoring) -> None:
    result = StageMarkovFitter().fit(heavy_censoring[0]).result_
    again = StageMarkovResult.from_json(result.to_json())
    assert again == result
    assert json.loads(result.to_json())["schema_version"] == 1
    html = result._repr_html_()
    assert "<table" in html and "s0" in html
    assert "s2 → s3" in str(result)
    frame = result.to_frame()
    assert list(frame["source"]) == ["s0", "s1", "s2"]
    assert frame["advance_rate_lower"].lt(frame["advance_rate"]).all()
    assert frame["n_entered"].dtype == np.int64
    assert frame["converged"].all()


def test_reach_multiplies_probabilities_and_adds_mean_times(heavy_censoring) -> None:
    fitter = StageMarkovFitter().fit(heavy_censoring[0])
    reach = fitter.reach("s3")
    ts = [fitter.result_.transition(f"s{k}") for k in range(3)]
    p = [t.advance_probability.estimate for t in ts]
    m = [t.mean_time_in_stage.estimate for t in ts]
    assert reach.probability["s0"].estimate == pytest.approx(p[0] * p[1] * p[2])
    assert reach.probability["s2"].estimate == pytest.approx(p[2])
    assert reach.expected_time["s1"].estimate == pytest.approx(m[1] + m[2])
    assert fitter.probability_of_reaching("s3")["s1"] == pytest.approx(p[1] * p[2])
    assert fitter.expected_time_to("s2") == pytest.approx({"s0": m[0] + m[1], "s1": m[1]})
    truth = np.prod([lam / (lam + mu) for lam, mu in zip(LAM, MU, strict=True)])
    assert reach.probability["s0"].lower < truth < reach.probability["s0"].upper
    assert fitter.reach("s0").probability == {}
    with pytest.raises(FunnelkitError, match="No stage named 'nope'"):
        fitter.reach("nope")


def test_probability_active_per_customer(heavy_censoring) -> None:
    journeys, sim = heavy_censoring
    fitter = StageMarkovFitter().fit(journeys)
    pi = fitter.probability_active(journeys)
    assert pi.shape == (len(journeys),)
    arrived = journeys.reached("s0")  # later arrivals are in the log, after observation end
    assert np.isnan(pi[~arrived]).all()
    assert np.all((pi[arrived] >= 0) & (pi[arrived] <= 1))
    last = journeys.reached("s3")
    np.testing.assert_array_equal(pi[last], 1.0)
    # Customers still waiting: the share truly active (not yet dormant) matches Σπ.
    now = journeys.observation_end
    index = np.char.lstrip(journeys.customer_ids.astype(str), "c").astype(int)
    waiting = arrived & ~last
    truly_active = sim.dormant_times[index[waiting]] > now
    assert pi[waiting].sum() == pytest.approx(truly_active.sum(), rel=0.05)


def _two_segments(seed: int) -> EventLog:
    fast = simulate_stage_chain(
        3000, advance_rates=[0.3, 0.1], dropout_rates=[0.1, 0.1], seed=seed, segment="fast"
    )
    slow = simulate_stage_chain(
        3000, advance_rates=[0.05, 0.1], dropout_rates=[0.1, 0.02], seed=seed + 1, segment="slow"
    )
    frame = pd.concat([fast.frame(), slow.frame()], ignore_index=True)
    return EventLog.from_frame(frame, attribute_cols=["segment"], time_unit="D")


def test_fits_each_segment_separately() -> None:
    log = _two_segments(1)
    funnel = Funnel.model_validate(
        {"stages": [{"name": s, "events": [s]} for s in ("s0", "s1", "s2")]}
    )
    journeys = funnel.journeys(log, observation_end=80.0)
    fitter = StageMarkovFitter().fit(journeys, by="segment")
    assert fitter.segments_ == ("fast", "slow")
    for segment, lam in (("fast", 0.3), ("slow", 0.05)):
        est = fitter.result_.transition("s0", segment=segment).advance_rate
        assert est.lower < lam < est.upper
    assert fitter.result_.to_frame()["segment"].tolist() == ["fast", "fast", "slow", "slow"]
    slow_reach = fitter.reach("s2", segment="slow").probability["s0"]
    assert slow_reach.lower < (0.05 / 0.15) * (0.1 / 0.12) < slow_reach.upper
    with pytest.raises(FunnelkitError, match="segment= one of"):
        fitter.reach("s2")
    with pytest.raises(FunnelkitError, match="Did you mean"):
        StageMarkovFitter().fit(journeys, by="segmnt")


def test_each_stage_is_the_exponential_mixture_cure_model_of_lifelines() -> None:
    lifelines = pytest.importorskip("lifelines")
    rng = np.random.default_rng(12)
    n, lam, mu = 2000, 0.2, 0.1
    leave = rng.exponential(1 / (lam + mu), n)
    advanced = (rng.random(n) < lam / (lam + mu)) & (leave <= (censor := rng.uniform(0, 30, n)))
    duration = np.where(advanced, leave, censor)
    journeys = make_journeys(
        np.column_stack([np.zeros(n), np.where(advanced, leave, np.nan)]), censor
    )
    t = StageMarkovFitter().fit(journeys).result_.transition("s0")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cure = lifelines.MixtureCureFitter(base_fitter=lifelines.ExponentialFitter())
        cure.fit(duration, advanced)
    summary = cure.summary
    assert 1 - t.advance_probability.estimate == pytest.approx(
        summary.loc["cured_fraction_", "coef"], rel=1e-4
    )
    assert t.mean_time_in_stage.estimate == pytest.approx(summary.loc["lambda_", "coef"], rel=1e-4)
    assert t.log_likelihood == pytest.approx(cure.log_likelihood_, rel=1e-8)
    assert t.advance_probability.standard_error == pytest.approx(
        summary.loc["cured_fraction_", "se(coef)"], rel=0.02
    )


def test_segment_forecast_is_the_sum_of_the_segments() -> None:
    log = _two_segments(3)
    funnel = Funnel.model_validate(
        {"stages": [{"name": s, "events": [s]} for s in ("s0", "s1", "s2")]}
    )
    journeys = funnel.journeys(log, observation_end=70.0)
    both = (
        StageMarkovFitter().fit(journeys, by="segment").forecast(journeys, horizon=20.0, n_draws=0)
    )
    parts = []
    for name in ("fast", "slow"):
        keep = journeys.attributes["segment"] == name
        sub = make_journeys(journeys.entry_times[keep], journeys.censoring_times[keep])
        parts.append(StageMarkovFitter().fit(sub).forecast(sub, horizon=20.0, n_draws=0))
    for stage in ("s0", "s1", "s2"):
        assert both.reached[stage] == pytest.approx(
            parts[0].reached[stage] + parts[1].reached[stage]
        )
        assert both.occupancy[stage] == pytest.approx(
            parts[0].occupancy[stage] + parts[1].occupancy[stage]
        )
