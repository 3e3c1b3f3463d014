"""Kaplan-Meier cumulative conversion with Greenwood and log-log confidence bands.

The cumulative conversion by time ``t`` after entering a stage is ``F(t) = 1 - S(t)``, where
``S`` is the Kaplan-Meier "not yet converted" curve. Everything is vectorised: one sort, then
cumulative sums over the distinct conversion times.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel

from funnelkit._floating import underflow_is_zero
from funnelkit._results import Result
from funnelkit.intervals import normal_quantile

__all__ = ["CIMethod", "KaplanMeierArrays", "KaplanMeierCurve", "kaplan_meier"]

CIMethod = Literal["log-log", "linear"]

#: Beyond exp(700) the log-log band's lower survival end is exactly 0 in double precision.
_LOG_MAX_EXP = 700.0


@dataclass(frozen=True)
class KaplanMeierArrays:
    """The Kaplan-Meier estimate at each distinct conversion time (numpy arrays).

    ``rate[j]`` is the cumulative conversion just after ``times[j]``; ``lower``/``upper`` are its
    pointwise band, NaN where the band is not estimable (after the curve reaches 1).
    """

    times: np.ndarray
    n_at_risk: np.ndarray
    n_converted: np.ndarray
    rate: np.ndarray
    greenwood: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    n_entered: int
    max_followup: float


@underflow_is_zero
def kaplan_meier(
    durations: np.ndarray,
    converted: np.ndarray,
    *,
    conf_level: float = 0.95,
    ci_method: CIMethod = "log-log",
    weights: np.ndarray | None = None,
) -> KaplanMeierArrays:
    """Kaplan-Meier estimate of the cumulative conversion ``F(t) = 1 - S(t)``.

    At a time where some customers convert and others are censored, the conversions are
    counted first (the censored are still at risk), as in lifelines and most software.

    Parameters
    ----------
    durations
        Time from entering the source stage to converting, or to censoring.
    converted
        Whether the customer converted (else censored at ``durations``).
    conf_level
        Level of the pointwise band.
    ci_method
        ``"log-log"`` (default; the "exponential Greenwood" band, always inside [0, 1], as
        lifelines) or ``"linear"`` (Greenwood's variance, a symmetric band clipped to [0, 1]).
    weights
        How many times each customer counts (whole numbers >= 0, e.g. bootstrap counts): the
        same curve as the rows repeated, without the copies. Default: each once.

    Examples
    --------
    >>> km = kaplan_meier(np.array([1.0, 2.0, 2.0, 3.0]), np.array([True, True, False, False]))
    >>> km.times.tolist(), km.rate.round(3).tolist()
    ([1.0, 2.0], [0.25, 0.5])

    References
    ----------
    Kaplan, E. L. & Meier, P. (1958). Nonparametric estimation from incomplete observations.
    *JASA* 53(282), 457-481.
    Greenwood, M. (1926). The natural duration of cancer. *Reports on Public Health and Medical
    Subjects* 33, 1-26.
    Kalbfleisch, J. D. & Prentice, R. L. (2002). *The Statistical Analysis of Failure Time
    Data*, 2nd ed., section 1.3 (the log-log band). Wiley.
    """
    from funnelkit.conversion.cure_likelihood import weighted_rows

    t, e, w = weighted_rows(durations, converted, weights)
    n = t.size
    if n == 0:
        empty = np.empty(0)
        return KaplanMeierArrays(empty, empty, empty, empty, empty, empty, empty, 0, 0.0)
    if w is None:
        # Two plain sorts (all durations, conversion times) beat an argsort + gathers.
        everyone = np.sort(t)
        events = np.sort(t[e])
        first = np.flatnonzero(np.concatenate(([events.size > 0], events[1:] != events[:-1])))
        times = events[first]
        conversions = np.diff(np.append(first, events.size))
        # at risk at t: everyone whose duration is >= t (censored at t still count, as lifelines)
        at_risk = n - np.searchsorted(everyone, times, side="left")
    else:
        times, conversions, at_risk, everyone = _weighted_counts(t, e, w)
        n = round(float(w.sum()))
    d, r = conversions.astype(float), at_risk.astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_surv = np.cumsum(np.log1p(-d / r))
        greenwood = np.cumsum(d / (r * (r - d)))
    survival = np.exp(log_surv)
    lower_s, upper_s = _survival_band(survival, greenwood, normal_quantile(conf_level), ci_method)
    return KaplanMeierArrays(
        times=times,
        n_at_risk=at_risk,
        n_converted=conversions,
        rate=1.0 - survival,
        greenwood=greenwood,
        lower=1.0 - upper_s,
        upper=1.0 - lower_s,
        n_entered=n,
        max_followup=float(everyone[-1]),
    )


def _weighted_counts(
    t: np.ndarray, e: np.ndarray, w: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Conversion times, weighted conversions and at-risk counts, and the sorted durations."""
    order = np.argsort(t, kind="stable")
    everyone, w_sorted = t[order], w[order]
    # weight at risk at x: the weight of every duration >= x
    tail = np.concatenate((np.cumsum(w_sorted[::-1])[::-1], [0.0]))
    converting = e[order]
    events, w_events = everyone[converting], w_sorted[converting]
    first = np.flatnonzero(np.concatenate(([events.size > 0], events[1:] != events[:-1])))
    times = events[first]
    conversions = np.add.reduceat(w_events, first) if first.size else np.zeros(0)
    at_risk = tail[np.searchsorted(everyone, times, side="left")]
    return times, np.rint(conversions).astype(np.int64), np.rint(at_risk).astype(np.int64), everyone


def _survival_band(
    survival: np.ndarray, greenwood: np.ndarray, z: float, method: CIMethod
) -> tuple[np.ndarray, np.ndarray]:
    estimable = (survival > 0.0) & np.isfinite(greenwood)
    lower = np.full(survival.shape, np.nan)
    upper = np.full(survival.shape, np.nan)
    s, g = survival[estimable], greenwood[estimable]
    if method == "linear":
        half = z * s * np.sqrt(g)
        lower[estimable] = np.clip(s - half, 0.0, 1.0)
        upper[estimable] = np.clip(s + half, 0.0, 1.0)
    else:
        # log(-log S) is roughly normal with sd sqrt(greenwood) / |log S| (Kalbfleisch &
        # Prentice 2002, section 1.3). The band S^exp(+/- z sd) is computed as
        # exp(log S * exp(+/- z sd)): on this scale an end can only saturate at 0 or 1,
        # never overflow. S == 1 exactly (log S == 0) leaves the band at 1.
        log_s = np.log(s)
        with np.errstate(divide="ignore", invalid="ignore"):
            spread = np.where(log_s < 0.0, z * np.sqrt(g) / -log_s, 0.0)
        widen = np.exp(np.minimum(spread, _LOG_MAX_EXP))
        lower[estimable] = np.exp(log_s * widen)
        upper[estimable] = np.exp(log_s / widen)
    return lower, upper


def _nullable(values: np.ndarray) -> tuple[float | None, ...]:
    out = values.tolist()
    # NaN (a band that is not estimable) is rare: replacing the few NaN in the list beats
    # converting every value to an object.
    for j in np.flatnonzero(np.isnan(values)).tolist():
        out[j] = None
    return tuple(out)


_CI_METHODS = ("log-log", "linear")


class KaplanMeierCurve(Result):
    """A Kaplan-Meier cumulative conversion curve, stored at its distinct conversion times.

    ``rate[j]`` is the share converted by ``times[j]`` (the curve is a right-continuous step
    function, 0 before the first conversion); ``lower``/``upper`` hold the pointwise band at
    ``conf_level`` (None where not estimable, i.e. once everybody still at risk converted).
    """

    title = "Kaplan-Meier cumulative conversion"

    times: tuple[float, ...]
    rate: tuple[float, ...]
    lower: tuple[float | None, ...]
    upper: tuple[float | None, ...]
    n_at_risk: tuple[int, ...]
    n_converted: tuple[int, ...]
    max_followup: float
    conf_level: float
    ci_method: CIMethod

    @classmethod
    def from_arrays(
        cls, km: KaplanMeierArrays, *, conf_level: float, ci_method: CIMethod
    ) -> KaplanMeierCurve:
        """The curve of :func:`kaplan_meier`'s arrays.

        The arrays are float and integer numpy arrays of one length by construction, so their
        values are stored without pydantic re-validating each of them (a curve on continuous
        durations has a value per customer). Anything else goes through pydantic's validation.
        """
        times = np.asarray(km.times, dtype=float)
        fields = (km.rate, km.lower, km.upper, km.n_at_risk, km.n_converted)
        plain = (
            ci_method in _CI_METHODS
            and isinstance(conf_level, float | int)
            and not isinstance(conf_level, bool)
            and all(isinstance(a, np.ndarray) and a.shape == times.shape for a in fields)
            and km.n_at_risk.dtype.kind in "iu"
            and km.n_converted.dtype.kind in "iu"
        )
        values: dict[str, Any] = {
            "times": tuple(times.tolist()),
            "rate": tuple(np.asarray(km.rate, dtype=float).tolist()),
            "lower": _nullable(np.asarray(km.lower, dtype=float)),
            "upper": _nullable(np.asarray(km.upper, dtype=float)),
            "n_at_risk": tuple(np.asarray(km.n_at_risk).tolist()),
            "n_converted": tuple(np.asarray(km.n_converted).tolist()),
        }
        if not plain:
            return cls(
                **values,
                max_followup=km.max_followup,
                conf_level=conf_level,
                ci_method=ci_method,
            )
        curve = cls.model_construct(
            **values,
            max_followup=float(km.max_followup),
            conf_level=float(conf_level),
            ci_method=ci_method,
        )
        # the float arrays the tuples were made of are ``arrays``: kept rather than rebuilt
        # from a million Python floats later (NaN where the band is missing, as there)
        curve.__dict__["arrays"] = tuple(
            np.array(a, dtype=float) for a in (times, km.rate, km.lower, km.upper)
        )
        return curve

    def __eq__(self, other: object) -> bool:
        # ``arrays`` caches numpy arrays in the instance dict, where pydantic's quick
        # comparison of the whole dict would ask an array for its truth value: compare the
        # fields alone, as pydantic means to.
        if not isinstance(other, BaseModel):
            return NotImplemented
        return type(other) is type(self) and all(
            getattr(self, name) == getattr(other, name) for name in type(self).model_fields
        )

    @cached_property
    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """``(times, rate, lower, upper)`` as float arrays (NaN where the band is missing)."""
        return (
            np.asarray(self.times, dtype=float),
            np.asarray(self.rate, dtype=float),
            np.asarray(self.lower, dtype=float),  # None becomes NaN
            np.asarray(self.upper, dtype=float),
        )

    def rate_at(self, at: float) -> tuple[float, tuple[float, float] | None]:
        """Cumulative conversion by time ``at`` and its band (None if not estimable)."""
        j = int(np.searchsorted(self.arrays[0], at, side="right")) - 1
        if j < 0:
            # No conversion yet: the estimate is 0 but Greenwood's variance is 0 as well.
            return 0.0, None
        lo, hi = self.lower[j], self.upper[j]
        return self.rate[j], None if lo is None or hi is None else (lo, hi)

    def as_text(self) -> str:
        final = self.rate[-1] if self.rate else 0.0
        return (
            f"{self.title}: {len(self.times)} conversion times, "
            f"{final:.4g} converted by {self.max_followup:.4g}"
        )

    def as_html(self) -> str:
        return f"<p>{self.as_text()}</p>"
