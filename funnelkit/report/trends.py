"""The funnel-trends section of the report: conversion by entry month at equal age."""

from __future__ import annotations

import itertools
from html import escape
from typing import TYPE_CHECKING

from funnelkit.conversion.trends import FunnelTrends, funnel_trends
from funnelkit.report import charts

if TYPE_CHECKING:
    from funnelkit.journeys import Journeys
    from funnelkit.report.report import LifecycleReport

__all__ = ["trends_of", "trends_section"]


def trends_of(journeys: Journeys, conf_level: float) -> tuple[FunnelTrends, ...]:
    """Monthly entry cohorts of every adjacent transition that anyone entered."""
    out = []
    for source, target in itertools.pairwise(journeys.stage_names):
        index, _, _ = journeys.transition(source, target)
        if index.size:
            out.append(funnel_trends(journeys, source, target, by="month", conf_level=conf_level))
    return tuple(out)


def trends_section(report: LifecycleReport) -> str:
    """The section's HTML ('' when the report has no trends)."""
    if not report.trends:
        return ""
    parts = []
    for t in report.trends:
        x = list(range(len(t.rows)))
        chart = charts.line_chart(
            [
                {
                    "x": x,
                    "y": [r.naive_rate for r in t.rows],
                    "label": "naive (so far)",
                    "dash": "4,3",
                    "color": charts.PALETTE[5],
                },
                {
                    "x": x,
                    "y": [r.eventual_rate for r in t.rows],
                    "lower": [
                        None if r.eventual_rate_ci is None else r.eventual_rate_ci[0]
                        for r in t.rows
                    ],
                    "upper": [
                        None if r.eventual_rate_ci is None else r.eventual_rate_ci[1]
                        for r in t.rows
                    ],
                    "label": "eventual",
                },
                {
                    "x": x,
                    "y": [r.rate_within for r in t.rows],
                    "label": f"within {t.window_text}",
                    "color": charts.PALETTE[1],
                },
            ],
            title=f"{t.source} → {t.target} by entry month",
            xlabel=f"entry cohort ({t.rows[0].cohort} = 0)" if t.rows else "entry cohort",
            ylabel="conversion",
        )
        parts.append(f'<div class="charts">{chart}</div>' + t.as_html())
    note = (
        "The naive rate counts customers still waiting as lost, so recent cohorts look worse "
        "than they are; the eventual rate does not, and the rate within the window compares "
        "cohorts at equal age (no value for cohorts not yet followed that long)."
    )
    return (
        '<section id="trends"><h2>Conversion by entry month</h2>'
        + "".join(parts)
        + f'<p class="note">{escape(note)}</p></section>'
    )
