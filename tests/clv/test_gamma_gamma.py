"""GammaGammaFitter: published CDNOW estimates, lifetimes parity, recovery and bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import polars as pl
import pytest

from funnelkit import RFM, EventLog
from funnelkit.clv.gamma_gamma import GammaGammaFitter, conditional_spend
from funnelkit.datasets import load_cdnow
from funnelkit.datasets.spend import simulate_spend
from funnelkit.exceptions import ConvergenceError, ConvergenceWarning, DataError, NotFittedError


@pytest.fixture(scope="module")
def cdnow() -> pd.DataFrame:
    return load_cdnow()


@pytest.fixture(scope="module")
def fitted(cdnow: pd.DataFrame) -> GammaGammaFitter:
    return GammaGammaFitter().fit(cdnow)


def test_published_cdnow_estimates(fitted: GammaGammaFitter) -> None:
    # Fader, Hardie & Lee (2005) and Hardie's note 025 report p=6.25, q=3.74, v=15.44 (2 dp).
    published = {"p": 6.25, "q": 3.74, "v": 15.44}
    for name, value in published.items():
        assert fitted.params_[name] == pytest.approx(value, abs=0.01)
    assert fitted.n_excluded_ == 1411
    assert fitted.result_.n_customers == 946


def test_lifetimes_parity(cdnow: pd.DataFrame, fitted: GammaGammaFitter) -> None:
    lifetimes = pytest.importorskip("lifetimes")
    repeat = cdnow[cdnow["frequency"] > 0]
    ref = lifetimes.GammaGammaFitter().fit(repeat["frequency"], repeat["monetary_value"])
    for name in ("p", "q", "v"):
        assert fitted.params_[name] == pytest.approx(ref.params_[name], rel=1e-3)
    # lifetimes minimises the mean negative log-likelihood over the repeat customers
    ref_ll = -ref._negative_log_likelihood_ * len(repeat)
    assert fitted.result_.log_likelihood == pytest.approx(ref_ll, rel=1e-6)
    # expected spend at identical parameters, over every customer (frequency 0 included)
    same = GammaGammaFitter().fit(cdnow)
    same.params_ = {k: float(ref.params_[k]) for k in ("p", "q", "v")}
    expected = ref.conditional_expected_average_profit(
        cdnow["frequency"], cdnow["monetary_value"]
    ).to_numpy()
    np.testing.assert_allclose(same.expected_spend(cdnow), expected, rtol=1e-8)
    # standard errors agree too (both from the observed information)
    for name in ("p", "q", "v"):
        se = fitted.result_.params[name].std_error
        assert se == pytest.approx(ref.standard_errors_[name], rel=1e-3)


def test_expected_spend_is_a_credibility_weighted_mean(fitted: GammaGammaFitter) -> None:
    p, q, v = (fitted.params_[k] for k in ("p", "q", "v"))
    population = p * v / (q - 1)
    assert fitted.population_mean_spend() == pytest.approx(population)
    spend = fitted.expected_spend({"frequency": [0, 1, 1000], "monetary_value": [0.0, 50, 50]})
    assert spend[0] == pytest.approx(population)
    assert population < spend[1] < spend[2] < 50
    assert spend[2] == pytest.approx(50, rel=1e-3)


def test_input_kinds_agree(cdnow: pd.DataFrame, fitted: GammaGammaFitter) -> None:
    mapping = {c: cdnow[c].to_numpy() for c in ("frequency", "monetary_value")}
    rfm = RFM.from_frame(cdnow, customer_col="customer_id", time_unit="W")
    for data in (pl.from_pandas(cdnow), mapping, rfm):
        other = GammaGammaFitter().fit(data)
        for name in ("p", "q", "v"):
            assert other.params_[name] == pytest.approx(fitted.params_[name], rel=1e-9)


def test_fits_an_rfm_built_from_an_event_log() -> None:
    rng = np.random.default_rng(11)
    n = 400
    frame = pd.DataFrame(
        {
            "customer_id": rng.integers(0, 80, n),
            "timestamp": pd.Timestamp("2024-01-01")
            + pd.to_timedelta(rng.integers(0, 300, n), unit="D"),
            "value": rng.gamma(5.0, 6.0, n),
        }
    )
    rfm = EventLog.from_frame(frame, value_col="value").rfm(time_unit="W")
    model = GammaGammaFitter().fit(rfm)
    assert model.n_excluded_ == int(np.sum(rfm.frequency == 0))
    assert model.expected_spend(rfm).shape == (len(rfm),)


def test_weights_equal_repeated_rows() -> None:
    freq = np.array([1.0, 2.0, 3.0, 5.0, 1.0, 4.0])
    money = np.array([20.0, 35.0, 12.0, 28.0, 50.0, 18.0])
    counts = np.array([3, 1, 2, 4, 1, 2])
    weighted = GammaGammaFitter().fit({"frequency": freq, "monetary_value": money}, weights=counts)
    expanded = GammaGammaFitter().fit(
        {"frequency": np.repeat(freq, counts), "monetary_value": np.repeat(money, counts)}
    )
    # these spends vary no more than within-customer noise explains: both reach the limit
    assert weighted.result_.boundary == expanded.result_.boundary == ["common spend rate"]
    assert set(weighted.params_) == set(expanded.params_) == {"p", "nu"}
    for name in weighted.params_:
        assert weighted.params_[name] == pytest.approx(expanded.params_[name], rel=1e-6)


@pytest.mark.parametrize("q", [1e6, 1e9, 1e12, 1e14])
def test_log_likelihood_keeps_its_digits_next_to_the_limit(q: float) -> None:
    # q, v -> inf with q / v = nu is the common-rate limit: the full log-likelihood tends
    # to the limit's (the gap is O(1/q)). Summed as lnG(px + q) - lnG(q) it lost ~0.1 at
    # q = 1e12, by an amount that depended on the machine's floating-point functions, and
    # the full model then looked better than its limit.
    freq = np.array([1.0, 2.0, 3.0, 5.0, 1.0, 4.0])
    money = np.array([20.0, 35.0, 12.0, 28.0, 50.0, 18.0])
    counts = np.array([3.0, 1.0, 2.0, 4.0, 1.0, 2.0])
    model = GammaGammaFitter()
    data = model._fit_data({"frequency": freq, "monetary_value": money}, weights=counts)
    p, nu = 2.9, 0.12
    full, grad = model._weighted_log_likelihood(np.array([p, q, q / nu]), data)
    limit = float(data.weights @ model._limit_log_likelihood({"p": p, "nu": nu}, data))
    assert full == pytest.approx(limit, abs=1e-9 + 1e2 / q)
    assert grad is not None and np.all(np.isfinite(grad))
    # the per-row form (fits with covariates, a bootstrap's first step) keeps them too
    rows = float(data.weights @ model._log_likelihood(np.array([p, q, q / nu]), data))
    assert rows == pytest.approx(limit, abs=1e-9 + 1e2 / q)


@pytest.mark.slow
@pytest.mark.parametrize(("p", "q", "v", "seed"), [(6.0, 4.0, 15.0, 1), (2.0, 8.0, 300.0, 2)])
def test_recovers_simulated_parameters(p: float, q: float, v: float, seed: int) -> None:
    rng = np.random.default_rng(seed)
    frequency = rng.poisson(2.0, 20_000)
    sim = simulate_spend(frequency, p=p, q=q, v=v, seed=rng)
    model = GammaGammaFitter().fit(sim.to_frame())
    assert model.n_excluded_ == int(np.sum(frequency == 0))
    truth = {"p": p, "q": q, "v": v}
    for name, estimate in model.result_.params.items():
        assert estimate.std_error is not None
        z = (estimate.estimate - truth[name]) / estimate.std_error
        assert abs(z) < 4.0, (name, estimate, truth[name])
    # the conditional expectation tracks each customer's true mean spend p / nu
    repeat = frequency > 0
    true_mean = p / sim.spend_rate[repeat]
    shrunk = model.expected_spend(sim.to_frame())[repeat]
    raw = sim.monetary_value[repeat]
    assert np.mean((shrunk - true_mean) ** 2) < np.mean((raw - true_mean) ** 2)


def test_json_round_trip_predicts_identically(
    cdnow: pd.DataFrame, fitted: GammaGammaFitter
) -> None:
    loaded = GammaGammaFitter.from_json(fitted.to_json())
    assert loaded.params_ == fitted.params_
    assert loaded.n_excluded_ == fitted.n_excluded_
    np.testing.assert_array_equal(loaded.expected_spend(cdnow), fitted.expected_spend(cdnow))
    with pytest.raises(Exception, match="training data"):
        loaded.expected_spend()
    assert "Gamma-Gamma" in fitted._repr_html_()


def test_not_fitted_and_settings() -> None:
    model = GammaGammaFitter()
    with pytest.raises(NotFittedError):
        model.expected_spend({"frequency": [1], "monetary_value": [1.0]})
    with pytest.raises(NotFittedError):
        _ = model.params_
    with pytest.raises(
        ValueError,
        match=r"The 'penalizer' parameter of GammaGammaFitter must be >= 0. Got -1 instead.",
    ):
        GammaGammaFitter(penalizer=-1).fit({"frequency": [1, 2], "monetary_value": [3.0, 4.0]})
    assert GammaGammaFitter(penalizer=0.1).get_params()["penalizer"] == 0.1


def test_fit_returns_self_and_uses_training_data(cdnow: pd.DataFrame) -> None:
    model = GammaGammaFitter()
    assert model.fit(cdnow) is model
    assert model.expected_spend().shape == (946,)


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (
            {"frequency": [1, 2, 3], "monetary_value": [10.0, np.nan, 5.0]},
            r"1 customer\(s\).*non-finite monetary_value.*ids 1\)",
        ),
        (
            {"frequency": [1, 2, 3], "monetary_value": [10.0, -4.0, -5.0]},
            r"2 customer\(s\).*monetary_value <= 0.*ids 1, 2\)",
        ),
        ({"frequency": [0, 0], "monetary_value": [0.0, 0.0]}, "No repeat customers"),
        ({"frequency": [], "monetary_value": []}, "empty"),
        ({"frequency": [1, -1], "monetary_value": [2.0, 3.0]}, "negative or fractional frequency"),
        ({"frequency": [1, 2]}, "missing"),
    ],
)
def test_bad_input_is_explained(data: dict, match: str) -> None:
    with pytest.raises(DataError, match=match):
        GammaGammaFitter().fit(data)


def test_rfm_without_spend_is_refused() -> None:
    rfm = RFM.from_arrays(frequency=[1, 2], recency=[1.0, 2.0], T=[3.0, 3.0])
    with pytest.raises(DataError, match="no monetary_value"):
        GammaGammaFitter().fit(rfm)


def test_frequency_zero_spend_is_ignored() -> None:
    # an RFM stores 0 (or NaN) spend for one-time buyers; neither may break the fit
    sim = simulate_spend(np.full(300, 2.0), p=6.0, q=4.0, v=15.0, seed=3)
    data = {
        "frequency": np.concatenate([[0.0, 0.0], sim.frequency]),
        "monetary_value": np.concatenate([[np.nan, 0.0], sim.monetary_value]),
    }
    model = GammaGammaFitter().fit(data)
    reference = GammaGammaFitter().fit(sim.to_frame())
    assert model.n_excluded_ == 2
    assert model.result_.n_customers == 300
    assert model.params_ == pytest.approx(reference.params_, rel=1e-12)


def test_heavy_tailed_spend_warns_and_refuses_to_predict() -> None:
    # q < 1: the scale distribution has no mean, so neither has spend
    rng = np.random.default_rng(5)
    sim = simulate_spend(rng.poisson(3.0, 4000) + 1, p=3.0, q=0.6, v=10.0, seed=rng)
    with pytest.warns(ConvergenceWarning, match="q = .* <= 1"):
        model = GammaGammaFitter().fit(sim.to_frame())
    assert model.params_["q"] <= 1
    with pytest.raises(ConvergenceError, match="Things to try"):
        model.expected_spend(sim.to_frame())


def test_zero_spend_repeaters_can_be_scored_but_not_fitted(fitted: GammaGammaFitter) -> None:
    data = {"frequency": [2, 3], "monetary_value": [0.0, 10.0]}
    spend = fitted.expected_spend(data)
    p, q = fitted.params_["p"], fitted.params_["q"]
    weight = 2 * p / (2 * p + q - 1)
    assert spend[0] == pytest.approx((1 - weight) * fitted.population_mean_spend())
    with pytest.raises(DataError, match=r"monetary_value <= 0 \(e.g. customer ids 0\)"):
        GammaGammaFitter().fit(data)
    with pytest.raises(DataError, match="monetary_value < 0"):
        fitted.expected_spend({"frequency": [2], "monetary_value": [-1.0]})


def test_conditional_spend_is_expected_spend_without_the_checks() -> None:
    rng = np.random.default_rng(4)
    freq = rng.integers(0, 6, 300).astype(float)
    money = np.where(freq > 0, rng.gamma(2.0, 20.0, 300), 0.0)
    model = GammaGammaFitter().fit({"frequency": freq, "monetary_value": money})
    expected = model.expected_spend({"frequency": freq, "monetary_value": money})
    assert np.array_equal(conditional_spend(model.params_, freq, money), expected)
    with pytest.raises(ConvergenceError, match=r"q = 0\.5 of GammaGammaFitter is <= 1"):
        conditional_spend({"p": 2.0, "q": 0.5, "v": 3.0}, freq, money)
    common = conditional_spend({"p": 2.0, "nu": 0.1}, freq, money)
    assert np.array_equal(common, np.full(300, 20.0))
