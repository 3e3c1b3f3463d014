"""The lazy journeys queries: stages that need no other stage come from one scan of the events."""

from __future__ import annotations

import polars as pl
import pytest

from funnelkit.ingest.lazy._plans import JourneysPlan, StagePlan
from funnelkit.ingest.lazy._sql import BASE, DUCKDB, SPARK, Dialect
from funnelkit.ingest.lazy.journeys_polars import journeys_polars
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


@pytest.mark.parametrize(
    ("stages", "joined"), [((ALL, ONE, NEVER), False), ((ALL, ONE, TWICE), True)]
)
def test_polars_joins_only_stages_that_need_their_own_ranking(
    stages: tuple[StagePlan, ...], joined: bool
) -> None:
    base = pl.LazyFrame(
        {"fk_c": ["a", "a", "b"], "fk_k": [3, 1, 2], "fk_e": ["visit", "buy", "visit"]}
    ).with_columns(fk_a0=pl.col("fk_e"))
    query = journeys_polars(base, JourneysPlan(stages=stages, ordered=False, n_attributes=1))
    assert ("JOIN" in query.explain(optimized=False)) == joined
    rows = query.sort("fk_c").collect().to_dicts()
    assert rows[0] == {"fk_c": "a", "fk_a0": "buy", "s0": 1, "s1": 3, "s2": None}
    assert rows[1] == {"fk_c": "b", "fk_a0": "visit", "s0": 2, "s1": 2, "s2": None}
