"""Results of the conversion estimators: one transition, a window rate, a time quantile."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from pydantic import Field, model_validator

from funnelkit._floating import underflow_is_zero
from funnelkit._frames import Backend, frame_from_columns
from funnelkit._results import Interval, Result, html_table
from funnelkit.conversion._interval import Pair, as_interval, fill_intervals
from funnelkit.conversion.cure_result import CureFit
from funnelkit.conversion.kaplan_meier import KaplanMeierCurve
from funnelkit.exceptions import FunnelkitError
from funnelkit.units import TimeUnitField

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = [
    "Interval",
    "ModelName",
    "TimeQuantile",
    "TransitionEstimate",
    "WindowRate",
]

ModelName = Literal["kaplan-meier", "exponential", "weibull", "lognormal", "lognormal-mixture"]


#: Interval fields of a transition and the field holding each one's estimate.
INTERVAL_ESTIMATES = {
    "naive_rate_ci": "naive_rate",
    "eventual_rate_ci": "eventual_rate",
    "median_time_ci": "median_time",
    "km_plateau_rate_ci": "km_plateau_rate",
}


class TimeQuantile(Result):
    """A quantile of the time to convert among eventual converters."""

    title = "Time to convert"

    level: float
    time: float | None
    time_ci: Interval | None

    @model_validator(mode="before")
    @classmethod
    def _intervals(cls, data: Any) -> Any:
        return fill_intervals(data, {"time_ci": "time"}, level=None)


class WindowRate(Result):
    """The probability of converting within ``window`` time units of entering the source."""

    title = "Conversion within a window"

    window: float
    rate: float | None
    rate_ci: Interval | None
    method: ModelName
    extrapolated: bool
    conf_level: float
    time_unit: TimeUnitField

    @model_validator(mode="before")
    @classmethod
    def _intervals(cls, data: Any) -> Any:
        return fill_intervals(data, {"rate_ci": "rate"})


class TransitionEstimate(Result):
    """Censoring-aware conversion from ``source`` to ``target`` (optionally in one segment).

    ``naive_rate`` is converted / entered, with a Wilson (1927) interval: it counts everybody
    still waiting as lost. ``eventual_rate`` is the probability of *ever* converting, from the
    mixture cure model in ``model`` (Maller & Zhou 1996), or the Kaplan-Meier plateau when
    ``model == "kaplan-meier"``. Times are in ``time_unit``, measured from entering ``source``;
    ``median_time`` and ``time_quantiles`` describe eventual converters only. None means "not
    estimable"; ``notes`` says why.

    Examples
    --------
    >>> from funnelkit.datasets.conversion import simulate_transitions
    >>> from funnelkit import ConversionFitter
    >>> sim = simulate_transitions(2000, seed=3)
    >>> fitter = ConversionFitter().fit(sim.journeys)
    >>> est = fitter.estimate("visitor", "member")
    >>> est.n_entered, est.model
    (2000, 'weibull')
    >>> est.naive_rate < est.eventual_rate
    True
    >>> round(est.rate_within(7).rate, 2)
    0.17
    """

    title = "Stage transition"

    source: str
    target: str
    segment: str | None = None
    time_unit: TimeUnitField
    conf_level: float
    n_entered: int
    n_converted: int
    n_censored: int
    naive_rate: float | None
    naive_rate_ci: Interval | None
    eventual_rate: float | None
    eventual_rate_ci: Interval | None
    #: standard error of ``eventual_rate`` (delta method on the logit scale for a cure model,
    #: Greenwood for the Kaplan-Meier plateau); None where it does not exist
    eventual_rate_std_error: float | None = None
    median_time: float | None
    median_time_ci: Interval | None
    time_quantiles: tuple[TimeQuantile, ...] = ()
    model: ModelName
    model_aic: dict[str, float | None] = Field(default_factory=dict)
    cure_fit: CureFit | None = None
    km_plateau_rate: float | None = None
    km_plateau_rate_ci: Interval | None = None
    max_followup: float | None = None
    curve: KaplanMeierCurve
    notes: tuple[str, ...] = ()

    @model_validator(mode="before")
    @classmethod
    def _intervals(cls, data: Any) -> Any:
        return fill_intervals(data, INTERVAL_ESTIMATES)

    @property
    def label(self) -> str:
        base = f"{self.source} -> {self.target}"
        return base if self.segment is None else f"{base} [{self.segment}]"

    @underflow_is_zero
    def rate_within(
        self, window: float, *, method: Literal["auto", "kaplan-meier", "model"] = "auto"
    ) -> WindowRate:
        """Probability of converting within ``window`` time units of entering the source.

        ``method="auto"`` reads the Kaplan-Meier curve (with its band) up to the longest
        follow-up and the fitted cure model beyond it (flagged ``extrapolated``);
        ``"kaplan-meier"`` and ``"model"`` force one of them. The window is a question asked
        of the fitted curves, not a filter on the data.
        """
        window = _check_window(window)
        within = self.max_followup is not None and window <= self.max_followup
        use_km = method == "kaplan-meier" or (method == "auto" and (within or not self.cure_fit))
        if method == "model" and self.cure_fit is None:
            use_km = True
        rate: float | None
        ci: Pair | Interval | None
        if use_km:
            if self.n_entered == 0 or not within:
                rate, ci = None, None
            else:
                rate, ci = self.curve.rate_at(window)
            used: ModelName = "kaplan-meier"
        else:
            assert self.cure_fit is not None
            rate, ci = self.cure_fit.rate_within(window, conf_level=self.conf_level)
            used = self.cure_fit.distribution
        return WindowRate(
            window=window,
            rate=rate,
            rate_ci=as_interval(ci, rate, self.conf_level),
            method=used,
            extrapolated=(not use_km) and not within,
            conf_level=self.conf_level,
            time_unit=self.time_unit,
        )

    @underflow_is_zero
    def time_to_convert(self, q: float) -> TimeQuantile:
        """The ``q``-quantile of the time to convert among eventual converters."""
        if not 0.0 < q < 1.0:
            raise FunnelkitError(f"q must be in (0, 1). Got {q!r} instead.")
        for tq in self.time_quantiles:
            if math.isclose(tq.level, q):
                return tq
        ci: Pair | Interval | None
        if self.cure_fit is None:
            from funnelkit.conversion.estimate import km_time_quantile

            time, ci = km_time_quantile(self.curve, q)
        else:
            time, ci = self.cure_fit.delay_quantile(q, conf_level=self.conf_level)
        return TimeQuantile(level=q, time=time, time_ci=as_interval(ci, time, self.conf_level))

    def summary(self, backend: Backend = "pandas") -> Any:
        """The estimates of this transition: one row per quantity, with bounds.

        Columns ``quantity, estimate, std_error, lower, upper``. Quantities: ``naive_rate``,
        ``eventual_rate``, ``km_plateau_rate`` and the time to convert at every stored
        quantile (``time_q50`` for the median); missing values where a number is not
        estimable (a standard error exists for the eventual rate only).
        """
        rows: list[tuple[str, float | None, float | None, Interval | None]] = [
            ("naive_rate", self.naive_rate, None, self.naive_rate_ci),
            ("eventual_rate", self.eventual_rate, self.eventual_rate_std_error,
             self.eventual_rate_ci),
            ("km_plateau_rate", self.km_plateau_rate, None, self.km_plateau_rate_ci),
        ]  # fmt: skip
        rows.extend(
            (f"time_q{round(100 * tq.level):02d}", tq.time, None, tq.time_ci)
            for tq in self.time_quantiles
        )

        def number(value: float | None) -> float:
            return math.nan if value is None else value

        columns = {
            "quantity": np.array([r[0] for r in rows], dtype=object),
            "estimate": np.array([number(r[1]) for r in rows]),
            "std_error": np.array([number(r[2]) for r in rows]),
            "lower": np.array([math.nan if r[3] is None else number(r[3].lower) for r in rows]),
            "upper": np.array([math.nan if r[3] is None else number(r[3].upper) for r in rows]),
        }
        return frame_from_columns(columns, backend)

    def plot(self, *, ax: Axes | None = None, **kwargs: Any) -> Axes:
        """Kaplan-Meier cumulative conversion with its band and the cure model overlaid."""
        from funnelkit.conversion.plotting import plot_conversion_curve

        return plot_conversion_curve(self, ax=ax, **kwargs)

    def _display_items(self) -> list[tuple[str, Any]]:
        pct = f"{self.conf_level:.0%}"
        unit = self.time_unit.value
        items: list[tuple[str, Any]] = [
            ("transition", self.label),
            (
                "entered / converted / censored",
                f"{self.n_entered} / {self.n_converted} / {self.n_censored}",
            ),
            (f"naive rate ({pct} Wilson)", _rate_text(self.naive_rate, self.naive_rate_ci)),
            (f"eventual rate ({pct})", _rate_text(self.eventual_rate, self.eventual_rate_ci)),
            (f"median {unit}s to convert", _time_text(self.median_time, self.median_time_ci)),
        ]
        for tq in self.time_quantiles:
            if not math.isclose(tq.level, 0.5):
                items.append(
                    (
                        f"{tq.level:.0%} of converters within ({unit}s)",
                        _time_text(tq.time, tq.time_ci),
                    )
                )
        items.append(("model", self.model))
        if self.model_aic:
            items.append(("AIC", ", ".join(f"{k}: {_num(v)}" for k, v in self.model_aic.items())))
        items.append(
            ("Kaplan-Meier plateau", _rate_text(self.km_plateau_rate, self.km_plateau_rate_ci))
        )
        items.append((f"longest follow-up ({unit}s)", _num(self.max_followup)))
        items.extend(("note", note) for note in self.notes)
        return items

    def as_text(self) -> str:
        return "\n".join([self.title, *(f"  {k}: {v}" for k, v in self._display_items())])

    def as_html(self) -> str:
        rows: dict[str, Any] = {}
        for k, v in self._display_items():
            rows[k if k not in rows else f"{k} ({len(rows)})"] = v
        return html_table(rows, caption=f"{self.title}: {self.label}")


def _check_window(window: Any) -> float:
    try:
        value = float(window)
    except (TypeError, ValueError):
        value = math.nan
    if not (math.isfinite(value) and value >= 0):
        raise FunnelkitError(f"window must be a finite number >= 0. Got {window!r} instead.")
    return value


def _num(value: float | None, digits: int = 4) -> str:
    return "not estimable" if value is None else f"{value:.{digits}g}"


def _rate_text(rate: float | None, ci: Interval | None) -> str:
    if rate is None:
        return "not estimable"
    band = "interval not estimable" if ci is None else f"{ci[0]:.1%} to {ci[1]:.1%}"
    return f"{rate:.1%} ({band})"


def _time_text(time: float | None, ci: Interval | None) -> str:
    if time is None:
        return "not estimable"
    band = "interval not estimable" if ci is None else f"{ci[0]:.3g} to {ci[1]:.3g}"
    return f"{time:.3g} ({band})"
