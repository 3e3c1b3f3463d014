"""Semi-Markov stage forecasts: each transition with the delay its data support.

A customer who has waited ``d`` in stage ``k`` without advancing advances within the next
``t`` with probability ``p (F(d + t) - F(d)) / (1 - p F(d))`` under the cure model
``(p, F)`` of that transition: the time already spent in the stage matters unless ``F`` is
exponential. Later stages start afresh on entry, so the probability of having reached stage
``j + 1`` by ``t`` is the entry curve of stage ``j`` convolved with ``p_j F_j``. A customer
still in a stage is *active* when they will still advance (probability
``p (1 - F(d + t)) / (1 - p F(d))``) and *dormant* otherwise, as in the Markov model.

Customers of a stage are grouped by their time in stage (quantile groups), which keeps the
cost independent of the number of customers; the per-customer variance uses the group's
representative probabilities.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
from scipy import linalg

from funnelkit.conversion.cure_result import CureFit
from funnelkit.dynamics.delays import SojournDelay, akaike_weights

if TYPE_CHECKING:
    from funnelkit.dynamics.forecast import CustomerState
    from funnelkit.dynamics.results import StageMarkovResult

__all__ = ["semi_markov_forecast", "semi_markov_moments", "stage_groups"]

_SEMI_MARKOV_METHOD = (
    "semi-Markov: each transition follows the delay model its data support ({delays}), "
    "conditioned on each customer's time in stage; normal approximation with variance = "
    "Poisson-binomial variance of the per-customer outcomes (customers grouped by time in "
    "stage; plus Poisson variance of the inflow) at the estimates + variance of the expected "
    "count across {n} draws that repeat the model choice (a supported delay model picked by "
    "Akaike weight) and draw its coefficients from their asymptotic normal distribution (the "
    "intensities' draws for exponential transitions)"
)
#: Internal time steps per output step of the forecast curve.
_SUBSTEPS = 4
#: Customers of a stage are grouped into at most this many groups by time in stage.
_GROUPS = 200


def stage_groups(
    stage: np.ndarray, duration: np.ndarray, n_stage: int, n_groups: int
) -> list[tuple[int, np.ndarray, np.ndarray]]:
    """Per stage: customers grouped by time in stage, as ``(stage, counts, median wait)``."""
    out = []
    for k in range(n_stage):
        d = np.sort(duration[stage == k])
        if d.size == 0:
            continue
        sizes = np.array([len(c) for c in np.array_split(np.arange(d.size), min(n_groups, d.size))])
        starts = np.cumsum(sizes) - sizes
        waited = 0.5 * (d[starts + (sizes - 1) // 2] + d[starts + sizes // 2])
        out.append((k, sizes.astype(float), waited))
    return out


def semi_markov_moments(
    delays: Sequence[SojournDelay],
    groups: Sequence[tuple[int, np.ndarray, np.ndarray]],
    *,
    horizon: float,
    n_points: int,
    inflow_rate: float,
    entry: int,
    n_stage: int,
    with_variance: bool,
) -> tuple[np.ndarray, np.ndarray]:
    """Expected outcome counts and their sampling variance, ``(T, 2K + 1)`` each.

    ``delays[k]`` is transition ``k`` of one segment (a sequence so that the caller can
    pass one draw); ``groups`` that segment's customers grouped by stage and time in stage
    (:func:`stage_groups`). Columns are reached_k, active_k (everyone in the last stage is
    active) and dormant.
    """
    steps = (n_points - 1) * _SUBSTEPS
    h = horizon / steps
    grid = np.arange(steps + 1) * h
    # G_j at the midpoints of the steps, for the convolution of an entry curve with p_j F_j.
    mid = (np.arange(1, steps + 1) - 0.5) * h
    # The convolution of an entry curve with p_j F_j as one upper-triangular Toeplitz matrix
    # per stage: entry in step l, then advancing within t_i - t_{l + 1/2}.
    conv = [
        linalg.toeplitz(np.r_[g[0], np.zeros(steps - 1)], g[:steps])
        for g in (d.p * d.delay_cdf(mid) for d in delays)
    ]
    q = 2 * n_stage + 1
    mean = np.zeros((steps + 1, q))
    var = np.zeros_like(mean)
    for k, counts, waited in groups:
        probs = _outcomes(delays, conv, k, waited, grid, n_stage)  # (groups, T, Q)
        mean += np.einsum("g,gtq->tq", counts, probs)
        if with_variance:
            var += np.einsum("g,gtq->tq", counts, probs * (1.0 - probs))
    if inflow_rate > 0:
        # Poisson arrivals over time: thinned counts are Poisson, variance = mean. An arrival
        # at u contributes the fresh entrant's outcome at t - u (midpoint rule over u).
        fresh = _outcomes(delays, conv, entry, np.zeros(1), grid, n_stage)[0]
        fresh_mid = 0.5 * (fresh[1:] + fresh[:-1])
        arrivals = np.zeros_like(mean)
        arrivals[1:] = inflow_rate * h * np.cumsum(fresh_mid, axis=0)
        mean += arrivals
        var += arrivals
    pick = np.arange(n_points) * _SUBSTEPS
    return mean[pick], var[pick]


def semi_markov_forecast(
    result: StageMarkovResult,
    state: CustomerState,
    lam: np.ndarray,
    mu: np.ndarray,
    horizon_fit: float,
    n_points: int,
    rates: np.ndarray,
    entry: int,
    seed: int | np.random.Generator | None,
) -> tuple[np.ndarray, np.ndarray, str]:
    """Moments ``(S, T, Q)`` with each transition's supported delay, and the method text.

    Draw 0 uses the chosen models at their estimates; every other draw repeats the model
    choice among the supported models (Akaike weights) and takes that model's coefficients
    from their asymptotic normal distribution (the intensities' draw for a transition that
    uses the exponential stage).
    """
    assert result.delays is not None
    n_stage = len(result.stage_names)
    n_draw, n_seg = lam.shape[0], lam.shape[1]
    rng = np.random.default_rng(seed)
    q = 2 * n_stage + 1
    mean = np.zeros((n_draw, n_points, q))
    var = np.zeros_like(mean)
    used: list[str] = []
    for g in range(n_seg):
        fits = result.delays[g]
        alternatives = None if result.supported_delays is None else result.supported_delays[g]
        rows = state.segment == g
        stage, duration = state.stage[rows], state.duration[rows]
        fine = stage_groups(stage, duration, n_stage, _GROUPS)
        # A draw's expected counts are averages, far less sensitive to the grouping than
        # the per-customer variance computed at the estimates.
        coarse = stage_groups(stage, duration, n_stage, _GROUPS // 4)
        for s in range(n_draw):
            chain = [
                _transition(fit, alternatives[k] if alternatives else (), s, rng)
                if fit is not None
                else SojournDelay.exponential(float(lam[s, g, k]), float(mu[s, g, k]))
                for k, fit in enumerate(fits)
            ]
            mean_s, var_s = semi_markov_moments(
                chain,
                fine if s == 0 else coarse,
                horizon=horizon_fit,
                n_points=n_points,
                inflow_rate=float(rates[g]),
                entry=entry,
                n_stage=n_stage,
                with_variance=s == 0,
            )
            mean[s] += mean_s
            if s == 0:
                var[0] += var_s
        prefix = "" if result.segments is None else f"[{result.segments[g]}] "
        used.extend(
            f"{prefix}{result.stage_names[k]}: "
            + ("exponential" if fit is None else fit.distribution)
            for k, fit in enumerate(fits)
        )
    method = _SEMI_MARKOV_METHOD.format(n=n_draw - 1, delays="; ".join(used))
    return mean, var, method


def _transition(
    chosen: CureFit, supported: Sequence[CureFit], draw: int, rng: np.random.Generator
) -> SojournDelay:
    """Draw 0: the chosen model at its estimates. Other draws repeat the model choice (a
    supported model picked by Akaike weight), then draw its coefficients."""
    if draw == 0:
        return SojournDelay.from_fit(chosen)
    fit = chosen
    if len(supported) > 1:
        fit = supported[int(rng.choice(len(supported), p=akaike_weights(supported)))]
    return SojournDelay.from_fit(fit).drawn(rng)


def _outcomes(
    delays: Sequence[SojournDelay],
    conv: Sequence[np.ndarray],
    k: int,
    waited: np.ndarray,
    grid: np.ndarray,
    n_stage: int,
) -> np.ndarray:
    """Outcome probabilities ``(groups, T, Q)`` over ``grid`` of customers who have waited
    ``waited`` (one value per group) in stage ``k``."""
    probs = np.zeros((waited.size, grid.size, 2 * n_stage + 1))
    probs[..., : k + 1] = 1.0
    if k == n_stage - 1:
        probs[..., n_stage + k] = 1.0
        return probs
    first = delays[k]
    # In logs: after a long wait both 1 - F(d) and 1 - F(d + t) underflow, their ratio not.
    with np.errstate(divide="ignore"):
        log_p, log_q = np.log(first.p), np.log1p(-first.p)
    log_sf_now = first.delay_log_sf(waited)[:, None]
    log_still = np.logaddexp(log_q, log_p + log_sf_now)  # log(1 - p F(d))
    log_sf_later = first.delay_log_sf(waited[:, None] + grid[None, :])
    probs[..., n_stage + k] = np.exp(log_p + log_sf_later - log_still)
    probs[..., 2 * n_stage] = np.exp(log_q - log_still)
    # entry curve of stage k + 1: p (S(d) - S(d + t)) / (1 - p F(d))
    reached = np.exp(log_p + log_sf_now - log_still) * -np.expm1(log_sf_later - log_sf_now)
    for j in range(k + 1, n_stage):
        probs[..., j] = reached
        if j == n_stage - 1:
            probs[..., n_stage + j] = reached
            break
        # R_{j+1}(t_i) = sum over entry steps l < i of dR_j[l] * p_j F_j(t_i - t_{l + 1/2})
        nxt = np.zeros_like(reached)
        # einsum, not BLAS: a multithreaded BLAS product is slow on a busy machine
        nxt[:, 1:] = np.einsum("gl,lm->gm", np.diff(reached, axis=1), conv[j])
        p_j = delays[j].p
        probs[..., n_stage + j] = p_j * reached - nxt
        probs[..., 2 * n_stage] += (1.0 - p_j) * reached
        reached = nxt
    return np.clip(probs, 0.0, 1.0)
