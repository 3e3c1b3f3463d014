"""Mixing distributions of the purchase and dropout processes, heterogeneous or common.

The BTYD models mix a per-customer process over a population distribution: a purchase rate
``lambda ~ Gamma(r, alpha)``, a dropout probability ``p ~ Beta(a, b)``, an exponential
lifetime's dropout rate ``mu ~ Gamma(s, beta)``. When the data show
no heterogeneity the maximum likelihood lies at the limit of that family (``r, alpha → ∞``
with ``r / alpha`` fixed; ``a + b → ∞`` with ``a / (a + b)`` fixed), where the mixture is a
point mass: every customer has the same rate or dropout probability. Each family here has a
heterogeneous and a point-mass member with the same methods, so a model's formulas are
written once and are exact in the limit instead of evaluating the general form at huge
parameters (where ``lnB(a, b + x) - lnB(a, b)`` loses every digit and ``2F1`` overflows).
The beta dropout has a third member, :class:`TwoPointDropout`, for the opposite limit
``a, b → 0`` (some drop out at the first chance, the others never).

The discrete-time models (BG/BB, sBG) also mix a purchase probability at each transaction
opportunity, ``p ~ Beta(alpha, beta)`` (:class:`BetaPurchase` / :class:`CommonPurchase`), and
sum the dropout survival over future opportunities (``survival_sum``,
``discounted_survival``); the Gamma-Gamma spend model mixes the spend rate ``nu`` as a
:class:`GammaRate` and needs ``E[1 / nu]`` (``mean_inverse``).

Notation: ``x`` purchases, ``s`` exposure time, ``n`` dropout chances survived, ``m``
transaction opportunities.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
from numpy.polynomial.legendre import leggauss
from numpy.typing import ArrayLike
from scipy.special import (
    betainc,
    digamma,
    gammainc,
    gammaln,
    hyp2f1,
    logsumexp,
    xlog1py,
    xlogy,
)

from funnelkit.clv._special import (
    beta_expectation,
    inverse_shifted_gamma_mean,
    log_pochhammer,
)

__all__ = [
    "BetaDropout",
    "BetaPurchase",
    "CommonDropout",
    "CommonLifetime",
    "CommonPurchase",
    "CommonRate",
    "DropoutMixing",
    "GammaLifetime",
    "GammaRate",
    "LifetimeMixing",
    "PurchaseMixing",
    "RateMixing",
    "TwoPointDropout",
    "death_nodes",
    "gamma_rate_near",
    "log_death_integral",
    "mean_rate",
    "rate_mixing",
]

#: Gauss-Legendre nodes of the integral over the dropout time (:func:`log_death_integral`).
DEATH_NODES = 48
_DEATH_NODES, _DEATH_WEIGHTS = leggauss(DEATH_NODES)
#: Where :func:`death_nodes` cuts the span of an integrand with an exponential factor:
#: ``kappa L = 40`` leaves out less than 1e-17 of it.
TAIL_REACH = 40.0


@dataclass(frozen=True)
class GammaRate:
    """Purchase rate ``lambda ~ Gamma(shape, rate)`` (shape ``r``, rate ``alpha``)."""

    shape: float
    rate: float

    @property
    def mean(self) -> float:
        return self.shape / self.rate

    def decay(self) -> tuple[Any, Any]:
        """``(power, scale)``: ``log_weight`` falls as ``(1 + s / scale)^-power`` for
        no purchases (see :mod:`funnelkit.clv._pareto_alive`)."""
        return self.shape, self.rate

    def mean_inverse(self) -> float:
        """``E[1 / lambda] = alpha / (r - 1)``; infinite for ``r <= 1``."""
        return self.rate / (self.shape - 1.0) if self.shape > 1.0 else float("inf")

    def log_weight(self, x: np.ndarray, s: np.ndarray) -> np.ndarray:
        """``log E[lambda^x e^(-lambda s)]``: the Poisson likelihood of ``x`` purchases in
        exposure ``s`` without the ``s^x / x!`` factor, integrated over the rate."""
        r, alpha = self.shape, self.rate
        # r log(alpha / (alpha + s)) written as one log1p: r may be huge near the limit
        return np.asarray(
            log_pochhammer(r, x) - r * np.log1p(np.asarray(s) / alpha) - x * np.log(alpha + s)
        )

    def posterior(self, x: np.ndarray, s: np.ndarray) -> GammaRate:
        """The rate's distribution after ``x`` purchases in exposure ``s`` (conjugacy)."""
        return GammaRate(self.shape + x, self.rate + s)  # type: ignore[arg-type]

    def log_weight_ratio(self, x: np.ndarray, s0: np.ndarray, s: np.ndarray) -> np.ndarray:
        """``log_weight(x, s) - log_weight(x, s0) = -(r+x) log(1 + (s-s0)/(alpha+s0))``,
        without evaluating (and cancelling) the gamma functions."""
        r, alpha = self.shape, self.rate
        s0 = np.asarray(s0)
        return np.asarray(-(r + np.asarray(x)) * np.log1p((np.asarray(s) - s0) / (alpha + s0)))

    def log_laplace(self, u: np.ndarray) -> np.ndarray:
        """``log E[e^(-lambda u)] = -r log(1 + u / alpha)``."""
        return np.asarray(-self.shape * np.log1p(np.asarray(u) / self.rate))

    def log_count_pmf(self, n: np.ndarray, t: np.ndarray) -> np.ndarray:
        """``log P(N(t) = n)``: negative binomial (Poisson-gamma) count."""
        r, alpha = self.shape, self.rate
        t = np.asarray(t)
        # t / (alpha + t) directly: 1 - alpha / (alpha + t) cancels when alpha >> t
        return np.asarray(
            log_pochhammer(r, n)
            - gammaln(np.asarray(n) + 1.0)
            - r * np.log1p(t / alpha)
            + xlogy(n, t / (alpha + t))
        )

    def count_at_least(self, n: np.ndarray, t: np.ndarray) -> np.ndarray:
        """``P(N(t) >= n)`` for ``n >= 1``: a negative-binomial tail (incomplete beta)."""
        q = self.rate / (self.rate + t)
        return np.asarray(betainc(np.maximum(n, 1.0), self.shape, 1.0 - q))


