"""Repeated-sampling checks: intervals cover the truth at about their nominal rate.

Each case simulates heavily censored transitions (customers keep arriving until the data are
cut, so many are still waiting) with a known eventual rate and delay distribution.
"""

from __future__ import annotations

import numpy as np
import pytest

from funnelkit.conversion import ConversionFitter
from funnelkit.datasets.conversion import DelaySpec, TransitionParams, simulate_transitions

REPETITIONS = 200
# 200 Bernoulli(0.95) draws: sd 1.5%; these bounds are about +-2.7 sd
LOW, HIGH = 0.91, 0.99

CASES = {
    "weibull": (0.4, DelaySpec(distribution="weibull", scale=10.0, shape=1.5), 60.0),
    "lognormal": (0.3, DelaySpec(distribution="lognormal", scale=12.0, shape=0.8), 50.0),
}


def _params(p: float, delay: DelaySpec, horizon: float) -> TransitionParams:
    return TransitionParams(
        stages=("visitor", "member"),
        eventual_rates=(p,),
        delays=(delay,),
        entry_window=horizon,
        observation_end=horizon,
    )


@pytest.mark.slow
@pytest.mark.parametrize("case", list(CASES))
def test_eventual_rate_median_and_window_intervals_cover_the_truth(case: str) -> None:
    p, delay, horizon = CASES[case]
    params = _params(p, delay, horizon)
    rng = np.random.default_rng(2024)
    window = 7.0
    truth_window = p * float(delay.cdf(window))
    truth_median = delay.quantile(0.5)
    hits = {"eventual": 0, "median": 0, "window": 0}
    naive, eventual = [], []
    fitter = ConversionFitter(model=delay.distribution, quantiles=(0.5,))
    for _ in range(REPETITIONS):
        sim = simulate_transitions(400, seed=rng, params=params)
        est = fitter.fit(sim.journeys).estimate("visitor", "member")
        naive.append(est.naive_rate)
        eventual.append(est.eventual_rate)
        lo, hi = est.eventual_rate_ci
        hits["eventual"] += lo <= p <= hi
        lo, hi = est.median_time_ci
        hits["median"] += lo <= truth_median <= hi
        lo, hi = est.rate_within(window).rate_ci
        hits["window"] += lo <= truth_window <= hi
    coverage = {k: v / REPETITIONS for k, v in hits.items()}
    assert all(LOW <= c <= HIGH for c in coverage.values()), coverage
    # the naive ratio is visibly biased low; the censoring-aware estimate is not
    assert np.mean(naive) < p - 0.04
    assert abs(np.mean(eventual) - p) < 0.01
