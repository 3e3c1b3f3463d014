"""Forecasts: exact aggregation, units, inflow, and backtests against simulated futures."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy import stats
from scipy.linalg import expm

from funnelkit import EventLog, Funnel, StatisticalWarning
from funnelkit.datasets import simulate_community
from funnelkit.dynamics import StageForecast, StageMarkovFitter, simulate_stage_chain
from funnelkit.dynamics.chain import generator, quantity_matrix
from funnelkit.dynamics.forecast import _draw_intensities

from ._helpers import make_journeys

LAM = (0.12, 0.05, 0.03)
MU = (0.08, 0.05, 0.02)


@pytest.fixture(scope="module")
def closed_cohort():
    """4000 arrivals over 120 days; the model is fitted at day 150, after arrivals stopped."""
    sim = simulate_stage_chain(
        4000, advance_rates=LAM, dropout_rates=MU, seed=99, arrival_window=120
    )
    log = sim.log()
    journeys = sim.funnel.journeys(log, observation_end=150.0)
    return sim, log, journeys, StageMarkovFitter(delays="exponential").fit(journeys)


def test_expected_counts_and_variance_match_a_per_customer_computation(closed_cohort) -> None:
    _, _, journeys, fitter = closed_cohort
    horizon = 25.0
    fc = fitter.forecast(journeys, horizon=horizon, n_points=6, n_draws=0)
    # Brute force, one customer at a time (fine in a test, never in the library).
    pi = fitter.probability_active(journeys)
    lam = [fitter.result_.transition(f"s{k}").advance_rate.estimate for k in range(3)]
    mu = [fitter.result_.transition(f"s{k}").dropout_rate.estimate for k in range(3)]
    p = expm(generator(np.array(lam), np.array(mu)) * horizon)
    qm = quantity_matrix(4)
    reached = ~np.isnan(journeys.entry_times)
    mean, var = np.zeros(qm.shape[1]), np.zeros(qm.shape[1])
    for i in np.flatnonzero(reached[:, 0]):
        k = int(np.flatnonzero(reached[i])[-1])
        dormant = qm[4 + k] if k < 3 else np.zeros(qm.shape[1])
        q = pi[i] * (p[k] @ qm) + (1 - pi[i]) * dormant
        mean += q
        var += q * (1 - q)
    names = ("s0", "s1", "s2", "s3")
    assert [fc.reached[s] for s in names] == pytest.approx(mean[:4], rel=1e-9)
    assert [fc.occupancy[s] for s in names] == pytest.approx(mean[4:8], rel=1e-9, abs=1e-9)
    assert fc.dormant == pytest.approx(mean[8], rel=1e-9)
    z = stats.norm.ppf(0.975)
    assert fc.reached_upper["s3"] - fc.reached["s3"] == pytest.approx(z * np.sqrt(var[3]))
    assert fc.n_customers == int(reached[:, 0].sum())
    # Conservation: everyone is active somewhere or dormant.
    total = sum(fc.occupancy.values()) + fc.dormant
    assert total == pytest.approx(fc.n_customers)


def test_parameter_uncertainty_widens_the_intervals(closed_cohort) -> None:
    _, _, journeys, fitter = closed_cohort
    plain = fitter.forecast(journeys, horizon=60.0, n_draws=0)
    full = fitter.forecast(journeys, horizon=60.0, n_draws=100, seed=1)
    assert full.reached == plain.reached  # the point forecast uses the estimates
    width = {s: full.reached_upper[s] - full.reached_lower[s] for s in ("s2", "s3")}
    narrow = {s: plain.reached_upper[s] - plain.reached_lower[s] for s in ("s2", "s3")}
    assert all(width[s] > narrow[s] for s in width)
    assert fitter.forecast(journeys, horizon=60.0, n_draws=100, seed=1) == full


def test_horizon_units_and_curve_grid(closed_cohort) -> None:
    _, _, journeys, fitter = closed_cohort
    days = fitter.forecast(journeys, horizon=14.0, n_points=3, n_draws=0)
    weeks = fitter.forecast(journeys, horizon=2, time_unit="W", n_points=3, n_draws=0)
    assert weeks.reached == pytest.approx(days.reached)
    assert weeks.times == pytest.approx((0.0, 1.0, 2.0))
    assert days.times == pytest.approx((0.0, 7.0, 14.0))
    assert weeks.time_unit.value == "week"
    # The curve starts at today's counts and never decreases.
    assert days.reached_curve["s2"][0] == pytest.approx(journeys.counts()["s2"])
    assert np.all(np.diff(days.reached_curve["s3"]) >= 0)


def test_result_is_data(closed_cohort) -> None:
    _, _, journeys, fitter = closed_cohort
    fc = fitter.forecast(journeys, horizon=30.0, n_points=4, n_draws=20)
    assert StageForecast.from_json(fc.to_json()) == fc
    frame = fc.to_frame()
    assert len(frame) == 4 * (2 * 4 + 1)
    assert set(frame["quantity"]) == {"reached", "occupancy", "dormant"}
    assert "<table" in fc._repr_html_()
    assert "s3: reached" in str(fc)
    assert fc.curve("occupancy", "s1")[0] == fc.occupancy_curve["s1"]


def _backtest_errors(sim, log, journeys, fitter, horizon: float, **kwargs):
    fc = fitter.forecast(journeys, horizon=horizon, **kwargs)
    later = sim.funnel.journeys(log, observation_end=journeys.observation_end + horizon).counts()
    now = journeys.counts()
    rows = []
    for stage in sim.funnel.stage_names[1:]:
        rows.append(
            (
                stage,
                later[stage],
                fc.reached[stage],
                fc.reached_lower[stage],
                fc.reached_upper[stage],
                now[stage],
            )
        )
    return rows


@pytest.mark.parametrize("horizon", [30.0, 90.0])
def test_backtest_beats_no_change_and_covers_what_happened(closed_cohort, horizon) -> None:
    sim, log, journeys, fitter = closed_cohort
    for stage, actual, expected, lower, upper, now in _backtest_errors(
        sim, log, journeys, fitter, horizon
    ):
        assert lower <= actual <= upper, (stage, actual, lower, upper)
        if actual - now >= 20:  # enough movement for the comparison to mean something
            assert abs(expected - actual) < 0.3 * abs(now - actual), (stage, expected, actual)


def test_backtest_with_inflow_of_new_prospects() -> None:
    # Arrivals keep coming (40 a day over 200 days); fit at day 100, forecast 60 days.
    sim = simulate_stage_chain(
        8000, advance_rates=LAM, dropout_rates=MU, seed=5, arrival_window=200
    )
    log = sim.log()
    journeys = sim.funnel.journeys(log, observation_end=100.0)
    fitter = StageMarkovFitter().fit(journeys)
    rows = _backtest_errors(sim, log, journeys, fitter, 60.0, inflow=40.0)
    for stage, actual, expected, lower, upper, now in rows:
        assert lower <= actual <= upper, (stage, actual, lower, upper)
        assert abs(expected - actual) < 0.3 * abs(now - actual)
    with_inflow = fitter.forecast(journeys, horizon=60.0, inflow=40.0, n_draws=0)
    without = fitter.forecast(journeys, horizon=60.0, n_draws=0)
    assert with_inflow.reached["s0"] == pytest.approx(without.reached["s0"] + 40.0 * 60.0)
    assert with_inflow.inflow == 40.0 and with_inflow.inflow_stage == "s0"
    # Inflow per week is the same thing in other units.
    weekly = fitter.forecast(journeys, horizon=60 / 7, time_unit="W", inflow=280.0, n_draws=0)
    assert weekly.reached == pytest.approx(with_inflow.reached)
    assert weekly.inflow == 280.0  # reported in the unit it was given in
    assert "280 per week" in str(weekly)


@pytest.mark.slow
def test_prediction_intervals_have_close_to_nominal_coverage() -> None:
    covered, total = 0, 0
    for seed in range(60):  # 180 realised counts
        sim = simulate_stage_chain(
            1500, advance_rates=LAM, dropout_rates=MU, seed=1000 + seed, arrival_window=100
        )
        log = sim.log()
        journeys = sim.funnel.journeys(log, observation_end=110.0)
        fitter = StageMarkovFitter().fit(journeys)
        for _, actual, _, lower, upper, _ in _backtest_errors(
            sim, log, journeys, fitter, 50.0, n_draws=100, seed=seed
        ):
            covered += int(lower <= actual <= upper)
            total += 1
    assert 0.91 <= covered / total <= 0.99, covered / total


@pytest.fixture(scope="module")
def community():
    """A datetime event log from the community simulator, cut at 1 June 2024."""
    sim = simulate_community(6000, seed=3)
    log = EventLog.from_frame(sim.events, value_col="value", attribute_cols=["channel"])
    funnel = Funnel.community()
    journeys = funnel.journeys(log, observation_end="2024-06-01")
    later = funnel.journeys(log, observation_end="2024-07-31").counts()
    # Prospects keep arriving uniformly over the first 240 days.
    per_day = 6000 / sim.params.acquisition_days
    shares = {name: c.share for name, c in sim.params.channels.items()}
    return journeys, later, per_day, shares


@pytest.mark.parametrize("by", [None, "channel"])
def test_backtest_on_a_dated_event_log(community, by) -> None:
    journeys, later, per_day, shares = community
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", StatisticalWarning)  # a weakly identified stage
        fitter = StageMarkovFitter(delays="exponential").fit(journeys, by=by)
    inflow = per_day if by is None else {k: per_day * v for k, v in shares.items()}
    fc = fitter.forecast(journeys, horizon=60, inflow=inflow)
    now = journeys.counts()
    for stage in ("prospect", "visitor", "member", "repeat_buyer"):
        actual = later[stage]
        assert fc.reached_lower[stage] <= actual <= fc.reached_upper[stage], (stage, fc, actual)
        assert abs(fc.reached[stage] - actual) < 0.2 * abs(actual - now[stage])
        # Intervals stay informative, even with a weakly identified drop-out rate.
        assert fc.reached_upper[stage] - fc.reached_lower[stage] < 0.3 * actual


def test_weakly_identified_intensities_are_drawn_on_the_natural_scale() -> None:
    # Nobody drops out; with this seed the estimate is a tiny positive drop-out rate whose
    # log-scale interval spans fifteen orders of magnitude.
    rng = np.random.default_rng(23)
    n = 300
    start = rng.uniform(0, 100, n)
    delay = rng.exponential(30.0, n)
    advance = np.where(start + delay <= 150, start + delay, np.nan)
    journeys = make_journeys(np.column_stack([start, advance]), 150.0)
    with pytest.warns(StatisticalWarning, match="drop-out rate is weakly identified"):
        fitter = StageMarkovFitter().fit(journeys)
    t = fitter.result_.transition("s0")
    assert t.status == "estimated"
    assert t.dropout_rate.upper > 1e3  # the log-scale Wald interval says little
    _, mu, _ = _draw_intensities(fitter.result_.intensities, fitter.conf_level, 2000, 0)
    assert np.all(np.isfinite(mu)) and np.all(mu >= 0)
    assert np.quantile(mu, 0.99) < 0.1 * t.advance_rate.estimate
    assert np.mean(mu == 0) > 0.2  # truncation at the boundary
    fc = fitter.forecast(journeys, horizon=30.0)
    waiting = int(journeys.counts()["s0"] - journeys.counts()["s1"])
    assert 0 <= fc.occupancy_lower["s0"] <= fc.occupancy_upper["s0"] <= waiting


def test_a_drop_out_rate_on_the_boundary_is_drawn_up_to_its_profile_bound() -> None:
    rng = np.random.default_rng(1)  # a seed whose maximum is on the boundary
    n = 800
    start = rng.uniform(0, 30, n)
    advance = start + rng.exponential(5.0, n)
    advance[advance > 30] = np.nan
    journeys = make_journeys(np.column_stack([start, advance]), 30.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", StatisticalWarning)
        fitter = StageMarkovFitter().fit(journeys)
    t = fitter.result_.transition("s0")
    assert t.status == "no_dropout"
    _, mu, _ = _draw_intensities(fitter.result_.intensities, fitter.conf_level, 4000, 1)
    assert mu[0, 0, 0] == 0.0  # the estimate itself
    assert np.all(mu[1:] >= 0)
    assert np.quantile(mu[1:], 0.95) == pytest.approx(t.dropout_rate.upper, rel=0.1)


def test_journeys_in_another_unit_give_the_same_forecast(closed_cohort) -> None:
    sim, log, journeys, fitter = closed_cohort
    weekly = sim.funnel.journeys(log, observation_end=150.0, time_unit="W")
    days = fitter.forecast(journeys, horizon=20.0, n_draws=0)
    same = fitter.forecast(weekly, horizon=20.0, n_draws=0)
    assert same.reached == pytest.approx(days.reached)
    assert same.occupancy == pytest.approx(days.occupancy)
    np.testing.assert_allclose(
        fitter.probability_active(weekly), fitter.probability_active(journeys), equal_nan=True
    )