@dataclass(frozen=True)
class CommonRate:
    """Every customer buys at the same Poisson rate ``lam`` (the gamma family's limit)."""

    lam: float

    @property
    def mean(self) -> float:
        return self.lam

    def decay(self) -> tuple[None, Any]:
        """``(None, rate)``: ``log_weight`` falls as ``e^(-rate s)``."""
        return None, self.lam

    def mean_inverse(self) -> float:
        return 1.0 / self.lam

    def log_weight(self, x: np.ndarray, s: np.ndarray) -> np.ndarray:
        return np.asarray(xlogy(x, self.lam) - self.lam * np.asarray(s))

    def posterior(self, x: np.ndarray, s: np.ndarray) -> CommonRate:
        return self

    def log_weight_ratio(self, x: np.ndarray, s0: np.ndarray, s: np.ndarray) -> np.ndarray:
        return np.asarray(-self.lam * (np.asarray(s) - np.asarray(s0)))

    def log_laplace(self, u: np.ndarray) -> np.ndarray:
        return np.asarray(-self.lam * np.asarray(u))

    def log_count_pmf(self, n: np.ndarray, t: np.ndarray) -> np.ndarray:
        mean = self.lam * np.asarray(t)
        return np.asarray(xlogy(n, mean) - mean - gammaln(np.asarray(n) + 1.0))

    def count_at_least(self, n: np.ndarray, t: np.ndarray) -> np.ndarray:
        """``P(N(t) >= n)`` for ``n >= 1``: the regularised lower incomplete gamma."""
        return np.asarray(gammainc(np.maximum(n, 1.0), self.lam * np.asarray(t)))


