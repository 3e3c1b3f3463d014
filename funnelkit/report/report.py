"""The lifecycle report: funnel, conversion, lifetime value and stage values in one result."""

from __future__ import annotations

import difflib
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from pydantic import AliasChoices, Field

from funnelkit._results import Result
from funnelkit.clv import FitResult
from funnelkit.clv.diagnostics import FrequencyHistogram
from funnelkit.conversion import ConversionSummary
from funnelkit.conversion.trends import FunnelTrends
from funnelkit.exceptions import FunnelkitError
from funnelkit.lifecycle.covariate_results import CovariateComparison
from funnelkit.lifecycle.economics_results import ChannelEconomics
from funnelkit.lifecycle.join_uplift import JoinUplift
from funnelkit.lifecycle.results import AdvanceValue, MembershipUplift, SegmentValues, StageValues
from funnelkit.stages import Funnel
from funnelkit.units import TimeUnitField

__all__ = [
    "ClvCheck",
    "ConversionCurve",
    "DataSummary",
    "LifecycleReport",
    "ReportSettings",
    "ValueHistogram",
]

Progress = Callable[[str, int, int], None]


class ReportSettings(Result):
    """The settings the report was computed with."""

    title: ClassVar[str] = "Settings"
    horizon: float
    time_unit: TimeUnitField
    discount_rate: float
    period: TimeUnitField
    purchase_model: str
    conversion_model: str
    membership_stage: str | None
    n_resamples: int = Field(validation_alias=AliasChoices("n_resamples", "n_bootstrap"))
    conf_level: float
    #: the seed the bootstrap used: rerun with it to get this report
    seed: int | None = Field(validation_alias=AliasChoices("seed", "random_state"))
    by: str | None
    #: currency of the values (a code such as "EUR" or a symbol), shown with every amount
    currency: str | None = None

    @property
    def n_bootstrap(self) -> int:
        """Former name of ``n_resamples``."""
        return self.n_resamples

    @property
    def random_state(self) -> int | None:
        """Former name of ``seed``."""
        return self.seed


class DataSummary(Result):
    """What went in: events, customers, time span."""

    title: ClassVar[str] = "Data"
    n_events: int
    n_customers: int
    n_buyers: int
    event_counts: dict[str, int]
    first_event: str
    last_event: str
    observation_end: str
    has_values: bool
    #: stage → customers with the stage's events (``min_count`` of them) by the observation
    #: end, whatever their order: next to ``stage_counts`` it shows what the funnel's order
    #: leaves out
    stage_reach: dict[str, int] | None = None


class ConversionCurve(Result):
    """A conversion curve thinned for plotting: Kaplan-Meier with band, and the cure model."""

    title: ClassVar[str] = "Conversion curve"
    source: str
    target: str
    time_unit: TimeUnitField
    times: list[float]
    observed: list[float]
    lower: list[float | None]
    upper: list[float | None]
    model: list[float] | None
    model_name: str
    eventual_rate: float | None


class ClvCheck(Result):
    """Fit and checks of one buyer group's purchase and spend models."""

    title: ClassVar[str] = "Lifetime-value model"
    group: str
    n_buyers: int
    n_repeat_buyers: int
    purchase_fit: FitResult
    spend_fit: FitResult | None
    mean_spend: float
    mean_first_spend: float
    frequency_check: FrequencyHistogram | None
    spend_frequency_correlation: float | None
    borrowed: bool = False


class ValueHistogram(Result):
    """Distribution of the expected horizon value of current buyers, one group."""

    title: ClassVar[str] = "Value distribution"
    group: str
    edges: list[float]
    counts: list[int]
    n: int
    mean: float | None
    median: float | None


