"""The data-entry boundary: every way events come in, classified once and read once.

Layout
------
``source``
    :func:`as_source` classifies any input (eager frame, lazy relation, file path or glob,
    Spark DataFrame) into one :class:`Source` naming the engine that handles it.
``columns``
    :class:`ColumnSpec` and :func:`resolve_columns`: the one column specification and its one
    auto-detection rule (``event_col="event"`` only when that column exists).
``time_axis``
    :class:`TimeAxis`: datetime or numeric raw times, their unit, calendar periods, stamps.
``files``
    :func:`read_events`: the one reader of CSV and Parquet files.
``numpy_engine``
    The in-memory engine: an eager frame into the sorted arrays of an EventLog.
``numpy_summaries``
    RFM and journeys of an EventLog (the DuckDB, Polars and Spark plans are in
    :mod:`funnelkit.aggregate`).
``summaries``
    The one door per summary, :func:`~funnelkit.ingest.summaries.rfm_from_events` and
    :func:`~funnelkit.ingest.summaries.journeys_from_events`, which pick the engine.

The core types (EventLog, RFM, Journeys) import only the leaf modules above, never the
engines; the engines import only :mod:`funnelkit.ingest`, never the core types. This package
therefore exports the leaf modules' names only: the doors live in ``summaries``, which builds
the core types.
"""

from __future__ import annotations

from funnelkit.ingest.columns import DEFAULT_EVENT_COL, ColumnSpec, resolve_columns
from funnelkit.ingest.files import UnreadableFileError, file_format, read_events
from funnelkit.ingest.source import Source, as_source, is_lazy_source, read_parquet
from funnelkit.ingest.time_axis import TimeAxis

__all__ = [
    "DEFAULT_EVENT_COL",
    "ColumnSpec",
    "Source",
    "TimeAxis",
    "UnreadableFileError",
    "as_source",
    "file_format",
    "is_lazy_source",
    "read_events",
    "read_parquet",
    "resolve_columns",
]
