"""Fit the log-linear covariate intensities of every stage of a funnel."""

from __future__ import annotations

import itertools

import numpy as np

from funnelkit._results import Interval
from funnelkit.conversion.covariate_fit import adjusted_shares
from funnelkit.conversion.covariate_result import AdjustedShare
from funnelkit.conversion.covariates import CovariateEncoding, CovariatesLike, covariate_columns
from funnelkit.dynamics.covariate_likelihood import fit_covariate_stage
from funnelkit.dynamics.covariate_result import MarkovCovariates, MarkovCovariateTransition
from funnelkit.dynamics.likelihood import fit_stage
from funnelkit.intervals import logit_interval
from funnelkit.journeys import Journeys

__all__ = ["fit_markov_covariates"]


def fit_markov_covariates(
    journeys: Journeys, covariates: CovariatesLike, *, conf_level: float, fitter: str
) -> MarkovCovariates:
    """Each adjacent stage's ``λ(z) = λ e^{β'z}`` and ``μ(z) = μ e^{δ'z}``, all prospects pooled."""
    values, backend = covariate_columns(journeys, covariates, fitter=fitter)
    encoding = CovariateEncoding.learn(values, ids=journeys.customer_ids)
    z_all = encoding.matrix(values, ids=journeys.customer_ids)
    names = journeys.stage_names
    fits = []
    adjusted: list[AdjustedShare] = []
    k = len(encoding.terms)
    for source, target in itertools.pairwise(names):
        index, duration, advanced = journeys.transition(source, target)
        est = fit_covariate_stage(duration, advanced, z_all[index])
        fits.append(
            MarkovCovariateTransition(
                source=source,
                target=target,
                terms=encoding.terms,
                coefficients=None
                if est.coefficients is None
                else tuple(float(c) for c in est.coefficients),
                covariance=None
                if est.covariance is None
                else tuple(map(tuple, np.asarray(est.covariance).tolist())),
                log_likelihood=est.log_likelihood,
                null_log_likelihood=est.null_log_likelihood,
                n_entered=est.n_entered,
                n_advanced=est.n_advanced,
                converged=est.converged,
                message=est.message,
            )
        )
        if est.coefficients is None:
            continue
        # the eventual advance probability λ/(λ+μ) has logit log λ - log μ: a logistic model
        # with coefficients (log λ - log μ, β - δ)
        diff = np.hstack([np.eye(k + 1), -np.eye(k + 1)])
        share = diff @ est.coefficients
        share_cov = None if est.covariance is None else diff @ est.covariance @ diff.T

        def raw(
            rows: np.ndarray, d: np.ndarray = duration, a: np.ndarray = advanced
        ) -> Interval | None:
            return _plain_probability(d[rows], a[rows], conf_level)

        adjusted.extend(
            adjusted_shares(
                encoding,
                values,
                index,
                z_all[index],
                (share, share_cov),
                raw,
                source=source,
                target=target,
                conf_level=conf_level,
            )
        )
    return MarkovCovariates(
        conf_level=conf_level,
        time_unit=journeys.time_unit,
        encoding=encoding,
        transitions=tuple(fits),
        adjusted=tuple(adjusted),
        backend=backend,
    )


def _plain_probability(
    duration: np.ndarray, advanced: np.ndarray, conf_level: float
) -> Interval | None:
    """The plain model's eventual advance probability of some prospects, with its interval."""
    if duration.size < 10 or not advanced.any():
        return None
    fit = fit_stage(duration, advanced)
    if fit.status != "estimated":
        return None
    p = fit.advance_rate / (fit.advance_rate + fit.dropout_rate)
    cov = fit.log_covariance
    var = float(cov[0, 0] + cov[1, 1] - 2.0 * cov[0, 1])
    bounds = logit_interval(
        float(np.log(fit.advance_rate / fit.dropout_rate)),
        float(np.sqrt(var)) if np.isfinite(var) and var >= 0 else None,
        conf_level=conf_level,
    )
    lower, upper = (None, None) if bounds is None else bounds
    return Interval(estimate=float(p), lower=lower, upper=upper, level=conf_level)
