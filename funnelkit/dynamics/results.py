"""Frozen results of the stage Markov model: per-transition estimates and reach probabilities."""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np
from pydantic import BaseModel, ConfigDict, model_validator
from scipy import special

from funnelkit._floating import exp_saturating
from funnelkit._frames import Backend, frame_from_columns
from funnelkit._results import Interval, Result, html_table
from funnelkit.conversion.cure_result import CureFit
from funnelkit.dynamics.covariate_result import MarkovCovariates
from funnelkit.dynamics.likelihood import StageFit, Status
from funnelkit.dynamics.state import StageIntensities
from funnelkit.exceptions import FunnelkitError
from funnelkit.intervals import normal_quantile, wilson_interval
from funnelkit.units import TimeUnitField

__all__ = ["Estimate", "StageMarkovResult", "StageReach", "TransitionFit"]


class Estimate(Interval):
    """A point estimate with its standard error and confidence bounds (None: not estimable).

    An :class:`~funnelkit._results.Interval` with a ``std_error``: it unpacks as
    ``lower, upper = est`` and reads JSON written with the former ``standard_error`` key.

    >>> est = Estimate(estimate=2.0, std_error=0.5, lower=1.2, upper=3.3)
    >>> lower, upper = est
    >>> (lower, upper, est.standard_error, str(est))
    (1.2, 3.3, 0.5, '2 [1.2, 3.3]')
    """

    estimate: float | None
    std_error: float | None = None
    lower: float | None = None
    upper: float | None = None

    @model_validator(mode="before")
    @classmethod
    def _former_names(cls, data: Any) -> Any:
        if isinstance(data, dict) and "standard_error" in data:
            data = dict(data)
            data.setdefault("std_error", data.pop("standard_error"))
        return data

    @property
    def standard_error(self) -> float | None:
        """Former name of :attr:`std_error`, kept as an alias."""
        return self.std_error

    def __str__(self) -> str:
        if self.estimate is None:
            return "not estimable"
        if self.lower is None or self.upper is None:
            return f"{self.estimate:.4g}"
        return f"{self.estimate:.4g} [{self.lower:.4g}, {self.upper:.4g}]"


def at_level(est: Estimate, level: float) -> Estimate:
    """``est`` with the confidence level of its bounds recorded (None when it has none)."""
    if est.lower is None and est.upper is None:
        return est
    return est.model_copy(update={"level": level})


