"""Funnel trends: conversion by entry cohort that does not count the still-waiting as lost.

Product funnels by entry week or month usually show ``converted / entered``: the recent
cohorts look worse only because their customers have had less time. Here every cohort gets

- the **naive rate** (converted so far / entered), the usual number, for comparison;
- the **eventual rate**, censoring-aware (mixture cure model, Maller & Zhou 1996, with the
  delay family chosen on all entrants; Kaplan-Meier plateau with ``model="kaplan-meier"``);
- ``rate_within`` at one ``window``: the Kaplan-Meier share converted within ``window`` of
  entering, None for a cohort not yet followed that long. Cohorts are compared at equal age;
- ``share_in_window``: the share of entrants who have not converted and entered less than
  ``window`` before the end of observation, so could still convert within it (Mixpanel's
  "incomplete bucket").
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from funnelkit._frames import Backend, frame_from_columns
from funnelkit._results import Interval, Result, html_table
from funnelkit.conversion.estimate import estimate_transition
from funnelkit.conversion.kaplan_meier import CIMethod
from funnelkit.conversion.results import TransitionEstimate, _check_window
from funnelkit.conversion.segments import segment_codes
from funnelkit.exceptions import FunnelkitError
from funnelkit.journeys import Journeys
from funnelkit.units import TimeUnit, TimeUnitField

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["CohortConversion", "FunnelTrends", "funnel_trends"]

_PERIODS = ("day", "week", "month", "year")
#: default window: 30 days, in the journeys' time unit
_DEFAULT_WINDOW_DAYS = 30.0


class CohortConversion(Result):
    """One entry cohort of a transition."""

    cohort: str
    n_entered: int
    n_converted: int
    naive_rate: float | None
    eventual_rate: float | None
    eventual_rate_ci: Interval | None
    eventual_rate_std_error: float | None = None
    rate_within: float | None
    rate_within_ci: Interval | None
    share_in_window: float
    complete: bool


class FunnelTrends(Result):
    """Conversion of ``source -> target`` by entry cohort (see :mod:`funnelkit.conversion.trends`).

    ``complete`` is True for a cohort whose every entrant has been followed for ``window``:
    its ``rate_within`` is final. Times (``window``) are in ``time_unit``.

    Examples
    --------
    >>> from funnelkit import EventLog, Funnel
    >>> from funnelkit.conversion.trends import funnel_trends
    >>> from funnelkit.datasets import CommunityParams, simulate_community
    >>> params = CommunityParams(observation_days=250)  # the last cohorts are still young
    >>> sim = simulate_community(3_000, seed=1, params=params)
    >>> log = EventLog.from_frame(sim.events, value_col="value")
    >>> journeys = Funnel.community().journeys(log, observation_end=sim.observation_end)
    >>> trends = funnel_trends(journeys, "prospect", "visitor", by="month", window=14)
    >>> trends.rows[0].cohort, trends.rows[0].complete, trends.rows[-1].complete
    ('2024-01', True, False)
    >>> last = trends.rows[-1]
    >>> last.naive_rate < last.eventual_rate
    True
    """

    title: ClassVar[str] = "Funnel trends"
    schema_name: str = "funnelkit.conversion.trends"
    source: str
    target: str
    by: str
    window: float
    time_unit: TimeUnitField
    conf_level: float
    model: str
    rows: tuple[CohortConversion, ...]
    notes: tuple[str, ...] = ()

    def summary(self, backend: Backend = "pandas") -> Any:
        """One row per cohort.

        Columns ``cohort, n_entered, n_converted, naive_rate, share_in_window, complete,
        rate_within, rate_within_lower, rate_within_upper`` and the eventual
        (censoring-aware) rate as ``estimate, std_error, lower, upper``; NaN where not
        estimable.
        """

        def col(values: list[float | None]) -> np.ndarray:
            return np.array([np.nan if v is None else v for v in values], dtype=float)

        def side(cis: list[Interval | None], k: int) -> np.ndarray:
            return col([None if c is None else c[k] for c in cis])

        rows = self.rows
        within = [r.rate_within_ci for r in rows]
        eventual = [r.eventual_rate_ci for r in rows]
        return frame_from_columns(
            {
                "cohort": np.array([r.cohort for r in rows], dtype=object),
                "n_entered": np.array([r.n_entered for r in rows], dtype=np.int64),
                "n_converted": np.array([r.n_converted for r in rows], dtype=np.int64),
                "naive_rate": col([r.naive_rate for r in rows]),
                "share_in_window": col([r.share_in_window for r in rows]),
                "complete": np.array([r.complete for r in rows], dtype=bool),
                "rate_within": col([r.rate_within for r in rows]),
                "rate_within_lower": side(within, 0),
                "rate_within_upper": side(within, 1),
                "estimate": col([r.eventual_rate for r in rows]),
                "std_error": col([r.eventual_rate_std_error for r in rows]),
                "lower": side(eventual, 0),
                "upper": side(eventual, 1),
            },
            backend,
        )

    @property
    def window_text(self) -> str:
        return f"{self.window:g} {self.time_unit.value}s"

    def as_text(self) -> str:
        lines = [
            f"{self.title}: {self.source} -> {self.target} by entry {self.by} "
            f"(within {self.window_text}; eventual rate: {self.model})"
        ]
        for r in self.rows:
            within = "too young" if r.rate_within is None else f"{r.rate_within:.1%}"
            eventual = "n/a" if r.eventual_rate is None else f"{r.eventual_rate:.1%}"
            naive = "n/a" if r.naive_rate is None else f"{r.naive_rate:.1%}"
            lines.append(
                f"  {r.cohort:<12}{r.n_entered:>8,}  naive {naive:>6}  eventual {eventual:>6}  "
                f"within {within:>9}  still in window {r.share_in_window:.0%}"
            )
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)

    def as_html(self, names: Mapping[str, str] | None = None) -> str:
        """The cohort table; ``names`` maps stage names to the words shown for them."""
        names = names or {}

        def pct(v: float | None) -> str:
            return "n/a" if v is None else f"{v:.1%}"

        table: list[Mapping[str, Any]] = [
            {
                "cohort": r.cohort,
                "entered": r.n_entered,
                "naive": pct(r.naive_rate),
                "eventual": pct(r.eventual_rate),
                f"within {self.window_text}": (
                    "too young" if r.rate_within is None else pct(r.rate_within)
                ),
                "still in window": pct(r.share_in_window),
            }
            for r in self.rows
        ]
        source, target = (names.get(s, s) for s in (self.source, self.target))
        return html_table(table, caption=f"{self.title}: {source} → {target} by entry {self.by}")

    def plot(self, *, ax: Axes | None = None) -> Axes:
        """Naive, eventual (with band) and within-window rates by cohort; returns the Axes."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots()
        frame = self.summary("pandas")
        x = np.arange(len(self.rows))
        ax.plot(x, frame["naive_rate"], "o--", color="#888", label="naive (converted so far)")
        ax.plot(x, frame["estimate"], "o-", color="#2a6f97", label="eventual")
        ax.fill_between(x, frame["lower"], frame["upper"], color="#2a6f97", alpha=0.2)
        ax.plot(x, frame["rate_within"], "s-", color="#e07a5f", label=f"within {self.window_text}")
        ax.set_xticks(x, [r.cohort for r in self.rows], rotation=45, ha="right")
        ax.set_ylabel(f"{self.source} -> {self.target} conversion")
        ax.legend()
        return ax


