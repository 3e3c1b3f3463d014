"""Newton-type ascent from a nearby start: the last step taken without evaluating its end."""

from __future__ import annotations

import numpy as np
import pytest

from funnelkit import _quasi_newton as quasi_newton
from funnelkit._quasi_newton import LAST_STEP, ascend, bootstrap_precision, predicted_rise
from funnelkit.clv import BetaGeoFitter
from funnelkit.datasets import simulate_bgnbd

# Poisson log-likelihood in log rates: sum(y * theta - n * exp(theta)), maximum log(y / n)
COUNTS = np.array([40.0, 25.0, 90.0])
EXPOSURE = np.array([10.0, 20.0, 30.0])
MAXIMUM = np.log(COUNTS / EXPOSURE)


def _poisson(points: list[np.ndarray]):
    def log_likelihood(theta: np.ndarray) -> tuple[float, np.ndarray]:
        points.append(np.array(theta, copy=True))
        rate = EXPOSURE * np.exp(theta)
        return float(np.sum(COUNTS * theta - rate)), COUNTS - rate

    return log_likelihood


def _decrement(theta: np.ndarray) -> float:
    grad = COUNTS - EXPOSURE * np.exp(theta)
    return float(grad @ (grad / (EXPOSURE * np.exp(theta))))


def test_the_last_step_ends_within_the_tolerance_without_an_evaluation() -> None:
    start = MAXIMUM + np.array([0.12, -0.15, 0.08])  # about one standard error away
    metric = np.diag(1.0 / (EXPOSURE * np.exp(start)))  # the curvature at the start
    low, high = np.full(3, -10.0), np.full(3, 10.0)
    path: list[np.ndarray] = []
    ascend(_poisson(path), start, metric, low, high, tolerance=1e-12)
    # a tolerance a fifth of the decrement after the second step: one more step is needed
    tolerance = _decrement(path[2]) / 5.0
    plain: list[np.ndarray] = []
    found = ascend(_poisson(plain), start, metric, low, high, tolerance=tolerance)
    assert found is not None
    shorter: list[np.ndarray] = []
    last = ascend(
        _poisson(shorter), start, metric, low, high, tolerance=tolerance, last_step=LAST_STEP
    )
    assert last is not None
    # one evaluation fewer: the end was not evaluated, and it is as close to the maximum
    assert len(shorter) == len(plain) - 1
    assert not any(np.array_equal(p, last[0]) for p in shorter)
    assert _decrement(last[0]) < tolerance
    np.testing.assert_array_equal(last[0], found[0])


def test_without_a_step_taken_the_start_is_evaluated_as_before() -> None:
    # a decrement below last_step * tolerance at the start itself: no unevaluated step from
    # the start's metric, whose accuracy no step has checked yet
    start = MAXIMUM + 1e-4
    metric = np.diag(1.0 / (EXPOSURE * np.exp(start)))
    points: list[np.ndarray] = []
    tolerance = _decrement(start) / 2.0
    found = ascend(
        _poisson(points),
        start,
        metric,
        np.full(3, -10.0),
        np.full(3, 10.0),
        tolerance=tolerance,
        last_step=LAST_STEP,
    )
    assert found is not None
    assert any(np.array_equal(p, found[0]) for p in points)


def test_the_predicted_rise_of_a_quadratic_is_exact() -> None:
    hess = np.array([[4.0, 1.0], [1.0, 3.0]])
    peak = np.array([0.5, -0.25])

    def ll(x: np.ndarray) -> float:
        return float(-0.5 * (x - peak) @ hess @ (x - peak))

    x = np.array([0.1, 0.3])
    grad = -hess @ (x - peak)
    metric = np.linalg.inv(hess)
    assert predicted_rise(grad, metric) == pytest.approx(ll(x + metric @ grad) - ll(x), rel=1e-12)


def test_a_refit_ending_on_an_unevaluated_step_states_its_log_likelihood(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sim = simulate_bgnbd(3000, T=52.0, seed=4)
    s = sim.rfm
    data = {"frequency": s.frequency, "recency": s.recency, "T": s.T}
    full = BetaGeoFitter().fit(data)
    ends: list[bool] = []  # per refit: did its steps end on a point they evaluated?

    def spied(log_likelihood, *args, **kwargs):  # type: ignore[no-untyped-def]
        points: list[np.ndarray] = []

        def recorded(x: np.ndarray) -> tuple[float, np.ndarray]:
            points.append(np.array(x, copy=True))
            return log_likelihood(x)  # type: ignore[no-any-return]

        found = ascend(recorded, *args, **kwargs)
        if found is not None:
            ends.append(any(np.array_equal(p, found[0]) for p in points))
        return found

    monkeypatch.setattr(quasi_newton, "ascend", spied)
    rng = np.random.default_rng(7)
    for _ in range(6):
        weights = rng.poisson(1.0, s.T.size).astype(float)
        with bootstrap_precision():
            refit = BetaGeoFitter().refit(data, weights=weights, start=full)
        again = BetaGeoFitter().fit(data, weights=weights)
        # the stated value is the maximum's up to the refit's own distance from it
        assert refit.log_likelihood_ == pytest.approx(again.log_likelihood_, abs=1e-3)
        np.testing.assert_allclose(
            list(refit.params_.values()), list(again.params_.values()), rtol=2e-3
        )
    assert len(ends) == 6
    assert False in ends  # some refits ended on an unevaluated step


def test_backtrack_halves_the_step_until_the_rise_is_enough() -> None:
    from funnelkit._quasi_newton import backtrack

    def evaluate(x: np.ndarray) -> tuple[float, str]:
        return -float((x[0] - 1.0) ** 2), "seen"

    x, step = np.array([0.0]), np.array([8.0])  # the maximum is at 1: t = 1/8 lands there
    found = backtrack(evaluate, x, step, evaluate(x)[0], decrement=2.0)
    assert found is not None
    point, (value, extra) = found
    assert point[0] == 1.0 and value == 0.0 and extra == "seen"  # t = 1/4 only ties
    # points outside are not evaluated (t = 1/16 is the first inside)
    inside = backtrack(evaluate, x, step, -1.0, 2.0, inside=lambda y: bool(y[0] < 0.9))
    assert inside is not None and inside[0][0] == 0.5
    # below t = 1e-3 the search gives up
    assert backtrack(evaluate, x, -step, evaluate(x)[0], decrement=2.0) is None
