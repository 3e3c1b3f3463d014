"""supported_fits answers the same transition on the same entrants once."""

from __future__ import annotations

import numpy as np
import pytest

from funnelkit.conversion import ConversionFitter, estimate as estimate_module
from funnelkit.conversion.estimate import estimate_transition
from funnelkit.datasets import simulate_community
from funnelkit.events import EventLog
from funnelkit.stages import Funnel
from funnelkit.units import TimeUnit


@pytest.fixture
def counted(monkeypatch):
    """Every cure fit, by family; the kept answers emptied first."""
    monkeypatch.setattr(estimate_module, "_FITS", type(estimate_module._FITS)())
    calls: list[str] = []
    original = estimate_module.fit_cure_model

    def fit(durations, converted, name, **kwargs):
        calls.append(name)
        return original(durations, converted, name, **kwargs)

    monkeypatch.setattr(estimate_module, "fit_cure_model", fit)
    return calls


def _data(seed: int, n: int = 3000) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    will = rng.random(n) < 0.4
    delay = rng.weibull(1.5, n) * 5.0
    follow = rng.uniform(0, 40, n)
    converted = will & (delay <= follow)
    return np.where(converted, delay, follow), converted


def _estimate(durations, converted, model="auto"):
    return estimate_transition(
        durations,
        converted,
        source="a",
        target="b",
        segment=None,
        time_unit=TimeUnit.parse("D"),
        model=model,
        conf_level=0.95,
        ci_method="log-log",
        quantiles=(0.5,),
    )


def test_the_same_entrants_are_fitted_once(counted):
    durations, converted = _data(0)
    first = _estimate(durations, converted)
    assert counted == ["exponential", "weibull", "lognormal"]
    again = _estimate(durations.copy(), converted.copy())
    assert counted == ["exponential", "weibull", "lognormal"]
    assert again == first
    assert again.notes == first.notes


def test_other_entrants_or_another_family_are_fitted_again(counted):
    durations, converted = _data(0)
    _estimate(durations, converted)
    moved = durations.copy()
    moved[0] += 1e-9
    _estimate(moved, converted)
    assert counted.count("weibull") == 2
    _estimate(durations, converted, model="weibull")
    assert counted.count("weibull") == 3
    flipped = converted.copy()
    flipped[np.flatnonzero(converted)[0]] = False
    _estimate(durations, flipped)
    assert counted.count("weibull") == 4


def test_only_the_last_answers_are_kept(counted, monkeypatch):
    monkeypatch.setattr(estimate_module, "_FITS_SIZE", 2)
    data = [_data(seed, 400) for seed in range(3)]
    for durations, converted in data:
        _estimate(durations, converted, model="exponential")
    assert len(estimate_module._FITS) == 2
    _estimate(*data[2], model="exponential")  # kept
    _estimate(*data[0], model="exponential")  # dropped: fitted again
    assert counted == ["exponential"] * 4


def test_a_second_fitter_on_the_same_journeys_refits_nothing_pooled(counted):
    sim = simulate_community(1_500, seed=2)
    log = EventLog.from_frame(sim.events, value_col="value", attribute_cols=["channel"])
    journeys = Funnel.community().journeys(log, observation_end=sim.observation_end)
    first = ConversionFitter().fit(journeys)
    n_first = len(counted)
    assert n_first > 0
    second = ConversionFitter(conf_level=0.9).fit(journeys, by="channel")
    for pair in first.transitions_:
        assert second.estimate(*pair).model == first.estimate(*pair).model
        assert second.estimate(*pair).model_aic == first.estimate(*pair).model_aic
    # the channel fits keep the pooled family: one fit per channel and transition
    n_segments = sum(len(second.segments_[pair]) for pair in second.transitions_)
    fitted_families = [first.estimate(*p).model for p in first.transitions_]
    assert len(counted) - n_first == sum(
        len(second.segments_[p])
        for p, f in zip(first.transitions_, fitted_families, strict=True)
        if f != "kaplan-meier"
    )
    assert n_segments > 0
