"""Special functions and quadrature rules of the CLV models, accurate where scipy's are not.

* :func:`log_pochhammer` and :func:`digamma_difference`: ``lnG(a + k) - lnG(a)`` and
  ``psi(a + k) - psi(a)`` that keep their digits for the huge ``a`` met next to a limit model;
* :func:`beta_expectation`: expectations over a beta distribution by a Gauss-Jacobi rule that
  stays finite for concentrated betas;
* :func:`inverse_shifted_gamma_mean`: ``E[1 / (z + Y)]``, ``Y ~ Gamma(s, 1)``, the Pareto/NBD
  DERT term, where scipy's ``hyperu`` fails.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.polynomial.legendre import leggauss
from numpy.typing import ArrayLike
from scipy.linalg import eigh_tridiagonal
from scipy.special import digamma, gammaln

__all__ = [
    "beta_expectation",
    "digamma_difference",
    "inverse_shifted_gamma_mean",
    "log_pochhammer",
]

#: Gauss-Jacobi nodes used for expectations over a beta distribution.
QUADRATURE_NODES = 64
_GL_NODES, _GL_WEIGHTS = leggauss(48)

# above this argument the gamma-function ratios use Stirling's series: gammaln(a + k) -
# gammaln(a) would lose about log10(a log a) digits to cancellation (all of them near 1e12)
_STIRLING_FROM = 1e4


def log_pochhammer(a: ArrayLike, k: ArrayLike) -> np.ndarray:
    """``lnG(a + k) - lnG(a)`` (``a > 0``, ``a + k > 0``), accurate for huge ``a``.

    For ``a >= 1e4`` from Stirling's series, ``(a - 1/2) log1p(k/a) + k log(a + k) - k``
    plus the difference of the ``1/(12z) - 1/(360z^3)`` corrections (truncation below
    ``1e-24``), so concentrated betas (``a + b`` up to ``1e13``) keep their digits.
    """
    a, k = np.broadcast_arrays(np.asarray(a, dtype=float), np.asarray(k, dtype=float))
    big = a >= _STIRLING_FROM
    if not big.any():  # the common case, at the cost of two gammaln calls
        return np.asarray(gammaln(a + k) - gammaln(a))
    safe = np.where(big, a, _STIRLING_FROM)
    z = safe + k
    corr = -k / (12.0 * safe * z) - (1.0 / z**3 - 1.0 / safe**3) / 360.0
    stirling = (safe - 0.5) * np.log1p(k / safe) + k * np.log(z) - k + corr
    small = np.where(big, 1.0, a)
    return np.asarray(np.where(big, stirling, gammaln(small + k) - gammaln(small)))


def digamma_difference(a: ArrayLike, k: ArrayLike) -> np.ndarray:
    """``psi(a + k) - psi(a)`` (``a > 0``, ``k >= 0``), accurate for huge ``a``: the
    derivative of :func:`log_pochhammer` in ``a``, from the asymptotic series
    ``psi(z) = log z - 1/(2z) - 1/(12z^2) + 1/(120z^4)`` for ``a >= 1e4``."""
    a, k = np.broadcast_arrays(np.asarray(a, dtype=float), np.asarray(k, dtype=float))
    big = a >= _STIRLING_FROM
    if not big.any():
        return np.asarray(digamma(a + k) - digamma(a))
    safe = np.where(big, a, _STIRLING_FROM)
    z = safe + k
    series = (
        np.log1p(k / safe)
        + k / (2.0 * safe * z)
        + k * (2.0 * safe + k) / (12.0 * safe**2 * z**2)
        + (1.0 / z**4 - 1.0 / safe**4) / 120.0
    )
    small = np.where(big, 1.0, a)
    return np.asarray(np.where(big, series, digamma(small + k) - digamma(small)))


def beta_expectation(f: Callable[[np.ndarray], np.ndarray], a: float, b: np.ndarray) -> np.ndarray:
    """``E[f(p)]``, ``p ~ Beta(a, b_i)``, by Gauss-Jacobi quadrature for each ``b_i``.

    The rule's weight function is the beta density itself, so the rule is exact for
    polynomial ``f`` of degree < 128 and converges fast for the analytic integrands used
    here. Nodes and weights come from the Jacobi recurrence (Golub & Welsch 1969): unlike
    ``scipy.special.roots_jacobi``, whose normalising constant ``2^(a+b+1)`` overflows for
    ``a + b`` above about 1000, this stays finite for concentrated distributions.
    """
    b = np.asarray(b, dtype=float)
    out = np.empty((*b.shape, 1))
    flat_b = b.reshape(-1)
    values, inverse = np.unique(flat_b, return_inverse=True)
    nodes = np.empty((values.size, QUADRATURE_NODES))
    weights = np.empty((values.size, QUADRATURE_NODES))
    for i, value in enumerate(values):
        nodes[i], weights[i] = _beta_rule(a, float(value))
    p = nodes[inverse].reshape((*b.shape, QUADRATURE_NODES))
    w = weights[inverse].reshape((*b.shape, QUADRATURE_NODES))
    out = np.einsum("...k,...k->...", np.asarray(f(p), dtype=float), w)
    return np.asarray(out)


def _beta_rule(a: float, b: float) -> tuple[np.ndarray, np.ndarray]:
    """Nodes in ``(0, 1)`` and weights summing to 1 of the Gauss rule for ``Beta(a, b)``."""
    # Jacobi weight (1-x)^al (1+x)^be on [-1, 1] with x = 2p - 1: al = b - 1, be = a - 1
    al, be = b - 1.0, a - 1.0
    k = np.arange(QUADRATURE_NODES, dtype=float)
    s = 2.0 * k + al + be
    with np.errstate(divide="ignore", invalid="ignore"):
        diag = (be * be - al * al) / (s * (s + 2.0))
    diag[0] = (be - al) / (al + be + 2.0)
    m = k[1:]
    sm = 2.0 * m + al + be
    # (m + al + be) / (sm - 1) is exactly 1 at m = 1; written out it is 0/0 when a + b = 1
    ratio = np.ones_like(m)
    ratio[1:] = (m[1:] + al + be) / (sm[1:] - 1.0)
    off2 = 4.0 * m * (m + al) * (m + be) * ratio / (sm * sm * (sm + 1.0))
    x, vectors = eigh_tridiagonal(diag, np.sqrt(off2))
    w = vectors[0] ** 2
    return np.clip((x + 1.0) / 2.0, 0.0, 1.0), w / w.sum()


def inverse_shifted_gamma_mean(s: float, z: np.ndarray) -> np.ndarray:
    """``E[1 / (z + Y)]`` for ``Y ~ Gamma(s, 1)``, i.e. ``z^(s-1) U(s, s, z)``, for z > 0.

    scipy's ``hyperu`` returns NaN or loses all accuracy for large ``s`` and small ``z``, the
    usual regime here (``z`` = yearly discount rate x dropout scale in years, ~0.01-1). For
    ``z >= 1`` a continued fraction of the incomplete gamma function converges in well under a
    hundred terms; below, the integral ``int_0^inf exp(-z (e^y - 1) - (s - 1) y) dy`` is smooth
    and is integrated by panel Gauss-Legendre up to where the integrand is below e^-40.
    """
    z = np.asarray(z, dtype=float)
    out = np.empty_like(z)
    large = z >= 1.0
    with np.errstate(under="ignore", over="ignore"):
        out[large] = _continued_fraction(s, z[large])
    small = ~large
    if np.any(small):
        zs = z[small][:, None]
        upper = np.log1p(40.0 / zs) + 1.0
        panels = 12
        total = np.zeros(zs.shape[0])
        for i in range(panels):
            a, b = upper * i / panels, upper * (i + 1) / panels
            y = (b - a) / 2.0 * _GL_NODES + (a + b) / 2.0
            with np.errstate(under="ignore", over="ignore"):
                integrand = np.exp(-zs * np.expm1(y) - (s - 1.0) * y)
            total += ((b - a) / 2.0 * integrand * _GL_WEIGHTS).sum(axis=1)
        out[small] = total
    return out


def _continued_fraction(s: float, z: np.ndarray, max_terms: int = 2000) -> np.ndarray:
    """Modified Lentz evaluation of ``e^z z^(s-1) Gamma(1 - s, z)`` (valid for z >= 1)."""
    if z.size == 0:
        return z
    a = 1.0 - s
    tiny = 1e-300
    b = z + 1.0 - a
    c = np.full_like(z, 1.0 / tiny)
    d = 1.0 / b
    f = d.copy()
    for i in range(1, max_terms):
        an = -i * (i - a)
        b = b + 2.0
        d = an * d + b
        d = np.where(np.abs(d) < tiny, tiny, d)
        c = b + an / c
        c = np.where(np.abs(c) < tiny, tiny, c)
        d = 1.0 / d
        delta = d * c
        f = f * delta
        if np.all(np.abs(delta - 1.0) < 1e-15):
            break
    return f
