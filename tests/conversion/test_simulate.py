"""The transition simulator: shapes, censoring, and the truth it reports."""

from __future__ import annotations

import numpy as np
import pytest

from funnelkit.datasets.conversion import DelaySpec, TransitionParams, simulate_transitions
from funnelkit.exceptions import SpecError


def test_journeys_follow_the_truth_and_censoring() -> None:
    params = TransitionParams(entry_window=30.0, observation_end=40.0)
    sim = simulate_transitions(5000, seed=1, params=params)
    j = sim.journeys
    assert j.stage_names == ("visitor", "member", "buyer")
    assert np.all(j.censoring_times == 40.0)
    reached = ~np.isnan(j.entry_times)
    assert reached[:, 0].all()
    # a later stage implies the earlier one, reached before censoring, after the delay
    assert not np.any(reached[:, 2] & ~reached[:, 1])
    assert np.all(j.entry_times[reached[:, 1], 1] <= 40.0)
    will, delay = sim.truth["will_convert"], sim.truth["delay"]
    np.testing.assert_allclose(
        j.entry_times[reached[:, 1], 1] - j.entry_times[reached[:, 1], 0], delay[reached[:, 1], 0]
    )
    assert np.all(will[reached[:, 1], 0])
    assert will[:, 0].mean() == pytest.approx(0.4, abs=0.02)
    assert sim.eventual_rates == (0.4, 0.5)


@pytest.mark.parametrize(
    "delay",
    [
        DelaySpec(distribution="exponential", scale=4.0),
        DelaySpec(distribution="weibull", scale=4.0, shape=2.0),
        DelaySpec(distribution="lognormal", scale=4.0, shape=0.5),
    ],
)
def test_delay_samples_follow_their_distribution(delay: DelaySpec) -> None:
    draws = delay.sample(np.random.default_rng(2), 40_000)
    for q in (0.1, 0.5, 0.9):
        assert np.quantile(draws, q) == pytest.approx(delay.quantile(q), rel=0.03)
        assert float(delay.cdf(delay.quantile(q))) == pytest.approx(q)


def test_segments_get_their_own_parameters() -> None:
    low = TransitionParams(eventual_rates=(0.1, 0.5))
    high = TransitionParams(eventual_rates=(0.9, 0.5))
    sim = simulate_transitions(
        4000, seed=3, segments={"low": low, "high": high}, shares={"low": 3, "high": 1}
    )
    seg = sim.journeys.attributes["segment"]
    assert np.mean(seg == "low") == pytest.approx(0.75, abs=0.03)
    will = sim.truth["will_convert"][:, 0]
    assert will[seg == "low"].mean() == pytest.approx(0.1, abs=0.03)
    assert will[seg == "high"].mean() == pytest.approx(0.9, abs=0.03)


def test_invalid_parameters_are_refused() -> None:
    with pytest.raises(SpecError, match="2 transitions need"):
        TransitionParams(eventual_rates=(0.5,))
    with pytest.raises(SpecError, match="shape 1"):
        DelaySpec(distribution="exponential", scale=1.0, shape=2.0)
    with pytest.raises(ValueError, match="not both"):
        simulate_transitions(
            10, seed=0, params=TransitionParams(), segments={"a": TransitionParams()}
        )
