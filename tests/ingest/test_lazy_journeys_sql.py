"""The lazy journeys query: stages that need no other stage come from one scan of the events."""

from __future__ import annotations

import pytest

from funnelkit.ingest.lazy._plans import JourneysPlan, StagePlan
from funnelkit.ingest.lazy._sql import BASE, DUCKDB, SPARK, Dialect
from funnelkit.ingest.lazy.journeys_sql import journeys_sql

ONE = StagePlan(events=("visit",), min_count=1)
ALL = StagePlan(events=None, min_count=1)
TWICE = StagePlan(events=("purchase",), min_count=2)
NEVER = StagePlan(events=(), min_count=1)


@pytest.mark.parametrize("dialect", [DUCKDB, SPARK], ids=["duckdb", "spark"])
@pytest.mark.parametrize(
    ("stages", "ordered", "scans"),
    [
        ((ALL, ONE, NEVER), False, 1),  # an "any" funnel: one group-by
        ((ALL, ONE, TWICE), False, 2),  # the second purchase needs its own ranking
        ((ALL, ONE, ONE), True, 3),  # each later stage counts from the previous entry
    ],
)
def test_scans_of_the_events(
    dialect: Dialect, stages: tuple[StagePlan, ...], ordered: bool, scans: int
) -> None:
    plan = JourneysPlan(stages=stages, ordered=ordered, n_attributes=1, end_tick=99)
    sql = journeys_sql(dialect, plan)
    assert sql.count(dialect.table(BASE)) == scans
    assert sql.count(" JOIN ") == (2 * (scans - 1) if ordered else scans - 1)
