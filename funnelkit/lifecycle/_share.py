"""The share of first purchases made as a community member, by time to purchase."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import special

from funnelkit._quasi_newton import refit_decrement

__all__ = ["MemberShare", "member_share"]


@dataclass(frozen=True)
class MemberShare:
    """P(the first purchase is made as a member | it happens ``t`` after entering the stage).

    Estimated on converters only: independent censoring removes late converters but does not
    select on membership at a given purchase time, so this conditional share is estimable
    without a censoring correction. ``logit q(t) = intercept + slope * log t``; a constant
    share when the data cannot support a slope.
    """

    intercept: float
    slope: float = 0.0

    def __call__(self, t: np.ndarray) -> np.ndarray:
        t = np.maximum(np.asarray(t, dtype=float), 1e-9)
        return np.asarray(special.expit(self.intercept + self.slope * np.log(t)))


def member_share(
    durations: np.ndarray,
    member: np.ndarray,
    weights: np.ndarray,
    *,
    start: MemberShare | None = None,
    log_durations: np.ndarray | None = None,
    start_sums: np.ndarray | None = None,
) -> MemberShare:
    """Weighted logistic fit of membership on log time (``weights``: times each row counts).

    Weights give the same fit as repeating each row that many times, without the copies.
    Newton's method starts from ``start`` (a fit on similar data) when given.
    ``log_durations`` are ``log(max(durations, 1e-9))`` when already at hand (a refit);
    ``start_sums`` the sums of ``Converters.share_sums`` on ``start``'s line, which give the
    first step without a pass over the rows.
    """
    n = float(weights.sum())
    k = _dot(weights, member.astype(float))
    if n == 0:
        return MemberShare(intercept=0.0)
    # a constant share, shrunk a little away from 0 and 1, when a slope is not supported
    constant = MemberShare(intercept=float(special.logit((k + 0.5) / (n + 1.0))))
    if min(k, n - k) < 10:
        return constant
    x = np.log(np.maximum(durations, 1e-9)) if log_durations is None else log_durations
    centre = _dot(weights, x) / n
    scale = math.sqrt(max(_dot(weights, (x - centre) ** 2) / n, 0.0))
    if not scale > 1e-9:
        return constant
    z = (x - centre) / scale
    y = member.astype(float)
    beta = np.array([constant.intercept, 0.0])
    if start is not None and start.slope != 0.0:
        # the same line on the standardised scale: intercept at the centre, slope per scale
        beta = np.array([start.intercept + start.slope * centre, start.slope * scale])
    ridge = np.diag([0.0, 1e-3 * n])  # keeps the slope finite under separation
    wy = weights * y
    for i in range(50):
        if i == 0 and start_sums is not None:
            # the sums in log time moved to the standardised scale
            r0, rx, v0, vx, vxx = (float(s) for s in start_sums)
            grad = np.array([r0, (rx - centre * r0) / scale]) - ridge @ beta
            vz1 = (vx - centre * v0) / scale
            vz2 = (vxx - 2.0 * centre * vx + centre * centre * v0) / (scale * scale)
            hess = np.array([[v0, vz1], [vz1, vz2]])
        else:
            # sums over rows in einsum, not BLAS products: multithreaded BLAS waits on its
            # threads on a busy machine, and two columns give it nothing to share out
            p = special.expit(beta[0] + beta[1] * z)
            r = wy - weights * p
            v = weights * p * (1.0 - p)
            vz = v * z
            grad = np.array([float(r.sum()), _dot(r, z)]) - ridge @ beta
            hess = np.array([[float(v.sum()), float(vz.sum())], [0.0, _dot(vz, z)]])
            hess[1, 0] = hess[0, 1]
        hess += ridge
        try:
            step = np.linalg.solve(hess, grad)
        except np.linalg.LinAlgError:
            return constant
        beta = beta + step
        # the step taken, the distance left is of the order of the decrement squared
        if float(np.max(np.abs(step))) < 1e-8 or float(grad @ step) < refit_decrement():
            break
    if not np.all(np.isfinite(beta)):
        return constant
    slope = float(beta[1] / scale)
    return MemberShare(intercept=float(beta[0] - slope * centre), slope=slope)


def _dot(a: np.ndarray, b: np.ndarray) -> float:
    # einsum, not a BLAS dot: multithreaded BLAS dots are slow on busy machines
    return float(np.einsum("i,i->", a, b))
