"""Pareto/NBD limit models: common rates and no dropout, exact forms and boundary fits."""

from __future__ import annotations

import json
import math
import warnings
from typing import Any

import numpy as np
import pytest
from scipy import integrate

from funnelkit.clv import ParetoNBDFitter, discounted_expected_residual_transactions, pareto_nbd
from funnelkit.clv._data import rfm_fit_data
from funnelkit.clv._mixing import (
    CommonLifetime,
    CommonRate,
    GammaLifetime,
    GammaRate,
    log_death_integral,
)
from funnelkit.clv.pareto_nbd import _quadrature_log_likelihood, mixings, mixture_log_likelihood
from funnelkit.datasets import load_cdnow
from funnelkit.datasets.btyd import simulate_pareto_nbd

DATA = {
    "frequency": np.array([0.0, 1.0, 4.0, 40.0, 2.0]),
    "recency": np.array([0.0, 3.0, 20.0, 38.0, 39.0]),
    "T": np.array([39.0, 39.0, 39.0, 39.0, 39.0]),
}
BIG = 1e8


@pytest.fixture(scope="module")
def template() -> dict:
    model = ParetoNBDFitter().fit(simulate_pareto_nbd(300, T=52.0, seed=1).rfm)
    return dict(json.loads(model.to_json()))


def _at(template: dict, **params: float) -> ParetoNBDFitter:
    """A model loaded from JSON with the parameters under test (full or limit)."""
    return ParetoNBDFitter.from_json(json.dumps({**template, "params": params}))


def _predictions(model: ParetoNBDFitter) -> list[np.ndarray]:
    return [
        model.probability_alive(DATA),
        model.probability_alive(DATA, at=26.0),
        model.expected_purchases(np.array([[1.0], [52.0], [500.0]]), DATA),
        model.expected_purchases_new_customer(np.array([0.5, 52.0, 500.0])),
        model.probability_of_purchases(np.arange(6), 52.0),
        model.discounted_residual_purchases(0.003, DATA),
    ]


@pytest.mark.parametrize(
    ("rate", "lifetime"),
    [
        (GammaRate(0.55, 10.6), GammaLifetime(0.6, 11.7)),
        (GammaRate(0.05, 0.01), CommonLifetime(0.03)),
        (CommonRate(5.0), GammaLifetime(0.05, 0.02)),
        (CommonRate(0.3), CommonLifetime(3.0)),
        (GammaRate(20.0, 2.0), GammaLifetime(30.0, 3.0)),
    ],
)
@pytest.mark.parametrize(
    ("x", "lo", "hi"), [(0, 0.0, 52.0), (1, 3.0, 52.0), (200, 10.0, 100.0), (3, 1e-3, 1e3)]
)
def test_death_integral_matches_adaptive_quadrature(
    rate: object, lifetime: object, x: int, lo: float, hi: float
) -> None:
    got = float(log_death_integral(rate, lifetime, np.array(x), np.array(lo), np.array(hi)))  # type: ignore[arg-type]

    def scaled(t: float) -> float:
        value = rate.log_weight(np.array(x), np.array(t)) + lifetime.log_density(np.array(t))  # type: ignore[attr-defined]
        return math.exp(float(value) - got)

    points = [lo + (hi - lo) * q for q in (1e-6, 1e-4, 1e-2, 0.1)]
    reference, _ = integrate.quad(scaled, lo, hi, epsabs=0, epsrel=1e-13, limit=500, points=points)
    assert reference == pytest.approx(1.0, rel=1e-9)


@pytest.mark.parametrize("r", [0.05, 0.3, 0.9])
@pytest.mark.parametrize("alpha", [1e-4, 1e-2])
@pytest.mark.parametrize("hi", [1e5, 1e6])
@pytest.mark.parametrize("lifetime", [CommonLifetime(0.03), GammaLifetime(3.0, 0.02)])
def test_death_integral_error_at_very_long_spans_is_as_documented(
    r: float, alpha: float, hi: float, lifetime: object
) -> None:
    # a common lifetime's sharp shoulder, far inside the span, was 3e-6 off before the
    # span was cut where the exponential leaves nothing
    rate = GammaRate(r, alpha)
    got = float(log_death_integral(rate, lifetime, np.array(0.0), np.array(0.0), np.array(hi)))

    def scaled(t: float) -> float:
        value = rate.log_weight(np.array(0.0), np.array(t)) + lifetime.log_density(np.array(t))
        return math.exp(float(value) - got)

    points = [hi * q for q in (1e-8, 1e-6, 1e-4, 1e-2, 0.1)]
    reference, _ = integrate.quad(scaled, 0, hi, epsabs=0, epsrel=1e-13, limit=2000, points=points)
    assert reference == pytest.approx(1.0, rel=1e-7)


