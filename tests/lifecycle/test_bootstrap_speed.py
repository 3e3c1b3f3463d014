"""The shortcuts of a bootstrap refit give the estimates of a full fit."""

from __future__ import annotations

import multiprocessing

import numpy as np
import pytest

from funnelkit.clv import BetaGeoFitter, GammaGammaFitter, ParetoNBDFitter
from funnelkit.clv._data import unique_combinations
from funnelkit.conversion.cure import CureData
from funnelkit.datasets import simulate_bgnbd
from funnelkit.exceptions import FunnelkitError
from funnelkit.lifecycle import _bootstrap as bootstrap
from funnelkit.lifecycle._data import unique_rows
from funnelkit.lifecycle._rows import SpendRows
from funnelkit.units import TimeUnit


@pytest.mark.parametrize("klass", [BetaGeoFitter, ParetoNBDFitter])
def test_refit_from_the_estimates_gives_the_estimates_of_a_fit(klass) -> None:
    sim = simulate_bgnbd(3000, T=52.0, seed=3)
    s = sim.rfm
    rfm = {"frequency": s.frequency, "recency": s.recency, "T": s.T}
    full = klass().fit(rfm, time_unit="W")
    counts = np.random.default_rng(8).poisson(1.0, s.frequency.size).astype(float)
    fitted = klass().fit(rfm, weights=counts, time_unit="W")
    refitted = klass(initial_params=full.params_).refit(rfm, weights=counts, time_unit="W")
    # from the full fit: its estimates and its curvature (quasi-Newton steps)
    stepped = klass().refit(rfm, weights=counts, time_unit="W", start=full)
    for name, value in fitted.params_.items():
        assert refitted.params_[name] == pytest.approx(value, rel=1e-4), name
        assert stepped.params_[name] == pytest.approx(value, rel=1e-4), name
    assert refitted.log_likelihood_ == pytest.approx(fitted.log_likelihood_, abs=1e-6)
    assert stepped.log_likelihood_ == pytest.approx(fitted.log_likelihood_, abs=1e-6)
    assert refitted.result_.converged and stepped.result_.converged
    # no standard errors: a bootstrap takes its spread from the samples
    assert all(p.std_error is None for p in refitted.result_.params.values())
    assert all(p.std_error is not None for p in fitted.result_.params.values())


def test_spend_refit_matches_the_spend_fit() -> None:
    rng = np.random.default_rng(2)
    frequency = rng.integers(1, 8, 2000).astype(float)
    spend = rng.gamma(6.0, 1.0 / rng.gamma(4.0, 0.1, 2000)) + 1.0
    data = {"frequency": frequency, "monetary_value": spend}
    counts = rng.poisson(1.0, 2000).astype(float)
    full = GammaGammaFitter().fit(data)
    fitted = GammaGammaFitter().fit(data, weights=counts)
    refitted = GammaGammaFitter(initial_params=full.params_).refit(data, weights=counts)
    stepped = GammaGammaFitter().refit(data, weights=counts, start=full)
    for name, value in fitted.params_.items():
        assert refitted.params_[name] == pytest.approx(value, rel=1e-4), name
        assert stepped.params_[name] == pytest.approx(value, rel=1e-4), name


def test_refit_of_the_shifted_beta_geometric_reads_lifetimes_like_fit() -> None:
    from funnelkit.clv import ShiftedBetaGeoFitter
    from funnelkit.datasets.spend import simulate_contract_lifetimes

    sim = simulate_contract_lifetimes(800, alpha=0.7, beta=1.2, observed_periods=8, seed=2)
    data = {"duration": sim.durations, "churned": sim.churned}
    counts = np.random.default_rng(4).poisson(1.0, sim.durations.size).astype(float)
    full = ShiftedBetaGeoFitter().fit(data)
    fitted = ShiftedBetaGeoFitter().fit(data, weights=counts)
    stepped = ShiftedBetaGeoFitter().refit(data, weights=counts, start=full)
    for name, value in fitted.params_.items():
        assert stepped.params_[name] == pytest.approx(value, rel=1e-4), name


