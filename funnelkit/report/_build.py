"""Assemble a LifecycleReport from an event log: each step timed and reported to ``progress``."""

from __future__ import annotations

import itertools
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from funnelkit._version import __version__
from funnelkit.clv.diagnostics import frequency_histogram
from funnelkit.conversion import ConversionFitter, ConversionRow, ConversionSummary
from funnelkit.conversion.results import TransitionEstimate
from funnelkit.events import EventLog
from funnelkit.exceptions import FunnelkitError
from funnelkit.lifecycle import (
    AdvanceValue,
    LifecycleModel,
    MembershipUplift,
    SegmentValues,
    StageValues,
)
from funnelkit.lifecycle._bootstrap import FIT_FAILURES, failure_reason, worker_count
from funnelkit.lifecycle._data import CustomerTable
from funnelkit.lifecycle._measured import Measured, measure
from funnelkit.report._sections import Meanwhile, Sections, take_first
from funnelkit.report.report import (
    ClvCheck,
    ConversionCurve,
    DataSummary,
    LifecycleReport,
    Progress,
    ReportSettings,
    StepTimer,
    ValueHistogram,
    thin_curve,
)
from funnelkit.stages import Funnel
from funnelkit.units import TimeUnit, epoch_offsets_to_datetime

__all__ = ["build_report", "missing_stage_events", "stage_reach"]

#: The sections that need the purchase model: without it they say why they are empty.
VALUE_SECTIONS = ("stage-values", "clv", "channels", "uplift")


def missing_stage_events(log: EventLog, funnel: Funnel) -> str | None:
    """A sentence naming the funnel stages none of whose events occur in ``log``, or None.

    Such stages stay empty: nothing is measured about them, but purchases, the purchase and
    spend models and the value of a new buyer still are.
    """
    present = set(log.event_types)
    missing = [s for s in funnel.stages if not present.intersection(s.events)]
    if not missing:
        return None
    stages = ", ".join(f"{s.name} ({', '.join(map(repr, s.events))})" for s in missing)
    return (
        f"the log has no events of the funnel stage(s) {stages}; its event types are "
        f"{list(log.event_types)}. Those stages stay empty: only what the purchases tell "
        "(purchase and spend models, value of a new buyer) is measured. Rename the events, "
        "or pass a funnel whose stages use the log's event names (--funnel FILE on the "
        "command line)"
    )