def test_mixture_likelihood_equals_the_closed_form_at_interior_parameters() -> None:
    data = rfm_fit_data(load_cdnow(), time_unit="W")
    params = np.array([0.553, 10.578, 0.606, 11.669])
    fast = ParetoNBDFitter()._log_likelihood(params, data)
    rate, lifetime = mixings(dict(zip(("r", "alpha", "s", "beta"), params, strict=True)))
    mixed = mixture_log_likelihood(rate, lifetime, data["frequency"], data["recency"], data["T"])
    np.testing.assert_allclose(mixed, fast, rtol=1e-12)
    total, grad = _quadrature_log_likelihood(params, data)
    fast_total, fast_grad = ParetoNBDFitter()._weighted_log_likelihood(params, data)
    assert total == pytest.approx(fast_total, rel=1e-12)
    np.testing.assert_allclose(grad, fast_grad, rtol=1e-8)


def _gamma(mean: float) -> tuple[float, float]:
    """A gamma with the given mean, concentrated enough to stand for its point mass."""
    return BIG, BIG / mean


R, A = _gamma(0.2)
S, B = _gamma(0.03)


@pytest.mark.parametrize(
    ("limit", "full"),
    [
        ({"r": 0.6, "alpha": 12.0, "mu": 0.03}, {"r": 0.6, "alpha": 12.0, "s": S, "beta": B}),
        ({"lambda": 0.2, "s": 0.6, "beta": 11.0}, {"r": R, "alpha": A, "s": 0.6, "beta": 11.0}),
        ({"lambda": 0.2, "mu": 0.03}, {"r": R, "alpha": A, "s": S, "beta": B}),
        ({"r": 0.6, "alpha": 12.0}, {"r": 0.6, "alpha": 12.0, "s": 1e-10, "beta": 1.0}),
        ({"lambda": 0.2}, {"r": R, "alpha": A, "s": 1e-10, "beta": 1.0}),
    ],
    ids=["common mu", "common lambda", "both common", "no dropout", "poisson"],
)
def test_limits_agree_with_concentrated_gammas(template: dict, limit: dict, full: dict) -> None:
    exact, near = _at(template, **limit), _at(template, **full)
    with np.errstate(all="raise"):
        for got, want in zip(_predictions(exact), _predictions(near), strict=True):
            np.testing.assert_allclose(got, want, rtol=2e-5, atol=1e-12)
    data = rfm_fit_data(DATA, time_unit="W")
    x, tx, T = data["frequency"], data["recency"], data["T"]
    ll_limit = mixture_log_likelihood(*mixings(limit), x, tx, T)
    ll_full = ParetoNBDFitter()._log_likelihood(np.array(list(full.values())), data)
    np.testing.assert_allclose(ll_limit, ll_full, rtol=2e-5)


def test_probability_of_purchases_stays_finite_at_degenerate_parameters(template: dict) -> None:
    # parameters at the edge of the search space (e^-30, e^9): the integrand's peak lies
    # between the points of the grid that used to scale it, and math.exp overflowed
    tiny = math.exp(-30.0)
    model = _at(template, r=tiny, alpha=tiny, s=math.exp(9.0), beta=1.0)
    with np.errstate(all="raise"):
        pmf = model.probability_of_purchases(np.arange(40), 52.0)
    assert np.all((pmf >= 0) & (pmf <= 1))
    assert pmf.sum() == pytest.approx(1.0, rel=1e-8)
    poisson = _at(template, **{"lambda": 0.1})
    assert poisson.probability_of_purchases(3, 52.0)[()] == pytest.approx(
        math.exp(-5.2) * 5.2**3 / 6, rel=1e-12
    )


def test_probability_of_purchases_by_fixed_rules_is_the_adaptive_integral(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # the pairs are integrated together by two Gauss-Legendre rules, and one by one
    # (adaptively) where those disagree: against the adaptive integral of every pair
    rng = np.random.default_rng(11)
    adaptive = pareto_nbd._pmf_new
    sent: list[float] = []

    def counted(rate: Any, lifetime: Any, n: float, t: float) -> float:
        sent.append(n)
        return adaptive(rate, lifetime, n, t)

    monkeypatch.setattr(pareto_nbd, "_pmf_new", counted)
    n_pairs = 0
    for k in range(24):
        r, alpha, s, beta = 10 ** rng.uniform([-2, -2, -2, -2], [2, 3, 2, 4])
        rate: Any = GammaRate(r, alpha) if k % 6 else CommonRate(r / alpha)
        lifetime: Any = GammaLifetime(s, beta) if k % 8 else CommonLifetime(s / beta * (k % 16))
        horizons = np.r_[0.0, np.geomspace(1e-4, 1e3, 12)]
        n, t = (a.ravel() for a in np.meshgrid([0.0, 1.0, 2.0, 5.0, 20.0, 100.0], horizons))
        got = pareto_nbd._pmf_new_all(rate, lifetime, n, t)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            want = np.array([adaptive(rate, lifetime, a, b) for a, b in zip(n, t, strict=True)])
        normal = want > 1e-290  # below, the adaptive integral itself rounds to subnormals
        np.testing.assert_allclose(got[normal], want[normal], rtol=1e-12, atol=0)
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-14)
        n_pairs += n.size
    # most pairs by the fixed rules; some (many purchases, peaked integrands) adaptively
    assert 0 < len(sent) < n_pairs / 4


