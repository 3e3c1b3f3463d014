"""Aggregation where the data lives: DuckDB, Parquet (read by DuckDB), Polars and Spark.

Everything the estimators need is a per-customer summary (RFM, first entry into each stage,
customer attributes). For event logs too large for memory, :mod:`funnelkit.aggregate` computes
that summary inside the engine that holds the events, as group-by aggregations, and brings
back only one row per customer. The results equal the in-memory path
(:class:`funnelkit.EventLog`) exactly: same customers, same periods, same values.

Most users reach it through :meth:`funnelkit.RFM.from_events` and
:meth:`funnelkit.Funnel.journeys`, which accept lazy sources directly: every door goes through
:mod:`funnelkit.ingest`, which picks the engine. :func:`rfm_frame` keeps the summary itself in
the engine (to score it there with :func:`funnelkit.spark.score`).
"""

from __future__ import annotations

from funnelkit.aggregate.rfm_frame import rfm_frame
from funnelkit.ingest.source import is_lazy_source, read_parquet
from funnelkit.rfm import RFM
from funnelkit.stages import Funnel

#: :meth:`funnelkit.RFM.from_events` under its former name (same signature, same function).
rfm_from_events = RFM.from_events
#: :meth:`funnelkit.Funnel.journeys` under its former name: ``journeys_from_events(funnel,
#: source, ...)`` is ``funnel.journeys(source, ...)``.
journeys_from_events = Funnel.journeys

__all__ = [
    "is_lazy_source",
    "journeys_from_events",
    "read_parquet",
    "rfm_frame",
    "rfm_from_events",
]
