"""Fit the log-linear covariate intensities of every stage of a funnel."""

from __future__ import annotations

import itertools

import numpy as np

from funnelkit.conversion.covariates import CovariateEncoding, CovariatesLike, covariate_columns
from funnelkit.dynamics.covariate_likelihood import fit_covariate_stage
from funnelkit.dynamics.covariate_result import MarkovCovariates, MarkovCovariateTransition
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
    return MarkovCovariates(
        conf_level=conf_level,
        time_unit=journeys.time_unit,
        encoding=encoding,
        transitions=tuple(fits),
        backend=backend,
    )
