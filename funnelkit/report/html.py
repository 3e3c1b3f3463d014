"""Render a LifecycleReport as one self-contained HTML page (inline SVG, inline CSS).

The page is well-formed XHTML-compatible markup: every tag is closed and every text is
escaped, so it parses as XML as well as HTML. Nothing is fetched from the network.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from html import escape
from typing import TYPE_CHECKING, Any

from funnelkit._results import Interval
from funnelkit.report import charts
from funnelkit.report._markup import paragraph as _p, table as _table
from funnelkit.report.appendix import is_model_detail, render_appendix, render_clv
from funnelkit.report.curves import (
    conversion_table,
    render_conversion,
    render_first_purchase,
)
from funnelkit.report.formatting import (
    PageFormat,
    band,
    count,
    date,
    discount_text,
    percent,
)
from funnelkit.report.notes import plain_note

if TYPE_CHECKING:
    from funnelkit.report.report import LifecycleReport

__all__ = ["SECTIONS", "render_body", "render_page"]

#: (id, heading) of every section, in page order.
SECTIONS = (
    ("summary", "At a glance"),
    ("funnel", "Funnel"),
    ("conversion", "Conversion between stages"),
    ("trends", "Conversion by entry month"),
    ("first-purchase", "Time to first purchase"),
    ("clv", "Lifetime-value models"),
    ("stage-values", "What each stage is worth"),
    ("channels", "Value by channel"),
    ("economics", "Does each channel pay for itself?"),
    ("uplift", "Members vs non-members"),
    ("join-uplift", "Members from their join"),
    ("covariates", "Channel and membership, adjusted for each other"),
    ("data-quality", "Data quality"),
    ("method", "How these numbers are made"),
    ("appendix", "Appendix: model details"),
)

_CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;color:#222;max-width:1100px;
margin:0 auto;padding:24px;line-height:1.45}
h1{margin-bottom:0}h2{border-bottom:2px solid #2a6f97;padding-bottom:4px;margin-top:40px}
.sub{color:#666;margin-top:4px}.cards{display:flex;flex-wrap:wrap;gap:12px}
.card{border:1px solid #ddd;border-radius:8px;padding:12px 16px;min-width:200px;flex:1}
.card .big{font-size:24px;font-weight:600;color:#2a6f97}.card .small{color:#666;font-size:12px}
table{border-collapse:collapse;margin:12px 0;font-size:13px}
th,td{border-bottom:1px solid #e5e5e5;padding:4px 10px;text-align:right}
th:first-child,td:first-child{text-align:left}th{background:#f5f7fa}
caption{text-align:left;font-weight:600;padding:4px 0;white-space:nowrap}
.charts{display:flex;flex-wrap:wrap;gap:8px}.note{color:#555;font-size:13px}
.caveat{background:#fff6e5;border-left:4px solid #f2a541;padding:8px 12px}
ul.quality li{margin:2px 0}.table-wrap{overflow-x:auto;max-width:100%}
svg{max-width:100%;height:auto}#appendix{color:#444}td{white-space:nowrap}
td .ci{display:block;color:#777;font-size:11px}
"""


def render_page(report: LifecycleReport) -> str:
    """The full HTML document."""
    return (
        '<!DOCTYPE html>\n<html xmlns="http://www.w3.org/1999/xhtml" lang="en"><head>'
        '<meta charset="utf-8"/><meta name="viewport" content="width=device-width"/>'
        f"<title>{escape(_title(report))}</title><style>{_CSS}</style></head><body>"
        + render_body(report)
        + "</body></html>\n"
    )


