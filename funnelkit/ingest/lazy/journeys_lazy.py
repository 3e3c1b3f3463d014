"""Journeys (first entry into each stage) computed where the events live.

Same rules as :func:`funnelkit.journeys.build_journeys`: a customer enters a stage at their
``min_count``-th qualifying event; in ``ordered`` funnels only events at or after the previous
stage's entry count; in ``any`` funnels reaching a later stage implies the earlier ones.
Attributes come from each customer's first event.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import narwhals as nw
import numpy as np

from funnelkit.exceptions import DataError, SpecError
from funnelkit.ingest.columns import PURCHASE, ColumnSpec
from funnelkit.ingest.lazy._common import (
    arrow_columns,
    base_projection,
    collect_arrow,
    lazy_columns,
    time_axis,
    valid,
)
from funnelkit.ingest.lazy._plans import JourneysPlan, StagePlan
from funnelkit.ingest.lazy._sql import dialect_for
from funnelkit.ingest.lazy.checks import count_true, run_checks
from funnelkit.ingest.lazy.journeys_polars import journeys_polars
from funnelkit.ingest.lazy.journeys_sql import journeys_sql
from funnelkit.ingest.source import Source
from funnelkit.ingest.time_axis import TimeAxis
from funnelkit.units import TimeUnitLike

if TYPE_CHECKING:
    from funnelkit.stages import Funnel

__all__ = ["journey_lazy_columns"]


def journey_lazy_columns(
    funnel: Funnel,
    src: Source,
    *,
    observation_end: Any,
    time_unit: TimeUnitLike,
    customer_col: str,
    time_col: str,
    event_col: str | None,
    attribute_cols: Sequence[str],
) -> dict[str, Any]:
    """The keyword arguments of :class:`funnelkit.Journeys`, aggregated in ``src``'s engine.

    Options are those of :func:`funnelkit.ingest.summaries.journeys_from_events`;
    ``time_unit`` is the unit of the entry times and of numeric time columns.
    Optional stages, conversion windows, exclusions and strict order are built in memory
    only (they need each customer's events in order, which one group-by per stage cannot
    express).
    """
    if not funnel.is_plain:
        raise SpecError(
            "This funnel has optional stages, conversion windows, exclusions or strict order, "
            f"which the {src.engine} engine "
            "cannot build where the data live. Load the events into memory first, e.g. "
            "EventLog.from_frame(relation.df()) or a pandas/polars frame, and build the "
            "journeys from that."
        )
    cols = lazy_columns(
        src,
        customer_col=customer_col,
        time_col=time_col,
        event_col=event_col,
        value_col=None,
        attribute_cols=attribute_cols,
    )
    axis = time_axis(cols, time_unit)
    end_given = (
        None if observation_end is None else axis.raw(observation_end, name="observation_end")
    )
    stages = tuple(_stage_plan(cols, s.events, s.min_count) for s in funnel.stages)

    base = base_projection(src, cols, None)
    base_nw = nw.from_native(base)
    extra: dict[str, nw.Expr] = {}
    for k, stage in enumerate(stages):
        if stage.events:
            extra[f"stage{k}"] = count_true(nw.col("fk_e").is_in(list(stage.events)))
    if end_given is not None:
        extra["after_end"] = count_true(nw.col("fk_k") > axis.ticks_from_raw(end_given))
    counts = run_checks(base_nw, cols, allow_negative_values=True, extra=extra)

    end_raw = axis.raw_from_ticks(counts["k_max"]) if end_given is None else end_given
    if end_raw < axis.raw_from_ticks(counts["k_min"]):
        raise DataError("observation_end is before the first event of the log.")
    notes = tuple(
        f"stage {s.name!r}: none of its events {list(s.events)} occurs in the log, so nobody "
        "reaches it"
        for k, (s, plan) in enumerate(zip(funnel.stages, stages, strict=True))
        if plan.events == () or (plan.events and counts[f"stage{k}"] == 0)
    )
    plan = JourneysPlan(
        stages=stages,
        ordered=funnel.order == "ordered",
        n_attributes=len(cols.attributes),
        end_tick=None if end_given is None else axis.ticks_from_raw(end_given),
    )
    if src.engine == "polars":
        query = journeys_polars(base, plan)
    else:
        d = dialect_for(src.engine)
        query = d.run(base, journeys_sql(d, plan))
    table = arrow_columns(collect_arrow(src.engine, query), sort_by="fk_c")
    return _assemble(table, funnel, cols, axis, end_raw, counts.get("after_end", 0), notes)


def _stage_plan(cols: ColumnSpec, events: tuple[str, ...], min_count: int) -> StagePlan:
    if cols.event is None:
        # A log without event types is all purchases, as in EventLog.from_frame.
        return StagePlan(events=None if PURCHASE in events else (), min_count=min_count)
    return StagePlan(events=tuple(events), min_count=min_count)


def _assemble(
    table: dict[str, np.ndarray],
    funnel: Funnel,
    cols: ColumnSpec,
    axis: TimeAxis,
    end_raw: Any,
    n_after: int,
    notes: tuple[str, ...],
) -> dict[str, Any]:
    n_customers = table["fk_c"].shape[0]  # sorted by id when collected
    n_stage = len(funnel.stages)
    never: Any = np.iinfo(np.int64).max if axis.is_datetime else np.inf
    entries = np.full((n_customers, n_stage), never, dtype=np.int64 if axis.is_datetime else float)
    for k in range(n_stage):
        ticks = table[f"s{k}"]
        hit = valid(ticks)
        entries[hit, k] = axis.raw_array(np.ma.getdata(ticks)[hit])
    reached = entries != never
    if funnel.order == "any":
        # Reaching a later stage implies the earlier ones, entered at the latest then.
        flipped = np.where(reached, entries, never)[:, ::-1]
        entries = np.minimum.accumulate(flipped, axis=1)[:, ::-1]
        reached = entries != never
    times = np.where(reached, axis.to_unit(np.where(reached, entries, 0)), np.nan)
    end = float(axis.to_unit(np.asarray([end_raw]))[0])
    attributes = {a: table[f"fk_a{i}"] for i, a in enumerate(cols.attributes)}
    return dict(
        stage_names=funnel.stage_names,
        entry_times=times,
        customer_ids=table["fk_c"],
        censoring_times=np.full(n_customers, end),
        time_unit=axis.unit,
        attributes=attributes,
        is_datetime=axis.is_datetime,
        n_events_after_end=int(n_after),
        notes=notes,
    )
