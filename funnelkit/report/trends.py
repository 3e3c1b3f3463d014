"""The funnel-trends section of the report: conversion by entry month at equal age."""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from html import escape
from typing import TYPE_CHECKING

from funnelkit.conversion.trends import FunnelTrends, funnel_trends

if TYPE_CHECKING:
    from funnelkit.conversion.results import TransitionEstimate
    from funnelkit.journeys import Journeys
    from funnelkit.report.report import LifecycleReport

__all__ = ["trends_of", "trends_section"]


def trends_of(
    journeys: Journeys,
    conf_level: float,
    pooled: Mapping[tuple[str, str], TransitionEstimate] | None = None,
) -> tuple[FunnelTrends, ...]:
    """Monthly entry cohorts of every adjacent transition that anyone entered.

    ``pooled`` holds transitions' estimates on all entrants of these journeys (the report's
    stage conversion): their delay families are kept for the cohorts, not chosen again.
    """
    pooled = pooled or {}
    out = []
    for source, target in itertools.pairwise(journeys.stage_names):
        index, _, _ = journeys.transition(source, target)
        if index.size:
            out.append(
                funnel_trends(
                    journeys,
                    source,
                    target,
                    by="month",
                    conf_level=conf_level,
                    pooled_estimate=pooled.get((source, target)),
                )
            )
    return tuple(out)


def trends_section(report: LifecycleReport) -> str:
    """The section's body: one table per transition."""
    if not report.trends:
        return ""
    # Tables, not charts: a month per row reads at a glance, and FunnelTrends.plot draws
    # the lines for anyone who wants them.
    parts = [t.as_html(report.funnel.display_names) for t in report.trends]
    note = (
        "The naive rate counts customers still waiting as lost, so recent cohorts look worse "
        "than they are; the eventual rate does not, and the rate within the window compares "
        "cohorts at equal age (no value for cohorts not yet followed that long)."
    )
    return "".join(parts) + f'<p class="note">{escape(note)}</p>'
