"""The funnel-trends section of the report."""

from __future__ import annotations

import funnelkit as fk
from funnelkit.conversion.trends import funnel_trends
from funnelkit.datasets import CommunityParams, simulate_community
from funnelkit.report.report import LifecycleReport


def test_report_has_monthly_trends_of_every_transition() -> None:
    sim = simulate_community(3_000, seed=8, params=CommunityParams(observation_days=260))
    log = fk.EventLog.from_frame(sim.events, value_col="value", attribute_cols=["channel"])
    rep = fk.report(log, observation_end=sim.observation_end, n_resamples=0, seed=0)
    assert [(t.source, t.target) for t in rep.trends] == [
        ("prospect", "visitor"),
        ("visitor", "member"),
        ("member", "repeat_buyer"),
    ]
    journeys = fk.Funnel.community().journeys(log, observation_end=sim.observation_end)
    assert rep.trends[0] == funnel_trends(journeys, "prospect", "visitor", by="month")
    page = rep.to_html()
    section = page[page.index('<section id="trends">') :]
    section = section[: section.index("</section>")]
    assert section.count("<table") == 3
    assert "within 30 days" in section
    loaded = LifecycleReport.from_json(rep.to_json())
    assert loaded.trends == rep.trends
    assert loaded.to_html() == page
