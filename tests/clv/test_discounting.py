"""The fast discounted sum of CLV and scoring against its definition, period by period."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from funnelkit.clv import (
    BetaGeoFitter,
    GammaGammaFitter,
    ModifiedBetaGeoFitter,
    ParetoNBDFitter,
    customer_lifetime_value,
)
from funnelkit.clv._discounting import _by_frequency
from funnelkit.clv._value_settings import unit_step
from funnelkit.clv.scoring import score
from funnelkit.datasets import load_cdnow
from funnelkit.exceptions import FunnelkitError
from funnelkit.rfm import RFM


@pytest.fixture(scope="module")
def cdnow() -> pd.DataFrame:
    return load_cdnow()


@pytest.fixture(scope="module", params=[BetaGeoFitter, ModifiedBetaGeoFitter, ParetoNBDFitter])
def model(request: pytest.FixtureRequest, cdnow: pd.DataFrame) -> object:
    return request.param().fit(cdnow, time_unit="W")


def continuous_rfm(n: int, seed: int) -> RFM:
    """Continuous-clock summaries (every row distinct) with extreme rows mixed in: huge
    frequencies, ages near 0 and in the thousands, purchases at the very end and at 0."""
    rng = np.random.default_rng(seed)
    T = rng.random(n) * 78.0 + 1e-3
    frequency = np.minimum(rng.negative_binomial(0.3, 0.2, n), np.floor(T)).astype(float)
    recency = np.where(frequency > 0, rng.random(n) * T, 0.0)
    T[:40] = rng.random(40) * 5000.0 + 1e-6
    frequency[:40] = rng.integers(0, 20_000, 40)
    recency[:40] = np.where(frequency[:40] > 0, rng.random(40) * T[:40], 0.0)
    recency[40:60] = np.where(frequency[40:60] > 0, T[40:60], 0.0)
    return RFM.from_arrays(frequency=frequency, recency=recency, T=T, time_unit="W")


def direct_sum(model: object, rfm: RFM, horizon: float, step: float, rate: float) -> np.ndarray:
    """The definition: one prediction per period end, differences discounted."""
    total, previous = np.zeros(len(rfm)), np.zeros(len(rfm))
    for k in range(1, math.ceil(horizon) + 1):
        end = min(float(k), horizon)
        cumulative = model.expected_purchases(end * step, rfm)  # type: ignore[attr-defined]
        total += (cumulative - previous) / (1.0 + rate) ** end
        previous = cumulative
    return total


def assert_relative(actual: np.ndarray, expected: np.ndarray, tol: float) -> None:
    assert actual.shape == expected.shape
    zero = expected == 0.0
    assert np.array_equal(actual[zero], expected[zero])
    assert float(np.max(np.abs(actual[~zero] / expected[~zero] - 1.0))) <= tol


@pytest.mark.parametrize(("horizon", "month"), [(12.0, None), (7.5, "30D")])
def test_discounted_sum_matches_the_period_by_period_sum(
    model: object, horizon: float, month: str | None
) -> None:
    rfm = continuous_rfm(6000, seed=11)
    got = customer_lifetime_value(
        model, 1.0, rfm, horizon=horizon, time_unit="month", discount_rate=0.01, month=month
    )
    step = unit_step(model, "month", month)
    assert_relative(got, direct_sum(model, rfm, horizon, step, 0.01), 1e-10)


def test_scores_match_the_models_own_predictions(model: object) -> None:
    rfm = continuous_rfm(4000, seed=5)
    got = score(
        model, rfm, spend_model=2.5, horizon=12, time_unit="month", discount_rate=0.02, n_jobs=1
    )
    step = unit_step(model, "month")
    purchases = model.expected_purchases(12 * step, rfm)  # type: ignore[attr-defined]
    assert_relative(got["expected_purchases"], purchases, 1e-10)
    alive = model.probability_alive(rfm)  # type: ignore[attr-defined]
    assert np.array_equal(got["probability_alive"], alive)
    assert_relative(got["clv"], 2.5 * direct_sum(model, rfm, 12.0, step, 0.02), 1e-10)


def test_factorisation_of_expected_purchases(model: object) -> None:
    rfm = continuous_rfm(500, seed=2)
    horizons = np.array([[0.5], [10.0], [300.0]])
    if_alive = model.expected_purchases_if_alive(horizons, rfm)  # type: ignore[attr-defined]
    alive = model.probability_alive(rfm)  # type: ignore[attr-defined]
    both = model.expected_purchases(horizons, rfm)  # type: ignore[attr-defined]
    assert if_alive.shape == (3, 500)
    assert_relative(alive * if_alive, both, 1e-14)
    # recency does not enter: every history with the same frequency and age agrees
    moved = RFM.from_arrays(
        frequency=rfm.frequency,
        recency=np.where(rfm.frequency > 0, rfm.T, 0.0),
        T=rfm.T,
        time_unit="W",
    )
    again = model.expected_purchases_if_alive(horizons, moved)  # type: ignore[attr-defined]
    assert np.array_equal(again, if_alive)


def test_threads_give_the_same_numbers(cdnow: pd.DataFrame) -> None:
    bgf, ggf = BetaGeoFitter().fit(cdnow, time_unit="W"), GammaGammaFitter().fit(cdnow)
    rfm = continuous_rfm(3000, seed=8)
    one = customer_lifetime_value(
        bgf, 1.0, rfm, horizon=12, time_unit="month", discount_rate=0.01, n_jobs=1, chunk_size=500
    )
    two = customer_lifetime_value(
        bgf, 1.0, rfm, horizon=12, time_unit="month", discount_rate=0.01, n_jobs=2, chunk_size=500
    )
    assert np.array_equal(one, two)
    with pytest.raises(FunnelkitError, match="n_jobs must be >= 1"):
        customer_lifetime_value(
            bgf, ggf, cdnow, horizon=12, time_unit="month", discount_rate=0.01, n_jobs=0
        )


def test_interpolation_that_does_not_converge_falls_back_to_direct_values() -> None:
    rng = np.random.default_rng(0)
    x = np.repeat([0.0, 1.0], 1000)
    T = rng.random(2000) * 50.0 + 1.0
    calls: list[int] = []

    def rough(xs: np.ndarray, ages: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        # |sin(1000 T)|: positive and finite but far from any low-degree polynomial
        calls.append(ages.size)
        value = 1.0 + np.abs(np.sin(1000.0 * ages)) + xs
        return value, 2.0 * value

    value, total = _by_frequency(x, T, rough, 12, n_jobs=1)
    expected = 1.0 + np.abs(np.sin(1000.0 * T)) + x
    assert np.array_equal(value, expected)
    assert np.array_equal(total, 2.0 * expected)
    # the direct evaluation covers every customer once
    assert sum(c for c in calls if c != 16) == 2000


def test_smooth_functions_are_interpolated_to_rounding() -> None:
    rng = np.random.default_rng(1)
    x = np.repeat([0.0, 3.0], 2000)
    T = rng.random(4000) * 100.0 + 0.01
    calls: list[int] = []

    def smooth(xs: np.ndarray, ages: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        calls.append(ages.size)
        return (1.0 + xs) / (5.0 + ages), np.exp(-ages / 40.0) + xs

    value, total = _by_frequency(x, T, smooth, 12, n_jobs=1)
    assert_relative(value, (1.0 + x) / (5.0 + T), 1e-12)
    assert_relative(total, np.exp(-T / 40.0) + x, 1e-12)
    # only node evaluations: no customer was evaluated directly
    assert set(calls) == {16}