def build_report(
    log: EventLog,
    funnel: Funnel | None,
    *,
    observation_end: Any,
    by: str | None,
    progress: bool | Progress | None,
    settings: dict[str, Any],
    economics: tuple[Any, float] | None = None,
    currency: str | None = None,
) -> LifecycleReport:
    if not isinstance(log, EventLog):
        raise FunnelkitError(
            f"report takes an EventLog, got {type(log).__name__}; build one with "
            "EventLog.from_frame(frame, ...), EventLog.from_csv or EventLog.from_parquet."
        )
    funnel = funnel if funnel is not None else Funnel.community()
    # the value steps, the trends, the join and covariate comparisons, (with costs) economics;
    # True/False/None switch the model's bootstrap bar (see LifecycleModel), the steps are
    # reported to a callable only
    timer = StepTimer(progress if callable(progress) else None, total=9 + (economics is not None))
    sections = Sections(timer)
    model = LifecycleModel(**settings, progress=progress)
    _decide_workers(model, log.n_customers)
    quality: list[str] = list(log.report.notes)
    missing = missing_stage_events(log, funnel)
    if missing is not None:
        quality.append(missing)

    def lifecycle() -> tuple[LifecycleModel | None, Measured]:
        try:
            fitted = model.fit(log, funnel, observation_end=observation_end)
        except FIT_FAILURES as exc:
            # The values need a purchase model; the funnel, the conversion and the time to
            # first purchase do not, and are still reported.
            why = failure_reason(exc)
            sections.unavailable.update(dict.fromkeys(VALUE_SECTIONS, why))
            return None, measure(model, log, funnel, observation_end)
        measured = Measured(
            fitted.customers(), fitted.first_purchase_, fitted.time_unit_, fitted.notes_
        )
        return fitted, measured

    fitted, measured = timer.run("lifecycle model", lifecycle)
    table = measured.table
    journeys = table.journeys
    level = float(model.conf_level)

    def conversion() -> tuple[
        ConversionSummary,
        tuple[ConversionCurve, ...],
        list[str],
        dict[tuple[str, str], TransitionEstimate],
    ]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            fitter = ConversionFitter(conf_level=level).fit(journeys)
        pooled = {(s, t): fitter.estimate(s, t) for s, t in fitter.transitions_}
        curves = tuple(_curve(e) for e in pooled.values() if e.n_entered > 0)
        notes = [f"{e.label}: {note}" for e in fitter.estimates_.values() for note in e.notes]
        return fitter.conversion_summary(segments=False), curves, notes, pooled

    from funnelkit.report.trends import trends_of

    later = Meanwhile(timer)
    later.add("conversion", "stage conversion", conversion, default=(None, (), [], {}))
    # the cohorts keep the delay families the stage conversion chose on all entrants
    later.add(
        "trends",
        "funnel trends",
        lambda: trends_of(journeys, level, later.results["conversion"][3]),
        default=(),
    )
    # With a channel table they need the journeys only, and are computed while its samples
    # are fitted (the fits of the pooled transitions are kept for whichever asks second: see
    # conversion.estimate.supported_fits); else here.
    beside = fitted is not None and by is not None and by in table.attributes
    measured_first = None if beside else take_first(later, sections, first=False)
    notes_at = len(quality)  # where the conversion notes go
    first = measured.first_purchase
    first_summary = None
    if first:
        first_summary = ConversionSummary(
            rows=tuple(ConversionRow.from_estimate(e) for e in first.values()),
            conf_level=level,
            time_unit=measured.time_unit,
        )
    if by is not None and by not in table.attributes:
        if by != "channel":
            raise FunnelkitError(
                f"by={by!r} is not an attribute of the log; attributes: {list(table.attributes)}. "
                "Read the log with attribute_cols=[...] or pass by=None."
            )
        quality.append(
            "the log has no 'channel' attribute (read it with attribute_cols=['channel']): "
            "the channel table is left out"
        )
        by = None
    if by is None:
        sections.unavailable.pop("channels", None)
    if len(table.group_names) != 2:
        sections.unavailable.pop("uplift", None)
        quality.append("members and non-members could not be told apart: no membership uplift")
    values = _Values()
    if fitted is not None:
        if len(table.group_names) == 2:
            _add_uplifts(later, fitted, table, by)
        if by is not None and len(table.group_names) == 2:
            covariate_by, cov_model = by, fitted
            later.add(
                "covariates",
                "channel and membership, adjusted",
                lambda: cov_model.covariate_comparison(covariate_by),
            )
        if beside and worker_count(model.n_jobs, model.n_resamples, table.n_customers) > 1:
            # the channel table's samples keep its workers busy for a few seconds only
            later.fork(("uplift", "covariates"))
        values = _values(fitted, sections, by, later)
    if measured_first is None:
        measured_first = take_first(later, sections, first=True)
    (transitions, curves, conversion_notes, _), trends = measured_first
    quality[notes_at:notes_at] = conversion_notes
    join_uplift = later.take("join-uplift", sections)
    covariates = later.take("covariates", sections)
    channel_economics = None
    if economics is not None:
        from funnelkit.report.economics import economics_of

        channel_economics = economics_of(fitted, values.channels, economics, quality, timer)
    for est in first.values():
        quality += [f"{est.label}: {note}" for note in est.notes]
    quality += _data_notes(table, measured.notes)
    quality += sections.notes()
    n_buyers = int((table.group >= 0).sum())
    seed = model.seed if fitted is None else fitted.seed_
    return LifecycleReport(
        funnelkit_version=__version__,
        settings=_settings(model, by, seed, currency),
        data=_data_summary(log, funnel, table, measured.time_unit, n_buyers),
        funnel=funnel,
        stage_counts=journeys.counts(),
        transitions=transitions,
        first_purchase=first_summary,
        curves=curves,
        first_purchase_curves=tuple(_curve(e) for e in first.values() if e.n_entered > 0),
        clv=values.clv,
        value_distribution=values.histograms,
        stage_values=values.stage_values,
        advancing=values.advancing,
        channels=values.channels,
        uplift=values.uplift,
        economics=channel_economics,
        trends=trends,
        join_uplift=join_uplift,
        covariates=covariates,
        data_quality=tuple(dict.fromkeys(quality)),
        unavailable=sections.unavailable,
        seconds=timer.seconds,
    )


def _decide_workers(model: LifecycleModel, n_customers: int) -> None:
    """Resolve ``n_jobs=None`` once, for every step of the report.

    The automatic count leaves out cores busy with other work by the load average, which
    after a step with worker processes still counts this report's own workers. Settings that
    are not valid are left for the fit to refuse.
    """
    n = model.n_resamples
    valid = isinstance(n, int | np.integer) and not isinstance(n, bool) and n >= 0
    if model.n_jobs is None and valid:
        model.set_params(n_jobs=worker_count(None, int(n), n_customers))