@dataclass(frozen=True)
class BetaDropout:
    """Dropout probability at each chance ``p ~ Beta(a, b)``."""

    a: float
    b: float

    @property
    def mean(self) -> float:
        return self.a / (self.a + self.b)

    def log_survive(self, n: np.ndarray) -> np.ndarray:
        """``log E[(1-p)^n]``: survive ``n`` dropout chances."""
        # lnB(a, b+n) - lnB(a, b) as rising factorials: betaln differences lose every digit
        # for the concentrated betas met near the common-probability limit
        return np.asarray(log_pochhammer(self.b, n) - log_pochhammer(self.a + self.b, n))

    def log_drop_at(self, n: np.ndarray) -> np.ndarray:
        """``log E[p (1-p)^(n-1)]``: survive ``n - 1`` chances and drop at the ``n``-th
        (``n >= 1``; ``-inf`` for ``n = 0``)."""
        safe = np.maximum(n, 1.0)
        value = (
            np.log(self.a)
            + log_pochhammer(self.b, safe - 1.0)
            - log_pochhammer(self.a + self.b, safe)
        )
        return np.asarray(np.where(np.asarray(n) > 0, value, -np.inf))

    def log_drop_step(self, n: np.ndarray) -> np.ndarray:
        """``log_drop_at(n + 1) - log_drop_at(n) = log((b + n - 1) / (a + b + n))``, ``n >= 1``."""
        n = np.asarray(n, dtype=float)
        # the whole numbers first: b + n - 1 would round a tiny b away
        return np.asarray(np.log(self.b + (n - 1.0)) - np.log(self.a + self.b + n))

    def log_drop_odds(self, n: np.ndarray) -> np.ndarray:
        """``log E[p (1-p)^(n-1)] - log E[(1-p)^n] = log(a / (b + n - 1))`` for ``n >= 1``."""
        return np.asarray(np.log(self.a) - np.log(self.b + (np.maximum(n, 1.0) - 1.0)))

    def alive_posterior(self, n: np.ndarray) -> BetaDropout:
        """The dropout probability of someone who survived ``n`` chances: ``Beta(a, b + n)``."""
        return BetaDropout(self.a, self.b + n)  # type: ignore[arg-type]

    def mean_inverse(self) -> float:
        """``E[1 / p] = (a + b - 1) / (a - 1)``: the mean number of chances until dropout
        (geometric); infinite for ``a <= 1``."""
        a, b = self.a, self.b
        return (a + b - 1.0) / (a - 1.0) if a > 1.0 else float("inf")

    def survival_sum(self, n: ArrayLike, t: ArrayLike) -> np.ndarray:
        """``sum_{j=1..t} E[(1-p)^(n+j)]``: expected further chances survived out of ``t``.

        Telescoping ``E[(1-p)^m] = B(a, b+m) / B(a, b)`` gives ``b / (a-1) G(a+b) / G(1+b)
        [G(1+b+n) / G(a+b+n) - G(1+b+n+t) / G(a+b+n+t)]`` (Fader, Hardie & Shang 2010,
        eqs. 9 and 13), with its ``a -> 1`` limit (a difference of digammas).
        """
        a, b = self.a, self.b
        n = np.asarray(n, dtype=float)
        t = np.asarray(t, dtype=float)
        # gamma-function ratios as rising factorials of 1 - a: differences of gammaln at the
        # huge b of a concentrated (or vanishing) dropout lose every digit
        lead = np.log(b) - log_pochhammer(a + b, 1.0 - a)
        now = log_pochhammer(a + b + n, 1.0 - a)
        later = log_pochhammer(a + b + n + t, 1.0 - a)
        if abs(a - 1.0) < 1e-9:
            return np.asarray(np.exp(lead) * (digamma(1.0 + b + n + t) - digamma(1.0 + b + n)))
        return np.asarray(np.exp(lead + now) * -np.expm1(later - now) / (a - 1.0))

    def discounted_survival(self, n: ArrayLike, q: float) -> np.ndarray:
        """``sum_{j>=0} q^j E[(1-p)^(n+j)]`` for a discount factor ``0 < q < 1``.

        ``E[(1-p)^(n+j)] / E[(1-p)^n] = (b+n)_j / (a+b+n)_j``, so the sum is
        ``E[(1-p)^n] 2F1(1, b+n; a+b+n; q)`` (Fader & Hardie 2010, eq. 6); by quadrature where
        scipy's ``2F1`` fails (very concentrated distributions).
        """
        n = np.asarray(n, dtype=float)
        with np.errstate(all="ignore"):
            value = np.asarray(
                np.exp(self.log_survive(n)) * hyp2f1(1.0, self.b + n, self.a + self.b + n, q),
                dtype=float,
            )
        bad = ~np.isfinite(value)
        if bad.any():
            nb = np.broadcast_to(n, value.shape)[bad]

            def f(p: np.ndarray) -> np.ndarray:
                return np.asarray((1.0 - p) ** nb[:, None] / (1.0 - (1.0 - p) * q))

            value = value.copy()
            # b may be an array (a posterior after n survived chances): keep its failed cells
            part = BetaDropout(self.a, np.broadcast_to(self.b, value.shape)[bad])
            value[bad] = part.expect(f, nb.shape)
        return value

    def expect(self, f: Callable[[np.ndarray], np.ndarray], shape: tuple[int, ...]) -> np.ndarray:
        """``E[f(p)]`` for each element of ``shape`` (``b`` may be an array of that shape);
        ``f`` maps an array of ``p`` of shape ``shape + (nodes,)`` to values of that shape."""
        return beta_expectation(f, self.a, np.broadcast_to(self.b, shape))