def render_body(report: LifecycleReport) -> str:
    """The report's content (for Jupyter, without the document wrapper)."""
    parts = [
        f'<div class="funnelkit-report"><h1>{escape(_title(report))}</h1>',
        f'<p class="sub">{escape(_subtitle(report))}</p>',
    ]
    from funnelkit.report.covariates import covariates_section
    from funnelkit.report.economics import economics_section
    from funnelkit.report.join_uplift import join_uplift_section
    from funnelkit.report.trends import trends_section

    builders = {
        "summary": _summary,
        "funnel": _funnel,
        "conversion": render_conversion,
        "trends": trends_section,
        "first-purchase": render_first_purchase,
        "clv": _clv,
        "stage-values": _stage_values,
        "channels": _channels,
        "economics": economics_section,
        "uplift": _uplift,
        "join-uplift": join_uplift_section,
        "covariates": covariates_section,
        "data-quality": _quality,
        "method": _method,
        "appendix": _appendix,
    }
    for key, heading in SECTIONS:
        body = builders[key](report)
        if key in report.unavailable:
            why = plain_note(report.unavailable[key], report.funnel.display_names)
            body = _p(f"Could not be computed: {why.rstrip('.')}.", "caveat") + body
        parts.append(f'<section id="{key}"><h2>{escape(heading)}</h2>{body}</section>')
    parts.append("</div>")
    return "".join(parts)


# ---------------------------------------------------------------------- formatting
def _bound(ci: Interval | None, side: int) -> float | None:
    return None if ci is None else ci[side]


def _title(report: LifecycleReport) -> str:
    return "Lifecycle value report"


def _subtitle(report: LifecycleReport) -> str:
    d, s = report.data, report.settings
    what = "spend" if d.has_values else "number of purchases"
    if d.has_values and s.currency is not None:
        what += f" in {s.currency}"
    unit = s.time_unit.value
    return (
        f"{count(d.n_events)} events from {count(d.n_customers)} customers "
        f"({count(d.n_buyers)} buyers), {date(d.first_event)} to {date(d.observation_end)}. "
        f"Values are the expected {what} over {s.horizon:g} {unit}{'' if s.horizon == 1 else 's'}"
        f", {discount_text(s.discount_rate, s.time_unit)}; ranges are {s.conf_level:.0%} "
        f"intervals. funnelkit {report.funnelkit_version}."
    )


# ---------------------------------------------------------------------- sections
def _summary(report: LifecycleReport) -> str:
    fmt = PageFormat.of(report)
    sv = report.stage_values
    if sv is None:
        return _p(
            "No values: the purchase and spend models could not be fitted (see 'What each "
            "stage is worth'). The funnel, the conversion between stages and the time to "
            "first purchase are measured and shown below."
        )
    first = next(iter(sv.stages))
    cards: list[tuple[str, float | None, Interval | None]] = []
    if sv[first].value is not None:
        cards.append((f"value of a new {fmt.inline(first)}", sv[first].value, sv[first].ci))
    # a step that could not be valued (its stages are empty) would only be a card saying n/a
    for adv in (a for a in report.advancing if a.value is not None):
        cards.append((f"value created: {fmt.step(adv.source, adv.target)}", adv.value, adv.ci))
    if report.uplift is not None:
        d = report.uplift.difference
        cards.append(("member vs comparable non-member buyer", d.value, d.ci))
    if sv[first].value is None:
        # No stage could be valued (e.g. a log of purchases only): what a new buyer is worth
        # is still measured.
        for group, buyer in sv.buyer_values.items():
            cards.append((f"value of a new buyer ({fmt.inline(group)})", buyer.value, buyer.ci))
    html = ['<div class="cards">']
    for label, value, ci in cards:
        html.append(
            f'<div class="card"><div class="small">{escape(label)}</div>'
            f'<div class="big">{escape(fmt.money(value))}</div>'
            f'<div class="small">{escape(band(ci, fmt.money))}</div></div>'
        )
    html.append("</div>")
    if report.channels is not None and report.channels.rows:
        ch = report.channels
        rows = [r for r in ch.rows if r.value_per_prospect.value is not None]
        if rows:
            best = max(rows, key=lambda r: r.value_per_prospect.value or 0.0)
            html.append(
                _p(
                    f"Highest value per {fmt.inline(ch.first_stage)}: {best.segment} "
                    f"({fmt.money(best.value_per_prospect.value)}). Compare with what a "
                    f"{fmt.inline(ch.first_stage)} costs in each {ch.by}."
                )
            )
    return "".join(html)


