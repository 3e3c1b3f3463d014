"""Covariates on conversion: the cure model with a logistic share and an accelerated delay."""

from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pytest
from scipy import special

from funnelkit import ConversionFitter, DataError, FunnelkitError, NotFittedError
from funnelkit.conversion.covariate_fit import covariate_family
from funnelkit.conversion.cure_covariates import (
    CovariateCureData,
    _parts,
    fit_covariate_cure,
)
from funnelkit.conversion.delay import FAMILIES
from funnelkit.datasets import simulate_covariate_conversion
from funnelkit.journeys import Journeys

NAMES = ["channel", "member", "noise"]


@pytest.fixture(scope="module")
def sim():  # type: ignore[no-untyped-def]
    return simulate_covariate_conversion(6000, seed=3)


@pytest.fixture(scope="module")
def fitted(sim):  # type: ignore[no-untyped-def]
    return ConversionFitter().fit(sim.journeys, covariates=NAMES)


@pytest.mark.parametrize("family", ["exponential", "weibull", "lognormal"])
def test_the_analytic_gradient_matches_central_differences(family: str) -> None:
    rng = np.random.default_rng(0)
    n = 300
    z = np.column_stack([rng.integers(0, 2, n), rng.standard_normal(n)]).astype(float)
    t = rng.exponential(5.0, n)
    t[:5] = 0.0  # conversions and waiting at duration 0 take the interval-censored branch
    converted = rng.random(n) < 0.4
    data = CovariateCureData.from_durations(t, converted, z)
    k = 2
    x = np.array([0.2, 0.5, -0.3, 1.4, 0.3, -0.2, 0.1][: 2 + 2 * k + (family != "exponential")])
    _, grad = _parts(x, data, data.z, FAMILIES[family])
    numeric = np.array(
        [
            (
                _parts(x + e, data, data.z, FAMILIES[family])[0]
                - _parts(x - e, data, data.z, FAMILIES[family])[0]
            )
            / 2e-6
            for e in np.eye(x.size) * 1e-6
        ]
    )
    np.testing.assert_allclose(grad, numeric, rtol=1e-5, atol=1e-5)


def test_coefficients_recover_the_simulated_effects(sim, fitted) -> None:  # type: ignore[no-untyped-def]
    table = fitted.coefficients_
    assert list(table.columns) == [
        "transition",
        "part",
        "covariate",
        "estimate",
        "std_error",
        "lower",
        "upper",
    ]
    assert table["part"].tolist() == ["share"] * 5 + ["time"] * 6
    assert fitted.summary(coefficients=True).equals(table)
    for row in table.itertuples():
        truth = sim.truth[row.transition, row.part, row.covariate]
        # within four standard errors of the truth, and a standard error that means something
        assert abs(row.estimate - truth) < 4 * row.std_error, row
        assert 0 < row.std_error < 0.2
        assert row.lower < row.estimate < row.upper


def test_the_reference_level_is_named_and_the_terms_follow_the_encoding(fitted) -> None:  # type: ignore[no-untyped-def]
    enc = fitted.covariates_.encoding
    assert enc.column("channel").reference == "email"
    assert enc.terms == ("channel[search]", "channel[social]", "member", "noise")
    assert "channel=email" in fitted._repr_html_()
    assert "channel[social]" in fitted.result_.as_text()
    assert "(reference levels: channel=email)" in fitted.result_.as_text()


def test_the_likelihood_ratio_test_rejects_the_plain_model(fitted) -> None:  # type: ignore[no-untyped-def]
    fit = fitted.covariates_.transition("visitor", "buyer")
    assert fit.converged and fit.message == "converged"
    assert fit.lr_statistic > 100
    assert fit.lr_p_value < 1e-10


def test_a_zero_effect_covariate_leaves_the_plain_estimates(sim) -> None:  # type: ignore[no-untyped-def]
    plain = ConversionFitter(model="weibull").fit(sim.journeys)
    with_noise = ConversionFitter(model="weibull").fit(sim.journeys, covariates="noise")
    table = with_noise.coefficients_.set_index(["part", "covariate"])
    for part in ("share", "time"):
        row = table.loc[(part, "noise")]
        assert abs(row["estimate"]) < 3 * row["std_error"]
    est = plain.estimate("visitor", "buyer")
    share = special.expit(table.loc[("share", "(intercept)"), "estimate"])
    assert share == pytest.approx(est.eventual_rate, abs=0.01)
    scale = math.exp(table.loc[("time", "(intercept)"), "estimate"])
    assert scale == pytest.approx(est.cure_fit.delay_parameters["scale"], rel=0.02)
    # the plain estimates themselves do not change with covariates
    assert with_noise.estimate("visitor", "buyer") == est


