"""Channel and membership compared with covariates, each held fixed for the other."""

from __future__ import annotations

import math

import numpy as np
import pytest

from funnelkit import EventLog, Funnel, FunnelkitError, LifecycleModel
from funnelkit.clv import ModifiedBetaGeoFitter
from funnelkit.datasets import simulate_community
from funnelkit.lifecycle import CovariateComparison
from funnelkit.lifecycle.covariate_effects import covariate_comparison, effect_sentence
from funnelkit.lifecycle.covariate_results import factor_text
from funnelkit.lifecycle.segments import customer_segments

NAN_TEXT = ("nan", "NaN", "inf")


@pytest.fixture(scope="module")
def world() -> tuple[object, EventLog, LifecycleModel, CovariateComparison]:
    # The simulation's repeat buying is MBG/NBD, so the model family matches the truth.
    sim = simulate_community(20_000, seed=3)
    log = EventLog.from_frame(sim.events, value_col="value", attribute_cols=["channel"])
    model = LifecycleModel(n_resamples=0, purchase_model="mbgnbd")
    model = model.fit(log, Funnel.community(), observation_end=sim.observation_end)
    return sim, log, model, model.covariate_comparison()


def _true_repeat_purchases(sim: object, member: bool, horizon: float) -> float:
    """Mean repeat purchases within ``horizon`` of a new buyer, from the simulated traits.

    MBG/NBD: alive after the first purchase with probability 1 - p, then purchases at rate
    lambda, each followed by dropout with probability p, so
    E N(t) = (1 - p) / p (1 - exp(-lambda p t)).
    """
    truth = sim.truth  # type: ignore[attr-defined]
    chosen = truth["will_buy"] & (truth["member_at_first_purchase"] == member)
    lam, p = truth["purchase_rate"][chosen], truth["dropout_prob"][chosen]
    return float(np.mean((1 - p) / p * (1 - np.exp(-lam * p * horizon))))


def test_membership_value_is_recovered_and_channels_without_effect_look_alike(world) -> None:
    sim, _, model, result = world
    horizon = model.fit_.grid.horizon
    members = {v.level: v for v in result.values if v.covariate == "member"}
    for level, flag in (("member", True), ("non-member", False)):
        truth = _true_repeat_purchases(sim, flag, horizon)
        # The BG-family dropout covariate moves the spread, not the mean, of the dropout
        # probability, while the simulation's groups differ in that mean: a 20% band.
        assert members[level].repeat_purchases == pytest.approx(truth, rel=0.2)
    assert members["member"].value > 2.5 * members["non-member"].value
    # Channels have no effect on repeat buying or spend in the simulation.
    channels = [v.value for v in result.values if v.covariate == "channel"]
    assert max(channels) / min(channels) < 1.12
    for effect in result.effects:
        if effect.process in ("purchase", "spend") and effect.covariate.startswith("channel"):
            assert 0.7 < effect.effect.estimate < 1.3, effect
    spend = [e for e in result.effects if e.process == "spend"]
    assert len(spend) == 4 and all(e.effect.contains(1.0) for e in spend)


def test_pareto_nbd_dropout_effects_recover_the_membership_value_closely(world) -> None:
    sim, log, _, _ = world
    model = LifecycleModel(n_resamples=0, purchase_model="paretonbd")
    model = model.fit(log, Funnel.community(), observation_end=sim.observation_end)
    result = model.covariate_comparison()
    horizon = model.fit_.grid.horizon
    # Pareto/NBD covariates move the mean dropout rate, which is where the groups differ.
    for v in result.values:
        if v.covariate == "member":
            truth = _true_repeat_purchases(sim, v.level == "member", horizon)
            assert v.repeat_purchases == pytest.approx(truth, rel=0.05), v
    assert result.effect("dropout", "member").multiplies == "mean dropout rate"
    assert result.effect("dropout", "member").effect.upper < 1.0  # members stay longer


def test_adjusted_channel_values_agree_with_per_channel_plain_fits(world) -> None:
    _, _, _, result = world
    # No channel effect and the same membership mix in every channel: standardising and
    # refitting per channel must tell the same story.
    for v in result.values:
        if v.covariate == "channel":
            assert v.raw_value == pytest.approx(v.value, rel=0.1), v
            assert v.raw_repeat_purchases == pytest.approx(v.repeat_purchases, rel=0.1), v