def funnel_trends(
    journeys: Journeys,
    source: str,
    target: str,
    *,
    by: str = "week",
    window: float | None = None,
    model: str = "auto",
    conf_level: float = 0.95,
    ci_method: CIMethod = "log-log",
    pooled_estimate: TransitionEstimate | None = None,
) -> FunnelTrends:
    """Conversion of ``source -> target`` by the period customers entered ``source``.

    Parameters
    ----------
    journeys
        From :meth:`funnelkit.Funnel.journeys`.
    source, target
        The stages of the transition.
    by : {"day", "week", "month", "year"}
        Length of the entry cohorts.
    window
        Age at which cohorts are compared (``rate_within``), in the journeys' time unit;
        default 30 days.
    model
        Delay family of the eventual rate, as in :class:`ConversionFitter` (``"auto"``:
        chosen by AIC on all entrants and kept for every cohort).
    conf_level, ci_method
        Level and Kaplan-Meier band of every interval.
    pooled_estimate
        This transition's estimate on all entrants of these journeys, when already fitted
        (``ConversionFitter().fit(journeys).estimate(source, target)``): its delay family
        is kept for every cohort instead of being fitted and chosen again. ``model`` is then
        left at ``"auto"`` or names that same family.

    Returns
    -------
    FunnelTrends
    """
    if not isinstance(journeys, Journeys):
        raise FunnelkitError(
            f"funnel_trends takes Journeys, got {type(journeys).__name__}; build them with "
            "Funnel.journeys(EventLog.from_frame(...))."
        )
    if by not in _PERIODS:
        raise FunnelkitError(
            f"The 'by' parameter of funnel_trends must be one of {list(_PERIODS)}. "
            f"Got {by!r} instead."
        )
    for stage in (source, target):
        if stage not in journeys.stage_names:
            raise FunnelkitError(
                f"No stage named {stage!r}; stages are {list(journeys.stage_names)}."
            )
    unit = journeys.time_unit
    days = TimeUnit.parse(unit).days
    width = _DEFAULT_WINDOW_DAYS / days if window is None else _check_window(window)
    index, durations, converted = journeys.transition(source, target)
    if index.size == 0:
        raise FunnelkitError(
            f"Nobody entered {source!r}: there is no cohort to follow. Check the stage's events."
        )

    def fit(rows: np.ndarray | slice, label: str | None, family: str) -> Any:
        return estimate_transition(
            durations[rows],
            converted[rows],
            source=source,
            target=target,
            segment=label,
            time_unit=unit,
            model=family,
            conf_level=float(conf_level),
            ci_method=ci_method,
            quantiles=(),
        )

    if pooled_estimate is None:
        pooled = fit(slice(None), None, model)
    else:
        pooled = _checked_pooled(pooled_estimate, source, target, model, converted)
    codes, labels = segment_codes(journeys, f"cohort:{by}", index, source)
    # still inside the window: not converted and followed for less than the window
    waiting = ~converted & (durations < width)
    rows = []
    for g, label in enumerate(labels):
        mine = codes == g
        est = fit(mine, label, pooled.model)
        within = est.rate_within(width, method="kaplan-meier")
        n = int(mine.sum())
        still = float(waiting[mine].mean())
        rows.append(
            CohortConversion(
                cohort=label,
                n_entered=n,
                n_converted=est.n_converted,
                naive_rate=est.naive_rate,
                eventual_rate=est.eventual_rate,
                eventual_rate_ci=est.eventual_rate_ci,
                eventual_rate_std_error=est.eventual_rate_std_error,
                rate_within=within.rate,
                rate_within_ci=within.rate_ci,
                share_in_window=still,
                complete=still == 0.0,
            )
        )
    notes = [
        f"{source} -> {target}: eventual rates use the {pooled.model} delays chosen on all "
        f"{index.size:,} entrants; naive rates count customers still waiting as lost."
    ]
    young = [r.cohort for r in rows if r.rate_within is None]
    if young:
        notes.append(
            f"{len(young)} cohort(s) not yet followed for {width:g} {unit.value}s have no "
            f"rate within it: {young[:3]}{' ...' if len(young) > 3 else ''}."
        )
    return FunnelTrends(
        source=source,
        target=target,
        by=by,
        window=width,
        time_unit=unit,
        conf_level=float(conf_level),
        model=pooled.model,
        rows=tuple(rows),
        notes=tuple(notes),
    )


