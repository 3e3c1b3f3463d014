"""BG/NBD and MBG/NBD at the boundary: limit models, their exactness and their recovery."""

from __future__ import annotations

import json

import numpy as np
import pytest

from funnelkit import RFM, BetaGeoFitter, ModifiedBetaGeoFitter
from funnelkit.clv._data import rfm_fit_data
from funnelkit.datasets import simulate_bgnbd, simulate_mbgnbd
from funnelkit.exceptions import FunnelkitError

CLASSES = [BetaGeoFitter, ModifiedBetaGeoFitter]
SIMULATORS = {BetaGeoFitter: simulate_bgnbd, ModifiedBetaGeoFitter: simulate_mbgnbd}
HISTORY = RFM.from_arrays(
    frequency=[0, 1, 4, 40, 2],
    recency=[0.0, 3.0, 20.0, 38.0, 39.0],
    T=[39.0, 39.0, 39.0, 39.0, 39.0],
    time_unit="W",
)
#: a mixing distribution this concentrated is indistinguishable from its point-mass limit
#: (the relative corrections are of order 1 / concentration times the squared horizon rate)
HUGE = 1e7
RATE_HUGE = 1e10
BETA_AT_02 = {"a": 0.2 * HUGE, "b": 0.8 * HUGE}
GAMMA_AT_005 = {"r": 0.05 * RATE_HUGE, "alpha": RATE_HUGE}


def _model(cls: type, **params: float) -> BetaGeoFitter:
    """A model in the state of a fit, set to the given (full or limit) parameters."""
    model = cls().fit(simulate_bgnbd(500, T=39.0, seed=3).rfm)
    model.params_ = dict(params)
    return model


def _predictions(model: BetaGeoFitter) -> np.ndarray:
    return np.concatenate(
        [
            model.probability_alive(HISTORY),
            model.expected_purchases(10.0, HISTORY),
            model.expected_purchases(200.0, HISTORY),
            model.expected_purchases_new_customer(np.array([1.0, 39.0, 500.0])),
            model.probability_of_purchases(np.array([0, 1, 3, 10]), 39.0),
        ]
    )


@pytest.mark.parametrize("cls", CLASSES)
def test_mixture_form_likelihood_equals_the_fast_one(cls: type) -> None:
    data = rfm_fit_data(simulate_bgnbd(800, T=39.0, seed=4).rfm)
    params = {"r": 0.6, "alpha": 12.0, "a": 0.8, "b": 2.5}
    model = cls()
    fast = model._log_likelihood(np.array(list(params.values())), data)
    mixed = model._limit_log_likelihood(params, data)
    np.testing.assert_allclose(mixed, fast, rtol=1e-11)


@pytest.mark.parametrize("cls", CLASSES)
@pytest.mark.parametrize(
    ("limit", "near"),
    [
        ({"r": 0.3, "alpha": 58.0, "p": 0.17}, {"r": 0.3, "alpha": 58.0, "a": 1.7e11, "b": 8.3e11}),
        ({"lambda": 0.05, "a": 0.8, "b": 2.5}, {"r": 0.05e13, "alpha": 1e13, "a": 0.8, "b": 2.5}),
    ],
)  # fmt: skip
def test_the_fast_likelihood_keeps_its_digits_next_to_a_limit(
    cls: type, limit: dict[str, float], near: dict[str, float]
) -> None:
    # differences of huge gammaln terms once made a fit at a + b ~ 1e12 look 44 log-
    # likelihood units better than its limit, so the optimiser stopped there
    data = rfm_fit_data(simulate_bgnbd(2000, T=52.0, seed=6).rfm)
    model = cls()
    total = model._weighted_log_likelihood(np.array(list(near.values())), data)[0]
    assert total == pytest.approx(model._total_log_likelihood(limit, data), abs=1e-4)


@pytest.mark.parametrize("cls", CLASSES)
@pytest.mark.parametrize(
    ("limit", "near"),
    [
        ({"r": 0.6, "alpha": 12.0, "p": 0.2}, {"r": 0.6, "alpha": 12.0, **BETA_AT_02}),
        ({"lambda": 0.05, "a": 0.8, "b": 2.5}, {**GAMMA_AT_005, "a": 0.8, "b": 2.5}),
        ({"lambda": 0.05, "p": 0.2}, {**GAMMA_AT_005, **BETA_AT_02}),
        ({"r": 0.6, "alpha": 12.0}, {"r": 0.6, "alpha": 12.0, "a": 1e-9, "b": 2.5}),
        ({"lambda": 0.05}, {**GAMMA_AT_005, "a": 1e-9, "b": 2.5}),
    ],
)  # fmt: skip
def test_limit_predictions_are_the_limit_of_the_general_formulas(
    cls: type, limit: dict[str, float], near: dict[str, float]
) -> None:
    exact = _predictions(_model(cls, **limit))
    approached = _predictions(_model(cls, **near))
    assert np.all(np.isfinite(exact))
    np.testing.assert_allclose(exact, approached, rtol=2e-5, atol=1e-12)


def _world(cls: type, seed: int, **params: float) -> RFM:
    sim = SIMULATORS[cls](6000, T=52.0, holdout=26.0, seed=seed, **params)
    return sim.rfm


