"""Static covariates: encoding, the fit's contract, predictions per customer, persistence."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from funnelkit import RFM
from funnelkit.clv import (
    BetaGeoBetaBinomFitter,
    BetaGeoFitter,
    GammaGammaFitter,
    ModifiedBetaGeoFitter,
    ParetoNBDFitter,
    ShiftedBetaGeoFitter,
)
from funnelkit.clv.covariates import learn_encoding
from funnelkit.datasets import simulate_bgnbd
from funnelkit.datasets.covariates import (
    simulate_bgnbd_covariates,
    simulate_pareto_nbd_covariates,
)
from funnelkit.exceptions import DataError, FunnelkitError

COLUMNS = ["process", "covariate", "estimate", "std_error", "lower", "upper"]


@pytest.fixture(scope="module")
def world():
    return simulate_bgnbd_covariates(
        1500,
        T=52.0,
        coefficients={"purchase": {"member[True]": 0.5}, "dropout": {"channel[tiktok]": 0.5}},
        seed=11,
    )


@pytest.fixture(scope="module")
def fitted(world):
    return BetaGeoFitter().fit(world.rfm, covariates=world.covariates)


def _with_params(model, params):
    """A plain model of the same class at ``params`` (through its JSON document)."""
    doc = json.loads(model.to_json())
    doc["params"] = {k: float(v) for k, v in params.items()}
    doc["state"] = {}
    return type(model).from_json(json.dumps(doc))


# ---------------------------------------------------------------------------- encoding
def test_encoding_one_hot_against_the_first_sorted_level_and_numeric_as_is():
    enc, design = learn_encoding(
        {"channel": np.array(["b", "a", "c", "a"]), "spend": [1.0, 2.0, 3.0, 4.0]}, None, 4
    )
    assert enc.names == ["channel[b]", "channel[c]", "spend"]
    assert design.tolist() == [[1, 0, 1], [0, 0, 2], [0, 1, 3], [0, 0, 4]]
    assert enc.columns[0].reference == "a"


def test_encoding_reference_setting_and_booleans():
    enc, design = learn_encoding(
        {"channel": ["b", "a", "c"], "member": [True, False, True]}, None, 3, {"channel": "c"}
    )
    assert enc.names == ["channel[a]", "channel[b]", "member[True]"]
    assert design.tolist() == [[0, 1, 1], [1, 0, 0], [0, 0, 1]]


@pytest.mark.parametrize(
    ("covariates", "message"),
    [
        ({"x": [1.0, np.nan, 2.0]}, "Covariate 'x' has 1 missing or infinite value(s)"),
        ({"x": [1.0, np.inf, 2.0]}, "Covariate 'x' has 1 missing or infinite value(s)"),
        ({"x": [2.0, 2.0, 2.0]}, "Covariate 'x' takes the same value (2.0) for all 3"),
        ({"c": ["a", "a", "a"]}, "Covariate 'c' takes the same value ('a') for all 3"),
        ({"c": ["a", None, "b"]}, "Covariate 'c' has 1 missing value(s)"),
        ({"x": [1.0, 2.0]}, "The covariates have [2] rows but there are 3 customers"),
        ({}, "The covariates have no columns"),
    ],
)
def test_bad_covariates_are_refused_with_the_count_and_the_fix(covariates, message):
    with pytest.raises(DataError) as err:
        learn_encoding(covariates, np.array([7, 8, 9]), 3)
    assert message in str(err.value)


def test_missing_value_names_the_customer():
    with pytest.raises(DataError, match=r"for customer\(s\) 'b'"):
        learn_encoding({"x": [1.0, np.nan, 2.0]}, np.array(["a", "b", "c"]), 3)


def test_frame_join_reports_missing_and_extra_ids():
    frame = pd.DataFrame({"customer_id": [1, 2, 5], "x": [1.0, 2.0, 3.0]})
    with pytest.raises(DataError) as err:
        learn_encoding(frame, np.array([1, 2, 3, 4]), 4)
    text = str(err.value)
    assert "2 of the 4 customers have no covariate row (3, 4)" in text
    assert "the covariates have 1 id(s) that are not in the summary (5)" in text


def test_repeated_ids_are_refused():
    frame = pd.DataFrame({"customer_id": [1, 1, 2], "x": [1.0, 2.0, 3.0]})
    with pytest.raises(DataError, match=r"1 customer id\(s\) appear more than once"):
        learn_encoding(frame, np.array([1, 2]), 2)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    levels=st.lists(st.sampled_from(["x", "y", "z"]), min_size=4, max_size=30),
    numbers=st.data(),
    seed=st.integers(0, 10_000),
)
def test_a_keyed_frame_in_any_order_gives_the_aligned_design(levels, numbers, seed):
    n = len(levels)
    if len(set(levels)) < 2:
        levels = ["x", "y", *levels[2:]]
    values = numbers.draw(
        st.lists(st.floats(-1e6, 1e6), min_size=n, max_size=n).filter(lambda v: len(set(v)) > 1)
    )
    ids = np.arange(100, 100 + n)
    enc, aligned = learn_encoding({"c": levels, "v": values}, ids, n)
    order = np.random.default_rng(seed).permutation(n)
    frame = pl.DataFrame(
        {"customer_id": ids[order], "c": np.array(levels)[order], "v": np.array(values)[order]}
    )
    assert np.array_equal(enc.design(frame, ids, n), aligned)
    # each customer is at most one non-reference level, and exactly one unless reference
    one_hot = aligned[:, :-1]
    reference = np.array(levels) == enc.columns[0].reference
    assert np.array_equal(one_hot.sum(axis=1), (~reference).astype(float))


# ---------------------------------------------------------------------------- fit contract
def test_coefficients_table_and_test(world, fitted):
    table = fitted.coefficients_
    assert list(table.columns) == COLUMNS
    assert table["process"].tolist() == ["purchase"] * 3 + ["dropout"] * 3
    assert (
        table["covariate"].tolist() == ["channel[organic]", "channel[tiktok]", "member[True]"] * 2
    )
    assert (table["lower"] < table["estimate"]).all() and (table["estimate"] < table["upper"]).all()
    plain = BetaGeoFitter().fit(world.rfm)
    test = fitted.covariate_test_
    assert test.df == 6
    assert test.plain_log_likelihood == pytest.approx(plain.log_likelihood_, abs=1e-6)
    assert test.statistic == pytest.approx(2 * (fitted.log_likelihood_ - plain.log_likelihood_))
    assert test.p_value < 0.01
    assert fitted.result_.converged
    assert set(fitted.params_) == {"r", "alpha", "a", "b"}


def test_plain_fit_has_no_coefficients(world):
    model = BetaGeoFitter().fit(world.rfm)
    assert model.coefficients_ is None and model.covariate_test_ is None
    assert model.covariate_columns_ is None
    with pytest.raises(FunnelkitError, match="fitted without covariates"):
        model.coefficient_table()


def test_log_likelihood_is_the_sum_over_customers_at_their_own_parameters(world, fitted):
    """The row likelihood with covariates against the mixture form of the likelihood,
    evaluated customer by customer at the customers' parameters."""
    per = fitted._customer_params(world.covariates, len(world.rfm))
    data = {"frequency": world.rfm.frequency, "recency": world.rfm.recency, "T": world.rfm.T}
    from funnelkit.clv._data import FitData

    fd = FitData(columns=data, weights=np.ones(len(world.rfm)), n_customers=len(world.rfm))
    total = float(fitted._limit_log_likelihood(per, fd).sum())
    assert total == pytest.approx(fitted.log_likelihood_, rel=1e-10)


