"""Value by channel, membership uplift and per-customer scores."""

from __future__ import annotations

import numpy as np
import pytest

from funnelkit import EventLog, FunnelkitError
from funnelkit.lifecycle import (
    ASSOCIATION_STATEMENT,
    LifecycleModel,
    MembershipUplift,
    SegmentValues,
)

from .conftest import Community


@pytest.fixture(scope="module")
def by_channel(fitted: LifecycleModel) -> SegmentValues:
    return fitted.segment_values("channel")


def test_segment_values_cover_every_channel(
    fitted: LifecycleModel, by_channel: SegmentValues
) -> None:
    rows = {r.segment: r for r in by_channel.rows}
    assert set(rows) == {"facebook", "instagram", "referral", "tiktok"}
    assert sum(r.n_prospects for r in rows.values()) == fitted.n_customers_
    assert sum(r.share for r in rows.values()) == pytest.approx(1.0)
    for row in rows.values():
        assert row.value_per_prospect == row.stage_values["prospect"]
        assert row.value_per_prospect.ci is not None
        assert [(s.source, s.target) for s in row.conversion] == [
            ("prospect", "visitor"),
            ("visitor", "member"),
            ("member", "repeat_buyer"),
        ]
        assert 0 < row.member_share < 1
    # referral visits most often (60% vs 25-35%): it is worth most per prospect
    best = max(rows.values(), key=lambda r: r.value_per_prospect.value)
    assert best.segment == "referral"
    assert rows["referral"].conversion[0].eventual_rate > 0.5
    assert SegmentValues.from_json(by_channel.to_json()) == by_channel
    assert "referral" in by_channel.as_text() and "<table" in by_channel.as_html()


def test_segment_values_need_a_known_attribute(fitted: LifecycleModel) -> None:
    with pytest.raises(FunnelkitError, match="Did you mean one of these: \\['channel'\\]"):
        fitted.segment_values("chanel")


def test_membership_uplift(fitted: LifecycleModel) -> None:
    uplift = fitted.membership_uplift()
    assert uplift.strata == ("channel", "cohort:month")
    assert uplift.statement == ASSOCIATION_STATEMENT
    assert "association, not a causal effect" in uplift.as_text()
    lo, hi = uplift.difference.ci
    # the simulator's members buy far more: about 167 vs 71 over a year from the first purchase
    assert 60 < lo < uplift.difference.value < hi < 140
    assert uplift.member_value > uplift.non_member_value
    assert uplift.n_members_compared <= uplift.n_members
    assert sum(r.n_members for r in uplift.rows) == uplift.n_members
    assert MembershipUplift.from_json(uplift.to_json()) == uplift
    only_cohort = fitted.membership_uplift(strata=("cohort:week",))
    assert only_cohort.strata == ("cohort:week",)
    with pytest.raises(FunnelkitError, match="Unknown stratum 'region'"):
        fitted.membership_uplift(strata=("region",))
    with pytest.raises(FunnelkitError, match="non-empty sequence"):
        fitted.membership_uplift(strata="channel")


def test_uplift_needs_two_groups(community: Community) -> None:
    model = LifecycleModel(n_bootstrap=0, membership_stage=None)
    model.fit(community.log, observation_end=community.sim.observation_end)
    with pytest.raises(FunnelkitError, match="needs members and non-members"):
        model.membership_uplift()


def test_scores_every_customer(fitted: LifecycleModel, community: Community) -> None:
    scores = fitted.score()
    n = fitted.n_customers_
    assert all(len(v) == n for v in scores.values())
    assert set(scores["stage"]) <= {"prospect", "visitor", "member", "repeat_buyer", "(none)"}
    buyer = np.array([g is not None for g in scores["group"]])
    assert buyer.sum() == fitted.customers_.at_end.has_purchase.sum()
    alive = scores["probability_alive"]
    assert np.all((alive[buyer] > 0) & (alive[buyer] <= 1)) and np.isnan(alive[~buyer]).all()
    first = scores["probability_first_purchase"]
    assert np.isnan(first[buyer]).all() and np.all((first[~buyer] >= 0) & (first[~buyer] < 1))
    assert np.all(scores["expected_value"] >= 0) and np.all(scores["expected_purchases"] >= 0)
    # someone who joined recently and has not bought yet is worth more than an old prospect
    stage = scores["stage"]
    value = scores["expected_value"]
    assert value[(stage == "member") & ~buyer].mean() > value[(stage == "prospect")].mean()
    log: EventLog = community.log
    np.testing.assert_array_equal(scores["customer_id"], log.customer_ids)


def test_a_customer_outside_the_funnel_is_scored_with_no_numbers(
    fitted: LifecycleModel, community: Community
) -> None:
    # events of no stage and no purchase: the model describes nobody like this (documented)
    pd = pytest.importorskip("pandas")
    events = community.sim.events
    outsider = events.iloc[:1].assign(customer_id="outsider", event="pageview", value=np.nan)
    log = EventLog.from_frame(
        pd.concat([events, outsider]), value_col="value", attribute_cols=["channel"]
    )
    scores = fitted.score(log, observation_end=community.sim.observation_end)
    at = list(scores["customer_id"]).index("outsider")
    assert scores["stage"][at] == "(none)" and scores["group"][at] is None
    for name in (
        "probability_alive",
        "probability_first_purchase",
        "expected_purchases",
        "expected_value",
    ):
        assert np.isnan(scores[name][at]), name
    others = np.arange(len(scores["customer_id"])) != at
    assert np.isfinite(scores["expected_value"][others]).all()
    assert np.isfinite(scores["expected_purchases"][others]).all()


@pytest.mark.parametrize("backend", ["pandas", "polars", "pyarrow"])
def test_scores_as_a_frame(fitted: LifecycleModel, backend: str) -> None:
    frame = fitted.score(backend=backend)
    assert frame.shape == (fitted.n_customers_, 7)
    assert type(frame).__module__.split(".")[0] == backend


@pytest.mark.parametrize(("n_jobs", "runs"), [(1, []), (2, [0])])
def test_segment_values_run_meanwhile_beside_workers_only_and_give_the_same_table(
    fitted: LifecycleModel, by_channel: SegmentValues, n_jobs: int, runs: list[int]
) -> None:
    # beside worker processes once; with every sample here it is left to the caller
    from funnelkit.lifecycle.segments import segment_values

    calls: list[int] = []
    again = segment_values(
        fitted.fit_,
        fitted.customers(),
        "channel",
        progress=False,
        n_jobs=n_jobs,
        meanwhile=lambda: calls.append(len(calls)),
    )
    assert calls == runs
    assert again == by_channel
