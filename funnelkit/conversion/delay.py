"""Delay distributions for the time to convert, as log-location-scale families.

Every family models ``log T = m + s * W`` for a standard variable ``W``: a Gumbel (minimum)
``W`` gives the Weibull distribution (the exponential when ``s = 1``), a normal ``W`` the
log-normal. Natural parameters are ``scale = exp(m)`` and a ``shape``: the Weibull shape
``1 / s`` (1 for the exponential) or the log-normal ``sigma = s``; ``scale`` is the Weibull
scale, the exponential mean and the log-normal median.

What differs between families — the standard variable's functions, how ``shape`` maps to
``s`` and where the likelihood starts — is a method of the family's own class; everything
built on ``W`` (the delay CDF and density on the time scale) lives once in the base class.

Delays with two modes (conversions within a session, and returns days later) get a
two-component log-normal mixture, :class:`LogNormalMixture`; ``DELAYS`` names them all.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from typing import Literal

import numpy as np
from scipy import optimize, special

from funnelkit._floating import exp_saturating
from funnelkit.exceptions import SpecError

__all__ = [
    "DELAYS",
    "FAMILIES",
    "MIXTURE",
    "DelayFamily",
    "DelayName",
    "DistributionName",
    "GumbelFamily",
    "LogNormalMixture",
    "NormalFamily",
]

#: The log-location-scale families.
DistributionName = Literal["exponential", "weibull", "lognormal"]
#: Every delay a cure model can use: the families and the two-component mixture.
DelayName = Literal["exponential", "weibull", "lognormal", "lognormal-mixture"]

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


class LogNormalMixture:
    """Two log-normal delay components: a fast mode and a slow one.

    ``F0(t) = w Φ((log t - m1) / s1) + (1 - w) Φ((log t - m2) / s2)``. Conversions that
    happen seconds into a session and others days later (people who come back) give delays
    with two modes that no single log-location-scale family follows: the fitted single
    family then trades the late converters for the early ones and understates the eventual
    rate. Parameters on the fitting scale are ``(logit w, m1, log s1, m2, log s2)``; the
    components are reported with the faster one first.

    Examples
    --------
    >>> mix = LogNormalMixture()
    >>> params = (0.0, math.log(0.01), math.log(0.5), math.log(10.0), math.log(0.5))
    >>> round(float(mix.cdf(np.array([1.0]), *params)[0]), 3)
    0.5
    """

    name = "lognormal-mixture"
    n_delay_params = 5
    fixed_scale = False
    parameter_names = ("logit_w", "location_1", "log_s_1", "location_2", "log_s_2")

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"

    @staticmethod
    def _z(log_t: np.ndarray, params: tuple[float, ...]) -> tuple[float, np.ndarray, np.ndarray]:
        logit_w, m1, log_s1, m2, log_s2 = params
        return (
            float(special.log_expit(logit_w)),
            (log_t - m1) / exp_saturating(log_s1),
            (log_t - m2) / exp_saturating(log_s2),
        )

    def log_sf_log_t(self, log_t: np.ndarray, *params: float) -> np.ndarray:
        """``log(1 - F0)`` at ``log t``, a log-sum of the two tails (no cancellation)."""
        log_w, z1, z2 = self._z(log_t, params)
        log_1mw = float(special.log_expit(-params[0]))
        return np.logaddexp(log_w + special.log_ndtr(-z1), log_1mw + special.log_ndtr(-z2))

    def log_cdf_log_t(self, log_t: np.ndarray, *params: float) -> np.ndarray:
        """``log F0`` at ``log t``."""
        log_w, z1, z2 = self._z(log_t, params)
        log_1mw = float(special.log_expit(-params[0]))
        return np.logaddexp(log_w + special.log_ndtr(z1), log_1mw + special.log_ndtr(z2))

    def log_pdf_log_t(self, log_t: np.ndarray, *params: float) -> np.ndarray:
        """Log density of ``log T`` (the density of ``T`` is this divided by ``t``)."""
        log_w, z1, z2 = self._z(log_t, params)
        log_1mw = float(special.log_expit(-params[0]))
        return np.logaddexp(
            log_w - params[2] - 0.5 * z1 * z1 - _LOG_SQRT_2PI,
            log_1mw - params[4] - 0.5 * z2 * z2 - _LOG_SQRT_2PI,
        )

    def cdf(self, t: np.ndarray, *params: float) -> np.ndarray:
        """Delay CDF ``F0(t)`` (0 for ``t <= 0``)."""
        t = np.asarray(t, dtype=float)
        log_t = np.log(np.where(t > 0, t, 1.0))
        return np.where(t > 0, np.exp(self.log_cdf_log_t(log_t, *params)), 0.0)

    def pdf(self, t: np.ndarray, *params: float) -> np.ndarray:
        """Delay density ``f0(t)`` (0 for ``t <= 0``)."""
        t = np.asarray(t, dtype=float)
        safe = np.where(t > 0, t, 1.0)
        return np.where(t > 0, np.exp(self.log_pdf_log_t(np.log(safe), *params)) / safe, 0.0)

    def log_quantile(self, q: float, *params: float) -> float:
        """``log t`` with ``F0(t) = q``, by bracketing between the components' quantiles."""
        m = (params[1], params[3])
        s = (exp_saturating(params[2]), exp_saturating(params[4]))
        z = float(special.ndtri(q))
        # F0 lies between the two component CDFs, so its quantile lies between theirs.
        ends = [m[0] + s[0] * z, m[1] + s[1] * z]
        lo, hi = min(ends) - 1e-9, max(ends) + 1e-9
        if not (math.isfinite(lo) and math.isfinite(hi)):
            return math.nan
        if hi - lo < 1e-12:
            return 0.5 * (lo + hi)
        return float(
            optimize.brentq(
                lambda x: float(self.log_cdf_log_t(np.array([x]), *params)[0]) - math.log(q),
                lo,
                hi,
                xtol=1e-12,
            )
        )

    def natural(self, *params: float) -> dict[str, float]:
        """Weight of the first component and each component's median and sigma."""
        return {
            "weight": float(special.expit(params[0])),
            "scale": exp_saturating(params[1]),
            "shape": exp_saturating(params[2]),
            "scale_2": exp_saturating(params[3]),
            "shape_2": exp_saturating(params[4]),
        }

    def start(self, log_delays: np.ndarray, fallback: float) -> list[float]:
        """Split the observed log delays at their widest gap near the middle."""
        if log_delays.size < 4:
            return [0.0, fallback - 1.0, 0.0, fallback + 1.0, 0.0]
        x = np.sort(log_delays)
        # the widest gap between the 10th and 90th percentile separates the two modes
        lo, hi = int(0.1 * x.size), max(int(0.9 * x.size), int(0.1 * x.size) + 1)
        cut = lo + int(np.argmax(np.diff(x[lo : hi + 1])))
        first, second = x[: cut + 1], x[cut + 1 :]
        w = min(max(first.size / x.size, 0.05), 0.95)
        m1, s1 = _mean_spread(first, fallback)
        m2, s2 = _mean_spread(second, fallback)
        return [math.log(w / (1.0 - w)), m1, math.log(s1), m2, math.log(s2)]

    def sample(self, rng: np.random.Generator, size: int, *params: float) -> np.ndarray:
        """Draw delays (used by the simulator)."""
        first = rng.random(size) < special.expit(params[0])
        z = rng.standard_normal(size)
        log_t = np.where(
            first,
            params[1] + exp_saturating(params[2]) * z,
            params[3] + exp_saturating(params[4]) * z,
        )
        return np.exp(log_t)


MIXTURE = LogNormalMixture()
DELAYS: dict[str, DelayFamily | LogNormalMixture] = {**FAMILIES, MIXTURE.name: MIXTURE}
