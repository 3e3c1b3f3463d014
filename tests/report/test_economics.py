"""The channel-economics section of the report."""

from __future__ import annotations

import re

import pandas as pd
import pytest

import funnelkit as fk
from funnelkit.datasets import simulate_community
from funnelkit.exceptions import DataError, FunnelkitError
from funnelkit.report.report import LifecycleReport


@pytest.fixture(scope="module")
def sim_log() -> tuple[object, fk.EventLog]:
    sim = simulate_community(5_000, seed=2)
    log = fk.EventLog.from_frame(sim.events, value_col="value", attribute_cols=["channel"])
    return sim, log


@pytest.fixture(scope="module")
def rep(sim_log: tuple) -> LifecycleReport:
    sim, log = sim_log
    return fk.report(
        log,
        observation_end=sim.observation_end,
        n_resamples=10,
        seed=0,
        costs=sim.costs(),
        margin=0.4,
    )


def test_section_has_chart_and_one_sentence_per_channel(rep: LifecycleReport) -> None:
    econ = rep.economics
    assert [r.channel for r in econ.rows] == ["facebook", "instagram", "referral", "tiktok"]
    assert econ.margin == 0.4
    page = rep.to_html()
    section = page[page.index('<section id="economics">') :]
    section = section[: section.index("</section>")]
    assert "<svg" in section
    sentences = re.findall(r"<li>(every 1\.00 spent on \w+ returns [^<]*)</li>", section)
    assert len(sentences) == 4
    tiktok = econ.rows[3].returned_per_unit
    assert sentences[3].startswith(
        f"every 1.00 spent on tiktok returns {tiktok.value:.2f} "
        f"({tiktok.ci[0]:.2f}-{tiktok.ci[1]:.2f}) within 12 months"
    )


def test_economics_use_the_reports_channel_values(rep: LifecycleReport) -> None:
    by_channel = {r.segment: r.value_per_prospect for r in rep.channels.rows}
    for row in rep.economics.rows:
        assert row.value_per_prospect.value == pytest.approx(0.4 * by_channel[row.channel].value)


def test_report_round_trips_with_economics(rep: LifecycleReport) -> None:
    loaded = LifecycleReport.from_json(rep.to_json())
    assert loaded.economics == rep.economics
    assert loaded.to_html() == rep.to_html()


def test_without_costs_the_section_says_how_to_get_it(sim_log: tuple) -> None:
    sim, log = sim_log
    rep = fk.report(log, observation_end=sim.observation_end, n_resamples=0, seed=0)
    assert rep.economics is None
    page = rep.to_html()
    section = page[page.index('<section id="economics">') :]
    section = section[: section.index("</section>")]
    assert "<svg" not in section
    assert "Pass the acquisition spend per channel (costs=..." in section


def test_bad_costs_are_refused_before_fitting(sim_log: tuple) -> None:
    _, log = sim_log
    with pytest.raises(DataError, match=r"missing \['cost'\]"):
        fk.report(log, costs=pd.DataFrame({"channel": ["tiktok"]}))
    with pytest.raises(FunnelkitError, match="costs were given but by=None"):
        fk.report(log, by=None, costs=pd.DataFrame({"channel": ["tiktok"], "cost": [1.0]}))


def test_costs_for_an_unknown_channel_are_refused(sim_log: tuple) -> None:
    sim, log = sim_log
    costs = pd.DataFrame({"channel": ["TikTok"], "cost": [10.0]})
    with pytest.raises(DataError, match=r"\['TikTok'\]"):
        fk.report(log, observation_end=sim.observation_end, n_resamples=0, costs=costs)