def test_refit_of_a_covariate_model_is_the_plain_model() -> None:
    from funnelkit.datasets import simulate_bgnbd_covariates

    sim = simulate_bgnbd_covariates(
        1500, T=52.0, coefficients={"purchase": {"member[True]": 0.5}}, seed=11
    )
    model = BetaGeoFitter().fit(sim.rfm, covariates=sim.covariates)
    plain = BetaGeoFitter().fit(sim.rfm)
    model.refit(sim.rfm, start=plain)
    for name, value in plain.params_.items():
        assert model.params_[name] == pytest.approx(value, rel=1e-4), name
    # no stale effects: the refitted model predicts like the plain one, without covariates
    np.testing.assert_allclose(
        model.expected_purchases(4.0, sim.rfm), plain.expected_purchases(4.0, sim.rfm), rtol=1e-4
    )


@pytest.mark.parametrize("klass", [BetaGeoFitter, ParetoNBDFitter])
def test_rows_of_a_table_refit_like_the_summary_they_compress(klass) -> None:
    sim = simulate_bgnbd(3000, T=52.0, seed=5)
    s = sim.rfm
    customers = np.arange(s.frequency.size)
    rows = unique_rows(customers, s.frequency, s.recency, s.T)
    full = klass().fit(rows.mapping(), weights=rows.row_weights(np.ones(customers.size)))
    counts = np.random.default_rng(6).poisson(1.0, customers.size)
    row_w = rows.row_weights(counts.astype(float))
    data = rows.fit_data(row_w, TimeUnit.WEEK)
    drawn = row_w > 0
    mapping = {k: v[drawn] for k, v in rows.mapping().items()}
    # the groups of distinct values are those a compression of the drawn rows finds
    for names in (("frequency",), ("T",), ("frequency", "recency")):
        values, inverse = data.groups(*names)
        expected = unique_combinations(*(mapping[n] for n in names))
        for got, want in zip(values, expected[0], strict=True):
            np.testing.assert_array_equal(got, want)
        np.testing.assert_array_equal(inverse, expected[1])
    prepared = klass().refit(data, start=full)
    plain = klass().refit(mapping, weights=row_w[drawn], time_unit="W", start=full)
    # the prepared rows sum their first evaluation over all rows (weight 0 where not drawn):
    # the same estimates up to the order of summation
    assert prepared.params_ == pytest.approx(plain.params_, rel=1e-12)
    assert prepared.log_likelihood_ == pytest.approx(plain.log_likelihood_, rel=1e-12)
    assert prepared.result_.n_customers == plain.result_.n_customers == int(counts.sum())
    with pytest.raises(FunnelkitError, match=r"^refit takes weights and time_unit with a summary"):
        klass().refit(data, weights=row_w[drawn], start=full)


def test_spend_rows_refit_like_the_sorted_buyers_they_compress() -> None:
    rng = np.random.default_rng(12)
    n = 3000
    frequency = rng.integers(0, 6, n).astype(float)
    spend = np.where(frequency > 0, np.round(rng.gamma(3.0, 10.0, n), 1), 0.0)
    spend[:40] = 0.0  # buyers without spend are left out
    customers = np.arange(0, n, 2)
    rows = SpendRows.of(customers, frequency, spend)
    full = GammaGammaFitter().fit(
        {"frequency": frequency[rows.customers], "monetary_value": spend[rows.customers]}
    )
    weights = rng.poisson(1.0, n)
    data = rows.fit_data(weights)
    keep = weights[rows.customers] > 0
    buyers = rows.customers[keep]
    assert rows.n_drawn(weights) == buyers.size
    assert np.all(frequency[buyers] > 0) and np.all(spend[buyers] > 0)
    plain = GammaGammaFitter().refit(
        {"frequency": frequency[buyers], "monetary_value": spend[buyers]},
        weights=weights[buyers].astype(float),
        start=full,
    )
    prepared = GammaGammaFitter().refit(data, start=full)
    assert prepared.params_ == pytest.approx(plain.params_, rel=1e-12)
    assert prepared.n_excluded_ == plain.n_excluded_ == 0
    assert data.n_customers == int(weights[buyers].sum())


