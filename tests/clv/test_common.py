"""The common suite every CLV fitter must pass (scikit-learn style estimator checks).

Adding a fitter is one entry in ``CASES``: the class, a function building a small fitting
input from a seed, and a prediction that a model loaded back from JSON must reproduce.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

from funnelkit.clv import (
    BetaGeoBetaBinomFitter,
    BetaGeoFitter,
    FitResult,
    GammaGammaFitter,
    MLEFitter,
    ModifiedBetaGeoFitter,
    ParetoNBDFitter,
    ShiftedBetaGeoFitter,
)
from funnelkit.datasets.btyd import (
    simulate_bgbb,
    simulate_bgnbd,
    simulate_mbgnbd,
    simulate_pareto_nbd,
)
from funnelkit.datasets.spend import simulate_contract_lifetimes, simulate_spend
from funnelkit.exceptions import FunnelkitError, NotFittedError


@dataclass(frozen=True)
class Case:
    fitter: type[MLEFitter]
    data: Callable[[int], Any]
    predict: Callable[[Any, Any], Any]
    takes_data: bool = True  # predictions accept data=None (training customers)


def _ages(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).uniform(20, 80, 2000)


def _rfm_predict(model: Any, data: Any) -> Any:
    return (model.expected_purchases(5.0, data), model.probability_alive(data))


def _spend_data(seed: int) -> dict[str, np.ndarray]:
    freq = np.random.default_rng(seed).poisson(2.0, 2000).astype(float)
    sim = simulate_spend(freq, p=6.0, q=4.0, v=15.0, seed=seed)
    return {"frequency": sim.frequency, "monetary_value": sim.monetary_value}


def _contract_data(seed: int) -> dict[str, np.ndarray]:
    sim = simulate_contract_lifetimes(2000, alpha=0.7, beta=1.2, observed_periods=8, seed=seed)
    return {"duration": sim.durations, "churned": sim.churned}


CASES = [
    Case(BetaGeoFitter, lambda s: simulate_bgnbd(2000, T=_ages(s), seed=s).rfm, _rfm_predict),
    Case(
        ModifiedBetaGeoFitter, lambda s: simulate_mbgnbd(2000, T=_ages(s), seed=s).rfm, _rfm_predict
    ),
    Case(
        ParetoNBDFitter, lambda s: simulate_pareto_nbd(2000, T=_ages(s), seed=s).rfm, _rfm_predict
    ),
    Case(
        BetaGeoBetaBinomFitter,
        lambda s: simulate_bgbb(2000, n_periods=6, seed=s).rfm,
        lambda m, d: (m.expected_purchases(3, d), m.probability_alive(d)),
    ),
    Case(GammaGammaFitter, _spend_data, lambda m, d: m.expected_spend(d)),
    Case(
        ShiftedBetaGeoFitter,
        _contract_data,
        lambda m, d: m.survival_function(np.arange(10)),
        takes_data=False,
    ),
]
IDS = [case.fitter.__name__ for case in CASES]


@pytest.fixture(params=CASES, ids=IDS, scope="module")
def case(request: pytest.FixtureRequest) -> Case:
    return request.param


@pytest.fixture(scope="module")
def fitted(case: Case) -> tuple[MLEFitter, Any]:
    data = case.data(0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a clean simulated fit must not warn
        return case.fitter().fit(data), data


def _same_outputs(a: Any, b: Any) -> None:
    if isinstance(a, tuple):
        for x, y in zip(a, b, strict=True):
            np.testing.assert_array_equal(x, y)
    else:
        np.testing.assert_array_equal(a, b)


def test_init_only_stores_settings(case: Case) -> None:
    model = case.fitter()
    assert set(vars(model)) == set(model.get_params())
    assert not any(name.endswith("_") for name in vars(model))


def test_fit_returns_self_and_sets_fitted_attributes(case: Case) -> None:
    model = case.fitter(conf_level=0.9)
    settings = model.get_params()
    assert model.fit(case.data(1)) is model
    assert model.get_params() == settings
    assert set(model.params_) == set(case.fitter._param_names)
    assert isinstance(model.result_, FitResult)
    assert model.result_.log_likelihood == model.log_likelihood_
    assert model.result_.conf_level == 0.9
    assert model.result_.aic == pytest.approx(2 * len(model.params_) - 2 * model.log_likelihood_)


def test_fit_is_deterministic(case: Case, fitted: tuple[MLEFitter, Any]) -> None:
    model, data = fitted
    assert case.fitter().fit(data).params_ == model.params_


def test_not_fitted_errors(case: Case) -> None:
    model = case.fitter()
    with pytest.raises(NotFittedError, match="not fitted"):
        _ = model.params_
    with pytest.raises(NotFittedError):
        model.to_json()
    with pytest.raises(NotFittedError):
        case.predict(model, case.data(2))
    assert not hasattr(model, "result_")  # NotFittedError is an AttributeError


def test_json_round_trip_is_exact(case: Case, fitted: tuple[MLEFitter, Any]) -> None:
    model, data = fitted
    text = model.to_json()
    loaded = case.fitter.from_json(text)
    assert type(loaded) is case.fitter
    assert loaded.params_ == model.params_
    assert loaded.result_ == model.result_
    assert loaded.get_params() == model.get_params()
    assert loaded.to_json() == text
    _same_outputs(case.predict(loaded, data), case.predict(model, data))
    # the base class dispatches on the stored fitter name
    assert type(MLEFitter.from_json(text)) is case.fitter


def test_loaded_model_needs_explicit_data(case: Case, fitted: tuple[MLEFitter, Any]) -> None:
    if not case.takes_data:
        pytest.skip("predictions of this fitter take no customer data")
    loaded = case.fitter.from_json(fitted[0].to_json())
    with pytest.raises(FunnelkitError, match="data="):
        case.predict(loaded, None)


def test_json_of_another_fitter_is_refused(case: Case, fitted: tuple[MLEFitter, Any]) -> None:
    other = next(c.fitter for c in CASES if c.fitter is not case.fitter)
    with pytest.raises(FunnelkitError, match="cannot be loaded"):
        other.from_json(fitted[0].to_json())


def test_fit_result_round_trip(fitted: tuple[MLEFitter, Any]) -> None:
    result = fitted[0].result_
    assert FitResult.from_json(result.to_json()) == result
    frame = result.summary()
    assert list(frame["parameter"]) == list(fitted[0].params_)
    assert {"estimate", "std_error"} <= set(frame.columns)


def test_reprs(case: Case, fitted: tuple[MLEFitter, Any]) -> None:
    name = case.fitter.__name__
    assert repr(case.fitter()) == f"{name}()"
    assert repr(case.fitter(penalizer=0.5)) == f"{name}(penalizer=0.5)"
    assert "<table" in case.fitter()._repr_html_()
    model = fitted[0]
    assert repr(model).startswith(f"<{name}(") and "fitted on" in repr(model)
    html = model._repr_html_()
    text = str(model.result_)
    for param in model.params_:
        assert param in html and param in text


@pytest.mark.parametrize(
    ("setting", "value", "rule"),
    [
        ("penalizer", -1, ">= 0"),
        ("penalizer", float("nan"), ">= 0"),
        ("conf_level", 1.5, "in (0, 1)"),
        ("max_iter", 0, ">= 1"),
    ],
)
def test_settings_are_validated_at_fit(case: Case, setting: str, value: Any, rule: str) -> None:
    model = case.fitter(**{setting: value})  # construction never validates
    message = (
        f"The '{setting}' parameter of {case.fitter.__name__} must be {rule}. "
        f"Got {value!r} instead."
    )
    with pytest.raises(FunnelkitError) as info:
        model.fit(case.data(3))
    assert str(info.value) == message


def test_initial_params_are_validated(case: Case) -> None:
    with pytest.raises(FunnelkitError, match="'initial_params' parameter"):
        case.fitter(initial_params={"bogus": 1.0}).fit(case.data(3))


def test_penalizer_shrinks_the_parameters(case: Case, fitted: tuple[MLEFitter, Any]) -> None:
    model, data = fitted
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        penalized = case.fitter(penalizer=0.01).fit(data)
    size = sum(v**2 for v in model.params_.values())
    assert sum(v**2 for v in penalized.params_.values()) < size
    assert penalized.log_likelihood_ < model.log_likelihood_


def test_confidence_level_sets_interval_width(case: Case, fitted: tuple[MLEFitter, Any]) -> None:
    model, data = fitted
    narrow = case.fitter(conf_level=0.5).fit(data)
    for name, est in model.result_.params.items():
        assert est.ci is not None and est.std_error is not None
        other = narrow.result_.params[name].ci
        assert other is not None
        assert est.ci[0] < other[0] < est.estimate < other[1] < est.ci[1]
