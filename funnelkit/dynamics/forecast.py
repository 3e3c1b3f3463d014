"""Stage-count forecasts from a fitted :class:`StageMarkovFitter`.

Each of today's customers is in the highest stage they reached, for ``d`` already. Memoryless
sojourns make their future depend only on the stage and on whether they are still active,
which has posterior probability ``π(d)``; so every per-customer probability is affine in
``π``, and the expected counts and Poisson-binomial variances of a stage group need only
``n``, ``Σπ`` and ``Σπ²``. Transition probabilities come from the matrix exponential of the
generator (:mod:`funnelkit.dynamics.chain`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from funnelkit.dynamics._validation import WEAK_LOG_SE, check_censoring, check_conf_level
from funnelkit.dynamics.chain import generator, grid_transitions, quantity_matrix
from funnelkit.dynamics.forecast_result import StageForecast
from funnelkit.dynamics.results import StageMarkovResult
from funnelkit.dynamics.semi_markov import semi_markov_forecast
from funnelkit.dynamics.state import StageIntensities, intensities_of, stage_index
from funnelkit.exceptions import DataError, FunnelkitError
from funnelkit.intervals import normal_quantile
from funnelkit.journeys import Journeys
from funnelkit.units import TimeUnit, TimeUnitLike, convert_duration

if TYPE_CHECKING:
    from funnelkit.dynamics.markov import StageMarkovFitter

__all__ = ["CustomerState", "DelayChoice", "customer_state", "forecast_stages"]

#: How the forecast models the time to advance: the supported delay per transition
#: (semi-Markov) or the exponential (Markov) everywhere.
DelayChoice = Literal["auto", "exponential"]

#: Statuses whose advance rate is known (the drop-out rate may still be unknown).
_INTERVAL_METHOD = (
    "normal approximation with variance = Poisson-binomial variance of the per-customer "
    "outcomes (plus Poisson variance of the inflow) at the estimates + variance of the expected "
    "count across {n} draws of the intensities from their asymptotic normal distribution (log "
    "scale; natural scale truncated at 0 for weakly identified stages; half-normal up to the "
    "profile-likelihood bound for drop-out rates estimated at 0)"
)


@dataclass(frozen=True)
class CustomerState:
    """Where each customer is now: segment index, stage index (-1: none) and time in it."""

    segment: np.ndarray
    stage: np.ndarray
    duration: np.ndarray


def customer_state(result: StageMarkovResult, journeys: Journeys) -> CustomerState:
    """Current stage (highest reached), time spent in it, and segment of every customer."""
    if not isinstance(journeys, Journeys):
        raise FunnelkitError(f"Expected Journeys, got {type(journeys).__name__}.")
    if journeys.stage_names != result.stage_names:
        raise DataError(
            f"These journeys have stages {list(journeys.stage_names)} but the model was fitted "
            f"on {list(result.stage_names)}; build them with the same funnel."
        )
    check_censoring(journeys)
    scale = convert_duration(1.0, journeys.time_unit, result.time_unit)
    reached = ~np.isnan(journeys.entry_times)
    n_stage = reached.shape[1]
    stage = np.where(reached.any(axis=1), n_stage - 1 - np.argmax(reached[:, ::-1], axis=1), -1)
    rows = np.arange(len(journeys))
    entry = journeys.entry_times[rows, np.maximum(stage, 0)]
    duration = np.where(stage >= 0, (journeys.censoring_times - entry) * scale, np.nan)
    segment = np.zeros(len(journeys), dtype=np.int64)
    if result.segments is not None:
        by = result.by
        if by not in journeys.attributes:
            raise DataError(
                f"The model was fitted by={by!r} but these journeys have no such attribute "
                f"(they have {list(journeys.attributes)})."
            )
        values = np.asarray(journeys.attributes[by]).astype(str)
        known = np.isin(values, result.segments)
        if not known.all():
            unseen = np.unique(values[~known & (stage >= 0)])
            if unseen.size:
                raise DataError(
                    f"{int((~known & (stage >= 0)).sum())} customers are in segments the model "
                    f"never saw ({unseen[:5].tolist()}); refit on data that includes them."
                )
        segment = np.searchsorted(np.asarray(result.segments), values)
        segment = np.where(known, segment, 0)
    return CustomerState(segment=segment, stage=stage, duration=duration)


def forecast_stages(
    model: StageMarkovResult | StageMarkovFitter,
    journeys: Journeys,
    *,
    horizon: float,
    time_unit: TimeUnitLike | None = None,
    inflow: float | Mapping[str, float] | None = None,
    inflow_stage: str | None = None,
    n_points: int = 51,
    conf_level: float = 0.95,
    n_resamples: int = 200,
    seed: int | np.random.Generator | None = 0,
    n_draws: int | None = None,
    delays: DelayChoice | None = None,
) -> StageForecast:
    """Forecast stage counts of today's customers (and optional new arrivals) over time.

    Parameters
    ----------
    model : StageMarkovResult or StageMarkovFitter
        A fitted model's result (``fitter.result_``, also after loading it from JSON), or
        the fitted model itself.
    journeys : Journeys
        Today's customers (same funnel); each is in the highest stage they reached, for the
        time since entering it up to their censoring time, which is "now".
    horizon : float
        How far ahead, in ``time_unit``.
    time_unit : TimeUnit or str, optional
        Unit of ``horizon`` and ``inflow``; default the unit the model was fitted in.
    inflow : float or mapping, optional
        Expected new customers per ``time_unit`` entering ``inflow_stage``, as a Poisson
        process (a mapping segment → rate when the model was fitted ``by=``).
    inflow_stage : str, optional
        Stage new customers enter (default the first).
    n_points : int, default 51
        Points of the forecast curve, from now to the horizon.
    conf_level : float, default 0.95
        Level of the prediction intervals.
    n_resamples : int, default 200
        Draws of the intensities for parameter uncertainty (0: sampling variance only).
    seed : int or Generator, optional
        Seed of those draws, so that a forecast is reproducible.
    n_draws : int, optional
        Former name of ``n_resamples``, kept as an alias.
    delays : {"auto", "exponential"}, optional
        ``"auto"``: each transition follows the delay model its data support (the cure
        model ``ConversionFitter(model="auto")`` chooses, stored in ``result.delays`` by
        ``StageMarkovFitter(delays="auto")``), and each customer's time in stage is
        conditioned on under that model (semi-Markov,
        :mod:`funnelkit.dynamics.semi_markov`); a transition where Kaplan-Meier answers uses
        its exponential stage. There a customer still in a stage is *active* when they will
        still advance (a cure model has no time of becoming dormant). ``"exponential"``: the
        Markov model, memoryless delays everywhere. Default: ``"auto"`` when the result
        holds delays, else ``"exponential"``.

    Returns
    -------
    StageForecast
        ``reached``: expected number who will have reached each stage by the horizon;
        ``occupancy``: expected number active in exactly that stage (everyone in the last
        stage counts); ``dormant``: expected number who have silently left; the same as curves
        over time, each with prediction intervals. Values that depend on an intensity that is
        not estimable are None.

    Notes
    -----
    Prediction intervals are normal approximations. Their variance adds (i) the
    Poisson-binomial variance of the per-customer outcomes at the estimated intensities
    (customers are independent given the intensities; arrivals are Poisson, so their counts are
    Poisson) and (ii) the variance of the expected count across ``n_resamples`` draws of the
    intensities from their asymptotic normal distribution (law of total variance): on the log
    scale, or on the natural scale truncated at 0 for a stage whose log-scale standard error
    exceeds 1 (an intensity barely distinguishable from 0), half-normal up to its
    profile-likelihood bound for a drop-out rate estimated at 0. The lower bound of a reached
    count never falls below today's count.
    """
    result = model if isinstance(model, StageMarkovResult) else model.result_
    fitted = intensities_of(result)
    n_resamples = _resamples(n_resamples, n_draws)
    check_conf_level(conf_level, "StageMarkovFitter.forecast")
    unit = result.time_unit if time_unit is None else TimeUnit.parse(time_unit)
    horizon_fit = _check_horizon(horizon, unit, result.time_unit)
    if not isinstance(n_points, int | np.integer) or n_points < 2:
        raise FunnelkitError(f"n_points must be an integer >= 2. Got {n_points!r} instead.")
    _check_seed(seed)
    names = result.stage_names
    n_stage, n_seg = len(names), fitted.n_segments
    entry = 0 if inflow_stage is None else stage_index(result, inflow_stage)
    inflow_per_unit = _inflow_rates(result, inflow, n_seg)  # per `unit`, as the caller said
    rates = inflow_per_unit * convert_duration(1.0, result.time_unit, unit)  # per fitted unit

    if delays is None:
        delays = "exponential" if result.delays is None else "auto"
    if delays not in ("auto", "exponential"):
        raise FunnelkitError(
            "The 'delays' parameter of StageMarkovFitter.forecast must be 'auto' or "
            f"'exponential'. Got {delays!r} instead."
        )
    if delays == "auto" and result.delays is None:
        raise FunnelkitError(
            "forecast(delays='auto') needs the delay model of every transition, which this "
            "model did not fit: fit StageMarkovFitter(delays='auto'), or forecast with "
            "delays='exponential'."
        )
    state = customer_state(result, journeys)
    in_funnel = state.stage >= 0
    # one stream for every draw, so an int seed and a Generator seeded with it agree
    rng = np.random.default_rng(seed)
    lam, mu, unknown = _draw_intensities(fitted, result.conf_level, n_resamples, rng)
    qm = quantity_matrix(n_stage)
    if delays == "auto":
        mean, var, method = semi_markov_forecast(
            result, state, lam, mu, horizon_fit, n_points, rates, entry, rng
        )
    else:
        mean, var = _markov_moments(
            state, in_funnel, lam, mu, horizon_fit, n_points, rates, entry, n_stage
        )
        method = _INTERVAL_METHOD.format(n=n_resamples)
    point = mean[0]
    total_var = np.maximum(var[0], 0.0)
    if mean.shape[0] > 1:
        total_var = total_var + mean[1:].var(axis=0)
    z = normal_quantile(conf_level)
    half = z * np.sqrt(total_var)
    floor = np.zeros(qm.shape[1])
    floor[:n_stage] = point[0, :n_stage]  # reached counts never go down
    lower = np.maximum(point - half, floor)
    upper = point + half
    masked = _not_estimable(fitted, n_stage, state, unknown, rates, entry)
    times = np.linspace(0.0, horizon_fit, n_points) * convert_duration(1.0, result.time_unit, unit)
    return StageForecast.from_arrays(
        stage_names=names,
        time_unit=unit,
        horizon=float(horizon),
        conf_level=conf_level,
        n_customers=int(in_funnel.sum()),
        inflow=float(inflow_per_unit.sum()) if rates.any() else None,
        inflow_stage=names[entry] if rates.any() else None,
        n_resamples=n_resamples,
        interval_method=method,
        times=times,
        point=point,
        lower=lower,
        upper=upper,
        masked=masked,
    )


def _markov_moments(
    state: CustomerState,
    in_funnel: np.ndarray,
    lam: np.ndarray,
    mu: np.ndarray,
    horizon_fit: float,
    n_points: int,
    rates: np.ndarray,
    entry: int,
    n_stage: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Expected outcome counts and sampling variances ``(S, T, Q)`` of the Markov model."""
    n_seg = lam.shape[1]
    n, s1, s2 = _pi_sums(state, in_funnel, lam, mu, n_seg, n_stage)  # (G, K), (S, G, K) x 2
    qm = quantity_matrix(n_stage)
    # A dormant customer of stage k (never the last) stays put: outcomes of state K + k.
    alpha = np.zeros((n_stage, qm.shape[1]))
    alpha[:-1] = qm[n_stage:]
    step = horizon_fit / (n_points - 1)
    mean = np.zeros((lam.shape[0], n_points, qm.shape[1]))  # (S, T, Q)
    var = np.zeros_like(mean)
    for g in range(n_seg):  # one segment at a time keeps memory at (S, T, m, m)
        p, j = grid_transitions(generator(lam[:, g], mu[:, g]), step, n_points - 1)
        # q_i = alpha + beta * pi_i: outcome probabilities of a customer of stage k.
        beta = p[..., :n_stage, :] @ qm - alpha  # (S, T, K, Q)
        n_g = n[g][None, None, :, None]
        s1g, s2g = s1[:, g][:, None, :, None], s2[:, g][:, None, :, None]
        mean_g = (n_g * alpha + beta * s1g).sum(axis=2)
        square_g = (n_g * alpha**2 + 2 * alpha * beta * s1g + beta**2 * s2g).sum(axis=2)
        mean += mean_g
        var += mean_g - square_g
        if rates[g] > 0:  # Poisson arrivals: thinned counts are Poisson, variance = mean
            arrivals = (j[..., entry, :] @ qm) * rates[g]
            mean += arrivals
            var += arrivals

    return mean, var


