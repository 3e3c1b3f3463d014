"""The per-customer RFM aggregation as SQL, for DuckDB and Spark.

Two group-bys, as lifetimes' definition needs: events → (customer, period) → customer, and
nothing else: the file is scanned once and no intermediate result is joined back. Rows that
do not count (not purchases, or outside the window) keep their customer but get a null
period, so every customer in the log comes back (to count those without purchases) while
the null period group adds nothing to the aggregates, which skip nulls. Conditional
aggregates use ``CASE`` instead of ``FILTER`` clauses: DuckDB runs them markedly faster.

When most rows are other events, grouping them costs more than counting the customers
apart: with ``RFMPlan.counted_only`` the rows that do not count are filtered out before the
group-bys, only customers with a purchase come back, and :func:`customers_sql` counts every
customer of the log in a second, narrower query (one column, one key).

The aggregation gives per customer ``first, last, nper`` (first and last purchase period,
number of purchase periods) and, with values, ``spend_repeat`` (spend in the periods after
the first); with a holdout, ``hold_freq, hold_sum, hold_n`` (holdout periods, value sum,
number of purchases). The query returns them finished as RFM fields: ``fk_c, nper, frequency,
recency, T`` and, with values, ``monetary_value``; with a holdout, ``holdout_frequency`` and,
with values, ``holdout_monetary_value`` (0 without holdout purchases). The engine computes
them in memory it already holds: a million customers' columns finished in numpy each took
fresh memory, several times what the arithmetic costs.

The repeat spend is the customer's total minus their first period's spend (``arg_min``), in
the same group-by. Done naively in doubles that difference cancels catastrophically when the
first purchase dwarfs the repeats (1e16 then 1.23 gives 2.0), while the in-memory path sums
the repeats directly. So each period's spend ``v`` is split into ``hi``, ``v`` truncated to a
multiple of ``RFMPlan.spend_scale``, and the remainder ``lo = v - hi`` (exact). The scale is a
power of two at least the log's total absolute spend / 2**50, so every sum of ``hi`` parts is
an integer multiple of the scale below 2**53: exact in any order, and so is total minus first.
The ``lo`` parts are below the scale, so their rounding errors are negligible next to any
spend (about ``n**2 * 2**-100`` of the log's total spend for ``n`` periods).
"""

from __future__ import annotations

import math

from funnelkit.ingest.lazy._plans import RFMPlan
from funnelkit.ingest.lazy._sql import BASE, Dialect, in_list

__all__ = ["customers_sql", "rfm_sql", "spend_scale"]


def rfm_sql(d: Dialect, plan: RFMPlan) -> str:
    """SQL text of the RFM aggregation over ``fk_base``, finished as RFM fields (see the
    module docstring)."""
    zero = "CAST(0 AS DOUBLE)"
    finished = [
        "fk_c",
        "nper",
        "CAST(nper - 1 AS DOUBLE) AS frequency",
        "CAST(last - first AS DOUBLE) AS recency",
        f"CAST({int(plan.summary_end)} - first AS DOUBLE) AS {d.quote('T')}",
    ]
    if plan.has_value:
        finished.append(
            f"CASE WHEN nper > 1 THEN coalesce(spend_repeat, {zero}) / (nper - 1) "
            f"ELSE {zero} END AS monetary_value"
        )
    if plan.has_holdout:
        finished.append("CAST(hold_freq AS DOUBLE) AS holdout_frequency")
        if plan.has_value:
            finished.append(
                f"CASE WHEN hold_n > 0 THEN hold_sum / hold_n ELSE {zero} END "
                "AS holdout_monetary_value"
            )
    return f"SELECT {', '.join(finished)} FROM ({_aggregated(d, plan)}) AS agg"


def _aggregated(d: Dialect, plan: RFMPlan) -> str:
    purchase = "TRUE" if plan.purchase_events is None else in_list(d, "fk_e", plan.purchase_events)
    if plan.has_holdout:
        return _with_holdout(d, plan, purchase)
    counted = purchase
    if plan.end_period is not None:
        counted = f"{purchase} AND fk_p <= {plan.end_period}"
    rows = d.table(BASE)
    if plan.counted_only and counted != "TRUE":
        rows, counted = f"{rows} WHERE {counted}", "TRUE"
    p = "fk_p" if counted == "TRUE" else f"CASE WHEN {counted} THEN fk_p END"
    v = "fk_v" if counted == "TRUE" else f"CASE WHEN {counted} THEN fk_v END"
    if not plan.has_value:
        return (
            f"WITH b AS (SELECT fk_c, {p} AS p FROM {rows}), "
            "l1 AS (SELECT fk_c, p FROM b GROUP BY fk_c, p) "
            "SELECT fk_c, min(p) AS first, max(p) AS last, count(p) AS nper "
            "FROM l1 GROUP BY fk_c"
        )
    parts, spend = _repeat_spend(d, plan, "v", "p")
    return (
        f"WITH b AS (SELECT fk_c, {p} AS p, {v} AS v FROM {rows}), "
        "l1 AS (SELECT fk_c, p, sum(v) AS v FROM b GROUP BY fk_c, p), "
        "l2 AS (SELECT fk_c, min(p) AS first, max(p) AS last, count(p) AS nper, "
        f"{parts} FROM l1 GROUP BY fk_c) "
        f"SELECT fk_c, first, last, nper, {spend} AS spend_repeat FROM l2"
    )


