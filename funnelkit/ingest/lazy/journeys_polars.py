"""First entry into each funnel stage in Polars: the plan of :mod:`.journeys_sql`."""

from __future__ import annotations

from typing import Any

from funnelkit._optional import import_optional
from funnelkit.ingest.lazy._plans import JourneysPlan, StagePlan

__all__ = ["journeys_polars"]


def journeys_polars(base: Any, plan: JourneysPlan) -> Any:
    """A LazyFrame with the output columns documented in :mod:`.journeys_sql`.

    As there, stages entered by one event that depend on no other stage are conditional
    minima in the customers' own group-by; the others are joined.
    """
    pl = import_optional("polars", purpose="Aggregating a Polars LazyFrame")
    k = pl.col("fk_k")
    # Attributes of the first event; arg_min takes the first row among ties, as in memory.
    aggs = [pl.col(f"fk_a{i}").get(k.arg_min()) for i in range(plan.n_attributes)]
    inline = [
        i
        for i, stage in enumerate(plan.stages)
        if stage.min_count == 1 and not (plan.ordered and i > 0)
    ]
    aggs += [
        k.filter(_condition(pl, plan.stages[i], plan.end_tick)).min().alias(f"s{i}") for i in inline
    ]
    out = base.group_by("fk_c").agg(aggs) if aggs else base.select("fk_c").unique()
    previous: Any = out
    for i, stage in enumerate(plan.stages):
        if i in inline:
            continue
        after = previous.select("fk_c", f"s{i - 1}") if plan.ordered and i > 0 else None
        previous = _stage(pl, base, stage, i, after, plan.end_tick)
        out = out.join(previous, on="fk_c", how="left")
    return out


def _condition(pl: Any, stage: StagePlan, end_tick: int | float | None) -> Any:
    if stage.events is None:
        condition = pl.lit(True)
    elif stage.events:
        condition = pl.col("fk_e").is_in(list(stage.events))
    else:
        condition = pl.lit(False)
    if end_tick is not None:
        condition = condition & (pl.col("fk_k") <= end_tick)
    return condition


def _stage(
    pl: Any, base: Any, stage: StagePlan, i: int, previous: Any, end_tick: int | float | None
) -> Any:
    k = pl.col("fk_k")
    events = base.filter(_condition(pl, stage, end_tick)).select("fk_c", "fk_k")
    if previous is not None:
        events = events.join(previous, on="fk_c", how="inner").filter(k >= pl.col(f"s{i - 1}"))
    n = stage.min_count
    nth = k.min() if n == 1 else k.sort().get(n - 1, null_on_oob=True)
    return events.group_by("fk_c").agg(nth.alias(f"s{i}")).filter(pl.col(f"s{i}").is_not_null())
