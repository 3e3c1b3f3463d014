"""Plain-text rendering of a LifecycleReport (terminals, logs, the CLI demo)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from funnelkit.conversion import format_conversion_table

if TYPE_CHECKING:
    from funnelkit.report.report import LifecycleReport

__all__ = ["render_text"]


def render_text(report: LifecycleReport) -> str:
    """Stage counts, conversion, stage values, value of advancing, channels and uplift."""
    d = report.data
    lines = [
        f"Lifecycle report: {d.n_events:,} events, {d.n_customers:,} customers "
        f"({d.n_buyers:,} buyers), {d.first_event} to {d.observation_end}",
        "",
        "Stage counts",
    ]
    first = max(next(iter(report.stage_counts.values())), 1)
    for name, count in report.stage_counts.items():
        lines.append(f"  {name:<16}{count:>12,}  {count / first:7.1%}")
    if report.transitions is not None:
        lines += ["", format_conversion_table(report.transitions)]
    if report.stage_values is None:
        why = report.unavailable.get("stage-values", "the purchase model could not be fitted")
        lines += ["", f"Stage values: could not be computed: {why}"]
    else:
        lines += ["", report.stage_values.as_text()]
        lines.append("")
        lines.append("Value of advancing")
        for adv in report.advancing:
            band = "" if adv.ci is None else f" ({adv.ci[0]:,.2f} to {adv.ci[1]:,.2f})"
            value = "not estimable" if adv.value is None else f"{adv.value:,.2f}"
            lines.append(f"  {adv.source + ' -> ' + adv.target:<28}{value}{band}")
    if report.channels is not None:
        lines += ["", report.channels.as_text()]
    if report.uplift is not None:
        lines += ["", report.uplift.as_text()]
    if report.data_quality:
        lines += ["", "Data quality"] + [f"  - {n}" for n in report.data_quality]
    return "\n".join(lines)
