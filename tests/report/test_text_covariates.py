"""The text report's section on channel and membership, adjusted for each other."""

from __future__ import annotations

import pytest

import funnelkit as fk
from funnelkit.datasets import simulate_community

TITLE = "Channel and membership, adjusted for each other"


@pytest.fixture(scope="module")
def sim_log() -> tuple[object, fk.EventLog]:
    sim = simulate_community(1_500, seed=12)
    log = fk.EventLog.from_frame(sim.events, value_col="value", attribute_cols=["channel"])
    return sim, log


def _section(text: str) -> list[str]:
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(TITLE))
    end = lines.index("", start)
    return lines[start:end]


def test_text_report_says_the_adjusted_comparison(sim_log) -> None:
    sim, log = sim_log
    rep = fk.report(log, observation_end=sim.observation_end, n_resamples=0, seed=0)
    assert rep.covariates is not None
    text = rep.as_text()
    section = _section(text)
    # after the per-segment sections it is compared with, before the data-quality notes
    assert text.index("Membership uplift") < text.index(TITLE) < text.index("Data quality")
    assert section[0] == (
        f"{TITLE} (BetaGeoFitter and Gamma-Gamma with covariates; horizon 12 months, "
        "discount 0 per month, values in money; 95% Wald intervals)"
    )
    assert section[1:6] == [
        "  Over 12 months the repeat purchases of a new member buyer are worth 131.50 and those"
        " of a non-member from the same channel 35.61 (separate models per group: 131.99 vs "
        "33.26).",
        "  With membership held fixed, a new buyer from instagram is worth 107.73 and one from "
        "referral 59.61.",
        "  Customers from referral buy 0.5x as often as those from instagram with the same "
        "membership (95% interval 0.27–0.95).",
        "  Members buy 5.25x as often as non-members from the same channel (95% interval "
        "3.31–8.31).",
        "  Members spend 0.93x as much per purchase as non-members from the same channel (95% "
        "interval 0.73–1.19; no clear difference).",
    ]
    # every effect with its interval, not only the clear ones
    assert section[6] == "  Effect of each covariate (factor and interval) and what it multiplies:"
    assert section[7] == "    purchase channel[facebook]  0.64x (0.36–1.15)  mean purchase rate"
    assert (
        section[14] == "    spend member                0.93x (0.73–1.19)  mean spend per purchase"
    )
    assert len(rep.covariates.effects) == 8 and section[15].startswith("  Value of a new buyer")
    assert section[16] == "    channel = facebook (44 buyers): adjusted 85.97, per segment 76.77"
    assert (
        section[21] == "    membership = member (139 buyers): adjusted 131.50, per segment 131.99"
    )
    assert section[22] == (
        "  Likelihood-ratio tests of the covariates: purchase model 45.6 on 4 df, "
        "p = 3.04e-09; spend model 1.6 on 4 df, p = 0.815"
    )
    assert section[23].startswith("  One purchase model and one spend model are fitted")
    assert section[24] == (
        "  These are associations, not causal effects: customers choose their channel and "
        "whether to join."
    )
    assert section[25:] == [f"  note: {n}" for n in rep.covariates.notes]
    assert len(section) == 26


def test_text_report_without_the_comparison_has_no_section(sim_log) -> None:
    sim, log = sim_log
    rep = fk.report(log, observation_end=sim.observation_end, n_resamples=0, by=None)
    assert rep.covariates is None
    assert TITLE not in rep.as_text()