def _check_horizon(horizon: Any, unit: TimeUnit, fit_unit: TimeUnit) -> float:
    if (
        not isinstance(horizon, int | float | np.integer | np.floating)
        or isinstance(horizon, bool)
        or not np.isfinite(horizon)
        or horizon <= 0
    ):
        raise FunnelkitError(
            f"The 'horizon' parameter of StageMarkovFitter.forecast must be a positive number "
            f"(in {unit.value}s). Got {horizon!r} instead."
        )
    return float(convert_duration(float(horizon), unit, fit_unit))


def _inflow_rates(
    result: StageMarkovResult, inflow: float | Mapping[str, float] | None, n_seg: int
) -> np.ndarray:
    rates = np.zeros(n_seg)
    if inflow is None:
        return rates
    if isinstance(inflow, Mapping):
        if result.segments is None:
            raise FunnelkitError("inflow is a mapping but the model has no segments: pass a rate.")
        unknown = sorted(set(inflow) - set(result.segments))
        if unknown:
            raise FunnelkitError(
                f"inflow names unknown segments {unknown}; segments are {list(result.segments)}."
            )
        for key, value in inflow.items():
            rates[result.segments.index(key)] = value
    elif result.segments is not None:
        raise FunnelkitError(
            f"The model was fitted by={result.by!r}: pass inflow as a mapping segment → rate "
            f"for segments {list(result.segments)}."
        )
    else:
        rates[0] = inflow
    if not np.all(np.isfinite(rates)) or np.any(rates < 0):
        raise FunnelkitError(f"inflow rates must be finite and >= 0. Got {inflow!r} instead.")
    return rates


