"""The report reads like a briefing: currency, integer counts, display names, plain notes."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from typing import Any

import pytest

from funnelkit import EventLog, Funnel, FunnelkitError, Stage
from funnelkit.datasets import simulate_community
from funnelkit.report import LifecycleReport, report
from funnelkit.report.charts import bar_chart, histogram_chart, line_chart
from funnelkit.report.formatting import (
    count,
    date,
    discount_text,
    money_formatter,
    signed,
)
from funnelkit.report.notes import plain_note
from funnelkit.stages import readable_name
from funnelkit.units import TimeUnit

SVG = "{http://www.w3.org/2000/svg}"
XHTML = "{http://www.w3.org/1999/xhtml}"


@pytest.fixture(scope="module")
def sim() -> Any:
    return simulate_community(2_000, seed=5)


@pytest.fixture(scope="module")
def utm(sim: Any) -> LifecycleReport:
    """An export whose channel column is called ``utm_source``, values in euros."""
    events = sim.events.rename(columns={"channel": "utm_source"})
    log = EventLog.from_frame(events, value_col="value", attribute_cols=["utm_source"])
    return report(
        log,
        observation_end=sim.observation_end,
        by="utm_source",
        currency="EUR",
        discount_rate=0.01,
        n_resamples=10,
        seed=3,
    )


def _root(page: str) -> ET.Element:
    return ET.fromstring(page.split("\n", 1)[1])


def _section(page: str, section: str) -> ET.Element:
    for el in _root(page).iter(f"{XHTML}section"):
        if el.get("id") == section:
            return el
    raise AssertionError(f"no section {section!r}")


def _text(el: ET.Element) -> str:
    return " ".join(" ".join(el.itertext()).split())


def _visible(page: str) -> str:
    body = _root(page).find(f"{XHTML}body")
    assert body is not None
    return _text(body)


def test_counts_are_integers_and_amounts_carry_the_currency(utm: LifecycleReport) -> None:
    page = utm.to_html()
    visible = _visible(page)
    amounts = re.findall(r"€[\d,]+\.\d\d", visible)
    assert len(amounts) > 30
    # with the amounts taken out, nothing is written as a whole number with cents
    assert re.findall(r"\d\.00(?!\d)", re.sub(r"€[\d,]+\.\d\d", "", visible)) == []
    funnel = _text(_section(page, "funnel"))
    assert f"{utm.stage_counts['prospect']:,}" in funnel
    cards = [
        _text(div)
        for div in _section(page, "summary").iter(f"{XHTML}div")
        if div.get("class") == "big"
    ]
    assert len(cards) == 5 and all(c.startswith("€") for c in cards)
    assert "expected spend (EUR) over the horizon" in _text(_section(page, "stage-values"))


def test_stage_names_dates_and_discount_read_as_words(utm: LifecycleReport) -> None:
    page = utm.to_html()
    visible = _visible(page)
    assert "repeat_buyer" not in visible and "mean_T" not in visible
    assert "Repeat buyer" in _text(_section(page, "funnel"))
    assert "Member → repeat buyer" in _text(_section(page, "conversion"))
    assert re.search(r"\d{4}-\d\d-\d\dT", visible) is None
    assert f"{utm.data.first_event[:10]} to 2024-12-31" in visible
    assert "discounted at 1.0% a month (12.7% a year)" in visible
    assert "100.0% of" not in visible and "-0.00" not in visible
    assert "starting point" in _text(_section(page, "funnel"))


def test_model_detail_is_in_the_appendix(utm: LifecycleReport) -> None:
    page = utm.to_html()
    ids = [s.get("id") for s in _root(page).iter(f"{XHTML}section")]
    assert ids[-2:] == ["method", "appendix"]
    appendix = _text(_section(page, "appendix"))
    clv = _text(_section(page, "clv"))
    for group in ("Member", "Non-member"):
        assert f"{group}: BG/NBD purchase model" in appendix
        assert f"{group}: observed vs expected repeat purchases" in appendix
    assert "parameter estimate interval" in appendix and "parameter" not in clv
    assert "alpha" not in clv and "table in the appendix" in clv


def test_the_uplift_caveat_names_the_strata_actually_used(sim: Any, utm: LifecycleReport) -> None:
    assert utm.uplift is not None and utm.uplift.strata == ("utm_source", "cohort:month")
    caveat = _text(_section(utm.to_html(), "uplift"))
    assert "same utm_source and the same month of first purchase" in caveat
    assert "acquisition channel" not in caveat
    # without a channel table the uplift holds only the cohort equal, and says so
    log = EventLog.from_frame(
        sim.events.rename(columns={"channel": "utm_source"}),
        value_col="value",
        attribute_cols=["utm_source"],
    )
    plain = report(log, observation_end=sim.observation_end, by=None, n_resamples=0)
    assert plain.uplift is not None and plain.uplift.strata == ("cohort:month",)
    text = _text(_section(plain.to_html(), "uplift"))
    assert "of the same month of first purchase; that removes only the differences this" in text
    assert "utm_source" not in text and "acquisition channel" not in text


def test_the_ordered_funnel_count_is_reconciled_with_the_purchases(
    sim: Any, utm: LifecycleReport
) -> None:
    ev = sim.events
    purchases = ev[(ev["event"] == "purchase") & (ev["timestamp"] <= sim.observation_end)]
    twice = int((purchases.groupby("customer_id").size() >= 2).sum())
    assert utm.data.stage_reach is not None and utm.data.stage_reach["repeat_buyer"] == twice
    funnel_count = utm.stage_counts["repeat_buyer"]
    assert funnel_count < twice
    assert (
        f"{twice:,} customers had at least 2 'purchase' events, and the funnel counts "
        f"{funnel_count:,} as 'Repeat buyer': the funnel is ordered, so these events count "
        "only once a customer has reached 'Member'."
    ) in _text(_section(utm.to_html(), "funnel"))


def test_bars_points_and_bins_have_tooltips(utm: LifecycleReport) -> None:
    root = _root(utm.to_html())
    bars = [r for r in root.iter(f"{SVG}rect") if r.get("fill-opacity") != "0"]
    bins = [r for r in root.iter(f"{SVG}rect") if r.get("fill-opacity") == "0"]
    points = list(root.iter(f"{SVG}circle"))
    # funnel (4), stage values (4), channels (4)
    assert len(bars) == 12 and len(bins) == 30 and len(points) >= 6 * 2 * 10
    for el in bars + bins + points:
        title = el.find(f"{SVG}title")
        assert title is not None and title.text
    titles = [el.find(f"{SVG}title").text for el in bars]  # type: ignore[union-attr]
    assert f"Repeat buyer: {utm.stage_counts['repeat_buyer']:,} customers" in titles[3]
    assert titles[4].startswith("Prospect: €") and " to €" in titles[4]
    tip = points[0].find(f"{SVG}title").text  # type: ignore[union-attr]
    assert re.fullmatch(r"observed \(Kaplan-Meier\): \d+\.\d% converted after \d+ days.*", tip)


def test_legends_sit_below_the_curves() -> None:
    svg = line_chart(
        [
            {"x": [0.0, 1.0, 2.0], "y": [0.0, 0.5, 0.9], "label": "observed"},
            {"x": [0.0, 1.0, 2.0], "y": [0.0, 0.6, 0.8], "label": "model", "dash": "6 4"},
        ],
        title="t",
        xlabel="days",
        ylabel="share",
    )
    root = ET.fromstring(svg)
    lowest_curve = max(
        float(p.split(",")[1])
        for line in root.iter(f"{SVG}polyline")
        for p in (line.get("points") or "").split()
    )
    xlabel = next(t for t in root.iter(f"{SVG}text") if t.text == "days")
    legend = [t for t in root.iter(f"{SVG}text") if t.text in ("observed", "model")]
    assert len(legend) == 2
    assert all(float(t.get("y", 0)) > float(xlabel.get("y", 0)) > lowest_curve for t in legend)
    assert all(float(t.get("y", 0)) < float(root.get("height", 0)) for t in legend)
    hist = ET.fromstring(histogram_chart([0, 1, 2], [[1, 2]], ["a"], title="h", xlabel="x"))
    assert [t.find(f"{SVG}title").text for t in hist.iter(f"{SVG}rect")] == [  # type: ignore[union-attr]
        "0 to 1: 33.3% of a",
        "1 to 2: 66.7% of a",
    ]
    bars = ET.fromstring(bar_chart(["a"], [2.5], title="b", value_label="v"))
    assert [t.find(f"{SVG}title").text for t in bars.iter(f"{SVG}rect")] == ["a: 2.5"]  # type: ignore[union-attr]


def test_stage_labels_from_the_funnel(sim: Any) -> None:
    log = EventLog.from_frame(sim.events, value_col="value", attribute_cols=["channel"])
    funnel = Funnel(
        stages=[
            Stage(name="prospect", events=["touch"], label="Reached"),
            Stage(name="visitor", events=["visit"]),
            Stage(name="buyer", events=["purchase"], label="First-time buyer"),
        ]
    )
    rep = report(log, funnel, observation_end=sim.observation_end, n_resamples=0, by=None)
    page = rep.to_html()
    funnel_text = _text(_section(page, "funnel"))
    assert "Reached" in funnel_text and "First-time buyer" in funnel_text
    assert "Visitor → first-time buyer" in funnel_text
    assert "of reacheds" not in funnel_text
    assert f"{rep.stage_counts['visitor'] / 2_000:.1%} of 2,000" in funnel_text
    assert funnel.display_names == {
        "prospect": "Reached",
        "visitor": "Visitor",
        "buyer": "First-time buyer",
    }
    assert LifecycleReport.from_json(rep.to_json()).funnel.stages[0].label == "Reached"


def test_a_report_json_without_currency_or_reach_still_loads(utm: LifecycleReport) -> None:
    data = json.loads(utm.to_json())
    assert data["settings"]["currency"] == "EUR"
    del data["settings"]["currency"], data["data"]["stage_reach"]
    for stage in data["funnel"]["stages"]:
        del stage["label"]
    old = LifecycleReport.from_json(json.dumps(data))
    assert old.settings.currency is None and old.data.stage_reach is None
    page = old.to_html()
    assert "€" not in page and "Repeat buyer" in page
    assert LifecycleReport.from_json(utm.to_json()).to_html() == utm.to_html()


@pytest.mark.parametrize("bad", [5, "", "   ", "EURO-DOLLAR"])
def test_a_bad_currency_is_refused_before_any_work(sim: Any, bad: Any) -> None:
    log = EventLog.from_frame(sim.events.head(50), value_col="value")
    with pytest.raises(FunnelkitError, match=r"'currency' parameter of report .* Got"):
        report(log, currency=bad)


def test_formats() -> None:
    eur, chf, none = money_formatter("EUR"), money_formatter("CHF"), money_formatter(None)
    assert (eur(1234.5), eur(-0.001), chf(3), none(7659), eur(None)) == (
        "€1,234.50",
        "€0.00",
        "CHF 3.00",
        "7,659.00",
        "n/a",
    )
    assert money_formatter("EUR", money=False)(2.5) == "2.50"
    assert (count(7659.0), count(None), count(float("nan"))) == ("7,659", "n/a", "n/a")
    assert (signed(-0.001), signed(-0.5), signed(0.004), signed(None)) == (
        "0.00",
        "-0.50",
        "0.00",
        "n/a",
    )
    assert (date("2024-01-01T00:41:36"), date("12.5")) == ("2024-01-01", "12.5")
    assert discount_text(0.0, TimeUnit.parse("month")) == "no discounting"
    assert discount_text(0.1, TimeUnit.parse("year")) == "discounted at 10.0% a year"
    assert discount_text(0.5, TimeUnit.parse("day")) == "discounted at 50.0% a day"
    assert [readable_name(n) for n in ("repeat_buyer", "non-member", "VIP", "a__b")] == [
        "Repeat buyer",
        "Non-member",
        "VIP",
        "A b",
    ]


def test_notes_say_what_they_mean_for_the_numbers() -> None:
    names = {"repeat_buyer": "Repeat buyer", "member": "Member"}
    left_out = plain_note(
        "facebook: 3 of 200 bootstrap samples could not be fitted (not enough data) and were "
        "left out of the intervals",
        names,
    )
    assert left_out == (
        "facebook: 3 of the 200 resamples of the customers used for the intervals could not be "
        "refitted (not enough data). The intervals come from the other 197. The resamples that "
        "fail are those that drew the fewest repeat buyers, so these intervals may be slightly "
        "too narrow; the estimates themselves are not affected."
    )
    assert "fewer than the 10 an interval needs, so no interval is shown" in plain_note(
        "1 of 10 bootstrap samples could not be fitted (x) and were left out of the intervals"
    )
    assert "no interval is shown" in plain_note(
        "7 of 10 bootstrap samples could not be fitted (x): the intervals are not estimable"
    )
    assert plain_note(
        "member -> repeat_buyer: the weibull cure model could not be fitted (overflow); "
        "Kaplan-Meier used",
        names,
    ) == (
        "member -> repeat buyer: the smooth weibull curve could not be fitted (overflow), so "
        "the observed share (Kaplan-Meier) is used instead: it is as accurate within the "
        "period observed but cannot tell who would still convert later."
    )
    assert plain_note("12 customers made no purchase (RFM.n_without_purchase)") == (
        "12 customers made no purchase"
    )
    assert plain_note("non-member: something new", names) == "non-member: something new"
    assert plain_note(
        "tiktok: all buyers: not enough data: 8 repeat buyers, need 20; the model fitted on all "
        "customers stands in"
    ) == (
        "tiktok: all buyers: too few repeat buyers for a model of their own (8; 20 are needed), "
        "so the model fitted on all customers is used: their values lean towards those of the "
        "average buyer."
    )


def test_notes_that_repeat_the_missing_stages_are_said_once(sim: Any) -> None:
    purchases = sim.events[sim.events["event"] == "purchase"]
    log = EventLog.from_frame(purchases, value_col="value")
    rep = report(log, observation_end=sim.observation_end, n_resamples=0, by=None)
    echoes = [n for n in rep.data_quality if n.startswith("journeys: stage") or "nobody" in n]
    assert len(echoes) >= 6  # the data keep every note
    quality = _section(rep.to_html(), "data-quality")
    items = [_text(li) for li in quality.iter(f"{XHTML}li")]
    assert items[0].startswith("the log has no events of the funnel stage(s) prospect ('touch')")
    assert not any(i.startswith("journeys: stage") or "nobody entered" in i for i in items)
    funnel = _text(_section(rep.to_html(), "funnel"))
    assert funnel.startswith("Funnel Nobody reached any stage of the funnel")
    assert "0.0%" not in funnel
    assert list(_section(rep.to_html(), "funnel").iter(f"{SVG}svg")) == []
    cards = _text(_section(rep.to_html(), "summary"))
    assert cards.startswith("At a glance value of a new buyer (all buyers) ")