def _checked_pooled(
    estimate: TransitionEstimate, source: str, target: str, model: str, converted: np.ndarray
) -> TransitionEstimate:
    """``estimate`` if it is this transition's pooled estimate on these entrants."""
    if not isinstance(estimate, TransitionEstimate):
        raise FunnelkitError(
            "The 'pooled_estimate' parameter of funnel_trends must be a TransitionEstimate "
            f"(ConversionFitter.estimate(source, target)). Got {type(estimate).__name__}."
        )
    entrants = (int(converted.size), int(np.count_nonzero(converted)))
    given = (estimate.n_entered, estimate.n_converted)
    if (estimate.source, estimate.target, estimate.segment) != (source, target, None):
        raise FunnelkitError(
            f"pooled_estimate is the estimate of {estimate.label}, not of all entrants of "
            f"{source} -> {target}: pass ConversionFitter.estimate({source!r}, {target!r})."
        )
    if given != entrants:
        raise FunnelkitError(
            f"pooled_estimate counts {given[0]:,} entrants and {given[1]:,} conversions, these "
            f"journeys {entrants[0]:,} and {entrants[1]:,}: it was fitted on other journeys. "
            "Fit it on these journeys or leave pooled_estimate out."
        )
    if model not in ("auto", estimate.model):
        raise FunnelkitError(
            f"model={model!r} contradicts pooled_estimate, whose family is "
            f"{estimate.model!r}: leave model at 'auto' or pass that family."
        )
    return estimate
