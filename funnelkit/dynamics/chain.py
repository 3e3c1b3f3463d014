"""The funnel as a continuous-time Markov chain with latent dormant states.

State layout for ``K`` stages: ``0 .. K-1`` are *active in stage k* (the last stage absorbs),
``K + k`` for ``k < K-1`` is *dormant after stage k* (absorbing, never observed). Everything
here is batched over leading axes (parameter draws, segments) and never loops over customers.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "expm_stack",
    "generator",
    "grid_transitions",
    "probability_active",
    "quantity_matrix",
    "reached_stage_of_state",
]


def n_states(n_stages: int) -> int:
    return 2 * n_stages - 1


def generator(advance: np.ndarray, dropout: np.ndarray) -> np.ndarray:
    """Intensity matrices ``Q`` of shape ``(..., m, m)`` from rates of shape ``(..., K-1)``."""
    advance, dropout = np.broadcast_arrays(advance, dropout)
    n_trans = advance.shape[-1]
    k = n_trans + 1
    q = np.zeros((*advance.shape[:-1], n_states(k), n_states(k)))
    idx = np.arange(n_trans)
    q[..., idx, idx + 1] = advance
    q[..., idx, k + idx] = dropout
    q[..., idx, idx] = -(advance + dropout)
    return q


def grid_transitions(q: np.ndarray, step: float, n_steps: int) -> tuple[np.ndarray, np.ndarray]:
    """Transition matrices ``P(t)`` and their integrals ``∫_0^t P(s) ds`` on ``t = 0, step, ...``.

    One matrix exponential of the augmented generator ``[[Q, I], [0, 0]]·step`` gives both
    ``P(step)`` and ``∫_0^step P``; the grid then follows from ``P(t+h) = P(t) P(h)`` and
    ``∫_0^{t+h} P = ∫_0^t P + P(t) ∫_0^h P``, exactly. Returned shapes are
    ``(..., n_steps + 1, m, m)``.
    """
    m = q.shape[-1]
    aug = np.zeros((*q.shape[:-2], 2 * m, 2 * m))
    aug[..., :m, :m] = q * step
    aug[..., :m, m:] = np.eye(m) * step
    e = expm_stack(aug)
    p_step, j_step = e[..., :m, :m], e[..., :m, m:]
    p = np.empty((*q.shape[:-2], n_steps + 1, m, m))
    j = np.empty_like(p)
    p[..., 0, :, :] = np.eye(m)
    j[..., 0, :, :] = 0.0
    for n in range(n_steps):
        p[..., n + 1, :, :] = p[..., n, :, :] @ p_step
        j[..., n + 1, :, :] = j[..., n, :, :] + p[..., n, :, :] @ j_step
    return p, j


def expm_stack(a: np.ndarray) -> np.ndarray:
    """Matrix exponentials of a stack of small matrices ``(..., n, n)`` in one batch.

    Scaling and squaring with a degree-16 Taylor polynomial: once scaled to 1-norm <= 1/2, the
    truncation error is below 1e-19, far under double precision. ``scipy.linalg.expm`` gives
    the same numbers but handles a stack one matrix at a time through BLAS, which is slow for
    the hundreds of tiny generators of a forecast with parameter draws.
    """
    n = a.shape[-1]
    if a.size == 0:
        return a.copy()
    # Each matrix gets its own number of squarings: one huge matrix in the stack must not
    # make the others pay the rounding error of needless squarings.
    norm = np.abs(a).sum(axis=-2).max(axis=-1)
    with np.errstate(divide="ignore"):
        squarings = np.where(norm > 0.5, np.ceil(np.log2(norm / 0.5)), 0).astype(np.int64)
    x = a / np.exp2(squarings)[..., None, None]
    eye = np.eye(n)
    out = eye + x / 16.0
    for k in range(15, 0, -1):
        out = eye + (x @ out) / k
    for step in range(int(squarings.max())):
        more = (squarings > step)[..., None, None]
        out = np.where(more, out @ out, out)
    return out


def probability_active(duration: np.ndarray, advance: float, dropout: float) -> np.ndarray:
    """Posterior probability of still being active after ``duration`` in a stage without advancing.

    ``π = e^{-θd} / (e^{-θd} + (μ/θ)(1 - e^{-θd})) = 1 / (1 + (μ/θ)(e^{θd} - 1))``; equal to 1
    when μ = 0 (nobody goes dormant).
    """
    theta = advance + dropout
    if dropout <= 0 or theta <= 0:
        return np.ones_like(np.asarray(duration, dtype=float))
    with np.errstate(over="ignore"):
        return 1.0 / (1.0 + (dropout / theta) * np.expm1(theta * np.asarray(duration, float)))


def reached_stage_of_state(n_stages: int) -> np.ndarray:
    """Highest stage reached in each state (dormant after k has reached k)."""
    return np.concatenate([np.arange(n_stages), np.arange(n_stages - 1)])


def quantity_matrix(n_stages: int) -> np.ndarray:
    """Indicators ``(m, 2K + 1)``: columns reached_0..K-1, active_0..K-1, dormant."""
    m = n_states(n_stages)
    reached = reached_stage_of_state(n_stages)
    out = np.zeros((m, 2 * n_stages + 1))
    out[:, :n_stages] = reached[:, None] >= np.arange(n_stages)[None, :]
    out[np.arange(n_stages), n_stages + np.arange(n_stages)] = 1.0
    out[n_stages:, 2 * n_stages] = 1.0
    return out
