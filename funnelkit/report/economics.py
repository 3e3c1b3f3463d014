"""The channel-economics section of the report: ROI per channel with intervals, in words."""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING, Any

from funnelkit.lifecycle.economics import channel_economics
from funnelkit.lifecycle.economics_results import ChannelEconomics
from funnelkit.report import charts

if TYPE_CHECKING:
    from funnelkit.lifecycle import LifecycleModel
    from funnelkit.lifecycle.results import SegmentValues
    from funnelkit.report.report import LifecycleReport, StepTimer

__all__ = ["economics_of", "economics_section"]


def economics_of(
    model: LifecycleModel | None,
    channels: SegmentValues | None,
    given: tuple[Any, float],
    quality: list[str],
    timer: StepTimer,
) -> ChannelEconomics | None:
    """The economics from the value by channel already in the report (no second bootstrap).

    Without a fitted model or a channel table the costs cannot be used: a note says why.
    A costs channel that the log lacks raises (it is an input error, not a fit failure).
    """
    if model is None or channels is None:
        quality.append(
            "costs were given but the value by channel could not be computed: no channel economics"
        )
        return None
    costs, margin = given
    return timer.run(
        "channel economics",
        lambda: channel_economics(
            model.fit_,
            model.customers(),
            costs,
            margin=margin,
            by=channels.by,
            segments=channels,
        ),
    )


def economics_section(report: LifecycleReport) -> str:
    """The section's body: ROI chart, one sentence per channel, the table and notes."""
    econ = report.economics
    if econ is None:
        return (
            '<p class="note">Pass the acquisition spend per channel (costs=..., a frame with '
            "columns channel and cost) to see the return on each channel.</p>"
        )
    rows = econ.rows
    chart = charts.bar_chart(
        [r.channel for r in rows],
        [r.roi.value for r in rows],
        lower=[None if r.roi.ci is None else r.roi.ci[0] for r in rows],
        upper=[None if r.roi.ci is None else r.roi.ci[1] for r in rows],
        title=f"ROI by {econ.by} within {econ.horizon:g} {econ.time_unit.value}s",
        value_label="return on spend (0 = break-even)",
        annotations=[f"cost {r.cost:,.0f}" for r in rows],
        color=charts.PALETTE[1],
    )
    sentences = "".join(f"<li>{escape(s)}</li>" for s in econ.sentences())
    notes = "".join(f'<p class="note">{escape(n)}</p>' for n in econ.notes)
    method = (
        f"Value is {econ.margin:g} x the expected {econ.value_unit} of a {econ.first_stage} "
        f"over {econ.horizon:g} {econ.time_unit.value}s; ROI = value per {econ.first_stage} / "
        f"cost per {econ.first_stage} - 1. Intervals come from the same bootstrap as the stage "
        "values; the costs are taken as known."
    )
    return (
        chart
        + f"<ul>{sentences}</ul>"
        + econ.as_html()
        + f'<p class="note">{escape(method)}</p>'
        + notes
    )
