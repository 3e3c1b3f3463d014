"""The report section on channel and membership, each adjusted for the other."""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING

from funnelkit.lifecycle.covariate_results import (
    MEMBER,
    CovariateComparison,
    CovariateEffect,
    effect_sentence,
    is_clear,
)
from funnelkit.report.formatting import PageFormat

if TYPE_CHECKING:
    from funnelkit.report.report import LifecycleReport

__all__ = ["covariates_section", "value_sentences"]

_METHOD = (
    "One purchase model and one spend model are fitted on all buyers with the {by} and "
    "membership (at the first purchase) entered together, so each comparison holds the other "
    "fixed; the per-{by} and per-group sections above refit separate models instead. An "
    "adjusted value gives every buyer that {by} or membership, keeps their other attribute, "
    "and averages the expected value of a new buyer's repeat purchases over {horizon:g} "
    "{unit}s; the per-segment value refits the plain models on that segment's buyers alone. "
    "Intervals are {level:.0%} Wald intervals from the fitted models."
)


def value_sentences(c: CovariateComparison, fmt: PageFormat) -> list[str]:
    """The adjusted member and channel values in plain words, with the per-segment figure."""
    out = []
    groups = {v.level: v for v in c.values if v.covariate == MEMBER}
    if len(groups) == 2:
        non, mem = groups["non-member"], groups["member"]
        held = f"from the same {c.by}" if c.by else "with the same history"
        raw = ""
        if mem.raw_value is not None and non.raw_value is not None:
            raw = (
                f" (separate models per group: {fmt.money(mem.raw_value)} vs "
                f"{fmt.money(non.raw_value)})"
            )
        out.append(
            f"Over {c.horizon:g} {c.time_unit.value}s the repeat purchases of a new member "
            f"buyer are worth {fmt.money(mem.value)} and those of a non-member {held} "
            f"{fmt.money(non.value)}{raw}."
        )
    channels = [v for v in c.values if v.covariate == c.by]
    if channels:
        best = max(channels, key=lambda v: v.value)
        worst = min(channels, key=lambda v: v.value)
        out.append(
            f"With membership held fixed, a new buyer from {best.level} is worth "
            f"{fmt.money(best.value)} and one from {worst.level} {fmt.money(worst.value)}."
        )
    return out


def _shown(e: CovariateEffect) -> bool:
    """Membership's purchase and spend effects always; any other effect that stands out
    from 1."""
    return (e.covariate == MEMBER and e.process != "dropout") or is_clear(e)


def covariates_section(report: LifecycleReport) -> str:
    """The section's body: plain-words effects and values, the tables, the method, notes."""
    c = report.covariates
    if c is None:
        if "covariates" in report.unavailable:
            return ""
        return (
            '<p class="note">Shown when the log has a channel attribute (attribute_cols='
            "['channel']) and both members and non-members among the buyers.</p>"
        )
    fmt = PageFormat.of(report)
    effects = [effect_sentence(e, c.by, c.reference, c.conf_level) for e in c.effects if _shown(e)]
    sentences = value_sentences(c, fmt) + [s for s in effects if s is not None]
    items = "".join(f"<li>{escape(s)}</li>" for s in sentences)
    method = _METHOD.format(
        by=c.by or "channel", horizon=c.horizon, unit=c.time_unit.value, level=c.conf_level
    )
    notes = "".join(f'<p class="note">{escape(n[:1].upper() + n[1:])}.</p>' for n in c.notes)
    return (
        f"<ul>{items}</ul>"
        + f'<div class="table-wrap">{c.as_html(fmt.money)}</div>'
        + f'<p class="note">{escape(method)}</p>'
        + '<p class="caveat">These are associations, not causal effects: customers choose '
        "their channel and whether to join.</p>" + notes
    )
