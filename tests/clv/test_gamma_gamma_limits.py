"""Gamma-Gamma limit models (a common spend rate; no spread within a customer): exact forms,
boundary worlds, CLV."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from funnelkit import EventLog
from funnelkit.clv import BetaGeoFitter, GammaGammaFitter, customer_lifetime_value
from funnelkit.clv._data import FitData
from funnelkit.datasets import simulate_bgnbd, simulate_community

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


Q, S = 3.0, 60.0  # mean spends inverse-gamma(3, 60) across customers: a mean of 30


def _no_spread(n: int = 4000, scale: np.ndarray | float = S) -> dict[str, np.ndarray]:
    """Customers whose every spend is their own mean, with 1-10 transactions: at every
    frequency the mean spends are the same quantiles of the inverse gamma, so that their
    spread does not shrink with it, not even by chance (with random means it does about
    half of the time, and the maximum is then inside)."""
    k = n // 10
    means = S / stats.gamma.ppf((np.arange(k) + 0.5) / k, Q)
    x = np.repeat(np.arange(1.0, 11.0), k)
    return {"frequency": x, "monetary_value": np.tile(means, 10) * (np.asarray(scale) / S)}


@pytest.fixture(scope="module")
def exact() -> GammaGammaFitter:
    return GammaGammaFitter().fit(_no_spread())


def test_spends_without_spread_end_at_that_limit(exact: GammaGammaFitter) -> None:
    result = exact.result_
    assert result.boundary == ["no spread within a customer"]
    assert result.converged and set(exact.params_) == {"q", "s"}
    assert result.limit_test is not None and result.limit_test.statistic < 1e-6
    assert exact.params_["q"] == pytest.approx(Q, rel=0.1)
    assert exact.params_["s"] == pytest.approx(S, rel=0.1)
    mean = exact.params_["s"] / (exact.params_["q"] - 1.0)
    assert exact.population_mean_spend() == pytest.approx(mean, rel=1e-12)
    data = _no_spread(50)
    data["frequency"][:5] = 0.0
    with np.errstate(all="raise"):
        spend = exact.expected_spend(data)
    # the history says it all: a repeat customer's own mean, the population's for the rest
    np.testing.assert_array_equal(spend[5:], data["monetary_value"][5:])
    np.testing.assert_allclose(spend[:5], mean, rtol=1e-12)
    loaded = GammaGammaFitter.from_json(exact.to_json())
    np.testing.assert_array_equal(loaded.expected_spend(data), spend)


def test_the_full_likelihood_keeps_its_digits_next_to_no_spread() -> None:
    data = _no_spread(500)
    rows = FitData(columns=data, weights=np.ones(500), n_customers=500)
    model = GammaGammaFitter()
    limit = model._limit_log_likelihood({"q": Q, "s": S}, rows)
    # the full model at p = 1e6 and 1e12 (v = s / p) differs from the limit by O(1 / p);
    # written plainly its terms near p x log(p) cancel and lose whole units at p = 1e12
    for p, rtol in [(1e6, 1e-5), (1e12, 1e-10)]:
        full = model._log_likelihood(np.array([p, Q, S / p]), rows)
        np.testing.assert_allclose(full, limit, rtol=rtol)
        total, _ = model._weighted_log_likelihood(np.array([p, Q, S / p]), rows)
        assert total == pytest.approx(float(limit.sum()), rel=rtol)


def test_gradients_agree_with_differences_at_both_limits_and_inside() -> None:
    data = _no_spread(300)
    rows = FitData(columns=data, weights=np.arange(300) % 3 + 1.0, n_customers=600)
    model = GammaGammaFitter()
    for params in ([4.0, 3.0, 15.0], [1e9, 3.0, 60.0 / 1e9], [4.0, 1e9, 1e9 / 0.2]):
        theta = np.log(params)
        _, grad = model._weighted_log_likelihood(np.exp(theta), rows)
        rows_grad = model._log_likelihood_and_gradient(np.exp(theta), rows)[1]
        assert rows_grad is not None
        np.testing.assert_allclose(rows_grad @ rows.weights, grad, rtol=1e-9)
        for i in range(3):  # d / d log(param) by central differences
            step = np.zeros(3)
            step[i] = 1e-5
            up = model._weighted_log_likelihood(np.exp(theta + step), rows)[0]
            down = model._weighted_log_likelihood(np.exp(theta - step), rows)[0]
            assert (up - down) / 2e-5 == pytest.approx(grad[i] * params[i], rel=1e-5, abs=1e-6)


def test_a_small_community_whose_spends_do_not_spread_fits_that_limit() -> None:
    # 300 customers, 19 repeat buyers: the full fit ran p to the edge of its search space
    sim = simulate_community(300, seed=612)
    log = EventLog.from_frame(sim.events, value_col="value", attribute_cols=["channel"])
    model = GammaGammaFitter().fit(log.rfm(time_unit="W"))
    assert model.result_.converged
    assert model.result_.boundary == ["no spread within a customer"]
    assert GammaGammaFitter(initial_params=model.params_).fit(log.rfm(time_unit="W")).params_ == (
        pytest.approx(model.params_, rel=1e-6)
    )


def test_covariates_act_on_the_scale_of_that_limit() -> None:
    n = 4000
    z = np.tile([0.0, 1.0], n // 2)
    data = {"customer_id": np.arange(n), **_no_spread(n, S * np.exp(0.5 * z))}
    model = GammaGammaFitter().fit(data, covariates={"customer_id": np.arange(n), "z": z})
    assert model.result_.boundary == ["no spread within a customer"]
    effect = model.coefficients_
    assert float(effect["estimate"].iloc[0]) == pytest.approx(0.5, abs=0.05)
    base = model.population_mean_spend(covariates={"z": [0.0]})
    assert model.population_mean_spend(covariates={"z": [1.0]}) == pytest.approx(
        base * np.exp(float(effect["estimate"].iloc[0])), rel=1e-9
    )
