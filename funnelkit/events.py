"""EventLog: the one canonical in-memory form of customer event data.

Any supported input (pandas, polars, pyarrow, DuckDB, CSV, Parquet) is converted once into
columnar numpy arrays sorted by ``(customer, time)``; nothing downstream knows which dataframe
library the user had. The conversion itself is the numpy engine of :mod:`funnelkit.ingest`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from funnelkit.ingest.columns import DEFAULT_EVENT_COL, PURCHASE
from funnelkit.ingest.event_arrays import EventArrays, IngestReport
from funnelkit.ingest.files import FileFormat, read_events, release_arrow_memory
from funnelkit.ingest.numpy_engine import ingest_frame
from funnelkit.units import TimeUnitLike

if TYPE_CHECKING:
    from funnelkit.rfm import RFM

__all__ = ["PURCHASE", "EventLog", "IngestReport"]


class EventLog(EventArrays):
    """Customer events as columnar numpy arrays, sorted by ``(customer, time)``.

    Attributes
    ----------
    customer_ids : ndarray
        The original customer ids, one per customer, in code order.
    customer_codes : ndarray of int64
        Per event, the index of its customer in ``customer_ids``.
    event_types : tuple of str
        Distinct event names; ``event_codes`` index into it.
    values : ndarray of float or None
        Per-event monetary value (NaN where the source had none).
    attributes : dict of str to ndarray
        Per-event extra columns (e.g. acquisition channel).
    time_unit : TimeUnit
        Unit of :attr:`times` (and of the raw numbers, for numeric logs).
    time_axis : funnelkit.ingest.TimeAxis
        Raw times <-> units and calendar periods, shared with the lazy engines.

    Examples
    --------
    >>> import pandas as pd
    >>> frame = pd.DataFrame({
    ...     "customer_id": ["a", "a", "b"],
    ...     "timestamp": pd.to_datetime(["2024-01-01", "2024-01-05", "2024-01-02"]),
    ...     "event": ["visit", "purchase", "visit"]})
    >>> log = EventLog.from_frame(frame)
    >>> len(log), log.n_customers, log.event_types
    (3, 2, ('purchase', 'visit'))
    """

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_frame(
        cls,
        frame: Any,
        *,
        customer_col: str = "customer_id",
        time_col: str = "timestamp",
        event_col: str | None = DEFAULT_EVENT_COL,
        value_col: str | None = None,
        attribute_cols: Sequence[str] = (),
        time_unit: TimeUnitLike = "D",
        time_format: str | None = None,
        allow_negative_values: bool = False,
    ) -> EventLog:
        """Ingest events from a pandas, polars, pyarrow or DuckDB frame, or numpy arrays.

        Parameters
        ----------
        frame
            Any frame narwhals understands (a DuckDB relation is collected; a PySpark
            DataFrame is refused, use the aggregation path instead), or a mapping of column
            names to 1-D numpy arrays of one length, which needs no frame library.
        customer_col, time_col
            Customer id and event time columns. Times may be datetimes, ISO strings or numbers
            (numbers are read as ``time_unit`` units).
        event_col
            Event type column. If the default ``"event"`` is absent, every row is a purchase
            (a plain transaction log); pass ``None`` to say so explicitly.
        value_col
            Monetary value per event (purchases); must be numeric and non-negative unless
            ``allow_negative_values=True`` (refunds).
        attribute_cols
            Extra columns to keep, e.g. acquisition ``channel``.
        time_unit
            Unit of :attr:`times`; for numeric time columns, the unit the numbers are in. It is
            the default unit of :meth:`rfm` and :meth:`funnelkit.Funnel.journeys`.
        time_format
            strftime format for string timestamps (default: ISO 8601, then inferred).
        """
        arrays = ingest_frame(
            frame,
            customer_col=customer_col,
            time_col=time_col,
            event_col=event_col,
            value_col=value_col,
            attribute_cols=attribute_cols,
            time_format=time_format,
            allow_negative_values=allow_negative_values,
        )
        n_types = len(arrays["event_types"])
        report = IngestReport(len(arrays["customer_codes"]), len(arrays["customer_ids"]), n_types)
        return cls(**arrays, time_unit=time_unit, report=report)

    @classmethod
    def from_csv(cls, path: str | Path, **kwargs: Any) -> EventLog:
        """Read a CSV file (with pyarrow if installed, else pandas or polars) and ingest it.

        Files go through :func:`funnelkit.ingest.files.read_events`, as in ``funnelkit report``.

        Keyword arguments are those of :meth:`from_frame`.
        """
        return cls._from_file(path, "csv", kwargs)

    @classmethod
    def from_parquet(cls, path: str | Path, **kwargs: Any) -> EventLog:
        """Read a Parquet file and ingest it. Keyword arguments are those of :meth:`from_frame`."""
        return cls._from_file(path, "parquet", kwargs)

    @classmethod
    def _from_file(cls, path: str | Path, fmt: FileFormat, kwargs: dict[str, Any]) -> EventLog:
        log = cls.from_frame(read_events(path, format=fmt), **kwargs)
        # the file's table is freed by now, and Arrow's pool would keep its pages
        release_arrow_memory(len(log))
        return log

    def rfm(
        self,
        *,
        time_unit: TimeUnitLike | None = None,
        observation_end: Any = None,
        calibration_end: Any = None,
        purchase_events: Sequence[str] | None = None,
    ) -> RFM:
        """Recency/frequency/monetary summary per purchasing customer.

        Periods are calendar periods of ``time_unit`` (hours, days, Monday-start weeks,
        calendar months, calendar years); purchases in the same period count once and their
        values are summed, exactly as lifetimes' ``summary_data_from_transaction_data``.

        Parameters
        ----------
        time_unit
            Period length for frequency, recency and T (default: the log's own
            :attr:`time_unit`, as for :meth:`funnelkit.Funnel.journeys`).
        observation_end
            End of observation (default: the last event in the log). Purchases in later
            periods are ignored.
        calibration_end
            If given, recency/frequency/T describe purchases up to this time and the holdout
            columns describe purchases after it up to ``observation_end`` (as lifetimes'
            ``calibration_and_holdout_data``).
        purchase_events
            Event types that are purchases (default ``["purchase"]``; every row for a log
            read without an event column).
        """
        from funnelkit.ingest.summaries import rfm_fields
        from funnelkit.rfm import RFM

        fields = rfm_fields(
            self,
            time_unit=time_unit,
            observation_end=observation_end,
            calibration_end=calibration_end,
            purchase_events=purchase_events,
        )
        return RFM(**fields)

    def __repr__(self) -> str:
        kind = "datetime" if self.is_datetime else f"numeric ({self.time_unit.value}s)"
        return (
            f"<EventLog: {len(self):,} events, {self.n_customers:,} customers, "
            f"{len(self.event_types)} event types, {kind} times>"
        )

    def _repr_html_(self) -> str:
        # Imported here: the HTML helpers are only needed when a notebook asks for them.
        import numpy as np

        from funnelkit._results import html_table

        counts = np.bincount(self.event_codes, minlength=len(self.event_types))
        rows: dict[str, Any] = {
            "events": f"{len(self):,}",
            "customers": f"{self.n_customers:,}",
            "event types": {
                name: f"{int(n):,}" for name, n in zip(self.event_types, counts, strict=True)
            },
        }
        if len(self):
            first, last = self.raw_times.min(), self.raw_times.max()
            if self.is_datetime:  # to the second: nanoseconds are noise to a reader
                first, last = (
                    str(
                        np.datetime_as_string(
                            np.asarray(self.raw_to_timestamp(t)).astype("datetime64[s]"), unit="s"
                        )
                    ).replace("T", " ")
                    for t in (first, last)
                )
            rows["time range"] = f"{first} to {last}"
        rows["time unit"] = self.time_unit.value
        rows["values"] = "yes" if self.values is not None else "no value column"
        rows["attributes"] = ", ".join(self.attributes) or "none"
        return html_table(rows, caption="EventLog")
