"""The promises every funnelkit estimator keeps, checked over all of them at once.

Adding an estimator is one entry in ``CASES`` (``tests/_estimator_cases.py``): how to build
a small fitting input from a seed, how to call ``fit``, and a prediction that a model loaded
back from JSON must reproduce. A check that an estimator does not pass yet is listed in its
``xfail`` mapping (check name → reason) and fails the suite once it passes.
"""

from __future__ import annotations

import inspect
import warnings
from typing import Any

import numpy as np
import pytest
from _estimator_cases import CASES, Case, fitted

from funnelkit.exceptions import NotFittedError


def _cases(check: str) -> list[Any]:
    return [
        pytest.param(
            case,
            id=case.name,
            marks=(
                [pytest.mark.xfail(strict=True, reason=case.xfail[check])]
                if check in case.xfail
                else []
            ),
        )
        for case in CASES
    ]


def _dumped(state: Any) -> Any:
    # frozen results compare by their JSON (private caches may differ after a round trip)
    return state.model_dump_json() if hasattr(state, "model_dump_json") else state


def _same(a: Any, b: Any) -> None:
    if isinstance(a, tuple):
        assert len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            _same(x, y)
    else:
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("case", _cases("settings"))
def test_init_only_stores_keyword_settings(case: Case) -> None:
    params = inspect.signature(case.estimator.__init__).parameters
    kinds = {name: p.kind for name, p in params.items() if name != "self"}
    assert kinds and set(kinds.values()) == {inspect.Parameter.KEYWORD_ONLY}
    model = case.estimator()
    assert set(vars(model)) == set(model.get_params())
    assert not model.is_fitted


@pytest.mark.parametrize("case", _cases("fit"))
def test_fit_returns_self_and_sets_only_trailing_underscore_attributes(case: Case) -> None:
    model = case.estimator()
    before = set(vars(model))
    for name in case.estimator._fitted_attributes:
        assert name.endswith("_") and name not in before
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert case.fit(model, case.data(1)) is model
    added = {name for name in set(vars(model)) - before if not name.startswith("_")}
    assert added and all(name.endswith("_") for name in added)
    assert set(case.estimator._fitted_attributes) <= set(vars(model))
    assert model.is_fitted


@pytest.mark.parametrize("case", _cases("not_fitted"))
def test_not_fitted_errors_for_attributes_and_predictions(case: Case) -> None:
    model = case.estimator()
    for name in case.estimator._fitted_attributes:
        with pytest.raises(NotFittedError, match="not fitted yet"):
            getattr(model, name)
    with pytest.raises(NotFittedError, match="not fitted yet"):
        case.predict(model, case.data(2))
    with pytest.raises(NotFittedError):
        model.to_json()


@pytest.mark.parametrize("case", _cases("typo"))
def test_a_typo_is_an_attribute_error_with_a_suggestion(case: Case) -> None:
    name = case.estimator._fitted_marker
    typo = name[0] + name[2:]  # "result_" -> "rsult_"
    for model in (case.estimator(), fitted(case)[0]):
        with pytest.raises(AttributeError, match=f"Did you mean .*'{name}'") as info:
            getattr(model, typo)
        assert not isinstance(info.value, NotFittedError)


@pytest.mark.parametrize("case", _cases("params"))
def test_get_params_and_set_params_round_trip(case: Case) -> None:
    model = case.estimator(conf_level=0.9)
    params = model.get_params()
    assert params["conf_level"] == 0.9
    clone = case.estimator(**params)
    assert clone.get_params() == params
    assert case.estimator().set_params(**params).get_params() == params
    assert model.set_params(conf_level=0.8) is model and model.conf_level == 0.8


@pytest.mark.parametrize("case", _cases("repr"))
def test_repr_shows_the_settings_that_differ_from_the_defaults(case: Case) -> None:
    assert repr(case.estimator()) == f"{case.name}()"
    assert repr(case.estimator(conf_level=0.9)) == f"{case.name}(conf_level=0.9)"


@pytest.mark.parametrize("case", _cases("json"))
def test_json_round_trip_predicts_identically(case: Case) -> None:
    model, data = fitted(case)
    text = model.to_json()
    loaded = case.estimator.from_json(text)
    assert type(loaded) is case.estimator
    assert loaded.get_params() == model.get_params()
    marker = case.estimator._fitted_marker
    assert _dumped(getattr(loaded, marker)) == _dumped(getattr(model, marker))
    assert loaded.to_json() == text
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _same(case.predict(loaded, data), case.predict(model, data))


@pytest.mark.parametrize("case", _cases("summary"))
def test_summary_is_a_method_returning_the_estimates_table(case: Case) -> None:
    model = fitted(case)[0]
    frame = model.summary()
    assert {"estimate", "std_error", "lower", "upper"} <= set(frame.columns)
    assert len(frame) > 0
    polars = pytest.importorskip("polars")
    assert isinstance(model.summary(backend="polars"), polars.DataFrame)
