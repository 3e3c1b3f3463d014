"""BG/BB limit models: exact forms, agreement with the full model, boundary worlds, cost in T."""

from __future__ import annotations

import numpy as np
import pytest

from funnelkit.clv import BetaGeoBetaBinomFitter
from funnelkit.clv._data import rfm_fit_data
from funnelkit.clv.value import discounted_expected_residual_transactions
from funnelkit.exceptions import DataError, FunnelkitError

DATA = {
    "frequency": np.array([0.0, 1.0, 3.0, 6.0, 2.0, 5.0]),
    "recency": np.array([0.0, 2.0, 5.0, 6.0, 6.0, 6.0]),
    "T": np.full(6, 6.0),
}
FULL = {"alpha": 1.2, "beta": 0.75, "gamma": 0.66, "delta": 2.8}
BIG = 1e8  # concentration of a beta standing in for its point mass


def _model(params: dict[str, float]) -> BetaGeoBetaBinomFitter:
    model = BetaGeoBetaBinomFitter().fit(
        {k: np.tile(v, 20) for k, v in DATA.items()}  # a fit for its state only
    )
    model.params_ = dict(params)
    return model


def _predictions(model: BetaGeoBetaBinomFitter) -> np.ndarray:
    return np.concatenate(
        [
            model.probability_alive(DATA),
            model.probability_alive(DATA, at=4),
            model.expected_purchases(5, DATA),
            model.expected_purchases_new_customer(np.array([1.0, 6.0, 40.0])),
            model.probability_of_purchases(np.arange(7), 6),
            model.discounted_residual_transactions(DATA, discount_rate=0.1),
        ]
    )


def test_mixing_log_likelihood_equals_the_fast_one() -> None:
    model = BetaGeoBetaBinomFitter()
    data = rfm_fit_data(DATA, weights=None, time_unit=None)
    fast = model._log_likelihood(np.array(list(FULL.values())), data)
    mixing = model._limit_log_likelihood(FULL, data)
    np.testing.assert_allclose(mixing, fast, rtol=1e-12)


@pytest.mark.parametrize(
    ("limit", "near"),
    [
        ({"p": 0.4, "gamma": 0.66, "delta": 2.8}, {"alpha": 0.4 * BIG, "beta": 0.6 * BIG}),
        ({"alpha": 1.2, "beta": 0.75, "theta": 0.1}, {"gamma": 0.1 * BIG, "delta": 0.9 * BIG}),
        (
            {"p": 0.4, "theta": 0.1},
            {"alpha": 0.4 * BIG, "beta": 0.6 * BIG, "gamma": 0.1 * BIG, "delta": 0.9 * BIG},
        ),
        ({"alpha": 1.2, "beta": 0.75}, {"gamma": 1e-9, "delta": 1.0}),
        ({"p": 0.4}, {"alpha": 0.4 * BIG, "beta": 0.6 * BIG, "gamma": 1e-9, "delta": 1.0}),
    ],
    ids=["common-p", "common-theta", "both", "no-dropout", "no-dropout-common-p"],
)
def test_limits_agree_with_the_full_model_at_large_concentration(
    limit: dict[str, float], near: dict[str, float]
) -> None:
    full = {**{k: v for k, v in FULL.items() if k in limit}, **near}
    at_limit = _predictions(_model(limit))
    close = _predictions(_model(full))
    assert np.all(np.isfinite(at_limit))
    np.testing.assert_allclose(at_limit, close, rtol=1e-5, atol=1e-12)
    data = rfm_fit_data(DATA, weights=None, time_unit=None)
    model = BetaGeoBetaBinomFitter()
    np.testing.assert_allclose(
        model._limit_log_likelihood(limit, data),
        model._log_likelihood(np.array([full[k] for k in FULL]), data),
        rtol=1e-5,
    )