class LifecycleReport(Result):
    """Everything a community team needs on one page, as data (JSON) and as HTML.

    Built by :func:`funnelkit.report`. It holds numbers only: plots are drawn from them, so a
    report loaded back with :meth:`from_json` renders exactly the same.

    Examples
    --------
    >>> import funnelkit as fk
    >>> from funnelkit.datasets import simulate_community
    >>> sim = simulate_community(5_000, seed=2)
    >>> log = fk.EventLog.from_frame(sim.events, value_col="value", attribute_cols=["channel"])
    >>> rep = fk.report(log, observation_end=sim.observation_end, n_resamples=10,
    ...                 seed=0)
    >>> rep.stage_values["member"].value > rep.stage_values["visitor"].value
    True
    >>> type(rep).from_json(rep.to_json()).to_html() == rep.to_html()
    True
    """

    title: ClassVar[str] = "Lifecycle report"
    schema_name: str = "funnelkit.report.lifecycle"
    funnelkit_version: str
    settings: ReportSettings
    data: DataSummary
    funnel: Funnel
    stage_counts: dict[str, int]
    transitions: ConversionSummary | None
    first_purchase: ConversionSummary | None
    curves: tuple[ConversionCurve, ...]
    first_purchase_curves: tuple[ConversionCurve, ...]
    data_quality: tuple[str, ...]
    seconds: dict[str, float]
    # The value sections need a fitted purchase model. Without one (too few repeat buyers)
    # they stay empty and ``unavailable`` says why.
    clv: tuple[ClvCheck, ...] = ()
    value_distribution: tuple[ValueHistogram, ...] = ()
    stage_values: StageValues | None = None
    advancing: tuple[AdvanceValue, ...] = ()
    channels: SegmentValues | None = None
    uplift: MembershipUplift | None = None
    #: cost, value and ROI per channel, when costs were given
    economics: ChannelEconomics | None = None
    #: members from their join vs comparable non-members at that moment
    join_uplift: JoinUplift | None = None
    #: channel and membership effects, each adjusted for the other (covariate fits)
    covariates: CovariateComparison | None = None
    #: conversion by entry month of every transition
    trends: tuple[FunnelTrends, ...] = ()
    #: Section id (see ``funnelkit.report.html.SECTIONS``) → why it could not be computed.
    unavailable: dict[str, str] = Field(default_factory=dict)

    def to_html(self, path: str | Path | None = None) -> str:
        """The report as one self-contained HTML page; written to ``path`` if given."""
        from funnelkit.report.html import render_page

        page = render_page(self)
        if path is not None:
            Path(path).write_text(page, encoding="utf-8")
        return page

    def as_html(self) -> str:
        from funnelkit.report.html import render_body

        return render_body(self)

    def as_text(self) -> str:
        from funnelkit.report.text import render_text

        return render_text(self)

    def _display_items(self) -> list[tuple[str, Any]]:
        return [("stages", self.stage_counts)]


class StepTimer:
    """Times named steps and reports them to a progress callback."""

    def __init__(self, progress: Progress | None, total: int) -> None:
        self.progress = progress
        self.total = total
        self.done = 0
        self.seconds: dict[str, float] = {}

    def run(self, name: str, fn: Callable[[], Any]) -> Any:
        if self.progress is not None:
            self.progress(name, self.done, self.total)
        start = time.perf_counter()
        out = fn()
        self.seconds[name] = round(time.perf_counter() - start, 3)
        self.done += 1
        return out


