"""The in-memory form of events that the numpy engine builds and summarises.

:class:`EventArrays` holds the columnar arrays sorted by ``(customer, time)`` and the views
the RFM and journeys kernels need; :class:`funnelkit.EventLog` is the public type built on it
(with its readers and summaries), so the engine never imports the public types.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from funnelkit.ingest.time_axis import TimeAxis
from funnelkit.units import TimeUnit, TimeUnitLike

__all__ = ["EventArrays", "IngestReport"]


@dataclass(frozen=True)
class IngestReport:
    """What ingestion did to the rows: nothing is dropped silently."""

    n_rows: int
    n_customers: int
    n_event_types: int
    notes: tuple[str, ...] = field(default=())


class EventArrays:
    """Customer events as columnar numpy arrays, sorted by ``(customer, time)``.

    See :class:`funnelkit.EventLog` for the attributes. ``last_time`` is given when the
    arrays hold only some of the events read (the purchases the RFM door keeps): it is the
    latest time of all of them, which :attr:`last_time` answers.
    """

    def __init__(
        self,
        *,
        customer_ids: np.ndarray,
        customer_codes: np.ndarray,
        raw_times: np.ndarray,
        is_datetime: bool,
        event_types: Sequence[str],
        event_codes: np.ndarray,
        values: np.ndarray | None = None,
        attributes: dict[str, np.ndarray] | None = None,
        time_unit: TimeUnitLike = "D",
        report: IngestReport | None = None,
        last_time: Any = None,
    ) -> None:
        self.customer_ids = customer_ids
        self.customer_codes = customer_codes
        #: int64 ns since the Unix epoch (wall-clock time) for datetime logs, float otherwise
        self.raw_times = raw_times
        self.is_datetime = is_datetime
        self.event_types = tuple(event_types)
        self.event_codes = event_codes
        self.values = values
        self.attributes = dict(attributes or {})
        self.time_unit = TimeUnit.parse(time_unit)
        #: raw times <-> units, calendar periods (shared with the lazy engines)
        self.time_axis = TimeAxis(bool(is_datetime), self.time_unit)
        self.report = report or IngestReport(
            len(customer_codes), len(customer_ids), len(self.event_types)
        )
        starts = np.flatnonzero(customer_codes[1:] != customer_codes[:-1]) + 1
        starts = np.concatenate([np.zeros(min(1, customer_codes.size), dtype=np.int64), starts])
        #: index of each customer's first event (events are sorted by customer, then time)
        self.customer_starts = starts
        # Given when the arrays hold only some events (the purchases of an RFM summary):
        # the end of observation is still the last event of all.
        self._last_time = last_time

    # ------------------------------------------------------------------ views
    def __len__(self) -> int:
        return int(self.customer_codes.shape[0])

    @property
    def n_customers(self) -> int:
        return int(self.customer_ids.shape[0])

    @property
    def times(self) -> np.ndarray:
        """Event times as floats in :attr:`time_unit` (since the Unix epoch for datetime logs)."""
        return self.to_unit(self.raw_times, self.time_unit)

    def to_unit(self, raw: Any, unit: TimeUnitLike) -> Any:
        """Convert raw times (ns for datetime logs, numbers otherwise) to floats in ``unit``."""
        return self.time_axis.to_unit(raw, unit)

    def raw_time(self, value: Any, *, name: str = "time") -> Any:
        """A user-supplied time (timestamp, or number for numeric logs) in raw units.

        ``name`` is the argument the time was given as (``observation_end``...), for errors.
        """
        return self.time_axis.raw(value, name=name)

    def raw_to_timestamp(self, raw: Any) -> Any:
        """Raw times back to ``datetime64[ns]`` (datetime logs) or unchanged numbers."""
        return self.time_axis.to_timestamp(raw)

    @property
    def last_time(self) -> Any:
        """Latest raw event time in the log."""
        return self.raw_times.max() if self._last_time is None else self._last_time

    def period_index(self, raw: Any, unit: TimeUnitLike) -> np.ndarray:
        """Index of the calendar period (hour, day, Monday-start week, month, year) of raw times.

        For numeric logs, periods are consecutive intervals of length one ``unit``.
        """
        return self.time_axis.period_index(raw, unit)

    def event_mask(self, names: Sequence[str]) -> np.ndarray:
        """Boolean mask of the events whose type is in ``names``."""
        wanted = [i for i, e in enumerate(self.event_types) if e in set(names)]
        if len(wanted) == 1:
            return self.event_codes == wanted[0]
        return np.isin(self.event_codes, wanted)

    def customer_attributes(self) -> dict[str, np.ndarray]:
        """Per-customer attributes, taken from each customer's first event."""
        return {k: v[self.customer_starts] for k, v in self.attributes.items()}
