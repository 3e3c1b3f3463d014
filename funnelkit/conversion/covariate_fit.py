"""Fit the covariate cure model of every transition and the adjusted comparison of levels."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence

import numpy as np
from scipy import special

from funnelkit._results import Interval
from funnelkit.conversion.covariate_result import (
    AdjustedShare,
    CovariateConversion,
    CovariateTransition,
)
from funnelkit.conversion.covariates import (
    CovariateEncoding,
    CovariatesLike,
    covariate_columns,
)
from funnelkit.conversion.cure import fit_cure_model
from funnelkit.conversion.cure_covariates import fit_covariate_cure
from funnelkit.conversion.delay import FAMILIES
from funnelkit.intervals import logit_interval
from funnelkit.journeys import Journeys

__all__ = ["adjusted_shares", "covariate_family", "fit_covariate_conversion"]

#: below this many entrants a level's raw (per-segment) share is not fitted
_MIN_RAW = 10


def covariate_family(model: str) -> str:
    """The delay family of the covariate model given the plain model's choice.

    The AFT model needs a log-location-scale family; when the plain fit chose the
    two-component delay or Kaplan-Meier, the covariate model uses the Weibull (which nests
    the exponential and is the proportional hazards family as well).
    """
    return model if model in FAMILIES else "weibull"


def fit_covariate_conversion(
    journeys: Journeys,
    transitions: Sequence[tuple[str, str]],
    models: Mapping[tuple[str, str], str],
    covariates: CovariatesLike,
    *,
    conf_level: float,
    fitter: str,
) -> CovariateConversion:
    """The covariate cure model of each transition.

    See :mod:`funnelkit.conversion.cure_covariates` for the model.
    """
    values, backend = covariate_columns(journeys, covariates, fitter=fitter)
    encoding = CovariateEncoding.learn(values, ids=journeys.customer_ids)
    z_all = encoding.matrix(values, ids=journeys.customer_ids)
    fits, adjusted = [], []
    for source, target in transitions:
        index, durations, converted = journeys.transition(source, target)
        z = z_all[index]
        distribution = covariate_family(models[(source, target)])
        est = fit_covariate_cure(durations, converted, z, distribution)
        ok = bool(np.all(np.isfinite(est.coefficients)))
        fit = CovariateTransition(
            source=source,
            target=target,
            distribution=distribution,
            terms=encoding.terms,
            coefficients=tuple(float(c) for c in est.coefficients) if ok else None,
            covariance=None
            if est.covariance is None
            else tuple(map(tuple, est.covariance.tolist())),
            log_likelihood=est.log_likelihood if ok else None,
            null_log_likelihood=_finite(est.null_log_likelihood),
            n_entered=int(index.size),
            n_converted=int(np.asarray(converted).sum()),
            converged=est.converged,
            message=est.message,
        )
        fits.append(fit)
        if fit.coefficients is not None:
            k = len(encoding.terms)
            coef = np.asarray(fit.coefficients, dtype=float)[: k + 1]
            cov = None if est.covariance is None else est.covariance[: k + 1, : k + 1]

            def raw(
                rows: np.ndarray,
                d: np.ndarray = durations,
                e: np.ndarray = converted,
                family: str = distribution,
            ) -> Interval | None:
                return _raw(d[rows], e[rows], family, conf_level)

            adjusted.extend(
                adjusted_shares(
                    encoding,
                    values,
                    index,
                    z,
                    (coef, cov),
                    raw,
                    source=source,
                    target=target,
                    conf_level=conf_level,
                )
            )
    return CovariateConversion(
        conf_level=conf_level,
        time_unit=journeys.time_unit,
        encoding=encoding,
        transitions=tuple(fits),
        adjusted=tuple(adjusted),
        backend=backend,
    )


def adjusted_shares(
    encoding: CovariateEncoding,
    values: Mapping[str, np.ndarray],
    index: np.ndarray,
    z: np.ndarray,
    share: tuple[np.ndarray, np.ndarray | None],
    raw: Callable[[np.ndarray], Interval | None],
    *,
    source: str,
    target: str,
    conf_level: float,
) -> list[AdjustedShare]:
    """Standardised eventual share per level of each categorical (or two-valued) covariate.

    ``index`` are the transition's entrants (rows of ``values``) and ``z`` their design
    matrix; ``share`` is ``(coefficients, covariance)`` of ``logit p(z) = c0 + c'z``;
    ``raw(rows)`` fits the plain model to the entrants of one level (a mask over ``index``).
    """
    out = []
    coef, cov = share
    k = coef.size - 1
    start = 0
    for col in encoding.columns:
        width = len(col.terms)
        terms = slice(start, start + width)
        start += width
        own = np.asarray(values[col.name])[index]
        if col.kind == "categorical":
            keys = own.astype(str)
            levels = list(col.levels)
        else:
            distinct = np.unique(np.asarray(values[col.name], dtype=float))
            if distinct.size != 2:
                continue
            keys = np.asarray([_label(float(v)) for v in distinct])[
                np.searchsorted(distinct, own.astype(float))
            ]
            levels = [_label(float(v)) for v in distinct]
        for j, level in enumerate(levels):
            # every entrant with this level and their own other covariates
            z_level = z.copy()
            if col.kind == "categorical":
                z_level[:, terms] = 0.0
                if j > 0:
                    z_level[:, terms.start + j - 1] = 1.0
            else:
                z_level[:, terms] = float(distinct[j])
            rows = keys == level
            out.append(
                AdjustedShare(
                    source=source,
                    target=target,
                    covariate=col.name,
                    level=level,
                    n_entered=int(rows.sum()),
                    adjusted=_standardised(coef, cov, z_level, k, conf_level),
                    raw=raw(rows),
                )
            )
    return out


def _standardised(
    coef: np.ndarray, cov: np.ndarray | None, z: np.ndarray, k: int, conf_level: float
) -> Interval | None:
    if z.shape[0] == 0:
        return None
    x = np.hstack([np.ones((z.shape[0], 1)), z])
    p = special.expit(x @ coef)
    share = float(p.mean())
    if cov is None or not 0.0 < share < 1.0:
        return Interval(estimate=share, lower=None, upper=None, level=conf_level)
    # delta method: d mean(p) / d(β0, β) = mean(p (1 - p) x), then to the logit scale
    grad = (p * (1.0 - p)) @ x / z.shape[0]
    se = math.sqrt(max(float(grad @ cov @ grad), 0.0))
    bounds = logit_interval(
        float(special.logit(share)), se / (share * (1.0 - share)), conf_level=conf_level
    )
    lower, upper = (None, None) if bounds is None else bounds
    return Interval(estimate=share, lower=lower, upper=upper, level=conf_level)


def _raw(
    durations: np.ndarray, converted: np.ndarray, distribution: str, conf_level: float
) -> Interval | None:
    if durations.size < _MIN_RAW or not np.asarray(converted).any():
        return None
    plain = fit_cure_model(durations, converted, distribution)  # type: ignore[arg-type]
    interval = plain.eventual_rate_interval(conf_level)
    if interval is not None:
        return interval
    return Interval(estimate=plain.eventual_rate, lower=None, upper=None, level=conf_level)


def _label(level: float) -> str:
    return str(int(level)) if level.is_integer() else str(level)


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None
