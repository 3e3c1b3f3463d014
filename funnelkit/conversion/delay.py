"""Delay distributions for the time to convert, as log-location-scale families.

Every family models ``log T = m + s * W`` for a standard variable ``W``: a Gumbel (minimum)
``W`` gives the Weibull distribution (the exponential when ``s = 1``), a normal ``W`` the
log-normal. Natural parameters are ``scale = exp(m)`` and a ``shape``: the Weibull shape
``1 / s`` (1 for the exponential) or the log-normal ``sigma = s``; ``scale`` is the Weibull
scale, the exponential mean and the log-normal median.

What differs between families — the standard variable's functions, how ``shape`` maps to
``s`` and where the likelihood starts — is a method of the family's own class; everything
built on ``W`` (the delay CDF and density on the time scale) lives once in the base class.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from typing import Literal

import numpy as np
from scipy import special

from funnelkit._floating import exp_saturating
from funnelkit.exceptions import SpecError

__all__ = ["FAMILIES", "DelayFamily", "DistributionName", "GumbelFamily", "NormalFamily"]

DistributionName = Literal["exponential", "weibull", "lognormal"]

_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)
#: Beyond these standardised values every probability below is exactly 0 or 1 in double
#: precision; clipping there keeps ``exp(w)`` (Gumbel) and ``w * w`` (normal) from overflowing.
_GUMBEL_W_MAX = 700.0
_NORMAL_W_MAX = 1e8
#: Euler-Mascheroni constant: the mean of a standard Gumbel (minimum) is minus this.
_EULER_GAMMA = 0.5772156649


class DelayFamily(ABC):
    """A log-location-scale family: the standard variable's functions and naming."""

    name: DistributionName
    #: the exponential fixes ``s = 1``: one delay parameter instead of two
    fixed_scale: bool = False

    @property
    def n_delay_params(self) -> int:
        return 1 if self.fixed_scale else 2

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"

    # ---------------------------------------------------------------- the standard variable
    @abstractmethod
    def log_pdf_derivatives(self, w: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``log g(w)`` and its first two derivatives in ``w``."""

    @abstractmethod
    def cdf_sf_pdf(self, w: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``G(w)``, ``1 - G(w)`` and ``g(w)``, each accurate in its own tail."""

    @abstractmethod
    def sf_pdf_dlog_into(
        self, w: np.ndarray, sf: np.ndarray, pdf: np.ndarray, dlog: np.ndarray
    ) -> None:
        """Write ``1 - G(w)``, ``g(w)`` and ``d log g / dw`` into the given buffers.

        The censored rows of a cure-model fit are most of the data; computing in place
        spares a temporary per operation in that hot loop.
        """

    @abstractmethod
    def log_sf(self, w: np.ndarray) -> np.ndarray:
        """``log(1 - G(w))``."""

    @abstractmethod
    def log_cdf(self, w: np.ndarray) -> np.ndarray:
        """``log G(w)``."""

    @abstractmethod
    def std_quantile(self, q: float | np.ndarray) -> np.ndarray:
        """Quantile of the standard variable ``W``."""

    @abstractmethod
    def standard_sample(self, rng: np.random.Generator, size: int) -> np.ndarray:
        """Draws of ``W``."""

    # ---------------------------------------------------------------- parameters
    @abstractmethod
    def shape_from_log_s(self, log_s: float) -> float:
        """The natural ``shape`` from ``log s`` (saturating at 0 and ``inf``)."""

    @abstractmethod
    def s_from_shape(self, shape: float) -> float:
        """``s`` from the natural ``shape``."""

    @abstractmethod
    def start(self, log_delays: np.ndarray, fallback: float) -> list[float]:
        """Starting ``(m[, log s])`` of the likelihood from the observed log delays."""

    def natural(self, location: float, log_s: float) -> dict[str, float]:
        """``{"scale": ..., "shape": ...}`` from the internal ``(m, log s)``.

        Saturates at 0 and ``inf`` (a fit that did not converge may sit anywhere).
        """
        return {"scale": exp_saturating(location), "shape": self.shape_from_log_s(log_s)}

    def internal(self, scale: float, shape: float) -> tuple[float, float]:
        """``(m, log s)`` from natural parameters."""
        for label, value in (("scale", scale), ("shape", shape)):
            if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
                raise SpecError(
                    f"The {label} of a {self.name} delay must be a finite number > 0. "
                    f"Got {value!r} instead."
                )
        if self.fixed_scale and not math.isclose(shape, 1.0):
            raise SpecError(
                f"The exponential distribution has shape 1. Got shape={shape!r}: pass "
                "shape=1.0, or use the 'weibull' distribution for another shape."
            )
        return math.log(scale), math.log(self.s_from_shape(shape))

    # ---------------------------------------------------------------- the delay itself
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
        return np.exp(location + math.exp(log_s) * self.standard_sample(rng, size))


class GumbelFamily(DelayFamily):
    """Weibull delays (``W`` Gumbel-minimum), and the exponential with ``s = 1``."""

    def __init__(self, name: Literal["exponential", "weibull"]) -> None:
        self.name = name
        self.fixed_scale = name == "exponential"

    def log_pdf_derivatives(self, w: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        ew = np.exp(w)  # one exp shared by the three
        return w - ew, 1.0 - ew, -ew

    def cdf_sf_pdf(self, w: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        ew = np.exp(np.minimum(w, _GUMBEL_W_MAX))
        sf = np.exp(-ew)
        return -np.expm1(-ew), sf, ew * sf

    def sf_pdf_dlog_into(
        self, w: np.ndarray, sf: np.ndarray, pdf: np.ndarray, dlog: np.ndarray
    ) -> None:
        np.exp(w, out=dlog)  # e^w, for now
        np.negative(dlog, out=sf)
        np.exp(sf, out=sf)
        np.multiply(dlog, sf, out=pdf)
        np.subtract(1.0, dlog, out=dlog)

    def log_sf(self, w: np.ndarray) -> np.ndarray:
        return -np.exp(w)

    def log_cdf(self, w: np.ndarray) -> np.ndarray:
        return np.log(-np.expm1(-np.exp(w)))

    def std_quantile(self, q: float | np.ndarray) -> np.ndarray:
        return np.log(-np.log1p(-np.asarray(q, dtype=float)))

    def standard_sample(self, rng: np.random.Generator, size: int) -> np.ndarray:
        return np.log(rng.standard_exponential(size))

    def shape_from_log_s(self, log_s: float) -> float:
        return exp_saturating(-log_s)

    def s_from_shape(self, shape: float) -> float:
        return 1.0 / shape

    def start(self, log_delays: np.ndarray, fallback: float) -> list[float]:
        if self.fixed_scale:  # log of the mean delay
            return [float(np.log(np.mean(np.exp(log_delays)))) if log_delays.size else fallback]
        mean, spread = _mean_spread(log_delays, fallback)
        s = spread * math.sqrt(6.0) / math.pi  # sd of a Gumbel(min) is pi s / sqrt(6)
        return [mean + _EULER_GAMMA * s, math.log(s)]


class NormalFamily(DelayFamily):
    """Log-normal delays (``W`` standard normal)."""

    name: DistributionName = "lognormal"

    def log_pdf_derivatives(self, w: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return -0.5 * w * w - _LOG_SQRT_2PI, -w, np.full(w.shape, -1.0)

    def cdf_sf_pdf(self, w: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        w = np.clip(w, -_NORMAL_W_MAX, _NORMAL_W_MAX)
        pdf = np.exp(-0.5 * w * w - _LOG_SQRT_2PI)
        return special.ndtr(w), special.ndtr(-w), pdf

    def sf_pdf_dlog_into(
        self, w: np.ndarray, sf: np.ndarray, pdf: np.ndarray, dlog: np.ndarray
    ) -> None:
        np.negative(w, out=sf)
        special.ndtr(sf, out=sf)
        np.square(w, out=pdf)
        pdf *= -0.5
        pdf -= _LOG_SQRT_2PI
        np.exp(pdf, out=pdf)
        np.negative(w, out=dlog)

    def log_sf(self, w: np.ndarray) -> np.ndarray:
        return special.log_ndtr(-w)

    def log_cdf(self, w: np.ndarray) -> np.ndarray:
        return special.log_ndtr(w)

    def std_quantile(self, q: float | np.ndarray) -> np.ndarray:
        return np.asarray(special.ndtri(np.asarray(q, dtype=float)))

    def standard_sample(self, rng: np.random.Generator, size: int) -> np.ndarray:
        return rng.standard_normal(size)

    def shape_from_log_s(self, log_s: float) -> float:
        return exp_saturating(log_s)

    def s_from_shape(self, shape: float) -> float:
        return shape

    def start(self, log_delays: np.ndarray, fallback: float) -> list[float]:
        mean, spread = _mean_spread(log_delays, fallback)
        return [mean, math.log(spread)]


def _mean_spread(log_delays: np.ndarray, fallback: float) -> tuple[float, float]:
    mean = float(log_delays.mean()) if log_delays.size else fallback
    spread = float(log_delays.std()) if log_delays.size > 1 else 1.0
    return mean, (spread if spread > 1e-3 else 1.0)


FAMILIES: dict[str, DelayFamily] = {
    "exponential": GumbelFamily("exponential"),
    "weibull": GumbelFamily("weibull"),
    "lognormal": NormalFamily(),
}
