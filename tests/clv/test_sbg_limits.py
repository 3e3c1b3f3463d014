"""sBG limit model (common churn probability): exact forms, boundary world, corners."""

from __future__ import annotations

import numpy as np
import pytest

from funnelkit.clv import ShiftedBetaGeoFitter
from funnelkit.clv._data import FitData
from funnelkit.exceptions import DataError

T = np.arange(1, 30)


def _predictions(model: ShiftedBetaGeoFitter) -> np.ndarray:
    return np.concatenate(
        [
            model.survival_function(np.arange(0, 30)),
            model.churn_probability(T),
            model.retention_rate(T),
            [model.expected_lifetime(), model.discounted_expected_lifetime(discount_rate=0.1)],
            model.discounted_expected_residual_lifetime([0, 3, 50], discount_rate=0.1),
        ]
    )


def _model(params: dict[str, float]) -> ShiftedBetaGeoFitter:
    model = ShiftedBetaGeoFitter().fit(durations=[1, 2, 3, 3], churned=[True, True, True, False])
    model.params_ = dict(params)
    return model


def test_two_equal_churners_give_the_common_probability_one_half() -> None:
    # this used to raise OverflowError: the likelihood rises all the way to alpha + beta = inf
    model = ShiftedBetaGeoFitter().fit(durations=[2, 2], churned=[True, True])
    assert model.result_.boundary == ["common churn probability"]
    assert model.result_.converged
    assert model.params_["theta"] == pytest.approx(0.5, abs=1e-6)
    with np.errstate(all="raise"):
        np.testing.assert_allclose(model.survival_function([0, 1, 3]), [1, 0.5, 0.125], rtol=1e-6)
        assert model.expected_lifetime() == pytest.approx(2.0, rel=1e-6)
        # DEL of geometric lifetimes: (1 + d) / (d + theta)
        assert model.discounted_expected_lifetime(discount_rate=0.1) == pytest.approx(
            1.1 / 0.6, rel=1e-6
        )


def test_limit_agrees_with_the_full_model_at_large_concentration() -> None:
    theta, big = 0.2, 1e8
    limit = _predictions(_model({"theta": theta}))
    close = _predictions(_model({"alpha": theta * big, "beta": (1 - theta) * big}))
    np.testing.assert_allclose(limit, close, rtol=1e-5)
    d = 0.1
    # geometric closed forms
    np.testing.assert_allclose(limit[:30], 0.8 ** np.arange(30), rtol=1e-12)
    assert limit[-5] == pytest.approx(1 / theta, rel=1e-12)
    assert limit[-4] == pytest.approx((1 + d) / (d + theta), rel=1e-12)
    np.testing.assert_allclose(limit[-3:], 0.8 * (1 + d) / (d + theta), rtol=1e-12)


def test_mixing_log_likelihood_equals_the_fast_one() -> None:
    data = FitData(
        columns={"duration": np.array([1.0, 2.0, 5.0, 5.0]), "churned": np.array([1, 1, 1, 0.0])},
        weights=np.ones(4),
        n_customers=4,
    )
    model = ShiftedBetaGeoFitter()
    np.testing.assert_allclose(
        model._limit_log_likelihood({"alpha": 0.7, "beta": 1.2}, data),
        model._log_likelihood(np.array([0.7, 1.2]), data),
        rtol=1e-12,
    )


def test_geometric_world_predicts_survival_and_retention() -> None:
    rng = np.random.default_rng(5)
    theta, observed = 0.2, 8
    life = rng.geometric(theta, 5000)  # no heterogeneity: everybody churns w.p. 0.2
    model = ShiftedBetaGeoFitter().fit(
        durations=np.minimum(life, observed), churned=life <= observed
    )
    # 8 periods may not tell a common theta from a concentrated beta: either may be the MLE
    assert model.result_.converged
    t = np.arange(1, 13)  # 4 periods beyond the data
    simulated = np.array([(life > k).mean() for k in t])
    assert np.max(np.abs(model.survival_function(t) / simulated - 1)) < 0.10
    renewed = np.array([(life > k).sum() / (life > k - 1).sum() for k in t])
    assert np.max(np.abs(model.retention_rate(t) / renewed - 1)) < 0.10
    with np.errstate(all="raise"):
        values = _predictions(model)
        tail = model.survival_function([5000])
    assert np.all(np.isfinite(values)) and 0.0 <= tail[0] < 1e-30
    loaded = ShiftedBetaGeoFitter.from_json(model.to_json())
    np.testing.assert_array_equal(_predictions(loaded), values)


@pytest.mark.parametrize(
    ("durations", "churned", "match"),
    [
        ([3, 4, 4], [False, False, False], "None of the 3 customers churned"),
        ([1, 1], [True, True], "All 2 customers churned in their first period"),
    ],
    ids=["nobody-churned", "everybody-left-at-once"],
)
def test_corners_are_explained(durations: list[int], churned: list[bool], match: str) -> None:
    with pytest.raises(DataError, match=match):
        ShiftedBetaGeoFitter().fit(durations=durations, churned=churned)


def test_survivor_counts_without_churn_are_explained() -> None:
    with pytest.raises(DataError, match="None of the 100 customers churned"):
        ShiftedBetaGeoFitter().fit_survivors([100, 100, 100])


@pytest.mark.parametrize("size", [1e6, 1e9, 1e12, 1e14])
def test_log_likelihood_keeps_its_digits_next_to_the_limit(size: float) -> None:
    # alpha + beta -> inf at a fixed mean is the common-churn limit: the full log-likelihood
    # tends to the limit's (the gap is O(1 / size)). As differences of betaln it was off by
    # 0.01 at 1e12 and 1.4 at 1e14, and could make the full model look better than its limit.
    from funnelkit.clv._sbg_likelihood import limit_log_likelihood, log_likelihood

    d = np.repeat(np.arange(1.0, 13.0), 2)
    data = FitData(
        columns={"duration": d, "churned": np.tile([1.0, 0.0], 12)},
        weights=np.ones(d.size),
        n_customers=d.size,
    )
    theta = 0.2
    full = log_likelihood(np.array([theta * size, (1.0 - theta) * size]), data).sum()
    limit = limit_log_likelihood({"theta": theta}, data).sum()
    assert abs(full - limit) <= 1e2 / size
