"""LifecycleModel: estimator conventions, settings, results and their JSON."""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import pandas as pd
import pytest

import funnelkit
from funnelkit import EventLog, Funnel, FunnelkitError, NotFittedError, Stage
from funnelkit.exceptions import DataError
from funnelkit.lifecycle import AdvanceValue, LifecycleModel, StageValues

from .conftest import Community


def test_exported_at_the_top_level() -> None:
    assert funnelkit.LifecycleModel is LifecycleModel


def test_init_stores_settings_and_fit_returns_self(community: Community) -> None:
    model = LifecycleModel(horizon=6, time_unit="month", n_bootstrap=0)
    assert set(vars(model)) == set(model.get_params())
    assert repr(model) == "LifecycleModel(horizon=6, n_resamples=0)"
    assert model.fit(community.log, observation_end=community.sim.observation_end) is model


def test_not_fitted_errors() -> None:
    model = LifecycleModel()
    with pytest.raises(NotFittedError, match="not fitted yet"):
        model.stage_values()
    with pytest.raises(NotFittedError, match="stage_values_"):
        _ = model.stage_values_
    with pytest.raises(NotFittedError):
        model.value_of_advancing("visitor", "member")
    with pytest.raises(AttributeError):
        _ = model.no_such_thing


@pytest.mark.parametrize(
    ("setting", "value", "message"),
    [
        ("horizon", -1, "The 'horizon' parameter of LifecycleModel must be > 0. Got -1 instead."),
        ("horizon", math.inf, "'horizon' parameter of LifecycleModel must be > 0"),
        ("discount_rate", -0.1, "'discount_rate' parameter of LifecycleModel must be >= 0"),
        ("conf_level", 1.0, "'conf_level' parameter of LifecycleModel must be in (0, 1)"),
        ("n_bootstrap", 2.5, "'n_resamples' parameter of LifecycleModel must be an int >= 0"),
        ("n_resamples", True, "'n_resamples' parameter of LifecycleModel must be an int"),
        ("n_grid", 3, "'n_grid' parameter of LifecycleModel must be an int >= 10"),
        ("time_unit", "fortnight", "'time_unit' parameter of LifecycleModel must be a time unit"),
        ("period", "m", "'period' parameter of LifecycleModel must be a time unit"),
        ("purchase_model", "nbd", "'purchase_model' parameter of LifecycleModel must be one of"),
        ("purchase_model", object(), "'purchase_model' parameter of LifecycleModel"),
        ("conversion_model", "gamma", "'conversion_model' parameter of LifecycleModel"),
        ("purchase_events", "purchase", "'purchase_events' parameter of LifecycleModel"),
        ("membership_stage", 3, "'membership_stage' parameter of LifecycleModel"),
        ("progress", "yes", "'progress' parameter of LifecycleModel must be callable"),
        ("random_state", -1, "'seed' parameter of LifecycleModel must be an int >= 0 or"),
        ("seed", 1.5, "'seed' parameter of LifecycleModel must be an int >= 0 or"),
    ],
)
def test_settings_are_validated_at_fit_time(
    community: Community, setting: str, value: object, message: str
) -> None:
    model = LifecycleModel(**{setting: value})  # type: ignore[arg-type]
    with pytest.raises(FunnelkitError) as info:
        model.fit(community.log)
    assert message in str(info.value)


def test_bad_inputs(community: Community) -> None:
    with pytest.raises(FunnelkitError, match="takes an EventLog"):
        LifecycleModel(n_bootstrap=0).fit(community.sim.events)
    with pytest.raises(FunnelkitError, match="funnel must be a Funnel"):
        LifecycleModel(n_bootstrap=0).fit(community.log, ["prospect"])  # type: ignore[arg-type]
    with pytest.raises(DataError, match="No purchase events"):
        LifecycleModel(n_bootstrap=0, purchase_events=("order",)).fit(community.log)
    with pytest.raises(FunnelkitError, match="No stage named 'buyer'"):
        LifecycleModel(n_bootstrap=0, membership_stage="buyer").fit(community.log)


def test_stage_values_are_a_mapping_in_funnel_order(fitted: LifecycleModel) -> None:
    values = fitted.stage_values()
    assert isinstance(values, Mapping)
    assert list(values) == ["prospect", "visitor", "member", "repeat_buyer"]
    for name, sv in values.items():
        assert sv.stage == name
        lo, hi = sv.ci
        assert lo < sv.value < hi
        assert sv.std_error > 0
    assert values["prospect"].value < values["visitor"].value < values["member"].value
    assert values["repeat_buyer"].share_bought_before == 1.0
    assert values["member"].share_bought_before == 0.0
    assert set(values.buyer_values) == {"non-member", "member"}
    assert values.buyer_values["member"].value > values.buyer_values["non-member"].value
    assert values.interval_method.startswith("percentile bootstrap over customers")
    assert "prospect" in values.as_text() and "<table" in values._repr_html_()


def test_results_round_trip_through_json(fitted: LifecycleModel) -> None:
    values = fitted.stage_values()
    assert StageValues.from_json(values.to_json()) == values
    adv = fitted.value_of_advancing("visitor", "member")
    assert AdvanceValue.from_json(adv.to_json()) == adv


