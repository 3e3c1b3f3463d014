"""BetaGeoBetaBinomFitter: donations data (published + lifetimes), recovery, data checks."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from funnelkit.clv import BetaGeoBetaBinomFitter
from funnelkit.clv._data import rfm_fit_data
from funnelkit.datasets.btyd import load_donations, simulate_bgbb
from funnelkit.exceptions import DataError

lifetimes = pytest.importorskip("lifetimes")
NAMES = ("alpha", "beta", "gamma", "delta")


@pytest.fixture(scope="module")
def donations() -> pd.DataFrame:
    return load_donations()


@pytest.fixture(scope="module")
def fitted(donations: pd.DataFrame) -> BetaGeoBetaBinomFitter:
    return BetaGeoBetaBinomFitter().fit(donations, weights="weights", time_unit="Y")


def _arrays(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return (
        frame["frequency"].to_numpy(float),
        frame["recency"].to_numpy(float),
        frame["T"].to_numpy(float),
    )


def test_published_donation_estimates(fitted: BetaGeoBetaBinomFitter) -> None:
    # Fader, Hardie & Shang (2010), Table 2: 1.204, 0.750, 0.657, 2.783, LL = -33,225.6
    published = {"alpha": 1.204, "beta": 0.750, "gamma": 0.657, "delta": 2.783}
    for name, value in published.items():
        assert fitted.params_[name] == pytest.approx(value, abs=5e-4)
    assert fitted.log_likelihood_ == pytest.approx(-33225.6, abs=0.05)
    assert fitted.result_.n_customers == 11104
    assert fitted.result_.n_unique_rows == 22


def test_matches_lifetimes(fitted: BetaGeoBetaBinomFitter, donations: pd.DataFrame) -> None:
    x, tx, n = _arrays(donations)
    w = donations["weights"].to_numpy(float)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        oracle = lifetimes.BetaGeoBetaBinomFitter().fit(x, tx, n, weights=w)
    for name in NAMES:
        assert fitted.params_[name] == pytest.approx(oracle.params_[name], rel=1e-3)
    # no time rescaling in lifetimes' BG/BB: its mean negative log-likelihood converts directly
    assert fitted.log_likelihood_ == pytest.approx(
        -oracle._negative_log_likelihood_ * w.sum(), rel=1e-6
    )
    theirs = lifetimes.BetaGeoBetaBinomFitter()
    theirs.params_ = pd.Series([fitted.params_[k] for k in NAMES], index=list(NAMES))
    for t in (1, 5, 10):
        np.testing.assert_allclose(
            fitted.expected_purchases(t),
            theirs.conditional_expected_number_of_purchases_up_to_time(t, x, tx, n),
            rtol=1e-8,
        )
        np.testing.assert_allclose(
            fitted.probability_alive(at=t),
            theirs.conditional_probability_alive(t, x, tx, n),
            rtol=1e-8,
        )
    theirs.data = pd.DataFrame({"frequency": x, "weights": w})
    table = theirs.expected_number_of_transactions_in_first_n_periods(6)
    np.testing.assert_allclose(
        fitted.probability_of_purchases(table.index.to_numpy(), 6) * w.sum(),
        table["model"].to_numpy(),
        rtol=1e-8,
    )


def test_new_customer_expectation_is_the_mean_of_the_distribution(
    fitted: BetaGeoBetaBinomFitter,
) -> None:
    for periods in (1, 6, 20):
        k = np.arange(periods + 1)
        pmf = fitted.probability_of_purchases(k, periods)
        assert pmf.sum() == pytest.approx(1.0, abs=1e-12)
        assert np.dot(k, pmf) == pytest.approx(
            float(fitted.expected_purchases_new_customer(periods)), rel=1e-10
        )


def test_gamma_equal_to_one_uses_the_limit(fitted: BetaGeoBetaBinomFitter) -> None:
    # the closed form divides by gamma - 1; at gamma = 1 the limit takes over continuously
    near = BetaGeoBetaBinomFitter.from_json(fitted.to_json())
    exact = BetaGeoBetaBinomFitter.from_json(fitted.to_json())
    near.params_ = {**fitted.params_, "gamma": 1.0 + 1e-7}
    exact.params_ = {**fitted.params_, "gamma": 1.0}
    assert float(exact.expected_purchases_new_customer(6)) == pytest.approx(
        float(near.expected_purchases_new_customer(6)), rel=1e-6
    )


def test_analytic_gradient_matches_finite_differences(donations: pd.DataFrame) -> None:
    model = BetaGeoBetaBinomFitter()
    data = rfm_fit_data(donations, weights="weights", time_unit="Y")
    p = np.array([1.2, 0.75, 0.66, 2.8])
    _, grad = model._weighted_log_likelihood(p, data)
    for i in range(4):
        h = 1e-6 * p[i]
        up, down = p.copy(), p.copy()
        up[i] += h
        down[i] -= h
        numeric = (
            model._log_likelihood(up, data) @ data.weights
            - model._log_likelihood(down, data) @ data.weights
        ) / (2 * h)
        assert grad[i] == pytest.approx(numeric, rel=1e-5)


@pytest.mark.parametrize(
    ("frequency", "recency", "T"),
    [([1.0], [0.5], [6.0]), ([3.0], [2.0], [6.0]), ([1.0], [1.0], [5.5])],
    ids=["fractional-recency", "frequency-above-recency", "fractional-periods"],
)
def test_rejects_non_discrete_data(
    frequency: list[float], recency: list[float], T: list[float]
) -> None:
    with pytest.raises(DataError, match="BG/BB"):
        BetaGeoBetaBinomFitter().fit({"frequency": frequency, "recency": recency, "T": T})


@pytest.mark.slow
def test_recovers_simulated_parameters() -> None:
    sim = simulate_bgbb(20_000, n_periods=8, holdout=4, seed=41)
    model = BetaGeoBetaBinomFitter().fit(sim.rfm)
    for name, truth in sim.params.items():
        est = model.result_.params[name]
        assert est.std_error is not None
        assert abs(est.estimate - truth) < 4 * est.std_error, name
    assert model.expected_purchases(4).sum() == pytest.approx(
        sim.rfm.holdout_frequency.sum(), rel=0.05
    )
    assert model.probability_alive().mean() == pytest.approx(sim.alive.mean(), abs=0.02)
