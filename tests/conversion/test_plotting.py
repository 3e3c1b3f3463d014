"""Plots draw from results (also after a JSON round trip) and return their Axes."""

from __future__ import annotations

import pytest

from funnelkit.conversion import (
    ConversionFitter,
    ConversionSummary,
    TransitionEstimate,
    plot_conversion_curve,
    plot_funnel,
    plot_time_to_convert,
)
from funnelkit.datasets.conversion import simulate_transitions

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
plt = pytest.importorskip("matplotlib.pyplot")


@pytest.fixture(scope="module")
def fitter() -> ConversionFitter:
    return ConversionFitter().fit(simulate_transitions(800, seed=5).journeys, by="segment")


def test_funnel_chart_has_naive_and_eventual_bars(fitter: ConversionFitter) -> None:
    summary = ConversionSummary.from_json(fitter.conversion_summary().to_json())
    ax = plot_funnel(summary)
    assert len(ax.patches) == 4  # two transitions x (naive, eventual)
    heights = sorted(round(p.get_height(), 6) for p in ax.patches)
    expected = sorted(
        round(v, 6)
        for r in summary.rows
        if r.segment is None
        for v in (r.naive_rate, r.eventual_rate)
    )
    assert heights == expected
    assert fitter.plot_funnel().get_ylabel().startswith("share")
    plt.close("all")


def test_conversion_curve_overlays_the_model(fitter: ConversionFitter) -> None:
    est = TransitionEstimate.from_json(fitter.estimate("visitor", "member").to_json())
    ax = plot_conversion_curve(est, horizon=200.0)
    labels = [line.get_label() for line in ax.get_lines()]
    assert "Kaplan-Meier" in labels and f"{est.model} cure model" in labels
    model_line = ax.get_lines()[1]
    assert model_line.get_xdata()[-1] == pytest.approx(200.0)
    ax2 = fitter.plot_conversion_curve("visitor", "member", "all", ax=ax)
    assert ax2 is ax
    plt.close("all")


def test_time_to_convert_histogram_and_density(fitter: ConversionFitter) -> None:
    est = fitter.estimate("member", "buyer")
    ax = plot_time_to_convert(est, bins=12)
    assert len(ax.patches) >= 12
    assert any(line.get_label() == "median" for line in ax.get_lines())
    plt.close("all")


def test_plots_survive_unestimable_results() -> None:
    import numpy as np

    from funnelkit.journeys import Journeys

    journeys = Journeys(
        stage_names=("a", "b", "c"),
        entry_times=np.array([[0.0, np.nan, np.nan], [1.0, 2.0, np.nan]]),
        customer_ids=np.array(["x", "y"], dtype=object),
        censoring_times=np.array([5.0, 5.0]),
        time_unit="W",
    )
    fitter = ConversionFitter().fit(journeys)
    plot_funnel(fitter.conversion_summary())
    plot_conversion_curve(fitter.estimate("b", "c"))
    ax = plot_time_to_convert(fitter.estimate("b", "c"))
    assert ax.get_xlabel() == "weeks from b to c"
    plt.close("all")
