"""First entry into each funnel stage as SQL, for DuckDB and Spark.

One common table expression per stage: the ``min_count``-th qualifying event of each customer
(``min`` when one event is enough, ``row_number()`` over the customer's events otherwise). In
``ordered`` funnels a stage joins the previous stage's entries and only counts events at or
after them. A final left join onto every customer of the log (with attributes from their first
event) gives one row per customer: ``fk_c, fk_a0.., s0, s1, ..`` (entry ticks, null when the
stage was not reached).
"""

from __future__ import annotations

from funnelkit.ingest.lazy._plans import JourneysPlan, StagePlan
from funnelkit.ingest.lazy._sql import BASE, Dialect, in_list

__all__ = ["journeys_sql"]


def journeys_sql(d: Dialect, plan: JourneysPlan) -> str:
    """SQL text over ``fk_base`` (see the module docstring)."""
    table = d.table(BASE)
    attrs = "".join(
        f", {d.first_by(f'fk_a{i}', 'fk_k')} AS fk_a{i}" for i in range(plan.n_attributes)
    )
    ctes = [f"cust AS (SELECT fk_c{attrs} FROM {table} GROUP BY fk_c)"]
    for k, stage in enumerate(plan.stages):
        previous = k - 1 if plan.ordered and k > 0 else None
        ctes.append(f"s{k} AS ({_stage(d, stage, k, previous, plan.end_tick, table)})")
    select = ["cust.*"] + [f"s{k}.s{k}" for k in range(len(plan.stages))]
    joins = "".join(f" LEFT JOIN s{k} ON cust.fk_c = s{k}.fk_c" for k in range(len(plan.stages)))
    return f"WITH {', '.join(ctes)} SELECT {', '.join(select)} FROM cust{joins}"


def _stage(
    d: Dialect,
    stage: StagePlan,
    k: int,
    previous: int | None,
    end_tick: int | float | None,
    table: str,
) -> str:
    where = ["TRUE" if stage.events is None else _events(d, stage.events)]
    if end_tick is not None:
        where.append(f"b.fk_k <= {_lit(end_tick)}")
    source = f"{table} AS b"
    if previous is not None:
        source += f" JOIN s{previous} AS prev ON b.fk_c = prev.fk_c"
        where.append(f"b.fk_k >= prev.s{previous}")
    condition = " AND ".join(where)
    if stage.min_count == 1:
        return f"SELECT b.fk_c, min(b.fk_k) AS s{k} FROM {source} WHERE {condition} GROUP BY b.fk_c"
    ranked = (
        "SELECT b.fk_c, b.fk_k, row_number() OVER (PARTITION BY b.fk_c ORDER BY b.fk_k) AS rn "
        f"FROM {source} WHERE {condition}"
    )
    return f"SELECT fk_c, fk_k AS s{k} FROM ({ranked}) AS r WHERE rn = {stage.min_count}"


def _events(d: Dialect, events: tuple[str, ...]) -> str:
    return in_list(d, "b.fk_e", events) if events else "FALSE"


def _lit(value: int | float) -> str:
    if isinstance(value, float):
        return f"CAST({value!r} AS DOUBLE)"
    return str(int(value))
