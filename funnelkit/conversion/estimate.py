"""Build one :class:`TransitionEstimate` from durations and conversion flags."""

from __future__ import annotations

import contextlib
import hashlib
import math
from collections import OrderedDict
from collections.abc import Sequence

import numpy as np

from funnelkit._results import Interval
from funnelkit.conversion._interval import Pair, as_interval
from funnelkit.conversion.cure import fit_cure_model
from funnelkit.conversion.cure_result import CureFit
from funnelkit.conversion.delay import DelayName
from funnelkit.conversion.kaplan_meier import (
    CIMethod,
    KaplanMeierArrays,
    KaplanMeierCurve,
    kaplan_meier,
)
from funnelkit.conversion.results import ModelName, TimeQuantile, TransitionEstimate
from funnelkit.exceptions import FunnelkitError
from funnelkit.intervals import wilson_interval
from funnelkit.units import TimeUnit

__all__ = [
    "MIN_CONVERSIONS",
    "check_windows",
    "estimate_transition",
    "km_time_quantile",
    "supported_fits",
    "with_window_note",
]

#: Fewer conversions than this and no parametric delay distribution is fitted.
MIN_CONVERSIONS = 5
#: Warn about extrapolation when the model puts more than this share of eventual
#: conversions after the longest follow-up.
EXTRAPOLATION_SHARE = 0.1
#: Fewer conversions than this and "auto" does not try the two-component delay (five delay
#: parameters need both modes to be well populated).
MIN_MIXTURE_CONVERSIONS = 50
#: "auto" fits the two-component delay as well when the best single family's distance to
#: the Kaplan-Meier curve exceeds this multiple of the Kolmogorov-Smirnov 5% critical value
#: ``1.36 / sqrt(n)`` (twice it: censoring makes the Kaplan-Meier curve noisier than an
#: empirical CDF, and a correct single family must not be displaced by a mixture).
GOF_FACTOR = 2.0
#: A family whose AIC exceeds the best converged family's by more than this has essentially
#: no support from the data (Burnham & Anderson 2002, section 2.6) and is never a fallback.
AIC_SUPPORT = 10.0


def check_windows(windows: object, stage_names: Sequence[str], name: str) -> dict[str, float]:
    """The ``windows`` setting as ``{target stage: window}``, or a clear error."""
    if windows is None:
        return {}
    if not isinstance(windows, dict) or not all(
        isinstance(k, str) and isinstance(v, float | int) and not isinstance(v, bool)
        for k, v in windows.items()
    ):
        raise FunnelkitError(
            f"The 'windows' parameter of {name} must map stage names to durations, e.g. "
            f"windows={{'buyer': 30}} or windows=funnel.windows. Got {windows!r} instead."
        )
    unknown = [k for k in windows if k not in stage_names]
    if unknown:
        raise FunnelkitError(
            f"The 'windows' parameter of {name} names stages the journeys lack: {unknown}; "
            f"stages are {list(stage_names)}."
        )
    bad = {k: v for k, v in windows.items() if not (math.isfinite(v) and v > 0)}
    if bad:
        raise FunnelkitError(
            f"The 'windows' parameter of {name} needs positive finite durations. Got {bad}."
        )
    return {k: float(v) for k, v in windows.items()}


def with_window_note(estimate: TransitionEstimate, window: float) -> TransitionEstimate:
    """``estimate`` with a note naming its estimand: the rate within the stage's window.

    The funnel counts the step only within ``window`` of entering the source, so a
    conversion after it is no conversion: the question the step answers is
    ``rate_within(window)`` (Kaplan-Meier inside the follow-up), not an unbounded rate.
    """
    rate = estimate.rate_within(window)
    unit = estimate.time_unit.value
    if rate.rate is None:
        said = "not estimable"
    else:
        said = f"{rate.rate:.3f}"
        if rate.rate_ci is not None:
            said += f" ({rate.rate_ci.lower:.3f}-{rate.rate_ci.upper:.3f})"
    note = (
        f"{estimate.label}: the funnel counts this step only within {window:g} {unit}(s) of "
        f"entering {estimate.source!r}; its estimand is rate_within({window:g}) = {said}"
    )
    return estimate.model_copy(update={"notes": (*estimate.notes, note)})


