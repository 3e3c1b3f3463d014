"""Funnel trends: conversion by entry cohort, checked against hand counts and the truth."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from funnelkit import EventLog, Funnel
from funnelkit.conversion import ConversionFitter
from funnelkit.conversion.trends import FunnelTrends, funnel_trends
from funnelkit.datasets import CommunityParams, simulate_community
from funnelkit.exceptions import FunnelkitError

END = 245.0  # days: prospects arrive for 240 days, so the last cohorts are still young
WINDOW = 30.0


@pytest.fixture(scope="module")
def world() -> tuple:
    sim = simulate_community(6_000, seed=4, params=CommunityParams(observation_days=END))
    log = EventLog.from_frame(sim.events, value_col="value")
    journeys = Funnel.community().journeys(log, observation_end=sim.observation_end)
    return sim, journeys


@pytest.fixture(scope="module")
def trends(world: tuple) -> FunnelTrends:
    return funnel_trends(world[1], "prospect", "visitor", by="month", window=WINDOW)


def _months(truth: dict) -> np.ndarray:
    day = np.floor(truth["touch"]).astype("int64")
    start = np.datetime64("2024-01-01", "D")
    return (start + day).astype("datetime64[M]").astype(str)


def test_counts_match_hand_counts(world: tuple, trends: FunnelTrends) -> None:
    truth = world[0].truth
    month = _months(truth)
    visited = truth["will_visit"] & (truth["touch"] + truth["visit_delay"] <= END)
    waiting = ~visited & (truth["touch"] > END - WINDOW)
    assert [r.cohort for r in trends.rows] == sorted(set(month.tolist()))
    for row in trends.rows:
        mine = month == row.cohort
        assert row.n_entered == int(mine.sum())
        assert row.n_converted == int((visited & mine).sum())
        assert row.naive_rate == pytest.approx((visited & mine).sum() / mine.sum())
        assert row.share_in_window == pytest.approx(waiting[mine].mean())
        assert row.complete == (not waiting[mine].any())


def _eventual(world: tuple, cohort: str) -> float:
    """The share of a cohort who will ever visit: what happens without censoring."""
    truth = world[0].truth
    return float(truth["will_visit"][_months(truth) == cohort].mean())


def test_young_cohort_is_not_counted_as_lost(world: tuple, trends: FunnelTrends) -> None:
    last = trends.rows[-1]
    assert last.cohort == "2024-08"
    assert not last.complete and last.share_in_window > 0.5
    truth = _eventual(world, last.cohort)
    assert last.naive_rate < truth - 0.03
    assert last.eventual_rate_ci.contains(truth)


def test_eventual_rates_cover_the_truth(world: tuple, trends: FunnelTrends) -> None:
    covered = [r.eventual_rate_ci.contains(_eventual(world, r.cohort)) for r in trends.rows]
    assert sum(covered) >= len(covered) - 1


def test_rate_within_only_for_cohorts_followed_that_long(world: tuple) -> None:
    # 100 days: cohorts that entered after day 150 have nobody followed that long... except
    # their earliest members; September has no such member at all
    trends = funnel_trends(world[1], "prospect", "visitor", by="month", window=100)
    by_cohort = {r.cohort: r for r in trends.rows}
    assert by_cohort["2024-01"].rate_within is not None
    assert by_cohort["2024-08"].rate_within is None
    assert trends.notes[-1].startswith("3 cohort(s) not yet followed for 100 days")
    frame = trends.summary()
    assert np.isnan(frame["rate_within"].iloc[-1])


def test_summary_columns_and_backends(trends: FunnelTrends) -> None:
    frame = trends.summary("polars")
    assert isinstance(frame, pl.DataFrame)
    assert frame.columns == [
        "cohort",
        "n_entered",
        "n_converted",
        "naive_rate",
        "share_in_window",
        "complete",
        "rate_within",
        "rate_within_lower",
        "rate_within_upper",
        "estimate",
        "std_error",
        "lower",
        "upper",
    ]
    assert frame["estimate"].to_list() == [r.eventual_rate for r in trends.rows]


def test_json_round_trip_and_html(trends: FunnelTrends) -> None:
    loaded = FunnelTrends.from_json(trends.to_json())
    assert loaded == trends
    assert loaded.as_html() == trends.as_html()
    assert "within 30 days" in trends.as_html()


def test_plot_draws_three_lines(trends: FunnelTrends) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ax = trends.plot()
    assert len(ax.get_lines()) == 3
    plt.close(ax.figure)


def test_fitter_trends_use_the_fitted_family(world: tuple) -> None:
    journeys = world[1]
    fitter = ConversionFitter(model="lognormal").fit(journeys)
    got = fitter.trends(journeys, "prospect", "visitor", by="month", window=14)
    assert got.model == "lognormal"
    assert got == funnel_trends(
        journeys, "prospect", "visitor", by="month", window=14, model="lognormal"
    )


def test_default_window_is_thirty_days(world: tuple) -> None:
    got = funnel_trends(world[1], "visitor", "member", by="week")
    assert got.window == 30.0
    assert got.time_unit.value == "day"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"by": "quarter"}, r"'by' parameter of funnel_trends must be one of"),
        ({"window": -1}, r"window must be a finite number >= 0"),
    ],
)
def test_bad_settings(world: tuple, kwargs: dict, message: str) -> None:
    with pytest.raises(FunnelkitError, match=message):
        funnel_trends(world[1], "prospect", "visitor", **kwargs)


def test_unknown_stage(world: tuple) -> None:
    with pytest.raises(FunnelkitError, match=r"No stage named 'buyer'"):
        funnel_trends(world[1], "prospect", "buyer")
