"""Segments: labels, log-rank tests against lifelines, likelihood-ratio tests, Holm."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from funnelkit import EventLog, Funnel
from funnelkit.conversion import ConversionFitter
from funnelkit.conversion.segments import logrank, segment_codes
from funnelkit.datasets.conversion import DelaySpec, TransitionParams, simulate_transitions
from funnelkit.exceptions import FunnelkitError
from funnelkit.journeys import Journeys


def _groups(seed: int, k: int, n: int, *, rounding: float = 0.5):
    rng = np.random.default_rng(seed)
    codes = rng.integers(0, k, n)
    rate = 0.3 + 0.1 * codes
    delay = rng.exponential(5.0 + codes, n)
    follow = rng.uniform(0, 25, n)
    converted = (rng.random(n) < rate) & (delay <= follow)
    durations = np.round(np.where(converted, delay, follow) / rounding) * rounding
    return durations, converted, codes


@pytest.mark.parametrize(("k", "rounding"), [(2, 0.5), (4, 1.0), (5, 0.01)])
def test_logrank_matches_lifelines(k: int, rounding: float) -> None:
    statistics = pytest.importorskip("lifelines.statistics")  # the oracle; only this needs it

    durations, converted, codes = _groups(k, k, 1500, rounding=rounding)
    ours = logrank(durations, converted, codes, k, pairwise=True)
    assert ours is not None
    theirs = statistics.multivariate_logrank_test(durations, codes, converted)
    assert ours.statistic == pytest.approx(theirs.test_statistic, rel=1e-9)
    assert ours.p_value == pytest.approx(theirs.p_value, rel=1e-7, abs=1e-300)
    assert ours.df == k - 1
    pairs = statistics.pairwise_logrank_test(durations, codes, converted).summary
    for (g, h), row in pairs.iterrows():
        assert ours.pair_statistic[g, h] == pytest.approx(row["test_statistic"], rel=1e-9)
        assert ours.pair_p_value[g, h] == pytest.approx(row["p"], rel=1e-7, abs=1e-300)


def test_logrank_chunks_give_the_same_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    import funnelkit.conversion.segments as seg

    durations, converted, codes = _groups(9, 3, 3000, rounding=0.001)
    whole = logrank(durations, converted, codes, 3, pairwise=True)
    monkeypatch.setattr(seg, "_CHUNK", 37)
    chunked = logrank(durations, converted, codes, 3, pairwise=True)
    assert whole is not None and chunked is not None
    assert chunked.statistic == pytest.approx(whole.statistic, rel=1e-10)
    np.testing.assert_allclose(chunked.pair_statistic, whole.pair_statistic, rtol=1e-10)


def test_logrank_without_conversions_is_undefined() -> None:
    assert (
        logrank(np.ones(4), np.zeros(4, dtype=bool), np.array([0, 0, 1, 1]), 2, pairwise=True)
        is None
    )


def _datetime_journeys() -> Journeys:
    frame = pd.DataFrame(
        {
            "customer_id": ["a", "a", "b", "b", "c", "d"],
            "timestamp": pd.to_datetime(
                ["2024-01-01", "2024-01-03", "2024-01-07", "2024-01-20", "2024-01-08", "2024-02-02"]
            ),
            "event": ["visit", "join", "visit", "join", "visit", "visit"],
            "channel": ["ig", "ig", None, None, "tt", "ig"],
        }
    )
    log = EventLog.from_frame(frame, attribute_cols=["channel"])
    funnel = Funnel.model_validate(
        {
            "stages": [
                {"name": "visitor", "events": ["visit"]},
                {"name": "member", "events": ["join"]},
            ]
        }
    )
    return funnel.journeys(log, observation_end="2024-02-10")


def test_cohort_labels_use_monday_weeks_and_calendar_months() -> None:
    journeys = _datetime_journeys()
    index = np.arange(len(journeys))
    codes, labels = segment_codes(journeys, "cohort:week", index, "visitor")
    # 2024-01-01 is a Monday; Sunday 2024-01-07 belongs to that week, Monday 01-08 starts the next
    assert labels == ("2024-01-01", "2024-01-08", "2024-01-29")
    assert [labels[c] for c in codes] == ["2024-01-01", "2024-01-01", "2024-01-08", "2024-01-29"]
    codes, labels = segment_codes(journeys, "cohort:month", index, "visitor")
    assert labels == ("2024-01", "2024-02")
    codes, labels = segment_codes(journeys, "channel", index, "visitor")
    assert labels == ("ig", "tt", "(missing)")
    assert [labels[c] for c in codes] == ["ig", "(missing)", "tt", "ig"]


def test_segments_that_differ_are_detected_and_holm_adjusted() -> None:
    slow = TransitionParams(
        eventual_rates=(0.2, 0.5),
        delays=(DelaySpec(scale=10.0, shape=1.5), DelaySpec(scale=10.0, shape=1.0)),
    )
    fast = TransitionParams(
        eventual_rates=(0.45, 0.5),
        delays=(DelaySpec(scale=10.0, shape=1.5), DelaySpec(scale=10.0, shape=1.0)),
    )
    sim = simulate_transitions(4000, seed=8, segments={"slow": slow, "fast": fast, "fast2": fast})
    fitter = ConversionFitter(model="weibull").fit(sim.journeys, by="segment")
    comparison = fitter.segment_comparison()
    first = [t for t in comparison.tests if t.target == "member"]
    second = [t for t in comparison.tests if t.target == "buyer"]
    assert {t.test for t in first} == {"log-rank", "likelihood-ratio"}
    assert all(t.p_value_holm is not None and t.p_value_holm < 1e-6 for t in first)
    assert all(t.p_value is not None and t.p_value_holm >= t.p_value for t in comparison.tests)
    lr = next(t for t in first if t.test == "likelihood-ratio")
    assert lr.df == 2 * 3  # two extra segments x (logit p, location, log s)
    pairs = {t.segments: t for t in comparison.pairwise if t.target == "member"}
    assert pairs[("fast", "fast2")].p_value_holm > 0.01
    assert pairs[("fast", "slow")].p_value_holm < 1e-6
    assert all(t.p_value is not None for t in second)
    est = fitter.estimate("visitor", "member", "slow")
    assert est.eventual_rate_ci[0] < 0.2 < est.eventual_rate_ci[1]
    assert "likelihood-ratio" in comparison.as_text() and "<table" in comparison.as_html()
    assert type(comparison).from_json(comparison.to_json()) == comparison


def test_compare_false_gives_the_same_estimates_without_the_tests() -> None:
    sim = simulate_transitions(
        3000, seed=4, segments={"a": TransitionParams(), "b": TransitionParams()}
    )
    tested = ConversionFitter().fit(sim.journeys, by="segment")
    plain = ConversionFitter().fit(sim.journeys, by="segment", compare=False)
    assert plain.comparison_ is None
    assert plain.segments_ == tested.segments_
    assert plain.result_.estimates == tested.result_.estimates
    with pytest.raises(FunnelkitError, match="The segment tests were skipped"):
        plain.segment_comparison()
    with pytest.raises(FunnelkitError, match=r"compare must be True or False\. Got 'no'"):
        ConversionFitter().fit(sim.journeys, by="segment", compare="no")