def test_predictions_per_profile_follow_the_coefficients(fitted) -> None:  # type: ignore[no-untyped-def]
    table = fitted.predict_conversion(
        "visitor",
        "buyer",
        {"channel": ["email", "social"], "member": [0, 1], "noise": [0.0, 0.0]},
        horizon=30.0,
    )
    coef = fitted.coefficients_.set_index(["part", "covariate"])["estimate"]
    base = special.expit(coef["share", "(intercept)"])
    social_member = special.expit(
        coef["share", "(intercept)"] + coef["share", "channel[social]"] + coef["share", "member"]
    )
    np.testing.assert_allclose(table["eventual_share"], [base, social_member], rtol=1e-12)
    assert (table["lower"] < table["eventual_share"]).all()
    assert (table["eventual_share"] < table["upper"]).all()
    assert (table["conversion_by"] < table["eventual_share"]).all()
    assert (table["conversion_by_lower"] < table["conversion_by"]).all()
    # the median among converters: the Weibull median of the profile's scale
    assert fitted.covariates_.transition("visitor", "buyer").distribution == "weibull"
    shape = math.exp(-coef["time", "(log s)"])
    scale = math.exp(
        coef["time", "(intercept)"] + coef["time", "channel[social]"] + coef["time", "member"]
    )
    assert table["median_time"][1] == pytest.approx(scale * math.log(2.0) ** (1 / shape))
    assert table["median_time_lower"][1] < table["median_time"][1] < table["median_time_upper"][1]


def test_the_adjusted_comparison_standardises_over_the_other_covariates(sim, fitted) -> None:  # type: ignore[no-untyped-def]
    table = fitted.adjusted_comparison()
    channel = table[table["covariate"] == "channel"]
    assert channel["level"].tolist() == ["email", "search", "social"]
    assert channel["n_entered"].sum() == 6000
    # the true standardised share of each channel, averaged over the prospects' covariates
    z = np.column_stack([sim.covariates["member"], sim.covariates["noise"]]).astype(float)
    truth = sim.truth
    for level, row in zip(["email", "search", "social"], channel.itertuples(), strict=True):
        eta = truth["visitor -> buyer", "share", "(intercept)"]
        eta = eta + (
            truth["visitor -> buyer", "share", f"channel[{level}]"] if level != "email" else 0
        )
        eta = eta + z @ [truth["visitor -> buyer", "share", t] for t in ("member", "noise")]
        expected = float(special.expit(eta).mean())
        assert row.adjusted_lower < expected < row.adjusted_upper
        assert row.raw_lower < row.raw < row.raw_upper
    member = table[table["covariate"] == "member"]
    assert member["level"].tolist() == ["0", "1"]


def test_json_round_trip_predicts_identically(fitted) -> None:  # type: ignore[no-untyped-def]
    loaded = ConversionFitter.from_json(fitted.to_json())
    assert loaded.to_json() == fitted.to_json()
    assert loaded.result_ == fitted.result_
    profile = {"channel": ["search"], "member": [1], "noise": [0.5]}
    a = fitted.predict_conversion("visitor", "buyer", profile, horizon=10.0)
    b = loaded.predict_conversion("visitor", "buyer", profile, horizon=10.0)
    assert a.equals(b)
    assert loaded.coefficients_.equals(fitted.coefficients_)
    doc = json.loads(fitted.to_json())
    assert doc["result"]["covariates"]["encoding"]["columns"][0]["levels"] == [
        "email",
        "search",
        "social",
    ]


def test_a_frame_keyed_by_customer_id_in_any_order_gives_the_same_fit(sim, fitted) -> None:  # type: ignore[no-untyped-def]
    import polars as pl

    frame = sim.frame("polars").select(["customer_id", *NAMES]).reverse()
    by_frame = ConversionFitter().fit(sim.journeys, covariates=frame)
    table = by_frame.coefficients_
    assert isinstance(table, pl.DataFrame)
    np.testing.assert_allclose(
        table["estimate"].to_numpy(), fitted.coefficients_["estimate"].to_numpy(), rtol=1e-9
    )


def test_no_covariates_means_no_coefficients_and_a_clear_error(sim) -> None:  # type: ignore[no-untyped-def]
    plain = ConversionFitter().fit(sim.journeys)
    assert plain.covariates_ is None and plain.coefficients_ is None
    with pytest.raises(FunnelkitError, match="has no covariates: fit it with covariates="):
        plain.adjusted_comparison()
    with pytest.raises(FunnelkitError, match="This ConversionFitter has no covariates"):
        plain.summary(coefficients=True)
    with pytest.raises(NotFittedError, match="not fitted yet"):
        ConversionFitter().coefficients_  # noqa: B018


