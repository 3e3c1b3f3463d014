"""The one door per summary: RFM and journeys from any source, through the engine that holds it.

:meth:`funnelkit.RFM.from_events` (alias :func:`funnelkit.aggregate.rfm_from_events`) and
:meth:`funnelkit.EventLog.rfm` come through :func:`rfm_fields`; :meth:`funnelkit.Funnel.journeys`
(alias :func:`funnelkit.aggregate.journeys_from_events`) through :func:`journey_fields`. One
signature, one set of defaults, one choice of engine (:func:`funnelkit.ingest.as_source`), so
the same events give the same numbers whichever way they came in. The doors return the fields
of :class:`funnelkit.RFM` and :class:`funnelkit.Journeys`, which wrap them: the entry boundary
never imports the types built on it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from funnelkit.exceptions import FunnelkitError
from funnelkit.ingest.columns import DEFAULT_EVENT_COL, PURCHASE
from funnelkit.ingest.event_arrays import EventArrays
from funnelkit.ingest.lazy.journeys_lazy import journey_lazy_columns
from funnelkit.ingest.lazy.rfm_lazy import rfm_lazy_columns
from funnelkit.ingest.numpy_engine import ingest_frame
from funnelkit.ingest.numpy_summaries import journey_columns, rfm_columns
from funnelkit.ingest.source import as_source
from funnelkit.units import TimeUnitLike

if TYPE_CHECKING:
    from funnelkit.stages import Funnel

__all__ = ["journey_fields", "rfm_fields"]

#: Column arguments and their defaults, shared by every door.
_COLUMN_DEFAULTS: dict[str, Any] = {
    "customer_col": "customer_id",
    "time_col": "timestamp",
    "value_col": None,
    "event_col": DEFAULT_EVENT_COL,
    "attribute_cols": (),
    "allow_negative_values": False,
}


def rfm_fields(
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
) -> dict[str, Any]:
    """Recency/frequency/monetary summary per purchasing customer, from any event source.

    Returns the keyword arguments of :class:`funnelkit.RFM`.

    Parameters
    ----------
    source
        An :class:`~funnelkit.EventLog`; an eager frame (pandas, polars, pyarrow); the path of
        a CSV or Parquet file, a Parquet directory or glob; a DuckDB relation, a Polars
        LazyFrame or a PySpark DataFrame (aggregated where they live: only the per-customer
        summary comes back).
    customer_col, time_col, value_col, event_col
        Columns, as in :meth:`funnelkit.EventLog.from_frame`: ``event_col`` defaults to
        ``"event"`` when that column exists, otherwise (or with ``None``) every row is a
        purchase. An EventLog already knows its columns.
    purchase_events
        Event types that are purchases (default ``["purchase"]``).
    time_unit
        Period length for frequency, recency and T, and the unit of numeric time columns
        (default: the EventLog's own unit, days for raw events).
    observation_end, calibration_end
        End of observation (default: the last event) and, for a holdout split, the end of
        calibration (as lifetimes' ``calibration_and_holdout_data``).
    allow_negative_values
        Accept negative values (refunds).

    Examples
    --------
    >>> import pandas as pd
    >>> events = pd.DataFrame({"customer_id": ["a", "a", "b"],
    ...     "timestamp": pd.to_datetime(["2024-01-01", "2024-01-08", "2024-01-03"])})
    >>> rfm_fields(events)["frequency"].tolist()
    [1.0, 0.0]
    """
    columns: dict[str, Any] = {
        "customer_col": customer_col,
        "time_col": time_col,
        "value_col": value_col,
        "event_col": event_col,
        "allow_negative_values": allow_negative_values,
    }
    window: dict[str, Any] = {
        "purchase_events": purchase_events,
        "observation_end": observation_end,
        "calibration_end": calibration_end,
    }
    if isinstance(source, EventArrays):
        _refuse_columns(columns)
        log = source
    else:
        src = as_source(source)
        if src.is_lazy:
            return rfm_lazy_columns(src, time_unit=time_unit or "D", **columns, **window)
        # Only the purchases are sorted: the other events' rows are read and checked, then
        # dropped, since RFM never looks at them.
        kept = list(purchase_events) if purchase_events is not None else [PURCHASE]
        log = _in_memory(src.native, time_unit, keep_events=kept, **columns)
    return rfm_columns(log, time_unit=time_unit or log.time_unit, **window)


def journey_fields(
    funnel: Funnel,
    source: Any,
    *,
    observation_end: Any = None,
    time_unit: TimeUnitLike | None = None,
    customer_col: str = "customer_id",
    time_col: str = "timestamp",
    event_col: str | None = DEFAULT_EVENT_COL,
    attribute_cols: Sequence[str] = (),
) -> dict[str, Any]:
    """Per-customer first entry time into every stage of ``funnel``, from any event source.

    Returns the keyword arguments of :class:`funnelkit.Journeys`. ``source`` is anything
    :func:`rfm_fields` takes. ``observation_end`` is the
    censoring time (default: the last event); events after it are ignored and counted in
    ``Journeys.n_events_after_end``. ``time_unit`` is the unit of the entry times and of
    numeric time columns (default: the EventLog's own unit, days for raw events). Column
    arguments are those of :meth:`funnelkit.EventLog.from_frame`.
    """
    columns: dict[str, Any] = {
        "customer_col": customer_col,
        "time_col": time_col,
        "event_col": event_col,
        "attribute_cols": tuple(attribute_cols),
    }
    if isinstance(source, EventArrays):
        _refuse_columns(columns)
        log = source
    else:
        src = as_source(source)
        if src.is_lazy:
            unit = time_unit or "D"
            return journey_lazy_columns(
                funnel, src, observation_end=observation_end, time_unit=unit, **columns
            )
        log = _in_memory(src.native, time_unit, **columns)
    return journey_columns(log, funnel, observation_end=observation_end, time_unit=time_unit)


def _in_memory(frame: Any, time_unit: TimeUnitLike | None, **columns: Any) -> EventArrays:
    """The numpy engine's log of an eager frame, as ``EventLog.from_frame`` reads it.

    ``keep_events`` among ``columns`` keeps only those events' rows (see ``ingest_frame``).
    """
    options: dict[str, Any] = {
        "value_col": None,
        "attribute_cols": (),
        "allow_negative_values": False,
    }
    options.update(columns)
    arrays = ingest_frame(frame, time_format=None, **options)
    return EventArrays(**arrays, time_unit=time_unit or "D")


def _refuse_columns(given: dict[str, Any]) -> None:
    changed = sorted(k for k, v in given.items() if v != _COLUMN_DEFAULTS[k])
    if changed:
        raise FunnelkitError(
            f"Column arguments {changed} are for lazy sources and other raw events; an "
            "EventLog already knows its columns. Pass them to EventLog.from_frame, or pass "
            "the frame itself."
        )
