"""The promises every funnelkit estimator keeps, checked over all of them at once.

Adding an estimator is one entry in ``CASES``: how to build a small fitting input from a
seed, how to call ``fit``, a prediction that a model loaded back from JSON must reproduce,
and the name of one fitted attribute. A check that an estimator does not pass yet is listed
in its ``xfail`` mapping (check name → reason) and fails the suite once it passes.
"""

from __future__ import annotations

import inspect
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest

from funnelkit import ConversionFitter, EventLog, LifecycleModel, StageMarkovFitter
from funnelkit.clv import (
    BetaGeoBetaBinomFitter,
    BetaGeoFitter,
    GammaGammaFitter,
    ModifiedBetaGeoFitter,
    ParetoNBDFitter,
    ShiftedBetaGeoFitter,
    TimeVaryingParetoNBDFitter,
)
from funnelkit.datasets import simulate_community
from funnelkit.datasets.btyd import (
    simulate_bgbb,
    simulate_bgnbd,
    simulate_mbgnbd,
    simulate_pareto_nbd,
)
from funnelkit.datasets.conversion import simulate_transitions
from funnelkit.datasets.covariates import simulate_bgnbd_covariates
from funnelkit.datasets.spend import simulate_contract_lifetimes, simulate_spend
from funnelkit.datasets.time_varying import simulate_time_varying_pareto_nbd
from funnelkit.dynamics import simulate_stage_chain
from funnelkit.exceptions import NotFittedError


@dataclass(frozen=True)
class Case:
    estimator: type[Any]
    data: Callable[[int], Any]
    predict: Callable[[Any, Any], Any]
    fit: Callable[[Any, Any], Any] = lambda model, data: model.fit(data)
    #: check name → why this estimator does not pass it yet (a strict xfail)
    xfail: dict[str, str] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.estimator.__name__


def _ages(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).uniform(20, 80, 1000)


def _rfm_predict(model: Any, data: Any) -> Any:
    return (model.expected_purchases(5.0, data), model.probability_alive(data))


def _spend_data(seed: int) -> dict[str, np.ndarray]:
    freq = np.random.default_rng(seed).poisson(2.0, 1000).astype(float)
    sim = simulate_spend(freq, p=6.0, q=4.0, v=15.0, seed=seed)
    return {"frequency": sim.frequency, "monetary_value": sim.monetary_value}


def _contract_data(seed: int) -> dict[str, np.ndarray]:
    sim = simulate_contract_lifetimes(1000, alpha=0.7, beta=1.2, observed_periods=8, seed=seed)
    return {"duration": sim.durations, "churned": sim.churned}


def _conversion_data(seed: int) -> Any:
    return simulate_transitions(600, seed=seed).journeys


def _conversion_predict(model: ConversionFitter, journeys: Any) -> Any:
    est = model.estimate("visitor", "member")
    frame = model.summary()
    return (
        frame[["estimate", "std_error", "lower", "upper"]].to_numpy(),
        np.array([est.rate_within(5.0).rate, *est.eventual_rate_ci, *est.median_time_ci]),
    )


def _chain_data(seed: int) -> Any:
    sim = simulate_stage_chain(600, advance_rates=[0.2, 0.1], dropout_rates=[0.1, 0.05], seed=seed)
    return sim.funnel.journeys(sim.log(), observation_end=80.0)


def _chain_predict(model: StageMarkovFitter, journeys: Any) -> Any:
    forecast = model.forecast(journeys, horizon=20.0, n_points=5, n_resamples=20, seed=3)
    return (
        forecast.to_frame()[["expected", "lower", "upper"]].to_numpy(),
        model.probability_active(journeys),
        np.array(list(model.probability_of_reaching("s2").values()), dtype=float),
        np.array(list(model.expected_time_to("s2").values()), dtype=float),
        model.summary()[["estimate", "std_error", "lower", "upper"]].to_numpy(),
    )


@dataclass(frozen=True)
class _Community:
    log: EventLog
    end: Any


