"""Results of the covariate cure models: coefficients, per-profile predictions, adjusted shares."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar, Literal

import numpy as np
from scipy import special, stats

from funnelkit._floating import exp_saturating
from funnelkit._frames import Backend, frame_from_columns
from funnelkit._results import Interval, Result, html_table
from funnelkit.conversion.covariates import CovariateEncoding
from funnelkit.conversion.delay import FAMILIES
from funnelkit.exceptions import FunnelkitError
from funnelkit.intervals import normal_quantile
from funnelkit.units import TimeUnitField

__all__ = [
    "AdjustedShare",
    "CovariateConversion",
    "CovariateEffect",
    "CovariateTransition",
    "adjusted_frame",
    "delta_interval",
    "effects_frame",
    "profile_values",
    "reference_levels",
    "wald_effects",
]

Part = Literal["share", "time", "advance", "dropout"]


class CovariateEffect(Result):
    """One coefficient of a covariate model, with its standard error and Wald interval.

    ``part`` says which quantity it moves: ``"share"`` (log odds of eventually converting),
    ``"time"`` (log of the time to convert among converters), ``"advance"`` or ``"dropout"``
    (log of a Markov intensity). ``covariate`` is a term of the encoding (``channel[social]``)
    or ``(intercept)`` (the reference profile, all covariates 0) or ``(log s)``.
    """

    title = "Covariate effect"

    source: str
    target: str
    part: Part
    covariate: str
    estimate: float | None
    std_error: float | None
    interval: Interval | None


def wald_effects(
    source: str,
    target: str,
    parts: Sequence[tuple[Part, str]],
    coefficients: Sequence[float] | None,
    covariance: Sequence[Sequence[float]] | None,
    conf_level: float,
) -> list[CovariateEffect]:
    """A :class:`CovariateEffect` per ``(part, covariate)`` name of the coefficient vector."""
    z = normal_quantile(conf_level)
    out = []
    for i, (part, name) in enumerate(parts):
        est = None if coefficients is None else float(coefficients[i])
        if est is not None and not math.isfinite(est):
            est = None
        se = None
        if covariance is not None and est is not None:
            var = float(covariance[i][i])
            se = math.sqrt(var) if math.isfinite(var) and var >= 0 else None
        interval = (
            None
            if se is None or est is None
            else Interval(estimate=est, lower=est - z * se, upper=est + z * se, level=conf_level)
        )
        out.append(
            CovariateEffect(
                source=source,
                target=target,
                part=part,
                covariate=name,
                estimate=est,
                std_error=se,
                interval=interval,
            )
        )
    return out


def effects_frame(effects: Sequence[CovariateEffect], backend: Backend) -> Any:
    """Columns ``transition, part, covariate, estimate, std_error, lower, upper``."""

    def num(values: list[float | None]) -> np.ndarray:
        return np.array([np.nan if v is None else v for v in values], dtype=float)

    columns = {
        "transition": np.array([f"{e.source} -> {e.target}" for e in effects], dtype=object),
        "part": np.array([e.part for e in effects], dtype=object),
        "covariate": np.array([e.covariate for e in effects], dtype=object),
        "estimate": num([e.estimate for e in effects]),
        "std_error": num([e.std_error for e in effects]),
        "lower": num([None if e.interval is None else e.interval.lower for e in effects]),
        "upper": num([None if e.interval is None else e.interval.upper for e in effects]),
    }
    return frame_from_columns(columns, backend)


class CovariateTransition(Result):
    """The covariate cure model of one transition.

    ``coefficients`` are ``(β0, β, m, γ[, log s])`` on the covariates' own scale:
    ``logit p(z) = β0 + β'z`` and ``log T = m + γ'z + s W`` among converters, with ``W`` the
    standard variable of ``distribution``. None when not estimable (``message`` says why).
    ``log_likelihood - null_log_likelihood`` is the likelihood-ratio statistic against the
    plain model (all effects 0).
    """

    title = "Covariate cure model"

    source: str
    target: str
    distribution: Literal["exponential", "weibull", "lognormal"]
    terms: tuple[str, ...]
    coefficients: tuple[float, ...] | None
    covariance: tuple[tuple[float, ...], ...] | None
    log_likelihood: float | None
    null_log_likelihood: float | None
    n_entered: int
    n_converted: int
    converged: bool
    message: str = ""

    @property
    def parameter_names(self) -> tuple[tuple[Part, str], ...]:
        share = [("share", "(intercept)"), *(("share", t) for t in self.terms)]
        time = [("time", "(intercept)"), *(("time", t) for t in self.terms)]
        scale = [] if FAMILIES[self.distribution].fixed_scale else [("time", "(log s)")]
        return tuple((p, n) for p, n in (*share, *time, *scale))  # type: ignore[misc]

    def effects(self, conf_level: float) -> list[CovariateEffect]:
        """Every coefficient as a :class:`CovariateEffect`."""
        return wald_effects(
            self.source,
            self.target,
            self.parameter_names,
            self.coefficients,
            self.covariance,
            conf_level,
        )

    @property
    def lr_statistic(self) -> float | None:
        """Likelihood-ratio statistic of the covariate model against the plain model."""
        if self.log_likelihood is None or self.null_log_likelihood is None:
            return None
        return max(2.0 * (self.log_likelihood - self.null_log_likelihood), 0.0)

    @property
    def lr_p_value(self) -> float | None:
        """p-value of the likelihood-ratio test (chi-squared, two effects per term)."""
        stat = self.lr_statistic
        return None if stat is None else float(stats.chi2.sf(stat, 2 * len(self.terms)))

    def _require(self) -> np.ndarray:
        if self.coefficients is None:
            raise FunnelkitError(
                f"{self.source} -> {self.target} has no covariate estimates: {self.message}."
            )
        return np.asarray(self.coefficients, dtype=float)

    def _logit_share(self, coef: np.ndarray, z: np.ndarray) -> np.ndarray:
        k = len(self.terms)
        out: np.ndarray = coef[0] + z @ coef[1 : 1 + k]
        return out

    def _logit_by(self, coef: np.ndarray, z: np.ndarray, horizon: float) -> np.ndarray:
        k = len(self.terms)
        family = FAMILIES[self.distribution]
        loc = coef[1 + k] + z @ coef[2 + k : 2 + 2 * k]
        s = 1.0 if family.fixed_scale else exp_saturating(coef[-1])
        log_f = family.log_cdf((math.log(horizon) - loc) / s)
        log_y = special.log_expit(self._logit_share(coef, z)) + log_f
        # logit(y) = log y - log(1 - y), without cancellation where y is tiny
        out: np.ndarray = log_y - np.log(-np.expm1(log_y))
        return out

    def median_time(self, z: np.ndarray, conf_level: float) -> list[Interval]:
        """Per profile, the median time to convert among converters, with its interval.

        ``log t_50 = m + γ'z + s w_50`` (``w_50`` the standard variable's median); the
        interval is built on the log-time scale.
        """
        coef = self._require()
        k = len(self.terms)
        family = FAMILIES[self.distribution]
        w50 = float(family.std_quantile(0.5))

        def log_median(c: np.ndarray) -> np.ndarray:
            s = 1.0 if family.fixed_scale else exp_saturating(c[-1])
            out: np.ndarray = c[1 + k] + z @ c[2 + k : 2 + 2 * k] + s * w50
            return out

        return delta_interval(log_median, coef, self.covariance, conf_level, inverse=exp_saturating)

    def eventual_share(self, z: np.ndarray, conf_level: float) -> list[Interval]:
        """Per profile (row of ``z``), the eventual conversion share with its interval."""
        coef = self._require()
        return delta_interval(lambda c: self._logit_share(c, z), coef, self.covariance, conf_level)

    def conversion_by(self, z: np.ndarray, horizon: float, conf_level: float) -> list[Interval]:
        """Per profile, ``P(converted within horizon) = p(z) F0(horizon; z)`` with interval."""
        coef = self._require()
        if not (isinstance(horizon, int | float) and math.isfinite(horizon) and horizon > 0):
            raise FunnelkitError(f"horizon must be a finite number > 0. Got {horizon!r} instead.")
        return delta_interval(
            lambda c: self._logit_by(c, z, float(horizon)), coef, self.covariance, conf_level
        )


class AdjustedShare(Result):
    """The eventual share of one level of a covariate, adjusted and raw.

    ``adjusted`` is the share every entrant of the transition would have with the covariate
    set to ``level``, averaged over their own other covariates (standardisation, as in
    Lee 1981's direct adjustment): levels compare at the same mix of the rest. ``raw`` is the
    plain cure model of that level's entrants alone (what ``fit(by=...)`` reports), which
    also carries the differences in the other covariates between levels.
    """

    title = "Adjusted eventual share"

    source: str
    target: str
    covariate: str
    level: str
    n_entered: int
    adjusted: Interval | None
    raw: Interval | None


class CovariateConversion(Result):
    """Every transition's covariate cure model, the encoding, and the adjusted comparison.

    Examples
    --------
    >>> from funnelkit.datasets import simulate_covariate_conversion
    >>> from funnelkit import ConversionFitter
    >>> sim = simulate_covariate_conversion(3000, seed=1)
    >>> fitter = ConversionFitter().fit(sim.journeys, covariates=["channel", "member"])
    >>> result = fitter.covariates_
    >>> result.encoding.terms
    ('channel[search]', 'channel[social]', 'member')
    >>> list(result.coefficients().columns)
    ['transition', 'part', 'covariate', 'estimate', 'std_error', 'lower', 'upper']
    """

    title: ClassVar[str] = "Stage conversion with covariates"

    conf_level: float
    time_unit: TimeUnitField
    encoding: CovariateEncoding
    transitions: tuple[CovariateTransition, ...]
    adjusted: tuple[AdjustedShare, ...] = ()
    #: the frame library of the covariates given at fit time, for the tables
    backend: Literal["pandas", "polars", "pyarrow"] = "pandas"

    def transition(self, source: str, target: str) -> CovariateTransition:
        for fit in self.transitions:
            if (fit.source, fit.target) == (source, target):
                return fit
        fitted = [f"{t.source} -> {t.target}" for t in self.transitions]
        raise FunnelkitError(f"No fitted transition {source!r} -> {target!r}; fitted: {fitted}.")

    def effects(self) -> list[CovariateEffect]:
        return [e for t in self.transitions for e in t.effects(self.conf_level)]

    def coefficients(self, backend: Backend | None = None) -> Any:
        """The coefficient table: ``transition, part, covariate, estimate, std_error, lower,
        upper`` (in the covariates' frame library unless ``backend`` says otherwise)."""
        return effects_frame(self.effects(), backend or self.backend)

    def summary(self, backend: Backend | None = None) -> Any:
        """The coefficient table (see :meth:`coefficients`)."""
        return self.coefficients(backend)

    def predict(
        self,
        source: str,
        target: str,
        covariates: Any,
        *,
        horizon: float | None = None,
        conf_level: float | None = None,
        backend: Backend | None = None,
    ) -> Any:
        """Eventual share (and conversion by ``horizon``) per covariate profile.

        ``covariates`` maps each covariate to one value per profile (a mapping of lists, or
        a frame with those columns). Columns ``eventual_share, lower, upper``, the median
        time to convert among converters ``median_time`` (with ``_lower`` and ``_upper``)
        and, with a horizon, ``conversion_by, conversion_by_lower, conversion_by_upper``.
        """
        level = self.conf_level if conf_level is None else float(conf_level)
        values = profile_values(covariates)
        z = self.encoding.matrix(values)
        fit = self.transition(source, target)
        share = fit.eventual_share(z, level)
        columns: dict[str, np.ndarray] = {
            name: np.asarray(values[name]).reshape(-1) for name in self.encoding.names
        }
        columns["eventual_share"] = np.array([i.estimate for i in share], dtype=float)
        columns["lower"] = _ends([i.lower for i in share])
        columns["upper"] = _ends([i.upper for i in share])
        median = fit.median_time(z, level)
        columns["median_time"] = _ends([i.estimate for i in median])
        columns["median_time_lower"] = _ends([i.lower for i in median])
        columns["median_time_upper"] = _ends([i.upper for i in median])
        if horizon is not None:
            by = fit.conversion_by(z, horizon, level)
            columns["conversion_by"] = np.array([i.estimate for i in by], dtype=float)
            columns["conversion_by_lower"] = _ends([i.lower for i in by])
            columns["conversion_by_upper"] = _ends([i.upper for i in by])
        return frame_from_columns(columns, backend or self.backend)

    def adjusted_comparison(self, backend: Backend | None = None) -> Any:
        """Adjusted (standardised) and raw eventual share per level (see :class:`AdjustedShare`)."""
        return adjusted_frame(self.adjusted, backend or self.backend)

    def _records(self) -> list[Mapping[str, Any]]:
        return [
            {
                "transition": f"{e.source} -> {e.target}",
                "part": e.part,
                "covariate": e.covariate,
                "estimate": e.estimate,
                "std_error": e.std_error,
                "lower": None if e.interval is None else e.interval.lower,
                "upper": None if e.interval is None else e.interval.upper,
            }
            for e in self.effects()
        ]

    def as_text(self) -> str:
        lines = [f"{self.title} (reference levels: {reference_levels(self.encoding)})"]
        for t in self.transitions:
            lr = "" if t.lr_p_value is None else f", LR test p = {t.lr_p_value:.3g}"
            lines.append(f"  {t.source} -> {t.target} ({t.distribution} delay{lr})")
        for e in self.effects():
            shown = "not estimable" if e.interval is None else str(e.interval)
            lines.append(f"    {e.part:<6} {e.covariate:<24} {shown}")
        return "\n".join(lines)

    def as_html(self) -> str:
        caption = f"{self.title} (reference levels: {reference_levels(self.encoding)})"
        return html_table(self._records(), caption=caption)


def adjusted_frame(rows: Sequence[AdjustedShare], backend: Backend) -> Any:
    """Columns ``transition, covariate, level, n_entered``, then ``adjusted`` and ``raw``
    with their ``_lower`` and ``_upper`` bounds."""
    columns = {
        "transition": np.array([f"{r.source} -> {r.target}" for r in rows], dtype=object),
        "covariate": np.array([r.covariate for r in rows], dtype=object),
        "level": np.array([r.level for r in rows], dtype=object),
        "n_entered": np.array([r.n_entered for r in rows], dtype=np.int64),
    }
    for name in ("adjusted", "raw"):
        ivs = [getattr(r, name) for r in rows]
        columns[name] = _ends([None if i is None else i.estimate for i in ivs])
        columns[f"{name}_lower"] = _ends([None if i is None else i.lower for i in ivs])
        columns[f"{name}_upper"] = _ends([None if i is None else i.upper for i in ivs])
    return frame_from_columns(columns, backend)


def reference_levels(encoding: CovariateEncoding) -> str:
    """``channel=email, ...``: the level each categorical covariate is compared with."""
    refs = [f"{c.name}={c.reference}" for c in encoding.columns if c.reference is not None]
    return ", ".join(refs) if refs else "none"


def _ends(values: Sequence[float | None]) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in values], dtype=float)


