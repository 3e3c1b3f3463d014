"""Gamma-Gamma limit model (common spend rate): exact forms, boundary world, CLV."""

from __future__ import annotations

import numpy as np
import pytest

from funnelkit.clv import BetaGeoFitter, GammaGammaFitter, customer_lifetime_value
from funnelkit.clv._data import FitData
from funnelkit.datasets import simulate_bgnbd

P, NU = 4.0, 0.2  # every customer's mean spend is p / nu = 20


def _world(seed: int) -> dict[str, np.ndarray]:
    """3,000 repeat customers with 1-10 transactions and no heterogeneity in nu."""
    rng = np.random.default_rng(seed)
    x = rng.integers(1, 11, 3000).astype(float)
    return {"frequency": x, "monetary_value": rng.gamma(P * x, 1.0 / NU) / x}


@pytest.fixture(scope="module")
def common() -> GammaGammaFitter:
    return GammaGammaFitter().fit(_world(3))


def test_boundary_world_reaches_the_common_rate(common: GammaGammaFitter) -> None:
    assert common.result_.boundary == ["common spend rate"]
    assert common.result_.converged
    assert set(common.params_) == {"p", "nu"}
    truth = P / NU
    assert abs(common.population_mean_spend() / truth - 1) < 0.10
    data = _world(4)
    with np.errstate(all="raise"):
        spend = common.expected_spend(data)
    # the history says nothing more: everybody gets the common mean
    np.testing.assert_array_equal(spend, np.full(3000, common.population_mean_spend()))
    assert (
        abs(spend.mean() / np.average(data["monetary_value"], weights=data["frequency"]) - 1) < 0.10
    )


def test_limit_agrees_with_the_full_model_at_large_concentration(
    common: GammaGammaFitter,
) -> None:
    big = 1e9
    near = GammaGammaFitter.from_json(common.to_json())
    near.params_ = {"p": P, "q": big, "v": big / NU}
    limit = GammaGammaFitter.from_json(common.to_json())
    limit.params_ = {"p": P, "nu": NU}
    data = _world(5)
    np.testing.assert_allclose(limit.expected_spend(data), near.expected_spend(data), rtol=1e-5)
    assert limit.population_mean_spend() == pytest.approx(near.population_mean_spend(), rel=1e-8)
    rows = FitData(columns=data, weights=np.ones(3000), n_customers=3000)
    model = GammaGammaFitter()
    # the general likelihood loses digits to gammaln cancellation beyond q ~ 1e8, and
    # differs from the limit by O((p x)^2 / q): compare at q = 1e7
    np.testing.assert_allclose(
        model._limit_log_likelihood({"p": P, "nu": NU}, rows),
        model._log_likelihood(np.array([P, 1e7, 1e7 / NU]), rows),
        rtol=1e-5,
    )
    # the mixing form is the fast one at interior parameters
    np.testing.assert_allclose(
        model._limit_log_likelihood({"p": P, "q": 3.0, "v": 15.0}, rows),
        model._log_likelihood(np.array([P, 3.0, 15.0]), rows),
        rtol=1e-12,
    )


def test_json_round_trip_and_clv_with_the_limit_spend_model(common: GammaGammaFitter) -> None:
    loaded = GammaGammaFitter.from_json(common.to_json())
    data = _world(6)
    np.testing.assert_array_equal(loaded.expected_spend(data), common.expected_spend(data))
    sim = simulate_bgnbd(500, T=52.0, seed=7)
    purchases = BetaGeoFitter().fit(sim.rfm)
    rfm = {
        "frequency": sim.rfm.frequency,
        "recency": sim.rfm.recency,
        "T": sim.rfm.T,
        "monetary_value": np.where(sim.rfm.frequency > 0, 20.0, 0.0),
    }
    with np.errstate(all="raise"):
        clv = customer_lifetime_value(
            purchases, common, rfm, horizon=12, time_unit="month", discount_rate=0.01
        )
    assert np.all(np.isfinite(clv)) and np.all(clv > 0)