def _community_data(seed: int) -> _Community:
    sim = simulate_community(1500, seed=seed)
    log = EventLog.from_frame(sim.events, value_col="value", attribute_cols=["channel"])
    return _Community(log, sim.observation_end)


def _lifecycle_predict(model: LifecycleModel, data: _Community) -> Any:
    scores = model.score(data.log, observation_end=data.end, backend="pandas")
    numbers = scores.select_dtypes("number").to_numpy()
    return (model.summary()[["estimate", "std_error", "lower", "upper"]].to_numpy(), numbers)


class BetaGeoFitterWithCovariates(BetaGeoFitter):
    """BG/NBD checked once more, fitted with covariates (its own name keeps its own fit)."""


def _covariate_data(seed: int) -> Any:
    effects = {"purchase": {"member[True]": 0.4}, "dropout": {"channel[tiktok]": 0.5}}
    return simulate_bgnbd_covariates(1000, T=_ages(seed), coefficients=effects, seed=seed)


def _covariate_predict(model: Any, data: Any) -> Any:
    rfm, covariates = data.rfm, data.covariates
    return (
        model.expected_purchases(5.0, rfm, covariates=covariates),
        model.probability_alive(rfm, covariates=covariates),
        model.coefficients_[["estimate", "std_error", "lower", "upper"]].to_numpy(),
    )


CASES: list[Case] = [
    Case(BetaGeoFitter, lambda s: simulate_bgnbd(1000, T=_ages(s), seed=s).rfm, _rfm_predict),
    Case(
        ModifiedBetaGeoFitter, lambda s: simulate_mbgnbd(1000, T=_ages(s), seed=s).rfm, _rfm_predict
    ),
    Case(
        ParetoNBDFitter, lambda s: simulate_pareto_nbd(1000, T=_ages(s), seed=s).rfm, _rfm_predict
    ),
    Case(
        BetaGeoBetaBinomFitter,
        lambda s: simulate_bgbb(1000, n_periods=6, seed=s).rfm,
        lambda m, d: (m.expected_purchases(3, d), m.probability_alive(d)),
    ),
    Case(GammaGammaFitter, _spend_data, lambda m, d: m.expected_spend(d)),
    Case(ShiftedBetaGeoFitter, _contract_data, lambda m, d: m.survival_function(np.arange(10))),
    Case(
        BetaGeoFitterWithCovariates,
        _covariate_data,
        _covariate_predict,
        fit=lambda model, data: model.fit(data.rfm, covariates=data.covariates),
    ),
    Case(ConversionFitter, _conversion_data, _conversion_predict),
    Case(StageMarkovFitter, _chain_data, _chain_predict),
    Case(
        TimeVaryingParetoNBDFitter,
        lambda s: simulate_time_varying_pareto_nbd(300, seed=s),
        lambda m, d: m.expected_purchases(4.0, d.events, covariates=d.covariates),
        fit=lambda model, data: model.fit(
            data.events, covariates=data.covariates, calibration_end=data.calibration_end
        ),
    ),
    Case(
        LifecycleModel,
        _community_data,
        _lifecycle_predict,
        fit=lambda model, data: model.fit(data.log, observation_end=data.end),
    ),
]


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


_FITTED: dict[str, tuple[Any, Any]] = {}


def _fitted(case: Case) -> tuple[Any, Any]:
    """One fitted model per estimator for the whole module (fits are the slow part)."""
    if case.name not in _FITTED:
        data = case.data(0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _FITTED[case.name] = (case.fit(case.estimator(), data), data)
    return _FITTED[case.name]


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
    for model in (case.estimator(), _fitted(case)[0]):
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
    model, data = _fitted(case)
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
    model = _fitted(case)[0]
    frame = model.summary()
    assert {"estimate", "std_error", "lower", "upper"} <= set(frame.columns)
    assert len(frame) > 0
    polars = pytest.importorskip("polars")
    assert isinstance(model.summary(backend="polars"), polars.DataFrame)
