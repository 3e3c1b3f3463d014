"""Plots of stage forecasts (matplotlib is imported only when a plot is drawn)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from funnelkit._optional import import_optional

if TYPE_CHECKING:
    from funnelkit.dynamics.forecast_result import StageForecast

__all__ = ["plot_stage_forecast"]


def plot_stage_forecast(
    forecast: StageForecast,
    *,
    quantity: Literal["occupancy", "reached", "dormant"] = "occupancy",
    stages: Sequence[str] | None = None,
    ax: Any = None,
    show_dormant: bool = True,
    band_alpha: float = 0.2,
) -> Any:
    """Forecast curves of stage occupancy (or reached counts) with prediction bands.

    Works on a forecast loaded back from JSON: it only uses the numbers in the result.

    Parameters
    ----------
    forecast : StageForecast
    quantity : {"occupancy", "reached", "dormant"}
        Active customers per stage, customers who reached each stage, or dormant only.
    stages : sequence of str, optional
        Stages to draw (default all).
    ax : matplotlib Axes, optional
        Where to draw; a new figure otherwise.
    show_dormant : bool, default True
        Also draw the dormant curve when ``quantity="occupancy"``.

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from funnelkit.dynamics import StageMarkovFitter, simulate_stage_chain
    >>> sim = simulate_stage_chain(300, advance_rates=[0.2], dropout_rates=[0.1], seed=3)
    >>> journeys = sim.funnel.journeys(sim.log(), observation_end=40.0)
    >>> fc = StageMarkovFitter().fit(journeys).forecast(journeys, horizon=10.0, n_draws=20)
    >>> ax = plot_stage_forecast(fc)
    >>> ax.get_xlabel()
    'time from now (days)'
    """
    plt = import_optional("matplotlib.pyplot", purpose="plot_stage_forecast")
    if ax is None:
        _, ax = plt.subplots()
    times = np.asarray(forecast.times)
    series: list[tuple[str, Any]] = []
    if quantity != "dormant":
        for stage in stages if stages is not None else forecast.stage_names:
            series.append((stage, forecast.curve(quantity, stage)))
    if quantity == "dormant" or (quantity == "occupancy" and show_dormant):
        series.append(("dormant", forecast.curve("dormant")))
    for label, parts in series:
        if parts is None:
            label = f"{label} (not estimable)"
            ax.plot([], [], label=label, linestyle=":")
            continue
        expected, lower, upper = (np.asarray(p) for p in parts)
        (line,) = ax.plot(times, expected, label=label,
                          linestyle="--" if label == "dormant" else "-")  # fmt: skip
        ax.fill_between(times, lower, upper, color=line.get_color(), alpha=band_alpha, lw=0)
    ax.set_xlabel(f"time from now ({forecast.time_unit.value}s)")
    what = {"occupancy": "active customers", "reached": "customers reached", "dormant": "dormant"}
    ax.set_ylabel(f"expected {what[quantity]}")
    ax.set_title(f"Stage forecast ({forecast.conf_level:.0%} prediction intervals)")
    ax.legend(loc="best")
    return ax
