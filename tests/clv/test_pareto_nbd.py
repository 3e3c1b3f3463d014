"""ParetoNBDFitter: lifetimes parity, published estimates, high frequencies, recovery."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from funnelkit.clv import ParetoNBDFitter
from funnelkit.clv._data import rfm_fit_data
from funnelkit.datasets import load_cdnow
from funnelkit.datasets.btyd import simulate_pareto_nbd
from funnelkit.rfm import RFM

lifetimes = pytest.importorskip("lifetimes")
NAMES = ("r", "alpha", "s", "beta")


@pytest.fixture(scope="module")
def cdnow() -> pd.DataFrame:
    return load_cdnow()


@pytest.fixture(scope="module")
def fitted(cdnow: pd.DataFrame) -> ParetoNBDFitter:
    return ParetoNBDFitter().fit(cdnow, time_unit="W")


def _arrays(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return (
        frame["frequency"].to_numpy(float),
        frame["recency"].to_numpy(float),
        frame["T"].to_numpy(float),
    )


def _lifetimes_at(params: dict[str, float]) -> object:
    model = lifetimes.ParetoNBDFitter()
    model.params_ = pd.Series([params[k] for k in NAMES], index=list(NAMES))
    return model


def test_published_cdnow_estimates(fitted: ParetoNBDFitter) -> None:
    # Fader, Hardie & Lee (2005, "Counting your customers the easy way"), Pareto/NBD column
    published = {"r": 0.553, "alpha": 10.578, "s": 0.606, "beta": 11.669}
    for name, value in published.items():
        assert fitted.params_[name] == pytest.approx(value, rel=2e-3)
    assert fitted.log_likelihood_ == pytest.approx(-9595.0, abs=0.05)
    assert fitted.result_.converged


def test_parameters_and_likelihood_match_lifetimes(
    fitted: ParetoNBDFitter, cdnow: pd.DataFrame
) -> None:
    x, tx, T = _arrays(cdnow)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        oracle = lifetimes.ParetoNBDFitter().fit(x, tx, T)
    for name in NAMES:
        # lifetimes stops Nelder-Mead at tol=1e-4, hence the looser agreement
        assert fitted.params_[name] == pytest.approx(oracle.params_[name], rel=1e-3)
    # lifetimes reports the total negative log-likelihood on time rescaled by _scale
    theirs = -oracle._negative_log_likelihood_ + x.sum() * np.log(oracle._scale)
    assert fitted.log_likelihood_ == pytest.approx(theirs, rel=1e-6)
    params = np.array([fitted.params_[k] for k in NAMES])
    direct = lifetimes.ParetoNBDFitter._conditional_log_likelihood(params, x, tx, T).sum()
    assert fitted.log_likelihood_ == pytest.approx(direct, rel=1e-10)


@pytest.mark.parametrize("t", [0.5, 10.0, 39.0, 200.0])
def test_predictions_match_lifetimes(
    fitted: ParetoNBDFitter, cdnow: pd.DataFrame, t: float
) -> None:
    theirs = _lifetimes_at(fitted.params_)
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


@pytest.mark.parametrize("swap", [False, True], ids=["alpha<beta", "alpha>beta"])
def test_likelihood_matches_lifetimes_on_both_branches(cdnow: pd.DataFrame, swap: bool) -> None:
    params = np.array([0.553, 10.578, 0.606, 11.669])
    if swap:
        params = params[[0, 3, 2, 1]]
    data = rfm_fit_data(cdnow, time_unit="W")
    ours = ParetoNBDFitter()._log_likelihood(params, data)
    theirs = lifetimes.ParetoNBDFitter._conditional_log_likelihood(
        params, data["frequency"], data["recency"], data["T"]
    )
    np.testing.assert_allclose(ours, theirs, rtol=1e-12)


@pytest.mark.parametrize(
    "params",
    [
        [0.55, 10.6, 0.6, 11.7],
        [0.55, 11.7, 0.6, 10.6],
        [2.0, 1.0, 0.5, 100.0],
        [0.3, 80.0, 3.0, 2.0],
    ],
)
def test_analytic_gradient_matches_finite_differences(
    cdnow: pd.DataFrame, params: list[float]
) -> None:
    model = ParetoNBDFitter()
    data = rfm_fit_data(cdnow, time_unit="W")
    p = np.asarray(params)
    total, grad = model._weighted_log_likelihood(p, data)
    assert total == pytest.approx(model._log_likelihood(p, data) @ data.weights, rel=1e-12)
    for i in range(4):
        h = 1e-6 * p[i]
        up, down = p.copy(), p.copy()
        up[i] += h
        down[i] -= h
        numeric = (
            model._log_likelihood(up, data) @ data.weights
            - model._log_likelihood(down, data) @ data.weights
        ) / (2 * h)
        assert grad[i] == pytest.approx(numeric, rel=1e-5, abs=1e-4)


def test_thousands_of_purchases_stay_finite(fitted: ParetoNBDFitter) -> None:
    extreme = RFM.from_arrays(
        frequency=[5000.0, 5000.0, 5000.0, 2000.0, 0.0],
        recency=[38.86, 30.0, 0.5, 0.01, 0.0],
        T=[38.86, 38.86, 38.86, 0.02, 1e-6],
        time_unit="W",
    )
    data = rfm_fit_data(extreme)
    for params in (
        np.array([0.553, 10.578, 0.606, 11.669]),
        np.array([0.553, 11.669, 0.606, 10.578]),
    ):
        ll = ParetoNBDFitter()._log_likelihood(params, data)
        assert np.all(np.isfinite(ll))
        _, grad = ParetoNBDFitter()._weighted_log_likelihood(params, data)
        assert np.all(np.isfinite(grad))
    alive = fitted.probability_alive(extreme)
    assert np.all(np.isfinite(alive)) and np.all((alive >= 0) & (alive <= 1))
    # buying right up to the end keeps a frequent customer alive; weeks of silence do not
    assert alive[0] == 1.0 and alive[2] < 1e-100
    assert np.all(np.isfinite(fitted.expected_purchases(52.0, extreme)))


def test_fit_with_a_very_frequent_customer() -> None:
    rng = np.random.default_rng(7)
    sim = simulate_pareto_nbd(3000, T=rng.uniform(20, 60, 3000), seed=rng)
    data = {
        "frequency": np.append(sim.rfm.frequency, 5000.0),
        "recency": np.append(sim.rfm.recency, 59.0),
        "T": np.append(sim.rfm.T, 60.0),
    }
    model = ParetoNBDFitter().fit(data, time_unit="W")
    assert np.isfinite(model.log_likelihood_)
    assert all(np.isfinite(v) for v in model.params_.values())


def test_probability_alive_in_the_future(fitted: ParetoNBDFitter) -> None:
    now = fitted.probability_alive()
    later = fitted.probability_alive(at=10.0)
    assert np.all(later < now)
    np.testing.assert_allclose(fitted.probability_alive(at=0.0), now)
    s, beta = fitted.params_["s"], fitted.params_["beta"]
    T = fitted.training_data_["T"]
    np.testing.assert_allclose(later / now, (1 + 10.0 / (beta + T)) ** -s, rtol=1e-12)


def test_probability_of_purchases_against_simulation(fitted: ParetoNBDFitter) -> None:
    t = 39.0
    pmf = fitted.probability_of_purchases(np.arange(0, 200), t)
    assert pmf.sum() == pytest.approx(1.0, abs=1e-9)
    assert np.dot(np.arange(0, 200), pmf) == pytest.approx(
        float(fitted.expected_purchases_new_customer(t)), rel=1e-7
    )
    p = fitted.params_
    sim = simulate_pareto_nbd(
        200_000, T=t, r=p["r"], alpha=p["alpha"], s=p["s"], beta=p["beta"], seed=5
    )
    observed = np.bincount(sim.rfm.frequency.astype(int), minlength=4)[:4] / 200_000
    np.testing.assert_allclose(observed, pmf[:4], atol=4e-3)


@pytest.mark.slow
def test_recovers_simulated_parameters() -> None:
    rng = np.random.default_rng(31)
    n = 20_000
    sim = simulate_pareto_nbd(n, T=rng.uniform(20, 80, n), holdout=26.0, seed=rng)
    model = ParetoNBDFitter().fit(sim.rfm)
    for name, truth in sim.params.items():
        est = model.result_.params[name]
        assert est.std_error is not None
        assert abs(est.estimate - truth) < 4 * est.std_error, name
    assert model.expected_purchases(26.0).sum() == pytest.approx(
        sim.rfm.holdout_frequency.sum(), rel=0.05
    )
    assert model.probability_alive().mean() == pytest.approx(sim.alive.mean(), abs=0.02)