def test_the_reference_channel_is_the_one_with_most_buyers(world) -> None:
    _, _, model, result = world
    table = model.customers_
    buyers = table.group >= 0
    labels, counts = np.unique(table.attributes["channel"][buyers], return_counts=True)
    assert result.reference == labels[np.argmax(counts)] == "instagram"
    assert result.by == "channel"
    named = {e.covariate for e in result.effects}
    assert named == {"channel[facebook]", "channel[referral]", "channel[tiktok]", "member"}
    counted = {v.level: v.n_buyers for v in result.values if v.covariate == "channel"}
    assert counted == dict(zip(labels.tolist(), counts.tolist(), strict=True))
    assert result.n_buyers == int(buyers.sum())


def test_effects_are_exp_of_the_coefficients_and_the_test_counts_them(world) -> None:
    _, _, _, result = world
    for e in result.effects:
        assert e.effect.estimate == pytest.approx(math.exp(e.estimate))
        assert e.effect.lower == pytest.approx(math.exp(e.lower))
        assert e.effect.upper == pytest.approx(math.exp(e.upper))
        assert e.effect.level == 0.95
    processes = [e.process for e in result.effects]
    assert processes == ["purchase"] * 4 + ["dropout"] * 4 + ["spend"] * 4
    assert result.purchase_test.df == 8 and result.spend_test.df == 4
    assert result.purchase_test.p_value < 1e-10
    # members buy more often and drop out less (the simulation's membership effect)
    assert result.effect("purchase", "member").effect.lower > 1.5
    assert result.effect("dropout", "member").effect.upper < 0.5


def test_summary_tables_hold_the_result(world) -> None:
    _, _, _, result = world
    table = result.summary()
    assert list(table.columns) == [
        "process",
        "covariate",
        "estimate",
        "std_error",
        "lower",
        "upper",
        "effect",
        "effect_lower",
        "effect_upper",
    ]
    assert table["effect"].tolist() == [e.effect.estimate for e in result.effects]
    values = result.values_summary("polars")
    assert values["level"].to_list() == [
        "facebook",
        "instagram",
        "referral",
        "tiktok",
        "non-member",
        "member",
    ]
    assert values["value"].to_list() == [v.value for v in result.values]


def test_sentences_say_the_effects_in_plain_words(world) -> None:
    _, _, _, result = world
    member = result.effect("purchase", "member").effect
    expected = (
        f"Members buy {factor_text(member.estimate)}x as often as non-members from the same "
        f"channel (95% interval {factor_text(member.lower)}–{factor_text(member.upper)})."
    )
    assert expected in result.sentences()
    spend = result.effect("spend", "channel[tiktok]")
    assert effect_sentence(spend, "channel", "instagram", 0.95).startswith(
        f"Customers from tiktok spend {factor_text(spend.effect.estimate)}x as much per "
        "purchase as those from instagram with the same membership (95% interval"
    )
    assert effect_sentence(spend, "channel", "instagram", 0.95).endswith("no clear difference).")


def test_factors_read_without_trailing_zeros_or_lost_magnitude() -> None:
    assert [factor_text(v) for v in (2.7557, 1.0, 1.1, 0.996, 0.0042, 1.79e10)] == [
        "2.76",
        "1",
        "1.1",
        "1",
        "0.0042",
        "1.79e+10",
    ]


def test_json_html_and_text_round_trip_without_missing_numbers(world) -> None:
    _, _, _, result = world
    assert CovariateComparison.from_json(result.to_json()) == result
    html = result._repr_html_()
    assert "<table" in html and not any(t in html for t in NAN_TEXT)
    assert "Members buy" in str(result)


