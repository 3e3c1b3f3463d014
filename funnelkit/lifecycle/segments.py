"""Value by segment: reach, conversion, buyer value and value per prospect of each segment."""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Callable
from typing import Any

import numpy as np

from funnelkit.conversion import ConversionFitter
from funnelkit.conversion.segments import segment_codes
from funnelkit.exceptions import FunnelkitError
from funnelkit.lifecycle._bootstrap import (
    FIT_FAILURES,
    ReplicateFailures,
    estimate,
    failure_reason,
    resolve_progress,
    run_replicates,
    worker_count,
)
from funnelkit.lifecycle._components import FirstPurchaseCurve, fit_components
from funnelkit.lifecycle._data import CustomerTable
from funnelkit.lifecycle.results import SegmentValue, SegmentValues, StepConversion, ValueEstimate
from funnelkit.lifecycle.state import LifecycleFit, check_customers, refit_components
from funnelkit.lifecycle.values import buyer_curves, new_buyer_values, stage_value_array

__all__ = ["customer_segments", "segment_values"]


def customer_segments(table: CustomerTable, by: str) -> tuple[np.ndarray, tuple[str, ...]]:
    """Segment code of every customer and the segment labels (a customer attribute)."""
    if by not in table.attributes:
        names = list(table.attributes)
        close = difflib.get_close_matches(by, names, n=3, cutoff=0.5)
        hint = f" Did you mean one of these: {close}?" if close else ""
        raise FunnelkitError(
            f"by={by!r} is not a customer attribute of this log.{hint} Attributes: {names}. "
            "Keep attributes with EventLog.from_frame(..., attribute_cols=[...])."
        )
    everyone = np.arange(table.n_customers)
    codes, labels = segment_codes(table.journeys, by, everyone, table.stage_names[0])
    return np.asarray(codes), labels


def _segment_curves(
    everyone: dict[str, FirstPurchaseCurve], segment: dict[str, FirstPurchaseCurve]
) -> dict[str, FirstPurchaseCurve]:
    """Where a segment's bootstrap samples start their delay fits: the segment's own fit.

    Only a cure model of everyone's family takes over (a segment whose fit fell back to
    Kaplan-Meier still tries that family in its samples). Where the segment's fit has no
    covariance (its information is not positive definite), the one of everyone's fit
    stands in as the metric of the samples' Newton steps (its scale is calibrated on
    their first step, see :func:`funnelkit.conversion.cure_refit.refit_mixture`).
    """
    out = dict(everyone)
    for stage, curve in segment.items():
        own, full = curve.cure, everyone[stage].cure if stage in everyone else None
        if own is None or full is None or own.distribution != full.distribution:
            continue
        if own.covariance is None and full.covariance is not None:
            own = own.model_copy(update={"covariance": full.covariance})
        out[stage] = FirstPurchaseCurve(cure=own)
    return out