def test_value_of_advancing_is_the_paired_difference(fitted: LifecycleModel) -> None:
    values = fitted.stage_values()
    adv = fitted.value_of_advancing("visitor", "member")
    assert adv.value == pytest.approx(values["member"].value - values["visitor"].value)
    assert adv.source_value == values["visitor"].value
    assert adv.ci[0] < adv.value < adv.ci[1]
    # paired bootstrap differences vary less than the two values separately
    assert adv.std_error < values["member"].std_error + values["visitor"].std_error
    backwards = fitted.value_of_advancing("member", "visitor")
    assert backwards.value == pytest.approx(-adv.value)
    with pytest.raises(FunnelkitError, match="No stage named 'buyer'"):
        fitted.value_of_advancing("visitor", "buyer")


def test_fitted_attributes(fitted: LifecycleModel) -> None:
    assert fitted.groups_ == ("non-member", "member")
    assert set(fitted.purchase_models_) == set(fitted.groups_)
    assert set(fitted.first_purchase_) == {"prospect", "visitor", "member"}
    est = fitted.first_purchase_["member"]
    assert est.target == "first purchase" and est.eventual_rate is not None
    assert fitted.time_unit_.value == "day"
    assert fitted.n_customers_ == 8_000


def test_no_bootstrap_gives_values_without_intervals(community: Community) -> None:
    model = LifecycleModel(n_bootstrap=0).fit(
        community.log, observation_end=community.sim.observation_end
    )
    sv = model.stage_values()
    assert all(v.ci is None and v.value is not None for v in sv.values())
    assert model.value_of_advancing("prospect", "visitor").ci is None
    assert sv.interval_method == "none (no bootstrap)"


def test_seeded_bootstrap_is_reproducible(community: Community) -> None:
    def fit() -> StageValues:
        model = LifecycleModel(n_bootstrap=10, random_state=5)
        return model.fit(
            community.log, observation_end=community.sim.observation_end
        ).stage_values()

    assert fit() == fit()


def test_horizon_units_and_discounting(community: Community) -> None:
    def value(**settings: object) -> float:
        model = LifecycleModel(n_bootstrap=0, **settings)  # type: ignore[arg-type]
        sv = model.fit(community.log, observation_end=community.sim.observation_end)
        return float(sv.stage_values()["member"].value)

    year = value(horizon=1, time_unit="year")
    assert value(horizon=12, time_unit="month") == pytest.approx(year, rel=1e-9)
    assert value(horizon=6, time_unit="month") < year
    assert value(horizon=1, time_unit="year", discount_rate=0.2) < year


def test_a_funnel_without_the_membership_stage_fits_one_group(community: Community) -> None:
    funnel = Funnel(
        stages=[
            Stage(name="visitor", events=["visit"]),
            Stage(name="buyer", events=["purchase"]),
            Stage(name="repeat", events=["purchase"], min_count=2),
        ]
    )
    model = LifecycleModel(n_bootstrap=0).fit(
        community.log, funnel, observation_end=community.sim.observation_end
    )
    assert model.groups_ == ("all buyers",)
    assert any("no stage 'member'" in n for n in model.notes_)
    sv = model.stage_values()
    # "buyer" is entered at the first purchase: its value is the value of a new buyer
    assert sv["buyer"].value == pytest.approx(sv.buyer_values["all buyers"].value)
    assert sv["visitor"].value < sv["buyer"].value < sv["repeat"].value


def test_a_log_without_values_counts_purchases(community: Community) -> None:
    frame = community.sim.events.drop(columns=["value"])
    log = EventLog.from_frame(frame, attribute_cols=["channel"])
    model = LifecycleModel(n_bootstrap=0).fit(log, observation_end=community.sim.observation_end)
    sv = model.stage_values()
    assert sv.value_unit == "purchases"
    assert 0 < sv["prospect"].value < sv["member"].value < 20
    assert any("every purchase is worth 1" in n for n in model.notes_)


def test_members_joining_after_buying_are_valued_from_their_history() -> None:
    # Two customers join after their first purchase: they are post-entrants of "member".
    rows = []
    rng = np.random.default_rng(4)
    for c in range(600):
        t = rng.uniform(0, 50)
        rows.append((c, t, "touch", np.nan))
        rows.append((c, t + 1, "visit", np.nan))
        if c % 2:
            rows.append((c, t + 2, "join", np.nan))
        k = 0
        s = t + 3 + rng.exponential(10)
        while s < 200 and k < 20:
            rows.append((c, s, "purchase", 10.0))
            s += rng.exponential(15 if c % 2 else 40)
            k += 1
    rows.append((10_000, 0.0, "touch", np.nan))
    rows.append((10_000, 1.0, "visit", np.nan))
    rows.append((10_000, 2.0, "purchase", 10.0))
    rows.append((10_000, 5.0, "join", np.nan))
    frame = pd.DataFrame(rows, columns=["customer_id", "timestamp", "event", "value"])
    log = EventLog.from_frame(frame, value_col="value")
    model = LifecycleModel(n_bootstrap=0).fit(log)
    sv = model.stage_values()
    assert 0 < sv["member"].share_bought_before < 0.01
    assert sv["member"].value > sv["visitor"].value
