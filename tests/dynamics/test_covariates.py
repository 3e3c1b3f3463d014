"""Covariates on the Markov intensities: log-linear effects per transition (msm's model)."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from funnelkit import DataError, FunnelkitError, StageMarkovFitter
from funnelkit.datasets import simulate_covariate_chain
from funnelkit.dynamics.covariate_likelihood import covariate_stage_loglik, fit_covariate_stage
from funnelkit.dynamics.likelihood import fit_stage

NAMES = ["channel", "member", "noise"]


@pytest.fixture(scope="module")
def sim():  # type: ignore[no-untyped-def]
    return simulate_covariate_chain(6000, seed=4)


@pytest.fixture(scope="module")
def fitted(sim):  # type: ignore[no-untyped-def]
    return StageMarkovFitter(delays="exponential").fit(sim.journeys, covariates=NAMES)


def test_the_analytic_gradient_matches_central_differences() -> None:
    rng = np.random.default_rng(1)
    n = 200
    z = np.column_stack([rng.integers(0, 2, n), rng.standard_normal(n)]).astype(float)
    d = rng.exponential(2.0, n)
    adv = rng.random(n) < 0.5
    x = np.array([-0.5, 0.3, -0.2, -1.0, 0.4, 0.1])
    _, grad = covariate_stage_loglik(x, d, adv, z)
    numeric = [
        (covariate_stage_loglik(x + e, d, adv, z)[0] - covariate_stage_loglik(x - e, d, adv, z)[0])
        / 2e-6
        for e in np.eye(6) * 1e-6
    ]
    np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-6)


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
    assert table["transition"].unique().tolist() == ["s0 -> s1", "s1 -> s2"]
    for row in table.itertuples():
        truth = sim.truth[row.transition, row.part, row.covariate]
        assert abs(row.estimate - truth) < 4 * row.std_error, row
        assert 0 < row.std_error < 0.2


def test_a_zero_effect_covariate_leaves_the_plain_intensities(sim) -> None:  # type: ignore[no-untyped-def]
    fit = StageMarkovFitter(delays="exponential").fit(sim.journeys, covariates=["noise"])
    table = fit.coefficients_.set_index(["transition", "part", "covariate"])
    for t in fit.result_.transitions:
        name = f"{t.source} -> {t.target}"
        for part, rate in (("advance", t.advance_rate), ("dropout", t.dropout_rate)):
            noise = table.loc[(name, part, "noise")]
            assert abs(noise["estimate"]) < 3 * noise["std_error"]
            base = math.exp(table.loc[(name, part, "(intercept)"), "estimate"])
            assert base == pytest.approx(rate.estimate, rel=0.01)


def test_the_null_likelihood_is_the_plain_fit() -> None:
    none = {"channel[search]": 0.0, "channel[social]": 0.0, "member": 0.0}
    sim = simulate_covariate_chain(
        1500,
        seed=2,
        advance_effects=none,
        dropout_effects=none,
        advance_rates=(0.2,),
        dropout_rates=(0.1,),
    )
    _, d, adv = sim.journeys.transition("s0", "s1")
    z = np.asarray(sim.covariates["noise"])[:, None]
    est = fit_covariate_stage(d, adv, z)
    plain = fit_stage(d, adv)
    assert plain.status == "estimated"
    assert est.null_log_likelihood == plain.log_likelihood
    # nested models: the covariate fit is at least as likely, and not much more without effects
    assert 0.0 <= est.log_likelihood - plain.log_likelihood < 3.0
    assert est.converged


def test_profiles_get_their_own_intensities_and_reach(fitted) -> None:  # type: ignore[no-untyped-def]
    profiles = {"channel": ["email", "search"], "member": [0, 1], "noise": [0.0, 0.0]}
    table = fitted.predict_intensities(profiles)
    assert table["source"].tolist() == ["s0", "s0", "s1", "s1"]
    coef = fitted.coefficients_.set_index(["transition", "part", "covariate"])["estimate"]
    lam = math.exp(
        coef["s0 -> s1", "advance", "(intercept)"]
        + coef["s0 -> s1", "advance", "channel[search]"]
        + coef["s0 -> s1", "advance", "member"]
    )
    assert table["advance_rate"][1] == pytest.approx(lam, rel=1e-12)
    p = table["advance_probability"].to_numpy()
    assert (table["lower"].to_numpy() < p).all() and (p < table["upper"].to_numpy()).all()
    reach = fitted.reach_probability("s2", profiles)
    assert reach[0].estimate == pytest.approx(p[0] * p[2], rel=1e-12)
    assert reach[1].lower < reach[1].estimate < reach[1].upper
    with pytest.raises(FunnelkitError, match="No stage 's0' after the first"):
        fitted.reach_probability("s0", profiles)
    # within a horizon: below the eventual probability, approaching it as the horizon grows
    soon = fitted.reach_probability("s2", profiles, horizon=5.0)
    late = fitted.reach_probability("s2", profiles, horizon=1e4)
    for r, s, g in zip(reach, soon, late, strict=True):
        assert s.lower < s.estimate < r.estimate
        assert g.estimate == pytest.approx(r.estimate, rel=1e-9)
    with pytest.raises(FunnelkitError, match="horizon must be a finite number > 0"):
        fitted.reach_probability("s2", profiles, horizon=-1.0)


def test_reaching_within_a_horizon_matches_the_simulated_chain() -> None:
    sim = simulate_covariate_chain(20000, seed=8, observation_end=400.0, entry_window=1.0)
    fit = StageMarkovFitter(delays="exponential").fit(
        sim.journeys, covariates=["channel", "member"]
    )
    j = sim.journeys
    took = j.entry_times[:, 2] - j.entry_times[:, 0]  # NaN: never reached s2
    cells = [("email", 0), ("social", 1)]
    probs = fit.reach_probability(
        "s2", {"channel": [c for c, _ in cells], "member": [m for _, m in cells]}, horizon=10.0
    )
    for (channel, member), p in zip(cells, probs, strict=True):
        rows = (sim.covariates["channel"] == channel) & (sim.covariates["member"] == member)
        observed = float(np.mean(took[rows] <= 10.0))
        # the share of that profile's prospects who reached s2 within 10 days of arriving
        assert p.lower - 0.01 < observed < p.upper + 0.01


def test_the_adjusted_comparison_standardises_over_the_other_covariates(sim, fitted) -> None:  # type: ignore[no-untyped-def]
    table = fitted.adjusted_comparison()
    first = table[(table["transition"] == "s0 -> s1") & (table["covariate"] == "member")]
    assert first["level"].tolist() == ["0", "1"]
    assert first["n_entered"].sum() == 6000
    z = np.column_stack(
        [sim.covariates["channel"] == "search", sim.covariates["channel"] == "social"]
    ).astype(float)
    truth = sim.truth
    for level, row in zip([0, 1], first.itertuples(), strict=True):
        log_rates = []
        for part in ("advance", "dropout"):
            eff = [truth["s0 -> s1", part, f"channel[{c}]"] for c in ("search", "social")]
            member = truth["s0 -> s1", part, "member"] * level
            log_rates.append(truth["s0 -> s1", part, "(intercept)"] + member + z @ eff)
        expected = float((1.0 / (1.0 + np.exp(log_rates[1] - log_rates[0]))).mean())
        assert row.adjusted_lower < expected < row.adjusted_upper
        assert row.raw_lower < row.raw < row.raw_upper
    # members come as often from every channel here, so raw and adjusted agree closely
    np.testing.assert_allclose(first["adjusted"], first["raw"], atol=0.03)
    assert fitted.summary(coefficients=True).equals(fitted.coefficients_)


def test_json_round_trip_predicts_identically(fitted) -> None:  # type: ignore[no-untyped-def]
    loaded = StageMarkovFitter.from_json(fitted.to_json())
    assert loaded.to_json() == fitted.to_json()
    assert loaded.adjusted_comparison().equals(fitted.adjusted_comparison())
    profiles = {"channel": ["social"], "member": [1], "noise": [-1.0]}
    assert loaded.predict_intensities(profiles).equals(fitted.predict_intensities(profiles))
    assert loaded.reach_probability("s2", profiles) == fitted.reach_probability("s2", profiles)
    assert loaded.coefficients_.equals(fitted.coefficients_)
    assert "channel[social]" in loaded._repr_html_()
    assert "(reference levels: channel=email)" in loaded.result_.as_text()


def test_by_and_covariates_together(sim) -> None:  # type: ignore[no-untyped-def]
    fit = StageMarkovFitter(delays="exponential").fit(
        sim.journeys, by="channel", covariates=["member"]
    )
    assert fit.segments_ == ("email", "search", "social")
    assert fit.coefficients_["covariate"].tolist()[:2] == ["(intercept)", "member"]


def test_a_stage_on_the_no_dropout_boundary_says_why_it_has_no_effects() -> None:
    sim = simulate_covariate_chain(
        2000, seed=0, advance_rates=(0.5,), dropout_rates=(1e-9,), observation_end=200.0
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = StageMarkovFitter(delays="exponential").fit(
            sim.journeys, covariates={"x": np.arange(2000.0)}
        )
    assert fit.result_.transitions[0].status == "no_dropout"
    t = fit.covariates_.transitions[0]
    assert t.coefficients is None and not t.converged
    assert t.message == (
        "covariate effects are not estimable: the plain fit has no drop-out (μ = 0 on the "
        "boundary), so drop-out effects are not identified"
    )
    assert np.isnan(fit.coefficients_["estimate"]).all()


def test_bad_covariates_are_data_errors(sim) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(DataError, match=r"are not aligned with the 6000 customers"):
        StageMarkovFitter(delays="exponential").fit(sim.journeys, covariates={"x": np.ones(5)})
    plain = StageMarkovFitter(delays="exponential").fit(sim.journeys)
    assert plain.coefficients_ is None
    with pytest.raises(FunnelkitError, match="has no covariates"):
        plain.predict_intensities({"member": [1]})


@pytest.mark.slow
def test_intervals_cover_the_truth_over_seeds() -> None:
    hits = []
    for seed in range(12):
        sim = simulate_covariate_chain(3000, seed=200 + seed)
        fit = StageMarkovFitter(delays="exponential").fit(sim.journeys, covariates=NAMES)
        for row in fit.coefficients_.itertuples():
            truth = sim.truth[row.transition, row.part, row.covariate]
            hits.append(row.lower <= truth <= row.upper)
    # 12 seeds x 20 coefficients at 95%: about 228 of 240 expected
    assert 0.9 <= np.mean(hits) <= 0.99
