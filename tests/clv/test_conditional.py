"""The conditional purchase-count distribution P(X(T, T+t) = n | x, t_x, T) of each model."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from funnelkit.clv import (
    BetaGeoBetaBinomFitter,
    BetaGeoFitter,
    ModifiedBetaGeoFitter,
    ParetoNBDFitter,
    conditional as cond,
)
from funnelkit.clv._mixing import (
    BetaDropout,
    CommonDropout,
    CommonLifetime,
    CommonRate,
    GammaLifetime,
    GammaRate,
)
from funnelkit.datasets.btyd import (
    simulate_bgbb,
    simulate_bgnbd,
    simulate_mbgnbd,
    simulate_pareto_nbd,
)
from funnelkit.exceptions import FunnelkitError

COUNTS = np.arange(400)[:, None]


@pytest.fixture(scope="module")
def fitted() -> dict[str, tuple[object, object]]:
    worlds = {
        "bgnbd": (BetaGeoFitter, simulate_bgnbd(1500, T=52.0, seed=1)),
        "mbgnbd": (ModifiedBetaGeoFitter, simulate_mbgnbd(1500, T=52.0, seed=2)),
        "pareto": (ParetoNBDFitter, simulate_pareto_nbd(1500, T=52.0, seed=3)),
    }
    return {name: (cls().fit(sim.rfm), sim) for name, (cls, sim) in worlds.items()}


@pytest.mark.parametrize("name", ["bgnbd", "mbgnbd", "pareto"])
@pytest.mark.parametrize("horizon", [0.5, 10.0, 52.0])
def test_pmf_sums_to_one_and_its_mean_is_the_expected_purchases(
    fitted: dict, name: str, horizon: float
) -> None:
    model, sim = fitted[name]
    pmf = model.conditional_probability_of_purchases(horizon, sim.rfm, n=COUNTS)
    assert pmf.shape == (COUNTS.size, len(sim.rfm))
    assert np.abs(pmf.sum(axis=0) - 1.0).max() < 1e-10
    mean = (COUNTS * pmf).sum(axis=0)
    assert np.abs(mean - model.expected_purchases(horizon, sim.rfm)).max() < 1e-8


def test_bgbb_pmf_sums_to_one_over_the_opportunities_and_matches_the_expectation() -> None:
    sim = simulate_bgbb(3000, n_periods=6, seed=4)
    model = BetaGeoBetaBinomFitter().fit(sim.rfm)
    for horizon in (1, 5, 12):
        counts = np.arange(horizon + 1)[:, None]
        pmf = model.conditional_probability_of_purchases(horizon, n=counts)
        assert np.abs(pmf.sum(axis=0) - 1.0).max() < 1e-12
        mean = (counts * pmf).sum(axis=0)
        assert np.abs(mean - model.expected_purchases(horizon)).max() < 1e-10
        # more transactions than opportunities is impossible
        assert model.conditional_probability_of_purchases(horizon, n=horizon + 1).max() == 0.0
    with pytest.raises(FunnelkitError, match="whole numbers of transaction opportunities"):
        model.conditional_probability_of_purchases(2.5, n=0)


def test_new_customer_is_the_unconditional_pmf() -> None:
    # x = t_x = T = 0: an alive customer with the prior as posterior (no dropout chance yet
    # in BG/NBD), so the conditional pmf is the models' own P(X(t) = n)
    fresh = {"frequency": [0.0], "recency": [0.0], "T": [0.0]}
    counts = np.arange(8)[:, None]
    for model in (
        BetaGeoFitter().fit(simulate_bgnbd(1500, T=52.0, seed=1).rfm),
        ParetoNBDFitter().fit(simulate_pareto_nbd(1500, T=52.0, seed=3).rfm),
    ):
        got = model.conditional_probability_of_purchases(7.0, fresh, n=counts)[:, 0]
        want = model.probability_of_purchases(counts[:, 0], 7.0)
        assert np.abs(got - want).max() < 1e-10
    # BG/BB data need T >= 1, so the model's own call refuses T = 0: the formula directly
    from funnelkit.clv.beta_geo_beta_binom import mixings

    bgbb = BetaGeoBetaBinomFitter().fit(simulate_bgbb(3000, n_periods=6, seed=4).rfm)
    got = cond.bgbb_pmf(np.arange(7), 6, 0.0, 0.0, 0.0, *mixings(bgbb.params_))
    assert np.abs(got - bgbb.probability_of_purchases(np.arange(7), 6)).max() < 1e-12


def test_pareto_matches_lifetimes() -> None:
    pd = pytest.importorskip("pandas")
    lifetimes = pytest.importorskip("lifetimes")
    sim = simulate_pareto_nbd(1500, T=52.0, seed=3)
    model = ParetoNBDFitter().fit(sim.rfm)
    oracle = lifetimes.ParetoNBDFitter()
    oracle.params_ = pd.Series(model.params_)
    rfm = sim.rfm
    for i in range(0, 1500, 150):
        for n in (0, 1, 3):
            want = float(
                oracle.conditional_probability_of_n_purchases_up_to_time(
                    n, 20.0, rfm.frequency[i], rfm.recency[i], rfm.T[i]
                )
            )
            got = model.conditional_probability_of_n_purchases_up_to_time(
                n, 20.0, rfm.frequency[i], rfm.recency[i], rfm.T[i]
            )
            assert float(got) == pytest.approx(want, rel=1e-8, abs=1e-12)


def test_a_customer_certainly_gone_makes_no_purchase() -> None:
    model = BetaGeoFitter().fit(simulate_bgnbd(1500, T=52.0, seed=1).rfm)
    # ten purchases in the first week, then silence for two years
    gone = {"frequency": [10.0], "recency": [1.0], "T": [104.0]}
    alive = float(model.probability_alive(gone)[0])
    assert alive < 1e-12
    p0 = float(model.conditional_probability_of_purchases(52.0, gone, n=0)[0])
    p_some = model.conditional_probability_of_purchases(52.0, gone, n=np.arange(1, 50))
    assert p0 >= 1.0 - alive
    assert p0 == pytest.approx(1.0, abs=1e-12)
    assert float(p_some.max()) < 1e-12
    # no dropout chance yet (BG/NBD, no repeat purchase): P(alive) = 1 and P(0) is the
    # probability that an alive customer does not buy
    quiet = {"frequency": [0.0], "recency": [0.0], "T": [30.0]}
    r, alpha = model.params_["r"], model.params_["alpha"]
    want = ((alpha + 30.0) / (alpha + 30.0 + 10.0)) ** r
    got = float(model.conditional_probability_of_purchases(10.0, quiet, n=0)[0])
    assert got == pytest.approx(want, rel=1e-12)


def _monte_carlo_bgnbd(params: dict, x: float, tx: float, T: float, t: float, k: int, seed: int):
    rng = np.random.default_rng(seed)
    size = 200_000
    rate, dropout = GammaRate(params["r"], params["alpha"]), BetaDropout(params["a"], params["b"])
    alive = cond.geometric_alive(rate, dropout, np.array([x]), np.array([tx]), np.array([T]), k)
    is_alive = rng.random(size) < alive[0]
    lam = rng.gamma(params["r"] + x, 1.0 / (params["alpha"] + T), size)
    p = rng.beta(params["a"], params["b"] + x + k, size)
    counts = np.zeros(size, dtype=int)
    clock = np.zeros(size)
    active = is_alive.copy()
    while active.any():
        clock[active] += rng.exponential(1.0 / lam[active])
        bought = active & (clock <= t)
        counts[bought] += 1
        drops = bought & (rng.random(size) < p)
        active = bought & ~drops
    return counts


@pytest.mark.parametrize("k", [0, 1], ids=["bgnbd", "mbgnbd"])
def test_geometric_pmf_against_a_simulation(k: int) -> None:
    params = {"r": 0.8, "alpha": 5.0, "a": 0.9, "b": 3.0}
    history = (3.0, 20.0, 30.0)
    counts = _monte_carlo_bgnbd(params, *history, t=15.0, k=k, seed=11)
    rate, dropout = GammaRate(params["r"], params["alpha"]), BetaDropout(params["a"], params["b"])
    n = np.arange(6)
    pmf = cond.geometric_pmf(n, 15.0, *history, rate, dropout, k=k)
    share = np.bincount(counts, minlength=6)[:6] / counts.size
    se = np.sqrt(pmf * (1 - pmf) / counts.size)
    assert np.all(np.abs(share - pmf) < 4.5 * se + 1e-4)


def test_pareto_pmf_against_a_simulation() -> None:
    rng = np.random.default_rng(12)
    size = 200_000
    params = {"r": 0.8, "alpha": 5.0, "s": 0.7, "beta": 12.0}
    x, tx, T, t = 4.0, 18.0, 30.0, 20.0
    rate, life = GammaRate(params["r"], params["alpha"]), GammaLifetime(params["s"], params["beta"])
    alive = cond.pareto_alive(rate, life, np.array([x]), np.array([tx]), np.array([T]))[0]
    lam = rng.gamma(params["r"] + x, 1.0 / (params["alpha"] + T), size)
    mu = rng.gamma(params["s"], 1.0 / (params["beta"] + T), size)
    active_for = np.minimum(rng.exponential(1.0 / mu), t) * (rng.random(size) < alive)
    counts = rng.poisson(lam * active_for)
    pmf = cond.pareto_pmf(np.arange(6), t, x, tx, T, rate, life)
    share = np.bincount(counts, minlength=6)[:6] / size
    se = np.sqrt(pmf * (1 - pmf) / size)
    assert np.all(np.abs(share - pmf) < 4.5 * se + 1e-4)


def test_bgbb_pmf_against_a_simulation() -> None:
    from funnelkit.clv._mixing import BetaPurchase

    rng = np.random.default_rng(13)
    size = 200_000
    a, b, g, d = 1.2, 0.75, 0.66, 2.8
    x, tx, T, m = 3.0, 5.0, 6.0, 5
    purchase, dropout = BetaPurchase(a, b), BetaDropout(g, d)
    alive = cond.bgbb_alive(purchase, dropout, np.array([x]), np.array([tx]), np.array([T]))[0]
    p = rng.beta(a + x, b + T - x, size)
    theta = rng.beta(g, d + T, size)
    living = rng.random(size) < alive
    counts = np.zeros(size, dtype=int)
    for _ in range(m):
        living &= rng.random(size) >= theta
        counts += living & (rng.random(size) < p)
    pmf = cond.bgbb_pmf(np.arange(m + 1), m, x, tx, T, purchase, dropout)
    share = np.bincount(counts, minlength=m + 1) / size
    se = np.sqrt(pmf * (1 - pmf) / size)
    assert np.all(np.abs(share - pmf) < 4.5 * se + 1e-4)


def test_limit_models_without_dropout_are_poisson() -> None:
    n = np.arange(30)
    want = stats.poisson.pmf(n, 0.4 * 12.0)
    geometric = cond.geometric_pmf(
        n, 12.0, 5.0, 8.0, 10.0, CommonRate(0.4), CommonDropout(0.0), k=0
    )
    pareto = cond.pareto_pmf(n, 12.0, 5.0, 8.0, 10.0, CommonRate(0.4), CommonLifetime(0.0))
    assert np.abs(geometric - want).max() < 1e-14
    assert np.abs(pareto - want).max() < 1e-14


def _both_families(n: np.ndarray, x: object, tx: object, T: object, q: dict) -> list:
    rate = GammaRate(q["r"], q["alpha"])
    geometric = cond.geometric_pmf(n, 9.0, x, tx, T, rate, BetaDropout(q["a"], q["b"]), k=0)
    pareto = cond.pareto_pmf(n, 9.0, x, tx, T, rate, GammaLifetime(q["a"], q["b"] * 5))
    return [geometric, pareto]


def test_parameters_may_differ_per_customer() -> None:
    # two customers with their own parameters give what each gives alone: the form a
    # model with covariates uses
    x, tx, T = np.array([2.0, 5.0]), np.array([10.0, 30.0]), np.array([40.0, 40.0])
    n = np.arange(20)[:, None]
    sets = [
        {"r": 0.5, "alpha": 4.0, "a": 0.8, "b": 2.5},
        {"r": 1.5, "alpha": 9.0, "a": 1.3, "b": 4.0},
    ]
    stacked = {k: np.array([q[k] for q in sets], dtype=float) for k in sets[0]}
    together = _both_families(n, x, tx, T, stacked)
    for i, q in enumerate(sets):
        alone = _both_families(n, x[i], tx[i], T[i], q)
        for both, one in zip(together, alone, strict=True):
            assert np.abs(both[:, i] - one[:, 0]).max() < 1e-14


def test_the_call_shapes_agree_and_mistakes_are_refused(fitted: dict) -> None:
    model, sim = fitted["bgnbd"]
    rfm = sim.rfm
    want = model.conditional_probability_of_purchases(horizon=10.0, data=rfm, n=1)
    assert want.shape == (len(rfm),)
    for got in (
        model.conditional_probability_of_purchases(10.0, rfm, n=1),
        model.conditional_probability_of_purchases(t=10.0, data=rfm, n=1),
        model.conditional_probability_of_purchases(10.0, n=1),
        model.conditional_probability_of_n_purchases_up_to_time(
            1, 10.0, rfm.frequency, rfm.recency, rfm.T
        ),
    ):
        np.testing.assert_array_equal(got, want)
    per_customer = model.conditional_probability_of_purchases(10.0, rfm, n=np.arange(len(rfm)) % 3)
    assert per_customer[4] == model.conditional_probability_of_purchases(10.0, rfm, n=1)[4]
    with pytest.raises(FunnelkitError, match=r"got no n \(the purchase count asked about\)"):
        model.conditional_probability_of_purchases(10.0, rfm)
    with pytest.raises(FunnelkitError, match="got no horizon"):
        model.conditional_probability_of_purchases(data=rfm, n=1)
    with pytest.raises(FunnelkitError, match="got the horizon 2 times"):
        model.conditional_probability_of_purchases(horizon=1.0, t=1.0, n=1)
    with pytest.raises(FunnelkitError, match="customers as the first positional argument"):
        model.conditional_probability_of_purchases(rfm, n=1)
    with pytest.raises(FunnelkitError, match="n must be whole numbers >= 0"):
        model.conditional_probability_of_purchases(10.0, rfm, n=1.5)
    with pytest.raises(FunnelkitError, match="n has shape \\(3,\\) but there are 1500"):
        model.conditional_probability_of_purchases(10.0, rfm, n=[0, 1, 2])
