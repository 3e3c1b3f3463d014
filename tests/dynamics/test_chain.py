"""The chain: generator, grid transition matrices, their integrals, posterior activity."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import integrate
from scipy.linalg import expm

from funnelkit.dynamics.chain import (
    expm_stack,
    generator,
    grid_transitions,
    probability_active,
    quantity_matrix,
)


def test_generator_rows_sum_to_zero_and_absorbing_states_are_silent() -> None:
    q = generator(np.array([0.3, 0.1]), np.array([0.2, 0.05]))
    assert q.shape == (5, 5)
    np.testing.assert_allclose(q.sum(axis=1), 0.0, atol=1e-15)
    assert q[0, 1] == 0.3
    assert q[0, 3] == 0.2
    np.testing.assert_array_equal(q[2:], 0.0)  # last stage and dormant states absorb


def test_grid_matches_direct_matrix_exponentials_and_their_integrals() -> None:
    rates = np.array([[0.3, 0.1, 0.02], [0.5, 0.5, 0.5]])  # second row: equal rates
    drops = np.array([[0.2, 0.05, 0.0], [0.1, 0.1, 0.1]])
    q = generator(rates, drops)
    p, j = grid_transitions(q, 0.75, 40)
    for g in range(2):
        for n in (0, 1, 17, 40):
            np.testing.assert_allclose(p[g, n], expm(q[g] * 0.75 * n), atol=1e-12)
        t = 0.75 * 17
        quad, _ = integrate.quad_vec(lambda s, g=g: expm(q[g] * s), 0.0, t)
        np.testing.assert_allclose(j[g, 17], quad, atol=1e-8)
    np.testing.assert_allclose(p.sum(axis=-1), 1.0, atol=1e-12)


def test_single_stage_closed_form() -> None:
    lam, mu, t = 0.4, 0.1, 3.0
    p, _ = grid_transitions(generator(np.array([lam]), np.array([mu])), t, 1)
    theta = lam + mu
    assert p[1, 0, 0] == pytest.approx(np.exp(-theta * t))
    assert p[1, 0, 1] == pytest.approx(lam / theta * (1 - np.exp(-theta * t)))
    assert p[1, 0, 2] == pytest.approx(mu / theta * (1 - np.exp(-theta * t)))


def test_probability_active_is_bayes_rule_and_stable() -> None:
    lam, mu = 0.2, 0.3
    d = np.array([0.0, 1.0, 10.0, 1e4])
    theta = lam + mu
    e = np.exp(-theta * d[:3])
    expected = e / (e + mu / theta * (1 - e))
    pi = probability_active(d, lam, mu)
    np.testing.assert_allclose(pi[:3], expected)
    assert pi[3] == 0.0  # no overflow warning, no NaN
    np.testing.assert_array_equal(probability_active(d, lam, 0.0), 1.0)


def test_probability_active_matches_simulated_share_still_active() -> None:
    rng = np.random.default_rng(8)
    lam, mu, n = 0.1, 0.2, 200_000
    leave = rng.exponential(1 / (lam + mu), n)
    advance = rng.random(n) < lam / (lam + mu)
    d = rng.uniform(0, 10, n)
    waiting = ~(advance & (leave <= d))  # not seen advancing by d
    active = leave > d
    pi = probability_active(d[waiting], lam, mu)
    assert pi.mean() == pytest.approx(active[waiting].mean(), abs=0.005)


def test_quantity_matrix_columns() -> None:
    qm = quantity_matrix(3)  # states: a0 a1 a2 d0 d1
    np.testing.assert_array_equal(qm[:, 0], 1)  # everyone reached the first stage
    np.testing.assert_array_equal(qm[:, 2], [0, 0, 1, 0, 0])
    np.testing.assert_array_equal(qm[:, 1], [0, 1, 1, 0, 1])  # dormant after s1 reached s1
    np.testing.assert_array_equal(qm[:, 3:6], np.vstack([np.eye(3), np.zeros((2, 3))]))
    np.testing.assert_array_equal(qm[:, 6], [0, 0, 0, 1, 1])


@pytest.mark.parametrize("scale", [1e-3, 1.0, 40.0, 2000.0])
def test_batched_exponential_matches_scipy(scale: float) -> None:
    rng = np.random.default_rng(4)
    q = generator(rng.uniform(0, 2, (30, 3)), rng.uniform(0, 2, (30, 3))) * scale
    ours = expm_stack(q)
    for i in (0, 13, 29):
        np.testing.assert_allclose(ours[i], expm(q[i]), atol=1e-12)
    np.testing.assert_allclose(ours.sum(axis=-1), 1.0, atol=1e-12)
    assert np.all(ours >= -1e-15)


def test_one_huge_generator_does_not_spoil_the_others() -> None:
    q = generator(np.array([[0.1, 0.2], [1e5, 0.2]]), np.array([[0.05, 0.1], [3e4, 0.1]]))
    ours = expm_stack(q * 3.0)
    np.testing.assert_allclose(ours[0], expm(q[0] * 3.0), atol=1e-13)
    assert np.all(np.isfinite(ours[1]))
    np.testing.assert_allclose(ours[1], expm(q[1] * 3.0), atol=1e-8)
