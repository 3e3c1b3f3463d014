"""Plots of conversion results (matplotlib is imported only when a plot is drawn).

Every function takes results, not a fitter, so results loaded back from JSON plot the same.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from funnelkit._optional import import_optional

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from funnelkit._results import Interval
    from funnelkit.conversion.results import TransitionEstimate
    from funnelkit.conversion.summary import ConversionSummary

__all__ = ["plot_conversion_curve", "plot_funnel", "plot_time_to_convert"]


def _axes(ax: Axes | None) -> Axes:
    if ax is not None:
        return ax
    plt = import_optional("matplotlib.pyplot", purpose="Plotting")
    return plt.subplots(figsize=(7, 4))[1]


def _yerr(values: list[float | None], cis: list[Interval | None]) -> np.ndarray:
    err = np.zeros((2, len(values)))
    for i, (v, ci) in enumerate(zip(values, cis, strict=True)):
        if v is not None and ci is not None and ci.lower is not None and ci.upper is not None:
            err[:, i] = (max(v - ci.lower, 0.0), max(ci.upper - v, 0.0))
    return err


def plot_funnel(
    summary: ConversionSummary, *, ax: Axes | None = None, segment: str | None = None
) -> Axes:
    """Naive and eventual conversion of each transition, side by side with their intervals.

    Parameters
    ----------
    summary
        From :meth:`ConversionFitter.summary`.
    ax
        Axes to draw on (a new figure by default).
    segment
        Draw this segment's rows instead of everyone's.

    Returns
    -------
    matplotlib.axes.Axes
    """
    ax = _axes(ax)
    rows = [r for r in summary.rows if r.segment == segment]
    x = np.arange(len(rows))
    naive = [r.naive_rate for r in rows]
    eventual = [r.eventual_rate for r in rows]
    width = 0.38
    ax.bar(
        x - width / 2,
        [v or 0.0 for v in naive],
        width,
        yerr=_yerr(naive, [r.naive_rate_ci for r in rows]),
        capsize=3,
        color="#9ecae1",
        label="naive: converted / entered",
    )
    ax.bar(
        x + width / 2,
        [v or 0.0 for v in eventual],
        width,
        yerr=_yerr(eventual, [r.eventual_rate_ci for r in rows]),
        capsize=3,
        color="#3182bd",
        label="eventual (censoring-aware)",
    )
    for i, v in enumerate(eventual):
        if v is None:
            ax.annotate("not estimable", (x[i] + width / 2, 0.01), rotation=90, ha="center")
    ax.set_xticks(x)
    ax.set_xticklabels([f"{r.source}\n→ {r.target}" for r in rows])
    ax.set_ylabel("share of entrants who convert")
    ax.set_ylim(0, 1)
    title = f"Stage conversion ({summary.conf_level:.0%} intervals)"
    ax.set_title(title if segment is None else f"{title}: {segment}")
    ax.legend(loc="upper right")
    return ax


def plot_conversion_curve(
    estimate: TransitionEstimate,
    *,
    ax: Axes | None = None,
    horizon: float | None = None,
    show_model: bool = True,
    label: str | None = None,
    color: Any = None,
) -> Axes:
    """Kaplan-Meier cumulative conversion with its band, and the cure model overlaid.

    The dotted horizontal line is the model's eventual rate ``p``; the model curve is drawn
    up to ``horizon`` (default 1.5 times the longest follow-up), past the data.

    Returns
    -------
    matplotlib.axes.Axes
    """
    ax = _axes(ax)
    times, rate, lower, upper = estimate.curve.arrays
    end = estimate.max_followup or (float(times[-1]) if times.size else 1.0)
    t = np.concatenate(([0.0], times, [end]))
    f = np.concatenate(([0.0], rate, [rate[-1] if rate.size else 0.0]))
    name = label or ("Kaplan-Meier" if estimate.segment is None else estimate.segment)
    (line,) = ax.step(t, f, where="post", label=name, color=color)
    if times.size:
        lo = np.concatenate(([0.0], lower, [lower[-1]]))
        hi = np.concatenate(([0.0], upper, [upper[-1]]))
        ax.fill_between(t, lo, hi, step="post", alpha=0.2, color=line.get_color(), lw=0)
    fit = estimate.cure_fit
    if show_model and fit is not None:
        grid = np.linspace(0.0, horizon or 1.5 * end, 400)
        ax.plot(
            grid,
            fit.cdf(grid),
            "--",
            color=line.get_color(),
            label=f"{fit.distribution} cure model",
        )
        ax.axhline(fit.eventual_rate, ls=":", color=line.get_color(), lw=1)
    unit = estimate.time_unit.value
    ax.set_xlabel(f"{unit}s since entering {estimate.source}")
    ax.set_ylabel(f"share converted to {estimate.target}")
    ax.set_ylim(
        0, min(1.0, max(0.05, 1.15 * float(np.nanmax(np.r_[f, estimate.eventual_rate or 0]))))
    )
    ax.set_title(f"{estimate.source} → {estimate.target}")
    ax.legend(loc="lower right")
    return ax


def plot_time_to_convert(
    estimate: TransitionEstimate, *, ax: Axes | None = None, bins: int = 30
) -> Axes:
    """Distribution of the time to convert among eventual converters.

    Bars: the Kaplan-Meier conversion mass per time bin, divided by the eventual rate (a
    censoring-aware histogram up to the longest follow-up); line: the fitted delay density;
    shaded: the median time and its interval.

    Returns
    -------
    matplotlib.axes.Axes
    """
    ax = _axes(ax)
    times, rate, _, _ = estimate.curve.arrays
    eventual = estimate.eventual_rate
    end = estimate.max_followup or 1.0
    if times.size and eventual:
        edges = np.linspace(0.0, end, bins + 1)
        idx = np.searchsorted(times, edges, side="right") - 1
        cum = np.where(idx >= 0, rate[np.maximum(idx, 0)], 0.0)
        density = np.diff(cum) / eventual / np.diff(edges)
        ax.bar(edges[:-1], density, np.diff(edges), align="edge", alpha=0.5, label="Kaplan-Meier")
    fit = estimate.cure_fit
    if fit is not None:
        grid = np.linspace(0.0, end, 400)[1:]
        ax.plot(grid, fit.delay_pdf(grid), color="C3", label=f"{fit.distribution} delay")
    if estimate.median_time is not None:
        ax.axvline(estimate.median_time, color="k", lw=1, label="median")
        if estimate.median_time_ci is not None:
            ax.axvspan(*estimate.median_time_ci, color="k", alpha=0.1)
    ax.set_xlabel(f"{estimate.time_unit.value}s from {estimate.source} to {estimate.target}")
    ax.set_ylabel("density among converters")
    ax.set_title(f"Time to convert: {estimate.source} → {estimate.target}")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="upper right")
    else:
        ax.text(0.5, 0.5, "no conversions observed", transform=ax.transAxes, ha="center")
    return ax
