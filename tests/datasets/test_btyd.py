"""BTYD simulators and the donations data."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import betaln

from funnelkit.datasets.btyd import (
    load_donations,
    simulate_bgbb,
    simulate_bgnbd,
    simulate_mbgnbd,
    simulate_pareto_nbd,
)
from funnelkit.exceptions import DataError

CONTINUOUS = [simulate_bgnbd, simulate_mbgnbd, simulate_pareto_nbd]


@pytest.mark.parametrize("simulate", CONTINUOUS)
def test_seeded_and_valid(simulate: object) -> None:
    a = simulate(3000, T=np.linspace(1, 60, 3000), holdout=10.0, seed=4)  # type: ignore[operator]
    b = simulate(3000, T=np.linspace(1, 60, 3000), holdout=10.0, seed=4)  # type: ignore[operator]
    np.testing.assert_array_equal(a.rfm.frequency, b.rfm.frequency)
    rfm = a.rfm
    assert np.all(rfm.recency <= rfm.T) and np.all(rfm.frequency >= 0)
    assert np.all(rfm.recency[rfm.frequency == 0] == 0)
    assert rfm.has_holdout and np.all(rfm.holdout_duration == 10.0)
    # the dead make no holdout purchases
    assert np.all(rfm.holdout_frequency[~a.alive] == 0)
    assert rfm.time_unit.value == "week"


def test_bgnbd_moments_match_the_model() -> None:
    # E[X(t)] for a new customer (FHL 2005, eq. 9) against the simulated mean
    from scipy.special import hyp2f1

    r, alpha, a, b, t = 0.243, 4.414, 0.793, 2.426, 39.0
    sim = simulate_bgnbd(400_000, T=t, seed=9)
    z = t / (alpha + t)
    expected = (a + b - 1) / (a - 1) * (1 - (alpha / (alpha + t)) ** r * hyp2f1(r, b, a + b - 1, z))
    se = sim.rfm.frequency.std() / np.sqrt(400_000)
    assert abs(sim.rfm.frequency.mean() - expected) < 4 * se


def test_mbgnbd_one_time_buyers_can_be_dead() -> None:
    sim = simulate_mbgnbd(20_000, T=30.0, seed=1)
    once = sim.rfm.frequency == 0
    assert 0 < sim.alive[once].mean() < 1
    bg = simulate_bgnbd(20_000, T=30.0, seed=1)
    assert bg.alive[bg.rfm.frequency == 0].all()  # BG/NBD: no dropout before a repeat purchase


def test_the_simulator_draws_customers_who_never_drop_out() -> None:
    # Beta(3e-11, 7e-11) draws exact zeros; the simulator once passed them to the geometric
    # draw, which raised
    sim = simulate_bgnbd(3000, T=52.0, r=2.0, alpha=4.0, seed=2, a=0.3e-10, b=0.7e-10)
    x = sim.rfm.frequency
    # at 26 purchases a year, nearly all who never drop out buy twice or more; those at
    # p = 1 stop at one repeat purchase
    assert 0.65 < (x >= 2).mean() < 0.75
    assert x[x >= 2].size == sim.alive[x >= 2].sum()


def test_pareto_alive_share_matches_the_model() -> None:
    # P(tau > T) = (beta / (beta + T))^s for a new customer
    s, beta, T = 0.606, 11.669, 39.0
    sim = simulate_pareto_nbd(200_000, T=T, s=s, beta=beta, seed=3)
    assert sim.alive.mean() == pytest.approx((beta / (beta + T)) ** s, abs=4e-3)


def test_bgbb_structure_and_survival() -> None:
    sim = simulate_bgbb(200_000, n_periods=6, holdout=2, seed=2)
    rfm = sim.rfm
    assert np.all(rfm.T == 6) and np.all(rfm.frequency <= rfm.recency)
    assert np.all(rfm.recency == np.round(rfm.recency))
    gamma, delta = sim.params["gamma"], sim.params["delta"]
    # alive after n opportunities: E[(1 - theta)^n] = B(gamma, delta + n) / B(gamma, delta)
    assert sim.alive.mean() == pytest.approx(
        np.exp(betaln(gamma, delta + 6) - betaln(gamma, delta)), abs=4e-3
    )
    assert rfm.time_unit.value == "year"


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_customers": 0, "T": 5.0}, "n_customers"),
        ({"n_customers": 10, "T": -1.0}, "T must be"),
        ({"n_customers": 10, "T": 5.0, "r": -1.0}, "finite and > 0"),
    ],
)
def test_bad_simulation_settings(kwargs: dict[str, float], match: str) -> None:
    with pytest.raises(DataError, match=match):
        simulate_bgnbd(seed=0, **kwargs)  # type: ignore[arg-type]


def test_donations_data() -> None:
    pytest.importorskip("lifetimes")
    frame = load_donations()
    assert list(frame.columns) == ["frequency", "recency", "T", "weights"]
    assert int(frame["weights"].sum()) == 11104
    assert (frame["T"] == 6).all()
