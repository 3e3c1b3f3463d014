"""Journeys: when each customer first reached each stage of a funnel, with censoring."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from funnelkit._frames import Backend, frame_from_columns
from funnelkit._results import html_table
from funnelkit.exceptions import FunnelkitError
from funnelkit.units import TimeUnit, TimeUnitLike, epoch_offsets_to_datetime

if TYPE_CHECKING:
    from funnelkit.events import EventLog
    from funnelkit.stages import Funnel

__all__ = ["MISSING_LABEL", "Journeys", "attribute_segments", "build_journeys"]

#: Label of the segment of customers whose attribute is missing, whatever the frame library.
MISSING_LABEL = "(missing)"
_NONE = np.asarray(None, dtype=object)


class Journeys:
    """Per-customer stage entry times (customers × stages) plus the censoring time.

    ``entry_times[i, k]`` is when customer ``i`` first reached stage ``k``, as a float in
    :attr:`time_unit` (since the Unix epoch for datetime logs), NaN where not reached by
    ``censoring_times[i]``.

    Examples
    --------
    >>> from funnelkit.datasets import simulate_community
    >>> from funnelkit import EventLog, Funnel
    >>> sim = simulate_community(200, seed=1)
    >>> journeys = Funnel.community().journeys(EventLog.from_frame(sim.events,
    ...     value_col="value", attribute_cols=["channel"]))
    >>> journeys.counts()["prospect"]
    200
    """

    def __init__(
        self,
        *,
        stage_names: tuple[str, ...],
        entry_times: np.ndarray,
        customer_ids: np.ndarray,
        censoring_times: np.ndarray,
        time_unit: TimeUnitLike,
        attributes: dict[str, np.ndarray] | None = None,
        is_datetime: bool = False,
        n_events_after_end: int = 0,
        notes: tuple[str, ...] = (),
    ) -> None:
        self.stage_names = tuple(stage_names)
        self.entry_times = entry_times
        self.customer_ids = customer_ids
        self.censoring_times = censoring_times
        self.time_unit = TimeUnit.parse(time_unit)
        self.attributes = dict(attributes or {})
        #: times are offsets from the Unix epoch and can be shown as timestamps
        self.is_datetime = is_datetime
        #: events after the observation end, ignored when building the journeys
        self.n_events_after_end = int(n_events_after_end)
        self.notes = tuple(notes)
        entry_times.setflags(write=False)
        censoring_times.setflags(write=False)

    def __len__(self) -> int:
        return int(self.entry_times.shape[0])

    @property
    def observation_end(self) -> float:
        """The latest censoring time (all customers share it for journeys built from a log)."""
        return float(self.censoring_times.max())

    def stage_index(self, stage: str) -> int:
        if stage not in self.stage_names:
            raise FunnelkitError(f"No stage named {stage!r}; stages are {list(self.stage_names)}.")
        return self.stage_names.index(stage)

    def reached(self, stage: str) -> np.ndarray:
        """Boolean mask of the customers who reached ``stage``."""
        return ~np.isnan(self.entry_times[:, self.stage_index(stage)])

    def counts(self) -> dict[str, int]:
        """Stage name → number of customers who reached it."""
        reached = ~np.isnan(self.entry_times)
        return {name: int(reached[:, k].sum()) for k, name in enumerate(self.stage_names)}

    def current_stage(self) -> tuple[np.ndarray, np.ndarray]:
        """Per customer, the furthest stage reached and the time spent in it so far.

        Returns ``(stage, time_in_stage)``: the stage's index in :attr:`stage_names` (-1 for a
        customer who reached none) and the time from entering it to the censoring time (NaN
        for -1), in :attr:`time_unit`.
        """
        reached = ~np.isnan(self.entry_times)
        n_stages = reached.shape[1]
        stage = n_stages - 1 - np.argmax(reached[:, ::-1], axis=1)
        stage = np.where(reached.any(axis=1), stage, -1)
        rows = np.flatnonzero(stage >= 0)
        time_in = np.full(stage.shape, np.nan)
        time_in[rows] = self.censoring_times[rows] - self.entry_times[rows, stage[rows]]
        return stage, time_in

    def transition(self, source: str, target: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Survival data for ``source → target`` among customers who entered ``source``.

        Returns ``(index, duration, converted)``: customer positions, time from entering
        ``source`` to entering ``target`` (or to censoring), and whether ``target`` was reached.
        A target reached *before* the source (possible with ``order="any"``) counts as a
        conversion at duration 0.
        """
        i, j = self.stage_index(source), self.stage_index(target)
        entered = ~np.isnan(self.entry_times[:, i])
        index = np.flatnonzero(entered)
        start = self.entry_times[index, i]
        stop = self.entry_times[index, j]
        converted = ~np.isnan(stop)
        duration = np.where(
            converted, np.maximum(stop - start, 0.0), self.censoring_times[index] - start
        )
        return index, duration, converted

    def to_frame(self, backend: Backend = "pandas") -> Any:
        """One row per customer: id, attributes, the entry time of each stage, observation end.

        Entry times are real timestamps for datetime logs (missing where not reached).
        """
        columns: dict[str, np.ndarray] = {"customer_id": self.customer_ids}
        columns.update(self.attributes)
        for k, name in enumerate(self.stage_names):
            columns[name] = self._as_time(self.entry_times[:, k])
        columns["observation_end"] = self._as_time(self.censoring_times)
        return frame_from_columns(columns, backend)

    def _as_time(self, values: np.ndarray) -> np.ndarray:
        return epoch_offsets_to_datetime(values, self.time_unit) if self.is_datetime else values

    def __repr__(self) -> str:
        counts = ", ".join(f"{k}={v}" for k, v in self.counts().items())
        return f"<Journeys: {len(self)} customers; reached {counts}>"

    def _repr_html_(self) -> str:
        return html_table(self.counts(), caption=f"Journeys: {len(self)} customers")