@dataclass(frozen=True)
class _Values:
    """The sections computed from the fitted model; empty when it could not be fitted."""

    stage_values: StageValues | None = None
    advancing: tuple[AdvanceValue, ...] = ()
    channels: SegmentValues | None = None
    uplift: MembershipUplift | None = None
    histograms: tuple[ValueHistogram, ...] = ()
    clv: tuple[ClvCheck, ...] = ()


def _add_uplifts(
    later: Meanwhile, model: LifecycleModel, table: CustomerTable, by: str | None
) -> None:
    from funnelkit.lifecycle.join_uplift import membership_uplift_from_join
    from funnelkit.lifecycle.uplift import membership_uplift

    # Stratify by the attribute the reader named for the channel table, whatever it is
    # called (the model's default only knows an attribute literally named "channel").
    strata = None if by is None else (by, "cohort:month")
    # in one process each and without a bar of their own: the report forks them beside
    # the channel table's workers (see Meanwhile.fork), or runs everything in one process
    later.add("uplift", "membership uplift", lambda: membership_uplift(model.fit_, table, strata))
    later.add(
        "join-uplift",
        "membership uplift from the join",
        lambda: membership_uplift_from_join(model.fit_, table, stratified=later.results["uplift"]),
        after="uplift",
    )


def _segment_values(model: LifecycleModel, by: str, meanwhile: Meanwhile) -> SegmentValues:
    """``model.segment_values(by)``, running ``meanwhile`` while its samples are fitted."""
    from funnelkit._blas import single_threaded_blas
    from funnelkit.lifecycle.segments import segment_values

    with single_threaded_blas():
        return segment_values(
            model.fit_,
            model.customers(),
            by,
            progress=model.progress,
            n_jobs=model.n_jobs,
            meanwhile=meanwhile,
        )


def _values(model: LifecycleModel, sections: Sections, by: str | None, later: Meanwhile) -> _Values:
    table = model.customers()
    advancing = tuple(
        model.value_of_advancing(a, b) for a, b in itertools.pairwise(table.stage_names)
    )
    channels = None
    if by is not None:
        segment_by = by
        channels = sections.run(
            "channels",
            "value by segment",
            lambda: _segment_values(model, segment_by, later),
            None,
        )
    uplift = later.take("uplift", sections)
    histograms = sections.run(
        "clv",
        "customer scores",
        lambda: _histograms(model.score(), table.group_names),
        (),
    )
    clv = sections.run("clv", "lifetime-value checks", lambda: _clv_checks(model), ())
    return _Values(model.stage_values(), advancing, channels, uplift, histograms, clv)


def _curve(est: TransitionEstimate) -> ConversionCurve:
    times, rate, lower, upper = est.curve.arrays
    grid, observed, lo, hi = thin_curve(times, rate, lower, upper)
    model = None
    if est.cure_fit is not None:
        model = [float(v) for v in est.cure_fit.cdf(grid)]
    return ConversionCurve(
        source=est.source,
        target=est.target,
        time_unit=est.time_unit,
        times=[float(v) for v in grid],
        observed=[float(v) for v in observed],
        lower=[None if not np.isfinite(v) else float(v) for v in lo],
        upper=[None if not np.isfinite(v) else float(v) for v in hi],
        model=model,
        model_name=est.model,
        eventual_rate=est.eventual_rate,
    )


def _clv_checks(model: LifecycleModel) -> tuple[ClvCheck, ...]:
    table = model.customers()
    out = []
    for g, group in enumerate(model.fit_.main_components().groups):
        purchase = group.purchase
        rows = table.buyer_rows[g]
        buyers = rows.customers
        x = table.at_end.frequency[buyers]
        m = table.at_end.monetary_value[buyers]
        check = None
        if buyers.size and hasattr(purchase, "probability_of_purchases"):
            data = {
                "frequency": x,
                "recency": table.at_end.recency[buyers],
                "T": table.at_end.T[buyers],
            }
            with warnings.catch_warnings(), np.errstate(all="ignore"):
                warnings.simplefilter("ignore")
                check = frequency_histogram(purchase, data)
        repeat = (x > 0) & (m > 0)
        corr = None
        if (
            table.has_values
            and repeat.sum() > 2
            and np.std(x[repeat]) > 0
            and np.std(m[repeat]) > 0
        ):
            corr = float(np.corrcoef(x[repeat], m[repeat])[0, 1])
        out.append(
            ClvCheck(
                group=group.name,
                n_buyers=int(buyers.size),
                n_repeat_buyers=int((x > 0).sum()),
                purchase_fit=purchase.result_,
                spend_fit=None if group.spend is None else group.spend.result_,
                mean_spend=float(group.spend_mean),
                mean_first_spend=float(group.first_spend),
                frequency_check=check,
                spend_frequency_correlation=corr,
                borrowed=group.pooled,
            )
        )
    return tuple(out)


