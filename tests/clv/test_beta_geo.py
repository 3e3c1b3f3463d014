"""BetaGeoFitter: lifetimes parity on CDNOW, published estimates, recovery, numerics."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from funnelkit.clv import BetaGeoFitter
from funnelkit.clv._data import rfm_fit_data
from funnelkit.datasets import load_cdnow
from funnelkit.datasets.btyd import simulate_bgnbd
from funnelkit.rfm import RFM

lifetimes = pytest.importorskip("lifetimes")
NAMES = ("r", "alpha", "a", "b")


@pytest.fixture(scope="module")
def cdnow() -> pd.DataFrame:
    return load_cdnow()


@pytest.fixture(scope="module")
def fitted(cdnow: pd.DataFrame) -> BetaGeoFitter:
    return BetaGeoFitter().fit(cdnow, time_unit="W")


@pytest.fixture(scope="module")
def oracle(cdnow: pd.DataFrame) -> object:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return lifetimes.BetaGeoFitter().fit(
            cdnow["frequency"].to_numpy(), cdnow["recency"].to_numpy(), cdnow["T"].to_numpy()
        )


def _arrays(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return (
        frame["frequency"].to_numpy(float),
        frame["recency"].to_numpy(float),
        frame["T"].to_numpy(float),
    )


def test_published_cdnow_estimates(fitted: BetaGeoFitter) -> None:
    # Fader, Hardie & Lee (2005), section 5: r=0.243, alpha=4.414, a=0.793, b=2.426, LL=-9582.4
    published = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
    for name, value in published.items():
        assert fitted.params_[name] == pytest.approx(value, abs=5e-4)
    assert fitted.log_likelihood_ == pytest.approx(-9582.4, abs=0.05)
    assert fitted.result_.converged
    assert fitted.result_.n_customers == 2357
    assert fitted.time_unit_.value == "week"


def test_parameters_and_likelihood_match_lifetimes(
    fitted: BetaGeoFitter, oracle: object, cdnow: pd.DataFrame
) -> None:
    for name in NAMES:
        assert fitted.params_[name] == pytest.approx(oracle.params_[name], rel=1e-3)
    freq = cdnow["frequency"].to_numpy(float)
    # lifetimes reports the mean negative log-likelihood of time rescaled by _scale; the
    # Jacobian of that rescaling adds frequency * log(scale) per customer
    theirs = -oracle._negative_log_likelihood_ * freq.size + freq.sum() * np.log(oracle._scale)
    assert fitted.log_likelihood_ == pytest.approx(theirs, rel=1e-6)
    # and the two likelihood functions agree at equal parameters, on the original time scale
    x, tx, T = _arrays(cdnow)
    log_params = np.log([fitted.params_[k] for k in NAMES])
    direct = -lifetimes.BetaGeoFitter._negative_log_likelihood(
        log_params, x, tx, T, np.ones_like(x), 0.0
    )
    assert fitted.log_likelihood_ / freq.size == pytest.approx(direct, rel=1e-10)


def test_standard_errors_match_lifetimes(fitted: BetaGeoFitter, oracle: object) -> None:
    for name in NAMES:
        assert fitted.result_.params[name].std_error == pytest.approx(
            oracle.standard_errors_[name], rel=1e-3
        )


def _lifetimes_at(params: dict[str, float]) -> object:
    model = lifetimes.BetaGeoFitter()
    model.params_ = pd.Series([params[k] for k in NAMES], index=list(NAMES))
    return model


@pytest.mark.parametrize("t", [0.5, 1.0, 10.0, 39.0, 200.0])
def test_predictions_match_lifetimes(fitted: BetaGeoFitter, cdnow: pd.DataFrame, t: float) -> None:
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
    # lifetimes sums the negative-binomial tail term by term, which cancels catastrophically
    # once P(X(t) = n) is tiny; compare where its sum is still accurate
    for n in range(0, 8):
        ours = float(fitted.probability_of_purchases(n, t))
        if ours > 1e-6:
            assert ours == pytest.approx(
                theirs.probability_of_n_purchases_up_to_time(t, n), rel=1e-8
            )


def test_probability_of_purchases_is_a_distribution(fitted: BetaGeoFitter) -> None:
    n = np.arange(0, 400)
    for t in (1.0, 39.0, 104.0):
        pmf = fitted.probability_of_purchases(n, t)
        assert np.all(pmf >= 0)
        assert pmf.sum() == pytest.approx(1.0, abs=1e-10)
        assert np.dot(n, pmf) == pytest.approx(
            float(fitted.expected_purchases_new_customer(t)), rel=1e-8
        )


def test_analytic_gradient_matches_finite_differences(cdnow: pd.DataFrame) -> None:
    model = BetaGeoFitter()
    data = rfm_fit_data(cdnow, time_unit="W")
    for params in (np.array([0.3, 5.0, 0.9, 2.0]), np.array([2.0, 0.5, 3.0, 0.4])):
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


def test_extreme_customers_stay_finite(fitted: BetaGeoFitter) -> None:
    extreme = RFM.from_arrays(
        frequency=[5000.0, 5000.0, 3000.0, 0.0, 1.0],
        recency=[38.5, 1.0, 0.01, 0.0, 1e-6],
        T=[38.5, 38.5, 0.02, 1e-6, 2e-6],
        time_unit="W",
    )
    for t in (1e-6, 1.0, 52.0, 1e4):
        values = fitted.expected_purchases(t, extreme)
        assert np.all(np.isfinite(values)) and np.all(values >= 0)
    alive = fitted.probability_alive(extreme)
    assert np.all((alive >= 0) & (alive <= 1))
    # a frequent buyer who has been silent for a long time is almost surely gone
    assert alive[1] < 1e-100
    assert fitted.expected_purchases(52.0, extreme)[0] > 1000


def test_fit_with_extreme_customers_is_finite() -> None:
    rng = np.random.default_rng(11)
    sim = simulate_bgnbd(3000, T=rng.uniform(10, 60, 3000), seed=rng)
    freq = np.append(sim.rfm.frequency, [4000.0, 2500.0])
    rec = np.append(sim.rfm.recency, [59.0, 0.5])
    T = np.append(sim.rfm.T, [60.0, 60.0])
    model = BetaGeoFitter().fit({"frequency": freq, "recency": rec, "T": T})
    assert np.isfinite(model.log_likelihood_)
    assert all(np.isfinite(v) for v in model.params_.values())


def test_predictions_accept_frames_and_broadcast_horizons(
    fitted: BetaGeoFitter, cdnow: pd.DataFrame
) -> None:
    frame_pred = fitted.expected_purchases(10.0, cdnow)
    np.testing.assert_array_equal(frame_pred, fitted.expected_purchases(10.0))
    horizons = np.linspace(1, 50, len(cdnow))
    per_customer = fitted.expected_purchases(horizons)
    assert per_customer[5] == pytest.approx(float(fitted.expected_purchases(horizons[5])[5]))
    curve = fitted.expected_purchases_new_customer(np.array([1.0, 2.0, 3.0]))
    assert np.all(np.diff(curve) > 0)


def test_weights_equal_repeated_rows(cdnow: pd.DataFrame) -> None:
    small = cdnow.iloc[:300]
    counts = np.random.default_rng(3).integers(1, 4, len(small))
    weighted = BetaGeoFitter().fit(small, weights=counts, time_unit="W")
    expanded = BetaGeoFitter().fit(small.loc[small.index.repeat(counts)], time_unit="W")
    for name in NAMES:
        assert weighted.params_[name] == pytest.approx(expanded.params_[name], rel=1e-6)
    assert weighted.result_.n_customers == counts.sum()


@pytest.mark.slow
@pytest.mark.parametrize(
    ("params", "seed"),
    [
        ({"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}, 1),
        ({"r": 1.5, "alpha": 20.0, "a": 2.0, "b": 6.0}, 2),
    ],
)
def test_recovers_simulated_parameters(params: dict[str, float], seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 20_000
    sim = simulate_bgnbd(n, T=rng.uniform(20, 80, n), holdout=26.0, seed=rng, **params)
    model = BetaGeoFitter().fit(sim.rfm)
    for name, truth in params.items():
        est = model.result_.params[name]
        assert est.std_error is not None
        assert abs(est.estimate - truth) < 4 * est.std_error, name
        assert est.ci is not None and est.ci[0] < est.estimate < est.ci[1]
    # conditional predictions match what the simulated customers went on to do
    expected = model.expected_purchases(26.0)
    observed = sim.rfm.holdout_frequency
    assert expected.sum() == pytest.approx(observed.sum(), rel=0.05)
    assert model.probability_alive().mean() == pytest.approx(sim.alive.mean(), abs=0.02)