def attribute_segments(values: np.ndarray) -> tuple[np.ndarray, tuple[str, ...]]:
    """Segment code (0..k-1) of each value and the segment labels, sorted, missing last.

    NaN and None are one segment labelled :data:`MISSING_LABEL` (pandas says NaN where polars
    and pyarrow say None), so a segmented fit gives the same labels from every library.
    An attribute has few distinct values among many customers: where equal values are
    exactly those with equal labels (strings, missing values, integers), only the distinct
    values are turned into labels, found by hashing (strings) or an integer sort.
    """
    values = np.asarray(values)
    if values.dtype.kind in "biuU":
        distinct, position = np.unique(values, return_inverse=True)
    elif values.dtype.kind == "O":
        items = values.tolist()
        seen = list(dict.fromkeys(items))
        if not all(isinstance(v, str) or v is None or _is_nan(v) for v in seen):
            return _labelled_segments(values)
        where = {v: i for i, v in enumerate(seen)}
        position = np.fromiter(map(where.__getitem__, items), dtype=np.int64, count=len(items))
        distinct = np.empty(len(seen), dtype=object)
        distinct[:] = seen
    else:
        return _labelled_segments(values)
    codes, labels = _labelled_segments(distinct)
    return codes[position.reshape(-1)], labels


def _is_nan(value: object) -> bool:
    return isinstance(value, float) and value != value


def _labelled_segments(values: np.ndarray) -> tuple[np.ndarray, tuple[str, ...]]:
    """:func:`attribute_segments` by turning every value into its label."""
    if values.dtype.kind in "fc":
        missing = np.isnan(values)
    elif values.dtype.kind == "O":
        # NaN is the one value unequal to itself; both comparisons run elementwise in C.
        missing = np.asarray(values != values, dtype=bool) | np.equal(values, _NONE)
    else:
        missing = np.zeros(values.shape, dtype=bool)
    labels = values.astype(str)
    uniq, codes = np.unique(labels[~missing], return_inverse=True)
    names = [str(u) for u in uniq]
    out = np.full(values.shape, len(names), dtype=np.int64)
    out[~missing] = codes.reshape(-1)
    if missing.any():
        names.append(MISSING_LABEL)
    return out, tuple(names)


def build_journeys(
    log: EventLog, funnel: Funnel, *, observation_end: Any, time_unit: TimeUnitLike | None
) -> Journeys:
    """Former name of :meth:`funnelkit.Funnel.journeys` for an EventLog (kept as an alias)."""
    from funnelkit.ingest.summaries import journey_fields

    fields = journey_fields(funnel, log, observation_end=observation_end, time_unit=time_unit)
    return Journeys(**fields)