def _histograms(
    scores: dict[str, np.ndarray], groups: tuple[str, ...]
) -> tuple[ValueHistogram, ...]:
    value = scores["expected_value"]
    group = scores["group"]
    buyer = np.array([g is not None for g in group])
    values = value[buyer & np.isfinite(value)]
    if values.size == 0:
        return ()
    top = float(np.quantile(values, 0.99)) or 1.0
    edges = np.linspace(0.0, top, 31)
    out = []
    for name in groups:
        mine = value[(group == name) & np.isfinite(value)]
        counts = np.histogram(np.minimum(mine, top), bins=edges)[0]
        out.append(
            ValueHistogram(
                group=name,
                edges=[float(e) for e in edges],
                counts=[int(c) for c in counts],
                n=int(mine.size),
                mean=float(mine.mean()) if mine.size else None,
                median=float(np.median(mine)) if mine.size else None,
            )
        )
    return tuple(out)


def _stamp(log: EventLog, value: float) -> str:
    if log.is_datetime:
        return str(epoch_offsets_to_datetime([value], log.time_unit)[0].astype("datetime64[s]"))
    return f"{value:g}"


def stage_reach(log: EventLog, funnel: Funnel, end: float) -> dict[str, int]:
    """Stage → customers with ``min_count`` of its events by ``end`` (log time), in any order.

    The funnel's own counts can be smaller: an ordered funnel counts a stage's events only
    after the previous stage was reached.
    """
    before = log.times <= end
    codes = log.customer_codes[before]
    events = log.event_codes[before]
    index = {name: i for i, name in enumerate(log.event_types)}
    out = {}
    for stage in funnel.stages:
        wanted = np.array([index[e] for e in stage.events if e in index], dtype=np.int64)
        mine = codes[np.isin(events, wanted)]
        per_customer = np.bincount(mine, minlength=log.n_customers)
        out[stage.name] = int((per_customer >= stage.min_count).sum())
    return out


def _data_summary(
    log: EventLog, funnel: Funnel, table: CustomerTable, unit: TimeUnit, n_buyers: int
) -> DataSummary:
    counts = np.bincount(log.event_codes, minlength=len(log.event_types))
    times = log.times
    end = table.observation_end * unit.days / log.time_unit.days
    return DataSummary(
        n_events=len(log),
        n_customers=log.n_customers,
        n_buyers=n_buyers,
        event_counts={name: int(c) for name, c in zip(log.event_types, counts, strict=True)},
        first_event=_stamp(log, float(times.min())),
        last_event=_stamp(log, float(times.max())),
        observation_end=_stamp(log, float(end)),
        has_values=table.has_values,
        stage_reach=stage_reach(log, funnel, float(end)),
    )


def _data_notes(table: CustomerTable, model_notes: tuple[str, ...]) -> list[str]:
    notes = []
    without = int((table.group < 0).sum())
    if without:
        notes.append(
            f"{without:,} customer(s) made no purchase by the observation end: they count in "
            "the funnel and in the stage values, but the purchase and spend models learn from "
            "buyers only"
        )
    outside = int(np.isnan(table.entry[:, 0]).sum())
    if outside:
        notes.append(
            f"{outside:,} customer(s) never entered the first stage {table.stage_names[0]!r}: "
            "they are in the purchase models but in no stage value"
        )
    notes += list(model_notes)
    return notes


def _settings(
    model: LifecycleModel, by: str | None, seed: int | None, currency: str | None
) -> ReportSettings:
    pm = model.purchase_model
    return ReportSettings(
        horizon=float(model.horizon),
        time_unit=model.time_unit,
        discount_rate=float(model.discount_rate),
        period=model.period,
        purchase_model=pm if isinstance(pm, str) else type(pm).__name__,
        conversion_model=model.conversion_model,
        membership_stage=model.membership_stage,
        n_resamples=int(model.n_resamples),
        conf_level=float(model.conf_level),
        seed=seed,
        by=by,
        currency=currency,
    )
