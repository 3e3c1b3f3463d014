"""A bootstrap sample's rows: counted once per fit, and first evaluations read off terms."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import gammaln

from funnelkit.clv import BetaGeoFitter, GammaGammaFitter
from funnelkit.clv._data import FitData
from funnelkit.clv._start_terms import row_terms, weighted_sums
from funnelkit.datasets import simulate_bgnbd
from funnelkit.lifecycle import LifecycleModel
from funnelkit.lifecycle._bootstrap import bootstrap_precision, replicate_weights
from funnelkit.lifecycle._components import _member_share, fit_components
from funnelkit.lifecycle._data import unique_rows
from funnelkit.lifecycle._rows import Block, Converters, RowsOf, SampleWeights, WeightPlan
from funnelkit.lifecycle.state import ComponentsState
from funnelkit.units import TimeUnit


def test_a_block_counts_customers_onto_its_rows() -> None:
    plan = WeightPlan(
        {
            "pairs": Block(np.array([0, 1, 3]), np.array([1, 0, 1]), 2),
            "each": Block(np.array([3, 2]), None, 2),
        },
        4,
    )
    first, second = plan.samples(np.array([[1, 2, 0, 4], [0, 0, 5, 1]]))
    assert first.block("pairs").tolist() == [2.0, 5.0]
    assert first.block("each").tolist() == [4.0, 0.0]
    assert second.block("pairs").tolist() == [0.0, 1.0]
    assert second.block("each").tolist() == [1.0, 5.0]
    assert first.block("pairs") is first.block("pairs")  # counted once
    assert first.block("each").dtype == np.float64
    with pytest.raises(KeyError):
        first.block("missing")


def test_a_block_in_customer_order_counts_as_the_rows_did() -> None:
    rng = np.random.default_rng(2)
    customers, code = rng.permutation(1000)[:600], rng.integers(0, 50, 600)
    weights = rng.poisson(1.0, 1000).astype(float)
    counted = Block.counting(customers, code, 50, 1000)
    assert np.all(np.diff(counted.customers) > 0)
    np.testing.assert_array_equal(counted.of(weights), Block(customers, code, 50).of(weights))
    # one row per customer: the rows keep their order; every customer in order: the weights
    own = Block.counting(customers, None, 600, 1000)
    np.testing.assert_array_equal(own.of(weights), weights[customers])
    every = Block.counting(np.arange(1000), None, 1000, 1000)
    assert every.every and not own.every
    assert every.of(weights) is weights


@pytest.mark.parametrize("n_rows", [1, 2, 5, 37])
def test_a_block_of_few_rows_sums_its_runs_as_a_count_would(n_rows: int) -> None:
    rng = np.random.default_rng(n_rows)
    customers = rng.permutation(5000)[:2000]
    code = rng.integers(0, n_rows, 2000)
    code[code == n_rows // 2] = 0  # a row nobody counts towards (when there are several)
    weights = rng.poisson(1.0, 5000).astype(float)
    counted = Block.counting(customers, code, n_rows, 5000)
    assert counted.runs is not None
    np.testing.assert_array_equal(counted.of(weights), Block(customers, code, n_rows).of(weights))
    none = Block.counting(np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), 2, 10)
    np.testing.assert_array_equal(none.of(np.ones(10)), [0.0, 0.0])


def test_the_table_plan_counts_like_each_fit_did(fitted: LifecycleModel) -> None:
    table = fitted.customers_
    weights = replicate_weights(11, table.n_customers)
    sample = table.weight_plan.sample(weights)
    for stage, pre in table.pre.items():
        np.testing.assert_array_equal(sample.block(("pre", stage)), weights[pre.customers])
    for g, rows in enumerate(table.buyer_rows):
        np.testing.assert_array_equal(
            sample.block(("buyers", g)), rows.row_weights(weights.astype(float))
        )
        spend = table.spend_rows[g]
        np.testing.assert_array_equal(
            spend.rows_data(sample.block(("spend", g))).weights,
            spend.fit_data(weights).weights,
        )


def test_components_of_a_sample_equal_those_of_its_weights(fitted: LifecycleModel) -> None:
    table = fitted.customers_
    main = fitted.fit_.main_components()
    weights = replicate_weights(4, table.n_customers)
    settings = {
        "purchase_model": fitted.fit_.purchase_spec(),
        "conversion_model": fitted.fit_.conversion_model,
        "conf_level": 0.95,
        "template": main,
    }
    with bootstrap_precision():
        plain = fit_components(table, weights, **settings)
        counted = fit_components(table, table.weight_plan.sample(weights), **settings)
    assert isinstance(table.weight_plan.sample(weights), SampleWeights)
    assert ComponentsState.of(plain) == ComponentsState.of(counted)


def _prepared(columns: dict[str, np.ndarray], counts: np.ndarray) -> tuple[FitData, RowsOf]:
    """The rows of positive ``counts`` as a plain summary and as rows of all rows."""
    parent = FitData(columns=columns, weights=np.ones(counts.size), n_customers=counts.size)
    drawn = np.flatnonzero(counts > 0)
    mine = {k: v[drawn] for k, v in columns.items()}
    n = int(counts.sum())
    plain = FitData(columns=mine, weights=counts[drawn], n_customers=n)
    rows = RowsOf(columns=mine, weights=counts[drawn], n_customers=n, parent=parent, rows=drawn)
    return plain, rows


@pytest.mark.parametrize("klass", [BetaGeoFitter, GammaGammaFitter])
def test_start_terms_of_prepared_rows_are_those_of_their_summary(klass) -> None:
    rng = np.random.default_rng(2)
    sim = simulate_bgnbd(2000, T=52.0, seed=8)
    s = sim.rfm
    rows = unique_rows(np.arange(s.frequency.size), s.frequency, s.recency, s.T)
    columns = rows.mapping()
    if klass is GammaGammaFitter:
        keep = rows.frequency > 0
        spend = rng.gamma(6.0, 1.0 / rng.gamma(4.0, 0.1, int(keep.sum()))) + 1.0
        columns = {"frequency": rows.frequency[keep], "monetary_value": spend}
    size = columns["frequency"].size
    counts = rng.poisson(1.0, size).astype(float)
    full = klass().fit(columns)
    plain, data = _prepared(columns, counts)
    p = np.array(list(full.params_.values()))
    fitter = klass()
    value, grad = fitter._checked_row_terms(p, plain)
    assert grad is not None
    found = data.weighted_terms("start", lambda r: fitter._checked_row_terms(p, r))
    assert found is not None
    expected = weighted_sums(row_terms(value, grad), plain.weights)
    assert found[0] == expected[0]
    np.testing.assert_array_equal(found[1], expected[1])
    # the terms are kept for the key asked for last, not computed again
    again = data.weighted_terms("start", lambda r: pytest.fail("computed twice"))
    assert again is not None and again[0] == found[0]
    # and the sums agree with the model's own grouped sums
    total, gradient = fitter._weighted_log_likelihood(p, plain)
    assert found[0] == pytest.approx(total, rel=1e-11)
    np.testing.assert_allclose(found[1], gradient, rtol=1e-7, atol=1e-7)


def test_start_terms_of_rows_given_by_a_mask() -> None:
    sim = simulate_bgnbd(800, T=52.0, seed=6)
    s = sim.rfm
    columns = {"frequency": s.frequency, "recency": s.recency, "T": s.T}
    counts = np.random.default_rng(5).poisson(1.0, s.T.size).astype(float)
    _, by_position = _prepared(columns, counts)
    by_mask = RowsOf(
        columns=by_position.columns,
        weights=by_position.weights,
        n_customers=by_position.n_customers,
        parent=by_position.parent,
        rows=counts > 0,
    )
    p = np.array([0.25, 4.0, 0.8, 2.5])
    fitter = BetaGeoFitter()
    found = by_mask.weighted_terms("mask", lambda r: fitter._checked_row_terms(p, r))
    expected = by_position.weighted_terms("mask", lambda r: pytest.fail("computed twice"))
    assert found is not None and expected is not None
    assert found[0] == expected[0]
    np.testing.assert_array_equal(found[1], expected[1])


def test_start_terms_that_lose_digits_are_not_used(monkeypatch: pytest.MonkeyPatch) -> None:
    # near the common-rate limit (q, v huge) Gamma-Gamma's grouped sums keep their digits:
    # per-row terms written as plain differences of gammaln cancel there, and a
    # refit then evaluates the likelihood itself
    rng = np.random.default_rng(3)
    frequency = rng.integers(1, 6, 400).astype(float)
    columns = {"frequency": frequency, "monetary_value": rng.gamma(50.0, 1.0, 400)}
    p = np.array([2.0, 1e9, 1e9 * 50 / 2.0])
    fitter = GammaGammaFitter()
    plain, data = _prepared(columns, np.ones(400))
    # today's per-row terms keep their digits: used
    assert fitter._checked_row_terms(p, plain)[1] is not None

    both = GammaGammaFitter._log_likelihood_and_gradient

    def cancelling(self: GammaGammaFitter, params: np.ndarray, d: FitData) -> tuple:
        a, q, v = params
        x, m = d["frequency"], d["monetary_value"]
        ax = a * x
        value = np.asarray(
            gammaln(ax + q) - gammaln(ax) - gammaln(q) + q * np.log(v)
            + (ax - 1.0) * np.log(m) + ax * np.log(x) - (ax + q) * np.log(x * m + v)
        )  # fmt: skip
        return value, both(self, params, d)[1]

    monkeypatch.setattr(GammaGammaFitter, "_log_likelihood_and_gradient", cancelling)
    assert fitter._checked_row_terms(p, plain)[1] is None
    assert data.weighted_terms("limit", lambda r: fitter._checked_row_terms(p, r)) is None


def test_member_share_steps_first_from_the_converters_sums(fitted: LifecycleModel) -> None:
    table = fitted.customers_
    main = fitted.fit_.main_components()
    stage = next(s for s, share in main.shares.items() if share.slope != 0.0)
    conv = table.pre[stage].converters
    start = main.shares[stage]
    weights = replicate_weights(9, table.n_customers)[conv.customers].astype(float)
    drawn = np.flatnonzero(weights > 0)
    args = (conv.durations[drawn], conv.member[drawn], weights[drawn])
    plain = _member_share(*args, start=start, log_durations=conv.log_durations[drawn])
    sums = conv.share_sums(weights, start.intercept, start.slope)
    stepped = _member_share(
        *args, start=start, log_durations=conv.log_durations[drawn], start_sums=sums
    )
    assert stepped.intercept == pytest.approx(plain.intercept, rel=1e-10)
    assert stepped.slope == pytest.approx(plain.slope, rel=1e-10)
    # the sums are those of the converters drawn, on the start's line
    x = conv.log_durations[drawn]
    share = 1.0 / (1.0 + np.exp(-(start.intercept + start.slope * x)))
    assert sums[0] == pytest.approx(float(np.sum(weights[drawn] * (conv.member[drawn] - share))))
    assert sums[4] == pytest.approx(float(np.sum(weights[drawn] * share * (1 - share) * x * x)))


def test_a_fit_data_refit_of_prepared_rows_has_no_intervals() -> None:
    sim = simulate_bgnbd(1500, T=52.0, seed=4)
    s = sim.rfm
    rows = unique_rows(np.arange(s.frequency.size), s.frequency, s.recency, s.T)
    full = BetaGeoFitter().fit(rows.mapping(), weights=rows.row_weights(np.ones(s.T.size)))
    counts = np.random.default_rng(1).poisson(1.0, s.T.size).astype(float)
    refit = BetaGeoFitter().refit(
        rows.fit_data(rows.row_weights(counts), TimeUnit.WEEK), start=full
    )
    assert all(
        p.std_error is None and p.lower is None and p.upper is None
        for p in refit.result_.params.values()
    )


def test_a_fitted_model_keeps_no_refit_terms(community) -> None:
    model = LifecycleModel(n_resamples=3, seed=2, n_jobs=1, progress=False)
    model.fit(community.log, observation_end=community.sim.observation_end)
    table = model.customers_
    for pre in table.pre.values():
        assert "cure_rows" not in vars(pre)  # nor its grids
        assert not pre.converters.terms and not pre.converters.grid

    def parent_cache(rows):  # the prepared rows a sample's fit data are taken from
        return rows.fit_data(np.ones(rows.T.size), table.unit).parent.cache

    for rows in table.buyer_rows:
        assert "terms" not in parent_cache(rows)
    for spend in table.spend_rows:
        assert "terms" not in spend.all_rows.cache
    # and the terms are found again when a later refit asks
    weights = replicate_weights(1, table.n_customers)
    with bootstrap_precision():
        fit_components(
            table,
            weights,
            purchase_model="bgnbd",
            conversion_model=model.fit_.conversion_model,
            conf_level=0.95,
            template=model.fit_.main_components(),
        )
    assert any("terms" in parent_cache(rows) for rows in table.buyer_rows)


def _converters(n: int, seed: int) -> Converters:
    rng = np.random.default_rng(seed)
    durations = rng.lognormal(2.0, 1.2, n)
    x = np.log(durations)
    member = rng.random(n) < 1.0 / (1.0 + np.exp(0.5 - 0.8 * (x - 2.0)))
    return Converters(np.arange(n), np.arange(n), member, x, durations)


def test_converters_spread_keeps_weights_membership_and_weighted_log_delays() -> None:
    conv = _converters(40_000, 0)
    weights = np.random.default_rng(1).poisson(1.0, 40_000).astype(float)
    spread = conv.spread(weights)
    assert spread is not None
    log_t, member, w = spread
    assert log_t.size <= 2 * 4096 and np.all(w > 0)
    for flag in (True, False):
        mine, theirs = member == flag, conv.member == flag
        assert w[mine].sum() == pytest.approx(weights[theirs].sum(), rel=1e-12)
        assert w[mine] @ log_t[mine] == pytest.approx(
            weights[theirs] @ conv.log_durations[theirs], rel=1e-9
        )
    assert _converters(8191, 0).spread(np.ones(8191)) is None  # too few for a grid


def test_a_share_refitted_on_the_grid_lies_next_to_the_rows_own() -> None:
    conv = _converters(60_000, 2)
    start = _member_share(conv.durations, conv.member, np.ones(60_000))
    q = start(conv.durations)
    v, x = q * (1 - q), conv.log_durations
    information = np.array([[v.sum(), v @ x], [v @ x, v @ (x * x)]])
    for seed in range(5):
        weights = np.random.default_rng(seed).poisson(1.0, 60_000).astype(float)
        log_t, member, w = conv.spread(weights)
        grid = _member_share(np.exp(log_t), member, w, start=start, log_durations=log_t)
        drawn = weights > 0
        rows = _member_share(conv.durations[drawn], conv.member[drawn], weights[drawn])
        gap = np.array([grid.intercept - rows.intercept, grid.slope - rows.slope])
        # in standard errors of the estimate: far below the bootstrap's 0.01
        assert gap @ information @ gap < 1e-3**2


def test_converters_with_tied_delays_refit_the_share_on_each_delay_once() -> None:
    conv = _converters(3000, 3)  # few converters: tied delays need no grid
    days = np.ceil(conv.durations)
    tied = Converters(conv.rows, conv.customers, conv.member, np.log(days), days)
    start = _member_share(days, conv.member, np.ones(3000))
    weights = np.random.default_rng(4).poisson(1.0, 3000).astype(float)
    log_t, member, w = tied.spread(weights)
    assert log_t.size <= 2 * np.unique(days).size
    held = _member_share(np.exp(log_t), member, w, start=start, log_durations=log_t)
    drawn = weights > 0
    rows = _member_share(days[drawn], conv.member[drawn], weights[drawn], start=start)
    # the same likelihood: the same maximum
    assert held.intercept == pytest.approx(rows.intercept, rel=1e-9)
    assert held.slope == pytest.approx(rows.slope, rel=1e-9)
    assert conv.spread(weights) is None  # distinct delays: too few for a grid
