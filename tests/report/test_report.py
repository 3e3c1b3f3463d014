"""The lifecycle report: contents, JSON round trip, self-contained well-formed HTML."""

from __future__ import annotations

import importlib
import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

import funnelkit
from funnelkit import EventLog, Funnel, FunnelkitError, Stage
from funnelkit.datasets import simulate_community
from funnelkit.report import LifecycleReport, report
from funnelkit.report.charts import bar_chart, histogram_chart, line_chart, nice_ticks
from funnelkit.report.html import SECTIONS

SVG = "{http://www.w3.org/2000/svg}"
XHTML = "{http://www.w3.org/1999/xhtml}"


@pytest.fixture(scope="module")
def community() -> tuple[object, EventLog]:
    sim = simulate_community(6_000, seed=8)
    return sim, EventLog.from_frame(sim.events, value_col="value", attribute_cols=["channel"])


@pytest.fixture(scope="module")
def rep(community: tuple[object, EventLog]) -> LifecycleReport:
    sim, log = community
    return report(log, observation_end=sim.observation_end, n_bootstrap=10, random_state=1)


class _Balance(HTMLParser):
    """Checks that every opened tag is closed in order (void elements excepted)."""

    VOID = frozenset({"meta", "br", "hr", "img", "input", "link"})

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.errors: list[str] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list) -> None:
        pass

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack.pop() != tag:
            self.errors.append(tag)


def test_report_is_reachable_from_the_top_level(community: tuple[object, EventLog]) -> None:
    assert funnelkit.LifecycleReport is LifecycleReport
    assert callable(funnelkit.report)
    # importing a submodule rebinds the package attribute: it must stay callable
    importlib.import_module("funnelkit.report.html")
    assert callable(funnelkit.report)
    assert isinstance(funnelkit.report(community[1], n_bootstrap=0, by=None), LifecycleReport)


def test_report_contents(rep: LifecycleReport) -> None:
    assert rep.stage_counts["prospect"] == 6_000
    assert [(r.source, r.target) for r in rep.transitions.rows] == [
        ("prospect", "visitor"),
        ("visitor", "member"),
        ("member", "repeat_buyer"),
    ]
    assert rep.first_purchase is not None and len(rep.first_purchase.rows) == 3
    assert len(rep.curves) == 3 and len(rep.first_purchase_curves) == 3
    assert {c.group for c in rep.clv} == {"member", "non-member"}
    assert all(c.frequency_check is not None for c in rep.clv)
    assert list(rep.stage_values) == ["prospect", "visitor", "member", "repeat_buyer"]
    assert [(a.source, a.target) for a in rep.advancing] == [
        ("prospect", "visitor"),
        ("visitor", "member"),
        ("member", "repeat_buyer"),
    ]
    assert rep.channels is not None and len(rep.channels.rows) == 4
    assert rep.uplift is not None and "not a causal effect" in rep.uplift.statement
    assert any("made no purchase" in n for n in rep.data_quality)
    assert rep.data.n_customers == 6_000 and rep.data.has_values
    assert rep.settings.n_bootstrap == 10
    assert {h.group for h in rep.value_distribution} == {"member", "non-member"}
    assert set(rep.seconds) >= {"lifecycle model", "stage conversion", "value by segment"}


def test_json_round_trip_renders_the_same(rep: LifecycleReport) -> None:
    text = rep.to_json()
    back = LifecycleReport.from_json(text)
    assert back == rep
    assert back.to_json() == text
    assert back.to_html() == rep.to_html()
    assert '"schema_version":1' in text


def test_html_is_well_formed_self_contained_and_has_every_section(
    rep: LifecycleReport, tmp_path: Path
) -> None:
    path = tmp_path / "report.html"
    page = rep.to_html(path)
    assert path.read_text(encoding="utf-8") == page
    root = ET.fromstring(page.split("\n", 1)[1])  # XML parser: every tag closed, text escaped
    ids = {el.get("id") for el in root.iter(f"{XHTML}section")}
    assert ids == {key for key, _ in SECTIONS}
    checker = _Balance()
    checker.feed(page)
    assert checker.errors == [] and checker.stack == []
    svgs = list(root.iter(f"{SVG}svg"))
    # funnel, 3 conversion curves, 3 first-purchase curves, value distribution, stages, channels
    assert len(svgs) == 10
    assert not re.search(r"(src|href)=\"https?:", page)
    assert "<script" not in page
    for heading in ("Funnel", "What each stage is worth", "Value by channel", "Data quality"):
        assert heading in page
    assert rep._repr_html_().startswith('<div class="funnelkit-report">')


