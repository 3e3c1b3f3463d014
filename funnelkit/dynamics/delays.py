"""The delay model each transition's data support, chosen as ConversionFitter chooses it.

A stage of :class:`~funnelkit.dynamics.StageMarkovFitter` is the exponential mixture cure
model; its forecasts follow the delay the data show instead (Weibull, log-normal, or two
components), so every transition keeps the cure model ``ConversionFitter(model="auto")``
selects: the same candidates, the same AIC choice, the same Kaplan-Meier checks.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import special

from funnelkit.conversion.cure_result import CureFit
from funnelkit.conversion.estimate import supported_fits
from funnelkit.conversion.kaplan_meier import kaplan_meier
from funnelkit.units import TimeUnit

__all__ = ["SojournDelay", "akaike_weights", "supported_delay"]


def supported_delay(
    duration: np.ndarray, advanced: np.ndarray, time_unit: TimeUnit
) -> tuple[CureFit | None, tuple[CureFit, ...]]:
    """The cure model ``ConversionFitter(model="auto")`` reports for these data, and every
    model the data support (best AIC first), for draws that repeat the model choice.

    ``(None, ())`` where Kaplan-Meier answers (no cure model is consistent with it, or too
    few conversions).
    """
    km = kaplan_meier(duration, advanced)
    plateau = float(km.rate[-1]) if km.rate.size else None
    _, good = supported_fits(
        duration, advanced, km, plateau=plateau, model="auto", time_unit=time_unit, notes=[]
    )
    ranked = tuple(sorted(good.values(), key=lambda f: f.aic))
    return (ranked[0] if ranked else None), ranked


def akaike_weights(fits: Sequence[CureFit]) -> np.ndarray:
    """``exp(-ΔAIC / 2)``, normalised: how much the data support each model (Akaike 1978)."""
    aic = np.array([f.aic for f in fits], dtype=float)
    w = np.exp(-(aic - aic.min()) / 2.0)
    return np.asarray(w / w.sum())


@dataclass(frozen=True)
class SojournDelay:
    """One transition for the forecast: advance share ``p`` and delay CDF among advancers.

    Built from a cure model fit, or from the exponential stage (``p = λ/(λ+μ)``, delay
    exponential with rate ``λ+μ``), which is the same model with an exponential delay.
    """

    p: float
    fit: CureFit | None = None
    theta: float = math.nan

    @classmethod
    def from_fit(cls, fit: CureFit) -> SojournDelay:
        return cls(p=fit.eventual_rate, fit=fit)

    @classmethod
    def exponential(cls, advance: float, dropout: float) -> SojournDelay:
        theta = advance + dropout
        return cls(p=advance / theta if theta > 0 else 0.0, theta=theta)

    def delay_cdf(self, t: np.ndarray) -> np.ndarray:
        """``F0(t)``, 0 for ``t <= 0``."""
        t = np.asarray(t, dtype=float)
        if self.fit is not None:
            return np.asarray(self.fit.delay_cdf(t), dtype=float)
        if not self.theta > 0:
            return np.zeros_like(t)
        return np.where(t > 0, -np.expm1(-self.theta * np.maximum(t, 0.0)), 0.0)

    def delay_log_sf(self, t: np.ndarray) -> np.ndarray:
        """``log(1 - F0(t))``, 0 for ``t <= 0``."""
        t = np.asarray(t, dtype=float)
        if self.fit is not None:
            return np.asarray(self.fit.delay_log_sf(t), dtype=float)
        if not self.theta > 0:
            return np.zeros_like(t)
        return -self.theta * np.maximum(t, 0.0)

    def drawn(self, rng: np.random.Generator) -> SojournDelay:
        """The same family with coefficients drawn from their asymptotic normal distribution.

        A fit without a covariance (or the exponential stage, whose draws come from the
        intensities) is returned as it is.
        """
        fit = self.fit
        if fit is None or fit.covariance is None:
            return self
        coef = np.asarray(fit.coefficients, dtype=float)
        cov = np.asarray(fit.covariance, dtype=float)
        free = np.isfinite(coef)  # logit p is inf when p was fixed at 1
        draw = coef.copy()
        sub = cov[np.ix_(free, free)]
        draw[free] = rng.multivariate_normal(coef[free], sub, method="eigh")
        new = fit.model_copy(update={"coefficients": tuple(float(c) for c in draw)})
        return SojournDelay(p=float(special.expit(draw[0])), fit=new)