def profile_values(covariates: Any) -> dict[str, Any]:
    if isinstance(covariates, dict):
        return {str(k): np.asarray(v).reshape(-1) for k, v in covariates.items()}
    try:
        import narwhals as nw

        frame = nw.from_native(covariates, eager_only=True)
    except TypeError:
        raise FunnelkitError(
            f"covariates must be a mapping of covariate → values or a frame; got "
            f"{type(covariates).__name__}."
        ) from None
    return {str(c): frame[c].to_numpy() for c in frame.columns}


def delta_interval(
    fun: Callable[[np.ndarray], np.ndarray],
    coef: np.ndarray,
    covariance: Sequence[Sequence[float]] | np.ndarray | None,
    conf_level: float,
    *,
    inverse: Callable[[float], float] = special.expit,
) -> list[Interval]:
    """Intervals of ``inverse(fun(coef))`` per profile, by the delta method on ``fun``'s scale.

    ``fun`` maps the coefficients to one value per profile on a scale where the estimate is
    roughly normal (the logit of a probability, the log of a time); the gradient is a
    central difference, the ends are mapped back with ``inverse`` (``expit`` or
    :func:`~funnelkit._floating.exp_saturating`), so they cannot leave the quantity's range.
    """
    value = fun(coef)
    se = np.full(value.shape, np.nan)
    if covariance is not None:
        cov = np.asarray(covariance, dtype=float)
        grad = np.empty((value.size, coef.size))
        for i in range(coef.size):
            h = 1e-6 * max(1.0, abs(coef[i]))
            up, down = coef.copy(), coef.copy()
            up[i] += h
            down[i] -= h
            grad[:, i] = (fun(up) - fun(down)) / (2.0 * h)
        se = np.sqrt(np.maximum(np.einsum("ij,jk,ik->i", grad, cov, grad), 0.0))
    zq = normal_quantile(conf_level)
    return [
        Interval(
            estimate=float(inverse(v)),
            lower=float(inverse(v - zq * e)) if math.isfinite(e) else None,
            upper=float(inverse(v + zq * e)) if math.isfinite(e) else None,
            level=conf_level,
        )
        for v, e in zip(value.tolist(), se.tolist(), strict=True)
    ]
