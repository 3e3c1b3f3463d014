"""BG/NBD and MBG/NBD at the boundary: limit models, their exactness and their recovery."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.special import gammaln

import funnelkit as fk
from funnelkit import RFM, BetaGeoFitter, ModifiedBetaGeoFitter
from funnelkit.clv._data import rfm_fit_data
from funnelkit.clv._mixing import BetaDropout, TwoPointDropout
from funnelkit.datasets import simulate_bgnbd, simulate_community, simulate_mbgnbd
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
#: a beta this small is its two ends, 0 and 1, in all but name
BETA_SPLIT_03 = {"a": 0.3e-10, "b": 0.7e-10}


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
        # b + n - 1 once rounded b to a thousandth at n = 1: an MBG/NBD fit ran to a, b ~ 1e-13
        # where its likelihood came out 0.04 above the two-point limit's
        ({"r": 0.6, "alpha": 12.0, "pi": 0.3}, {"r": 0.6, "alpha": 12.0, "a": 3e-14, "b": 7e-14}),
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
        ({"r": 0.6, "alpha": 12.0, "pi": 0.3}, {"r": 0.6, "alpha": 12.0, **BETA_SPLIT_03}),
        ({"lambda": 0.05, "pi": 0.3}, {**GAMMA_AT_005, **BETA_SPLIT_03}),
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
    if world == "two-point dropout":
        return "pi" in params or params["a"] + params["b"] < 0.05
    # no dropout; or, as the maximum may be, a few per cent who never come back
    if "a" in params:
        return bool(params["a"] < 1e-3)
    return "p" not in params and params.get("pi", 0.0) < 0.05


WORLDS = {
    # every customer drops out with probability 0.15; purchase rates still vary
    "common p": {"r": 0.8, "alpha": 8.0, "a": 0.15e9, "b": 0.85e9},
    # everyone buys at 0.2 a week while alive; dropout probabilities vary
    "common rate": {"r": 0.2e9, "alpha": 1e9, "a": 0.8, "b": 2.5},
    # nobody drops out (dropout probabilities around 1e-12)
    "no dropout": {"r": 0.8, "alpha": 8.0, "a": 1.0, "b": 1e12},
    # 30% drop out at their first chance (BG/NBD: after one repeat purchase; MBG/NBD: at the
    # first purchase, a zero-inflated NBD), the others never
    "two-point dropout": {"r": 0.8, "alpha": 8.0, "a": 0.3e-9, "b": 0.7e-9},
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
        assert set(model.params_) < {"r", "alpha", "a", "b", "p", "lambda", "pi"}
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
        {"r": 0.6, "alpha": 12.0, "pi": 0.3},
        {"lambda": 0.3, "pi": 0.9},
    ):
        model = _model(cls, **params)
        with np.errstate(all="raise"):
            values = _predictions(model)
            values = np.append(values, model.expected_purchases(1e6, HISTORY))
        assert np.all(np.isfinite(values))


@pytest.mark.parametrize("cls", CLASSES)
@pytest.mark.parametrize("world", ["common p", "two-point dropout"])
def test_a_limit_model_round_trips_through_json_and_restarts_fits(cls: type, world: str) -> None:
    rfm = _world(cls, 12, **WORLDS[world])
    model = cls().fit(rfm)
    assert model.result_.boundary
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


# ---------------------------------------------------------------------- two-point dropout
@pytest.mark.parametrize("pi", [0.05, 0.3, 0.9])
def test_two_point_dropout_is_the_limit_of_vanishing_betas(pi: float) -> None:
    # Beta(pi e, (1 - pi) e) as e → 0: mass pi at p = 1 and 1 - pi at p = 0
    exact, beta = TwoPointDropout(pi), BetaDropout(pi * 1e-10, (1.0 - pi) * 1e-10)
    n = np.array([0.0, 1.0, 2.0, 5.0])
    chances = n[1:]
    with np.errstate(divide="ignore"):
        pairs = [
            (exact.log_survive(n), beta.log_survive(n)),
            (exact.log_drop_at(chances), beta.log_drop_at(chances)),
            (exact.log_drop_odds(chances), beta.log_drop_odds(chances)),
            (exact.survival_sum(n, 7.0), beta.survival_sum(n, 7.0)),
            (exact.discounted_survival(n, 0.9), beta.discounted_survival(n, 0.9)),
            (np.asarray(exact.alive_posterior(n).mean), beta.alive_posterior(n).mean),
        ]
    for limit, near in pairs:
        # -inf (nobody drops out at a second chance) against log(1e-10)
        finite = np.isfinite(limit)
        np.testing.assert_allclose(limit[finite], near[finite], rtol=1e-6, atol=1e-9)
        assert np.all(near[~finite] < -20.0)

    def moment(p: np.ndarray) -> np.ndarray:
        return np.asarray(p**2 + (1.0 - p) ** 3)

    assert exact.expect(moment, ()) == pytest.approx(pi + (1.0 - pi))
    assert exact.mean_inverse() == np.inf


def _nbd_weight(r: float, alpha: float, x: np.ndarray, t: np.ndarray) -> np.ndarray:
    """``E[lambda^x e^(-lambda t)]`` for ``lambda ~ Gamma(r, alpha)``, from gamma functions."""
    return np.asarray(
        np.exp(gammaln(r + x) - gammaln(r) + r * np.log(alpha) - (r + x) * np.log(alpha + t))
    )


def test_the_two_point_likelihoods_are_the_mixtures_they_describe() -> None:
    # BG/NBD: the share pi drop out at their first repeat purchase (so they have made at
    # most one, and are alive only with none), the others never. MBG/NBD: the share pi are
    # gone at the first purchase and never repeat: a zero-inflated NBD.
    data = rfm_fit_data(simulate_bgnbd(500, T=39.0, seed=8).rfm)
    x, tx, T = data["frequency"], data["recency"], data["T"]
    r, alpha, pi = 0.7, 9.0, 0.3
    never = (1.0 - pi) * _nbd_weight(r, alpha, x, T)
    first = np.where(x == 0, _nbd_weight(r, alpha, x, T), 0.0)
    first += np.where(x == 1, _nbd_weight(r, alpha, x, tx), 0.0)
    params = {"r": r, "alpha": alpha, "pi": pi}
    bg = BetaGeoFitter()._limit_log_likelihood(params, data)
    np.testing.assert_allclose(bg, np.log(never + pi * first), rtol=1e-12)
    mbg = ModifiedBetaGeoFitter()._limit_log_likelihood(params, data)
    np.testing.assert_allclose(mbg, np.log(never + pi * (x == 0)), rtol=1e-12)


def _community(seed: int, unit: str) -> RFM:
    sim = simulate_community([300, 2000][seed % 3], seed=seed)
    return fk.EventLog.from_frame(sim.events, value_col="value").rfm(time_unit=unit)


TWO_POINT = "two-point dropout"
AND_COMMON_RATE = "common purchase rate and two-point dropout"


@pytest.mark.parametrize(
    ("cls", "seed", "unit", "limit", "pi"),
    [
        # the full fits ran a and b to 1e-12 - 1e-7: a singular information matrix
        (BetaGeoFitter, 810, "D", TWO_POINT, 0.26),
        (BetaGeoFitter, 819, "M", TWO_POINT, 0.19),
        (ModifiedBetaGeoFitter, 808, "M", TWO_POINT, 0.25),
        # the full fit stops where nobody drops out, 3.8 below the two-point limit, whose
        # own fit then runs its gamma to a common rate
        (ModifiedBetaGeoFitter, 813, "M", AND_COMMON_RATE, 0.43),
        # the full fit's b + n - 1 rounded b ~ 1e-13, which put it 0.04 above the limit
        (ModifiedBetaGeoFitter, 871, "M", TWO_POINT, 0.29),
    ],
)
def test_small_communities_whose_fits_split_the_dropout_end_at_the_limit(
    cls: type, seed: int, unit: str, limit: str, pi: float
) -> None:
    model = cls().fit(_community(seed, unit))
    result = model.result_
    assert result.converged, result.as_text()
    assert result.boundary == [limit]
    assert model.params_["pi"] == pytest.approx(pi, abs=0.01)
    first = "first repeat purchase" if cls is BetaGeoFitter else "first purchase (they never"
    assert f"drop out at their {first}" in result.message
    assert all(est.std_error is not None for est in result.params.values())
    with np.errstate(all="raise"):
        values = [
            model.probability_alive(),
            model.expected_purchases(30.0),
            model.expected_purchases_new_customer(np.array([1.0, 30.0, 300.0])),
        ]
    assert all(np.all(np.isfinite(v)) for v in values)


def test_a_covariate_fit_follows_its_limit_to_a_simpler_one() -> None:
    # with a covariate too, the two-point limit's gamma runs to a common rate, which keeps
    # the purchase effect (lambda_i = lambda exp(gamma z_i)) and the dropout effect (on the
    # odds pi_i / (1 - pi_i), as on the full model's a / b_i)
    rfm = _community(813, "M")
    z = np.random.default_rng(813).integers(0, 2, rfm.frequency.size).astype(float)
    model = ModifiedBetaGeoFitter().fit(rfm, covariates={"z": z})
    result = model.result_
    assert result.converged, result.as_text()
    assert result.boundary == [AND_COMMON_RATE]
    assert set(model.params_) == {"lambda", "pi"}
    assert [row["process"] for row in model.coefficient_rows()] == ["purchase", "dropout"]
    with np.errstate(all="raise"):
        assert np.all(np.isfinite(model.expected_purchases(10.0, rfm, covariates={"z": z})))


@pytest.mark.parametrize(
    ("limit", "near"),
    [
        ({"r": 0.6, "alpha": 12.0, "pi": 0.3}, {"a": 0.3e-9, "b": 0.7e-9}),
        ({"r": 0.6, "alpha": 12.0, "p": 0.3}, {"a": 0.3e9, "b": 0.7e9}),
    ],
)
def test_a_dropout_effect_moves_the_odds_of_a_limits_dropout_probability(
    limit: dict[str, float], near: dict[str, float]
) -> None:
    # b_i = b exp(-gamma z_i) multiplies the odds a / b_i by exp(gamma z_i), and so the odds
    # of the limit's probability, which is a / (a + b_i) there
    model, design = BetaGeoFitter(), np.array([[0.0, 1.0], [1.0, 0.0], [2.0, -3.0]])
    gamma = {"purchase": np.array([0.2, -0.1]), "dropout": np.array([0.7, 0.4])}
    full_names, names = ("r", "alpha", "a", "b"), tuple(limit)
    full = model._natural(
        np.array([0.6, 12.0, near["a"], near["b"]]),
        gamma,
        design,
        full_names,
        model._links_of(full_names),
    )
    prob = names[-1]
    at_limit = model._natural(
        np.array(list(limit.values())), gamma, design, names, model._links_of(names), (prob,)
    )
    np.testing.assert_allclose(at_limit[:2], full[:2], rtol=1e-12)
    np.testing.assert_allclose(at_limit[2], full[2] / (full[2] + full[3]), rtol=1e-8)