def _world(
    p: float | np.ndarray, theta: float | np.ndarray, *, seed: int
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """4,000 customers over 8 opportunities, then 5 holdout opportunities."""
    n, periods, holdout = 4000, 8, 5
    rng = np.random.default_rng(seed)
    p_i = np.broadcast_to(p, (n,))
    theta_i = np.broadcast_to(theta, (n,))
    # death at the start of opportunity D ~ Geometric(theta): alive for 1..D-1
    death = np.where(theta_i > 0, rng.geometric(np.maximum(theta_i, 1e-12)), np.iinfo(int).max)
    x, recency, future = np.zeros(n), np.zeros(n), np.zeros(n)
    for t in range(1, periods + holdout + 1):
        buys = (death > t) & (rng.random(n) < p_i)
        if t <= periods:
            x += buys
            recency[buys] = t
        else:
            future += buys
    return {"frequency": x, "recency": recency, "T": np.full(n, float(periods))}, future


HETEROGENEOUS_P = np.random.default_rng(11).beta(1.2, 0.8, 4000)
HETEROGENEOUS_THETA = np.random.default_rng(12).beta(0.7, 3.0, 4000)


@pytest.mark.parametrize(
    ("p", "theta", "boundary"),
    [
        (0.4, HETEROGENEOUS_THETA, "common transaction probability"),
        (0.4, 0.1, "common transaction and dropout probabilities"),
        (HETEROGENEOUS_P, 0.0, "no dropout"),
        (0.4, 0.0, "no dropout and a common transaction probability"),
    ],
    ids=["common-p", "both", "no-dropout", "no-dropout-common-p"],
)
def test_boundary_worlds_reach_the_limit_and_predict_the_holdout(
    p: float | np.ndarray, theta: float | np.ndarray, boundary: str
) -> None:
    data, future = _world(p, theta, seed=1)
    model = BetaGeoBetaBinomFitter().fit(data)
    assert model.result_.boundary == [boundary]
    assert model.result_.converged
    assert model.result_.limit_test is not None
    assert abs(model.expected_purchases(5).sum() / future.sum() - 1) < 0.10
    with np.errstate(all="raise"):
        values = _predictions(model)
        dert = discounted_expected_residual_transactions(
            model, DATA, discount_rate=0.1, time_unit=None
        )
    assert np.all(np.isfinite(values)) and np.all(np.isfinite(dert))
    loaded = BetaGeoBetaBinomFitter.from_json(model.to_json())
    assert loaded.params_ == model.params_
    np.testing.assert_array_equal(_predictions(loaded), values)


def test_common_dropout_world_predicts_the_holdout() -> None:
    # 8 opportunities barely tell a common theta from a concentrated beta: either is fine,
    # the prediction is what must hold
    data, future = _world(HETEROGENEOUS_P, 0.1, seed=2)
    model = BetaGeoBetaBinomFitter().fit(data)
    assert model.result_.converged
    assert abs(model.expected_purchases(5).sum() / future.sum() - 1) < 0.10


def test_limit_dert_is_its_discounted_purchase_stream() -> None:
    model = _model({"p": 0.4, "theta": 0.1})
    d = 0.1
    dert = discounted_expected_residual_transactions(model, DATA, discount_rate=d, time_unit=None)
    k = np.arange(0, 800, dtype=float)
    cumulative = model.expected_purchases(k[:, None], DATA)
    stream = (np.diff(cumulative, axis=0) / (1 + d) ** k[1:, None]).sum(axis=0)
    np.testing.assert_allclose(dert, stream, rtol=1e-10)


@pytest.mark.parametrize("periods", [5e6, 1e12])
def test_very_fine_periods_are_refused_with_the_fix(periods: float) -> None:
    data = {"frequency": [1.0, 0.0], "recency": [3.0, 0.0], "T": [periods, 6.0]}
    with pytest.raises(DataError, match=r"1 row\(s\) have more than 100,000 .*coarser periods"):
        BetaGeoBetaBinomFitter().fit(data)


def test_long_histories_are_summed_in_bounded_blocks() -> None:
    # two customers with 100,000 opportunities and a short one: exact, and memory-bounded
    rows = {"frequency": [3.0, 0.0, 2.0], "recency": [10.0, 0.0, 5.0], "T": [1e5, 1e5, 6.0]}
    data = rfm_fit_data(rows, weights=None, time_unit=None)
    model = BetaGeoBetaBinomFitter()
    params = np.array(list(FULL.values()))
    blocked, grad = model._log_likelihood_and_gradient(params, data)
    columns = [data[c] for c in ("frequency", "recency", "T")]
    alone = [model._branches(params, *(c[i : i + 1] for c in columns))[0][0] for i in range(3)]
    np.testing.assert_allclose(blocked, alone, rtol=1e-13)
    assert np.all(np.isfinite(grad))
    big = _model(FULL)
    with pytest.raises(FunnelkitError, match="at most 100,000"):
        big.probability_of_purchases(1, 2e5)


def test_three_customers_fit_the_simplest_limit() -> None:
    # used to overflow building the intervals; 3 purchases in 9 opportunities and no sign of
    # dropout or heterogeneity: the MLE is p = 1/3 with nobody dying
    data = {"frequency": [1.0, 0.0, 2.0], "recency": [2.0, 0.0, 3.0], "T": [3.0, 3.0, 3.0]}
    model = BetaGeoBetaBinomFitter().fit(data)
    assert model.result_.boundary == ["no dropout and a common transaction probability"]
    assert model.result_.converged
    estimate = model.result_.params["p"]
    assert estimate.estimate == pytest.approx(1 / 3, rel=1e-8)
    assert estimate.ci is not None
    assert 0 < estimate.ci[0] < estimate.estimate < estimate.ci[1] < 1
    np.testing.assert_allclose(model.expected_purchases(3), np.full(3, 1.0), rtol=1e-8)
