"""Funnel trends from an already fitted pooled estimate: the same cohorts, no refit."""

from __future__ import annotations

import pytest

from funnelkit import EventLog, Funnel
from funnelkit.conversion import ConversionFitter, trends as trends_module
from funnelkit.conversion.trends import funnel_trends
from funnelkit.datasets import CommunityParams, simulate_community
from funnelkit.exceptions import FunnelkitError


@pytest.fixture(scope="module")
def journeys():
    sim = simulate_community(4_000, seed=4, params=CommunityParams(observation_days=245.0))
    log = EventLog.from_frame(sim.events, value_col="value", attribute_cols=["channel"])
    return Funnel.community().journeys(log, observation_end=sim.observation_end)


@pytest.fixture(scope="module")
def fitter(journeys):
    return ConversionFitter().fit(journeys)


@pytest.mark.parametrize(("source", "target"), [("prospect", "visitor"), ("visitor", "member")])
def test_pooled_estimate_gives_the_trends_of_the_auto_choice(journeys, fitter, source, target):
    pooled = fitter.estimate(source, target)
    got = funnel_trends(journeys, source, target, by="month", pooled_estimate=pooled)
    assert got == funnel_trends(journeys, source, target, by="month")
    assert got.model == pooled.model


def test_pooled_estimate_fits_only_the_cohorts(journeys, fitter, monkeypatch):
    pooled = fitter.estimate("prospect", "visitor")
    calls = []
    original = trends_module.estimate_transition

    def counted(*args, **kwargs):
        calls.append(kwargs["segment"])
        return original(*args, **kwargs)

    monkeypatch.setattr(trends_module, "estimate_transition", counted)
    got = funnel_trends(journeys, "prospect", "visitor", by="month", pooled_estimate=pooled)
    assert calls == [row.cohort for row in got.rows]
    calls.clear()
    funnel_trends(journeys, "prospect", "visitor", by="month")
    assert calls == [None, *(row.cohort for row in got.rows)]


def test_pooled_estimate_of_another_transition_or_segment_is_refused(journeys, fitter):
    other = fitter.estimate("visitor", "member")
    with pytest.raises(FunnelkitError, match=r"estimate of visitor -> member, not of all"):
        funnel_trends(journeys, "prospect", "visitor", pooled_estimate=other)
    by_channel = ConversionFitter().fit(journeys, by="channel")
    segment = by_channel.estimates_[("prospect", "visitor", "tiktok")]
    with pytest.raises(FunnelkitError, match=r"prospect -> visitor \[tiktok\], not of all"):
        funnel_trends(journeys, "prospect", "visitor", pooled_estimate=segment)


def test_pooled_estimate_of_other_journeys_is_refused(journeys, fitter):
    sim = simulate_community(1_000, seed=5)
    log = EventLog.from_frame(sim.events, value_col="value")
    small = Funnel.community().journeys(log, observation_end=sim.observation_end)
    n = fitter.estimate("prospect", "visitor").n_entered
    with pytest.raises(FunnelkitError, match=rf"counts {n:,} entrants and .* these journeys 1,000"):
        funnel_trends(
            small, "prospect", "visitor", pooled_estimate=fitter.estimate("prospect", "visitor")
        )


def test_pooled_estimate_contradicting_the_model_is_refused(journeys, fitter):
    pooled = fitter.estimate("prospect", "visitor")
    other = "exponential" if pooled.model != "exponential" else "lognormal"
    with pytest.raises(FunnelkitError, match=rf"model='{other}' contradicts pooled_estimate"):
        funnel_trends(journeys, "prospect", "visitor", model=other, pooled_estimate=pooled)
    same = funnel_trends(
        journeys, "prospect", "visitor", model=pooled.model, pooled_estimate=pooled
    )
    assert same.model == pooled.model
    with pytest.raises(FunnelkitError, match="must be a TransitionEstimate"):
        funnel_trends(journeys, "prospect", "visitor", pooled_estimate={"model": "weibull"})
