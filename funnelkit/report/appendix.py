"""The lifetime-value section in plain words, and the appendix with the statistical detail.

The body of the page says what the purchase and spend models found (how many buyers came
back, what a purchase is worth, whether the model reproduces the data); the parameters, the
fit status, the limit models and the observed-vs-expected tables are in the appendix for
whoever checks the models.
"""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING

from funnelkit.report import charts
from funnelkit.report._markup import paragraph as _p, table as _table
from funnelkit.report.formatting import PageFormat, band, count, number, signed
from funnelkit.report.notes import plain_note

if TYPE_CHECKING:
    from funnelkit.report.report import ClvCheck, LifecycleReport

__all__ = ["is_model_detail", "render_appendix", "render_clv"]

#: a frequency check is called a good fit when no bar is off by more than this share of buyers
GOOD_FIT = 0.05

#: What the parameters of a purchase model say, by the set of parameter names it has.
PARAMETER_MEANINGS = {
    frozenset({"r", "alpha", "a", "b"}): (
        "r and alpha: how often buyers purchase while active (purchase rates vary between "
        "buyers as a gamma distribution with shape r and rate alpha, mean r / alpha per "
        "period); a and b: how soon they stop (the chance of dropping out after a purchase "
        "varies as a beta distribution with mean a / (a + b))."
    ),
    frozenset({"r", "alpha", "s", "beta"}): (
        "r and alpha: how often buyers purchase while active (gamma distribution of purchase "
        "rates, mean r / alpha per period); s and beta: how long they stay (gamma distribution "
        "of dropout rates, mean s / beta per period)."
    ),
    frozenset({"alpha", "beta", "gamma", "delta"}): (
        "alpha and beta: how likely a buyer is to purchase in a period while active (beta "
        "distribution); gamma and delta: how likely they are to drop out in a period (beta "
        "distribution)."
    ),
}


def is_model_detail(note: str) -> bool:
    """Whether a note is about a model's fit (appendix) rather than about the data."""
    return " purchase model: " in note or note.startswith("purchase model: ")


def _fit_words(check: ClvCheck) -> str:
    """Whether the purchase model reproduces how often buyers came back, in one clause."""
    fc = check.frequency_check
    if fc is None or check.n_buyers == 0:
        return ""
    worst = max(abs(o - e) for o, e in zip(fc.observed, fc.expected, strict=True))
    share = worst / check.n_buyers
    if share <= GOOD_FIT:
        return (
            " The purchase model reproduces how many buyers came back how often (every count "
            f"within {share:.1%} of the buyers; table in the appendix)."
        )
    return (
        f" The purchase model misses some of how often buyers came back (up to {share:.1%} of "
        "the buyers in one count; table in the appendix): treat these values with care."
    )


def render_clv(report: LifecycleReport, fmt: PageFormat) -> str:
    """Per buyer group: buyers, repeat buyers, spend, fit in words; the value distribution."""
    html = []
    for check in report.clv:
        group = fmt.name(check.group)
        text = (
            f"{group}: {count(check.n_buyers)} buyers, {count(check.n_repeat_buyers)} of whom "
            f"bought again after the {report.settings.period.value} of their first purchase."
        )
        if report.data.has_values:
            text += (
                f" A repeat purchase is worth {fmt.money(check.mean_spend)} on average, a first "
                f"purchase {fmt.money(check.mean_first_spend)}."
            )
        if check.borrowed:
            text += (
                " Too few of them bought again for a model of their own: the model fitted on "
                "all buyers is used for this group."
            )
        html.append(_p(text + _fit_words(check)))
    if report.value_distribution:
        hist = report.value_distribution
        html.append(
            charts.histogram_chart(
                hist[0].edges,
                [h.counts for h in hist],
                [fmt.name(h.group) for h in hist],
                title="Expected value of current buyers over the horizon",
                xlabel=f"expected {fmt.amount} (top 1% folded into the last bin)",
                edge_format=fmt.money,
            )
        )
        html.append(
            _table(
                ["group", "buyers", "mean", "median"],
                [
                    [fmt.name(h.group), count(h.n), fmt.money(h.mean), fmt.money(h.median)]
                    for h in hist
                ],
            )
        )
    return "".join(html)


def _check_tables(check: ClvCheck, fmt: PageFormat, has_values: bool) -> list[str]:
    fit = check.purchase_fit
    group = fmt.name(check.group)
    rows = [
        [name, number(est.estimate, 4), band(est.ci, lambda v: number(v, 4))]
        for name, est in fit.params.items()
    ]
    status = "converged" if fit.converged else f"did not converge: {fit.message}"
    if fit.boundary:
        status += f"; limit model: {', '.join(fit.boundary)}"
    caption = (
        f"{group}: {fit.model} purchase model, {count(check.n_buyers)} buyers "
        f"({count(check.n_repeat_buyers)} repeat), {status}"
    )
    if check.borrowed:
        caption += " (fitted on all buyers)"
    html = [_table(["parameter", "estimate", "interval"], rows, caption)]
    meaning = PARAMETER_MEANINGS.get(frozenset(fit.params))
    if meaning is not None:
        html.append(_p(meaning))
    if fit.boundary:
        html.append(
            _p(
                f"{fit.message}. A limit model is what the best fit is when the buyers do not "
                "differ in that respect: it is the right model for this data, not a failure."
            )
        )
    spend = []
    if check.spend_fit is not None:
        spend.append("spend per repeat purchase: Gamma-Gamma model")
    elif has_values:
        spend.append("spend per repeat purchase: the observed mean (no spend model)")
    if check.spend_frequency_correlation is not None:
        spend.append(
            f"correlation of the number of purchases and the spend per purchase "
            f"{signed(check.spend_frequency_correlation)} (the spend model assumes they are "
            "unrelated, i.e. near 0)"
        )
    if spend:
        html.append(_p(f"{group}: " + "; ".join(spend) + "."))
    if check.frequency_check is not None:
        fc = check.frequency_check
        last = len(fc.frequency) - 1
        rows = [
            [f"{f}{'+' if i == last else ''}", count(o), f"{e:,.1f}"]
            for i, (f, o, e) in enumerate(zip(fc.frequency, fc.observed, fc.expected, strict=True))
        ]
        html.append(
            _table(
                ["repeat purchases", "buyers", "model expects"],
                rows,
                f"{group}: observed vs expected repeat purchases",
            )
        )
    return html


def render_appendix(report: LifecycleReport, fmt: PageFormat) -> str:
    """Model parameters with intervals, fit status, limit models, fit checks, model notes."""
    html = [
        _p(
            "For readers who check the models: the fitted parameters of each buyer group's "
            "purchase model with their intervals, and how well each reproduces the data."
        )
    ]
    for check in report.clv:
        html += _check_tables(check, fmt, report.data.has_values)
    details = [n for n in report.data_quality if is_model_detail(n)]
    if details:
        items = "".join(f"<li>{escape(plain_note(n, fmt.names))}</li>" for n in details)
        html.append(f'<ul class="quality">{items}</ul>')
    if not report.clv and not details:
        html.append(_p("No purchase model was fitted: there are no model details to show."))
    return "".join(html)