def estimate_transition(
    durations: np.ndarray,
    converted: np.ndarray,
    *,
    source: str,
    target: str,
    segment: str | None,
    time_unit: TimeUnit,
    model: str,
    conf_level: float,
    ci_method: CIMethod,
    quantiles: Sequence[float],
) -> TransitionEstimate:
    """Naive rate, Kaplan-Meier curve and (unless ``model="kaplan-meier"``) cure model fits.

    ``model`` is ``"auto"`` (exponential, Weibull and log-normal delays, and the
    two-component log-normal delay when none of them follows the Kaplan-Meier curve; the
    lowest AIC among
    the fits consistent with Kaplan-Meier wins), one distribution name, or
    ``"kaplan-meier"``.
    """
    n = int(durations.size)
    n_conv = int(np.count_nonzero(converted))
    notes: list[str] = []
    km = kaplan_meier(durations, converted, conf_level=conf_level, ci_method=ci_method)
    curve = KaplanMeierCurve.from_arrays(km, conf_level=conf_level, ci_method=ci_method)
    plateau: float | None = None
    plateau_ci: Pair | None = None
    plateau_se: float | None = None
    if n and n_conv:
        plateau = float(km.rate[-1])
        lo, hi = km.lower[-1], km.upper[-1]
        plateau_ci = None if math.isnan(lo) or math.isnan(hi) else (float(lo), float(hi))
        # Greenwood: var F = S^2 * sum d / (r (r - d)); not estimable once S reaches 0
        se = (1.0 - plateau) * math.sqrt(float(km.greenwood[-1]))
        plateau_se = se if math.isfinite(se) and plateau < 1.0 else None
    elif n:
        plateau = 0.0
    if n == 0:
        notes.append(f"nobody entered {source!r}")
    elif n_conv == 0:
        if km.max_followup == 0.0:
            notes.append(f"every entrant of {source!r} is censored at time zero: no follow-up")
        notes.append(f"no conversions to {target!r} observed: the eventual rate is not estimable")

    fits, good = supported_fits(
        durations, converted, km, plateau=plateau, model=model, time_unit=time_unit, notes=notes
    )
    chosen = _best(good)
    if chosen is None and fits:
        notes.append(
            "no cure model converged"
            if not any(f.converged for f in fits.values())
            else "no cure model the data support is consistent with the Kaplan-Meier curve"
        )
        notes[-1] += "; Kaplan-Meier estimates are reported"

    eventual: float | None
    eventual_ci: Pair | Interval | None
    eventual_se: float | None = None
    used: ModelName
    if chosen is not None:
        used = chosen.distribution
        if chosen.p_fixed:
            # Nobody followed past time 0 is still waiting: the likelihood is largest at
            # p = 1. Its interval is Wilson's for n_conv successes in the n_conv customers
            # followed (upper end exactly 1), not for all entrants: those censored at 0
            # were never observed and the estimate must lie inside its own interval.
            eventual, eventual_ci = 1.0, wilson_interval(n_conv, n_conv, conf_level=conf_level)
            unseen = n - n_conv
            notes.append(
                "every entrant converted: the eventual rate is fixed at 1"
                if unseen == 0
                else f"{unseen} entrant(s) censored at time 0 carry no information and every "
                "other entrant converted: the eventual rate is estimated at 1"
            )
        else:
            eventual = chosen.eventual_rate
            eventual_ci = chosen.eventual_rate_interval(conf_level)
            eventual_se = chosen.eventual_rate_std_error
        q_times = [
            TimeQuantile(level=q, time=t, time_ci=as_interval(ci, t, conf_level))
            for q in quantiles
            for t, ci in [chosen.delay_quantile(q, conf_level=conf_level)]
        ]
        reached = float(chosen.delay_cdf(np.array([km.max_followup]))[0])
        if 1.0 - reached > EXTRAPOLATION_SHARE:
            notes.append(
                f"extrapolation: the {used} model expects {1.0 - reached:.0%} of eventual "
                f"conversions after the longest follow-up ({km.max_followup:.3g} "
                f"{time_unit.value}s)"
            )
    else:
        used = "kaplan-meier"
        eventual = plateau if n_conv else None
        eventual_ci = plateau_ci if n_conv else None
        eventual_se = plateau_se if n_conv else None
        q_times = [
            TimeQuantile(level=q, time=t, time_ci=as_interval(ci, t, conf_level))
            for q in quantiles
            for t, ci in [km_time_quantile(curve, q)]
        ]
        if n_conv:
            notes.append(
                "the Kaplan-Meier plateau is the eventual rate only if follow-up is long "
                "enough for everyone who will convert to have done so (Maller & Zhou 1996)"
            )
    median = next((tq for tq in q_times if math.isclose(tq.level, 0.5)), None)
    if median is None:
        (median,) = [
            TimeQuantile(level=0.5, time=t, time_ci=as_interval(ci, t, conf_level))
            for t, ci in [
                chosen.delay_quantile(0.5, conf_level=conf_level)
                if chosen is not None
                else km_time_quantile(curve, 0.5)
            ]
        ]
    naive = n_conv / n if n else None
    return TransitionEstimate(
        source=source,
        target=target,
        segment=segment,
        time_unit=time_unit,
        conf_level=conf_level,
        n_entered=n,
        n_converted=n_conv,
        n_censored=n - n_conv,
        naive_rate=naive,
        naive_rate_ci=as_interval(
            wilson_interval(n_conv, n, conf_level=conf_level), naive, conf_level
        ),
        eventual_rate=eventual,
        eventual_rate_ci=as_interval(eventual_ci, eventual, conf_level),
        eventual_rate_std_error=eventual_se,
        median_time=median.time,
        median_time_ci=median.time_ci,
        time_quantiles=tuple(q_times),
        model=used,
        model_aic={k: (f.aic if f.converged else None) for k, f in fits.items()},
        cure_fit=chosen,
        km_plateau_rate=plateau,
        km_plateau_rate_ci=as_interval(plateau_ci, plateau, conf_level),
        max_followup=km.max_followup if n else None,
        curve=curve,
        notes=tuple(notes),
    )