def test_dert_of_a_limit_model_is_the_discounted_purchase_stream(template: dict) -> None:
    model = _at(template, **{"lambda": 0.2, "mu": 0.03})
    yearly = 0.15
    dert = discounted_expected_residual_transactions(
        model, DATA, discount_rate=yearly, time_unit="year"
    )
    delta = math.log1p(yearly) / (365.25 / 7)
    alive = model.probability_alive(DATA)
    # common rates: lambda * int_0^inf e^{-(delta + mu) t} dt for an alive customer
    np.testing.assert_allclose(dert, alive * 0.2 / (delta + 0.03), rtol=1e-12)


def _world(
    n: int, seed: int, *, lam: float | None, mu: float | None, t_cal: float, t_hold: float
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Customers with the given common rates (gamma-mixed where ``None``); holdout counts."""
    rng = np.random.default_rng(seed)
    T = rng.uniform(t_cal / 2, t_cal, n)
    rate = rng.gamma(0.8, 1 / 8.0, n) if lam is None else np.full(n, lam)
    drop = rng.gamma(0.7, 1 / 20.0, n) if mu is None else np.full(n, mu)
    life = np.full(n, np.inf) if mu == 0 else rng.exponential(1.0, n) / drop
    active = np.minimum(life, T)
    x = rng.poisson(rate * active)
    recency = np.where(x > 0, active * rng.beta(np.maximum(x, 1), 1.0), 0.0)
    holdout = rng.poisson(rate * np.clip(life - T, 0.0, t_hold))
    return {"frequency": x.astype(float), "recency": recency, "T": T}, holdout


@pytest.mark.slow
@pytest.mark.parametrize(
    ("lam", "mu", "seed", "expected"),
    [
        (None, 0.03, 1, {"common dropout rate"}),
        (0.3, None, 1, {"common purchase rate", ""}),
        (0.3, 0.03, 1, {"common purchase and dropout rates"}),
        (None, 0.0, 1, {"no dropout"}),
    ],
    ids=["common mu", "common lambda", "both common", "no dropout"],
)
def test_boundary_world_fits_its_limit_and_predicts_the_holdout(
    lam: float | None, mu: float | None, seed: int, expected: set[str]
) -> None:
    data, holdout = _world(5000, seed, lam=lam, mu=mu, t_cal=52.0, t_hold=26.0)
    model = ParetoNBDFitter().fit(data, time_unit="W")
    chosen = model.result_.boundary[0] if model.result_.boundary else ""
    assert chosen in expected
    if not chosen:
        # an interior fit is equivalent only with a nearly common rate: CV below 10%
        assert 1.0 / math.sqrt(model.params_["r"]) < 0.1
    assert model.result_.converged
    with np.errstate(all="raise"):
        predicted = model.expected_purchases(26.0)
        assert np.all(np.isfinite(predicted))
        for value in _predictions(model):
            assert np.all(np.isfinite(value))
        assert np.all(np.isfinite(model.summary()["estimate"]))
    assert predicted.mean() == pytest.approx(holdout.mean(), rel=0.10)
    loaded = ParetoNBDFitter.from_json(model.to_json())
    for got, want in zip(_predictions(loaded), _predictions(model), strict=True):
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("size", [1e8, 1e10, 1e12, 1e13])
@pytest.mark.parametrize(("lam", "mu", "ratio"), [(0.1, 0.05, 3.0), (0.3, 0.03, 0.2)])
def test_log_likelihood_keeps_its_digits_next_to_the_common_rates(
    size: float, lam: float, mu: float, ratio: float
) -> None:
    # r, alpha, s, beta -> inf with lambda = r / alpha and mu = s / beta: the full
    # log-likelihood tends to the limit's (the gap is O(1 / size)). The 2F1 series form was
    # hundreds of units off at 1e13 (either way, depending on the machine's arithmetic).
    data, _ = _world(2000, 3, lam=lam, mu=mu, t_cal=52.0, t_hold=26.0)
    model = ParetoNBDFitter()
    fit_data = model._fit_data(data, time_unit="W")
    limit = model._total_log_likelihood({"lambda": lam, "mu": mu}, fit_data)
    params = np.array([size, size / lam, size * ratio, size * ratio / mu])
    full, grad = model._weighted_log_likelihood(params, fit_data)
    assert abs(full - limit) <= 1e4 / size + 1e-9 * abs(limit)
    assert np.all(np.isfinite(grad))