def _resamples(n_resamples: Any, n_draws: Any) -> int:
    name = "n_resamples"
    if n_draws is not None:  # the former name, used only when it was given
        name, n_resamples = "n_draws", n_draws
    if (
        isinstance(n_resamples, bool)
        or not isinstance(n_resamples, int | np.integer)
        or n_resamples < 0
    ):
        raise FunnelkitError(f"{name} must be an integer >= 0. Got {n_resamples!r} instead.")
    return int(n_resamples)


def _check_seed(seed: Any) -> None:
    # numpy's own message ("SeedSequence expects int or sequence of ints") names neither the
    # parameter nor what is accepted; a bool is refused as the typo it usually is.
    if seed is None or isinstance(seed, np.random.Generator):
        return
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise FunnelkitError(
            "The 'seed' parameter of StageMarkovFitter.forecast must be an int >= 0 or None "
            f"(or a numpy Generator). Got {seed!r} instead."
        )


def _draw_intensities(
    fitted: StageIntensities,
    conf_level: float,
    n_draws: int,
    seed: int | np.random.Generator | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Intensities (S, G, K-1): the estimates, then draws from the asymptotic distribution.

    Draws are normal on the log scale, except for a stage whose log-scale standard error
    exceeds :data:`WEAK_LOG_SE` (an intensity barely distinguishable from 0, where the
    log-scale approximation puts mass on absurdly large values): there the draws are normal on
    the natural scale (delta-method covariance), truncated at 0. A drop-out rate estimated on
    the boundary 0 is drawn half-normal, scaled so that its ``conf_level`` quantile is the
    profile-likelihood upper bound. Not-estimable values are
    replaced by 0 (and flagged in ``unknown``, shape (2, G, K-1)) so that the chain stays
    computable; outputs that depend on them are masked later.
    """
    lam, mu = fitted.advance_array, fitted.dropout_array
    unknown = np.stack([~np.isfinite(lam), ~np.isfinite(mu)])
    lam0, mu0 = np.where(unknown[0], 0.0, lam), np.where(unknown[1], 0.0, mu)
    if n_draws == 0:
        return lam0[None], mu0[None], unknown
    rng = np.random.default_rng(seed)
    log_cov = np.nan_to_num(fitted.log_covariance_array)  # zero variance where a parameter has none
    weak = np.sqrt(np.maximum(log_cov[..., 0, 0], log_cov[..., 1, 1])) > WEAK_LOG_SE
    e = rng.standard_normal((n_draws, *lam.shape, 2))
    da, db = _correlated(log_cov, e)
    # The delta-method covariance on the natural scale is D Σ D with D = diag(λ, μ), whose
    # Cholesky factor is D L: scaling the log-scale draws gives the natural-scale ones
    # without forming λ², which overflows for extreme rates.
    na, nb = lam0 * da, mu0 * db
    # exp only where the log-scale draw is used: a weak stage's log draws can be huge.
    lam_d = np.where(weak, np.maximum(lam0 + na, 0.0), lam0 * np.exp(np.where(weak, 0.0, da)))
    mu_d = np.where(weak, np.maximum(mu0 + nb, 0.0), mu0 * np.exp(np.where(weak, 0.0, db)))
    # On the boundary μ = 0: half-normal draws whose conf_level quantile is the profile bound.
    z = normal_quantile(conf_level)
    bound = fitted.boundary_dropout_upper_array
    on_boundary = np.isfinite(bound)
    half = np.abs(rng.standard_normal((n_draws, *lam.shape))) * bound / z
    mu_d = np.where(on_boundary, half, mu_d)
    return (
        np.concatenate([lam0[None], lam_d]),
        np.concatenate([mu0[None], mu_d]),
        unknown,
    )


def _correlated(cov: np.ndarray, e: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Scale standard normals ``e[..., 0:2]`` by the Cholesky factor of 2x2 blocks ``cov``.

    Written out by hand because blocks may be singular (boundary stages have no μ variance).
    """
    c00 = np.sqrt(cov[..., 0, 0])
    c10 = np.divide(cov[..., 1, 0], c00, out=np.zeros_like(c00), where=c00 > 0)
    c11 = np.sqrt(np.maximum(cov[..., 1, 1] - c10**2, 0.0))
    return c00 * e[..., 0], c10 * e[..., 0] + c11 * e[..., 1]


def _pi_sums(
    state: CustomerState,
    in_funnel: np.ndarray,
    lam: np.ndarray,
    mu: np.ndarray,
    n_seg: int,
    n_stage: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per group (segment, stage): n, and per draw Σπ and Σπ² of the active probabilities."""
    n_draw = lam.shape[0]
    n = np.zeros((n_seg, n_stage))
    s1 = np.zeros((n_draw, n_seg, n_stage))
    s2 = np.zeros_like(s1)
    chunk = max(1, 4_000_000 // max(n_draw, 1))
    for g in range(n_seg):
        for k in range(n_stage):
            d = state.duration[in_funnel & (state.segment == g) & (state.stage == k)]
            n[g, k] = d.size
            if k == n_stage - 1:  # the last stage absorbs: everyone is "active" there
                s1[:, g, k] = s2[:, g, k] = d.size
                continue
            theta = (lam[:, g, k] + mu[:, g, k])[:, None]
            ratio = np.divide(
                mu[:, g, k][:, None], theta, out=np.zeros_like(theta), where=theta > 0
            )
            for start in range(0, d.size, chunk):
                part = d[None, start : start + chunk]
                with np.errstate(over="ignore", invalid="ignore"):
                    odds = ratio * np.expm1(theta * part)  # dormant : active
                # No drop-out (ratio 0) means active for sure, however long the wait.
                pi = np.where(ratio > 0, 1.0 / (1.0 + odds), 1.0)
                s1[:, g, k] += pi.sum(axis=1)
                s2[:, g, k] += (pi**2).sum(axis=1)
    return n, s1, s2


def _not_estimable(
    fitted: StageIntensities,
    n_stage: int,
    state: CustomerState,
    unknown: np.ndarray,
    rates: np.ndarray,
    entry: int,
) -> np.ndarray:
    """Which outputs (reached_k, active_k, dormant) depend on an intensity nobody can estimate.

    Mass can only be in stage k if someone is there now, arrives there, or can flow there
    through known positive advance rates.
    """
    masked = np.zeros(2 * n_stage + 1, dtype=bool)
    advance = fitted.advance_array
    for g in range(fitted.n_segments):
        present = np.bincount(
            state.stage[(state.stage >= 0) & (state.segment == g)], minlength=n_stage
        )
        flowing = False
        for k in range(n_stage - 1):
            flowing = flowing or present[k] > 0 or (rates[g] > 0 and k == entry)
            if not flowing:
                continue
            if unknown[0, g, k]:  # advance rate unknown: everything downstream is unknown
                masked[n_stage + k] = masked[2 * n_stage] = True
                masked[k + 1 : n_stage] = masked[n_stage + k + 1 : 2 * n_stage] = True
                break
            if unknown[1, g, k]:  # drop-out unknown: who is still active here is unknown
                masked[n_stage + k] = masked[2 * n_stage] = True
            flowing = bool(advance[g, k] > 0)
    return masked
