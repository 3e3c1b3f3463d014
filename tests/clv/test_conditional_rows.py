"""conditional_probability_of_purchases shares the pmf of customers alike in history."""

from __future__ import annotations

import numpy as np
import pytest

from funnelkit.clv import BetaGeoFitter, ParetoNBDFitter
from funnelkit.datasets.btyd import simulate_bgnbd, simulate_pareto_nbd


@pytest.mark.parametrize(
    ("cls", "simulate"), [(BetaGeoFitter, simulate_bgnbd), (ParetoNBDFitter, simulate_pareto_nbd)]
)
def test_repeated_customers_get_their_own_pmf(cls: type, simulate: object) -> None:
    sim = simulate(800, T=52.0, seed=9)  # type: ignore[operator]
    model = cls().fit(sim.rfm)
    rfm = sim.rfm
    # five distinct histories, each repeated, with two horizons among the copies
    pick = np.array([0, 1, 2, 3, 4, 0, 2, 2, 4, 0, 1, 3])
    data = {k: np.asarray(getattr(rfm, k))[pick] for k in ("frequency", "recency", "T")}
    horizon = np.where(np.arange(pick.size) < 6, 10.0, 30.0)
    counts = np.arange(12)[:, None]
    shared = model.conditional_probability_of_purchases(horizon, data, n=counts)
    assert shared.shape == (12, pick.size)
    for j in range(pick.size):
        alone = {k: v[j : j + 1] for k, v in data.items()}
        one = model.conditional_probability_of_purchases(horizon[j], alone, n=counts)[:, 0]
        assert np.abs(shared[:, j] - one).max() < 1e-15
    # a count per customer takes the same values
    each = model.conditional_probability_of_purchases(horizon, data, n=np.arange(pick.size) % 3)
    np.testing.assert_allclose(each, shared[np.arange(pick.size) % 3, np.arange(pick.size)])
    # one count for all
    zero = model.conditional_probability_of_purchases(horizon, data, n=0)
    np.testing.assert_array_equal(zero, shared[0])