@pytest.mark.parametrize(
    ("load", "now", "expected"),
    [
        (0.2, None, 4),
        (1.0, None, 4),
        (2.4, None, 3),
        (3.6, None, 1),
        (40.0, None, 1),
        (3.6, 4, 1),
        (2.4, 9, 3),
        # work that just ended still weighs in the 1-minute average, not in what runs now
        (3.6, 1, 4),
        (40.0, 2, 3),
    ],
)
def test_automatic_workers_leave_busy_cores_alone(monkeypatch, load, now, expected) -> None:
    # the load counts this process itself: one busy core at load 1.0 is ours
    monkeypatch.setattr(bootstrap.os, "getloadavg", lambda: (load, load, load))
    monkeypatch.setattr(bootstrap, "_runnable_now", lambda: now)
    monkeypatch.setattr(bootstrap, "_available_cores", lambda: 4)
    forks = "fork" in multiprocessing.get_all_start_methods()
    assert bootstrap.worker_count(None, 100, bootstrap.AUTO_PARALLEL_WORK) == (
        expected if forks else 1
    )
    assert bootstrap.worker_count(3, 100, 10) == (3 if forks else 1)  # an explicit count


def test_a_refit_from_a_loaded_fit_steps_in_its_stored_curvature() -> None:
    sim = simulate_bgnbd(3000, T=52.0, seed=9)
    s = sim.rfm
    rfm = {"frequency": s.frequency, "recency": s.recency, "T": s.T}
    full = BetaGeoFitter().fit(rfm, time_unit="W")
    loaded = BetaGeoFitter.from_json(full.to_json())
    # the metric refit computes from the stored covariance is the fit's own curvature
    derived = BetaGeoFitter()._stored_metric(loaded, np.array(list(loaded.params_.values())))
    assert derived is not None
    np.testing.assert_allclose(derived, vars(full)["_refit_metric"], rtol=1e-6)
    counts = np.random.default_rng(10).poisson(1.0, s.frequency.size).astype(float)
    from_fit = BetaGeoFitter().refit(rfm, weights=counts, time_unit="W", start=full)
    from_loaded = BetaGeoFitter().refit(rfm, weights=counts, time_unit="W", start=loaded)
    assert vars(from_loaded)["_refit_metric"] is not None  # the quasi-Newton steps settled
    for name, value in from_fit.params_.items():
        assert from_loaded.params_[name] == pytest.approx(value, rel=1e-6), name


def test_a_stage_prepares_its_converters_and_durations_once(fitted) -> None:
    table = fitted.customers()
    rng = np.random.default_rng(14)
    for pre in table.pre.values():
        conv = pre.converters
        assert pre.converters is conv  # kept for every later refit
        np.testing.assert_array_equal(conv.customers, pre.customers[pre.converted])
        np.testing.assert_array_equal(conv.member, pre.member_at_purchase[pre.converted])
        np.testing.assert_array_equal(
            conv.log_durations, np.log(np.maximum(pre.durations[pre.converted], 1e-9))
        )
        counts = rng.poisson(1.0, pre.customers.size)
        data = pre.cure_rows.data(counts)
        direct = CureData.from_durations(pre.durations, pre.converted, counts)
        np.testing.assert_array_equal(data.log_censored, direct.log_censored)
        np.testing.assert_array_equal(data.weight_exact, direct.weight_exact)
        assert (data.n_zero, data.log_eps, data.sum_log_exact) == (
            direct.n_zero,
            direct.log_eps,
            direct.sum_log_exact,
        )


