"""The conversion sections: stage-to-stage and stage-to-first-purchase tables and curves."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from funnelkit.report import charts
from funnelkit.report._markup import paragraph as _p, table as _table
from funnelkit.report.formatting import PageFormat, band, count, number, percent

if TYPE_CHECKING:
    from funnelkit.conversion import ConversionSummary
    from funnelkit.report.report import ConversionCurve, LifecycleReport

__all__ = ["conversion_table", "model_name", "render_conversion", "render_first_purchase"]


_CURVE_MODELS = {
    "kaplan-meier": "Kaplan-Meier",
    "weibull": "Weibull",
    "lognormal": "log-normal",
    "loglogistic": "log-logistic",
    "exponential": "exponential",
    "gompertz": "Gompertz",
}


def model_name(name: str) -> str:
    return _CURVE_MODELS.get(name, name)


def conversion_table(summary: ConversionSummary, caption: str, fmt: PageFormat) -> str:
    unit = summary.time_unit.value
    rows = []
    for r in summary.rows:
        rows.append(
            [
                fmt.step(r.source, r.target),
                count(r.n_entered),
                count(r.n_converted),
                (percent(r.naive_rate), band(r.naive_rate_ci, percent)),
                (percent(r.eventual_rate), band(r.eventual_rate_ci, percent)),
                (number(r.median_time), band(r.median_time_ci, number)),
                model_name(r.model),
            ]
        )
    headers = [
        "step",
        "entered",
        "converted",
        "converted so far",
        "will eventually convert",
        f"median {unit}s to convert",
        "curve",
    ]
    return _table(
        headers, rows, f"{caption} ({percent(summary.conf_level, 0)} intervals under each estimate)"
    ) + _p(
        "Converted so far = converted / entered: it counts everyone still waiting as lost. "
        "Will eventually convert = the share who ever convert, counting those still waiting "
        "by how long they have been observed (a cure model of the named curve shape, or the "
        "observed Kaplan-Meier share)."
    )


def _curve_charts(curves: Sequence[ConversionCurve], fmt: PageFormat) -> str:
    out = ['<div class="charts">']
    for c in curves:
        unit = c.time_unit.value

        def tip(label: str, x: float, y: float, lo: float | None, hi: float | None) -> str:
            ci = "" if lo is None or hi is None else f" ({percent(lo)} to {percent(hi)})"
            return f"{label}: {percent(y)} converted after {x:.0f} {unit}s{ci}"  # noqa: B023

        series: list[dict[str, Any]] = [
            {
                "x": c.times,
                "y": c.observed,
                "lower": c.lower,
                "upper": c.upper,
                "label": "observed (Kaplan-Meier)",
            }
        ]
        if c.model is not None:
            series.append(
                {
                    "x": c.times,
                    "y": c.model,
                    "label": f"{model_name(c.model_name)} cure model",
                    "dash": "6 4",
                    "color": charts.PALETTE[1],
                }
            )
        top = max(
            [v for v in (c.upper or []) if v is not None] + c.observed + (c.model or []) + [0.05]
        )
        out.append(
            charts.line_chart(
                series,
                title=fmt.step(c.source, c.target),
                xlabel=f"{unit}s since entering {fmt.inline(c.source)}",
                ylabel="share converted",
                ylim=(0.0, min(1.0, top * 1.1)),
                point_tip=tip,
                ytick_format=lambda v: f"{v:.0%}" if round(v * 100, 9).is_integer() else f"{v:.1%}",
                # three side by side on a wide screen, two on a narrow one
                width=340,
            )
        )
    out.append("</div>")
    return "".join(out)


def render_conversion(report: LifecycleReport) -> str:
    if not report.curves:
        return _p("No stage of the funnel was entered: there is no conversion to show.")
    return _curve_charts(report.curves, PageFormat.of(report))


def render_first_purchase(report: LifecycleReport) -> str:
    fmt = PageFormat.of(report)
    if report.first_purchase is None:
        if not any(report.stage_counts.values()):
            return _p("Nobody entered a stage of the funnel: no time to first purchase to show.")
        return _p("Every stage entrant had already bought when entering the stage.")
    return (
        _p(
            "Among customers who had not bought yet when they entered each stage: how many "
            "eventually make a first purchase, and how long it takes."
        )
        + conversion_table(report.first_purchase, "Stage → first purchase", fmt)
        + _curve_charts(report.first_purchase_curves, fmt)
    )