def test_report_without_channels_or_values(community: tuple[object, EventLog]) -> None:
    sim, _ = community
    log = EventLog.from_frame(sim.events.drop(columns=["value"]))
    rep = report(log, observation_end=sim.observation_end, n_bootstrap=0)
    assert rep.channels is None
    assert any("no 'channel' attribute" in n for n in rep.data_quality)
    assert rep.stage_values.value_unit == "purchases"
    assert "expected purchases" in rep.to_html()
    ET.fromstring(rep.to_html().split("\n", 1)[1])


def test_report_with_a_custom_funnel(community: tuple[object, EventLog]) -> None:
    sim, log = community
    funnel = Funnel(
        stages=[
            Stage(name="visitor", events=["visit"]),
            Stage(name="member", events=["join"]),
            Stage(name="buyer", events=["purchase"]),
        ]
    )
    rep = report(log, funnel, observation_end=sim.observation_end, n_bootstrap=0, by=None)
    assert list(rep.stage_counts) == ["visitor", "member", "buyer"]
    assert rep.channels is None
    assert LifecycleReport.from_json(rep.to_json()).funnel == funnel


def test_report_refuses_bad_input(community: tuple[object, EventLog]) -> None:
    sim, log = community
    with pytest.raises(FunnelkitError, match="report takes an EventLog"):
        report(sim.events)
    with pytest.raises(FunnelkitError, match="by='region' is not an attribute"):
        report(log, by="region", n_bootstrap=0)
    with pytest.raises(FunnelkitError, match="'horizon' parameter of LifecycleModel"):
        report(log, horizon=0)


def test_progress_is_reported(community: tuple[object, EventLog]) -> None:
    sim, log = community
    calls: list[tuple[str, int, int]] = []
    report(
        log,
        observation_end=sim.observation_end,
        n_bootstrap=3,
        by=None,
        progress=lambda *a: calls.append(a),
    )
    steps = [c[0] for c in calls]
    assert "lifecycle model" in steps and "customer scores" in steps
    assert ("bootstrap", 3, 3) in calls


def test_progress_switch_takes_true_and_false(
    community: tuple[object, EventLog], capsys: pytest.CaptureFixture[str]
) -> None:
    sim, log = community
    report(log, observation_end=sim.observation_end, n_bootstrap=2, by=None, progress=False)
    assert "bootstrap" not in capsys.readouterr().err
    report(log, observation_end=sim.observation_end, n_bootstrap=2, by=None, progress=True)
    assert "2/2" in capsys.readouterr().err
    with pytest.raises(FunnelkitError, match="True, False, None or a callable"):
        report(log, progress="yes")


def test_nice_ticks() -> None:
    assert nice_ticks(0, 1) == [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
    ticks = nice_ticks(3.2, 187.0)
    assert ticks[0] <= 3.2 and ticks[-1] >= 187.0 and len(ticks) <= 8
    assert nice_ticks(5, 5) == nice_ticks(5, 6)


def test_charts_are_valid_svg_with_missing_values() -> None:
    charts = [
        bar_chart(
            ["a", "b <&>"],
            [1.0, None],
            title="t & u",
            value_label="v",
            lower=[0.5, None],
            upper=[1.5, None],
        ),
        line_chart(
            [
                {
                    "x": [0, 1, 2],
                    "y": [0.0, np.nan, 0.5],
                    "lower": [None, 0.1, 0.2],
                    "upper": [0.1, 0.3, None],
                    "label": "l",
                }
            ],
            title="c",
            xlabel="x",
            ylabel="y",
        ),
        histogram_chart([0.0, 1.0, 2.0], [[3, 1], [0, 0]], ["g1", "g2"], title="h", xlabel="x"),
    ]
    for svg in charts:
        root = ET.fromstring(svg)
        assert root.tag == f"{SVG}svg"
    assert "not estimable" in charts[0]


def test_settings_written_with_the_former_names_still_load() -> None:
    from funnelkit.report.report import ReportSettings

    old = (
        '{"horizon": 12, "time_unit": "month", "discount_rate": 0, "period": "day", '
        '"purchase_model": "bgnbd", "conversion_model": "auto", "membership_stage": "member", '
        '"n_bootstrap": 30, "conf_level": 0.95, "random_state": 4, "by": null}'
    )
    settings = ReportSettings.model_validate_json(old)
    assert (settings.n_resamples, settings.seed) == (30, 4)
    assert (settings.n_bootstrap, settings.random_state) == (30, 4)
    assert '"n_resamples":30' in settings.to_json() and '"seed":4' in settings.to_json()


def test_report_refuses_a_bad_seed_under_either_name() -> None:
    log = EventLog.from_frame(simulate_community(50, seed=1).events, value_col="value")
    for name in ("seed", "random_state"):
        with pytest.raises(FunnelkitError, match=f"The '{name}' parameter of report must be"):
            report(log, **{name: -1})