def supported_fits(
    durations: np.ndarray,
    converted: np.ndarray,
    km: KaplanMeierArrays,
    *,
    plateau: float | None,
    model: str,
    time_unit: TimeUnit,
    notes: list[str],
) -> tuple[dict[str, CureFit], dict[str, CureFit]]:
    """Every cure model fitted for ``model``, and those the data support.

    Supported: converged, within :data:`AIC_SUPPORT` of the best AIC, eventual rate not
    below the Kaplan-Meier conversion observed (the lowest AIC among them is the model
    reported). ``"auto"`` fits the three single families, and the two-component delay when
    none of them follows the Kaplan-Meier curve. Notes are appended to ``notes``.

    The answers are deterministic: the last few are kept by the content of the durations and
    flags, so the same transition on the same entrants is fitted once however many steps ask.
    """
    key = _content_key(durations, converted, plateau, model, time_unit)
    kept = _FITS.get(key)  # one lookup: another thread may drop the key in between
    if kept is not None:
        with contextlib.suppress(KeyError):
            _FITS.move_to_end(key)
        fits, good, added = kept
        notes.extend(added)
        return dict(fits), dict(good)
    mine: list[str] = []
    fits, good = _supported_fits(
        durations, converted, km, plateau=plateau, model=model, time_unit=time_unit, notes=mine
    )
    notes.extend(mine)
    _FITS[key] = (dict(fits), dict(good), tuple(mine))
    while len(_FITS) > _FITS_SIZE:
        with contextlib.suppress(KeyError):
            _FITS.popitem(last=False)
    return fits, good


#: supported_fits' answers by the content of their input (the fits are small; the report fits
#: the same transitions on the same entrants in several places: the stage conversion, the
#: channel table's pooled fits), least recently used first
_FITS: OrderedDict[bytes, tuple[dict[str, CureFit], dict[str, CureFit], tuple[str, ...]]] = (
    OrderedDict()
)
_FITS_SIZE = 64


def _content_key(
    durations: np.ndarray,
    converted: np.ndarray,
    plateau: float | None,
    model: str,
    time_unit: TimeUnit,
) -> bytes:
    """A digest of everything :func:`supported_fits` answers from (the Kaplan-Meier arrays
    and the plateau are functions of the durations and flags)."""
    digest = hashlib.blake2b(digest_size=32)
    digest.update(np.ascontiguousarray(durations, dtype=np.float64).tobytes())
    digest.update(np.ascontiguousarray(converted, dtype=np.bool_).tobytes())
    digest.update(repr((int(durations.size), plateau, model, time_unit.value)).encode())
    return digest.digest()