def _funnel(report: LifecycleReport) -> str:
    fmt = PageFormat.of(report)
    names = list(report.stage_counts)
    counts = [float(report.stage_counts[n]) for n in names]
    first = counts[0] or 1.0
    # "of prospects" for a name made readable; a label of the user's own might not take an
    # "s", so the share is then given of the first stage's count
    stage = next((st for st in report.funnel.stages if st.name == names[0]), None)
    base = f"{fmt.inline(names[0])}s" if stage is None or stage.label is None else count(first)
    shares = ["starting point", *(f"{c / first:.1%} of {base}" for c in counts[1:])]
    if not any(counts):
        # bars of zero length on a 0-to-1 axis of customers would only look broken
        chart = _p(
            "Nobody reached any stage of the funnel: the log has none of the events that put "
            "a customer in its first stage (see Data quality)."
        )
        chart += _reconcile(report, fmt)
        if report.transitions is None:
            return chart
        return chart + conversion_table(report.transitions, "Stage conversion", fmt)
    chart = charts.bar_chart(
        [fmt.name(n) for n in names],
        counts,
        title="Customers who reached each stage",
        value_label="customers",
        annotations=shares,
        tooltips=[
            f"{fmt.name(n)}: {count(c)} customers ({share})"
            for n, c, share in zip(names, counts, shares, strict=True)
        ],
    )
    chart += _reconcile(report, fmt)
    if report.transitions is None:
        return chart
    return chart + conversion_table(report.transitions, "Stage conversion", fmt)


def _reconcile(report: LifecycleReport, fmt: PageFormat) -> str:
    """Why a stage's count differs from the number of customers with its events."""
    reach = report.data.stage_reach
    if not reach:
        return ""
    stages = report.funnel.stages
    out = []
    for k, stage in enumerate(stages):
        n_funnel, n_events = report.stage_counts.get(stage.name), reach.get(stage.name)
        if n_funnel is None or n_events is None or n_funnel == n_events or k == 0:
            continue
        events = " or ".join(f"'{e}'" for e in stage.events)
        had = (
            f"at least {stage.min_count} {events} events"
            if stage.min_count > 1
            else f"a {events} event"
        )
        why = (
            "the funnel is ordered, so these events count only once a customer has reached "
            f"'{fmt.name(stages[k - 1].name)}'"
            if report.funnel.order != "any"
            else "reaching a later stage counts as having passed through this one"
        )
        out.append(
            f"{count(n_events)} customers had {had}, and the funnel counts "
            f"{count(n_funnel)} as '{fmt.name(stage.name)}': {why}."
        )
    return _p(" ".join(out)) if out else ""


def _clv(report: LifecycleReport) -> str:
    return render_clv(report, PageFormat.of(report))


