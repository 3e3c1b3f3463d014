"""Forecasts that follow the delays the data support (semi-Markov)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from funnelkit.datasets.conversion import (
    DelaySpec,
    MixtureDelaySpec,
    TransitionParams,
    simulate_transitions,
)
from funnelkit.dynamics import StageMarkovFitter
from funnelkit.dynamics.delays import akaike_weights
from funnelkit.dynamics.forecast import forecast_stages
from funnelkit.exceptions import FunnelkitError

STAGES = ("visitor", "member", "buyer")


def _world(delays: tuple[DelaySpec, DelaySpec], seed: int, n: int = 6000):  # type: ignore[no-untyped-def]
    params = TransitionParams(
        stages=STAGES,
        eventual_rates=(0.5, 0.6),
        delays=delays,
        entry_window=120.0,
        observation_end=120.0,
    )
    return simulate_transitions(n, seed=seed, params=params)


def _realised(sim, end: float) -> dict[str, int]:  # type: ignore[no-untyped-def]
    """Who has reached each stage by ``end``, from the uncensored truth."""
    entry = sim.journeys.entry_times[:, 0].copy()
    counts = {STAGES[0]: int((entry <= end).sum())}
    for k in range(len(STAGES) - 1):
        moves = sim.truth["will_convert"][:, k] & np.isfinite(entry)
        entry = np.where(moves, entry + sim.truth["delay"][:, k], np.inf)
        counts[STAGES[k + 1]] = int((entry <= end).sum())
    return counts


def _fitted(sim, delays: str = "auto") -> StageMarkovFitter:  # type: ignore[no-untyped-def]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return StageMarkovFitter(delays=delays).fit(sim.journeys)  # type: ignore[arg-type]


def test_exponential_delays_give_the_markov_forecast() -> None:
    # The exponential stage is the cure model p = λ/(λ+μ), F = Exp(λ+μ): followed as a
    # semi-Markov chain it must reproduce the Markov forecast.
    sim = _world(
        (
            DelaySpec(distribution="weibull", scale=10.0),
            DelaySpec(distribution="weibull", scale=8.0),
        ),
        seed=2,
        n=3000,
    )
    fitter = _fitted(sim, "exponential")
    exponential = fitter.result_.model_copy(update={"delays": ((None, None),)})
    semi = forecast_stages(exponential, sim.journeys, horizon=30.0, n_resamples=0, delays="auto")
    markov = forecast_stages(fitter.result_, sim.journeys, horizon=30.0, n_resamples=0)
    for stage in STAGES:
        assert semi.reached[stage] == pytest.approx(markov.reached[stage], rel=2e-3)
        width = semi.reached_upper[stage] - semi.reached_lower[stage]
        assert width == pytest.approx(
            markov.reached_upper[stage] - markov.reached_lower[stage], rel=2e-2
        )
    # "Active" differs by definition (the Markov model: not dormant yet; a cure model: will
    # still advance), but who is still waiting in a stage does not.
    for model in (semi, markov):
        assert model.occupancy["buyer"] == pytest.approx(model.reached["buyer"], rel=1e-12)
    waiting = [sum(m.occupancy[s] for s in STAGES[:-1]) + m.dormant for m in (semi, markov)]
    assert waiting[0] == pytest.approx(waiting[1], rel=2e-3)
    assert semi.interval_method.startswith("semi-Markov: each transition follows")
    assert "visitor: exponential; member: exponential" in semi.interval_method


def test_delays_are_chosen_as_conversion_fitter_chooses_and_survive_json() -> None:
    sim = _world(
        (
            DelaySpec(distribution="weibull", scale=12.0, shape=1.3),
            DelaySpec(distribution="lognormal", scale=10.0, shape=0.8),
        ),
        seed=3,
        n=3000,
    )
    fitter = _fitted(sim)
    assert fitter.result_.delays is not None
    chosen = [fit.distribution if fit else None for fit in fitter.result_.delays[0]]
    assert chosen == ["weibull", "lognormal"]
    loaded = StageMarkovFitter.from_json(fitter.to_json())
    assert loaded.get_params() == {"conf_level": 0.95, "delays": "auto"}
    a = fitter.forecast(sim.journeys, horizon=20.0, n_resamples=20)
    b = loaded.forecast(sim.journeys, horizon=20.0, n_resamples=20)
    assert a == b
    assert a.interval_method.startswith("semi-Markov")
    markov = fitter.forecast(sim.journeys, horizon=20.0, n_resamples=20, delays="exponential")
    assert markov.interval_method.startswith("normal approximation")


def test_delay_settings_are_checked() -> None:
    sim = _world(
        (
            DelaySpec(distribution="weibull", scale=10.0),
            DelaySpec(distribution="weibull", scale=8.0),
        ),
        seed=4,
        n=500,
    )
    fitter = _fitted(sim, "exponential")
    with pytest.raises(FunnelkitError, match=r"fit StageMarkovFitter\(delays='auto'\)"):
        fitter.forecast(sim.journeys, horizon=10.0, delays="auto")
    with pytest.raises(FunnelkitError, match=r"must be 'auto' or 'exponential'\. Got 'weibull'"):
        fitter.forecast(sim.journeys, horizon=10.0, delays="weibull")  # type: ignore[arg-type]
    with pytest.raises(FunnelkitError, match=r"must be 'auto' or 'exponential'\. Got 'gamma'"):
        StageMarkovFitter(delays="gamma").fit(sim.journeys)  # type: ignore[arg-type]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("delays", "seed"),
    [
        (
            (
                DelaySpec(distribution="weibull", scale=12.0, shape=1.3),
                DelaySpec(distribution="weibull", scale=12.0, shape=1.3),
            ),
            1,
        ),
        (
            (
                DelaySpec(distribution="lognormal", scale=8.0, shape=1.0),
                DelaySpec(distribution="lognormal", scale=10.0, shape=0.8),
            ),
            3,
        ),
    ],
    ids=["weibull-1.3", "lognormal"],
)
def test_backtest_lands_within_five_percent(delays: tuple[DelaySpec, DelaySpec], seed: int) -> None:
    sim = _world(delays, seed=seed)
    forecast = _fitted(sim).forecast(sim.journeys, horizon=30.0, n_resamples=100)
    actual = _realised(sim, 150.0)
    for stage in STAGES[1:]:
        assert abs(forecast.reached[stage] / actual[stage] - 1.0) < 0.05, stage
        assert forecast.reached_lower[stage] <= actual[stage] <= forecast.reached_upper[stage]


def _realised_chain(sim, stages: tuple[str, ...], end: float) -> dict[str, int]:  # type: ignore[no-untyped-def]
    entry = sim.journeys.entry_times[:, 0].copy()
    counts = {stages[0]: int((entry <= end).sum())}
    for k in range(len(stages) - 1):
        moves = sim.truth["will_convert"][:, k] & np.isfinite(entry)
        entry = np.where(moves, entry + sim.truth["delay"][:, k], np.inf)
        counts[stages[k + 1]] = int((entry <= end).sum())
    return counts


@pytest.mark.slow
def test_backtest_with_two_component_delays() -> None:
    delays = (
        MixtureDelaySpec(weight=0.6, scale=1.0, shape=0.5, scale_2=20.0, shape_2=0.5),
        MixtureDelaySpec(weight=0.5, scale=2.0, shape=0.6, scale_2=25.0, shape_2=0.4),
    )
    sim = _world(delays, seed=5)  # type: ignore[arg-type]
    fitter = _fitted(sim)
    assert fitter.result_.delays is not None
    assert [f.distribution for f in fitter.result_.delays[0] if f] == ["lognormal-mixture"] * 2
    forecast = fitter.forecast(sim.journeys, horizon=30.0, n_resamples=50)
    actual = _realised(sim, 150.0)
    for stage in STAGES[1:]:
        assert abs(forecast.reached[stage] / actual[stage] - 1.0) < 0.05, stage
        assert forecast.reached_lower[stage] <= actual[stage] <= forecast.reached_upper[stage]


@pytest.mark.slow
def test_backtest_on_a_clickstream_with_session_and_days_later_returns() -> None:
    # Most moves happen minutes into a session; the rest come back days later.
    stages = ("catalog", "product", "cart", "purchase")
    params = TransitionParams(
        stages=stages,
        eventual_rates=(0.6, 0.5, 0.4),
        delays=tuple(
            MixtureDelaySpec(weight=w, scale=fast, shape=1.0, scale_2=late, shape_2=1.0)
            for w, fast, late in ((0.8, 0.002, 8.0), (0.75, 0.003, 10.0), (0.7, 0.005, 6.0))
        ),
        entry_window=120.0,
        observation_end=120.0,
    )
    sim = simulate_transitions(8000, seed=5, params=params)
    actual = _realised_chain(sim, stages, 150.0)
    semi = _fitted(sim).forecast(sim.journeys, horizon=30.0, n_resamples=50)
    markov = _fitted(sim, "exponential").forecast(sim.journeys, horizon=30.0, n_resamples=50)
    for stage in stages[1:]:
        assert abs(semi.reached[stage] / actual[stage] - 1.0) < 0.05, stage
        assert semi.reached_lower[stage] <= actual[stage] <= semi.reached_upper[stage], stage
    # the memoryless forecast misses: those who waited days come back more often than it expects
    for stage in ("product", "cart"):
        assert not markov.reached_lower[stage] <= actual[stage] <= markov.reached_upper[stage]


def test_exponential_delays_give_the_markov_forecast_by_segment_with_inflow() -> None:
    chains = {
        "a": TransitionParams(stages=STAGES, eventual_rates=(0.4, 0.5)),
        "b": TransitionParams(stages=STAGES, eventual_rates=(0.3, 0.6)),
    }
    sim = simulate_transitions(2000, seed=6, segments=chains)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fitter = StageMarkovFitter().fit(sim.journeys, by="segment")
    exponential = fitter.result_.model_copy(update={"delays": ((None, None), (None, None))})
    kwargs = {"horizon": 20.0, "n_resamples": 0, "inflow": {"a": 5.0, "b": 3.0}}
    semi = forecast_stages(exponential, sim.journeys, delays="auto", **kwargs)  # type: ignore[arg-type]
    markov = forecast_stages(fitter.result_, sim.journeys, delays="exponential", **kwargs)  # type: ignore[arg-type]
    for stage in STAGES:
        assert semi.reached[stage] == pytest.approx(markov.reached[stage], rel=2e-3)
    assert "[a] visitor: exponential; [a] member: exponential; [b] visitor" in (
        semi.interval_method
    )


def test_draws_repeat_the_model_choice() -> None:
    # Exponential delays: the Weibull (which nests it) is supported as well, so the draws
    # that repeat the model choice widen the intervals beyond parameter noise alone.
    sim = _world(
        (
            DelaySpec(distribution="exponential", scale=12.0),
            DelaySpec(distribution="exponential", scale=12.0),
        ),
        seed=7,
        n=800,
    )
    fitter = _fitted(sim)
    supported = fitter.result_.supported_delays
    assert supported is not None
    names = [[f.distribution for f in ranked] for ranked in supported[0]]
    assert all(len(n) >= 2 for n in names), names
    for ranked, chosen in zip(supported[0], fitter.result_.delays[0], strict=True):  # type: ignore[index]
        assert ranked[0] == chosen
        weights = akaike_weights(ranked)
        assert weights.sum() == pytest.approx(1.0, abs=1e-15)
        assert weights[0] == weights.max()
    full = fitter.forecast(sim.journeys, horizon=20.0, n_resamples=200)
    single = fitter.result_.model_copy(update={"supported_delays": None})
    narrow = forecast_stages(single, sim.journeys, horizon=20.0, n_resamples=200)
    assert full.reached["buyer"] == narrow.reached["buyer"]  # the same point forecast
    assert "repeat the model choice" in full.interval_method
    wide = full.reached_upper["buyer"] - full.reached_lower["buyer"]
    assert wide > narrow.reached_upper["buyer"] - narrow.reached_lower["buyer"]
