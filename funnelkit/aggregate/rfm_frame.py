"""The RFM summary as a lazy frame of the source's engine, for customer bases too large to collect.

:func:`rfm_frame` runs the same validation and aggregation as :meth:`funnelkit.RFM.from_events`
but leaves the per-customer summary where it was computed: a DuckDB relation, a Polars
LazyFrame or a Spark DataFrame with the columns of :meth:`funnelkit.RFM.to_frame`. Score it
there with :func:`funnelkit.spark.score`, or write it out.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from funnelkit._optional import import_optional
from funnelkit.exceptions import FunnelkitError
from funnelkit.ingest.columns import DEFAULT_EVENT_COL
from funnelkit.ingest.lazy._sql import BASE, Dialect, dialect_for
from funnelkit.ingest.lazy.rfm_lazy import Prepared, prepare
from funnelkit.ingest.source import as_source, is_lazy_source
from funnelkit.units import TimeUnitLike

__all__ = ["rfm_frame"]


def rfm_frame(
    source: Any,
    *,
    customer_col: str = "customer_id",
    time_col: str = "timestamp",
    value_col: str | None = None,
    event_col: str | None = DEFAULT_EVENT_COL,
    purchase_events: Sequence[str] | None = None,
    time_unit: TimeUnitLike | None = None,
    observation_end: Any = None,
    calibration_end: Any = None,
    allow_negative_values: bool = False,
) -> Any:
    """Per-customer RFM as a lazy frame of the source's engine (nothing is collected).

    Parameters are those of :meth:`funnelkit.RFM.from_events`. The validation query runs
    now; the aggregation runs when the result is used. Rows are the customers with a purchase
    in the window, in no particular order; values equal ``RFM.from_events`` exactly.

    Returns
    -------
    DuckDB relation, Polars LazyFrame or PySpark DataFrame
        Columns ``customer_id, frequency, recency, T`` (doubles, in ``time_unit``), plus
        ``monetary_value`` with a value column and ``holdout_frequency``,
        ``holdout_monetary_value``, ``holdout_duration`` with a ``calibration_end``.

    Examples
    --------
    >>> import duckdb
    >>> events = duckdb.sql(
    ...     "SELECT * FROM (VALUES ('a', DATE '2024-01-01', 10.0), "
    ...     "('a', DATE '2024-01-08', 20.0), ('b', DATE '2024-01-03', 5.0)) "
    ...     "AS t(customer_id, timestamp, value)")
    >>> rfm_frame(events, value_col="value").order("customer_id").fetchall()
    [('a', 1.0, 7.0, 7.0, 20.0), ('b', 0.0, 0.0, 5.0, 0.0)]
    """
    if not is_lazy_source(source):
        raise FunnelkitError(
            f"rfm_frame keeps the summary in a lazy engine; {type(source).__name__} is in "
            "memory already: use RFM.from_events(...).to_frame() instead."
        )
    prepared = prepare(
        as_source(source),
        customer_col=customer_col,
        time_col=time_col,
        value_col=value_col,
        event_col=event_col,
        purchase_events=purchase_events,
        time_unit=time_unit or "D",
        observation_end=observation_end,
        calibration_end=calibration_end,
        allow_negative_values=allow_negative_values,
    )
    if prepared.engine == "polars":
        return _finish_polars(prepared)
    d = dialect_for(prepared.engine)
    return d.run(prepared.query, _finish_sql(d, prepared))


def _finish_sql(d: Dialect, p: Prepared) -> str:
    """The customers with a purchase, with the aggregation's RFM fields (see .rfm_sql)."""
    parts = ["fk_c AS customer_id", "frequency", "recency", d.quote("T")]
    if p.plan.has_value:
        parts.append("monetary_value")
    if p.plan.has_holdout:
        parts.append("holdout_frequency")
        if p.plan.has_value:
            parts.append("holdout_monetary_value")
        parts.append(f"CAST({p.end_period - p.summary_end} AS DOUBLE) AS holdout_duration")
    return f"SELECT {', '.join(parts)} FROM {d.table(BASE)} WHERE nper > 0"


def _finish_polars(p: Prepared) -> Any:
    pl = import_optional("polars", purpose="Aggregating a Polars LazyFrame")
    names = ["frequency", "recency", "T"]
    if p.plan.has_value:
        names.append("monetary_value")
    if p.plan.has_holdout:
        names.append("holdout_frequency")
        if p.plan.has_value:
            names.append("holdout_monetary_value")
    exprs = [pl.col("fk_c").alias("customer_id"), *(pl.col(n) for n in names)]
    if p.plan.has_holdout:
        exprs.append(pl.lit(float(p.end_period - p.summary_end)).alias("holdout_duration"))
    return p.query.filter(pl.col("nper") > 0).select(exprs)