def test_duplicated_base_gives_zero_effects_and_the_plain_estimates():
    """Two identical copies labelled A and B: by symmetry the effects are exactly zero and
    the base parameters those of the plain fit on one copy."""
    sim = simulate_bgnbd_covariates(800, T=40.0, coefficients={}, seed=5)
    one = sim.rfm
    both = RFM.from_arrays(
        frequency=np.tile(one.frequency, 2),
        recency=np.tile(one.recency, 2),
        T=np.tile(one.T, 2),
        time_unit="W",
    )
    label = np.repeat(np.array(["A", "B"], dtype=object), len(one))
    for fitter in (BetaGeoFitter, ParetoNBDFitter):
        plain = fitter().fit(one)
        model = fitter().fit(both, covariates={"copy": label})
        assert np.abs(model.coefficients_["estimate"]).max() < 1e-4
        for name, value in plain.params_.items():
            assert model.params_[name] == pytest.approx(value, rel=1e-4)
        assert model.covariate_test_.statistic < 1e-6


def test_covariate_processes_setting(world):
    model = ModifiedBetaGeoFitter(covariate_processes=("dropout",))
    assert model.get_params()["covariate_processes"] == ("dropout",)
    model.fit(world.rfm, covariates={"member": world.covariates["member"]})
    assert model.coefficients_["process"].tolist() == ["dropout"]
    assert model.covariate_test_.df == 1
    with pytest.raises(
        FunnelkitError,
        match=r"The 'covariate_processes' parameter of BetaGeoFitter must be a non-empty "
        r"selection of \['purchase', 'dropout'\]. Got \('spend',\) instead.",
    ):
        BetaGeoFitter(covariate_processes=("spend",)).fit(world.rfm, covariates=world.covariates)
    with pytest.raises(FunnelkitError, match=r"Got 3 instead\."):
        ParetoNBDFitter(covariate_processes=3).fit(world.rfm)