def customers_sql(d: Dialect) -> str:
    """SQL counting the distinct customers of ``fk_base`` (column ``n``).

    A group-by rather than ``count(DISTINCT ...)``, which DuckDB runs about half as fast.
    """
    return f"SELECT count(*) AS n FROM (SELECT fk_c FROM {d.table(BASE)} GROUP BY fk_c) AS c"


def spend_scale(total_abs: float | None) -> float:
    """The power of two that splits period spends (see the module docstring).

    ``total_abs`` is the sum of the absolute values that count (None or 0 when there are
    none; infinite when that sum overflows doubles).

    Examples
    --------
    >>> spend_scale(1000.0) == 2.0**-40, spend_scale(None)
    (True, 1.0)
    """
    if not total_abs:
        return 1.0
    exponent = math.frexp(total_abs)[1] if math.isfinite(total_abs) else 1024
    # 2**-1074 is the smallest positive double: tiny spends are then their own lo parts.
    return math.ldexp(1.0, max(exponent - 50, -1074))


def _repeat_spend(d: Dialect, plan: RFMPlan, v: str, p: str) -> tuple[str, str]:
    """Aggregates of the split spend, and the repeat spend computed from them."""
    scale = f"CAST({d.string(repr(plan.spend_scale))} AS DOUBLE)"

    def hi(x: str) -> str:
        return f"({d.trunc(f'{x} / {scale}')} * {scale})"

    parts = f"sum({hi(v)}) AS v_hi, sum({v} - {hi(v)}) AS v_lo, {d.arg_min(v, p)} AS v_first"
    spend = f"((v_hi - {hi('v_first')}) + (v_lo - (v_first - {hi('v_first')})))"
    return parts, spend


def _with_holdout(d: Dialect, plan: RFMPlan, purchase: str) -> str:
    cal = f"{purchase} AND fk_k <= {_lit(plan.cal_tick)}"
    hold = f"{purchase} AND fk_k > {_lit(plan.cal_tick)}"
    if plan.end_tick is not None:
        hold += f" AND fk_k <= {_lit(plan.end_tick)}"
    # s = 1: calibration purchase, 2: holdout purchase; a period can hold both.
    b = f"SELECT fk_c, fk_p, CASE WHEN {cal} THEN 1 WHEN {hold} THEN 2 END AS s"
    b += ", fk_v" if plan.has_value else ""
    rows = d.table(BASE)
    if plan.counted_only:
        rows += f" WHERE ({cal}) OR ({hold})"
    b1 = (
        "SELECT fk_c, CASE WHEN s IS NOT NULL THEN fk_p END AS p, "
        "CASE WHEN s = 1 THEN 1 END AS ni, CASE WHEN s = 2 THEN 1 END AS nh"
    )
    # p_inc: the period, where it holds calibration purchases (null elsewhere)
    l1 = (
        "SELECT fk_c, count(ni) AS n_inc, count(nh) AS n_hold, "
        "CASE WHEN count(ni) > 0 THEN p END AS p_inc"
    )
    l2 = (
        "SELECT fk_c, min(p_inc) AS first, max(p_inc) AS last, "
        "count_if(n_inc > 0) AS nper, count_if(n_hold > 0) AS hold_freq, "
        "CAST(sum(n_hold) AS BIGINT) AS hold_n"
    )
    if not plan.has_value:
        return (
            f"WITH b AS ({b} FROM {rows}), b1 AS ({b1} FROM b), "
            f"l1 AS ({l1} FROM b1 GROUP BY fk_c, p) {l2} FROM l1 GROUP BY fk_c"
        )
    # A missing holdout value makes the holdout mean NaN, as in memory.
    b1 += (
        ", CASE WHEN s = 1 THEN fk_v END AS vi, "
        "CASE WHEN s = 2 THEN coalesce(fk_v, CAST('NaN' AS DOUBLE)) END AS vh"
    )
    # v_inc is null in periods without calibration purchases, as p_inc is.
    l1 += ", sum(vi) AS v_inc, sum(vh) AS v_hold"
    parts, spend = _repeat_spend(d, plan, "v_inc", "p_inc")
    return (
        f"WITH b AS ({b} FROM {rows}), b1 AS ({b1} FROM b), "
        f"l1 AS ({l1} FROM b1 GROUP BY fk_c, p), "
        f"l2 AS ({l2}, sum(v_hold) AS hold_sum, {parts} FROM l1 GROUP BY fk_c) "
        f"SELECT fk_c, first, last, nper, hold_freq, hold_n, hold_sum, {spend} AS spend_repeat "
        "FROM l2"
    )


def _lit(value: int | float | None) -> str:
    if isinstance(value, float):
        return f"CAST({value!r} AS DOUBLE)"
    return str(int(value))  # type: ignore[arg-type]
