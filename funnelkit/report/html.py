"""Render a LifecycleReport as one self-contained HTML page (inline SVG, inline CSS).

The page is well-formed XHTML-compatible markup: every tag is closed and every text is
escaped, so it parses as XML as well as HTML. Nothing is fetched from the network.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape
from typing import TYPE_CHECKING, Any

from funnelkit._results import Interval
from funnelkit.report import charts

if TYPE_CHECKING:
    from funnelkit.conversion import ConversionSummary
    from funnelkit.report.report import ConversionCurve, LifecycleReport

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
    ("data-quality", "Data quality"),
    ("method", "How these numbers are made"),
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
caption{text-align:left;font-weight:600;padding:4px 0}
.charts{display:flex;flex-wrap:wrap;gap:8px}.note{color:#555;font-size:13px}
.caveat{background:#fff6e5;border-left:4px solid #f2a541;padding:8px 12px}
ul.quality li{margin:2px 0}
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
    from funnelkit.report.economics import economics_section
    from funnelkit.report.join_uplift import join_uplift_section
    from funnelkit.report.trends import trends_section

    builders = {
        "summary": _summary,
        "funnel": _funnel,
        "conversion": _conversion,
        "trends": trends_section,
        "first-purchase": _first_purchase,
        "clv": _clv,
        "stage-values": _stage_values,
        "channels": _channels,
        "economics": economics_section,
        "uplift": _uplift,
        "join-uplift": join_uplift_section,
        "data-quality": _quality,
        "method": _method,
    }
    for key, heading in SECTIONS:
        body = builders[key](report)
        if key in report.unavailable:
            body = _p(f"Could not be computed: {report.unavailable[key]}.", "caveat") + body
        parts.append(f'<section id="{key}"><h2>{escape(heading)}</h2>{body}</section>')
    parts.append("</div>")
    return "".join(parts)


# ---------------------------------------------------------------------- formatting
def _money(value: float | None) -> str:
    return "n/a" if value is None or not math.isfinite(value) else f"{value:,.2f}"


def _band(ci: Interval | tuple[float, float] | None, fmt: Any = None) -> str:
    fmt = fmt or _money
    lower, upper = (None, None) if ci is None else ci
    return "" if lower is None or upper is None else f"{fmt(lower)} to {fmt(upper)}"


def _bound(ci: Interval | None, side: int) -> float | None:
    return None if ci is None else ci[side]


def _pct(value: float | None) -> str:
    return "n/a" if value is None or not math.isfinite(value) else f"{value:.1%}"


def _num(value: float | None, digits: int = 3) -> str:
    return "n/a" if value is None or not math.isfinite(value) else f"{value:.{digits}g}"


def _table(headers: Sequence[str], rows: Sequence[Sequence[Any]], caption: str = "") -> str:
    head = "".join(f"<th>{escape(str(h))}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f"<td>{escape(str(c))}</td>" for c in row) + "</tr>" for row in rows
    )
    cap = f"<caption>{escape(caption)}</caption>" if caption else ""
    return f"<table>{cap}<tr>{head}</tr>{body}</table>"


def _p(text: str, cls: str = "note") -> str:
    return f'<p class="{cls}">{escape(text)}</p>'


def _unit(report: LifecycleReport) -> str:
    return "money" if report.data.has_values else "purchases"


def _title(report: LifecycleReport) -> str:
    return "Lifecycle value report"


def _subtitle(report: LifecycleReport) -> str:
    d, s = report.data, report.settings
    return (
        f"{d.n_events:,} events from {d.n_customers:,} customers ({d.n_buyers:,} buyers), "
        f"{d.first_event} to {d.observation_end}. Values are expected "
        f"{'spend' if d.has_values else 'purchases'} over {s.horizon:g} {s.time_unit.value}s"
        f" (discount {s.discount_rate:g} per {s.time_unit.value}); "
        f"{s.conf_level:.0%} intervals. funnelkit {report.funnelkit_version}."
    )


# ---------------------------------------------------------------------- sections
def _summary(report: LifecycleReport) -> str:
    sv = report.stage_values
    if sv is None:
        return _p(
            "No values: the purchase and spend models could not be fitted (see 'What each "
            "stage is worth'). The funnel, the conversion between stages and the time to "
            "first purchase are measured and shown below."
        )
    first = next(iter(sv.stages))
    cards = [(f"value per {first}", sv[first].value, sv[first].ci)]
    for adv in report.advancing:
        cards.append((f"value created: {adv.source} → {adv.target}", adv.value, adv.ci))
    if report.uplift is not None:
        d = report.uplift.difference
        cards.append(("member vs comparable non-member buyer", d.value, d.ci))
    if sv[first].value is None:
        # No stage could be valued (e.g. a log of purchases only): what a new buyer is worth
        # is still measured.
        for group, buyer in sv.buyer_values.items():
            cards.append((f"value of a new buyer ({group})", buyer.value, buyer.ci))
    html = ['<div class="cards">']
    for label, value, ci in cards:
        html.append(
            f'<div class="card"><div class="small">{escape(label)}</div>'
            f'<div class="big">{escape(_money(value))}</div>'
            f'<div class="small">{escape(_band(ci))}</div></div>'
        )
    html.append("</div>")
    if report.channels is not None and report.channels.rows:
        rows = [r for r in report.channels.rows if r.value_per_prospect.value is not None]
        if rows:
            best = max(rows, key=lambda r: r.value_per_prospect.value or 0.0)
            html.append(
                _p(
                    f"Highest value per {report.channels.first_stage}: {best.segment} "
                    f"({_money(best.value_per_prospect.value)}). Compare with what a "
                    f"{report.channels.first_stage} costs in each channel."
                )
            )
    return "".join(html)


def _funnel(report: LifecycleReport) -> str:
    names = list(report.stage_counts)
    counts = [float(report.stage_counts[n]) for n in names]
    first = counts[0] or 1.0
    notes = [f"{c / first:.1%} of {names[0]}" for c in counts]
    chart = charts.bar_chart(
        names,
        counts,
        title="Customers who reached each stage",
        value_label="customers",
        annotations=notes,
    )
    if report.transitions is None:
        return chart
    return chart + _conversion_table(report.transitions, "Stage conversion")


def _conversion_table(summary: ConversionSummary, caption: str) -> str:
    unit = summary.time_unit.value
    rows = []
    for r in summary.rows:
        rows.append(
            [
                f"{r.source} → {r.target}",
                f"{r.n_entered:,}",
                f"{r.n_converted:,}",
                f"{_pct(r.naive_rate)} ({_band(r.naive_rate_ci, _pct)})",
                f"{_pct(r.eventual_rate)} ({_band(r.eventual_rate_ci, _pct)})",
                f"{_num(r.median_time)} ({_band(r.median_time_ci, _num)})",
                r.model,
            ]
        )
    headers = [
        "transition",
        "entered",
        "converted",
        "naive rate",
        "eventual rate",
        f"median {unit}s to convert",
        "model",
    ]
    return _table(headers, rows, caption) + _p(
        "Naive = converted / entered (counts everyone still waiting as lost). Eventual = the "
        "censoring-aware share who ever convert (mixture cure model or Kaplan-Meier)."
    )


def _curve_charts(curves: Sequence[ConversionCurve]) -> str:
    out = ['<div class="charts">']
    for c in curves:
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
                    "label": f"{c.model_name} cure model",
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
                title=f"{c.source} → {c.target}",
                xlabel=f"{c.time_unit.value}s since entering {c.source}",
                ylabel="share converted",
                ylim=(0.0, min(1.0, top * 1.1)),
            )
        )
    out.append("</div>")
    return "".join(out)


def _conversion(report: LifecycleReport) -> str:
    if not report.curves:
        return _p("No stage of the funnel was entered: there is no conversion to show.")
    return _curve_charts(report.curves)


def _first_purchase(report: LifecycleReport) -> str:
    if report.first_purchase is None:
        if not any(report.stage_counts.values()):
            return _p("Nobody entered a stage of the funnel: no time to first purchase to show.")
        return _p("Every stage entrant had already bought when entering the stage.")
    return (
        _p(
            "Among customers who had not bought yet when they entered each stage: how many "
            "eventually make a first purchase, and how long it takes."
        )
        + _conversion_table(report.first_purchase, "Stage → first purchase")
        + _curve_charts(report.first_purchase_curves)
    )


def _clv(report: LifecycleReport) -> str:
    html = []
    for check in report.clv:
        fit = check.purchase_fit
        rows = []
        for name, est in fit.params.items():
            rows.append([name, _num(est.estimate, 4), _band(est.ci, lambda v: _num(v, 4))])
        status = "converged" if fit.converged else f"NOT converged: {fit.message}"
        if fit.boundary:
            status += f"; limit model reached: {', '.join(fit.boundary)}"
        caption = (
            f"{check.group}: {fit.model} purchase model, {check.n_buyers:,} buyers "
            f"({check.n_repeat_buyers:,} repeat), {status}"
        )
        if check.borrowed:
            caption += " (borrowed from all customers)"
        html.append(_table(["parameter", "estimate", "interval"], rows, caption))
        spend = (
            f"mean spend per repeat purchase {_money(check.mean_spend)}, first purchase "
            f"{_money(check.mean_first_spend)}"
        )
        if check.spend_fit is not None:
            spend += " (Gamma-Gamma)"
        if check.spend_frequency_correlation is not None:
            spend += (
                f"; correlation of frequency and spend {check.spend_frequency_correlation:.2f}"
                " (the spend model assumes it is near 0)"
            )
        html.append(_p(spend))
        if check.frequency_check is not None:
            fc = check.frequency_check
            rows = [
                [str(f) + ("+" if i == len(fc.frequency) - 1 else ""), f"{o:,.0f}", f"{e:,.1f}"]
                for i, (f, o, e) in enumerate(
                    zip(fc.frequency, fc.observed, fc.expected, strict=True)
                )
            ]
            html.append(
                _table(
                    ["repeat purchases", "customers", "model expects"],
                    rows,
                    f"{check.group}: observed vs expected repeat purchases",
                )
            )
    if report.value_distribution:
        hist = report.value_distribution
        html.append(
            charts.histogram_chart(
                hist[0].edges,
                [h.counts for h in hist],
                [h.group for h in hist],
                title="Expected value of current buyers over the horizon",
                xlabel=f"expected {_unit(report)} (top 1% folded into the last bin)",
            )
        )
        html.append(
            _table(
                ["group", "buyers", "mean", "median"],
                [[h.group, f"{h.n:,}", _money(h.mean), _money(h.median)] for h in hist],
            )
        )
    return "".join(html)


def _stage_values(report: LifecycleReport) -> str:
    sv = report.stage_values
    if sv is None:
        return ""  # the section's caveat says why
    names = list(sv.stages)
    values = [sv[n].value for n in names]
    lower = [_bound(sv[n].ci, 0) for n in names]
    upper = [_bound(sv[n].ci, 1) for n in names]
    chart = charts.bar_chart(
        names,
        values,
        lower=lower,
        upper=upper,
        title="Value of a customer who has just entered each stage",
        value_label=f"expected {_unit(report)} over the horizon",
    )
    rows = [[n, f"{sv[n].n_entrants:,}", _money(sv[n].value), _band(sv[n].ci)] for n in names]
    rows += [
        [f"new buyer ({g})", "", _money(b.value), _band(b.ci)] for g, b in sv.buyer_values.items()
    ]
    adv = [
        [
            f"{a.source} → {a.target}",
            _money(a.source_value),
            _money(a.target_value),
            _money(a.value),
            _band(a.ci),
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


def _channels(report: LifecycleReport) -> str:
    ch = report.channels
    if ch is None:
        if "channels" in report.unavailable:
            return ""
        return _p("No channel attribute in the data: read the log with attribute_cols=['channel'].")
    labels = [r.segment for r in ch.rows]
    vpp = [r.value_per_prospect for r in ch.rows]
    chart = charts.bar_chart(
        labels,
        [v.value for v in vpp],
        lower=[_bound(v.ci, 0) for v in vpp],
        upper=[_bound(v.ci, 1) for v in vpp],
        title=f"Value per {ch.first_stage} by {ch.by}",
        value_label=f"expected {_unit(report)} per {ch.first_stage}",
        annotations=[f"{r.n_prospects:,} ({r.share:.0%})" for r in ch.rows],
        color=charts.PALETTE[2],
    )
    steps = [f"{s.source} → {s.target}" for s in ch.rows[0].conversion] if ch.rows else []
    rows = []
    for r in ch.rows:
        rates = {f"{s.source} → {s.target}": s for s in r.conversion}
        rows.append(
            [r.segment, f"{r.n_prospects:,}"]
            + [_pct(rates[k].eventual_rate) if k in rates else "n/a" for k in steps]
            + [
                _pct(r.member_share),
                _money(r.buyer_value.value),
                _money(r.value_per_prospect.value),
                _band(r.value_per_prospect.ci),
            ]
        )
    headers = [
        ch.by,
        ch.first_stage + "s",
        *[f"{s} (eventual)" for s in steps],
        "members among buyers",
        "value per new buyer",
        f"value per {ch.first_stage}",
        "interval",
    ]
    notes = "".join(_p(n) for n in ch.notes)
    return chart + _table(headers, rows, f"By {ch.by}") + notes


def _uplift(report: LifecycleReport) -> str:
    u = report.uplift
    if u is None:
        if "uplift" in report.unavailable:
            return ""
        return _p("Members and non-members could not be told apart in this data.")
    rows = [
        ["member buyer", _money(u.member_value)],
        ["comparable non-member buyer", _money(u.non_member_value)],
        ["difference", f"{_money(u.difference.value)} ({_band(u.difference.ci)})"],
        ["unstratified difference", _money(u.crude_difference)],
        [
            "members compared",
            f"{u.n_members_compared:,} of {u.n_members:,} ({u.n_strata_compared} strata)",
        ],
    ]
    top = sorted(u.rows, key=lambda r: -r.n_members)[:15]
    strata = [
        [
            r.stratum,
            f"{r.n_members:,}",
            f"{r.n_non_members:,}",
            _money(r.member_value),
            _money(r.non_member_value),
        ]
        for r in top
    ]
    return (
        _table(
            ["", "value over the horizon from the first purchase"],
            rows,
            "Stratified by " + " × ".join(u.strata),
        )
        + f'<p class="caveat">{escape(u.statement)}</p>'
        + _table(
            ["stratum", "members", "non-members", "member value", "non-member value"],
            strata,
            "Largest strata",
        )
    )


def _quality(report: LifecycleReport) -> str:
    if not report.data_quality:
        return _p("Nothing was dropped or replaced.")
    items = "".join(f"<li>{escape(n)}</li>" for n in report.data_quality)
    return f'<ul class="quality">{items}</ul>'


def _method(report: LifecycleReport) -> str:
    s = report.settings
    texts = [
        "A customer has just entered a stage at the event that put them there; their value is "
        "the discounted value of the purchases they make from that moment until the horizon "
        "ends. Earlier purchases are sunk and do not count.",
        "Before the first purchase: the time from entering a stage to the first purchase comes "
        "from a censoring-aware conversion model, and the share of first purchases made as a "
        "member from a logistic model of that time. After it: each group's "
        f"{s.purchase_model} purchase model and Gamma-Gamma spend model give the value of a "
        "new buyer. A repeat buyer is valued at their second purchase, integrating over the "
        "purchase model's distribution of the gap between first and second purchase.",
        f"Intervals: a bootstrap over customers ({s.n_resamples} samples, every model refitted"
        f"{'' if s.seed is None else f', seed {s.seed}'}); the same data, "
        "settings and seed give the same report.",
        "Membership uplift compares buyers within strata; it is an association, not the effect "
        "of making people join.",
    ]
    return "".join(_p(t) for t in texts)