def test_models_without_covariates_refuse_them(world):
    plain = BetaGeoFitter().fit(world.rfm)
    with pytest.raises(FunnelkitError, match="was fitted without covariates"):
        plain.expected_purchases(10.0, covariates=world.covariates)
    with pytest.raises(TypeError):
        BetaGeoBetaBinomFitter().fit(world.rfm, covariates=world.covariates)


def test_coefficients_come_in_the_callers_frame_library(world):
    ids = world.rfm.customer_ids
    cov = {"customer_id": ids, "member": world.covariates["member"]}
    for frame, kind in ((pl.DataFrame(cov), pl.DataFrame), (pa.table(cov), pa.Table)):
        model = BetaGeoFitter(covariate_processes="purchase").fit(world.rfm, covariates=frame)
        assert isinstance(model.coefficients_, kind)
        assert isinstance(model.coefficient_table("pandas"), pd.DataFrame)


# ---------------------------------------------------------------------------- predictions
def test_predictions_use_each_customers_parameters(world, fitted):
    n = len(world.rfm)
    per = fitted._customer_params(world.covariates, n)
    expected = np.empty(n)
    alive = np.empty(n)
    keys = np.stack([per["alpha"], per["a"], per["b"]], axis=1)
    for row in np.unique(keys, axis=0):
        idx = np.flatnonzero((keys == row).all(axis=1))
        params = {"r": fitted.params_["r"], "alpha": row[0], "a": row[1], "b": row[2]}
        plain = _with_params(fitted, params)
        part = {
            k: v[idx] for k, v in world.rfm.columns().items() if k in ("frequency", "recency", "T")
        }
        expected[idx] = plain.expected_purchases(10.0, part)
        alive[idx] = plain.probability_alive(part, at=5.0)
    got = fitted.expected_purchases(10.0, world.rfm, covariates=world.covariates)
    assert np.array_equal(got, expected)
    assert np.array_equal(fitted.probability_alive(at=5.0), alive)
    # data=None uses the training customers' own covariates
    assert np.array_equal(fitted.expected_purchases(10.0), got)


