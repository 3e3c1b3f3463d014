"""ModifiedBetaGeoFitter: lifetimes parity on CDNOW, recovery, numerics."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from funnelkit.clv import ModifiedBetaGeoFitter
from funnelkit.clv._data import rfm_fit_data
from funnelkit.datasets import load_cdnow
from funnelkit.datasets.btyd import simulate_mbgnbd
from funnelkit.rfm import RFM

lifetimes = pytest.importorskip("lifetimes")
NAMES = ("r", "alpha", "a", "b")


@pytest.fixture(scope="module")
def cdnow() -> pd.DataFrame:
    return load_cdnow()


@pytest.fixture(scope="module")
def fitted(cdnow: pd.DataFrame) -> ModifiedBetaGeoFitter:
    return ModifiedBetaGeoFitter().fit(cdnow, time_unit="W")


def _arrays(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return (
        frame["frequency"].to_numpy(float),
        frame["recency"].to_numpy(float),
        frame["T"].to_numpy(float),
    )


def test_parameters_and_likelihood_match_lifetimes(
    fitted: ModifiedBetaGeoFitter, cdnow: pd.DataFrame
) -> None:
    x, tx, T = _arrays(cdnow)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        oracle = lifetimes.ModifiedBetaGeoFitter().fit(x, tx, T)
    for name in NAMES:
        assert fitted.params_[name] == pytest.approx(oracle.params_[name], rel=1e-3)
        assert fitted.result_.params[name].std_error == pytest.approx(
            oracle.standard_errors_[name], rel=1e-3
        )
    # lifetimes' mean negative log-likelihood is on rescaled time (see test_beta_geo)
    theirs = -oracle._negative_log_likelihood_ * x.size + x.sum() * np.log(oracle._scale)
    assert fitted.log_likelihood_ == pytest.approx(theirs, rel=1e-6)


@pytest.mark.parametrize("t", [0.5, 10.0, 39.0, 200.0])
def test_predictions_match_lifetimes(
    fitted: ModifiedBetaGeoFitter, cdnow: pd.DataFrame, t: float
) -> None:
    theirs = lifetimes.ModifiedBetaGeoFitter()
    theirs.params_ = pd.Series([fitted.params_[k] for k in NAMES], index=list(NAMES))
    x, tx, T = _arrays(cdnow)
    np.testing.assert_allclose(
        fitted.expected_purchases(t),
        theirs.conditional_expected_number_of_purchases_up_to_time(t, x, tx, T),
        rtol=1e-8,
    )
    np.testing.assert_allclose(
        fitted.probability_alive(), theirs.conditional_probability_alive(x, tx, T), rtol=1e-8
    )
    np.testing.assert_allclose(
        fitted.expected_purchases_new_customer(t),
        theirs.expected_number_of_purchases_up_to_time(t),
        rtol=1e-8,
    )
    for n in range(0, 8):
        ours = float(fitted.probability_of_purchases(n, t))
        if ours > 1e-6:  # lifetimes' term-by-term tail sum cancels below that
            assert ours == pytest.approx(
                theirs.probability_of_n_purchases_up_to_time(t, n), rel=1e-8
            )


def test_probability_of_purchases_is_a_distribution(fitted: ModifiedBetaGeoFitter) -> None:
    n = np.arange(0, 400)
    for t in (1.0, 39.0, 104.0):
        pmf = fitted.probability_of_purchases(n, t)
        assert pmf.sum() == pytest.approx(1.0, abs=1e-10)
        assert np.dot(n, pmf) == pytest.approx(
            float(fitted.expected_purchases_new_customer(t)), rel=1e-8
        )


def test_customers_without_repeat_purchases_can_be_inactive(fitted: ModifiedBetaGeoFitter) -> None:
    # unlike BG/NBD, MBG/NBD lets a one-time buyer drop out right after the first purchase
    alive = fitted.probability_alive({"frequency": [0, 0], "recency": [0, 0], "T": [1.0, 50.0]})
    assert 0 < alive[1] < alive[0] < 1


def test_analytic_gradient_matches_finite_differences(cdnow: pd.DataFrame) -> None:
    model = ModifiedBetaGeoFitter()
    data = rfm_fit_data(cdnow, time_unit="W")
    params = np.array([0.5, 6.0, 0.9, 1.6])
    _, grad = model._weighted_log_likelihood(params, data)
    for i in range(4):
        h = 1e-6 * params[i]
        up, down = params.copy(), params.copy()
        up[i] += h
        down[i] -= h
        numeric = (
            model._log_likelihood(up, data) @ data.weights
            - model._log_likelihood(down, data) @ data.weights
        ) / (2 * h)
        assert grad[i] == pytest.approx(numeric, rel=1e-5, abs=1e-6)


def test_extreme_customers_stay_finite(fitted: ModifiedBetaGeoFitter) -> None:
    extreme = RFM.from_arrays(
        frequency=[5000.0, 5000.0, 0.0],
        recency=[38.5, 1.0, 0.0],
        T=[38.5, 38.5, 1e-6],
        time_unit="W",
    )
    values = fitted.expected_purchases(52.0, extreme)
    assert np.all(np.isfinite(values)) and values[0] > 1000 and values[1] < 1e-100


@pytest.mark.slow
def test_recovers_simulated_parameters() -> None:
    rng = np.random.default_rng(21)
    n = 20_000
    sim = simulate_mbgnbd(n, T=rng.uniform(20, 80, n), holdout=26.0, seed=rng)
    model = ModifiedBetaGeoFitter().fit(sim.rfm)
    for name, truth in sim.params.items():
        est = model.result_.params[name]
        assert est.std_error is not None
        assert abs(est.estimate - truth) < 4 * est.std_error, name
    assert model.expected_purchases(26.0).sum() == pytest.approx(
        sim.rfm.holdout_frequency.sum(), rel=0.05
    )
    assert model.probability_alive().mean() == pytest.approx(sim.alive.mean(), abs=0.02)
