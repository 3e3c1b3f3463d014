"""Reaching a later stage: eventual probability and time among those who get there."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from funnelkit.dynamics.results import (
    Estimate,
    StageMarkovResult,
    StageReach,
    at_level,
    log_scale_estimate,
)
from funnelkit.dynamics.state import intensities_of, segment_index, stage_index
from funnelkit.intervals import normal_quantile

__all__ = ["path_estimates", "reach_stage"]


def reach_stage(result: StageMarkovResult, stage: str, *, segment: str | None = None) -> StageReach:
    """Probability of ever reaching ``stage`` from each earlier stage, and the time to it.

    See :meth:`funnelkit.dynamics.StageMarkovFitter.reach`; computed from the fitted
    intensities held by ``result`` alone.
    """
    k = stage_index(result, stage)
    g = segment_index(result, segment)
    state = intensities_of(result)
    advance, dropout = state.advance_array[g], state.dropout_array[g]
    log_cov, status = state.log_covariance_array[g], state.status[g]
    z = normal_quantile(result.conf_level)
    probability: dict[str, Estimate] = {}
    expected: dict[str, Estimate] = {}
    for j in range(k):
        name = result.stage_names[j]
        prob, time = path_estimates(advance[j:k], dropout[j:k], log_cov[j:k], status[j:k], z)
        probability[name] = at_level(prob, result.conf_level)
        expected[name] = at_level(time, result.conf_level)
    return StageReach(
        target=stage,
        segment=segment,
        time_unit=result.time_unit,
        conf_level=result.conf_level,
        probability=probability,
        expected_time=expected,
    )


def path_estimates(
    advance: np.ndarray,
    dropout: np.ndarray,
    log_cov: np.ndarray,
    status: Sequence[str],
    z: float,
) -> tuple[Estimate, Estimate]:
    """Probability of passing every stage of a path, and the mean time among those who do.

    ``P = Π λ_i/(λ_i+μ_i)`` and ``E[T | reached] = Σ 1/(λ_i+μ_i)`` (the sojourn of an advancer
    in stage i is exponential with rate λ_i+μ_i). Intervals use the delta method on the log
    scale, with the stages' blocks of ``log_cov`` (covariances of (log λ_i, log μ_i); stages are
    independent). A stage with μ estimated on the boundary 0 contributes only its λ
    uncertainty to the time, and leaves the probability without an interval.
    """
    if np.any(advance == 0):
        return Estimate(estimate=0.0), Estimate(estimate=None)
    if not np.all(np.isfinite(advance) & np.isfinite(dropout)):
        return Estimate(estimate=None), Estimate(estimate=None)
    theta = advance + dropout
    prob = float(np.prod(advance / theta))
    with np.errstate(over="ignore"):  # a mean beyond the double range: not estimable below
        mean = float(np.sum(1.0 / theta))
    boundary = np.array([s == "no_dropout" for s in status])
    grad_prob = np.stack([dropout / theta, -dropout / theta], axis=1)  # of log P
    # d log E / d log λ_i = -(λ_i / θ_i) · share_i with share_i = (1/θ_i) / Σ_j 1/θ_j,
    # computed as (θ_min/θ_i) / Σ_j θ_min/θ_j: no θ², which over- or underflows at extreme
    # rates.
    ratio = theta.min() / theta
    share = ratio / ratio.sum()
    grad_mean = -np.stack([advance / theta, dropout / theta], axis=1) * share[:, None]
    cov = np.where(boundary[:, None, None], np.nan_to_num(log_cov), log_cov)
    var_mean = float(np.einsum("ia,iab,ib->", grad_mean, cov, grad_mean))
    if np.any(boundary):
        prob_est = Estimate(estimate=prob)
    else:
        var_prob = float(np.einsum("ia,iab,ib->", grad_prob, cov, grad_prob))
        prob_est = log_scale_estimate(prob, math.sqrt(max(var_prob, 0.0)), z)
        if prob_est.upper is not None and prob_est.upper > 1.0:
            prob_est = prob_est.model_copy(update={"upper": 1.0})
    return prob_est, log_scale_estimate(mean, math.sqrt(max(var_mean, 0.0)), z)
