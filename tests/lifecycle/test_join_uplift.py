"""Membership uplift from the join: landmark matching, E-value, against a known effect."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from funnelkit import EventLog, LifecycleModel
from funnelkit.datasets import CommunityParams, simulate_community
from funnelkit.exceptions import FunnelkitError
from funnelkit.lifecycle.join_uplift import JoinUplift, e_value, membership_uplift_from_join

from .conftest import Community


@pytest.fixture(scope="module")
def uplift(fitted: LifecycleModel) -> JoinUplift:
    return fitted.membership_uplift_from_join()


def test_e_value_formula() -> None:
    # VanderWeele & Ding (2017): RR + sqrt(RR (RR - 1)); a protective ratio is inverted
    assert e_value(3.9) == pytest.approx(3.9 + np.sqrt(3.9 * 2.9))
    assert e_value(0.5) == pytest.approx(2 + np.sqrt(2))
    assert e_value(1.0) == 1.0
    assert e_value(None) is None
    assert e_value(0.0) is None


def test_result_is_consistent(uplift: JoinUplift) -> None:
    assert uplift.difference.value == pytest.approx(uplift.member_value - uplift.non_member_value)
    assert uplift.ratio.value == pytest.approx(uplift.member_value / uplift.non_member_value)
    assert uplift.e_value == pytest.approx(e_value(uplift.ratio.value))
    lo = uplift.ratio.ci[0]
    assert lo > 1 and uplift.e_value_ci == pytest.approx(e_value(lo))
    assert uplift.window == 90.0 and uplift.step == 7.0
    assert uplift.strata == ("channel", "prospect month", "purchases so far")
    assert uplift.n_resamples == 20
    assert uplift.stratified is not None


def test_counts_members_by_hand(uplift: JoinUplift, community: Community) -> None:
    ev = community.sim.events
    joins = ev[ev["event"] == "join"]
    assert uplift.n_members == len(joins)
    start = pd.Timestamp(community.sim.params.start)
    day = (joins["timestamp"] - start).dt.total_seconds().to_numpy() / 86400
    first = day.min()
    last_landmark = first + 7 * np.floor((365 - 90 - first) / 7)
    late = int((day >= last_landmark + 7).sum())
    assert uplift.notes[0].startswith(f"{late:,} member(s) joined less than 90 days")
    assert uplift.n_members_compared + late <= uplift.n_members


def test_text_html_and_json(uplift: JoinUplift) -> None:
    assert JoinUplift.from_json(uplift.to_json()) == uplift
    text = uplift.as_text()
    assert "counted from: the join, over 90 days" in text
    assert "from the first purchase, over 12 months (stratified)" in text
    assert "What it does not show: a causal effect." in text
    assert f"risk ratio of {uplift.e_value:.2f}" in uplift.sensitivity_text()
    assert "<table" in uplift.as_html()


def test_bad_window(fitted: LifecycleModel) -> None:
    with pytest.raises(FunnelkitError, match="'window' parameter of membership_uplift_from_join"):
        fitted.membership_uplift_from_join(window=-3)
    with pytest.raises(FunnelkitError, match="No member could be compared"):
        fitted.membership_uplift_from_join(window=400)


def test_needs_a_membership_stage(community: Community) -> None:
    model = LifecycleModel(n_resamples=0, membership_stage=None).fit(
        community.log, observation_end=community.sim.observation_end
    )
    with pytest.raises(FunnelkitError, match=r"membership stage \(membership_stage=\.\.\.\)"):
        membership_uplift_from_join(model.fit_, model.customers())


def test_says_why_a_model_has_one_purchase_model_for_all_buyers() -> None:
    # few members: theirs cannot be fitted, and the model fell back on one for all buyers
    params = CommunityParams().model_copy(update={"join_prob": 0.03})
    sim = simulate_community(1500, seed=0, params=params)
    log = EventLog.from_frame(sim.events, value_col="value")
    model = LifecycleModel(n_resamples=0).fit(log, observation_end=sim.observation_end)
    assert model.fit_.group_names == ("all buyers",)
    for text in uplift_errors(model):
        assert "has one for all buyers: The member purchase model cannot be fitted" in text
        assert "4 repeat buyers, need 20." in text
        assert "longer observation window" in text


def test_says_when_nobody_reached_the_membership_stage(community: Community) -> None:
    events = community.sim.events
    log = EventLog.from_frame(events[events["event"] != "join"], value_col="value")
    model = LifecycleModel(n_resamples=0).fit(log, observation_end=community.sim.observation_end)
    assert model.fit_.group_names == ("all buyers",)
    for text in uplift_errors(model):
        assert "in this log nobody reached the membership stage 'member'" in text
        assert "the events of that stage included" in text


def uplift_errors(model: LifecycleModel) -> list[str]:
    """What both membership uplifts of ``model`` raise (each must raise)."""
    texts = []
    for call in (model.membership_uplift, model.membership_uplift_from_join):
        with pytest.raises(FunnelkitError) as caught:
            call()
        texts.append(str(caught.value))
    return texts


def test_recovers_the_known_effect_conservatively() -> None:
    """The simulated membership effect: the same customers in a world where nobody joins.

    Joining is random among visitors in the simulator, so the effect on those who joined
    over 90 days is the members' value minus the same customers' value without joining.
    The estimate compares joining now with not joining now (some comparable non-members
    join later), so it lies a little below the effect of joining vs never joining.
    """
    n, params = 30_000, CommunityParams(observation_days=365)
    worlds = [
        simulate_community(n, seed=9, params=p)
        for p in (params, params.model_copy(update={"join_prob": 0.0}))
    ]
    start = pd.Timestamp(params.start)

    def days(frame: pd.DataFrame) -> np.ndarray:
        return (frame["timestamp"] - start).dt.total_seconds().to_numpy() / 86400

    ev = worlds[0].events
    joins = ev[ev["event"] == "join"]
    join = np.full(n, np.nan)
    join[joins["customer_id"].str[1:].astype(int).to_numpy()] = days(joins)
    member = join <= 365 - 90

    def outcome(sim) -> float:
        buys = sim.events[sim.events["event"] == "purchase"]
        code = buys["customer_id"].str[1:].astype(int).to_numpy()
        t = days(buys)
        ok = member[code] & (t >= join[code]) & (t <= join[code] + 90)
        return float(
            np.bincount(code[ok], weights=buys["value"].to_numpy()[ok], minlength=n)[member].mean()
        )

    with_join, without = outcome(worlds[0]), outcome(worlds[1])
    log = EventLog.from_frame(ev, value_col="value", attribute_cols=["channel"])
    model = LifecycleModel(n_resamples=0).fit(log, observation_end=worlds[0].observation_end)
    got = model.membership_uplift_from_join()
    assert got.member_value == pytest.approx(with_join, rel=0.05)
    assert 0.7 * (with_join - without) < got.difference.value < with_join - without
