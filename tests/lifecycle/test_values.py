"""The value integrals against closed forms, direct quadrature and Monte Carlo."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from scipy import integrate

from funnelkit.clv import BetaGeoFitter, ParetoNBDFitter
from funnelkit.conversion import fit_cure_model
from funnelkit.lifecycle import values
from funnelkit.lifecycle._components import Components, FirstPurchaseCurve, GroupModel, MemberShare
from funnelkit.lifecycle._data import UniqueRows
from funnelkit.lifecycle.values import (
    ValueGrid,
    buyer_curves,
    conditional_purchases,
    pre_values,
    purchase_count_values,
)
from funnelkit.units import TimeUnit


def _bgnbd(r: float, alpha: float, a: float, b: float) -> BetaGeoFitter:
    model = BetaGeoFitter()
    model.params_ = {"r": r, "alpha": alpha, "a": a, "b": b}
    model.time_unit_ = TimeUnit.DAY
    return model


def _components(*models: BetaGeoFitter, spend: float = 30.0, first: float = 25.0) -> Components:
    groups = [GroupModel(f"g{i}", m, None, spend, first, 1.0) for i, m in enumerate(models)]
    return Components(curves={}, shares={}, groups=groups)


def _exponential_curve(p: float, mean: float) -> FirstPurchaseCurve:
    # A cure fit whose coefficients are set to (logit p, log mean): F(t) = p (1 - exp(-t/mean)).
    rng = np.random.default_rng(0)
    n = 4000
    durations = rng.exponential(mean, n)
    converted = rng.random(n) < p
    fit = fit_cure_model(np.where(converted, durations, 1e4), converted, "exponential")
    fixed = fit.model_copy(update={"coefficients": (math.log(p / (1 - p)), math.log(mean))})
    return FirstPurchaseCurve(cure=fixed)


def test_new_buyer_value_without_discount_is_first_plus_mean_spend_times_purchases() -> None:
    model = _bgnbd(0.6, 40.0, 0.8, 5.0)
    comps = _components(model)
    grid = ValueGrid(horizon=365.0, delta=0.0, n_grid=50)
    values, counts = buyer_curves(comps, grid)
    expected = model.expected_purchases_new_customer(grid.half_points)
    np.testing.assert_allclose(values[0], 25.0 + 30.0 * expected, rtol=1e-10)
    np.testing.assert_allclose(counts[0], 1.0 + expected, rtol=1e-10)
    one = purchase_count_values(comps, grid, 1)
    assert one is not None
    assert one[0][0] == pytest.approx(values[0][-1])


def test_discounting_lowers_value_by_the_right_amount_for_a_constant_rate() -> None:
    # With (almost) no dropout and a known rate the repeat purchases arrive at rate r / alpha.
    model = _bgnbd(50.0, 500.0, 1e-3, 1e3)  # lambda ~ 0.1 / day, essentially no dropout
    comps = _components(model, first=0.0, spend=1.0)
    delta = 0.01
    grid = ValueGrid(horizon=100.0, delta=delta, n_grid=400)
    value = buyer_curves(comps, grid)[0][0][-1]
    exact = 0.1 * (1 - math.exp(-delta * 100.0)) / delta
    assert value == pytest.approx(exact, rel=2e-3)


def test_pre_value_matches_direct_quadrature() -> None:
    model = _bgnbd(0.9, 40.0, 0.6, 4.0)
    comps = _components(model)
    curve = _exponential_curve(0.7, 20.0)
    grid = ValueGrid(horizon=365.0, delta=math.log1p(0.001), n_grid=200)
    value, purchases, prob = pre_values(curve, MemberShare(0.0), comps, grid)

    def integrand(t: float, discounted: bool) -> float:
        density = 0.7 / 20.0 * math.exp(-t / 20.0)
        rest = float(model.expected_purchases_new_customer(365.0 - t))
        if not discounted:
            return density * (1.0 + rest)
        # repeat purchases discounted from the first purchase, itself discounted from entry
        inner = integrate.quad(
            lambda u: (
                math.exp(-grid.delta * u)
                * float(
                    model.expected_purchases_new_customer(u + 1e-4)
                    - model.expected_purchases_new_customer(max(u - 1e-4, 0.0))
                )
                / 2e-4
            ),
            0.0,
            365.0 - t,
            limit=200,
        )[0]
        return density * math.exp(-grid.delta * t) * (25.0 + 30.0 * inner)

    exact_value = integrate.quad(integrand, 0.0, 365.0, args=(True,), limit=100)[0]
    exact_purchases = integrate.quad(integrand, 0.0, 365.0, args=(False,), limit=100)[0]
    assert value[0] == pytest.approx(exact_value, rel=2e-3)
    assert purchases[0] == pytest.approx(exact_purchases, rel=2e-3)
    assert prob[0] == pytest.approx(0.7 * (1 - math.exp(-365.0 / 20.0)), rel=1e-9)


def test_waiting_without_buying_conditions_the_first_purchase() -> None:
    comps = _components(_bgnbd(0.9, 40.0, 0.6, 4.0))
    curve = _exponential_curve(0.5, 10.0)
    grid = ValueGrid(horizon=100.0, delta=0.0, n_grid=200)
    _, _, prob = pre_values(curve, MemberShare(0.0), comps, grid, waited=np.array([0.0, 30.0]))
    # P(buy within 100 | not by 30) = p (e^-3 - e^-13) / (1 - p + p e^-3)
    expected = 0.5 * (math.exp(-3) - math.exp(-13)) / (0.5 + 0.5 * math.exp(-3))
    assert prob[1] == pytest.approx(expected, rel=1e-6)
    assert prob[1] < prob[0]


def test_member_share_mixes_the_two_buyer_values() -> None:
    low, high = _bgnbd(0.5, 60.0, 0.9, 2.5), _bgnbd(0.9, 40.0, 0.6, 4.0)
    comps = _components(low, high)
    curve = _exponential_curve(0.6, 15.0)
    grid = ValueGrid(horizon=200.0, delta=0.0, n_grid=100)
    v_none = pre_values(curve, MemberShare(-50.0), comps, grid)[0][0]
    v_all = pre_values(curve, MemberShare(50.0), comps, grid)[0][0]
    v_half = pre_values(curve, MemberShare(0.0), comps, grid)[0][0]
    assert v_none < v_half < v_all
    assert v_half == pytest.approx((v_none + v_all) / 2, rel=1e-9)


def _three_rows() -> UniqueRows:
    return UniqueRows(
        customers=np.zeros(0, dtype=np.int64),
        frequency=np.array([0.0, 1.0, 5.0]),
        recency=np.array([0.0, 20.0, 80.0]),
        T=np.array([10.0, 20.0, 100.0]),
        inverse=np.zeros(0, dtype=np.int64),
    )


def test_conditional_purchases_without_discount_equal_the_model_expectation() -> None:
    model = _bgnbd(0.9, 40.0, 0.6, 4.0)
    rows = _three_rows()
    grid = ValueGrid(horizon=90.0, delta=0.0)
    disc, plain = conditional_purchases(model, rows, grid)
    np.testing.assert_allclose(plain, model.expected_purchases(90.0, rows.mapping()))
    np.testing.assert_allclose(disc, plain)
    discounted = conditional_purchases(model, rows, ValueGrid(horizon=90.0, delta=0.01))[0]
    assert np.all(discounted < plain)


def test_undiscounted_purchases_are_the_one_step_rule_bit_for_bit() -> None:
    model = _bgnbd(0.9, 40.0, 0.6, 4.0)
    rows = _three_rows()
    length = np.array([30.0, 0.0, 45.5])
    disc, plain = conditional_purchases(
        model, rows, ValueGrid(horizon=90.0, delta=0.0), start=np.array([5.0, 0, 1]), length=length
    )
    expected = np.asarray(model.expected_purchases(length, rows.mapping()))
    # what the midpoint rule's single step adds up: 0 + (E - 0) * exp(-0 * mid)
    assert np.array_equal(disc, np.zeros(3) + (expected - np.zeros(3)) * np.ones(3))
    assert np.array_equal(plain, expected)
    assert not np.shares_memory(disc, plain)


class _ExpectationOnly:
    """A purchase model that gives ``expected_purchases`` only, not its two factors."""

    def __init__(self, model: Any) -> None:
        self.model = model

    def expected_purchases(self, t: Any, data: Any) -> np.ndarray:
        return np.asarray(self.model.expected_purchases(t, data))


@pytest.mark.parametrize("family", ["bgnbd", "paretonbd"])
def test_discounted_purchases_find_p_alive_once_with_the_same_bits(
    family: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if family == "bgnbd":
        model: Any = _bgnbd(0.9, 40.0, 0.6, 4.0)
    else:
        model = ParetoNBDFitter()
        model.params_ = {"r": 0.7, "alpha": 30.0, "s": 0.8, "beta": 60.0}
        model.time_unit_ = TimeUnit.DAY
    rows = _three_rows()
    grid = ValueGrid(horizon=90.0, delta=0.01)
    calls: list[int] = []
    alive = model.probability_alive

    def counted(*args: Any, **kwargs: Any) -> np.ndarray:
        calls.append(1)
        return np.asarray(alive(*args, **kwargs))

    model.probability_alive = counted
    disc, plain = conditional_purchases(model, rows, grid, n_steps=24)
    assert len(calls) == 1  # not once per step
    # each step asked for on its own, of a model without the factors: the same bits
    want = conditional_purchases(_ExpectationOnly(model), rows, grid, n_steps=24)
    assert np.array_equal(disc, want[0]) and np.array_equal(plain, want[1])
    # and the rows in pieces (of one row here), as a grid too large for one call goes
    monkeypatch.setattr(values, "_GRID_CELLS", 24)
    pieces = conditional_purchases(model, rows, grid, n_steps=24)
    assert np.array_equal(disc, pieces[0]) and np.array_equal(plain, pieces[1])
    assert len(calls) == 1 + rows.T.size


@pytest.mark.slow
def test_repeat_buyer_value_matches_a_simulation_of_the_model() -> None:
    """V at the 2nd purchase: the model-based integral equals simulated BG/NBD customers."""
    r, alpha, a, b = 0.9, 40.0, 0.6, 4.0
    horizon, spend = 365.25, 30.0
    rng = np.random.default_rng(11)
    n = 400_000
    lam = rng.gamma(r, 1.0 / alpha, n)
    p = rng.beta(a, b, n)
    # BG/NBD: no dropout before the first repeat purchase, which comes after an Exp(lambda)
    # gap; repeat buyers are those whose 2nd purchase comes within the horizon of the first.
    entered = rng.exponential(1.0 / lam) <= horizon
    lam, p = lam[entered], p[entered]
    t = np.zeros(lam.size)
    count = np.ones(lam.size)  # the entry purchase itself
    idx = np.arange(lam.size)
    while idx.size:
        idx = idx[rng.random(idx.size) >= p[idx]]  # dropout chance after each repeat
        t[idx] += rng.exponential(1.0 / lam[idx])
        idx = idx[t[idx] <= horizon]
        count[idx] += 1
    simulated = spend * count.mean()
    se = spend * count.std() / math.sqrt(count.size)
    comps = _components(_bgnbd(r, alpha, a, b), spend=spend)
    result = purchase_count_values(comps, ValueGrid(horizon=horizon, delta=0.0), 2)
    assert result is not None
    assert abs(result[0][0] - simulated) < 4 * se