def _supported_fits(
    durations: np.ndarray,
    converted: np.ndarray,
    km: KaplanMeierArrays,
    *,
    plateau: float | None,
    model: str,
    time_unit: TimeUnit,
    notes: list[str],
) -> tuple[dict[str, CureFit], dict[str, CureFit]]:
    n = int(durations.size)
    n_conv = int(np.count_nonzero(converted))
    fits: dict[str, CureFit] = {}
    candidates: list[DelayName] = (
        ["exponential", "weibull", "lognormal"]
        if model == "auto"
        else ([] if model == "kaplan-meier" else [model])  # type: ignore[list-item]
    )
    if candidates and 0 < n_conv < MIN_CONVERSIONS:
        notes.append(
            f"only {n_conv} conversion(s): too few to fit a delay distribution "
            f"(at least {MIN_CONVERSIONS} needed); Kaplan-Meier estimates are reported"
        )
    if n_conv >= MIN_CONVERSIONS:
        fits = _fitted(candidates, durations, converted, plateau, km, notes)
    if model == "auto" and n_conv >= MIN_MIXTURE_CONVERSIONS:
        tolerance = GOF_FACTOR * 1.36 / math.sqrt(n)
        best = _best(_consistent_with_km(fits, km, time_unit, []))
        distance = None if best is None else best.km_distance
        if distance is None or distance > tolerance:
            notes.append(
                "no single-shape delay follows the Kaplan-Meier curve "
                + ("consistently" if distance is None else f"(distance {distance:.3f})")
                + ": a two-component delay was fitted as well"
            )
            fits.update(_fitted(["lognormal-mixture"], durations, converted, plateau, km, notes))
    return fits, _consistent_with_km(fits, km, time_unit, notes)


def _fitted(
    names: Sequence[DelayName],
    durations: np.ndarray,
    converted: np.ndarray,
    plateau: float | None,
    km: KaplanMeierArrays,
    notes: list[str],
) -> dict[str, CureFit]:
    """Cure model fits, each converged one with its distance to the Kaplan-Meier curve."""
    fits: dict[str, CureFit] = {}
    for name in names:
        fit = fit_cure_model(durations, converted, name, plateau=plateau)
        if fit.converged:
            fit = fit.model_copy(update={"km_distance": fit.distance_to(km.times, km.rate)})
        else:
            notes.append(f"the {name} cure model did not converge: {fit.message}")
        fits[name] = fit
    return fits


def _best(fits: dict[str, CureFit]) -> CureFit | None:
    return min(fits.values(), key=lambda f: f.aic) if fits else None


def _consistent_with_km(
    fits: dict[str, CureFit], km: KaplanMeierArrays, time_unit: TimeUnit, notes: list[str]
) -> dict[str, CureFit]:
    """The converged fits whose eventual rate is not below what has already been observed.

    Kaplan-Meier's conversion at the end of follow-up is a share that has converted already;
    an eventual rate below it contradicts the data (typically a single-shape delay forced
    onto delays with several modes, whose fit trades the late converters for the early
    ones). Such a fit is set aside with a note, so that another family the data support
    (within :data:`AIC_SUPPORT` of the best AIC), or Kaplan-Meier, answers instead.
    """
    observed = float(km.rate[-1]) if km.rate.size else 0.0
    # The Kaplan-Meier end value is itself an estimate: a correct model's eventual rate falls
    # just below it about half the time when few are still at risk. Below the lower end of
    # its band the data contradict the model; where the band does not exist (the curve
    # reached 1) the value itself is the bound. 1e-9 absorbs the optimiser's last digits.
    lower = float(km.lower[-1]) if km.lower.size else 0.0
    bound = (lower if np.isfinite(lower) else observed) * (1.0 - 1e-9)
    best_aic = min((f.aic for f in fits.values() if f.converged), default=math.inf)
    good: dict[str, CureFit] = {}
    for name, fit in fits.items():
        if not fit.converged:
            continue
        if fit.aic - best_aic > AIC_SUPPORT:
            # a family the data reject against the best one is no fallback: when the best
            # is set aside below, Kaplan-Meier answers rather than a far worse family
            continue
        if fit.eventual_rate < bound:
            notes.append(
                f"the {name} cure model's eventual rate {fit.eventual_rate:.3f} is below the "
                f"Kaplan-Meier conversion {observed:.3f} (lower bound {bound:.3f}) already "
                f"observed by the end of follow-up ({km.max_followup:.3g} "
                f"{time_unit.value}s): it is not used"
            )
            continue
        good[name] = fit
    return good


def km_time_quantile(curve: KaplanMeierCurve, q: float) -> tuple[float | None, Pair | None]:
    """Time by which a share ``q`` of the converters seen by the longest follow-up converted.

    The interval inverts the pointwise band, holding the plateau fixed (so it ignores the
    plateau's own uncertainty); an end is None when the band never reaches the level.
    """
    times, rate, lower, upper = curve.arrays
    if rate.size == 0:
        return None, None
    level = q * rate[-1] * (1.0 - 1e-12)
    hit = np.flatnonzero(rate >= level)
    time = float(times[hit[0]])
    first_upper = np.flatnonzero(upper >= level)  # NaN compares False
    first_lower = np.flatnonzero(lower >= level)
    if first_upper.size == 0 or first_lower.size == 0:
        return time, None
    return time, (float(times[first_upper[0]]), float(times[first_lower[0]]))