def _finite(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def log_scale_estimate(value: float, log_se: float, z: float) -> Estimate:
    """Estimate of a positive quantity with a log-scale (delta method) interval.

    The ends ``value * exp(-/+ z se)`` saturate at 0 and ``inf`` (an astronomically wide
    interval is reported as such, never as an overflow); see Kalbfleisch & Prentice (2002),
    *The Statistical Analysis of Failure Time Data*, 2nd ed., section 3.4.
    """
    if not math.isfinite(value):
        return Estimate(estimate=None)
    if value <= 0 or not math.isfinite(log_se):
        return Estimate(estimate=float(value))
    # On the log scale: log(value) -/+ z se, exponentiated one end at a time so that an
    # astronomically wide interval ends at 0 or infinity instead of overflowing.
    log_value = math.log(value)
    lower, upper = exp_saturating(log_value - z * log_se), exp_saturating(log_value + z * log_se)
    return Estimate(
        estimate=float(value),
        std_error=float(value * log_se),
        lower=float(lower),
        upper=float(upper),
    )


def logit_scale_estimate(p: float, logit_se: float, z: float) -> Estimate:
    """Estimate of a probability with an interval on the logit scale (saturating at 0, 1)."""
    if not math.isfinite(p):
        return Estimate(estimate=None)
    if not (0 < p < 1) or not math.isfinite(logit_se):
        return Estimate(estimate=float(p))
    logit = math.log(p / (1 - p))
    lower, upper = special.expit(logit + np.array([-z, z]) * logit_se)
    return Estimate(
        estimate=float(p),
        std_error=float(p * (1 - p) * logit_se),
        lower=float(lower),
        upper=float(upper),
    )


def wilson_estimate(successes: int, trials: int, conf_level: float) -> Estimate:
    """A proportion with the Wilson (1927) score interval (the conversion module's helper).

    The interval saturates exactly at 0 and 1, so a share of 0 or 1 lies inside it.
    """
    interval = wilson_interval(successes, trials, conf_level=conf_level)
    if interval is None:
        return Estimate(estimate=None)
    p = successes / trials
    return Estimate(
        estimate=p,
        std_error=math.sqrt(p * (1 - p) / trials),
        lower=interval[0],
        upper=interval[1],
    )


#: The estimated quantities of every transition, in table order.
QUANTITIES = ("advance_rate", "dropout_rate", "advance_probability", "mean_time_in_stage")
_ESTIMATE_COLUMNS = ("estimate", "std_error", "lower", "upper")


class TransitionFit(BaseModel):
    """The estimates of one stage (``source``) and its advance to the next (``target``).

    ``advance_rate`` λ and ``dropout_rate`` μ are intensities per time unit;
    ``advance_probability`` = λ/(λ+μ) is the eventual advance probability and
    ``mean_time_in_stage`` = 1/(λ+μ) the mean time spent active in the stage (also the mean
    delay among those who advance).
    """

    model_config = ConfigDict(frozen=True, extra="forbid", ser_json_inf_nan="constants")
    source: str
    target: str
    segment: str | None = None
    n_entered: int
    n_advanced: int
    exposure: float
    advance_rate: Estimate
    dropout_rate: Estimate
    advance_probability: Estimate
    mean_time_in_stage: Estimate
    log_likelihood: float | None
    status: Status
    converged: bool

    @classmethod
    def from_fit(
        cls,
        fit: StageFit,
        *,
        source: str,
        target: str,
        segment: str | None,
        conf_level: float,
        boundary: tuple[float, float] | None = None,
    ) -> TransitionFit:
        """Estimates and intervals from a stage fit.

        ``boundary`` holds profile-likelihood bounds ``(μ upper, p lower)`` for a stage fitted
        with μ = 0 (see :func:`funnelkit.dynamics.likelihood.boundary_bounds`).
        """
        z = normal_quantile(conf_level)
        lam, mu, cov = fit.advance_rate, fit.dropout_rate, fit.log_covariance
        se_a, se_b = math.sqrt(cov[0, 0]), math.sqrt(cov[1, 1])
        theta = lam + mu
        if fit.status == "estimated":
            pa, pb = lam / theta, mu / theta
            logit_var = cov[0, 0] + cov[1, 1] - 2 * cov[0, 1]
            grad = np.array([pa, pb])
            log_theta_se = math.sqrt(float(grad @ cov @ grad))
            prob = logit_scale_estimate(pa, math.sqrt(max(logit_var, 0.0)), z)
            mean = log_scale_estimate(1.0 / theta, log_theta_se, z)
        elif fit.status == "no_dropout":
            low = None if boundary is None else boundary[1]
            prob = Estimate(estimate=1.0, lower=low, upper=None if low is None else 1.0)
            mean = log_scale_estimate(1.0 / lam, se_a, z)
        elif fit.status == "instantaneous":
            prob = wilson_estimate(fit.n_advanced, fit.n_advanced + fit.n_waited, conf_level)
            mean = Estimate(estimate=0.0)
        else:  # nothing to estimate a time from; a probability only if nobody advanced
            prob = Estimate(estimate=0.0 if fit.status == "no_advances" else None)
            mean = Estimate(estimate=None)
        return cls(
            source=source,
            target=target,
            segment=segment,
            n_entered=fit.n_entered,
            n_advanced=fit.n_advanced,
            exposure=fit.exposure,
            advance_rate=at_level(log_scale_estimate(lam, se_a, z), conf_level),
            dropout_rate=at_level(
                Estimate(estimate=0.0, lower=0.0, upper=boundary[0])
                if boundary is not None
                else log_scale_estimate(mu, se_b, z),
                conf_level,
            ),
            advance_probability=at_level(prob, conf_level),
            mean_time_in_stage=at_level(mean, conf_level),
            log_likelihood=_finite(fit.log_likelihood),
            status=fit.status,
            converged=fit.converged,
        )

    def record(self) -> dict[str, Any]:
        """One flat row for a table."""
        row: dict[str, Any] = {
            "source": self.source,
            "target": self.target,
            "segment": self.segment,
            "n_entered": self.n_entered,
            "n_advanced": self.n_advanced,
        }
        for name in QUANTITIES:
            est: Estimate = getattr(self, name)
            row[name] = est.estimate
            row[f"{name}_lower"] = est.lower
            row[f"{name}_upper"] = est.upper
        row["status"] = self.status
        row["converged"] = self.converged
        return row


class StageMarkovResult(Result):
    """Fitted intensities of every stage of the funnel (per segment when fitted ``by=``)."""

    title: ClassVar[str] = "Stage Markov model"
    stage_names: tuple[str, ...]
    time_unit: TimeUnitField
    conf_level: float
    by: str | None = None
    segments: tuple[str, ...] | None = None
    n_customers: int
    transitions: tuple[TransitionFit, ...]
    log_likelihood: float | None
    converged: bool
    notes: tuple[str, ...] = ()
    #: the fitted intensities the predictions use (absent from JSON written before they were
    #: stored: such a result still reads, but cannot forecast)
    intensities: StageIntensities | None = None
    #: per segment and transition, the delay model the data support, as ConversionFitter
    #: chooses it (``model="auto"``): a cure model fit, or None where Kaplan-Meier answers
    #: or nothing is estimable (the forecast then uses that transition's intensities).
    #: Absent from JSON written before delays were stored: such a result forecasts with
    #: exponential delays.
    delays: tuple[tuple[CureFit | None, ...], ...] | None = None
    #: per segment and transition, every delay model the data support (best AIC first):
    #: the forecast's draws pick among them by Akaike weight, so its intervals carry the
    #: uncertainty of the model choice as well as of the parameters
    supported_delays: tuple[tuple[tuple[CureFit, ...], ...], ...] | None = None
    #: the log-linear covariate intensities, when fitted with ``covariates=``
    covariates: MarkovCovariates | None = None

    def transition(self, source: str, *, segment: str | None = None) -> TransitionFit:
        """The estimates of stage ``source`` (of ``segment`` when fitted by segment)."""
        for t in self.transitions:
            if t.source == source and t.segment == segment:
                return t
        raise FunnelkitError(
            f"No transition out of stage {source!r} for segment {segment!r}; the transitions "
            f"leave {sorted({t.source for t in self.transitions})}"
            + (f" in segments {list(self.segments)}." if self.segments else ".")
        )

    def to_frame(self, backend: Backend = "pandas") -> Any:
        """One row per transition (and segment): rates, probabilities and bounds."""
        records = [t.record() for t in self.transitions]
        columns = {k: np.array([r[k] for r in records], dtype=object) for k in records[0]}
        for k, v in columns.items():
            if k == "converged":
                columns[k] = v.astype(bool)
            elif k in ("n_entered", "n_advanced"):
                columns[k] = v.astype(np.int64)
            elif k not in ("source", "target", "segment", "status"):
                columns[k] = np.array([np.nan if x is None else x for x in v], dtype=float)
        if self.by is None:
            del columns["segment"]
        return frame_from_columns(columns, backend)

    def summary(self, backend: Backend = "pandas") -> Any:
        """One row per transition (and segment) and quantity: estimate, std_error, bounds.

        The quantities are ``advance_rate``, ``dropout_rate``, ``advance_probability`` and
        ``mean_time_in_stage``; missing values where a number is not estimable.
        """
        columns: dict[str, list[Any]] = {
            k: [] for k in ("source", "target", "segment", "quantity", *_ESTIMATE_COLUMNS)
        }
        columns["status"] = []
        for t in self.transitions:
            for quantity in QUANTITIES:
                est: Estimate = getattr(t, quantity)
                columns["source"].append(t.source)
                columns["target"].append(t.target)
                columns["segment"].append(t.segment)
                columns["quantity"].append(quantity)
                for name in _ESTIMATE_COLUMNS:
                    value = getattr(est, name)
                    columns[name].append(np.nan if value is None else value)
                columns["status"].append(t.status)
        if self.by is None:
            del columns["segment"]
        arrays = {
            k: np.asarray(v, dtype=float if k in _ESTIMATE_COLUMNS else object)
            for k, v in columns.items()
        }
        return frame_from_columns(arrays, backend)

    def as_text(self) -> str:
        lines = [
            f"{self.title} ({self.time_unit.value}s, {self.conf_level:.0%} intervals)"
            + (f" by {self.by}" if self.by else "")
        ]
        for t in self.transitions:
            seg = f"[{t.segment}] " if t.segment is not None else ""
            lines.append(
                f"  {seg}{t.source} → {t.target}: advance rate {t.advance_rate}, drop-out rate "
                f"{t.dropout_rate}, eventual advance {t.advance_probability}, mean time "
                f"{t.mean_time_in_stage} ({t.status})"
            )
        lines.extend(f"  note: {n}" for n in self.notes)
        if self.covariates is not None:
            lines.append(self.covariates.as_text())
        return "\n".join(lines)

    def as_html(self) -> str:
        html = html_table([t.record() for t in self.transitions], caption=self.title)
        return html if self.covariates is None else html + self.covariates.as_html()


class StageReach(Result):
    """Probability of ever reaching ``target`` from each earlier stage, and the time it takes.

    ``expected_time`` is the mean time *among those who reach the target*: the unconditional
    mean is infinite whenever some customers go dormant first.
    """

    title: ClassVar[str] = "Reaching a stage"
    target: str
    segment: str | None = None
    time_unit: TimeUnitField
    conf_level: float
    probability: dict[str, Estimate]
    expected_time: dict[str, Estimate]

    def summary(self, backend: Backend = "pandas") -> Any:
        """One row per starting stage and quantity (``probability``, ``expected_time``).

        Columns ``from_stage, quantity, estimate, std_error, lower, upper``; missing values
        where a number is not estimable.
        """
        rows = [
            (stage, quantity, getattr(self, quantity)[stage])
            for stage in self.probability
            for quantity in ("probability", "expected_time")
        ]
        columns: dict[str, np.ndarray] = {
            "from_stage": np.array([r[0] for r in rows], dtype=object),
            "quantity": np.array([r[1] for r in rows], dtype=object),
        }
        for name in _ESTIMATE_COLUMNS:
            values = [getattr(r[2], name) for r in rows]
            columns[name] = np.array([np.nan if v is None else v for v in values], dtype=float)
        return frame_from_columns(columns, backend)

    def _display_items(self) -> list[tuple[str, Any]]:
        rows = {
            stage: f"P = {self.probability[stage]}; time if reached = {self.expected_time[stage]}"
            for stage in self.probability
        }
        head = [("target", self.target)]
        if self.segment is not None:
            head.append(("segment", self.segment))
        return [*head, *rows.items()]
