"""First entry into each funnel stage as SQL, for DuckDB and Spark.

One group-by of the events per customer gives their attributes (from their first event) and
the entry into every stage that one qualifying event enters and that does not depend on
another stage's entry: a conditional ``min``, so a file is scanned once for an ``any``
funnel. The other stages get one common table expression each: the ``min_count``-th
qualifying event of each customer (``row_number()`` over the customer's events) and, in
``ordered`` funnels, only events at or after the previous stage's entry (joined). Left joins
onto every customer of the log give one row per customer: ``fk_c, fk_a0.., s0, s1, ..``
(entry ticks, null when the stage was not reached).
"""

from __future__ import annotations

from funnelkit.ingest.lazy._plans import JourneysPlan, StagePlan
from funnelkit.ingest.lazy._sql import BASE, Dialect, in_list

__all__ = ["journeys_sql"]


def journeys_sql(d: Dialect, plan: JourneysPlan) -> str:
    """SQL text over ``fk_base`` (see the module docstring)."""
    table = d.table(BASE)
    inline = [
        k
        for k, stage in enumerate(plan.stages)
        if stage.min_count == 1 and not (plan.ordered and k > 0)
    ]
    aggs = [f"{d.first_by(f'fk_a{i}', 'fk_k')} AS fk_a{i}" for i in range(plan.n_attributes)]
    aggs += [
        f"min(CASE WHEN {_condition(d, plan.stages[k], plan.end_tick, '')} THEN fk_k END) AS s{k}"
        for k in inline
    ]
    ctes = [f"cust AS (SELECT {', '.join(['fk_c', *aggs])} FROM {table} GROUP BY fk_c)"]
    joined = [k for k in range(len(plan.stages)) if k not in inline]
    for k in joined:
        previous = k - 1 if plan.ordered and k > 0 else None
        after = None if previous is None else ("cust" if previous in inline else f"s{previous}")
        ctes.append(f"s{k} AS ({_stage(d, plan, k, previous, after, table)})")
    select = ["cust.*"] + [f"s{k}.s{k}" for k in joined]
    joins = "".join(f" LEFT JOIN s{k} ON cust.fk_c = s{k}.fk_c" for k in joined)
    return f"WITH {', '.join(ctes)} SELECT {', '.join(select)} FROM cust{joins}"


def _condition(d: Dialect, stage: StagePlan, end_tick: int | float | None, prefix: str) -> str:
    """Where an event qualifies for ``stage``; ``prefix`` qualifies the column names."""
    if stage.events is None:
        where = ["TRUE"]
    else:
        where = [in_list(d, f"{prefix}fk_e", stage.events) if stage.events else "FALSE"]
    if end_tick is not None:
        where.append(f"{prefix}fk_k <= {_lit(end_tick)}")
    return " AND ".join(where)


def _stage(
    d: Dialect,
    plan: JourneysPlan,
    k: int,
    previous: int | None,
    after: str | None,
    table: str,
) -> str:
    """Entry into stage ``k``, after stage ``previous``'s entry found in table ``after``."""
    stage = plan.stages[k]
    condition = _condition(d, stage, plan.end_tick, "b.")
    source = f"{table} AS b"
    if previous is not None:
        source += f" JOIN {after} AS prev ON b.fk_c = prev.fk_c"
        condition += f" AND b.fk_k >= prev.s{previous}"
    if stage.min_count == 1:
        return f"SELECT b.fk_c, min(b.fk_k) AS s{k} FROM {source} WHERE {condition} GROUP BY b.fk_c"
    ranked = (
        "SELECT b.fk_c, b.fk_k, row_number() OVER (PARTITION BY b.fk_c ORDER BY b.fk_k) AS rn "
        f"FROM {source} WHERE {condition}"
    )
    return f"SELECT fk_c, fk_k AS s{k} FROM ({ranked}) AS r WHERE rn = {stage.min_count}"


def _lit(value: int | float) -> str:
    if isinstance(value, float):
        return f"CAST({value!r} AS DOUBLE)"
    return str(int(value))