def _stage_values(report: LifecycleReport) -> str:
    sv = report.stage_values
    if sv is None:
        return ""  # the section's caveat says why
    fmt = PageFormat.of(report)
    names = list(sv.stages)
    values = [sv[n].value for n in names]
    chart = charts.bar_chart(
        [fmt.name(n) for n in names],
        values,
        lower=[_bound(sv[n].ci, 0) for n in names],
        upper=[_bound(sv[n].ci, 1) for n in names],
        title="Value of a customer who has just entered each stage",
        value_label=f"expected {fmt.amount} over the horizon",
        tooltips=[_tip(fmt.name(n), sv[n].value, sv[n].ci, fmt) for n in names],
    )
    rows = [
        [fmt.name(n), count(sv[n].n_entrants), fmt.money(sv[n].value), band(sv[n].ci, fmt.money)]
        for n in names
    ]
    rows += [
        [f"New buyer ({fmt.inline(g)})", "", fmt.money(b.value), band(b.ci, fmt.money)]
        for g, b in sv.buyer_values.items()
    ]
    adv = [
        [
            fmt.step(a.source, a.target),
            fmt.money(a.source_value),
            fmt.money(a.target_value),
            fmt.money(a.value),
            band(a.ci, fmt.money),
        ]
        for a in report.advancing
    ]
    return (
        chart
        + _table(["stage", "entrants", "value", "interval"], rows, "Stage values")
        + _table(
            ["step", "value before", "value after", "value created", "interval"],
            adv,
            "Value of advancing one stage",
        )
        + _p(
            f"Intervals: {sv.interval_method}. Value created = difference of the two stage "
            "values; it describes customers who advanced, not the effect of pushing others to."
        )
    )


def _tip(label: str, value: float | None, ci: Interval | None, fmt: PageFormat) -> str:
    ranged = band(ci, fmt.money)
    return f"{label}: {fmt.money(value)}" + (f" ({ranged})" if ranged else "")


def _channels(report: LifecycleReport) -> str:
    ch = report.channels
    if ch is None:
        if "channels" in report.unavailable:
            return ""
        return _p("No channel attribute in the data: read the log with attribute_cols=['channel'].")
    fmt = PageFormat.of(report)
    first = fmt.inline(ch.first_stage)
    vpp = [r.value_per_prospect for r in ch.rows]
    chart = charts.bar_chart(
        [r.segment for r in ch.rows],
        [v.value for v in vpp],
        lower=[_bound(v.ci, 0) for v in vpp],
        upper=[_bound(v.ci, 1) for v in vpp],
        title=f"Value per {first} by {ch.by}",
        value_label=f"expected {fmt.amount} per {first}",
        annotations=[f"{count(r.n_prospects)} ({r.share:.0%})" for r in ch.rows],
        tooltips=[_tip(r.segment, v.value, v.ci, fmt) for r, v in zip(ch.rows, vpp, strict=True)],
        color=charts.PALETTE[2],
    )
    steps = [(s.source, s.target) for s in ch.rows[0].conversion] if ch.rows else []
    rows = []
    for r in ch.rows:
        rates = {(s.source, s.target): s for s in r.conversion}
        ci = band(r.value_per_prospect.ci, fmt.money)
        if not ci and r.value_per_prospect.value is not None:
            ci = "no interval (see below)"
        rows.append(
            [r.segment, count(r.n_prospects)]
            + [percent(rates[k].eventual_rate) if k in rates else "n/a" for k in steps]
            + [
                percent(r.member_share),
                fmt.money(r.buyer_value.value),
                (fmt.money(r.value_per_prospect.value), ci),
            ]
        )
    headers = [
        ch.by,
        f"{first}s",
        *[fmt.step(a, b) for a, b in steps],
        "members among buyers",
        "value per new buyer",
        f"value per {first}",
    ]
    notes = "".join(_p(plain_note(n, fmt.names)) for n in ch.notes)
    caption = (
        f"By {ch.by}: share of each step who eventually convert, and value "
        f"({percent(report.settings.conf_level, 0)} interval under it)"
    )
    return chart + _table(headers, rows, caption) + notes


def _strata_words(strata: Sequence[str]) -> list[str]:
    """Each stratum variable for a sentence: ``cohort:month`` → "month of first purchase"."""
    return [
        f"{s.split(':', 1)[1]} of first purchase" if s.startswith("cohort:") else s for s in strata
    ]


