"""Results of the Markov intensities with covariates: coefficients and per-profile forecasts."""

from __future__ import annotations

import math
from collections.abc import Mapping
from functools import partial
from typing import Any, ClassVar, Literal

import numpy as np
from scipy import linalg, special

from funnelkit._frames import Backend, frame_from_columns
from funnelkit._results import Interval, Result, html_table
from funnelkit.conversion.covariate_result import (
    AdjustedShare,
    CovariateEffect,
    Part,
    adjusted_frame,
    delta_interval,
    effects_frame,
    profile_values,
    reference_levels,
    wald_effects,
)
from funnelkit.conversion.covariates import CovariateEncoding
from funnelkit.exceptions import FunnelkitError
from funnelkit.units import TimeUnitField

__all__ = ["MarkovCovariateTransition", "MarkovCovariates"]


class MarkovCovariateTransition(Result):
    """One stage's log-linear intensities: ``λ(z) = λ exp(β'z)``, ``μ(z) = μ exp(δ'z)``.

    ``coefficients`` are ``(log λ, β, log μ, δ)`` with ``λ, μ`` the intensities of the
    reference profile (every covariate 0) per time unit; None when not estimable
    (``message`` says why).
    """

    title = "Stage intensities with covariates"

    source: str
    target: str
    terms: tuple[str, ...]
    coefficients: tuple[float, ...] | None
    covariance: tuple[tuple[float, ...], ...] | None
    log_likelihood: float | None
    null_log_likelihood: float | None
    n_entered: int
    n_advanced: int
    converged: bool
    message: str = ""

    @property
    def parameter_names(self) -> tuple[tuple[Part, str], ...]:
        names: list[tuple[Part, str]] = []
        parts: tuple[Part, Part] = ("advance", "dropout")
        for part in parts:
            names.append((part, "(intercept)"))
            names.extend((part, t) for t in self.terms)
        return tuple(names)

    def effects(self, conf_level: float) -> list[CovariateEffect]:
        """Every coefficient as a
        :class:`~funnelkit.conversion.covariate_result.CovariateEffect`."""
        return wald_effects(
            self.source,
            self.target,
            self.parameter_names,
            self.coefficients,
            self.covariance,
            conf_level,
        )

    def require_coefficients(self) -> np.ndarray:
        """The coefficients as an array, or a FunnelkitError saying why there are none."""
        if self.coefficients is None:
            raise FunnelkitError(
                f"{self.source} -> {self.target} has no covariate estimates: {self.message}."
            )
        return np.asarray(self.coefficients, dtype=float)

    def log_rates(self, coef: np.ndarray, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``log λ(z)`` and ``log μ(z)`` per profile at coefficients ``coef``."""
        k = len(self.terms)
        return coef[0] + z @ coef[1 : 1 + k], coef[1 + k] + z @ coef[2 + k :]

    def logit_advance(self, coef: np.ndarray, z: np.ndarray) -> np.ndarray:
        """``logit(λ/(λ+μ)) = log λ - log μ`` per profile."""
        a, b = self.log_rates(coef, z)
        out: np.ndarray = a - b
        return out


class MarkovCovariates(Result):
    """Every stage's covariate intensities and the encoding of the covariates.

    Examples
    --------
    >>> from funnelkit.datasets import simulate_covariate_chain
    >>> from funnelkit import StageMarkovFitter
    >>> sim = simulate_covariate_chain(3000, seed=1)
    >>> fitter = StageMarkovFitter(delays="exponential").fit(
    ...     sim.journeys, covariates=["channel", "member"])
    >>> table = fitter.covariates_.coefficients()
    >>> sorted(set(table["part"]))
    ['advance', 'dropout']
    """

    title: ClassVar[str] = "Stage Markov model with covariates"

    conf_level: float
    time_unit: TimeUnitField
    encoding: CovariateEncoding
    transitions: tuple[MarkovCovariateTransition, ...]
    #: per transition and covariate level, the standardised and the raw eventual advance
    #: probability ``λ/(λ+μ)`` (see :class:`~funnelkit.conversion.covariate_result.AdjustedShare`)
    adjusted: tuple[AdjustedShare, ...] = ()
    backend: Literal["pandas", "polars", "pyarrow"] = "pandas"

    def transition(self, source: str) -> MarkovCovariateTransition:
        for t in self.transitions:
            if t.source == source:
                return t
        raise FunnelkitError(
            f"No transition from {source!r}; stages with one: "
            f"{[t.source for t in self.transitions]}."
        )

    def effects(self) -> list[CovariateEffect]:
        return [e for t in self.transitions for e in t.effects(self.conf_level)]

    def coefficients(self, backend: Backend | None = None) -> Any:
        """``transition, part, covariate, estimate, std_error, lower, upper`` (log intensities)."""
        return effects_frame(self.effects(), backend or self.backend)

    def summary(self, backend: Backend | None = None) -> Any:
        """The coefficient table (see :meth:`coefficients`)."""
        return self.coefficients(backend)

    def adjusted_comparison(self, backend: Backend | None = None) -> Any:
        """Adjusted (standardised) and raw eventual advance probability per covariate level."""
        return adjusted_frame(self.adjusted, backend or self.backend)

    def predict(
        self, covariates: Any, *, conf_level: float | None = None, backend: Backend | None = None
    ) -> Any:
        """Per profile and transition: intensities, advance probability and time in stage.

        Columns: the covariates, ``profile`` (row number), ``source``, ``target``,
        ``advance_rate``, ``dropout_rate``, ``advance_probability`` with ``lower, upper``
        (delta method on the logit scale) and ``mean_time_in_stage`` (``1/(λ+μ)``).
        """
        level = self.conf_level if conf_level is None else float(conf_level)
        values = profile_values(covariates)
        z = self.encoding.matrix(values)
        cols: dict[str, list[Any]] = {
            k: []
            for k in (
                *self.encoding.names,
                "profile",
                "source",
                "target",
                "advance_rate",
                "dropout_rate",
                "advance_probability",
                "lower",
                "upper",
                "mean_time_in_stage",
            )
        }
        for t in self.transitions:
            if t.coefficients is None:
                continue
            coef = t.require_coefficients()
            a, b = t.log_rates(coef, z)
            probs = delta_interval(partial(t.logit_advance, z=z), coef, t.covariance, level)
            for i in range(z.shape[0]):
                for name in self.encoding.names:
                    cols[name].append(np.asarray(values[name]).reshape(-1)[i])
                cols["profile"].append(i)
                cols["source"].append(t.source)
                cols["target"].append(t.target)
                cols["advance_rate"].append(math.exp(a[i]))
                cols["dropout_rate"].append(math.exp(b[i]))
                cols["advance_probability"].append(probs[i].estimate)
                cols["lower"].append(probs[i].lower)
                cols["upper"].append(probs[i].upper)
                cols["mean_time_in_stage"].append(1.0 / (math.exp(a[i]) + math.exp(b[i])))
        return frame_from_columns(_arrays(cols), backend or self.backend)

    def reach_probability(
        self,
        stage: str,
        covariates: Any,
        *,
        horizon: float | None = None,
        conf_level: float | None = None,
    ) -> list[Interval]:
        """Per profile, the probability of reaching ``stage`` from entering the first stage.

        Ever: ``Π λ_i(z) / (λ_i(z) + μ_i(z))`` over the stages before ``stage``. Within
        ``horizon``: that product times the probability that the advancers' sojourns,
        independent exponentials with rates ``θ_i = λ_i + μ_i``, add up to at most
        ``horizon`` (a hypoexponential distribution, computed as the absorption probability
        of its chain with a matrix exponential, exact for equal rates too). Intervals use the
        delta method on the logit scale (stages are fitted independently, so their
        coefficients are uncorrelated).
        """
        if horizon is not None and not (
            isinstance(horizon, int | float) and math.isfinite(horizon) and horizon > 0
        ):
            raise FunnelkitError(f"horizon must be a finite number > 0. Got {horizon!r} instead.")
        level = self.conf_level if conf_level is None else float(conf_level)
        z = self.encoding.matrix(profile_values(covariates))
        stages = [t.source for t in self.transitions] + [self.transitions[-1].target]
        if stage not in stages[1:]:
            raise FunnelkitError(f"No stage {stage!r} after the first; stages: {stages}.")
        path = self.transitions[: stages.index(stage)]
        for t in path:
            t.require_coefficients()
        sizes = [len(t.coefficients or ()) for t in path]
        coef = np.concatenate([np.asarray(t.coefficients, dtype=float) for t in path])
        cov = None
        if all(t.covariance is not None for t in path):
            cov = np.zeros((coef.size, coef.size))
            at = 0
            for t, m in zip(path, sizes, strict=True):
                cov[at : at + m, at : at + m] = np.asarray(t.covariance, dtype=float)
                at += m

        def logit_reach(c: np.ndarray) -> np.ndarray:
            log_p = np.zeros(z.shape[0])
            thetas = []
            at = 0
            for t, m in zip(path, sizes, strict=True):
                log_p += special.log_expit(t.logit_advance(c[at : at + m], z))
                a, b = t.log_rates(c[at : at + m], z)
                thetas.append(np.exp(a) + np.exp(b))
                at += m
            if horizon is not None:
                log_p += np.log(_sojourns_within(np.stack(thetas, axis=1), float(horizon)))
            out: np.ndarray = log_p - np.log(-np.expm1(log_p))
            return out

        return delta_interval(logit_reach, coef, cov, level)

    def as_text(self) -> str:
        lines = [f"{self.title} (reference levels: {reference_levels(self.encoding)})"]
        for e in self.effects():
            shown = "not estimable" if e.interval is None else str(e.interval)
            lines.append(f"  {e.source} -> {e.target} {e.part:<7} {e.covariate:<24} {shown}")
        return "\n".join(lines)

    def as_html(self) -> str:
        records: list[Mapping[str, Any]] = [
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
        caption = (
            f"{self.title} (log intensities; reference levels: {reference_levels(self.encoding)})"
        )
        return html_table(records, caption=caption)


def _sojourns_within(theta: np.ndarray, horizon: float) -> np.ndarray:
    """Per row, P(sum of independent Exp(theta[row, i]) <= horizon)."""
    n = theta.shape[1]
    out = np.empty(theta.shape[0])
    for row, rates in enumerate(theta):
        generator = np.zeros((n + 1, n + 1))
        generator[np.arange(n), np.arange(n)] = -rates
        generator[np.arange(n), np.arange(1, n + 1)] = rates
        out[row] = linalg.expm(generator * horizon)[0, n]
    return np.clip(out, 1e-300, 1.0)


def _arrays(cols: dict[str, list[Any]]) -> dict[str, np.ndarray]:
    out = {}
    for k, v in cols.items():
        if k in ("source", "target") or (v and isinstance(v[0], str)):
            out[k] = np.array(v, dtype=object)
        elif k == "profile":
            out[k] = np.array(v, dtype=np.int64)
        else:
            out[k] = np.array([np.nan if x is None else x for x in v], dtype=float)
    return out
