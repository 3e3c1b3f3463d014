"""P(alive ``at`` after the end of observation): one meaning across the purchase models."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import betaln, hyp2f1

from funnelkit.clv import (
    BetaGeoFitter,
    ModifiedBetaGeoFitter,
    ShiftedBetaGeoFitter,
)
from funnelkit.datasets.btyd import simulate_bgnbd
from funnelkit.exceptions import FunnelkitError

DATA = {
    "frequency": np.array([0.0, 1.0, 2.0, 7.0, 30.0, 4.0]),
    "recency": np.array([0.0, 3.0, 30.0, 50.0, 51.5, 10.0]),
    "T": np.array([5.0, 40.0, 52.0, 52.0, 52.0, 60.0]),
}


@pytest.fixture(scope="module")
def sim_rfm():  # type: ignore[no-untyped-def]
    return simulate_bgnbd(3000, T=52.0, seed=11).rfm


@pytest.mark.parametrize(("fitter", "k"), [(BetaGeoFitter, 0), (ModifiedBetaGeoFitter, 1)])
@pytest.mark.parametrize("at", [0.5, 10.0, 260.0])
def test_geometric_models_against_the_closed_form(fitter, k, at, sim_rfm) -> None:  # type: ignore[no-untyped-def]
    model = fitter().fit(sim_rfm)
    r, alpha, a, b = (model.params_[n] for n in ("r", "alpha", "a", "b"))
    x, T = DATA["frequency"], DATA["T"]
    # E_p[(1 + p at / (alpha + T))^-(r + x)] over p ~ Beta(a, b + x + k)
    later = hyp2f1(r + x, a, a + b + x + k, -at / (alpha + T))
    expected = model.probability_alive(DATA) * later
    np.testing.assert_allclose(model.probability_alive(DATA, at=at), expected, rtol=1e-10)


@pytest.mark.parametrize("fitter", [BetaGeoFitter, ModifiedBetaGeoFitter])
def test_at_zero_is_the_plain_call_and_later_is_less_likely(fitter, sim_rfm) -> None:  # type: ignore[no-untyped-def]
    model = fitter().fit(sim_rfm)
    now = model.probability_alive(DATA)
    np.testing.assert_array_equal(model.probability_alive(DATA, at=0.0), now)
    grid = model.probability_alive(DATA, at=np.array([[0.0], [1.0], [10.0], [100.0]]))
    assert grid.shape == (4, 6)
    np.testing.assert_array_equal(grid[0], now)
    assert np.all(np.diff(grid, axis=0) < 0)
    per_customer = model.probability_alive(DATA, at=np.arange(6.0))
    np.testing.assert_allclose(
        per_customer, np.diag(model.probability_alive(DATA, at=np.arange(6.0)[:, None]))
    )


def test_limit_model_common_dropout_probability(sim_rfm) -> None:  # type: ignore[no-untyped-def]
    model = BetaGeoFitter().fit(sim_rfm)
    model.params_ = {"r": 0.3, "alpha": 5.0, "p": 0.2}
    x, T = DATA["frequency"], DATA["T"]
    expected = model.probability_alive(DATA) * (1.0 + 0.2 * 8.0 / (5.0 + T)) ** -(0.3 + x)
    np.testing.assert_allclose(model.probability_alive(DATA, at=8.0), expected, rtol=1e-12)
    # no dropout: everybody stays alive
    model.params_ = {"r": 0.3, "alpha": 5.0}
    np.testing.assert_array_equal(model.probability_alive(DATA, at=8.0), 1.0)


def test_bgnbd_alive_later_averages_to_the_simulated_share() -> None:
    # E[P(alive at T + at | history at T)] = P(alive at T + at): the conditional
    # prediction at the true parameters, averaged over one simulated base, against the
    # share alive in another base observed `at` longer
    truth = {"r": 0.4, "alpha": 4.0, "a": 0.8, "b": 2.5}
    now = simulate_bgnbd(40_000, T=30.0, seed=21, **truth)
    later = simulate_bgnbd(40_000, T=50.0, seed=22, **truth)
    model = BetaGeoFitter().fit(now.rfm)
    model.params_ = dict(truth)
    predicted = float(model.probability_alive(now.rfm, at=20.0).mean())
    assert predicted == pytest.approx(float(later.alive.mean()), abs=0.01)
    assert predicted < float(model.probability_alive(now.rfm).mean()) - 0.02


def test_shapes_are_checked(sim_rfm) -> None:  # type: ignore[no-untyped-def]
    model = BetaGeoFitter().fit(sim_rfm)
    with pytest.raises(FunnelkitError, match="at has shape \\(4,\\) but there are 6 customers"):
        model.probability_alive(DATA, at=np.ones(4))
    with pytest.raises(FunnelkitError, match="at must be finite and >= 0"):
        model.probability_alive(DATA, at=-1.0)


def test_shifted_beta_geometric_survival_ratio() -> None:
    sbg = ShiftedBetaGeoFitter().fit_survivors([1000, 631, 468, 382, 326, 289, 262, 241])
    alpha, beta = sbg.params_["alpha"], sbg.params_["beta"]
    n = np.array([0.0, 1.0, 4.0, 10.0])
    got = sbg.probability_alive(n, at=3)
    np.testing.assert_allclose(
        got, np.exp(betaln(alpha, beta + n + 3) - betaln(alpha, beta + n)), rtol=1e-12
    )
    np.testing.assert_array_equal(sbg.probability_alive(n), 1.0)
    np.testing.assert_allclose(sbg.probability_alive(4, at=1), sbg.retention_rate(5), rtol=1e-12)
    with pytest.raises(FunnelkitError, match="at must be whole periods >= 0"):
        sbg.probability_alive(n, at=0.5)
    with pytest.raises(FunnelkitError, match="renewals has shape \\(4,\\) and at has shape"):
        sbg.probability_alive(n, at=[1, 2])


def test_a_column_of_zero_horizons_repeats_the_plain_call(sim_rfm) -> None:  # type: ignore[no-untyped-def]
    model = BetaGeoFitter().fit(sim_rfm)
    now = model.probability_alive(DATA)
    grid = model.probability_alive(DATA, at=np.zeros((2, 1)))
    assert grid.shape == (2, 6)
    np.testing.assert_array_equal(grid, np.vstack([now, now]))
    per_customer = model.probability_alive(DATA, at=np.zeros(6))
    np.testing.assert_array_equal(per_customer, now)
    assert not np.shares_memory(per_customer, model.probability_alive(DATA, at=0.0))
