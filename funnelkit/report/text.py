"""Plain-text rendering of a LifecycleReport (terminals, logs, the CLI demo)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from funnelkit.conversion import format_conversion_table
from funnelkit.report.covariates import covariates_text
from funnelkit.report.formatting import PageFormat, band, count, date
from funnelkit.report.notes import plain_note

if TYPE_CHECKING:
    from funnelkit.report.report import LifecycleReport

__all__ = ["render_text"]


def render_text(report: LifecycleReport) -> str:
    """Stage counts, conversion, stage values, value of advancing, channels, uplift, and
    channel and membership adjusted for each other."""
    d = report.data
    fmt = PageFormat.of(report)
    lines = [
        f"Lifecycle report: {count(d.n_events)} events, {count(d.n_customers)} customers "
        f"({count(d.n_buyers)} buyers), {date(d.first_event)} to {date(d.observation_end)}",
        "",
        "Stage counts",
    ]
    first = max(next(iter(report.stage_counts.values())), 1)
    for name, n in report.stage_counts.items():
        lines.append(f"  {fmt.name(name):<16}{n:>12,}  {n / first:7.1%}")
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
            ranged = band(adv.ci, fmt.money)
            value = "not estimable" if adv.value is None else fmt.money(adv.value)
            step = f"{fmt.name(adv.source)} -> {fmt.inline(adv.target)}"
            lines.append(f"  {step:<28}{value}{f' ({ranged})' if ranged else ''}")
    if report.channels is not None:
        lines += ["", report.channels.as_text()]
    if report.uplift is not None:
        lines += ["", report.uplift.as_text()]
    if report.covariates is not None:
        lines += ["", *covariates_text(report)]
    if report.data_quality:
        notes = [plain_note(n, fmt.names) for n in report.data_quality]
        lines += ["", "Data quality"] + [f"  - {n}" for n in dict.fromkeys(notes)]
    return "\n".join(lines)
