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
``event_arrays``
    :class:`EventArrays`: the sorted in-memory arrays the numpy engine builds and summarises
    (:class:`funnelkit.EventLog` is built on it).
``numpy_engine``
    The in-memory engine: an eager frame into those arrays (factorised ids, times, event
    codes, values, sort order).
``text_codes``
    Codes of text columns into their sorted distinct strings (Arrow dictionaries, or short
    ids packed into integers).
``sorting``
    The one sort of the events by ``(customer, time)``, and the gathers by it.
``numpy_summaries``
    RFM and journeys of those arrays.
``lazy``
    The DuckDB, Polars and Spark engines: the same summaries as SQL or Polars plans, run
    where the data live.
``summaries``
    The one door per summary, :func:`~funnelkit.ingest.summaries.rfm_fields` and
    :func:`~funnelkit.ingest.summaries.journey_fields`, which pick the engine.

The core types (EventLog, RFM, Journeys, Funnel) import the leaf modules above and call the
doors; nothing in this package imports the core types, so there is no import circle. The doors
return the fields of RFM and Journeys, which those types wrap.
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
