"""The report section on membership uplift counted from the join."""

from __future__ import annotations

import funnelkit as fk
from funnelkit.datasets import simulate_community
from funnelkit.report.report import LifecycleReport


def test_report_shows_the_join_comparison_beside_the_stratified_one() -> None:
    sim = simulate_community(4_000, seed=12)
    log = fk.EventLog.from_frame(sim.events, value_col="value", attribute_cols=["channel"])
    rep = fk.report(log, observation_end=sim.observation_end, n_resamples=10, seed=0)
    join = rep.join_uplift
    assert join.stratified == rep.uplift
    assert join.n_resamples == 10
    page = rep.to_html()
    section = page[page.index('<section id="join-uplift">') :]
    section = section[: section.index("</section>")]
    assert "the join, over 90 days" in section
    assert "What it does not show: a causal effect." in section
    assert f"risk ratio of {join.e_value:.2f}" in section
    assert LifecycleReport.from_json(rep.to_json()).join_uplift == join