def test_per_customer_horizons_and_grids_follow_their_customers(world, fitted):
    n = len(world.rfm)
    horizons = np.linspace(1.0, 20.0, n)
    got = fitted.expected_purchases(horizons, world.rfm, covariates=world.covariates)
    for i in (0, 17, n - 1):
        one = {k: v[i : i + 1] for k, v in world.covariates.items()}
        single = {k: v[i : i + 1] for k, v in world.rfm.columns().items() if k != "customer_id"}
        assert fitted.expected_purchases(horizons[i], single, covariates=one)[0] == pytest.approx(
            got[i], rel=1e-12
        )
    grid = fitted.expected_purchases(np.array([[1.0], [10.0]]))
    assert grid.shape == (2, n)
    assert np.allclose(grid[1], fitted.expected_purchases(10.0))


def test_a_covariate_model_asks_for_covariates(world, fitted):
    message = "was fitted with covariates, so its predictions depend on each customer's"
    with pytest.raises(FunnelkitError, match=message):
        fitted.expected_purchases(10.0, world.rfm)
    with pytest.raises(FunnelkitError, match=message):
        fitted.expected_purchases_new_customer(10.0)
    with pytest.raises(DataError, match=r"Covariate 'channel' has 1 value\(s\) the model was not"):
        fitted.expected_purchases_new_customer(10.0, covariates={"channel": "x", "member": True})


def test_new_customer_profile_matches_a_plain_model_at_its_parameters(fitted):
    profile = {"channel": "tiktok", "member": True}
    per = fitted._customer_params(profile, 1)
    plain = _with_params(fitted, {k: v[0] for k, v in per.items()})
    horizons = np.array([1.0, 10.0, 50.0])
    assert np.array_equal(
        fitted.expected_purchases_new_customer(horizons, covariates=profile),
        plain.expected_purchases_new_customer(horizons),
    )
    assert fitted.probability_of_purchases(2, 10.0, covariates=profile) == pytest.approx(
        plain.probability_of_purchases(2, 10.0), rel=1e-14
    )


def test_json_round_trip_predicts_identically(world, fitted):
    loaded = BetaGeoFitter.from_json(fitted.to_json())
    rfm, cov = world.rfm, world.covariates
    assert np.array_equal(
        loaded.expected_purchases(10.0, rfm, covariates=cov),
        fitted.expected_purchases(10.0, rfm, covariates=cov),
    )
    pd.testing.assert_frame_equal(loaded.coefficients_, fitted.coefficients_)
    assert loaded.covariate_columns_ == fitted.covariate_columns_ == ("channel", "member")
    assert loaded.covariate_test_ == fitted.covariate_test_
    with pytest.raises(FunnelkitError, match="pass covariates="):
        loaded.expected_purchases(10.0, rfm)
    with pytest.raises(DataError, match="lack column"):
        loaded.probability_alive(rfm, covariates={"member": cov["member"]})


def test_gamma_gamma_spend_effect_and_round_trip():
    rng = np.random.default_rng(3)
    n = 2000
    member = rng.random(n) < 0.5
    nu = rng.gamma(4.0, 1.0 / (15.0 * np.exp(0.4 * member)))
    x = rng.poisson(3.0, n)
    m = np.where(x > 0, rng.gamma(6.0 * np.maximum(x, 1), 1.0 / (np.maximum(x, 1) * nu)), 0.0)
    data = pd.DataFrame({"customer_id": np.arange(n), "frequency": x, "monetary_value": m})
    cov = pd.DataFrame({"customer_id": np.arange(n)[::-1], "member": member[::-1]})
    model = GammaGammaFitter().fit(data, covariates=cov)
    row = model.coefficients_.iloc[0]
    assert (row["process"], row["covariate"]) == ("spend", "member[True]")
    assert row["lower"] < 0.4 < row["upper"]
    loaded = GammaGammaFitter.from_json(model.to_json())
    assert np.array_equal(
        loaded.expected_spend(data, covariates=cov), model.expected_spend(data, covariates=cov)
    )
    assert model.population_mean_spend(covariates={"member": True}) == pytest.approx(
        model.population_mean_spend(covariates={"member": False}) * np.exp(row["estimate"])
    )


