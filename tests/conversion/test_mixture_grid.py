"""The mixture delay fit on many rows: searched on a grid of log times, finished on the rows;
and the grids a refit steps on instead of the rows."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given, settings, strategies as st
from hypothesis.extra.numpy import arrays

from funnelkit.conversion import cure_mixture
from funnelkit.conversion.cure import CureData
from funnelkit.conversion.cure_grid import (
    GRID_NODES,
    NodeSplit,
    Shifted,
    coarse_data,
    halved,
    log_time_grid,
    node_weights,
)
from funnelkit.conversion.cure_mixture import fit_mixture
from funnelkit.conversion.cure_result import CureFit


def _delays(n: int, seed: int) -> CureData:
    """40% convert, fast and slow; a follow-up long enough to show the plateau."""
    rng = np.random.default_rng(seed)
    will = rng.random(n) < 0.4
    fast = rng.random(n) < 0.6
    delay = np.where(fast, rng.lognormal(0.0, 0.5, n), rng.lognormal(2.5, 0.7, n))
    waited = rng.uniform(0.0, 200.0, n)
    converted = will & (delay <= waited)
    durations = np.where(converted, delay, waited)
    durations[:30] = 0.0  # instant conversions and entrants censored at once
    return CureData.from_durations(durations, converted)


def _on_rows(data: CureData, fix_p: bool, monkeypatch: pytest.MonkeyPatch) -> CureFit:
    """The fit searched on the rows themselves, as on few rows."""
    with monkeypatch.context() as patch:
        patch.setattr(cure_mixture, "coarse_data", lambda _: None)
        return fit_mixture(data, 0.4, fix_p)


def _assert_same_optimum(gridded: CureFit, rows: CureFit) -> None:
    assert gridded.converged == rows.converged
    assert gridded.log_likelihood >= rows.log_likelihood - 1e-9 * abs(rows.log_likelihood)
    np.testing.assert_allclose(gridded.coefficients, rows.coefficients, rtol=1e-5, atol=1e-6)


def assert_grid_keeps_weights(coarse: CureData | None, data: CureData) -> None:
    """``coarse`` is ``data`` on the grid: fewer rows, the same rows at duration 0, and per
    kind of row (exact, waiting) the same total weight and weighted sum of log times."""
    assert coarse is not None
    assert coarse.log_exact.size <= GRID_NODES < data.log_exact.size
    assert (coarse.n_zero, coarse.log_eps, coarse.sum_log_exact) == (
        data.n_zero,
        data.log_eps,
        data.sum_log_exact,
    )
    for grid, w_grid, own, w_own in (
        (coarse.log_exact, coarse.weight_exact, data.log_exact, data.weight_exact),
        (coarse.log_censored, coarse.weight_censored, data.log_censored, data.weight_censored),
    ):
        assert w_grid is not None
        w = np.ones(own.size) if w_own is None else w_own
        assert float(w_grid.sum()) == pytest.approx(float(w.sum()), rel=1e-12)
        assert float(w_grid @ grid) == pytest.approx(float(w @ own), rel=1e-12)


def test_the_grid_keeps_every_weight_and_weighted_log_time() -> None:
    data = _delays(20_000, seed=1)
    assert_grid_keeps_weights(coarse_data(data), data)


def test_few_rows_take_no_grid() -> None:
    data = _delays(4 * GRID_NODES, seed=2)
    assert data.log_exact.size + data.log_censored.size < 4 * GRID_NODES  # 30 rows at 0
    assert coarse_data(data) is None


def test_a_fit_on_many_rows_reaches_the_maximum_of_the_rows(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    data = _delays(30_000, seed=3)
    gridded = fit_mixture(data, 0.4, False)
    rows = _on_rows(data, False, monkeypatch)
    assert gridded.converged
    assert gridded.message == "converged (Newton steps on the rows from their maximum on a grid)"
    _assert_same_optimum(gridded, rows)
    # standard errors from the rows, at the same point
    assert gridded.covariance is not None and rows.covariance is not None
    np.testing.assert_allclose(
        np.sqrt(np.diag(gridded.covariance)), np.sqrt(np.diag(rows.covariance)), rtol=1e-4
    )
    assert gridded.eventual_rate == pytest.approx(rows.eventual_rate, rel=1e-6)


def test_a_fit_with_every_entrant_converted_reaches_the_maximum_of_the_rows(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rng = np.random.default_rng(4)
    fast = rng.random(20_000) < 0.6
    delay = np.where(fast, rng.lognormal(0.0, 0.5, 20_000), rng.lognormal(2.5, 0.7, 20_000))
    data = CureData.from_durations(delay, np.ones(delay.size, dtype=bool))
    gridded = fit_mixture(data, 1.0, True)
    assert gridded.p_fixed and gridded.converged
    _assert_same_optimum(gridded, _on_rows(data, True, monkeypatch))


def test_steps_that_do_not_settle_leave_the_finish_to_l_bfgs_b(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    data = _delays(20_000, seed=6)
    rows = _on_rows(data, False, monkeypatch)
    monkeypatch.setattr(cure_mixture, "ascend", lambda *args, **kwargs: None)
    gridded = fit_mixture(data, 0.4, False)
    assert gridded.converged and gridded.message.startswith("CONVERGENCE")
    assert gridded.log_likelihood >= rows.log_likelihood - 1e-9 * abs(rows.log_likelihood)
    # L-BFGS-B stops on the change of the value: as close as the fit on the rows, in
    # standard errors
    assert rows.covariance is not None
    gap = np.subtract(gridded.coefficients, rows.coefficients)
    assert np.max(np.abs(gap) / np.sqrt(np.diag(rows.covariance))) < 1e-2


#: log times a grid is laid over, and seeds of the weights drawn for them
LOG_TIMES = arrays(np.float64, st.integers(8, 300), elements=st.floats(-30.0, 30.0))
SEEDS = st.integers(0, 2**16)


@settings(max_examples=60, deadline=None)
@given(values=LOG_TIMES, size=st.integers(4, 64), seed=SEEDS)
def test_moving_a_grids_weights_to_every_other_node_spreads_the_values_there(
    values: np.ndarray, size: int, seed: int
) -> None:
    grid = log_time_grid(values, size)
    assume(grid is not None)
    assert grid is not None
    w = np.random.default_rng(seed).poisson(1.0, values.size).astype(float)
    nodes, node_w = halved(grid[0], node_weights(grid, w))
    # the values spread directly over nodes twice as far apart, from the same first node
    step = 2.0 * (grid[0][1] - grid[0][0])
    position = (values - grid[0][0]) / step
    left = np.minimum(np.floor(position).astype(np.int64), size // 2 - 1 + size % 2)
    share = position - left
    direct = np.bincount(left, w * (1.0 - share), minlength=size // 2 + 2)
    direct += np.bincount(left + 1, w * share, minlength=size // 2 + 2)
    at = np.rint((nodes - grid[0][0]) / step).astype(np.int64)
    np.testing.assert_allclose(nodes, grid[0][0] + step * at, rtol=1e-12, atol=1e-12)
    moved = np.zeros(direct.size)
    moved[at] = node_w
    np.testing.assert_allclose(moved, direct, rtol=1e-9, atol=1e-9 * max(float(w.sum()), 1.0))
    # every weight, and the weighted sum of the values, kept
    assert float(node_w.sum()) == pytest.approx(float(w.sum()), rel=1e-12)
    assert float(node_w @ nodes) == pytest.approx(float(w @ values), rel=1e-9, abs=1e-9)


@settings(max_examples=60, deadline=None)
@given(values=LOG_TIMES, size=st.integers(2, 64), seed=SEEDS)
def test_a_node_split_weighs_the_nodes_as_the_counts_do(
    values: np.ndarray, size: int, seed: int
) -> None:
    grid = log_time_grid(values, size)
    assume(grid is not None)
    split = NodeSplit.of(grid)
    assert split is not None and split.nodes is grid[0]
    for w in (np.random.default_rng(seed).poisson(1.0, values.size).astype(float), None):
        counted = node_weights(grid, w)
        found = split.weights(np.ones(values.size) if w is None else w)
        np.testing.assert_allclose(found, counted, rtol=1e-12, atol=1e-12 * values.size)
    assert NodeSplit.of(None) is None


def test_a_shifted_grid_has_the_rows_value_and_gradient_at_its_start() -> None:
    from funnelkit.conversion.cure_mixture import mixture_log_likelihood

    data = _delays(20_000, seed=1)
    coarse = coarse_data(data)
    assert coarse is not None
    x0 = np.array([-0.4, 0.0, -0.7, 2.5, -0.35, 0.4])
    rows = mixture_log_likelihood(x0, data, False)
    shifted = Shifted(lambda x: mixture_log_likelihood(x, coarse, False), x0, rows)
    value, gradient = shifted(x0)
    assert value == pytest.approx(rows[0], rel=1e-13)
    np.testing.assert_allclose(gradient, rows[1], rtol=1e-9, atol=1e-9)
    # a step away the grid's error changes little: a few parts in a million of the gradient
    x = x0 + 0.01
    value, gradient = shifted(x)
    on_rows = mixture_log_likelihood(x, data, False)
    assert value == pytest.approx(on_rows[0], rel=1e-9)
    assert np.max(np.abs(gradient - on_rows[1])) < 1e-5 * np.max(np.abs(on_rows[1]))