def test_bad_covariates_name_the_customers_and_the_fix(sim) -> None:  # type: ignore[no-untyped-def]
    j = sim.journeys
    frame = sim.frame()[["customer_id", "channel"]].iloc[3:]
    with pytest.raises(DataError, match=r"3 of 6000 customer\(s\) of the journeys have no row"):
        ConversionFitter().fit(j, covariates=frame)
    with pytest.raises(DataError, match="Did you mean one of these: \\['channel'\\]"):
        ConversionFitter().fit(j, covariates=["chanel"])
    values = np.array(sim.covariates["noise"], dtype=float)
    values[[4, 9]] = np.nan
    with pytest.raises(DataError, match=r"'noise' is missing for 2 of 6000 .*'p4', 'p9'"):
        ConversionFitter().fit(j, covariates={"noise": values})
    with pytest.raises(DataError, match="same value \\(1\\) for all 6000"):
        ConversionFitter().fit(j, covariates={"one": np.ones(len(j))})
    with pytest.raises(DataError, match="no 'customer_id' column"):
        ConversionFitter().fit(j, covariates=sim.frame()[["channel"]])
    fitted = ConversionFitter().fit(j, covariates="channel")
    with pytest.raises(DataError, match=r"not seen .*'tiktok'.*levels are"):
        fitted.predict_conversion("visitor", "buyer", {"channel": ["tiktok"]})


def test_a_transition_without_waiting_prospects_says_why_it_has_no_effects() -> None:
    entry = np.array([[0.0, 1.0], [0.0, 2.0], [0.0, 3.0], [0.0, 5.0]])
    journeys = Journeys(
        stage_names=("a", "b"),
        entry_times=entry,
        customer_ids=np.array(["w", "x", "y", "z"], dtype=object),
        censoring_times=np.full(4, 10.0),
        time_unit="D",
        attributes={"g": np.array(["u", "v", "u", "v"], dtype=object)},
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = ConversionFitter(model="exponential").fit(journeys, covariates="g")
    t = fit.covariates_.transition("a", "b")
    assert t.coefficients is None and not t.converged
    assert t.message == (
        "covariate effects are not estimable: nobody is still waiting (the share is 1 "
        "whatever the covariates)"
    )
    assert np.isnan(fit.coefficients_["estimate"]).all()
    with pytest.raises(FunnelkitError, match="a -> b has no covariate estimates: covariate"):
        fit.predict_conversion("a", "b", {"g": ["u"]})


def test_the_covariate_model_keeps_a_single_family_when_the_plain_one_is_not() -> None:
    assert covariate_family("lognormal-mixture") == "weibull"
    assert covariate_family("kaplan-meier") == "weibull"
    assert covariate_family("lognormal") == "lognormal"


def test_fit_covariate_cure_is_seeded_and_deterministic() -> None:
    rng = np.random.default_rng(5)
    n = 2000
    z = rng.integers(0, 2, (n, 1)).astype(float)
    will = rng.random(n) < special.expit(-0.5 + z[:, 0])
    delay = rng.exponential(4.0, n)
    follow = rng.uniform(0, 40, n)
    conv = will & (delay <= follow)
    t = np.where(conv, delay, follow)
    a = fit_covariate_cure(t, conv, z, "exponential")
    b = fit_covariate_cure(t, conv, z, "exponential")
    np.testing.assert_array_equal(a.coefficients, b.coefficients)
    assert a.log_likelihood > a.null_log_likelihood


@pytest.mark.slow
def test_intervals_cover_the_truth_over_seeds() -> None:
    hits = []
    for seed in range(12):
        sim = simulate_covariate_conversion(3000, seed=100 + seed)
        table = ConversionFitter(model="weibull").fit(sim.journeys, covariates=NAMES).coefficients_
        for row in table.itertuples():
            truth = sim.truth[row.transition, row.part, row.covariate]
            hits.append(row.lower <= truth <= row.upper)
    # 12 seeds x 11 coefficients at 95%: about 125 of 132 expected
    assert 0.9 <= np.mean(hits) <= 0.99


def test_missing_values_of_every_frame_library_are_counted(sim) -> None:  # type: ignore[no-untyped-def]
    import pandas as pd

    frame = sim.frame()[["customer_id", "channel", "member"]]
    text = frame.assign(channel=pd.array([None, *frame["channel"][1:]], dtype="string"))
    with pytest.raises(
        DataError, match=r"'channel' is missing for 1 of 6000 customer\(s\) \(e.g. 'p0'\)"
    ):
        ConversionFitter().fit(sim.journeys, covariates=text)
    numbers = frame.assign(member=pd.array([None, None, *frame["member"][2:]], dtype="Int64"))
    with pytest.raises(DataError, match=r"'member' is missing for 2 of 6000 .*'p0', 'p1'"):
        ConversionFitter().fit(sim.journeys, covariates=numbers)