def _uplift(report: LifecycleReport) -> str:
    u = report.uplift
    if u is None:
        if "uplift" in report.unavailable:
            return ""
        return _p("Members and non-members could not be told apart in this data.")
    fmt = PageFormat.of(report)
    words = _strata_words(u.strata)
    rows: list[list[Any]] = [
        ["member buyer", fmt.money(u.member_value)],
        ["comparable non-member buyer", fmt.money(u.non_member_value)],
        ["difference", (fmt.money(u.difference.value), band(u.difference.ci, fmt.money))],
        ["difference without stratifying", fmt.money(u.crude_difference)],
        [
            "members compared",
            f"{count(u.n_members_compared)} of {count(u.n_members)} "
            f"(in {count(u.n_strata_compared)} groups)",
        ],
    ]
    top = sorted(u.rows, key=lambda r: -r.n_members)[:15]
    strata = [
        [
            r.stratum,
            count(r.n_members),
            count(r.n_non_members),
            fmt.money(r.member_value),
            fmt.money(r.non_member_value),
        ]
        for r in top
    ]
    # Said from the strata actually used, not from a fixed text: a channel attribute with
    # another name, or none, changes what the comparison holds equal.
    caveat = (
        "This is an association, not a causal effect: customers choose to join, and the "
        "people who join may have bought more anyway. Members were compared with non-members "
        f"of the same {' and the same '.join(words)}; that removes only the differences "
        f"{'this explains' if len(words) == 1 else 'these explain'}."
    )
    return (
        _table(
            ["", "value over the horizon from the first purchase"],
            rows,
            "Stratified by " + " × ".join(words),
        )
        + f'<p class="caveat">{escape(caveat)}</p>'
        + _table(
            [" × ".join(words), "members", "non-members", "member value", "non-member value"],
            strata,
            "Largest groups",
        )
    )


#: Notes that only repeat, stage by stage, the note naming the stages without events.
_ECHOES_OF_MISSING = re.compile(
    r"^journeys: stage '[^']*': none of its events .* occurs in the log|: nobody entered '[^']*'$"
)


def _quality(report: LifecycleReport) -> str:
    fmt = PageFormat.of(report)
    shown = [n for n in report.data_quality if not is_model_detail(n)]
    if any(n.startswith("the log has no events of the funnel stage(s)") for n in shown):
        shown = [n for n in shown if not _ECHOES_OF_MISSING.search(n)]
    notes = [plain_note(n, fmt.names) for n in shown]
    if not notes:
        return _p("Nothing was dropped or replaced.")
    items = "".join(f"<li>{escape(n)}</li>" for n in dict.fromkeys(notes))
    return f'<ul class="quality">{items}</ul>'


_PURCHASE_MODELS = {"bgnbd": "BG/NBD", "mbgnbd": "MBG/NBD", "pareto": "Pareto/NBD", "bgbb": "BG/BB"}


def _method(report: LifecycleReport) -> str:
    s = report.settings
    model = _PURCHASE_MODELS.get(s.purchase_model, s.purchase_model)
    texts = [
        "A customer has just entered a stage at the event that put them there; their value is "
        "the discounted value of the purchases they make from that moment until the horizon "
        "ends. Earlier purchases are sunk and do not count.",
        "Before the first purchase: the time from entering a stage to the first purchase comes "
        "from a censoring-aware conversion model, and the share of first purchases made as a "
        "member from a logistic model of that time. After it: each group's "
        f"{model} purchase model and Gamma-Gamma spend model give the value of a "
        "new buyer. A repeat buyer is valued at their second purchase, integrating over the "
        "purchase model's distribution of the gap between first and second purchase.",
        f"Intervals: a bootstrap over customers ({count(s.n_resamples)} resamples, every model "
        f"refitted{'' if s.seed is None else f', seed {s.seed}'}); the same data, "
        "settings and seed give the same report.",
        "Membership uplift compares buyers within groups; it is an association, not the effect "
        "of making people join.",
        "The fitted parameters and checks of each model are in the appendix.",
    ]
    return "".join(_p(t) for t in texts)


def _appendix(report: LifecycleReport) -> str:
    return render_appendix(report, PageFormat.of(report))