def test_shifted_beta_geo_dropout_effect_and_profiles():
    rng = np.random.default_rng(4)
    member = rng.random(3000) < 0.5
    theta = rng.beta(1.0, 3.0 * np.exp(-0.5 * member))
    life = rng.geometric(theta)
    model = ShiftedBetaGeoFitter().fit(
        durations=np.minimum(life, 8), churned=life <= 8, covariates={"member": member}
    )
    row = model.coefficients_.iloc[0]
    assert (row["process"], row["covariate"]) == ("dropout", "member[True]")
    assert row["lower"] < 0.5 < row["upper"]
    members = model.survival_function([1, 4], covariates={"member": True})
    others = model.survival_function([1, 4], covariates={"member": False})
    assert (members < others).all()
    both = model.probability_alive([2, 2], at=3, covariates={"member": [True, False]})
    assert both[0] == model.probability_alive(2, at=3, covariates={"member": True})
    assert both[1] == model.probability_alive(2, at=3, covariates={"member": False})
    with pytest.raises(FunnelkitError, match="pass covariates="):
        model.expected_lifetime()


def test_limits_keep_the_coefficients_of_the_processes_they_keep():
    """Nobody drops out: the fit ends at the no-dropout limit with its purchase effects."""
    sim = simulate_bgnbd_covariates(
        2000, T=52.0, a=1e-6, b=1.0, coefficients={"purchase": {"member[True]": 0.5}}, seed=1
    )
    assert BetaGeoFitter().fit(sim.rfm).result_.boundary == ["no dropout"]
    model = BetaGeoFitter().fit(sim.rfm, covariates=sim.covariates)
    assert model.result_.boundary == ["no dropout"] and model.result_.converged
    assert sorted(model.params_) == ["alpha", "r"]
    table = model.coefficients_
    assert table["process"].tolist() == ["purchase"] * 3
    member = table.iloc[2]
    assert member["covariate"] == "member[True]" and member["lower"] < 0.5 < member["upper"]
    assert model.covariate_test_.df == 3
    assert model.result_.limit_test is not None and model.result_.limit_test.df == 2
    loaded = BetaGeoFitter.from_json(model.to_json())
    assert np.array_equal(
        loaded.expected_purchases(10.0, sim.rfm, covariates=sim.covariates),
        model.expected_purchases(10.0),
    )
    assert np.isfinite(model.probability_alive(at=5.0)).all()


def test_a_common_purchase_rate_carries_the_purchase_effect_on_lambda():
    sim = simulate_bgnbd_covariates(
        3000,
        T=52.0,
        r=1e5,
        alpha=1e5 / 0.3,
        coefficients={"purchase": {"member[True]": 0.5}},
        seed=1,
    )
    model = BetaGeoFitter().fit(sim.rfm, covariates=sim.covariates)
    assert model.result_.boundary == ["common purchase rate"]
    member, other = (
        model._customer_params({"channel": "organic", "member": flag}, 1)["lambda"][0]
        for flag in (True, False)
    )
    row = model.coefficients_.iloc[2]
    assert member / other == pytest.approx(np.exp(row["estimate"]), rel=1e-12)
    assert row["lower"] < 0.5 < row["upper"]


