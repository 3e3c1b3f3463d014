"""BG/NBD and MBG/NBD expected purchases stay finite where the closed form overflows."""

from __future__ import annotations

import numpy as np
import pytest

from funnelkit import RFM, BetaGeoFitter, ModifiedBetaGeoFitter
from funnelkit.clv import customer_lifetime_value, score_customers
from funnelkit.clv._geometric import mean_purchases
from funnelkit.clv._mixing import BetaDropout, GammaRate
from funnelkit.datasets import simulate_bgnbd

DATA = RFM.from_arrays(
    frequency=[0, 1, 4, 40],
    recency=[0.0, 3.0, 20.0, 38.0],
    T=[39.0, 39.0, 39.0, 39.0],
    time_unit="W",
)


def _fitted(cls: type, **params: float) -> BetaGeoFitter:
    """A fitted model (for its state), then set to the parameters under test."""
    model = cls().fit(simulate_bgnbd(2_000, T=39.0, seed=1).rfm)
    model.params_ = params
    return model


@pytest.mark.parametrize("cls", [BetaGeoFitter, ModifiedBetaGeoFitter])
def test_quadrature_matches_the_closed_form_where_both_work(cls: type) -> None:
    r, alpha, a, b = 0.6, 12.0, 40.0, 70.0
    model = _fitted(cls, r=r, alpha=alpha, a=a, b=b)
    t = np.array([1.0, 39.0, 400.0])
    k0 = 1 if cls is ModifiedBetaGeoFitter else 0
    quad = mean_purchases(GammaRate(r, alpha), BetaDropout(a, b), t, survive=bool(k0))
    np.testing.assert_allclose(model.expected_purchases_new_customer(t), quad, rtol=1e-10)
    x, T = DATA.frequency, DATA.T
    alive = model.probability_alive(DATA)
    posterior = GammaRate(r + x[:, None], alpha + T[:, None])
    cond = alive * mean_purchases(
        posterior, BetaDropout(a, b + x + k0), np.full(4, 52.0), survive=False
    )
    np.testing.assert_allclose(model.expected_purchases(52.0, DATA), cond, rtol=1e-10)


@pytest.mark.parametrize("cls", [BetaGeoFitter, ModifiedBetaGeoFitter])
def test_huge_dropout_parameters_give_finite_monotone_expectations(cls: type) -> None:
    model = _fitted(cls, r=0.5, alpha=10.0, a=2000.0, b=3000.0)
    t = np.array([1.0, 39.0, 500.0, 5000.0])
    new = model.expected_purchases_new_customer(t)
    assert np.all(np.isfinite(new))
    assert np.all(np.diff(new) > 0)
    cond = model.expected_purchases(500.0, DATA)
    assert np.all(np.isfinite(cond))
    assert np.all(cond > 0)


@pytest.mark.filterwarnings("ignore::funnelkit.ConvergenceWarning")
def test_a_vanishing_chance_of_being_alive_later_is_zero_not_an_underflow() -> None:
    # found by the fuzz tests: the fit heads to alpha -> 0 (a limit), each customer's chance
    # of being alive underflows, and so does its product with the chance of staying alive;
    # 0 is the answer, under any errstate
    data = {"frequency": [1e4] * 4, "recency": [0.0, 0.0, 0.0, 0.9296875], "T": [1.0] * 4}
    model = BetaGeoFitter().fit(data)
    with np.errstate(all="raise"):
        later = model.probability_alive(data, at=5)
        now = model.probability_alive(data)
    assert np.all((later >= 0) & (later <= now))


@pytest.mark.filterwarnings("ignore::funnelkit.ConvergenceWarning")
@pytest.mark.parametrize("cls", [BetaGeoFitter, ModifiedBetaGeoFitter])
def test_expected_purchases_of_the_near_certainly_dead_are_zero_not_an_underflow(
    cls: type,
) -> None:
    # found by the fuzz tests, as above: purchases if alive times a P(alive) that underflows
    data = {"frequency": [1e4, 1e4], "recency": [0.9296875, 0.0], "T": [1.0, 1.0]}
    model = cls().fit(data)
    with np.errstate(all="raise"):
        purchases = model.expected_purchases(1.0)
        pmf = model.probability_of_purchases(np.arange(3)[:, None], 1.0)
    assert np.all(np.isfinite(purchases) & (purchases >= 0))
    assert np.all((pmf >= 0) & (pmf <= 1))


@pytest.mark.filterwarnings("ignore::funnelkit.ConvergenceWarning")
def test_a_vanishing_lifetime_value_is_not_an_underflow() -> None:
    # found by the fuzz tests: an MBG/NBD limit fit values a customer at a subnormal number
    # of purchases, and the spend times it underflowed under np.errstate(all="raise")
    data = {"frequency": [1.0, 0.0, 0.0], "recency": [0.025, 0.0, 0.0], "T": [0.5, 17.75, 0.0]}
    model = ModifiedBetaGeoFitter().fit(data)
    settings = {"horizon": 3, "time_unit": None, "discount_rate": 0.01}
    with np.errstate(all="raise"):
        values = customer_lifetime_value(model, 2.5, data, **settings)
        scores = score_customers(model, 2.5, data, **settings)
    assert np.all(np.isfinite(values) & (values >= 0))
    np.testing.assert_array_equal(scores["clv"], values)