def thin_curve(
    times: np.ndarray, rate: np.ndarray, lower: np.ndarray, upper: np.ndarray, points: int = 120
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A step curve sampled on ``points`` evenly spaced times (for small plots and JSON).

    A curve without steps (nobody entered the source stage) is 0 throughout.
    """
    if times.size == 0:
        grid = np.linspace(0.0, 1.0, points)
        return grid, np.zeros(points), np.zeros(points), np.zeros(points)
    end = float(times[-1])
    grid = np.linspace(0.0, end, points)
    pos = np.searchsorted(times, grid, side="right") - 1
    ok = pos >= 0
    take = np.maximum(pos, 0)
    return (
        grid,
        np.where(ok, rate[take], 0.0),
        np.where(ok, lower[take], 0.0),
        np.where(ok, upper[take], 0.0),
    )


def report(
    log: Any,
    funnel: Funnel | None = None,
    *,
    observation_end: Any = None,
    by: str | None = "channel",
    progress: bool | Progress | None = None,
    costs: Any = None,
    margin: float = 1.0,
    currency: str | None = None,
    **settings: Any,
) -> LifecycleReport:
    """Build the lifecycle report of an event log.

    Fits a :class:`~funnelkit.lifecycle.LifecycleModel` and the stage conversion, then
    gathers stage counts, the conversion table (naive vs eventual rates with intervals, time
    to convert), the lifetime-value models and their checks, stage values, the value of
    advancing, the channel table, the membership uplift and data-quality notes.

    When the purchase model cannot be fitted (e.g. fewer than 20 repeat buyers), the funnel,
    the conversion and the time to first purchase are still reported; the value sections stay
    empty and ``unavailable`` (and the notes) say why, with the numbers.

    Parameters
    ----------
    log
        An :class:`~funnelkit.EventLog` (read it with ``attribute_cols=["channel"]`` to get
        the channel table).
    funnel
        The stages; default :meth:`Funnel.community`.
    observation_end
        End of observation; default the last event.
    by
        Customer attribute of the channel table (default ``"channel"``, left out with a note
        when the log has no such attribute); None: no channel table.
    progress
        ``True`` draws a progress bar for the bootstrap, ``False`` shows nothing, None
        (default) draws one when the bootstrap is long and a terminal or notebook shows it;
        a callable ``progress(step, done, total)`` is called as steps and samples finish.
    costs
        Acquisition spend per channel (a frame with ``channel``, ``cost``, optionally
        ``period``): adds the channel economics (ROI with intervals, payback); see
        :meth:`~funnelkit.LifecycleModel.channel_value`.
    margin
        Share of the value that is margin, for the channel economics.
    currency
        Currency of the log's values, a code (``"EUR"``) or a symbol (``"€"``): every amount
        and axis of the page shows it. None: amounts are shown without one.
    **settings
        Settings of :class:`~funnelkit.lifecycle.LifecycleModel` (``horizon``,
        ``time_unit``, ``discount_rate``, ``n_resamples``, ``seed``, ...; the former names
        ``n_bootstrap`` and ``random_state`` are accepted). ``n_jobs`` spreads the bootstrap
        samples of the stage values and of the channel table over processes (same numbers
        for any value; default: by size); while worker processes fit the channel table's
        samples, this process computes the sections that need only the fitted model (stage
        conversion, trends, membership uplifts, the adjusted comparison).

    Returns
    -------
    LifecycleReport

    Examples
    --------
    >>> import funnelkit as fk
    >>> from funnelkit.datasets import simulate_community
    >>> sim = simulate_community(5_000, seed=1)
    >>> log = fk.EventLog.from_frame(sim.events, value_col="value", attribute_cols=["channel"])
    >>> rep = fk.report(log, observation_end=sim.observation_end, n_resamples=10,
    ...                 seed=0)
    >>> sorted(rep.stage_counts)
    ['member', 'prospect', 'repeat_buyer', 'visitor']
    """
    from funnelkit._blas import single_threaded_blas
    from funnelkit.lifecycle._bootstrap import sharing_replicate_weights
    from funnelkit.report._build import build_report
    from funnelkit.report.formatting import check_currency

    _check_entry(funnel, by, progress, settings)
    economics = None
    if costs is not None:
        from funnelkit.lifecycle.economics import check_costs

        economics = check_costs(costs, margin, by)
    currency = check_currency(currency)
    # the two membership uplifts go over the same samples: their counts are drawn once
    with single_threaded_blas(), sharing_replicate_weights():
        return build_report(
            log,
            funnel,
            observation_end=observation_end,
            by=by,
            progress=progress,
            settings=settings,
            economics=economics,
            currency=currency,
        )


def _check_entry(funnel: Any, by: Any, progress: Any, settings: dict[str, Any]) -> None:
    """Refuse what :func:`report` cannot use before any work, naming the parameter."""
    from funnelkit.lifecycle import LifecycleModel
    from funnelkit.lifecycle._settings import check_seed

    known = [k for k in LifecycleModel().get_params() if k != "progress"]
    # the former names of n_resamples and seed, which LifecycleModel still accepts
    former = ("n_bootstrap", "random_state")
    unknown = [k for k in settings if k not in known and k not in former]
    if unknown:
        close = difflib.get_close_matches(unknown[0], known, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise FunnelkitError(
            f"report got unknown setting(s) {unknown}.{hint} Its settings are those of "
            f"LifecycleModel: {known}."
        )
    if funnel is not None and not isinstance(funnel, Funnel):
        raise FunnelkitError(
            f"The 'funnel' parameter of report must be a Funnel or None. Got {funnel!r} "
            "instead; e.g. Funnel.community(), or Funnel.model_validate_json(text) for a "
            "saved one."
        )
    if by is not None and not isinstance(by, str):
        raise FunnelkitError(
            f"The 'by' parameter of report must be an attribute name or None. Got {by!r} instead."
        )
    if progress is not None and not isinstance(progress, bool) and not callable(progress):
        raise FunnelkitError(
            f"The 'progress' parameter of report must be True, False, None or a callable. "
            f"Got {progress!r} instead."
        )
    for name in ("seed", "random_state"):
        check_seed(settings.get(name), "report", name)
