"""The buyers' horizon values with the purchase models factored, to the last bit."""

from __future__ import annotations

import numpy as np
import pytest

from funnelkit import Funnel, LifecycleModel
from funnelkit.lifecycle.uplift import (
    _ByAge,
    _distinct_pairs,
    _HorizonRows,
    buyer_horizon_values,
)
from funnelkit.lifecycle.values import ValueGrid

from .conftest import Community


@pytest.fixture(scope="module", params=["bgnbd", "mbgnbd", "paretonbd"])
def model(request: pytest.FixtureRequest, community: Community) -> LifecycleModel:
    fitter = LifecycleModel(n_resamples=0, purchase_model=request.param)
    return fitter.fit(
        community.log, Funnel.community(), observation_end=community.sim.observation_end
    )


# the fit's own horizon (every buyer observed for less), a shorter one (some are not), and
# both with a discount (the purchases over 24 steps of the horizon)
GRIDS = [(365.25, 0.0), (120.0, 0.0), (365.25, 0.0015), (120.0, 0.0015)]


@pytest.mark.parametrize(("horizon", "delta"), GRIDS)
def test_factored_values_equal_the_model_s_own(
    model: LifecycleModel, horizon: float, delta: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    table = model.customers()
    grid = ValueGrid(horizon=horizon, delta=delta, n_grid=200)
    buyers = np.flatnonzero(table.group >= 0)
    rows = _HorizonRows(table, buyers, grid)
    comps = model.fit_.main_components()
    factored = rows.values(comps, grid)
    monkeypatch.setattr(_ByAge, "of", classmethod(lambda cls, model, part: model))
    direct = rows.values(comps, grid)
    np.testing.assert_array_equal(factored, direct)
    assert np.count_nonzero(direct) >= 100
    if horizon == 120.0:
        assert (direct == 0).any()  # buyers observed for longer get no model part


def test_each_distinct_frequency_and_age_is_evaluated_once(model: LifecycleModel) -> None:
    table = model.customers()
    buyers = np.flatnonzero(table.group >= 0)
    grid = ValueGrid(horizon=365.25, delta=0.0, n_grid=200)
    for part in _HorizonRows(table, buyers, grid).parts:
        pairs = set(zip(part.rows.frequency.tolist(), part.rows.T.tolist(), strict=True))
        assert part.ages.frequency.size == len(pairs) < part.rows.T.size
        np.testing.assert_array_equal(part.ages.frequency[part.age], part.rows.frequency)
        np.testing.assert_array_equal(part.ages.T[part.age], part.rows.T)


def test_a_model_without_the_factorisation_is_used_as_it_is(model: LifecycleModel) -> None:
    table = model.customers()
    buyers = np.flatnonzero(table.group >= 0)
    grid = ValueGrid(horizon=365.25, delta=0.0, n_grid=200)
    part = _HorizonRows(table, buyers, grid).parts[0]

    class Plain:
        def expected_purchases(self, t: np.ndarray, data: object) -> np.ndarray:
            return np.ones(np.shape(t))

    plain = Plain()
    assert _ByAge.of(plain, part) is plain
    assert isinstance(_ByAge.of(model.fit_.main_components().groups[0].purchase, part), _ByAge)


def test_distinct_pairs_as_numpy_unique() -> None:
    rng = np.random.default_rng(8)
    x = rng.integers(0, 6, 3000).astype(float)
    y = rng.integers(0, 40, 3000) + 0.5 * rng.integers(0, 2, 3000)
    first, pair = _distinct_pairs(x, y)
    _, first_np, pair_np = np.unique(
        np.stack([x, y]), axis=1, return_index=True, return_inverse=True
    )
    np.testing.assert_array_equal(first, first_np)
    np.testing.assert_array_equal(pair, pair_np.reshape(-1))


def test_values_of_some_buyers_are_theirs_among_all(model: LifecycleModel) -> None:
    table = model.customers()
    grid = ValueGrid(horizon=120.0, delta=0.0, n_grid=200)
    buyers = np.flatnonzero(table.group >= 0)
    comps = model.fit_.main_components()
    every = buyer_horizon_values(table, buyers, comps, grid)
    some = buyers[::3]
    np.testing.assert_array_equal(buyer_horizon_values(table, some, comps, grid), every[::3])
