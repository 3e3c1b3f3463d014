"""Plots: return Axes, draw what they claim, work on results and models loaded from JSON."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from funnelkit import EventLog  # noqa: E402
from funnelkit.clv import BetaGeoFitter  # noqa: E402
from funnelkit.clv.diagnostics import (  # noqa: E402
    CumulativeTransactions,
    FrequencyHistogram,
    HoldoutComparison,
    cumulative_transactions,
    frequency_histogram,
    holdout_comparison,
)
from funnelkit.clv.plotting import (  # noqa: E402
    plot_calibration_holdout,
    plot_cumulative_transactions,
    plot_expected_purchases_matrix,
    plot_frequency_histogram,
    plot_probability_alive_matrix,
)
from funnelkit.exceptions import FunnelkitError  # noqa: E402


def simulate_bgnbd_log(n: int, seed: int, *, end: float = 78.0) -> pd.DataFrame:
    """Purchases in weeks from the BG/NBD story (first purchase in weeks 0-12)."""
    rng = np.random.default_rng(seed)
    idx, when = np.arange(n), rng.uniform(0.0, 12.0, n)
    lam, drop = rng.gamma(0.5, 1 / 5.0, n), rng.beta(0.8, 3.0, n)
    out_idx, out_t = [idx], [when]
    while idx.size:
        alive = rng.random(idx.size) >= drop[idx]
        idx, when = idx[alive], when[alive]
        when = when + rng.exponential(1.0 / lam[idx])
        idx, when = idx[when < end], when[when < end]
        out_idx.append(idx)
        out_t.append(when)
    return pd.DataFrame({"customer_id": np.concatenate(out_idx), "time": np.concatenate(out_t)})


@pytest.fixture(scope="module")
def setup() -> tuple:
    log = EventLog.from_frame(
        simulate_bgnbd_log(1500, seed=7), time_col="time", event_col=None, time_unit="W"
    )
    rfm = log.rfm(time_unit="W", calibration_end=39.0, observation_end=77.99)
    return log, rfm, BetaGeoFitter().fit(rfm)


@pytest.fixture(autouse=True)
def _close_figures() -> object:
    yield
    plt.close("all")


def test_calibration_holdout_plot_from_reloaded_result(setup: tuple) -> None:
    _, rfm, model = setup
    result = HoldoutComparison.from_json(holdout_comparison(model, rfm).to_json())
    ax = plot_calibration_holdout(result)
    actual, expected = ax.get_lines()
    np.testing.assert_allclose(actual.get_ydata(), result.mean_actual)
    np.testing.assert_allclose(expected.get_ydata(), result.mean_expected)
    assert ax.get_xticklabels()[-1].get_text() == "7+"


def test_frequency_histogram_plot(setup: tuple) -> None:
    _, rfm, model = setup
    result = FrequencyHistogram.from_json(frequency_histogram(model, rfm).to_json())
    _, ax = plt.subplots()
    assert plot_frequency_histogram(result, ax=ax) is ax
    heights = [p.get_height() for p in ax.patches]
    np.testing.assert_allclose(heights, result.observed + result.expected)


def test_cumulative_plot_incremental_and_calibration_line(setup: tuple) -> None:
    log, _, model = setup
    result = CumulativeTransactions.from_json(
        cumulative_transactions(model, log, calibration_end=39.0).to_json()
    )
    ax = plot_cumulative_transactions(result, incremental=True)
    actual = ax.get_lines()[0].get_ydata()
    np.testing.assert_allclose(np.cumsum(actual), result.actual)
    assert len(ax.get_lines()) == 3  # actual, expected, end of calibration


def test_heat_maps_from_a_model_loaded_from_json(setup: tuple) -> None:
    model = setup[2]
    loaded = BetaGeoFitter.from_json(model.to_json())
    with pytest.raises(FunnelkitError, match="pass T="):
        plot_probability_alive_matrix(loaded)
    ax = plot_probability_alive_matrix(loaded, T=39.0, max_frequency=10)
    grid = ax.get_images()[0].get_array()
    assert grid.shape[0] == 11
    assert np.nanmax(grid) <= 1.0
    # frequency 0 with recency > 0 is impossible and left blank
    assert np.all(np.ma.getmaskarray(grid)[0, 1:] | np.isnan(np.ma.getdata(grid)[0, 1:]))
    ax = plot_expected_purchases_matrix(loaded, t=10, T=39.0, max_frequency=10)
    values = ax.get_images()[0].get_array()
    # more purchases, recently, predict more future purchases
    assert values[10, -1] > values[1, -1]


def test_heat_map_defaults_come_from_training_data(setup: tuple) -> None:
    _, rfm, model = setup
    ax = plot_probability_alive_matrix(model)
    assert ax.get_images()[0].get_array().shape[0] == int(rfm.frequency.max()) + 1


def test_plots_refuse_the_wrong_result(setup: tuple) -> None:
    _, rfm, model = setup
    with pytest.raises(FunnelkitError, match="HoldoutComparison"):
        plot_calibration_holdout(frequency_histogram(model, rfm))  # type: ignore[arg-type]
