"""ShiftedBetaGeoFitter: Fader & Hardie (2007) estimates, recovery, predictions, bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.special import betaln

from funnelkit.clv.shifted_beta_geo import ShiftedBetaGeoFitter
from funnelkit.datasets.spend import simulate_contract_lifetimes
from funnelkit.exceptions import DataError, FunnelkitError, NotFittedError

# Survivor counts of the two 1,000-customer cohorts in Fader & Hardie (2007), Table 1 / Fig. 1.
# In the paper the *regular* segment is the one that drops to 631 after a year and the
# *high end* segment the one that keeps 869; the paper fits the first seven years (eight
# counts including the 1,000) and reports regular alpha=0.704, beta=1.182 and high end
# alpha=0.668, beta=3.806 (three decimals), which is what we compare against.
REGULAR = [1000, 631, 468, 382, 326, 289, 262, 241, 223, 207, 194, 183, 173]
HIGH_END = [1000, 869, 743, 653, 593, 551, 517, 491, 468, 445, 427, 409, 394]


@pytest.mark.parametrize(
    ("survivors", "alpha", "beta"),
    [(REGULAR, 0.704, 1.182), (HIGH_END, 0.668, 3.806)],
    ids=["regular", "high-end"],
)
def test_paper_estimates(survivors: list[int], alpha: float, beta: float) -> None:
    model = ShiftedBetaGeoFitter().fit_survivors(survivors[:8], time_unit="year")
    assert model.params_["alpha"] == pytest.approx(alpha, abs=5e-4)
    assert model.params_["beta"] == pytest.approx(beta, abs=5e-4)
    assert model.result_.converged
    assert model.result_.n_customers == 1000
    # the likelihood the optimiser reports is the paper's: a direct evaluation agrees
    a, b = model.params_["alpha"], model.params_["beta"]
    counts = np.asarray(survivors[:8], dtype=float)
    t = np.arange(1, 8)
    direct = np.sum((counts[:-1] - counts[1:]) * (betaln(a + 1, b + t - 1) - betaln(a, b)))
    direct += counts[-1] * (betaln(a, b + 7) - betaln(a, b))
    assert model.result_.log_likelihood == pytest.approx(direct, rel=1e-12)


@pytest.mark.parametrize("survivors", [REGULAR, HIGH_END], ids=["regular", "high-end"])
def test_projection_of_years_8_to_12(survivors: list[int]) -> None:
    # The paper's point: fitted on 7 years, the sBG projects years 8-12 closely (their Fig. 3).
    model = ShiftedBetaGeoFitter().fit_survivors(survivors[:8])
    projected = 1000 * model.survival_function(np.arange(8, 13))
    actual = np.asarray(survivors[8:], dtype=float)
    assert np.max(np.abs(projected / actual - 1)) < 0.06
    # ... while a single churn rate (no heterogeneity) falls far below the actual counts
    geometric = 1000 * (survivors[7] / 1000) ** (np.arange(8, 13) / 7)
    assert np.all(geometric < projected)


def test_individual_rows_match_survivor_counts() -> None:
    counts = np.asarray(REGULAR[:8])
    lost = counts[:-1] - counts[1:]
    durations = np.concatenate([np.repeat(np.arange(1, 8), lost), np.full(counts[-1], 7)])
    churned = np.concatenate([np.ones(lost.sum(), bool), np.zeros(counts[-1], bool)])
    by_customer = ShiftedBetaGeoFitter().fit(durations=durations, churned=churned)
    by_cohort = ShiftedBetaGeoFitter().fit_survivors(counts)
    assert by_customer.params_ == pytest.approx(by_cohort.params_, rel=1e-7)
    frame = pd.DataFrame({"duration": durations, "churned": churned})
    assert ShiftedBetaGeoFitter().fit(frame).params_ == pytest.approx(by_cohort.params_, rel=1e-7)


@pytest.mark.slow
@pytest.mark.parametrize(("alpha", "beta", "seed"), [(0.7, 1.2, 0), (3.0, 8.0, 1)])
def test_recovers_simulated_parameters(alpha: float, beta: float, seed: int) -> None:
    rng = np.random.default_rng(seed)
    observed = rng.integers(1, 13, 30_000)  # staggered sign-ups: 1 to 12 periods observed
    sim = simulate_contract_lifetimes(
        30_000, alpha=alpha, beta=beta, observed_periods=observed, seed=rng
    )
    model = ShiftedBetaGeoFitter().fit(durations=sim.durations, churned=sim.churned)
    for name, truth in (("alpha", alpha), ("beta", beta)):
        est = model.result_.params[name]
        assert est.std_error is not None
        assert abs(est.estimate - truth) / est.std_error < 4.0
    # survivor counts of the uncensored cohort recover the same truth
    cohort = ShiftedBetaGeoFitter().fit_survivors(sim.survivors(8))
    for name, truth in (("alpha", alpha), ("beta", beta)):
        est = cohort.result_.params[name]
        assert est.std_error is not None
        assert abs(est.estimate - truth) / est.std_error < 4.0


@pytest.fixture(scope="module")
def regular() -> ShiftedBetaGeoFitter:
    return ShiftedBetaGeoFitter().fit_survivors(REGULAR[:8], time_unit="year")


def test_curves_are_consistent(regular: ShiftedBetaGeoFitter) -> None:
    t = np.arange(1, 30)
    s = regular.survival_function(np.arange(0, 30))
    assert s[0] == 1.0
    np.testing.assert_allclose(regular.churn_probability(t), s[:-1] - s[1:], rtol=1e-10)
    np.testing.assert_allclose(regular.retention_rate(t), s[1:] / s[:-1], rtol=1e-10)
    assert np.all(np.diff(regular.retention_rate(t)) > 0)  # heterogeneity: retention rises


def test_discounted_lifetimes_match_their_series(regular: ShiftedBetaGeoFitter) -> None:
    d = 0.1
    t = np.arange(0, 4000)
    series = np.sum(regular.survival_function(t) / (1 + d) ** t)
    assert regular.discounted_expected_lifetime(discount_rate=d) == pytest.approx(series)
    # DERL after n renewals: sum over k >= 1 of P(T > n + k | T > n) / (1 + d)^(k - 1)
    for n in (0, 3, 10):
        s = regular.survival_function(n + np.arange(1, 4000))
        expected = np.sum(s / regular.survival_function(n) / (1 + d) ** np.arange(0, 3999))
        got = regular.discounted_expected_residual_lifetime(n, discount_rate=d)
        assert float(got) == pytest.approx(expected, rel=1e-9)
    # a new customer's DEL is the first payment plus the discounted residual after it
    derl0 = float(regular.discounted_expected_residual_lifetime(0, discount_rate=d))
    assert regular.discounted_expected_lifetime(discount_rate=d) == pytest.approx(1 + derl0 / 1.1)


def test_discount_rate_in_another_unit(regular: ShiftedBetaGeoFitter) -> None:
    monthly = (1.1 ** (1 / 12)) - 1  # the same as 10% a year
    yearly = regular.discounted_expected_lifetime(discount_rate=0.1)
    assert regular.discounted_expected_lifetime(
        discount_rate=monthly, time_unit="month"
    ) == pytest.approx(yearly, rel=1e-12)
    unitless = ShiftedBetaGeoFitter().fit_survivors(REGULAR[:8])
    with pytest.raises(FunnelkitError, match="period length is unknown"):
        unitless.discounted_expected_lifetime(discount_rate=0.01, time_unit="month")
    with pytest.raises(FunnelkitError, match="positive"):
        regular.discounted_expected_lifetime(discount_rate=0.0)


def test_expected_lifetime() -> None:
    assert ShiftedBetaGeoFitter().fit_survivors(REGULAR[:8]).expected_lifetime() == np.inf
    rng = np.random.default_rng(7)
    sim = simulate_contract_lifetimes(5000, alpha=4.0, beta=6.0, observed_periods=40, seed=rng)
    model = ShiftedBetaGeoFitter().fit(durations=sim.durations, churned=sim.churned)
    a, b = model.params_["alpha"], model.params_["beta"]
    series = np.sum(model.survival_function(np.arange(0, 100_000)))
    assert model.expected_lifetime() == pytest.approx((a + b - 1) / (a - 1))
    assert model.expected_lifetime() == pytest.approx(series, rel=1e-6)


def test_json_round_trip(regular: ShiftedBetaGeoFitter) -> None:
    loaded = ShiftedBetaGeoFitter.from_json(regular.to_json())
    assert loaded.params_ == regular.params_
    assert loaded.time_unit_ == regular.time_unit_
    np.testing.assert_array_equal(
        loaded.survival_function(np.arange(20)), regular.survival_function(np.arange(20))
    )
    assert "sBG" in loaded._repr_html_()


def test_not_fitted() -> None:
    with pytest.raises(NotFittedError):
        ShiftedBetaGeoFitter().survival_function(3)


@pytest.mark.parametrize(
    ("durations", "churned", "match"),
    [
        ([1, 2, 3], ["yes", "no", "yes"], "churned must be boolean"),
        ([1, 2, 3], [1, 2, 0], r"1 customer\(s\) have a churned flag that is not True/False"),
        ([1, 2, 3], [True, None, False], r"1 customer\(s\) have a churned flag"),
        ([0, 2, -1], [True, False, True], r"2 customer\(s\) have a duration < 1 .*ids 0, 2\)"),
        ([1.5, 2, 3], [True, False, True], "fractional duration"),
        ([np.nan, 2, 3], [True, False, True], "non-finite duration"),
        ([], [], "empty"),
        ([1, 2], [True], "equal length"),
    ],
)
def test_bad_lifetimes_are_explained(durations: list, churned: list, match: str) -> None:
    with pytest.raises(DataError, match=match):
        ShiftedBetaGeoFitter().fit(durations=durations, churned=churned)


def test_bad_input_shows_customer_ids() -> None:
    frame = pd.DataFrame(
        {"customer_id": ["a", "b", "c"], "duration": [3, 0, 2], "churned": [True, False, True]}
    )
    with pytest.raises(DataError, match=r"'b'"):
        ShiftedBetaGeoFitter().fit(frame)


@pytest.mark.parametrize(
    ("survivors", "match"),
    [
        ([1000, 900, 950], "must not increase"),
        ([1000], "at least one later count"),
        ([0, 0, 0], "must be positive"),
        ([1000, 500.5], "whole numbers"),
    ],
)
def test_bad_survivor_counts(survivors: list, match: str) -> None:
    with pytest.raises(DataError, match=match):
        ShiftedBetaGeoFitter().fit_survivors(survivors)


def test_predictions_refuse_fractional_periods(regular: ShiftedBetaGeoFitter) -> None:
    with pytest.raises(FunnelkitError, match="whole periods"):
        regular.retention_rate(0)
    with pytest.raises(FunnelkitError, match="whole periods"):
        regular.survival_function(1.5)
