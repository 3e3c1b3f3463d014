"""The result of a mixture cure model fit: coefficients, covariance and derived quantities."""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable

import numpy as np
from scipy import special

from funnelkit._floating import exp_saturating, underflow_is_zero
from funnelkit._results import Interval, Result
from funnelkit.conversion._interval import as_interval
from funnelkit.conversion.delay import DELAYS, DelayFamily, DelayName, LogNormalMixture
from funnelkit.intervals import log_interval, logit_interval

__all__ = ["CureFit"]


class CureFit(Result):
    """A fitted mixture cure model (Maller & Zhou 1996).

    ``coefficients`` are on the fitting scale: ``(logit p, m, log s)`` (no ``log s`` for the
    exponential), where the delay among converters satisfies ``log T = m + s W``. ``logit p``
    is ``inf`` when ``p`` was fixed at 1 because nobody was censored. Intervals use the delta
    method on the fitting scale: ``p`` and rates on the logit scale (saturating at 0 and 1),
    times on the log scale (saturating at 0 and ``inf``), so no interval can overflow.

    References
    ----------
    Maller, R. A. & Zhou, X. (1996). *Survival Analysis with Long-Term Survivors*. Wiley.
    Kalbfleisch, J. D. & Prentice, R. L. (2002). *The Statistical Analysis of Failure Time
    Data*, 2nd ed., section 3.4. Wiley.
    """

    title = "Mixture cure model"

    distribution: DelayName
    coefficients: tuple[float, ...]
    covariance: tuple[tuple[float, ...], ...] | None
    log_likelihood: float
    aic: float
    n_params: int
    converged: bool
    p_fixed: bool = False
    message: str = ""
    #: goodness of fit against Kaplan-Meier: the largest vertical distance between the
    #: model's cumulative conversion ``p F0(t)`` and the Kaplan-Meier curve over the
    #: follow-up (a Kolmogorov-type statistic, in conversion probability); None until a
    #: Kaplan-Meier curve of the same data has been compared
    km_distance: float | None = None

    @property
    def family(self) -> DelayFamily | LogNormalMixture:
        return DELAYS[self.distribution]

    @property
    def parameter_names(self) -> tuple[str, ...]:
        family = self.family
        if isinstance(family, LogNormalMixture):
            return ("logit_p", *family.parameter_names)
        names = ("logit_p", "location")
        return names if family.fixed_scale else (*names, "log_s")

    @property
    def _delay_params(self) -> tuple[float, ...]:
        """The delay's own parameters, as its family's ``cdf``/``pdf`` take them."""
        if isinstance(self.family, LogNormalMixture):
            return tuple(self.coefficients[1:])
        return self._location, self._log_s

    def _cov(self) -> np.ndarray | None:
        return None if self.covariance is None else np.asarray(self.covariance, dtype=float)

    @property
    def _location(self) -> float:
        return self.coefficients[1]

    @property
    def _log_s(self) -> float:
        return 0.0 if self.family.fixed_scale else self.coefficients[2]

    @property
    def _s(self) -> float:
        # A fit that did not converge may sit anywhere: saturate rather than overflow.
        return exp_saturating(self._log_s)

    @property
    def eventual_rate(self) -> float:
        """Estimated share ``p`` of entrants who eventually convert."""
        return float(special.expit(self.coefficients[0]))

    @property
    def eventual_rate_std_error(self) -> float | None:
        """Standard error of ``p`` (delta method from the logit scale); None if not estimable."""
        cov = self._cov()
        if cov is None or self.p_fixed:
            return None
        p = self.eventual_rate
        return p * (1.0 - p) * math.sqrt(max(float(cov[0, 0]), 0.0))

    def eventual_rate_interval(self, conf_level: float = 0.95) -> Interval | None:
        """Wald interval for ``p`` built on the logit scale."""
        cov = self._cov()
        if cov is None or self.p_fixed:
            return None
        bounds = logit_interval(self.coefficients[0], math.sqrt(cov[0, 0]), conf_level=conf_level)
        return as_interval(bounds, self.eventual_rate, conf_level)

    def eventual_rate_ci(self, conf_level: float = 0.95) -> Interval | None:
        """Former name of :meth:`eventual_rate_interval`, kept as an alias.

        On every result ``eventual_rate_ci`` is an interval *field*; here it was a method,
        so the method has a name of its own.
        """
        warnings.warn(
            "CureFit.eventual_rate_ci(conf_level) is now eventual_rate_interval(conf_level); "
            "eventual_rate_ci is the interval field of TransitionEstimate.",
            DeprecationWarning,
            stacklevel=2,
        )
        return self.eventual_rate_interval(conf_level)

    @underflow_is_zero
    def distance_to(self, times: np.ndarray, km_rate: np.ndarray) -> float:
        """Largest ``|p F0(t) - F_KM(t)|`` over a Kaplan-Meier step curve.

        ``km_rate[j]`` is the Kaplan-Meier conversion just after ``times[j]``; the step curve
        is compared on both sides of every step (just before a step it still has the
        previous value), which is where the supremum of the distance to a continuous curve
        is reached. 0 for an empty curve.
        """
        times = np.asarray(times, dtype=float)
        km_rate = np.asarray(km_rate, dtype=float)
        if times.size == 0:
            return 0.0
        model = self.cdf(times)
        before = np.concatenate(([0.0], km_rate[:-1]))
        gap = np.maximum(np.abs(model - km_rate), np.abs(model - before))
        return float(gap.max())

    @property
    def delay_parameters(self) -> dict[str, float]:
        """Natural delay parameters ``{"scale": ..., "shape": ...}``.

        A two-component delay adds ``weight`` (of the faster component), ``scale_2`` and
        ``shape_2``; each scale is a component's median, each shape its sigma.
        """
        return self.family.natural(*self._delay_params)

    @underflow_is_zero
    def delay_quantile(
        self, q: float, *, conf_level: float = 0.95
    ) -> tuple[float | None, Interval | None]:
        """The ``q``-quantile of the time to convert among eventual converters, with interval.

        ``log t_q = m + s z_q`` is linear in ``m`` and nearly so in ``log s``; the interval is
        a delta-method interval on the log-time scale (:func:`log_interval`), whose ends
        saturate at 0 and ``inf``. ``(None, None)`` when the quantile itself is not a positive
        finite time (only a fit that did not converge gets there).
        """
        family = self.family
        if isinstance(family, LogNormalMixture):
            log_t = family.log_quantile(q, *self._delay_params)
            return self._numeric_interval(
                log_t,
                lambda c: family.log_quantile(q, *c[1:]),
                log_interval,
                math.exp,
                conf_level,
            )
        z_q = float(family.std_quantile(q))
        s = self._s
        # z_q is 0 at the Weibull's 63rd and the log-normal's 50th percentile: skip s * z_q
        # there so that a saturated s = inf cannot turn the location into NaN.
        log_t = self._location + s * z_q if z_q != 0.0 else self._location
        time = exp_saturating(log_t)
        if not 0.0 < time < math.inf:
            return None, None
        cov = self._cov()
        if cov is None:
            return time, None
        grad = np.zeros(len(self.coefficients))
        grad[1] = 1.0
        if not self.family.fixed_scale:
            grad[2] = s * z_q
        se = math.sqrt(max(float(grad @ cov @ grad), 0.0))
        return time, as_interval(log_interval(log_t, se, conf_level=conf_level), time, conf_level)

    @underflow_is_zero
    def cdf(self, t: np.ndarray | float) -> np.ndarray:
        """Population cumulative conversion ``p F0(t)``."""
        return self.eventual_rate * self.delay_cdf(t)

    @underflow_is_zero
    def delay_cdf(self, t: np.ndarray | float) -> np.ndarray:
        """Cumulative distribution of the time to convert among eventual converters."""
        return self.family.cdf(np.asarray(t, float), *self._delay_params)

    @underflow_is_zero
    def delay_log_sf(self, t: np.ndarray | float) -> np.ndarray:
        """``log(1 - F0(t))`` among eventual converters, accurate far into the tail.

        A forecast conditions on a long wait through ratios of these survival values, which
        underflow to 0 on the natural scale long before their ratio is negligible.
        """
        t = np.asarray(t, dtype=float)
        log_t = np.log(np.where(t > 0, t, 1.0))
        family = self.family
        if isinstance(family, LogNormalMixture):
            out = family.log_sf_log_t(log_t, *self._delay_params)
        else:
            out = family.log_sf((log_t - self._location) / self._s)
        return np.where(t > 0, out, 0.0)

    @underflow_is_zero
    def delay_pdf(self, t: np.ndarray | float) -> np.ndarray:
        """Density of the time to convert among eventual converters."""
        return self.family.pdf(np.asarray(t, float), *self._delay_params)

    @underflow_is_zero
    def rate_within(
        self, window: float, *, conf_level: float = 0.95
    ) -> tuple[float, Interval | None]:
        """``P(convert within window) = p F0(window)`` with a logit-scale delta interval.

        The interval is built on the logit scale (:func:`logit_interval`), so it stays in
        [0, 1]; None where ``p F0`` is 0 or 1 (no Wald interval exists on a boundary).
        """
        family = self.family
        p = self.eventual_rate
        if window <= 0:
            return 0.0, None
        if isinstance(family, LogNormalMixture):
            y = p * float(family.cdf(np.array([window]), *self._delay_params)[0])
            if not 0.0 < y < 1.0:
                return y, None

            def logit_rate(c: tuple[float, ...]) -> float:
                rate = special.expit(c[0]) * float(family.cdf(np.array([window]), *c[1:])[0])
                return float(special.logit(rate))

            _, ci = self._numeric_interval(
                float(special.logit(y)), logit_rate, logit_interval, special.expit, conf_level
            )
            return y, ci
        s = self._s
        gap = math.log(window) - self._location
        if s == 0.0:  # the delay distribution collapsed to a point mass at exp(m)
            return (p if gap >= 0.0 else 0.0), None
        w = np.array([gap / s])
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
        bounds = logit_interval(float(special.logit(y)), se, conf_level=conf_level)
        return y, as_interval(bounds, y, conf_level)

    def _numeric_interval(
        self,
        value: float,
        fun: Callable[[tuple[float, ...]], float],
        interval: Callable[..., tuple[float, float] | None],
        back: Callable[[float], float],
        conf_level: float,
    ) -> tuple[float | None, Interval | None]:
        """Delta-method interval of ``back(value)`` with a central-difference gradient.

        For the two-component delay, whose quantiles and rates have no closed-form
        derivative; ``fun`` maps the coefficients to the quantity on its interval scale.
        """
        if not math.isfinite(value):
            return None, None
        estimate = float(back(value))
        cov = self._cov()
        if cov is None:
            return estimate, None
        coef = np.asarray(self.coefficients, dtype=float)
        grad = np.zeros(coef.size)
        for i in range(1 if self.p_fixed else 0, coef.size):
            h = 1e-5 * max(1.0, abs(coef[i]))
            up, down = coef.copy(), coef.copy()
            up[i] += h
            down[i] -= h
            grad[i] = (fun(tuple(up)) - fun(tuple(down))) / (2.0 * h)
        if not np.all(np.isfinite(grad)):
            return estimate, None
        se = math.sqrt(max(float(grad @ cov @ grad), 0.0))
        return estimate, as_interval(
            interval(value, se, conf_level=conf_level), estimate, conf_level
        )