def test_pareto_covariates_can_explain_all_purchase_rate_heterogeneity():
    """Every customer buys at one of a few rates set by the covariates: the plain fit is
    interior (the mixture of rates looks heterogeneous), the covariate fit ends at the
    common purchase rate, with lambda carrying the purchase effects."""
    sim = simulate_pareto_nbd_covariates(
        3000,
        T=52.0,
        r=1e5,
        alpha=1e5 / 0.3,
        seed=2,
        coefficients={"purchase": {"member[True]": 0.5}, "dropout": {"channel[tiktok]": 0.7}},
    )
    assert ParetoNBDFitter().fit(sim.rfm).result_.boundary == []
    model = ParetoNBDFitter().fit(sim.rfm, covariates=sim.covariates)
    assert model.result_.boundary == ["common purchase rate"] and model.result_.converged
    assert sorted(model.params_) == ["beta", "lambda", "s"]
    table = model.coefficients_.set_index(["process", "covariate"])
    for key, truth in ((("purchase", "member[True]"), 0.5), (("dropout", "channel[tiktok]"), 0.7)):
        assert table.loc[key, "lower"] < truth < table.loc[key, "upper"]
    loaded = ParetoNBDFitter.from_json(model.to_json())
    assert np.array_equal(
        loaded.probability_alive(sim.rfm, covariates=sim.covariates, at=4.0),
        model.probability_alive(at=4.0),
    )


def test_weights_count_customers_sharing_a_row_and_pattern(world):
    """Aggregated rows with weights fit exactly like the customers written out."""
    cols = {k: world.rfm.columns()[k] for k in ("frequency", "recency", "T")}
    member = world.covariates["member"]
    half = {k: v[:700] for k, v in cols.items()}
    doubled = {k: np.concatenate([v, v]) for k, v in half.items()}
    weighted = BetaGeoFitter().fit(
        half, weights=np.full(700, 2.0), covariates={"member": member[:700]}, time_unit="W"
    )
    written = BetaGeoFitter().fit(
        doubled, covariates={"member": np.concatenate([member[:700]] * 2)}, time_unit="W"
    )
    assert weighted.result_.n_customers == written.result_.n_customers == 1400
    assert weighted.result_.n_unique_rows == written.result_.n_unique_rows < 1400
    for name, value in written.params_.items():
        assert weighted.params_[name] == pytest.approx(value, rel=1e-6)
    assert np.allclose(
        weighted.coefficients_["estimate"], written.coefficients_["estimate"], atol=1e-6
    )


def test_repr_and_html_show_the_covariate_effects(fitted):
    assert repr(fitted).endswith("; 6 covariate effects>")
    html = fitted._repr_html_()
    assert "Covariate effects (log scale; reference channel = instagram, member = False)" in html
    assert "member[True]" in html and "Likelihood-ratio test" in html


def test_settings_and_reference_levels_survive_the_round_trip(world):
    model = ModifiedBetaGeoFitter(
        covariate_processes=["purchase"], covariate_reference={"channel": "tiktok"}
    ).fit(world.rfm, covariates=world.covariates)
    assert model.coefficients_["covariate"].tolist() == [
        "channel[instagram]",
        "channel[organic]",
        "member[True]",
    ]
    loaded = ModifiedBetaGeoFitter.from_json(model.to_json())
    assert loaded.get_params()["covariate_reference"] == {"channel": "tiktok"}
    profile = {"channel": "organic", "member": False}
    assert loaded.expected_purchases_new_customer(
        30.0, covariates=profile
    ) == model.expected_purchases_new_customer(30.0, covariates=profile)


def test_coefficient_rows_are_the_table_without_a_frame_library(fitted) -> None:
    rows = fitted.coefficient_rows()
    table = fitted.coefficients_
    assert [r["covariate"] for r in rows] == table.covariate.tolist()
    assert [r["process"] for r in rows] == table.process.tolist()
    np.testing.assert_array_equal([r["estimate"] for r in rows], table.estimate.to_numpy())
    with pytest.raises(FunnelkitError, match="fitted without covariates"):
        BetaGeoFitter().fit(simulate_bgnbd(300, T=30.0, seed=1).rfm).coefficient_rows()