def test_a_bootstrap_refit_stops_a_hundredth_of_a_standard_error_from_the_maximum(
    monkeypatch,
) -> None:
    from funnelkit._quasi_newton import bootstrap_precision
    from funnelkit.clv import _optimise

    sim = simulate_bgnbd(3000, T=52.0, seed=3)
    s = sim.rfm
    rfm = {"frequency": s.frequency, "recency": s.recency, "T": s.T}
    full = BetaGeoFitter().fit(rfm, time_unit="W")
    counts = np.random.default_rng(8).poisson(1.0, s.frequency.size).astype(float)
    fitted = BetaGeoFitter().fit(rfm, weights=counts, time_unit="W")
    calls: list[int] = []
    objective = _optimise.objective

    def counted(*args, **kwargs):
        calls.append(1)
        return objective(*args, **kwargs)

    monkeypatch.setattr(_optimise, "objective", counted)
    precise = BetaGeoFitter().refit(rfm, weights=counts, time_unit="W", start=full)
    n_precise = len(calls)
    calls.clear()
    with bootstrap_precision():
        quick = BetaGeoFitter().refit(rfm, weights=counts, time_unit="W", start=full)
    assert len(calls) < n_precise
    names = list(fitted.params_)
    cov = np.asarray(fitted.result_.covariance)
    for model, limit in ((quick, 1e-2), (precise, 1e-4)):
        gap = np.array([model.params_[k] - fitted.params_[k] for k in names])
        # the distance to the maximum in standard errors
        assert float(np.sqrt(gap @ np.linalg.solve(cov, gap))) < limit


def test_replicates_refit_at_bootstrap_precision_and_nothing_else_does() -> None:
    from funnelkit._quasi_newton import BOOTSTRAP_DECREMENT, DECREMENT, refit_decrement

    results, failures = bootstrap.run_replicates(
        np.arange(3), 10, lambda weights: refit_decrement(), n_jobs=1
    )
    assert [value for _, value in results] == [BOOTSTRAP_DECREMENT] * 3
    assert failures.count == 0
    assert refit_decrement() == DECREMENT


@pytest.mark.parametrize("beta", [12.0, 120.0])  # the series; alpha and beta 11 times apart
def test_pareto_refits_start_from_per_row_terms(monkeypatch, beta) -> None:
    from funnelkit._quasi_newton import bootstrap_precision
    from funnelkit.clv import pareto_nbd
    from funnelkit.datasets.btyd import simulate_pareto_nbd

    rng = np.random.default_rng(3)
    n = 4000
    T = rng.integers(1, 53, n).astype(float)
    sim = simulate_pareto_nbd(n, T=T, s=1.5, beta=beta, seed=rng)
    x, tx = sim.rfm.frequency, np.floor(sim.rfm.recency)
    summary = {"frequency": x, "recency": tx, "T": T}
    fitter = ParetoNBDFitter()
    data = fitter._fit_data(summary, time_unit="W")
    full = ParetoNBDFitter().fit(summary, time_unit="W")
    assert full.result_.limit_test is None  # the full model: its refits step from it
    params = np.array(list(full.params_.values()))
    value, grad = fitter._checked_row_terms(params, data)
    assert grad is not None  # usable: they agree with the model's own sums
    total, want = fitter._weighted_log_likelihood(params, data)
    assert float(value @ data.weights) == pytest.approx(total, rel=1e-12)
    np.testing.assert_allclose(grad @ data.weights, want, rtol=1e-6, atol=1e-6)
    # on rows prepared for every sample, a refit's start costs no evaluation of its own
    own = pareto_nbd.ParetoNBDFitter._weighted_log_likelihood
    calls: list[int] = []

    def counted(self, p, d):  # type: ignore[no-untyped-def]
        calls.append(1)
        return own(self, p, d)

    monkeypatch.setattr(pareto_nbd.ParetoNBDFitter, "_weighted_log_likelihood", counted)
    counts = [rng.poisson(1.0, n).astype(float) for _ in range(6)]

    def evaluations() -> int:
        rows = unique_rows(np.arange(n), x, tx, T)  # fresh: no terms kept from before
        samples = [rows.fit_data(rows.row_weights(c), TimeUnit.WEEK) for c in counts]
        with bootstrap_precision():
            ParetoNBDFitter().refit(samples[0], start=full)  # finds the terms, once
            calls.clear()
            for sample in samples[1:]:
                ParetoNBDFitter().refit(sample, start=full)
        return len(calls)

    with_terms = evaluations()
    monkeypatch.setattr(ParetoNBDFitter, "_checked_row_terms", lambda s, p, d: (p, None))
    assert with_terms <= evaluations() - (len(counts) - 1)
