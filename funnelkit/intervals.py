"""Interval and multiple-testing helpers shared by every estimator."""

from __future__ import annotations

import math

import numpy as np
from scipy import special, stats

from funnelkit._floating import exp_saturating

__all__ = ["holm_adjust", "log_interval", "logit_interval", "normal_quantile", "wilson_interval"]


def normal_quantile(conf_level: float) -> float:
    """Two-sided standard normal critical value: 1.96 for ``conf_level=0.95``."""
    return float(stats.norm.ppf(0.5 + conf_level / 2.0))


def wilson_interval(
    successes: int, trials: int, *, conf_level: float = 0.95
) -> tuple[float, float] | None:
    """Wilson (1927) score interval for a binomial proportion; None when ``trials == 0``.

    Unlike the Wald interval it stays inside [0, 1] and keeps its coverage near 0 and 1. At
    the boundaries it saturates exactly: the lower end is 0 when ``successes == 0`` and the
    upper end is 1 when ``successes == trials``, so the share always lies inside it.

    Examples
    --------
    >>> lo, hi = wilson_interval(3, 10)
    >>> round(lo, 4), round(hi, 4)
    (0.1078, 0.6032)

    References
    ----------
    Wilson, E. B. (1927). Probable inference, the law of succession, and statistical
    inference. *Journal of the American Statistical Association* 22(158), 209-212.
    """
    if trials <= 0:
        return None
    z = normal_quantile(conf_level)
    n, share = float(trials), successes / trials
    denom = 1.0 + z * z / n
    centre = (share + z * z / (2.0 * n)) / denom
    half = z * math.sqrt(share * (1.0 - share) / n + z * z / (4.0 * n * n)) / denom
    # Clamp the exact endpoints: rounding can leave 1e-17 outside [0, 1].
    lower = 0.0 if successes == 0 else max(0.0, centre - half)
    upper = 1.0 if successes == trials else min(1.0, centre + half)
    return (lower, upper)


def logit_interval(
    logit: float, std_error: float | None, *, conf_level: float = 0.95
) -> tuple[float, float] | None:
    """A Wald interval built on the logit scale and mapped back to [0, 1].

    ``expit`` cannot overflow: an end far out on the logit scale saturates at 0 or 1. None
    when the logit or its standard error is not finite.

    Examples
    --------
    >>> lo, hi = logit_interval(0.0, 0.5)
    >>> round(lo, 4), round(hi, 4)
    (0.2729, 0.7271)

    References
    ----------
    Collett, D. (2003). *Modelling Binary Data*, 2nd ed., section 2.6. Chapman & Hall.
    """
    if std_error is None or not math.isfinite(std_error) or not math.isfinite(logit):
        return None
    z = normal_quantile(conf_level)
    return (
        float(special.expit(logit - z * std_error)),
        float(special.expit(logit + z * std_error)),
    )


def log_interval(
    log_value: float, std_error: float | None, *, conf_level: float = 0.95
) -> tuple[float, float] | None:
    """A Wald interval built on the log scale and mapped back to ``[0, inf]``.

    The delta-method interval of a positive quantity (a time, a rate) whose logarithm is
    roughly normal: ``exp(log x -/+ z se)``. The ends are exponentiated one at a time and
    saturate at 0 and ``inf`` instead of overflowing, so an uninformative interval reads
    ``(0, inf)``. None when the log value or its standard error is not finite.

    Examples
    --------
    >>> lo, hi = log_interval(math.log(2.0), 0.1)
    >>> round(lo, 4), round(hi, 4)
    (1.644, 2.433)

    References
    ----------
    Kalbfleisch, J. D. & Prentice, R. L. (2002). *The Statistical Analysis of Failure Time
    Data*, 2nd ed., section 3.4 (intervals for log-location-scale parameters). Wiley.
    """
    if std_error is None or not math.isfinite(std_error) or not math.isfinite(log_value):
        return None
    z = normal_quantile(conf_level)
    return exp_saturating(log_value - z * std_error), exp_saturating(log_value + z * std_error)


def holm_adjust(p_values: np.ndarray) -> np.ndarray:
    """Holm (1979) step-down adjusted p-values (family-wise error control).

    Examples
    --------
    >>> holm_adjust(np.array([0.01, 0.04, 0.03])).round(3).tolist()
    [0.03, 0.06, 0.06]
    """
    p = np.asarray(p_values, dtype=float)
    m = p.size
    if m == 0:
        return p.copy()
    order = np.argsort(p, kind="stable")
    scaled = (m - np.arange(m)) * p[order]
    adjusted = np.minimum(np.maximum.accumulate(scaled), 1.0)
    out = np.empty(m)
    out[order] = adjusted
    return out