def segment_values(
    fit: LifecycleFit,
    customers: CustomerTable,
    by: str,
    *,
    progress: bool | Callable[[str, int, int], None] | None = None,
    n_jobs: int | None = 1,
    meanwhile: Callable[[], None] | None = None,
) -> SegmentValues:
    """Per segment of ``by``: reach, eventual conversion per step, buyer and prospect value.

    ``fit`` is the fitted state (``LifecycleModel.fit_``), ``customers`` the customer table
    to segment (``LifecycleModel.customers(log)``); ``progress`` shows the bootstrap samples
    as they finish and ``n_jobs`` spreads them over processes, as in
    :class:`~funnelkit.lifecycle.LifecycleModel` (same numbers for any ``n_jobs``).
    ``meanwhile`` is other work of the caller, independent of the segments: it runs once in
    this process while worker processes fit the bootstrap samples, and what it raises
    propagates. It is not run when the samples run in this process (or the segments fail
    before them): the caller then does it afterwards, without the segments' data in memory.

    Every component (first-purchase delays, member shares, purchase and spend models) is
    refitted on each segment's customers, keeping the delay families chosen on everyone; a
    buyer group with fewer than 20 repeat buyers in a segment, or whose purchase model cannot
    be fitted there (no convergence, overflow, non-finite predictions), borrows the model
    fitted on all customers (listed in ``pooled_models`` and stated in ``notes``; it is then
    held fixed in the bootstrap, so those intervals understate the uncertainty). A segment
    that cannot be valued at all gets values of None and a note saying why.
    ``buyer_value`` is the horizon value of a new buyer at the first purchase, for the
    segment's mix of members and non-members;
    ``value_per_prospect`` is the value of a customer who has just entered the first stage.
    Intervals: the same customer bootstrap as the stage values, per segment; a bootstrap
    sample that cannot be fitted in a segment is left out of that segment's intervals and
    counted in the notes (no intervals when more than half fail).
    """
    check_customers(fit, customers, "Value by segment")
    table = customers
    codes, labels = customer_segments(table, by)
    grid = fit.grid
    main = fit.main_components()
    level = fit.conf_level
    seeds = np.array(fit.seeds, dtype=np.int64)
    first = table.stage_names[0]
    entered = ~np.isnan(table.entry[:, 0])
    masks = [(codes == g).astype(np.int64) for g in range(len(labels))]
    # each segment's customers and their own table, built once: a refit on it touches the
    # segment's rows only, where weight 0 outside the segment made every sample select and
    # sum over all customers (the fits are the same: they drop weight-0 rows)
    members = [np.flatnonzero(mask) for mask in masks]
    subtables = [table.subset(m) for m in members]
    notes: list[str] = []

    def fit_one(g: int, weights: np.ndarray, forced: frozenset[int], point: bool) -> Any:
        sub = subtables[g]
        w = sub.weight_plan.sample(weights[members[g]])  # the fits' and values' row counts
        if point:
            # the segment's own fit keeps the curvature of its delays, purchase and spend
            # models: its bootstrap samples start there and settle by Newton steps in that
            # metric
            comps = fit_components(
                sub,
                w,
                purchase_model=fit.purchase_spec(),
                conversion_model=fit.conversion_model,
                conf_level=fit.conf_level,
                template=starts[g],
                pooled_fallback=main,
                forced_pooled=forced,
                horizon=fit.grid_horizon,
                curvature=True,
            )
        else:
            comps = refit_components(
                fit, sub, w, template=starts[g], pooled=main, forced=forced, strict=True
            )
        # the new-buyer curves serve both the stage values and the buyer values
        curves = buyer_curves(comps, grid)
        return (
            stage_value_array(sub, comps, grid, w, curves=curves),
            new_buyer_values(comps, grid, curves=curves),
            comps,
        )

    # Full-data fit per segment; a segment that cannot be valued at all is reported as such.
    point: list[Any] = []
    forced: list[frozenset[int]] = []
    # where each segment's fits start: the delay families chosen on everyone; the purchase
    # and spend parameters of everyone for the segment's own fit, then of that fit for its
    # bootstrap samples (closer to their optimum: fewer optimiser steps)
    starts = [main] * len(labels)
    ones = np.ones(table.n_customers, dtype=np.int64)
    for g, label in enumerate(labels):
        try:
            fitted = fit_one(g, ones, frozenset(), point=True)
        except FIT_FAILURES as exc:
            notes.append(f"{label}: could not be computed: {failure_reason(exc)}")
            point.append(None)
            forced.append(frozenset())
            continue
        comps = fitted[2]
        starts[g] = dataclasses.replace(
            main, groups=comps.groups, curves=_segment_curves(main.curves, comps.curves)
        )
        notes += [f"{label}: {n}" for n in comps.notes]
        point.append(fitted)
        forced.append(frozenset(i for i, gm in enumerate(comps.groups) if gm.pooled))

    # One failure class per segment and sample: a channel whose resample cannot be fitted
    # must not take the other channels' samples with it.
    failures = [ReplicateFailures(total=len(seeds)) for _ in labels]

    def fit_all(weights: np.ndarray) -> list[Any]:
        # Per segment (values, buyer values), None for a segment without a point fit, or the
        # reason the sample failed there: returned, not recorded, as samples may run in
        # other processes.
        out: list[Any] = []
        for g in range(len(labels)):
            if point[g] is None:
                out.append(None)
                continue
            try:
                out.append(fit_one(g, weights, forced[g], point=False)[:2])
            except FIT_FAILURES as exc:
                out.append(failure_reason(exc))
        return out

    # the conversion per segment does not depend on the samples: it is fitted here while
    # worker processes fit them
    converted: list[ConversionFitter] = []

    def fit_conversion() -> None:
        # the table shows each segment's conversion, not the tests of their differences
        fitter = ConversionFitter(conf_level=level)
        converted.append(fitter.fit(table.journeys, by=by, compare=False))
        if meanwhile is not None and jobs > 1:
            meanwhile()

    bar = resolve_progress(progress, n_customers=table.n_customers, n_resamples=len(seeds))
    # decided once, so the caller's work runs exactly when there are workers to run beside
    jobs = worker_count(n_jobs, len(seeds), table.n_customers)
    if len(seeds):
        for sub in subtables:
            sub.prepare_refits()
    boot, _ = run_replicates(
        seeds,
        table.n_customers,
        fit_all,
        bar,
        label=f"segments by {by}",
        n_jobs=jobs,
        meanwhile=fit_conversion,
    )
    for _, samples in boot:
        for g, sample in enumerate(samples):
            if isinstance(sample, str):
                failures[g].reasons[sample] += 1
    (conversion,) = converted
    n_first = max(int(entered.sum()), 1)
    n_groups = len(table.group_names)
    rows = []
    for g, label in enumerate(labels):
        n_seg = int((entered & masks[g].astype(bool)).sum())
        steps = []
        for source, target in conversion.transitions_:
            if label in conversion.segments_[(source, target)]:
                est = conversion.estimate(source, target, label)
                steps.append(
                    StepConversion(
                        source=source,
                        target=target,
                        naive_rate=est.naive_rate,
                        eventual_rate=est.eventual_rate,
                        eventual_rate_ci=est.eventual_rate_ci,
                    )
                )
        if point[g] is None:
            unknown = ValueEstimate(value=None)
            rows.append(
                SegmentValue(
                    segment=label,
                    n_prospects=n_seg,
                    share=n_seg / n_first,
                    conversion=tuple(steps),
                    member_share=None,
                    buyer_value=unknown,
                    value_per_prospect=unknown,
                    stage_values={name: unknown for name in table.stage_names},
                )
            )
            continue
        values, buyers, comps = point[g]
        kept = [] if failures[g].too_many else [b[g] for _, b in boot if isinstance(b[g], tuple)]
        failure_note = failures[g].note()
        if failure_note is not None:
            notes.append(f"{label}: {failure_note}")
        b_values = np.array([b[0] for b in kept]).reshape(len(kept), values.size)
        b_buyers = np.array([b[1] for b in kept]).reshape(len(kept), n_groups)
        group = table.group[masks[g].astype(bool)]
        n_by_group = np.bincount(group[group >= 0], minlength=buyers.size).astype(float)
        mix = n_by_group / max(n_by_group.sum(), 1.0)
        buyer_value = estimate(float(mix @ buyers), b_buyers @ mix, level)
        member_share = None
        if len(table.group_names) == 2 and n_by_group.sum() > 0:
            member_share = float(mix[1])
        stage_values = {
            name: estimate(float(values[k]), b_values[:, k], level)
            for k, name in enumerate(table.stage_names)
        }
        rows.append(
            SegmentValue(
                segment=label,
                n_prospects=n_seg,
                share=n_seg / n_first,
                conversion=tuple(steps),
                member_share=member_share,
                buyer_value=buyer_value,
                value_per_prospect=stage_values[first],
                stage_values=stage_values,
                pooled_models=tuple(gm.name for gm in comps.groups if gm.pooled),
            )
        )
    return SegmentValues(
        by=by,
        first_stage=first,
        rows=tuple(rows),
        notes=tuple(dict.fromkeys(notes)),
        **fit.header(),
    )
