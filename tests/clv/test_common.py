"""What every CLV fitter promises beyond the estimator contract (maximum-likelihood fitters).

The fitters, their seeded inputs and their predictions are the shared cases of
``tests/_estimator_cases.py``; ``tests/test_estimator_contract.py`` checks what every
estimator promises (keyword settings, fit returns self, not-fitted errors, JSON round trip,
repr, summary). This suite adds the maximum-likelihood side: the fit result, exact setting
messages, penalizer and confidence level, and JSON dispatch between fitters.
"""

from __future__ import annotations

import warnings
from typing import Any

import pytest
from _estimator_cases import CASES, Case, fitted

import funnelkit.clv as clv
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
from funnelkit.exceptions import FunnelkitError

#: the CLV fitters checked here, and whether their predictions take customer data (the sBG's
#: survival curve does not)
TAKES_DATA: dict[type[MLEFitter], bool] = {
    BetaGeoFitter: True,
    ModifiedBetaGeoFitter: True,
    ParetoNBDFitter: True,
    BetaGeoBetaBinomFitter: True,
    GammaGammaFitter: True,
    ShiftedBetaGeoFitter: False,
}
CLV_CASES = [case for case in CASES if case.estimator in TAKES_DATA]


@pytest.fixture(params=CLV_CASES, ids=[case.name for case in CLV_CASES], scope="module")
def case(request: pytest.FixtureRequest) -> Case:
    return request.param


def test_every_public_fitter_has_a_case() -> None:
    public = {
        obj
        for obj in (getattr(clv, name) for name in clv.__all__)
        if isinstance(obj, type) and issubclass(obj, MLEFitter) and obj is not MLEFitter
    }
    assert {case.estimator for case in CLV_CASES} == set(TAKES_DATA) == public


def test_init_sets_no_fitted_attribute(case: Case) -> None:
    assert not any(name.endswith("_") for name in vars(case.estimator()))


def test_fit_sets_the_fit_result(case: Case) -> None:
    model = case.estimator(conf_level=0.9)
    settings = model.get_params()
    case.fit(model, case.data(1))
    assert model.get_params() == settings
    assert set(model.params_) == set(case.estimator._param_names)
    assert isinstance(model.result_, FitResult)
    assert model.result_.log_likelihood == model.log_likelihood_
    assert model.result_.conf_level == 0.9
    assert model.result_.aic == pytest.approx(2 * len(model.params_) - 2 * model.log_likelihood_)


def test_a_clean_fit_is_quiet_and_deterministic(case: Case) -> None:
    model, data = fitted(case)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a clean simulated fit must not warn
        again = case.fit(case.estimator(), data)
    assert again.params_ == model.params_


def test_not_fitted_error_is_an_attribute_error(case: Case) -> None:
    assert not hasattr(case.estimator(), "result_")


def test_json_round_trip_restores_the_fit_result(case: Case) -> None:
    model, _ = fitted(case)
    text = model.to_json()
    # the contract suite compares params_ and predictions; the whole result is equal too
    assert case.estimator.from_json(text).result_ == model.result_
    # the base class dispatches on the stored fitter name
    assert type(MLEFitter.from_json(text)) is case.estimator


def test_loaded_model_needs_explicit_data(case: Case) -> None:
    if not TAKES_DATA[case.estimator]:
        pytest.skip("predictions of this fitter take no customer data")
    loaded = case.estimator.from_json(fitted(case)[0].to_json())
    with pytest.raises(FunnelkitError, match="data="):
        case.predict(loaded, None)


def test_json_of_another_fitter_is_refused(case: Case) -> None:
    other = next(c.estimator for c in CLV_CASES if c.estimator is not case.estimator)
    with pytest.raises(FunnelkitError, match="cannot be loaded"):
        other.from_json(fitted(case)[0].to_json())


def test_fit_result_round_trip(case: Case) -> None:
    model = fitted(case)[0]
    result = model.result_
    assert FitResult.from_json(result.to_json()) == result
    frame = result.summary()
    assert list(frame["parameter"]) == list(model.params_)
    assert {"estimate", "std_error"} <= set(frame.columns)


def test_reprs(case: Case) -> None:
    name = case.name
    assert repr(case.estimator(penalizer=0.5)) == f"{name}(penalizer=0.5)"
    assert "<table" in case.estimator()._repr_html_()
    model = fitted(case)[0]
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
    model = case.estimator(**{setting: value})  # construction never validates
    message = f"The '{setting}' parameter of {case.name} must be {rule}. Got {value!r} instead."
    with pytest.raises(FunnelkitError) as info:
        case.fit(model, case.data(3))
    assert str(info.value) == message


def test_initial_params_are_validated(case: Case) -> None:
    with pytest.raises(FunnelkitError, match="'initial_params' parameter"):
        case.fit(case.estimator(initial_params={"bogus": 1.0}), case.data(3))


def test_penalizer_shrinks_the_parameters(case: Case) -> None:
    model, data = fitted(case)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        penalized = case.fit(case.estimator(penalizer=0.01), data)
    size = sum(v**2 for v in model.params_.values())
    assert sum(v**2 for v in penalized.params_.values()) < size
    assert penalized.log_likelihood_ < model.log_likelihood_


def test_confidence_level_sets_interval_width(case: Case) -> None:
    model, data = fitted(case)
    narrow = case.fit(case.estimator(conf_level=0.5), data)
    for name, est in model.result_.params.items():
        assert est.ci is not None and est.std_error is not None
        other = narrow.result_.params[name].ci
        assert other is not None
        assert est.ci[0] < other[0] < est.estimate < other[1] < est.ci[1]