def test_membership_only_and_channel_only(world) -> None:
    sim, log, model, _ = world
    only_members = model.covariate_comparison(by=None)
    assert {e.covariate for e in only_members.effects} == {"member"}
    assert [v.level for v in only_members.values] == ["non-member", "member"]
    plain = LifecycleModel(n_resamples=0, membership_stage=None, purchase_model="mbgnbd")
    plain = plain.fit(log, Funnel.community(), observation_end=sim.observation_end)
    only_channels = plain.covariate_comparison()
    assert {e.covariate for e in only_channels.effects} == {
        "channel[facebook]",
        "channel[referral]",
        "channel[tiktok]",
    }
    assert any("membership is left out" in n for n in only_channels.notes)
    with pytest.raises(FunnelkitError, match="Nothing to compare"):
        plain.covariate_comparison(by=None)


def test_bad_calls_say_what_to_do(world) -> None:
    _, log, model, _ = world
    with pytest.raises(FunnelkitError, match="Did you mean one of these: \\['channel'\\]"):
        model.covariate_comparison(by="chanel")
    loaded = LifecycleModel.from_json(model.to_json())
    with pytest.raises(FunnelkitError, match="holds no customers"):
        loaded.covariate_comparison()
    other = LifecycleModel(n_resamples=0, membership_stage=None).fit(log, Funnel.community())
    with pytest.raises(FunnelkitError, match="needs customers built with the fitted funnel"):
        covariate_comparison(model.fit_, other.customers_)


def test_a_loaded_model_compares_the_events_it_is_given(world) -> None:
    sim, log, model, result = world
    loaded = LifecycleModel.from_json(model.to_json())
    again = loaded.covariate_comparison(log=log, observation_end=sim.observation_end)
    assert again == result


def test_counts_without_money_and_small_data_fall_back_to_purchase_effects() -> None:
    sim = simulate_community(4_000, seed=12)
    log = EventLog.from_frame(sim.events, attribute_cols=["channel"])  # no value column
    model = LifecycleModel(n_resamples=0).fit(log, observation_end=sim.observation_end)
    result = model.covariate_comparison()
    assert result.value_unit == "purchases" and result.spend_test is None
    assert all(v.spend_per_purchase == 1.0 for v in result.values)
    # too few customers are seen to stop buying for dropout effects: purchase effects only,
    # with intervals, and a note saying why
    assert {e.process for e in result.effects} == {"purchase"}
    assert all(e.effect.lower is not None for e in result.effects)
    assert any("enter the purchase rate only" in n for n in result.notes)
    assert result.purchase_test.df == 4


def test_fits_on_distinct_buyer_rows_are_the_fits_on_every_buyer(world) -> None:
    # buyers sharing their summary and covariates go to the fits as one weighted row: the
    # fits compress their input so anyway, and must come out the same to the last digit
    _, _, model, result = world
    table = model.customers()
    buyers = np.flatnonzero(table.group >= 0)
    codes, labels = customer_segments(table, "channel")
    covariates = {
        "channel": np.array(labels)[codes[buyers]],
        "member": (table.group[buyers] == 1).astype(float),
    }
    rfm = {k: getattr(table.at_end, k)[buyers] for k in ("frequency", "recency", "T")}
    fitter = ModifiedBetaGeoFitter(covariate_reference={"channel": result.reference})
    fitter.fit(rfm, covariates=covariates, time_unit=table.unit)
    assert result.purchase_test == fitter.covariate_test_
    expected = {(r["process"], r["covariate"]): r for r in fitter.coefficient_rows()}
    purchase = [e for e in result.effects if e.process != "spend"]
    assert len(purchase) == len(expected) == 8
    for effect in purchase:
        row = expected[(effect.process, effect.covariate)]
        assert (effect.estimate, effect.std_error) == (row["estimate"], row["std_error"])
    # the per-segment figure of members: the plain models refitted on the members only
    members = buyers[table.group[buyers] == 1]
    plain = ModifiedBetaGeoFitter().fit(
        {k: getattr(table.at_end, k)[members] for k in ("frequency", "recency", "T")},
        time_unit=table.unit,
    )
    horizon = model.fit_.grid.horizon
    (member,) = [v for v in result.values if v.level == "member"]
    assert member.n_buyers == members.size
    assert member.raw_repeat_purchases == pytest.approx(
        float(plain.expected_purchases_new_customer(horizon)), rel=1e-12
    )
