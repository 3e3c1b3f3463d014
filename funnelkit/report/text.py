"""Plain-text rendering of a LifecycleReport (terminals, logs, the CLI demo)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from funnelkit.conversion import format_conversion_table
from funnelkit.lifecycle._bootstrap import MIN_REPLICATES
from funnelkit.report.covariates import covariates_text
from funnelkit.report.formatting import PageFormat, band, count, date
from funnelkit.report.notes import plain_note

if TYPE_CHECKING:
    from funnelkit.report.report import LifecycleReport

__all__ = ["interval_words", "render_text", "value_section_text"]

_NOTE = "  note: "


def interval_words(drawn: int, fitted: int | None, method: str) -> str:
    """What is true of a value section's intervals, for its header.

    ``method`` is the model's own words; they stand when intervals are shown, when there
    was no bootstrap, or when more than half of the samples failed (not estimable). When
    samples were drawn but too few were fitted for an interval, the words say how many were
    drawn (``drawn``) and fitted (``fitted``; ``None`` when each segment counts its own)
    and why no interval is shown, instead of "no bootstrap".

    Examples
    --------
    >>> interval_words(3, 2, "none (no bootstrap)")
    'none (3 bootstrap samples drawn, 2 fitted; an interval needs at least 10 fitted)'
    >>> interval_words(3, None, "none (no bootstrap)")
    'none (3 bootstrap samples drawn per segment; an interval needs at least 10 fitted)'
    >>> interval_words(0, 0, "none (no bootstrap)")
    'none (no bootstrap)'
    """
    need = f"an interval needs at least {MIN_REPLICATES} fitted"
    if drawn == 0:
        return method
    if fitted is None:  # segments with too few fitted samples say so in their notes
        return (
            method
            if drawn >= MIN_REPLICATES
            else f"none ({drawn} bootstrap samples drawn per segment; {need})"
        )
    failed = drawn - fitted
    if fitted >= MIN_REPLICATES or 2 * failed > drawn:  # shown, or not estimable
        return method
    fits = f", {fitted} fitted" if failed else ""
    return f"none ({drawn} bootstrap samples drawn{fits}; {need})"


def value_section_text(report: LifecycleReport, result: Any, *, per_segment: bool = False) -> str:
    """A value section (stage values, segments, uplift) as text that agrees with itself.

    Its header says how many bootstrap samples were drawn and fitted when too few were
    fitted for intervals (:func:`interval_words`), and its notes are said for a reader
    (:func:`funnelkit.report.notes.plain_note`), which counts the samples the same way.
    ``per_segment``: each segment drew the report's samples and counts its own failures.
    """
    fmt = PageFormat.of(report)
    lines = result.as_text().splitlines()
    fitted = None if per_segment else int(result.n_resamples)
    said = interval_words(int(report.settings.n_resamples), fitted, result.interval_method)
    old = f"intervals: {result.interval_method})"
    if lines and lines[0].endswith(old):
        lines[0] = lines[0][: -len(old)] + f"intervals: {said})"
    return "\n".join(
        _NOTE + plain_note(line[len(_NOTE) :], fmt.names) if line.startswith(_NOTE) else line
        for line in lines
    )


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
        lines += ["", value_section_text(report, report.stage_values)]
        lines.append("")
        lines.append("Value of advancing")
        for adv in report.advancing:
            ranged = band(adv.ci, fmt.money)
            value = "not estimable" if adv.value is None else fmt.money(adv.value)
            step = f"{fmt.name(adv.source)} -> {fmt.inline(adv.target)}"
            lines.append(f"  {step:<28}{value}{f' ({ranged})' if ranged else ''}")
    if report.channels is not None:
        lines += ["", value_section_text(report, report.channels, per_segment=True)]
    if report.uplift is not None:
        lines += ["", value_section_text(report, report.uplift)]
    if report.covariates is not None:
        lines += ["", *covariates_text(report)]
    if report.data_quality:
        notes = [plain_note(n, fmt.names) for n in report.data_quality]
        lines += ["", "Data quality"] + [f"  - {n}" for n in dict.fromkeys(notes)]
    return "\n".join(lines)
