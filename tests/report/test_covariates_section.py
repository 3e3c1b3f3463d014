"""The report section on channel and membership, each adjusted for the other."""

from __future__ import annotations

import pytest

import funnelkit as fk
from funnelkit.datasets import simulate_community
from funnelkit.lifecycle.covariate_results import factor_text
from funnelkit.report.report import LifecycleReport


def _section(page: str) -> str:
    section = page[page.index('<section id="covariates">') :]
    return section[: section.index("</section>")]


@pytest.fixture(scope="module")
def sim_log() -> tuple[object, fk.EventLog]:
    sim = simulate_community(4_000, seed=12)
    log = fk.EventLog.from_frame(sim.events, value_col="value", attribute_cols=["channel"])
    return sim, log


def test_report_shows_adjusted_effects_beside_the_per_segment_sections(sim_log) -> None:
    sim, log = sim_log
    rep = fk.report(log, observation_end=sim.observation_end, n_resamples=0, seed=0)
    cov = rep.covariates
    assert cov is not None and cov.by == "channel" and rep.channels is not None
    section = _section(rep.to_html())
    assert "<h2>Channel and membership, adjusted for each other</h2>" in section
    member = cov.effect("purchase", "member").effect
    assert (
        f"Members buy {factor_text(member.estimate)}x as often as non-members from the same "
        f"channel (95% interval {factor_text(member.lower)}–{factor_text(member.upper)})."
        in section
    )
    groups = {v.level: v for v in cov.values if v.covariate == "member"}
    assert (
        f"the repeat purchases of a new member buyer are worth {groups['member'].value:,.2f}"
        in section
    )
    assert f"{groups['non-member'].raw_value:,.2f}" in section  # the per-group figure too
    assert "These are associations, not causal effects" in section
    assert any("purchase rate only" in n for n in cov.notes)  # too few dropouts seen
    for note in cov.notes:
        assert note[1:].replace("'", "&#x27;") in section
    # the per-segment sections stay
    page = rep.to_html()
    assert '<section id="channels">' in page and '<section id="uplift">' in page
    assert "channel and membership, adjusted" in rep.seconds
    loaded = LifecycleReport.from_json(rep.to_json())
    assert loaded.covariates == cov and loaded.to_html() == rep.to_html()


def test_without_a_channel_the_section_says_what_it_needs(sim_log) -> None:
    sim, log = sim_log
    rep = fk.report(log, observation_end=sim.observation_end, n_resamples=0, by=None)
    assert rep.covariates is None
    section = _section(rep.to_html())
    assert "Shown when the log has a channel attribute" in section
    assert "covariates" not in rep.unavailable
