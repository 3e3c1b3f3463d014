"""LifecycleModel keeps the estimator promises: settings, not-fitted errors, save and load."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

from funnelkit import EventLog, Funnel
from funnelkit.datasets import simulate_community
from funnelkit.exceptions import FunnelkitError, NotFittedError
from funnelkit.lifecycle import LifecycleFit, LifecycleModel, StageValue, StageValues


@dataclass(frozen=True)
class Split:
    train: EventLog
    new: EventLog
    end: Any
    model: LifecycleModel
    loaded: LifecycleModel


@pytest.fixture(scope="module")
def split() -> Split:
    # Fit on three quarters of the customers; the rest are new customers to score.
    sim = simulate_community(6_000, seed=8)
    ids = sim.events["customer_id"].unique()
    events = sim.events
    train = events[events["customer_id"].isin(ids[:4500])]
    new = events[events["customer_id"].isin(ids[4500:])]
    read = {"value_col": "value", "attribute_cols": ["channel"]}
    train_log = EventLog.from_frame(train, **read)  # type: ignore[arg-type]
    new_log = EventLog.from_frame(new, **read)  # type: ignore[arg-type]
    model = LifecycleModel(horizon=26, time_unit="week", discount_rate=0.002, n_resamples=12)
    model.fit(train_log, Funnel.community(), observation_end=sim.observation_end)
    loaded = LifecycleModel.from_json(model.to_json())
    return Split(train_log, new_log, sim.observation_end, model, loaded)


def test_fit_returns_self(split: Split) -> None:
    model = LifecycleModel(n_resamples=0)
    assert model.fit(split.train, observation_end=split.end) is model
    assert model.is_fitted and not LifecycleModel().is_fitted


def test_not_fitted_errors_name_the_fit_call() -> None:
    model = LifecycleModel()
    for use in (
        model.stage_values,
        model.score,
        model.to_json,
        lambda: model.value_of_advancing("visitor", "member"),
    ):
        with pytest.raises(NotFittedError, match=r"call fit\(log, funnel\) first"):
            use()
    for name in ("fit_", "customers_", "seed_", "random_state_", "n_bootstrap_failed_"):
        with pytest.raises(NotFittedError, match=f"before using '{name}'"):
            getattr(model, name)


def test_a_typo_is_an_attribute_error_with_a_suggestion(split: Split) -> None:
    for model in (LifecycleModel(), split.model):
        with pytest.raises(AttributeError, match="Did you mean 'stage_values_'") as info:
            _ = model.stage_value_  # type: ignore[attr-defined]
        assert not isinstance(info.value, NotFittedError)


def test_get_params_set_params_and_repr() -> None:
    model = LifecycleModel(horizon=6, n_resamples=5, seed=2)
    params = model.get_params()
    assert list(params) == [
        "horizon",
        "time_unit",
        "discount_rate",
        "period",
        "purchase_model",
        "conversion_model",
        "membership_stage",
        "purchase_events",
        "n_resamples",
        "conf_level",
        "seed",
        "n_grid",
        "n_jobs",
        "progress",
    ]
    assert repr(model) == "LifecycleModel(horizon=6, n_resamples=5, seed=2)"
    assert model.set_params(horizon=3, conf_level=0.9) is model
    assert repr(model) == "LifecycleModel(horizon=3, n_resamples=5, conf_level=0.9, seed=2)"
    with pytest.raises(FunnelkitError, match="Did you mean 'horizon'"):
        model.set_params(horizn=1)


def test_former_setting_names_are_aliases() -> None:
    model = LifecycleModel(n_bootstrap=7, random_state=None)
    assert (model.n_resamples, model.seed) == (7, None)
    assert (model.n_bootstrap, model.random_state) == (7, None)
    assert "n_bootstrap" not in model.get_params() and "random_state" not in model.get_params()
    model.set_params(n_bootstrap=3, random_state=9)
    assert (model.n_resamples, model.seed) == (3, 9)
    model.n_bootstrap = 4
    model.random_state = 1
    assert model.get_params()["n_resamples"] == 4 and model.get_params()["seed"] == 1
    assert LifecycleModel().seed == 0  # a missing alias keeps the default, not None


def test_fitted_aliases_read_the_new_attributes(split: Split) -> None:
    model = split.model
    assert model.random_state_ == model.seed_ == 0
    assert model.n_bootstrap_failed_ == model.n_resamples_failed_ == 0
    assert model.stage_values_.n_bootstrap == model.stage_values_.n_resamples == 12


def test_the_json_holds_no_customers(split: Split) -> None:
    text = split.model.to_json()
    doc = json.loads(text)
    assert sorted(doc) == ["fit", "schema_name", "schema_version", "settings"]
    assert doc["schema_name"] == "funnelkit.lifecycle.model"
    assert "progress" not in doc["settings"]
    ids = [str(i) for i in split.train.customer_ids[:50]]
    assert not any(f'"{i}"' in text for i in ids)
    assert split.loaded.customers_ is None
    assert split.loaded.to_json() == text


def test_a_loaded_model_gives_the_same_values(split: Split) -> None:
    model, loaded = split.model, split.loaded
    assert loaded.get_params() == model.get_params()
    assert loaded.stage_values() == model.stage_values()
    assert loaded.stage_values().as_text() == model.stage_values().as_text()
    for source, target in (("visitor", "member"), ("prospect", "repeat_buyer")):
        assert loaded.value_of_advancing(source, target) == model.value_of_advancing(source, target)
    assert loaded.first_purchase_ == model.first_purchase_
    assert (loaded.groups_, loaded.notes_, loaded.n_customers_) == (
        model.groups_,
        model.notes_,
        model.n_customers_,
    )
    for name, fitter in model.purchase_models_.items():
        assert loaded.purchase_models_[name].params_ == fitter.params_


def test_a_loaded_model_scores_new_customers_like_the_original(split: Split) -> None:
    original = split.model.score(split.new, observation_end=split.end)
    again = split.loaded.score(split.new, observation_end=split.end)
    assert sorted(original) == sorted(again)
    for name, column in original.items():
        np.testing.assert_array_equal(again[name], column, strict=True)
    np.testing.assert_array_equal(original["customer_id"], split.new.customer_ids)
    assert not set(original["customer_id"]) & set(split.train.customer_ids)
    buyers = np.array([g is not None for g in original["group"]])
    assert buyers.any() and (~buyers).any()
    assert np.isfinite(original["expected_value"][buyers]).all()


def test_methods_that_need_the_customers_ask_a_loaded_model_for_the_events(split: Split) -> None:
    loaded = split.loaded
    for use in (loaded.score, loaded.membership_uplift, loaded.segment_values):
        with pytest.raises(FunnelkitError, match="holds no customers: pass the events as log="):
            use()
    uplift = loaded.membership_uplift(log=split.train, observation_end=split.end)
    assert uplift == split.model.membership_uplift()
    with pytest.raises(FunnelkitError, match="log must be an EventLog, got DataFrame"):
        loaded.score(simulate_community(10, seed=1).events)  # type: ignore[arg-type]


def test_segment_values_of_a_loaded_model_from_the_events(split: Split) -> None:
    original = split.model.segment_values("channel")
    again = split.loaded.segment_values("channel", log=split.train, observation_end=split.end)
    assert again == original


def test_the_fitted_state_round_trips_on_its_own(split: Split) -> None:
    fit = split.model.fit_
    text = fit.to_json()
    assert LifecycleFit.from_json(text).to_json() == text
    assert fit.n_resamples == len(fit.replicates) == 12
    assert len(fit.seeds) == 12 and fit.stage_names == tuple(split.model.stage_values())


def test_wrong_json_is_refused() -> None:
    with pytest.raises(FunnelkitError, match="not the JSON of a fitted LifecycleModel"):
        LifecycleModel.from_json('{"settings": {}}')


def test_results_written_before_the_renames_still_load() -> None:
    old = {
        "stages": {
            "visitor": {
                "stage": "visitor",
                "value": 12.0,
                "ci": [10.0, 14.0],
                "n_entrants": 100,
                "expected_purchases": None,
            }
        },
        "horizon": 52,
        "time_unit": "W",
        "discount_rate": 0.0,
        "conf_level": 0.95,
        "n_bootstrap": 100,
        "interval_method": "bootstrap",
        "value_unit": "USD",
    }
    values = StageValues.model_validate_json(json.dumps(old))
    assert values.n_resamples == 100
    visitor = values["visitor"]
    assert isinstance(visitor, StageValue)
    lower, upper = visitor.ci  # type: ignore[misc]
    assert (lower, upper) == (10.0, 14.0) and visitor.ci == (10.0, 14.0)
    assert "expected purchases" not in values.table()[0]


def test_new_customers_who_never_bought_are_scored(split: Split) -> None:
    events = simulate_community(300, seed=5).events
    prospects = events[events["event"].isin(["touch", "visit"])]
    log = EventLog.from_frame(prospects, value_col="value", attribute_cols=["channel"])
    scores = split.loaded.score(log, observation_end=split.end)
    assert list(scores["group"]) == [None] * log.n_customers
    assert set(scores["stage"]) <= {"prospect", "visitor"}
    assert np.isnan(scores["probability_alive"]).all()
    for name in ("probability_first_purchase", "expected_purchases", "expected_value"):
        assert np.isfinite(scores[name]).all() and (scores[name] >= 0).all()


@pytest.mark.parametrize("backend", ["pandas", "polars", "pyarrow"])
def test_summary_is_a_frame_with_the_shared_columns(split: Split, backend: str) -> None:
    frame = split.model.summary(backend)  # type: ignore[arg-type]
    assert list(frame.columns if backend != "pyarrow" else frame.column_names) == [
        "stage",
        "n_entrants",
        "estimate",
        "std_error",
        "lower",
        "upper",
    ]
    if backend != "pandas":
        return
    values = split.model.stage_values()
    assert list(frame["stage"]) == list(values)
    for row, name in zip(frame.itertuples(), values, strict=True):
        sv = values[name]
        assert (row.n_entrants, row.estimate, row.std_error) == (
            sv.n_entrants,
            sv.value,
            sv.std_error,
        )
        assert (row.lower, row.upper) == tuple(sv.ci)  # type: ignore[arg-type]
        assert sv.ci is not None and sv.ci.level == 0.95 and sv.ci.estimate == sv.value


def test_segment_values_summary(split: Split) -> None:
    seg = split.model.segment_values("channel")
    frame = seg.summary()
    assert list(frame.columns) == [
        "channel",
        "n_prospects",
        "estimate",
        "std_error",
        "lower",
        "upper",
    ]
    assert list(frame["channel"]) == [r.segment for r in seg.rows]
    assert list(frame["estimate"]) == [r.value_per_prospect.value for r in seg.rows]


def test_the_customer_table_cannot_be_replaced_piecemeal(split: Split) -> None:
    import dataclasses

    customers = split.model.customers_
    assert customers is not None and customers.n_customers == split.train.n_customers
    with pytest.raises(dataclasses.FrozenInstanceError):
        customers.observation_end = 0.0  # type: ignore[misc]
