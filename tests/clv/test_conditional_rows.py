"""conditional_probability_of_purchases shares the pmf of customers alike in history."""

from __future__ import annotations

import numpy as np
import pytest

from funnelkit.clv import BetaGeoBetaBinomFitter, ParetoNBDFitter
from funnelkit.datasets.btyd import simulate_bgbb, simulate_pareto_nbd


@pytest.mark.parametrize("family", ["pareto", "bgbb"])
def test_repeated_customers_get_their_own_pmf(family: str) -> None:
    # the families whose pmf is dear enough to share (Pareto/NBD integrates over dropout
    # times, BG/BB sums over opportunities)
    if family == "pareto":
        rfm = simulate_pareto_nbd(800, T=52.0, seed=9).rfm
        model = ParetoNBDFitter().fit(rfm)
        short, long = 10.0, 30.0
    else:
        rfm = simulate_bgbb(800, n_periods=8, seed=9).rfm
        model = BetaGeoBetaBinomFitter().fit(rfm)
        short, long = 4.0, 8.0
    # five distinct histories, each repeated, with two horizons among the copies
    pick = np.array([0, 1, 2, 3, 4, 0, 2, 2, 4, 0, 1, 3])
    data = {k: np.asarray(getattr(rfm, k))[pick] for k in ("frequency", "recency", "T")}
    horizon = np.where(np.arange(pick.size) < 6, short, long)
    counts = np.arange(9)[:, None]
    shared = model.conditional_probability_of_purchases(horizon, data, n=counts)
    assert shared.shape == (9, pick.size)
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
