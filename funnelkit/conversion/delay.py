"""Delay distributions for the time to convert, as log-location-scale families.

Every family models ``log T = m + s * W`` for a standard variable ``W``: a Gumbel (minimum)
``W`` gives the Weibull distribution (the exponential when ``s = 1``), a normal ``W`` the
log-normal. Natural parameters are ``scale = exp(m)`` and a ``shape``: the Weibull shape
``1 / s`` (1 for the exponential) or the log-normal ``sigma = s``; ``scale`` is the Weibull
scale, the exponential mean and the log-normal median.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy import special

from funnelkit._floating import exp_saturating

__all__ = ["FAMILIES", "DelayFamily", "DistributionName"]

DistributionName = Literal["exponential", "weibull", "lognormal"]

_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)
#: Beyond these standardised values every probability below is exactly 0 or 1 in double
#: precision; clipping there keeps ``exp(w)`` (Gumbel) and ``w * w`` (normal) from overflowing.
_GUMBEL_W_MAX = 700.0
_NORMAL_W_MAX = 1e8


def _clip(name: str, w: np.ndarray) -> np.ndarray:
    if name == "lognormal":
        return np.clip(w, -_NORMAL_W_MAX, _NORMAL_W_MAX)
    return np.minimum(w, _GUMBEL_W_MAX)


@dataclass(frozen=True)
class DelayFamily:
    """A log-location-scale family: the standard variable's functions and naming."""

    name: DistributionName
    fixed_scale: bool  # exponential: s = 1

    @property
    def n_delay_params(self) -> int:
        return 1 if self.fixed_scale else 2

    # ---------------------------------------------------------------- the standard variable
    def log_pdf(self, w: np.ndarray) -> np.ndarray:
        if self.name == "lognormal":
            return -0.5 * w * w - _LOG_SQRT_2PI
        return w - np.exp(w)

    def dlog_pdf(self, w: np.ndarray) -> np.ndarray:
        """First derivative of ``log_pdf`` in ``w``."""
        return -w if self.name == "lognormal" else 1.0 - np.exp(w)

    def d2log_pdf(self, w: np.ndarray) -> np.ndarray:
        """Second derivative of ``log_pdf`` in ``w``."""
        return np.full(np.shape(w), -1.0) if self.name == "lognormal" else -np.exp(w)

    def log_pdf_derivatives(self, w: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``log g(w)`` and its first two derivatives, sharing one ``exp`` for the Gumbel."""
        if self.name == "lognormal":
            return -0.5 * w * w - _LOG_SQRT_2PI, -w, np.full(w.shape, -1.0)
        ew = np.exp(w)
        return w - ew, 1.0 - ew, -ew

    def cdf_sf_pdf(self, w: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``G(w)``, ``1 - G(w)`` and ``g(w)``, each accurate in its own tail."""
        w = _clip(self.name, w)
        if self.name == "lognormal":
            pdf = np.exp(-0.5 * w * w - _LOG_SQRT_2PI)
            return special.ndtr(w), special.ndtr(-w), pdf
        ew = np.exp(w)
        sf = np.exp(-ew)
        return -np.expm1(-ew), sf, ew * sf

    def censored_parts(
        self, w: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """``G(w)`` (absolute accuracy), ``1 - G(w)``, ``g(w)`` and ``d log g / dw``."""
        if self.name == "lognormal":
            pdf = np.exp(-0.5 * w * w - _LOG_SQRT_2PI)
            sf = special.ndtr(-w)
        else:
            ew = np.exp(w)
            sf = np.exp(-ew)
            pdf = ew * sf
        # 1 - sf is accurate in absolute terms, which is all the likelihood's derivatives need
        return 1.0 - sf, sf, pdf, (-w if self.name == "lognormal" else 1.0 - ew)

    def log_sf(self, w: np.ndarray) -> np.ndarray:
        return special.log_ndtr(-w) if self.name == "lognormal" else -np.exp(w)

    def log_cdf(self, w: np.ndarray) -> np.ndarray:
        if self.name == "lognormal":
            return special.log_ndtr(w)
        return np.log(-np.expm1(-np.exp(w)))

    def std_quantile(self, q: float | np.ndarray) -> np.ndarray:
        """Quantile of the standard variable ``W``."""
        q = np.asarray(q, dtype=float)
        if self.name == "lognormal":
            return np.asarray(special.ndtri(q))
        return np.log(-np.log1p(-q))

    # ---------------------------------------------------------------- natural parameters
    def natural(self, location: float, log_s: float) -> dict[str, float]:
        """``{"scale": ..., "shape": ...}`` from the internal ``(m, log s)``.

        Saturates at 0 and ``inf`` (a fit that did not converge may sit anywhere).
        """
        s = exp_saturating(log_s)
        shape = s if self.name == "lognormal" else exp_saturating(-log_s)
        return {"scale": exp_saturating(location), "shape": shape}

    def internal(self, scale: float, shape: float) -> tuple[float, float]:
        """``(m, log s)`` from natural parameters."""
        s = shape if self.name == "lognormal" else 1.0 / shape
        if self.fixed_scale and not math.isclose(shape, 1.0):
            raise ValueError("the exponential distribution has shape 1")
        return math.log(scale), math.log(s)

    def cdf(self, t: np.ndarray, location: float, log_s: float) -> np.ndarray:
        """Delay CDF ``F0(t)`` on the natural time scale (0 for ``t <= 0``)."""
        t = np.asarray(t, dtype=float)
        w = (np.log(np.where(t > 0, t, 1.0)) - location) / exp_saturating(log_s)
        cdf = self.cdf_sf_pdf(w)[0]
        return np.where(t > 0, cdf, 0.0)

    def pdf(self, t: np.ndarray, location: float, log_s: float) -> np.ndarray:
        """Delay density ``f0(t)`` on the natural time scale (0 for ``t <= 0``)."""
        t = np.asarray(t, dtype=float)
        s = exp_saturating(log_s)
        safe = np.where(t > 0, t, 1.0)
        w = (np.log(safe) - location) / s
        return np.where(t > 0, self.cdf_sf_pdf(w)[2] / (s * safe), 0.0)

    def sample(
        self, rng: np.random.Generator, size: int, location: float, log_s: float
    ) -> np.ndarray:
        """Draw delays (used by the simulator)."""
        if self.name == "lognormal":
            w = rng.standard_normal(size)
        else:
            w = np.log(rng.standard_exponential(size))
        return np.exp(location + math.exp(log_s) * w)


FAMILIES: dict[str, DelayFamily] = {
    "exponential": DelayFamily("exponential", fixed_scale=True),
    "weibull": DelayFamily("weibull", fixed_scale=False),
    "lognormal": DelayFamily("lognormal", fixed_scale=False),
}