def _no_heterogeneity(params: dict[str, float], world: str) -> bool:
    """Whether fitted parameters express the world's missing heterogeneity: its limit model,
    or (when the maximum happens to be interior, as it is for about half of the samples of
    a boundary world) a mixing distribution concentrated at the limit."""
    if world == "common p":
        return "p" in params or params.get("a", 0) + params.get("b", 0) > 300
    if world == "common rate":
        return "lambda" in params or params.get("r", 0) > 100
    return not {"a", "p"} & set(params) or params["a"] < 1e-3


WORLDS = {
    # every customer drops out with probability 0.15; purchase rates still vary
    "common p": {"r": 0.8, "alpha": 8.0, "a": 0.15e9, "b": 0.85e9},
    # everyone buys at 0.2 a week while alive; dropout probabilities vary
    "common rate": {"r": 0.2e9, "alpha": 1e9, "a": 0.8, "b": 2.5},
    # nobody drops out (dropout probabilities around 1e-12)
    "no dropout": {"r": 0.8, "alpha": 8.0, "a": 1.0, "b": 1e12},
}


@pytest.mark.parametrize("cls", CLASSES)
@pytest.mark.parametrize("world", list(WORLDS))
@pytest.mark.parametrize("seed", [11, 12])
def test_boundary_worlds_are_fitted_at_their_limit_and_predict_the_holdout(
    cls: type, world: str, seed: int
) -> None:
    rfm = _world(cls, seed, **WORLDS[world])
    model = cls().fit(rfm)
    result = model.result_
    assert result.converged, result.as_text()
    assert _no_heterogeneity(model.params_, world), result.as_text()
    if result.boundary:
        assert result.limit_test is not None
        assert result.limit_test.statistic < 0.02
        assert set(model.params_) < {"r", "alpha", "a", "b", "p", "lambda"}
    assert rfm.holdout_frequency is not None and rfm.holdout_duration is not None
    predicted = model.expected_purchases(rfm.holdout_duration, rfm).mean()
    actual = rfm.holdout_frequency.mean()
    assert abs(predicted / actual - 1.0) < 0.10


def test_a_boundary_world_reaches_its_limit_model() -> None:
    # seed 11 of the common-p world has its maximum at the boundary: the limit model is
    # the answer, stated as such
    model = BetaGeoFitter().fit(_world(BetaGeoFitter, 11, **WORLDS["common p"]))
    assert model.result_.boundary == ["common dropout probability"]
    assert set(model.params_) == {"r", "alpha", "p"}
    assert abs(model.params_["p"] - 0.15) < 0.03
    assert "the maximum is the limit model" in model.result_.message
    assert "boundary: common dropout probability" in model.result_.as_text()


@pytest.mark.parametrize("cls", CLASSES)
def test_heterogeneous_data_keep_the_full_model(cls: type) -> None:
    model = cls().fit(SIMULATORS[cls](3000, T=52.0, seed=5).rfm)
    assert model.result_.boundary == []
    assert model.result_.limit_test is None
    assert set(model.params_) == {"r", "alpha", "a", "b"}


@pytest.mark.parametrize("cls", CLASSES)
def test_limit_models_predict_without_floating_point_errors(cls: type) -> None:
    for params in (
        {"r": 0.6, "alpha": 12.0, "p": 0.2},
        {"lambda": 0.05},
        {"lambda": 0.3, "p": 0.9},
    ):
        model = _model(cls, **params)
        with np.errstate(all="raise"):
            values = _predictions(model)
            values = np.append(values, model.expected_purchases(1e6, HISTORY))
        assert np.all(np.isfinite(values))


@pytest.mark.parametrize("cls", CLASSES)
def test_a_limit_model_round_trips_through_json_and_restarts_fits(cls: type) -> None:
    rfm = _world(cls, 12, r=0.8, alpha=8.0, a=0.15e9, b=0.85e9)
    model = cls().fit(rfm)
    loaded = cls.from_json(model.to_json())
    assert loaded.params_ == model.params_
    assert loaded.result_ == model.result_
    np.testing.assert_array_equal(_predictions(loaded), _predictions(model))
    # limit parameters are valid starting values: a bootstrap refit starts from them
    again = cls(initial_params=model.params_).fit(rfm)
    assert again.params_.keys() == model.params_.keys()
    np.testing.assert_allclose(
        list(again.params_.values()), list(model.params_.values()), rtol=1e-4
    )


def test_loading_checks_the_parameters() -> None:
    model = BetaGeoFitter().fit(simulate_bgnbd(500, T=39.0, seed=3).rfm)
    doc = json.loads(model.to_json())
    doc["params"]["r"] = float("nan")
    with pytest.raises(FunnelkitError, match=r"invalid parameter\(s\) r=nan"):
        BetaGeoFitter.from_json(json.dumps(doc))
    del doc["params"]["r"]
    with pytest.raises(FunnelkitError, match="expected \\['r', 'alpha', 'a', 'b'\\] or"):
        BetaGeoFitter.from_json(json.dumps(doc))
    with pytest.raises(FunnelkitError, match="Not a valid funnelkit fitter document"):
        BetaGeoFitter.from_json("{not json")


@pytest.mark.parametrize("cls", CLASSES)
def test_a_equal_to_one_is_the_limit_of_its_neighbours(cls: type) -> None:
    # the closed form divides by a - 1: a model loaded with a = 1 once raised ZeroDivisionError
    at_one = _model(cls, r=0.6, alpha=12.0, a=1.0, b=2.5)
    near = _model(cls, r=0.6, alpha=12.0, a=1.0 + 1e-7, b=2.5)
    with np.errstate(all="raise"):
        np.testing.assert_allclose(_predictions(at_one), _predictions(near), rtol=1e-6)
