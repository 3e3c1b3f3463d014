"""The forecast plot: drawn from the result alone, returns the Axes."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from funnelkit import StatisticalWarning
from funnelkit.dynamics import StageForecast, StageMarkovFitter, plot_stage_forecast

from ._helpers import make_journeys

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
plt = pytest.importorskip("matplotlib.pyplot")


@pytest.fixture
def forecast() -> StageForecast:
    rng = np.random.default_rng(6)
    n = 300
    start = rng.uniform(0, 50, n)
    advance = np.where(rng.random(n) < 0.6, start + rng.exponential(5.0, n), np.nan)
    advance[advance > 60] = np.nan
    journeys = make_journeys(np.column_stack([start, advance]), 60.0)
    return StageMarkovFitter().fit(journeys).forecast(journeys, horizon=20.0, n_draws=20)


def test_occupancy_plot_after_a_json_round_trip(forecast: StageForecast) -> None:
    loaded = StageForecast.from_json(forecast.to_json())
    fig, ax = plt.subplots()
    out = plot_stage_forecast(loaded, ax=ax)
    assert out is ax
    labels = [line.get_label() for line in ax.get_lines()]
    assert labels == ["s0", "s1", "dormant"]
    np.testing.assert_allclose(ax.get_lines()[1].get_ydata(), forecast.occupancy_curve["s1"])
    assert len(ax.collections) == 3  # one interval band per curve
    plt.close(fig)


def test_reached_plot_through_the_result_method(forecast: StageForecast) -> None:
    ax = forecast.plot(quantity="reached", stages=["s1"])
    assert [line.get_label() for line in ax.get_lines()] == ["s1"]
    assert ax.get_ylabel() == "expected customers reached"
    plt.close(ax.figure)


def test_not_estimable_curves_are_labelled_not_drawn() -> None:
    journeys = make_journeys([[0.0, np.nan], [3.0, np.nan]], 10.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", StatisticalWarning)
        fc = StageMarkovFitter().fit(journeys).forecast(journeys, horizon=5.0, n_draws=0)
    ax = plot_stage_forecast(fc)
    labels = [line.get_label() for line in ax.get_lines()]
    assert "s0 (not estimable)" in labels
    assert "dormant (not estimable)" in labels
    plt.close(ax.figure)