@dataclass(frozen=True)
class CommonDropout:
    """Every customer has the same dropout probability ``p`` (the beta family's limit);
    ``p = 0`` is the model without dropout."""

    p: float

    @property
    def mean(self) -> float:
        return self.p

    def log_survive(self, n: np.ndarray) -> np.ndarray:
        return np.asarray(xlog1py(n, -self.p))

    def log_drop_at(self, n: np.ndarray) -> np.ndarray:
        n = np.asarray(n, dtype=float)
        with np.errstate(divide="ignore"):
            value = np.log(self.p) + xlog1py(np.maximum(n, 1.0) - 1.0, -self.p)
        return np.asarray(np.where(n > 0, value, -np.inf))

    def log_drop_step(self, n: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore"):
            return np.asarray(np.full(np.shape(n), np.log1p(-self.p)))

    def log_drop_odds(self, n: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore"):
            return np.asarray(np.full(np.shape(n), np.log(self.p) - np.log1p(-self.p)))

    def alive_posterior(self, n: np.ndarray) -> CommonDropout:
        return self

    def mean_inverse(self) -> float:
        return 1.0 / self.p if self.p > 0 else float("inf")

    def survival_sum(self, n: ArrayLike, t: ArrayLike) -> np.ndarray:
        """``(1-p)^(n+1) (1 - (1-p)^t) / p``, and ``t`` at ``p = 0``."""
        n = np.asarray(n, dtype=float)
        t = np.asarray(t, dtype=float)
        if self.p == 0.0:
            return np.asarray(np.broadcast_to(t, np.broadcast_shapes(n.shape, t.shape)) * 1.0)
        ratio = -np.expm1(xlog1py(t, -self.p)) / self.p
        return np.asarray(np.exp(xlog1py(n + 1.0, -self.p)) * ratio)

    def discounted_survival(self, n: ArrayLike, q: float) -> np.ndarray:
        """``(1-p)^n / (1 - (1-p) q)``."""
        n = np.asarray(n, dtype=float)
        return np.asarray(np.exp(xlog1py(n, -self.p)) / (1.0 - (1.0 - self.p) * q))

    def expect(self, f: Callable[[np.ndarray], np.ndarray], shape: tuple[int, ...]) -> np.ndarray:
        return np.asarray(f(np.full((*shape, 1), self.p)))[..., 0]


@dataclass(frozen=True)
class TwoPointDropout:
    """A share ``pi`` of customers drop out at their first chance (``p = 1``), the others
    never do (``p = 0``): the beta family's limit ``a, b → 0`` with ``a / (a + b) = pi``,
    where the U-shaped beta density piles all its mass onto the two ends.

    ``pi`` may be an array (the posterior of customers who survived different numbers of
    chances, or parameter draws). Every expectation is a two-term sum, exact.
    """

    pi: float

    @property
    def mean(self) -> float:
        return self.pi

    def log_survive(self, n: np.ndarray) -> np.ndarray:
        """``log(1 - pi)`` for ``n >= 1``; 0 for ``n = 0``."""
        with np.errstate(divide="ignore"):
            return np.asarray(np.where(np.asarray(n) > 0, np.log1p(-np.asarray(self.pi)), 0.0))

    def log_drop_at(self, n: np.ndarray) -> np.ndarray:
        """``log pi`` at the first chance (``n = 1``), ``-inf`` at any other."""
        with np.errstate(divide="ignore"):
            return np.asarray(np.where(np.asarray(n) == 1, np.log(self.pi), -np.inf))

    def log_drop_step(self, n: np.ndarray) -> np.ndarray:
        """``-inf``: nobody drops out at a second or later chance."""
        return np.asarray(np.full(np.broadcast_shapes(np.shape(n), np.shape(self.pi)), -np.inf))

    def log_drop_odds(self, n: np.ndarray) -> np.ndarray:
        """``log(pi / (1 - pi))`` at ``n = 1``; ``-inf`` after (only ``p = 0`` survives)."""
        pi = np.asarray(self.pi)
        with np.errstate(divide="ignore"):
            return np.asarray(np.where(np.asarray(n) == 1, np.log(pi) - np.log1p(-pi), -np.inf))

    def alive_posterior(self, n: np.ndarray) -> TwoPointDropout:
        """Someone who survived a chance never drops out: ``pi`` is 0 for ``n >= 1``."""
        return TwoPointDropout(np.where(np.asarray(n) > 0, 0.0, self.pi))  # type: ignore[arg-type]

    def mean_inverse(self) -> float:
        """``E[1 / p]``: infinite unless everyone drops out at the first chance (``pi = 1``)."""
        return 1.0 if self.pi == 1.0 else float("inf")

    def survival_sum(self, n: ArrayLike, t: ArrayLike) -> np.ndarray:
        """``(1 - pi) t``: only those who never drop out survive a chance."""
        stay = (1.0 - np.asarray(self.pi)) * np.asarray(t, dtype=float)
        return np.array(np.broadcast_to(stay, np.broadcast_shapes(np.shape(n), stay.shape)))

    def discounted_survival(self, n: ArrayLike, q: float) -> np.ndarray:
        """``(1 - pi) / (1 - q)``, plus ``pi`` (the term ``j = 0``) at ``n = 0``."""
        n = np.asarray(n, dtype=float)
        pi = np.asarray(self.pi)
        return np.asarray((1.0 - pi) / (1.0 - q) + np.where(n > 0, 0.0, pi))

    def expect(self, f: Callable[[np.ndarray], np.ndarray], shape: tuple[int, ...]) -> np.ndarray:
        values = np.asarray(f(np.broadcast_to(np.array([1.0, 0.0]), (*shape, 2))), dtype=float)
        pi = np.broadcast_to(self.pi, shape)
        return np.asarray(pi * values[..., 0] + (1.0 - pi) * values[..., 1])


@dataclass(frozen=True)
class BetaPurchase:
    """Probability of a transaction at each opportunity, ``p ~ Beta(a, b)`` (BG/BB)."""

    a: float
    b: float

    @property
    def mean(self) -> float:
        return self.a / (self.a + self.b)

    def log_weight(self, x: ArrayLike, m: ArrayLike) -> np.ndarray:
        """``log E[p^x (1-p)^(m-x)] = lnB(a+x, b+m-x) - lnB(a, b)``: a given pattern of ``x``
        transactions in ``m`` opportunities (the beta-Bernoulli likelihood), as gamma-function
        ratios that stay accurate for concentrated betas (:func:`log_pochhammer`)."""
        x = np.asarray(x, dtype=float)
        a, b = self.a, self.b
        return np.asarray(
            log_pochhammer(a, x) + log_pochhammer(b, np.asarray(m) - x) - log_pochhammer(a + b, m)
        )

    def log_weight_step(self, x: ArrayLike, m: ArrayLike) -> np.ndarray:
        """``log_weight(x, m + 1) - log_weight(x, m) = log((b + m - x) / (a + b + m))``: one
        more opportunity without a transaction."""
        m = np.asarray(m, dtype=float)
        return np.asarray(np.log(self.b + m - np.asarray(x)) - np.log(self.a + self.b + m))


@dataclass(frozen=True)
class CommonPurchase:
    """Every customer transacts with the same probability ``p`` at each opportunity (the
    beta family's limit ``a + b → ∞``, ``a / (a + b) = p``)."""

    p: float

    @property
    def mean(self) -> float:
        return self.p

    def log_weight(self, x: ArrayLike, m: ArrayLike) -> np.ndarray:
        """``x log p + (m-x) log(1-p)``."""
        x = np.asarray(x, dtype=float)
        return np.asarray(xlogy(x, self.p) + xlog1py(np.asarray(m) - x, -self.p))

    def log_weight_step(self, x: ArrayLike, m: ArrayLike) -> np.ndarray:
        return np.asarray(np.full(np.broadcast_shapes(np.shape(x), np.shape(m)), np.log1p(-self.p)))


@dataclass(frozen=True)
class GammaLifetime:
    """Exponential lifetimes with dropout rate ``mu ~ Gamma(shape, rate)`` (``s``, ``beta``).

    The lifetime is then Pareto (Lomax) distributed (Schmittlein, Morrison & Colombo 1987).
    ``rate`` may be an array (one posterior per customer, see :meth:`alive_posterior`).
    """

    shape: float
    rate: float

    @property
    def mean(self) -> float:
        return self.shape / self.rate

    def decay(self) -> tuple[Any, Any]:
        """``(power, scale)``: the density falls as ``(1 + t / scale)^-power``."""
        return self.shape + 1.0, self.rate

    def log_survival(self, t: np.ndarray) -> np.ndarray:
        """``log E[e^(-mu t)] = -s log(1 + t / beta)``: alive ``t`` after the start."""
        return np.asarray(-self.shape * np.log1p(np.asarray(t) / self.rate))

    def log_density(self, t: np.ndarray) -> np.ndarray:
        """``log E[mu e^(-mu t)] = log(s / beta) - (s + 1) log(1 + t / beta)``: the lifetime
        density (dropout at ``t``)."""
        s, beta = self.shape, self.rate
        return np.asarray(np.log(s / beta) - (s + 1.0) * np.log1p(np.asarray(t) / beta))

    def death_rate(self, t: np.ndarray) -> np.ndarray:
        """``E[mu | dropout at t] = (s + 1) / (beta + t)`` (= ``-d log_density / dt``)."""
        return np.asarray((self.shape + 1.0) / (self.rate + np.asarray(t)))

    def log_density_ratio(self, t0: np.ndarray, t: np.ndarray) -> np.ndarray:
        """``log_density(t) - log_density(t0) = -(s+1) log(1 + (t-t0)/(beta+t0))``."""
        t0 = np.asarray(t0)
        return np.asarray(-(self.shape + 1.0) * np.log1p((np.asarray(t) - t0) / (self.rate + t0)))

    def alive_posterior(self, t: np.ndarray) -> GammaLifetime:
        """The dropout rate of someone alive after ``t``: ``Gamma(s, beta + t)``."""
        return GammaLifetime(self.shape, self.rate + t)  # type: ignore[arg-type]

    def expected_lifetime_within(self, t: np.ndarray) -> np.ndarray:
        """``E[(1 - e^(-mu t)) / mu] = int_0^t E[e^(-mu u)] du``: expected time alive in
        ``(0, t]``, ``beta/(s-1) (1 - (beta/(beta+t))^(s-1))`` (``beta log(1 + t/beta)`` at
        ``s = 1``)."""
        s, beta = self.shape, np.asarray(self.rate)
        span = np.log1p(np.asarray(t) / beta)
        if abs(s - 1.0) < 1e-12:
            return np.asarray(beta * span)
        return np.asarray(beta * -np.expm1(-(s - 1.0) * span) / (s - 1.0))

    def discounted_lifetime(self, delta: float) -> np.ndarray:
        """``E[1 / (delta + mu)] = int_0^inf e^(-delta u) E[e^(-mu u)] du``: the lifetime
        discounted continuously at rate ``delta``; ``beta E[1/(delta beta + Y)]``,
        ``Y ~ Gamma(s, 1)`` (Fader, Hardie & Lee 2005, eq. 2)."""
        beta = np.asarray(self.rate, dtype=float)
        return np.asarray(beta * inverse_shifted_gamma_mean(self.shape, delta * beta))


@dataclass(frozen=True)
class CommonLifetime:
    """Every customer's lifetime is exponential with the same dropout rate ``mu`` (the
    gamma family's limit ``s, beta → ∞``); ``mu = 0`` is the model without dropout."""

    mu: float

    @property
    def mean(self) -> float:
        return self.mu

    def decay(self) -> tuple[None, Any]:
        """``(None, rate)``: the density falls as ``e^(-rate t)``."""
        return None, self.mu

    def log_survival(self, t: np.ndarray) -> np.ndarray:
        return np.asarray(-self.mu * np.asarray(t, dtype=float))

    def log_density(self, t: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore"):
            return np.asarray(np.log(self.mu) - self.mu * np.asarray(t, dtype=float))

    def death_rate(self, t: np.ndarray) -> np.ndarray:
        return np.asarray(np.full(np.shape(t), self.mu))

    def log_density_ratio(self, t0: np.ndarray, t: np.ndarray) -> np.ndarray:
        return np.asarray(-self.mu * (np.asarray(t) - np.asarray(t0)))

    def alive_posterior(self, t: np.ndarray) -> CommonLifetime:
        return self

    def expected_lifetime_within(self, t: np.ndarray) -> np.ndarray:
        t = np.asarray(t, dtype=float)
        if self.mu == 0.0:
            return t
        return np.asarray(-np.expm1(-self.mu * t) / self.mu)

    def discounted_lifetime(self, delta: float) -> np.ndarray:
        return np.asarray(1.0 / (delta + self.mu))


RateMixing = GammaRate | CommonRate
DropoutMixing = BetaDropout | CommonDropout | TwoPointDropout
PurchaseMixing = BetaPurchase | CommonPurchase
LifetimeMixing = GammaLifetime | CommonLifetime


def mean_rate(params: Mapping[str, float]) -> float:
    """The mean purchase rate of a full or limit parameter set: ``r / alpha`` or ``lambda``
    (the common-rate limit's start from a full fit)."""
    return params["r"] / params["alpha"] if "r" in params else params["lambda"]


def gamma_rate_near(params: Mapping[str, float], concentration: float) -> dict[str, float]:
    """``r, alpha`` of a gamma of the given shape with mean ``params["lambda"]``: a full
    model next to its common-rate limit (to start a full fit from that limit)."""
    return {"r": concentration, "alpha": concentration / params["lambda"]}


def rate_mixing(params: Mapping[str, float]) -> RateMixing:
    """The purchase rates of a full or limit parameter set: ``Gamma(r, alpha)``, or the
    common rate ``lambda`` of a limit model (BG/NBD, MBG/NBD, Pareto/NBD)."""
    if "r" in params:
        return GammaRate(params["r"], params["alpha"])
    return CommonRate(params["lambda"])


def log_death_integral(
    rate: RateMixing, lifetime: LifetimeMixing, x: np.ndarray, lo: np.ndarray, hi: np.ndarray
) -> np.ndarray:
    """``log int_lo^hi E[lambda^x e^(-lambda tau)] E[mu e^(-mu tau)] d tau``, elementwise.

    The Pareto/NBD likelihood's dropout branch (Fader & Hardie 2005, eq. 13, before the
    gammas are integrated out): alive until ``tau`` in ``(lo, hi]``, ``x`` purchases, no
    purchase after ``lo``. For two gammas its closed form needs ``2F1`` (eqs. 19-20); when
    either gamma collapses to a point mass it needs upper incomplete gamma functions of
    negative order, which cancel catastrophically. So it is integrated numerically.

    The integrand is decreasing in ``tau``, and log-convex (each factor is a gamma mixture
    of exponentials), so it falls at most exponentially, at the rate ``c = E[lambda | x, lo] +
    E[mu | dropout at lo]`` it has at ``lo``, and more slowly later (down to a power law).
    The map ``tau = lo + expm1(v) / c`` turns both shapes into smooth functions of ``v`` on
    ``[0, log(1 + c (hi - lo))]``, integrated by a fixed ``DEATH_NODES``-point
    Gauss-Legendre rule (vectorised over rows, in log space). Against adaptive quadrature the
    relative error is below 1e-9 for spans up to 1e3, and up to about 1e-8 at spans of 1e5
    to 1e6 with a rate mixing concentrated near zero (``r + x < 1``, ``alpha`` of 1e-4),
    over ``r`` 0.05-2, ``alpha`` 1e-4-10, ``s`` 0.05-3, ``beta`` 0.02-11, ``x`` 0-5 and the
    common rate and lifetime (the tests hold 1e-9 and, at those spans, 1e-7). ``-inf``
    where ``hi <= lo`` or nobody drops out.
    """
    tau, log_w = death_nodes(rate, lifetime, x, lo, hi)
    x, lo = (np.asarray(v, dtype=float)[..., None] for v in (x, lo))
    # parameters given per row (customers with covariates) meet the nodes on a new axis
    rate_n, lifetime_n = _per_node(rate), _per_node(lifetime)
    with np.errstate(all="ignore"):
        # relative to the integrand at lo: no gamma functions per node, no cancellation
        log_f = rate_n.log_weight_ratio(x, lo, tau) + lifetime_n.log_density_ratio(lo, tau)
        out = logsumexp(log_f + log_w, axis=-1)
        out += (rate_n.log_weight(x, lo) + lifetime_n.log_density(lo))[..., 0]
    return np.asarray(np.where(np.isfinite(log_w[..., 0]), out, -np.inf))


M = TypeVar("M", RateMixing, LifetimeMixing)


def _per_node(mixing: M) -> M:
    """The mixing with every array parameter given a trailing axis (scalars unchanged)."""
    # the fields are typed float but hold per-row arrays here, as posteriors already do
    values: dict[str, Any] = {
        f.name: np.asarray(getattr(mixing, f.name))[..., None]
        for f in dataclasses.fields(mixing)
        if np.ndim(getattr(mixing, f.name))
    }
    return dataclasses.replace(mixing, **values) if values else mixing


def death_nodes(
    rate: RateMixing, lifetime: LifetimeMixing, x: np.ndarray, lo: np.ndarray, hi: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Nodes ``tau`` in ``(lo, hi)`` and log-weights of :func:`log_death_integral`'s rule,
    shape ``broadcast(x, lo, hi) + (DEATH_NODES,)``; log-weights ``-inf`` on empty rows."""
    x, lo, hi = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (x, lo, hi)))
    span = hi - lo
    with np.errstate(all="ignore"):
        # A common rate or lifetime is a factor e^(-kappa tau); the other factor decreases,
        # so past lo + L lies at most e^(-kappa L) / (1 - e^(-kappa L)) of the integral.
        # Cut the span there (below 1e-17): a long span would leave the exponential's sharp
        # shoulder between two nodes.
        kappa = np.asarray(_exponential_rate(rate) + _exponential_rate(lifetime), dtype=float)
        span = np.minimum(span, TAIL_REACH / kappa)
        decay = np.asarray(rate.posterior(x, lo).mean) + lifetime.death_rate(lo)
        scale = 1.0 / decay
        top = np.log1p(np.maximum(span, 0.0) * decay)[..., None]
        v = top * (_DEATH_NODES + 1.0) / 2.0
        tau = lo[..., None] + scale[..., None] * np.expm1(v)
        # d tau = scale e^v dv
        log_w = np.log(top * _DEATH_WEIGHTS / 2.0) + np.log(scale)[..., None] + v
    empty = ~((span > 0) & (lifetime.mean > 0))
    log_w = np.where(empty[..., None], -np.inf, log_w)
    return np.asarray(tau), np.asarray(log_w)


def _exponential_rate(mixing: RateMixing | LifetimeMixing) -> Any:
    """The rate of a common rate's or lifetime's ``e^(-rate t)`` factor; 0 for a gamma's
    power law."""
    power, scale = mixing.decay()
    return scale if power is None else 0.0
