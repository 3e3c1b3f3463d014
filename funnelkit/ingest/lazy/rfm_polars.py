"""The per-customer RFM aggregation in Polars: the plan of :mod:`.rfm_sql`, as expressions."""

from __future__ import annotations

from typing import Any

from funnelkit._optional import import_optional
from funnelkit.ingest.lazy._plans import RFMPlan

__all__ = ["customers_polars", "rfm_polars"]


def rfm_polars(base: Any, plan: RFMPlan) -> Any:
    """A LazyFrame with the output columns documented in :mod:`.rfm_sql`."""
    pl = import_optional("polars", purpose="Aggregating a Polars LazyFrame")
    nper, first = pl.col("nper").cast(pl.Int64), pl.col("first").cast(pl.Float64)
    finished = [
        pl.col("fk_c"),
        nper.alias("nper"),
        (nper - 1).cast(pl.Float64).alias("frequency"),
        (pl.col("last").cast(pl.Float64) - first).alias("recency"),
        (float(plan.summary_end) - first).alias("T"),
    ]
    if plan.has_value:
        repeat = pl.col("spend_repeat").fill_null(0.0) / (nper - 1)
        finished.append(pl.when(nper > 1).then(repeat).otherwise(0.0).alias("monetary_value"))
    if plan.has_holdout:
        finished.append(pl.col("hold_freq").cast(pl.Float64).alias("holdout_frequency"))
        if plan.has_value:
            mean = pl.col("hold_sum") / pl.col("hold_n")
            finished.append(
                pl.when(pl.col("hold_n") > 0)
                .then(mean)
                .otherwise(0.0)
                .alias("holdout_monetary_value")
            )
    return _aggregated(pl, base, plan).select(finished)


def _aggregated(pl: Any, base: Any, plan: RFMPlan) -> Any:
    purchase = (
        pl.lit(True)
        if plan.purchase_events is None
        else pl.col("fk_e").is_in(list(plan.purchase_events))
    )
    if plan.has_holdout:
        return _with_holdout(pl, base, plan, purchase)
    counted = purchase
    if plan.end_period is not None:
        counted = purchase & (pl.col("fk_p") <= plan.end_period)
    if plan.counted_only:
        base, counted = base.filter(counted), pl.lit(True)
    cols = [pl.col("fk_c"), pl.when(counted).then(pl.col("fk_p")).alias("p")]
    if plan.has_value:
        cols.append(pl.when(counted).then(pl.col("fk_v")).alias("v"))
    level1 = (
        base.select(cols).group_by("fk_c", "p").agg([pl.col("v").sum()] if plan.has_value else [])
    )
    p = pl.col("p")
    aggs = [p.min().alias("first"), p.max().alias("last"), p.count().alias("nper")]
    if plan.has_value:
        # repeat periods summed directly (see .rfm_sql: no total-minus-first cancellation)
        aggs.append(pl.col("v").filter(p > p.min()).sum().alias("spend_repeat"))
    return level1.group_by("fk_c").agg(aggs)


def customers_polars(base: Any) -> Any:
    """A LazyFrame with one row: the number of distinct customers ``n`` (see :mod:`.rfm_sql`)."""
    pl = import_optional("polars", purpose="Aggregating a Polars LazyFrame")
    return base.select(pl.col("fk_c").n_unique().alias("n"))


def _with_holdout(pl: Any, base: Any, plan: RFMPlan, purchase: Any) -> Any:
    k = pl.col("fk_k")
    cal = purchase & (k <= plan.cal_tick)
    hold = purchase & (k > plan.cal_tick)
    if plan.end_tick is not None:
        hold = hold & (k <= plan.end_tick)
    if plan.counted_only:
        base = base.filter(cal | hold)
    cols = [
        pl.col("fk_c"),
        pl.when(cal | hold).then(pl.col("fk_p")).alias("p"),
        cal.alias("is_cal"),
        hold.alias("is_hold"),
    ]
    aggs1 = [pl.col("is_cal").sum().alias("n_inc"), pl.col("is_hold").sum().alias("n_hold")]
    if plan.has_value:
        cols += [
            pl.when(cal).then(pl.col("fk_v")).alias("vi"),
            # A missing holdout value makes the holdout mean NaN, as in memory.
            pl.when(hold).then(pl.col("fk_v").fill_null(float("nan"))).alias("vh"),
        ]
        aggs1 += [pl.col("vi").sum().alias("v_inc"), pl.col("vh").sum().alias("v_hold")]
    level1 = base.select(cols).group_by("fk_c", "p").agg(aggs1)
    p_inc = pl.when(pl.col("n_inc") > 0).then(pl.col("p"))
    aggs2 = [
        p_inc.min().alias("first"),
        p_inc.max().alias("last"),
        (pl.col("n_inc") > 0).sum().cast(pl.Int64).alias("nper"),
        (pl.col("n_hold") > 0).sum().cast(pl.Int64).alias("hold_freq"),
        pl.col("n_hold").sum().cast(pl.Int64).alias("hold_n"),
    ]
    if plan.has_value:
        repeat = (pl.col("n_inc") > 0) & (pl.col("p") > p_inc.min())
        aggs2 += [
            pl.col("v_inc").filter(repeat).sum().alias("spend_repeat"),
            pl.col("v_hold").sum().alias("hold_sum"),
        ]
    return level1.group_by("fk_c").agg(aggs2)
