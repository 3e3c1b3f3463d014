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

__all__ = ["covariates_section", "covariates_text", "value_sentences"]

_METHOD = (
    "One purchase model and one spend model are fitted on all buyers with the {by} and "
    "membership (at the first purchase) entered together, so each comparison holds the other "
    "fixed; the per-{by} and per-group sections above refit separate models instead. An "
    "adjusted value gives every buyer that {by} or membership, keeps their other attribute, "
    "and averages the expected value of a new buyer's repeat purchases over {horizon:g} "
    "{unit}s; the per-segment value refits the plain models on that segment's buyers alone. "
    "Intervals are {level:.0%} Wald intervals from the fitted models."
)
_CAVEAT = (
    "These are associations, not causal effects: customers choose their channel and whether "
    "to join."
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
        + f'<p class="caveat">{escape(_CAVEAT)}</p>'
        + notes
    )


def covariates_text(report: LifecycleReport) -> list[str]:
    """The section in plain text, as the HTML says it: the values and the effects in
    words, every effect with its interval, the values per level, the tests, the method,
    the caveat and the notes (no lines when the report has no comparison)."""
    c = report.covariates
    if c is None:
        return []
    fmt = PageFormat.of(report)
    effects = [effect_sentence(e, c.by, c.reference, c.conf_level) for e in c.effects if _shown(e)]
    sentences = value_sentences(c, fmt) + [s for s in effects if s is not None]
    unit = c.time_unit.value
    lines = [
        f"{c.title} ({c.purchase_model} and Gamma-Gamma with covariates; horizon "
        f"{c.horizon:g} {unit}s, discount {c.discount_rate:g} per {unit}, values in "
        f"{c.value_unit}; {c.conf_level:.0%} Wald intervals)"
    ]
    lines += [f"  {s}" for s in sentences]
    lines.append("  Effect of each covariate (factor and interval) and what it multiplies:")
    table = c.effects_table()
    names = [f"{r['process']} {r['covariate']}" for r in table]
    factors = [str(r["effect"]) for r in table]
    wide, wider = max(map(len, names), default=0), max(map(len, factors), default=0)
    for name, factor, r in zip(names, factors, table, strict=True):
        lines.append(f"    {name:<{wide}}  {factor:<{wider}}  {r['multiplies']}")
    lines.append(
        f"  Value of a new buyer's repeat purchases over {c.horizon:g} {c.time_unit.value}s:"
    )
    for r in c.values_table(fmt.money):
        lines.append(
            f"    {r['compared']} = {r['level']} ({r['buyers']} buyers): adjusted "
            f"{r['adjusted value']}, per segment {r['per-segment value']}"
        )
    tests = [("purchase model", c.purchase_test)]
    if c.spend_test is not None:
        tests.append(("spend model", c.spend_test))
    lines.append(
        "  Likelihood-ratio tests of the covariates: "
        + "; ".join(f"{n} {t.statistic:.1f} on {t.df} df, p = {t.p_value:.3g}" for n, t in tests)
    )
    method = _METHOD.format(
        by=c.by or "channel", horizon=c.horizon, unit=c.time_unit.value, level=c.conf_level
    )
    lines += [f"  {method}", f"  {_CAVEAT}"]
    lines += [f"  note: {n}" for n in c.notes]
    return lines
