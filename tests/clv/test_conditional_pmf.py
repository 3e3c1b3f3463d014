"""The Pareto/NBD conditional pmf's fast path: shared work and short rules, same numbers."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate

from funnelkit.clv import (
    ParetoNBDFitter,
    _pareto_alive as alive_rule,
    _pareto_conditional as fast,
    conditional as cond,
)
from funnelkit.clv._data import SAMPLE_FROM
from funnelkit.clv._mixing import (
    CommonLifetime,
    CommonRate,
    GammaLifetime,
    GammaRate,
    log_death_integral,
)
from funnelkit.datasets.btyd import simulate_pareto_nbd

MIXINGS = [
    (GammaRate(0.55, 10.6), GammaLifetime(0.6, 11.7)),
    (GammaRate(2.0, 2.0), GammaLifetime(0.34, 112.0)),
    (GammaRate(0.05, 0.01), CommonLifetime(0.03)),
    (CommonRate(5.0), GammaLifetime(0.05, 0.02)),
    (CommonRate(0.3), CommonLifetime(3.0)),
    (GammaRate(20.0, 2.0), GammaLifetime(30.0, 3.0)),
    (GammaRate(1.0, 1.0), CommonLifetime(0.0)),
    (GammaRate(1e8, 1e8 / 0.2), GammaLifetime(1e8, 1e8 / 0.05)),
]


def _histories(n: int, seed: int) -> tuple[np.ndarray, ...]:
    """Frequent buyers (x up to 500) and rare ones, new customers (T = 0), a purchase at
    the very end (t_x = T), and horizons from 0 to ten years of weeks."""
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 501, n).astype(float)
    x[: n // 4] = rng.integers(0, 5, n // 4)
    T = rng.uniform(0.0, 104.0, n)
    T[:5] = 0.0
    tx = np.where(x > 0, T * rng.uniform(0.0, 1.0, n), 0.0)
    tx[5:40] = T[5:40]
    t = rng.choice([0.0, 0.5, 10.0, 52.0, 520.0], n)
    return t, x, tx, T


def _log_odds_48(rate: object, life: object, x: np.ndarray, tx: np.ndarray, T: np.ndarray):
    """log P(dropped out) / P(alive) by the 48-node rule of the likelihood."""
    with np.errstate(all="ignore"):
        alive = rate.log_weight(x, T) + life.log_survival(T)  # type: ignore[attr-defined]
        return log_death_integral(rate, life, x, tx, T) - alive  # type: ignore[arg-type]


@pytest.mark.parametrize(("rate", "life"), MIXINGS)
def test_alive_agrees_with_the_likelihood_rule(rate: object, life: object) -> None:
    _, x, tx, T = _histories(400, seed=1)
    got = alive_rule.pareto_alive(rate, life, x, tx, T)  # type: ignore[arg-type]
    with np.errstate(over="ignore"):  # certain dropout: P(alive) = 0
        want = 1.0 / (1.0 + np.exp(_log_odds_48(rate, life, x, tx, T)))
    assert np.isfinite(got).all()
    # both P(alive) and P(dead) to 1e-10 relative (either may be tiny)
    for a, b in ((got, want), (1.0 - got, 1.0 - want)):
        shown = b > 1e-280
        assert np.max(np.abs(a - b)[shown] / b[shown], initial=0.0) < 1e-10
        assert np.abs(a - b).max() < 1e-11
    # a purchase at the very end, a new customer, or no dropout: alive for sure
    np.testing.assert_array_equal(got[:40], 1.0)


def _relative_integral_by_quad(rate: object, life: object, x: float, tx: float, T: float):
    """``int_tx^T g(tau) d tau / g(t_x)`` of the alive integral, by adaptive quadrature."""

    def h(tau: float) -> float:
        at, now = np.array(tau), np.array(tx)
        value = rate.log_weight_ratio(np.array(x), now, at) + life.log_density_ratio(now, at)  # type: ignore[attr-defined]
        return math.exp(float(value))

    points = [tx + (T - tx) * q for q in (1e-6, 1e-4, 1e-2, 0.1)]
    value, _ = integrate.quad(h, tx, T, epsabs=0, epsrel=1e-13, limit=1000, points=points)
    return value


#: ``(rate, lifetime, x)`` where both short-rule families apply: the hardest smooth cases
SMOOTH_MIXINGS = [
    # one factor falling much faster than the other makes the integrand a double
    # exponential in the mapped variable: the slowest to converge of the smooth cases
    (CommonRate(3.0), GammaLifetime(0.3, 100.0), 7.0),
    (GammaRate(1.0, 1.0), GammaLifetime(2000.0, 3.0), 0.0),
    (GammaRate(1e6, 1e6 / 2.0), CommonLifetime(0.01), 0.0),
    (GammaRate(0.5, 0.01), GammaLifetime(0.3, 1e3), 1.0),
    (GammaRate(2.0, 2.0), GammaLifetime(0.34, 112.0), 500.0),
    # powers below 1 whose factor is still not singular near the range
    (GammaRate(0.55, 10.6), GammaLifetime(0.6, 11.7), 0.0),
    (GammaRate(0.05, 1.0), CommonLifetime(0.5), 0.0),
]


@pytest.mark.parametrize(("limit", "nodes"), alive_rule.SMOOTH_RULES)
@pytest.mark.parametrize(
    ("rate", "life", "x"),
    [*SMOOTH_MIXINGS, (GammaRate(0.5, 1e3), GammaLifetime(5.0, 0.01), 1.0)],
)
def test_short_rules_hold_their_digits_up_to_their_largest_span(
    limit: float, nodes: int, rate: object, life: object, x: float
) -> None:
    tx = 3.0
    post_rate, post_life = rate.posterior(x, tx), life.alive_posterior(tx)  # type: ignore[attr-defined]
    c = float(post_rate.mean + post_life.death_rate(np.zeros(())))
    decays = [alive_rule._decay(post, 1) for post in (post_rate, post_life)]
    # every case here takes the short rules
    assert all(p is None or alive_rule.singular_off_the_line(c, q).all() for p, q in decays)
    for span in (0.3 * limit, 0.7 * limit, limit):
        T = tx + math.expm1(span) / c
        sums = alive_rule._alive_node_sums(np.array([c]), np.array([span]), decays)
        got = float(sums[0]) * span / c
        assert got == pytest.approx(_relative_integral_by_quad(rate, life, x, tx, T), rel=1e-12)
    # and P(alive) comes from those sums
    odds = _log_odds_48(rate, life, np.array(x), np.array(tx), np.array(T))
    want = 1.0 / (1.0 + math.exp(float(odds)))
    assert float(alive_rule.pareto_alive(rate, life, x, tx, T)) == pytest.approx(want, rel=1e-10)  # type: ignore[arg-type]


def test_rows_with_a_singularity_near_the_range_keep_the_full_rule() -> None:
    # r + x < 1 and a slow dropout: c alpha = 0.05, so the rate's factor is singular on
    # the real line near the range, where short rules lose digits; the 48-node rule gives
    # the likelihood's number
    rate, life = GammaRate(0.05, 0.01), GammaLifetime(0.6, 1e4)
    x, tx, T = np.zeros(3), np.zeros(3), np.array([0.05, 1.0, 40.0])
    got = alive_rule.pareto_alive(rate, life, x, tx, T)
    want = 1.0 / (1.0 + np.exp(_log_odds_48(rate, life, x, tx, T)))
    np.testing.assert_allclose(got, want, rtol=1e-14)


@pytest.mark.parametrize(("rate", "life"), MIXINGS)
def test_shared_work_gives_each_customer_their_own_pmf(rate: object, life: object) -> None:
    t, x, tx, T = _histories(60, seed=2)
    # every history twice, with both horizons
    t, x, tx, T = (np.concatenate([v, v]) for v in (t, x, tx, T))
    counts = np.array([0, 1, 2, 7, 40, 300])[:, None]
    together = cond.pareto_pmf(counts, t, x, tx, T, rate, life)  # type: ignore[arg-type]
    assert together.shape == (6, 120)
    assert np.isfinite(together).all()
    for j in range(0, 120, 7):
        alone = cond.pareto_pmf(counts[:, 0], t[j], x[j], tx[j], T[j], rate, life)  # type: ignore[arg-type]
        assert np.abs(together[:, j] - alone).max() < 1e-15
    # a count per customer takes the grid's values (small counts on shorter rules)
    pick = np.arange(120) % 6
    each = cond.pareto_pmf(counts[pick, 0], t, x, tx, T, rate, life)  # type: ignore[arg-type]
    np.testing.assert_allclose(each, together[pick, np.arange(120)], rtol=1e-11, atol=0)
    # zero horizon: no purchase for sure
    zero = t == 0.0
    np.testing.assert_array_equal(together[:, zero], (counts == 0) * np.ones(int(zero.sum())))


def test_blocks_do_not_change_a_value(monkeypatch: pytest.MonkeyPatch) -> None:
    t, x, tx, T = _histories(300, seed=3)
    rate, life = GammaRate(0.55, 10.6), GammaLifetime(0.6, 11.7)
    counts = np.arange(5)[:, None]
    want = cond.pareto_pmf(counts, t, x, tx, T, rate, life)
    # seven rows a block on the full rules
    monkeypatch.setattr(alive_rule, "BLOCK_CELLS", 7 * fast.PMF_NODES)
    got = cond.pareto_pmf(counts, t, x, tx, T, rate, life)
    assert np.abs(got - want).max() < 1e-15


def test_customers_whose_rows_rarely_repeat_get_the_same_values() -> None:
    # from SAMPLE_FROM customers with continuous clocks the rows are not searched for
    # repeats; halves below that size are: the values agree, for both routes
    size = SAMPLE_FROM + 2000
    rng = np.random.default_rng(5)
    rfm = simulate_pareto_nbd(size, T=rng.uniform(10.0, 52.0, size), seed=5).rfm
    x, tx, T = rfm.frequency, rfm.recency, rfm.T
    rate, life = GammaRate(0.55, 10.6), GammaLifetime(0.6, 11.7)
    half = size // 2
    for counts in (np.arange(3)[:, None], (x % 3).astype(float)):
        whole = cond.pareto_pmf(counts, 52.0, x, tx, T, rate, life)
        parts = [
            cond.pareto_pmf(
                counts if counts.ndim == 2 else counts[part],
                52.0,
                x[part],
                tx[part],
                T[part],
                rate,
                life,
            )
            for part in (slice(None, half), slice(half, None))
        ]
        np.testing.assert_allclose(whole, np.concatenate(parts, axis=-1), rtol=1e-12, atol=0)


def test_parameters_per_customer_are_each_their_own() -> None:
    t, x, tx, T = _histories(40, seed=4)
    r, alpha = np.linspace(0.3, 3.0, 40), np.linspace(1.0, 20.0, 40)
    s, beta = np.linspace(0.2, 2.0, 40), np.linspace(5.0, 50.0, 40)
    counts = np.arange(4)[:, None]
    rate, life = GammaRate(r, alpha), GammaLifetime(s, beta)  # type: ignore[arg-type]
    together = cond.pareto_pmf(counts, t, x, tx, T, rate, life)
    for j in range(0, 40, 9):
        one = (GammaRate(r[j], alpha[j]), GammaLifetime(s[j], beta[j]))
        alone = cond.pareto_pmf(counts[:, 0], t[j], x[j], tx[j], T[j], *one)
        assert np.abs(together[:, j] - alone).max() < 1e-15


def test_frequent_buyers_get_a_whole_distribution() -> None:
    # hundreds of purchases: the closed form's hypergeometric functions overflow here
    rate, life = GammaRate(2.0, 2.0), GammaLifetime(0.34, 112.0)
    x = np.array([100.0, 300.0, 500.0, 500.0])
    tx, T = np.array([50.0, 51.0, 51.9, 20.0]), np.full(4, 52.0)
    counts = np.arange(3000)[:, None]
    pmf = cond.pareto_pmf(counts, 52.0, x, tx, T, rate, life)
    assert np.isfinite(pmf).all()
    assert np.abs(pmf.sum(axis=0) - 1.0).max() < 1e-10
    alive = cond.pareto_alive(rate, life, x, tx, T)
    # alive, the customer buys at the posterior mean rate for the expected time alive
    mean_if_alive = (2.0 + x) / (2.0 + T) * life.alive_posterior(T).expected_lifetime_within(52.0)
    mean = (counts * pmf).sum(axis=0)
    np.testing.assert_allclose(mean, alive * mean_if_alive, rtol=1e-9)
    # seven months of silence after 500 purchases: gone
    assert pmf[0, 3] == pytest.approx(1.0, abs=1e-12)


def test_the_model_call_is_the_formula() -> None:
    rfm = simulate_pareto_nbd(500, T=52.0, seed=5).rfm
    model = ParetoNBDFitter().fit(rfm)
    p = model.params_
    rate, life = GammaRate(p["r"], p["alpha"]), GammaLifetime(p["s"], p["beta"])
    got = model.conditional_probability_of_purchases(26.0, rfm, n=np.arange(4)[:, None])
    want = cond.pareto_pmf(
        np.arange(4)[:, None], 26.0, rfm.frequency, rfm.recency, rfm.T, rate, life
    )
    np.testing.assert_array_equal(got, want)


def _dead_part_by_quad(rate: object, life: object, x: float, T: float, t: float, n: int):
    """``int_0^t f(u) NBD(n; u) du / NBD(n; t)`` of ``P(n | alive)``, by adaptive quadrature."""
    post_rate, post_life = rate.posterior(x, T), life.alive_posterior(T)  # type: ignore[attr-defined]
    end = post_rate.log_count_pmf(np.array(float(n)), np.array(t))

    def g(u: float) -> float:
        at = np.array(u)
        value = post_life.log_density(at) + post_rate.log_count_pmf(np.array(float(n)), at) - end
        return math.exp(float(value))

    points = [t * q for q in (1e-6, 1e-4, 1e-2, 0.1, 0.5, 0.9, 0.99)]
    value, _ = integrate.quad(g, 0.0, t, epsabs=0, epsrel=1e-13, limit=1000, points=points)
    return value


@pytest.mark.parametrize(("largest", "limits"), fast.PMF_SMOOTH_RULES)
@pytest.mark.parametrize(
    ("rate", "life", "x"),
    SMOOTH_MIXINGS,
)
def test_short_pmf_rules_hold_their_digits_up_to_their_largest_span(
    largest: int, limits: tuple, rate: object, life: object, x: float
) -> None:
    T = 10.0
    post_rate, post_life = rate.posterior(x, T), life.alive_posterior(T)  # type: ignore[attr-defined]
    c = float(post_rate.mean + post_life.death_rate(np.zeros(())))
    for limit, nodes in limits:
        for span in (0.5 * limit, limit):
            t = math.expm1(span) / c
            # the rule the pmf picks for this customer and count
            rule = fast._pmf_rule(
                np.array([[largest]], dtype=float), post_rate, np.array([c]), np.array([span])
            )
            assert int(rule[0]) <= nodes
            at = fast._pareto_nodes(
                np.array([t]), np.array([x]), np.array([T]), rate, life, nodes=nodes
            )  # type: ignore[arg-type]
            dead = float(fast._node_sums(at, np.array([[largest]], dtype=float))[0, 0])
            got = dead * math.exp(float(at.top[0]))
            want = _dead_part_by_quad(rate, life, x, T, t, largest)
            assert got == pytest.approx(want, rel=1e-12)


def test_many_ages_take_the_short_rules_with_the_same_digits() -> None:
    # more distinct (x, T) than a block: small counts run on the short rules; a handful
    # of customers at a time run on the full one
    rng = np.random.default_rng(7)
    size = 3 * alive_rule._block_rows(fast.PMF_NODES)
    x = rng.integers(1, 30, size).astype(float)
    T = rng.uniform(1.0, 104.0, size)
    tx = T * rng.uniform(0.0, 1.0, size)
    rate, life = GammaRate(0.55, 10.6), GammaLifetime(0.6, 11.7)
    counts = np.arange(4)[:, None]
    post = rate.posterior(x, T)
    span = np.log1p((post.mean + life.alive_posterior(T).death_rate(np.zeros(size))) * 52.0)
    c = post.mean + life.alive_posterior(T).death_rate(np.zeros(size))
    assert (fast._pmf_rule(counts.astype(float), post, c, span) < fast.PMF_NODES).mean() > 0.9
    together = cond.pareto_pmf(counts, 52.0, x, tx, T, rate, life)
    for lo in range(0, size, 100):
        part = slice(lo, lo + 100)
        alone = cond.pareto_pmf(counts, 52.0, x[part], tx[part], T[part], rate, life)
        np.testing.assert_allclose(together[:, part], alone, rtol=1e-12, atol=0)


@pytest.mark.parametrize(
    ("x", "n", "bound"),
    [(40.0, 20, 1e-10), (40.0, 300, 1e-10), (200.0, 20, 1e-10), (200.0, 300, 2e-3)],
)
def test_pmf_error_is_as_documented(x: float, n: int, bound: float) -> None:
    # a heavy buyer's low counts over a long horizon: an interior peak of early dropouts
    rate, life, T, t = GammaRate(8.0, 0.2), GammaLifetime(0.6, 11.7), 39.0, 260.0
    nodes = fast._pareto_nodes(np.array([t]), np.array([x]), np.array([T]), rate, life)
    dead = fast._node_sums(nodes, np.array([float(n)]))[0] * math.exp(float(nodes.top[0]))
    reference = _dead_part_by_quad(rate, life, x, T, t, n)
    alive = math.exp(float(life.alive_posterior(T).log_survival(np.array(t))))
    assert abs(dead - reference) / (alive + reference) < bound
