"""The result of a mixture cure model fit: coefficients, covariance and derived quantities."""

from __future__ import annotations

import math

import numpy as np
from scipy import special

from funnelkit._results import Result
from funnelkit.conversion.delay import FAMILIES, DelayFamily, DistributionName
from funnelkit.conversion.intervals import logit_interval, normal_quantile

__all__ = ["CureFit"]

Interval = tuple[float, float]


class CureFit(Result):
    """A fitted mixture cure model (Maller & Zhou 1996).

    ``coefficients`` are on the fitting scale: ``(logit p, m, log s)`` (no ``log s`` for the
    exponential), where the delay among converters satisfies ``log T = m + s W``. ``logit p``
    is ``inf`` when ``p`` was fixed at 1 because nobody was censored. Intervals use the delta
    method on the fitting scale: ``p`` and rates on the logit scale, times on the log scale.
    """

    title = "Mixture cure model"

    distribution: DistributionName
    coefficients: tuple[float, ...]
    covariance: tuple[tuple[float, ...], ...] | None
    log_likelihood: float
    aic: float
    n_params: int
    converged: bool
    p_fixed: bool = False
    message: str = ""

    @property
    def family(self) -> DelayFamily:
        return FAMILIES[self.distribution]

    @property
    def parameter_names(self) -> tuple[str, ...]:
        names = ("logit_p", "location")
        return names if self.family.fixed_scale else (*names, "log_s")

    def _cov(self) -> np.ndarray | None:
        return None if self.covariance is None else np.asarray(self.covariance, dtype=float)

    @property
    def _location(self) -> float:
        return self.coefficients[1]

    @property
    def _log_s(self) -> float:
        return 0.0 if self.family.fixed_scale else self.coefficients[2]

    @property
    def eventual_rate(self) -> float:
        """Estimated share ``p`` of entrants who eventually convert."""
        return float(special.expit(self.coefficients[0]))

    def eventual_rate_ci(self, conf_level: float = 0.95) -> Interval | None:
        """Wald interval for ``p`` built on the logit scale."""
        cov = self._cov()
        if cov is None or self.p_fixed:
            return None
        return logit_interval(self.coefficients[0], math.sqrt(cov[0, 0]), conf_level=conf_level)

    @property
    def delay_parameters(self) -> dict[str, float]:
        """Natural delay parameters ``{"scale": ..., "shape": ...}``."""
        return self.family.natural(self._location, self._log_s)

    def delay_quantile(
        self, q: float, *, conf_level: float = 0.95
    ) -> tuple[float, Interval | None]:
        """The ``q``-quantile of the time to convert among eventual converters, with interval.

        ``log t_q = m + s z_q`` is linear in ``m`` and nearly so in ``log s``; the interval is
        a delta-method interval on the log-time scale.
        """
        z_q = float(self.family.std_quantile(q))
        s = math.exp(self._log_s)
        log_t = self._location + s * z_q
        cov = self._cov()
        if cov is None:
            return math.exp(log_t), None
        grad = np.zeros(len(self.coefficients))
        grad[1] = 1.0
        if not self.family.fixed_scale:
            grad[2] = s * z_q
        se = math.sqrt(max(float(grad @ cov @ grad), 0.0))
        z = normal_quantile(conf_level)
        return math.exp(log_t), (math.exp(log_t - z * se), math.exp(log_t + z * se))

    def cdf(self, t: np.ndarray | float) -> np.ndarray:
        """Population cumulative conversion ``p F0(t)``."""
        return self.eventual_rate * self.family.cdf(
            np.asarray(t, float), self._location, self._log_s
        )

    def delay_pdf(self, t: np.ndarray | float) -> np.ndarray:
        """Density of the time to convert among eventual converters."""
        return self.family.pdf(np.asarray(t, float), self._location, self._log_s)

    def rate_within(
        self, window: float, *, conf_level: float = 0.95
    ) -> tuple[float, Interval | None]:
        """``P(convert within window) = p F0(window)`` with a logit-scale delta interval."""
        family, s = self.family, math.exp(self._log_s)
        p = self.eventual_rate
        if window <= 0:
            return 0.0, None
        w = np.array([(math.log(window) - self._location) / s])
        cdf, _, pdf = (float(v[0]) for v in family.cdf_sf_pdf(w))
        y = p * cdf
        cov = self._cov()
        if cov is None or not 0.0 < y < 1.0:
            return y, None
        grad = np.zeros(len(self.coefficients))
        if not self.p_fixed:
            grad[0] = p * (1.0 - p) * cdf
        grad[1] = -p * pdf / s
        if not family.fixed_scale:
            grad[2] = -p * pdf * float(w[0])
        grad /= y * (1.0 - y)
        se = math.sqrt(max(float(grad @ cov @ grad), 0.0))
        return y, logit_interval(float(special.logit(y)), se, conf_level=conf_level)
