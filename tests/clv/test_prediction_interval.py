"""Per-customer intervals: purchase counts, P(alive) and lifetime value."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

from funnelkit.clv import (
    BetaGeoBetaBinomFitter,
    BetaGeoFitter,
    GammaGammaFitter,
    ModifiedBetaGeoFitter,
    ParetoNBDFitter,
    customer_lifetime_value,
)
from funnelkit.datasets.btyd import (
    simulate_bgbb,
    simulate_bgnbd,
    simulate_mbgnbd,
    simulate_pareto_nbd,
)
from funnelkit.exceptions import FunnelkitError, StatisticalWarning

#: worlds with many purchases per customer, where whole-number bounds can hold close to the
#: nominal share (with few purchases most intervals are [0, k] and hold more, see below)
BUSY_BGNBD = {"r": 2.0, "alpha": 2.0, "a": 0.3, "b": 30.0}
BUSY_PARETO = {"r": 2.0, "alpha": 2.0, "s": 0.3, "beta": 100.0}


def _held(table: object, counts: np.ndarray) -> np.ndarray:
    return np.asarray((table.lower <= counts) & (counts <= table.upper))  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def bgnbd() -> tuple[BetaGeoFitter, object]:
    sim = simulate_bgnbd(1000, T=52.0, holdout=26.0, seed=5)
    return BetaGeoFitter().fit(sim.rfm), sim


def test_covariance_is_stored_in_parameter_order_and_round_trips(bgnbd: tuple) -> None:
    model, _ = bgnbd
    cov = np.array(model.result_.covariance)
    assert cov.shape == (4, 4)
    assert np.abs(cov - cov.T).max() == 0.0
    se = np.array([model.result_.params[k].std_error for k in model.params_])
    assert np.abs(np.sqrt(np.diag(cov)) / se - 1.0).max() < 1e-12
    loaded = BetaGeoFitter.from_json(model.to_json())
    assert loaded.result_.covariance == model.result_.covariance


def test_a_document_without_covariance_loads_and_says_what_it_cannot_do(bgnbd: tuple) -> None:
    model, sim = bgnbd
    document = json.loads(model.to_json())
    del document["result"]["covariance"]
    old = BetaGeoFitter.from_json(json.dumps(document))
    assert old.result_.covariance is None
    with pytest.warns(StatisticalWarning, match="covers the purchase process only"):
        table = old.prediction_interval(26.0, sim.rfm)
    # with the parameters taken as known the bounds are those of the point pmf
    point = old.conditional_probability_of_purchases(26.0, sim.rfm, n=np.arange(200)[:, None])
    cdf = np.cumsum(point, axis=0)
    np.testing.assert_array_equal(table.lower, np.sum(cdf < 0.05, axis=0))
    with pytest.raises(FunnelkitError, match="has no parameter covariance"):
        old.probability_alive_interval(sim.rfm)


def test_bounds_are_the_quantiles_of_the_pmf_mixed_over_the_draws(bgnbd: tuple) -> None:
    model, sim = bgnbd
    table = model.prediction_interval(26.0, sim.rfm, conf_level=0.8, n_resamples=40, seed=3)
    draws = model.parameter_draws(40, seed=3)
    counts = np.arange(300)[:, None]
    mixed = np.mean(
        [
            BetaGeoFitter.from_json(_with(model, p)).conditional_probability_of_purchases(
                26.0, sim.rfm, n=counts
            )
            for p in draws
        ],
        axis=0,
    )
    cdf = np.cumsum(mixed, axis=0)
    lower = np.sum(cdf < 0.1, axis=0)
    below = np.where(lower > 0, cdf[np.maximum(lower - 1, 0), np.arange(cdf.shape[1])], 0.0)
    upper = np.sum(cdf - below < 0.8 - 1e-12, axis=0)
    np.testing.assert_array_equal(table.lower, lower)
    np.testing.assert_array_equal(table.upper, upper)
    held = cdf[upper, np.arange(cdf.shape[1])] - below
    assert np.abs(table.coverage - held).max() < 1e-12
    assert bool((table.coverage >= 0.8 - 1e-12).all())
    np.testing.assert_array_equal(table.estimate, model.expected_purchases(26.0, sim.rfm))


def test_table_shape_ids_backends_seeds_and_aliases(bgnbd: tuple) -> None:
    pd = pytest.importorskip("pandas")
    model, sim = bgnbd
    table = model.prediction_interval(horizon=26.0, data=sim.rfm, n_resamples=20)
    assert list(table.columns) == ["customer_id", "estimate", "lower", "upper", "coverage"]
    assert table.lower.dtype == np.int64 and table.upper.dtype == np.int64
    np.testing.assert_array_equal(table.customer_id, sim.rfm.customer_ids)
    assert table.attrs["conf_level"] == 0.9
    again = model.prediction_interval(26.0, sim.rfm, n_draws=20)
    assert again.equals(table)
    other_seed = model.prediction_interval(t=26.0, data=sim.rfm, n_resamples=20, seed=8)
    assert list(other_seed.columns) == list(table.columns)
    columns = {"frequency": sim.rfm.frequency, "recency": sim.rfm.recency, "T": sim.rfm.T}
    anonymous = model.prediction_interval(26.0, columns, n_resamples=20)
    assert list(anonymous.columns) == ["estimate", "lower", "upper", "coverage"]
    frame = pd.DataFrame({"customer_id": [f"c{i}" for i in range(len(sim.rfm))], **columns})
    named = model.prediction_interval(26.0, frame, n_resamples=20)
    assert named.customer_id.tolist()[:2] == ["c0", "c1"]
    np.testing.assert_array_equal(named.upper, table.upper)
    polars = model.prediction_interval(26.0, sim.rfm, n_resamples=20, backend="polars")
    np.testing.assert_array_equal(polars["upper"].to_numpy(), table.upper.to_numpy())
    arrow = model.prediction_interval(26.0, sim.rfm, n_resamples=20, backend="pyarrow")
    assert arrow.column_names == list(table.columns)


def test_mistakes_are_refused_with_the_fix(bgnbd: tuple) -> None:
    model, sim = bgnbd
    with pytest.raises(FunnelkitError, match=r"'conf_level' parameter .* must be in \(0, 1\)"):
        model.prediction_interval(26.0, sim.rfm, conf_level=1.5)
    with pytest.raises(FunnelkitError, match=r"n_resamples must be an integer >= 1\. Got 0"):
        model.prediction_interval(26.0, sim.rfm, n_resamples=0)
    with pytest.raises(FunnelkitError, match=r"n_draws must be an integer >= 1\. Got 2\.5"):
        model.probability_alive_interval(sim.rfm, n_draws=2.5)
    with pytest.raises(FunnelkitError, match="prediction_interval got no horizon"):
        model.prediction_interval(data=sim.rfm)
    with pytest.raises(FunnelkitError, match="customers where the horizon belongs"):
        model.prediction_interval(sim.rfm)
    # a hundred thousand purchases in one week: millions more in a year
    heavy = {"frequency": [1e5], "recency": [1.0], "T": [1.0]}
    with pytest.raises(FunnelkitError, match="reach beyond 65,536 in this horizon"):
        model.prediction_interval(52.0, heavy, n_resamples=2)
    with pytest.raises(FunnelkitError, match="give one horizon, or one per customer"):
        model.prediction_interval(np.array([[1.0], [2.0]]), sim.rfm)


def test_probability_alive_interval(bgnbd: tuple) -> None:
    model, sim = bgnbd
    table = model.probability_alive_interval(sim.rfm, conf_level=0.9, n_resamples=100)
    assert list(table.columns) == ["customer_id", "estimate", "lower", "upper"]
    np.testing.assert_array_equal(table.estimate, model.probability_alive(sim.rfm))
    assert bool(((table.lower <= table.estimate) & (table.estimate <= table.upper)).all())
    assert bool(((table.lower >= 0.0) & (table.upper <= 1.0)).all())
    # the quantiles of P(alive) over the same draws
    draws = model.parameter_draws(100, seed=0)
    values = np.stack(
        [BetaGeoFitter.from_json(_with(model, p)).probability_alive(sim.rfm) for p in draws]
    )
    want = np.quantile(values, 0.95, axis=0)
    np.testing.assert_allclose(table.upper, np.maximum(want, table.estimate), rtol=1e-12)
    narrow = model.probability_alive_interval(sim.rfm, conf_level=0.5, n_resamples=100)
    assert bool((narrow.upper - narrow.lower <= table.upper - table.lower + 1e-15).all())


def _with(model: object, params: dict) -> str:
    document = json.loads(model.to_json())  # type: ignore[attr-defined]
    document["params"] = params
    return json.dumps(document)


def test_lifetime_value_keeps_its_array_and_gains_an_interval_table() -> None:
    sim = simulate_bgnbd(800, T=52.0, seed=6)
    rfm = sim.rfm
    rng = np.random.default_rng(6)
    spend = np.where(rfm.frequency > 0, rng.gamma(4.0, 10.0, len(rfm)), 0.0)
    data = {
        "customer_id": rfm.customer_ids,
        "frequency": rfm.frequency,
        "recency": rfm.recency,
        "T": rfm.T,
        "monetary_value": spend,
    }
    purchases = BetaGeoFitter().fit(rfm)
    repeaters = {k: np.asarray(v)[rfm.frequency > 0] for k, v in data.items()}
    spending = GammaGammaFitter().fit(repeaters)
    settings = {"horizon": 12, "time_unit": "month", "discount_rate": 0.01}
    values = customer_lifetime_value(purchases, spending, data, **settings)
    assert isinstance(values, np.ndarray) and values.shape == (800,)
    table = customer_lifetime_value(
        purchases, spending, data, **settings, conf_level=0.9, n_resamples=30
    )
    assert list(table.columns) == ["customer_id", "estimate", "lower", "upper"]
    np.testing.assert_array_equal(table.estimate, values)
    assert bool(((table.lower <= table.estimate) & (table.estimate <= table.upper)).all())
    assert float((table.upper - table.lower).max()) > 0.0
    # spend given as a number is known: only the purchase parameters vary
    fixed = customer_lifetime_value(
        purchases, 25.0, data, **settings, conf_level=0.9, n_resamples=30, backend="polars"
    )
    assert fixed.columns == ["customer_id", "estimate", "lower", "upper"]
    with pytest.raises(FunnelkitError, match="needs a fitted funnelkit purchase model"):
        customer_lifetime_value(object(), 25.0, data, **settings, conf_level=0.9)


@pytest.mark.parametrize(
    ("model_cls", "simulate", "params"),
    [
        (BetaGeoFitter, simulate_bgnbd, {}),
        (ModifiedBetaGeoFitter, simulate_mbgnbd, {}),
        (ParetoNBDFitter, simulate_pareto_nbd, {}),
    ],
    ids=["bgnbd", "mbgnbd", "pareto"],
)
def test_realised_counts_fall_inside_at_the_rate_the_intervals_claim(
    model_cls: type, simulate: object, params: dict
) -> None:
    # few purchases: whole-number bounds hold more than conf_level (a likely zero gives
    # [0, 0]); the realised share inside must match the claimed mean coverage
    sim = simulate(2000, T=52.0, holdout=52.0, seed=21, **params)  # type: ignore[operator]
    model = model_cls().fit(sim.rfm)
    table = model.prediction_interval(52.0, sim.rfm, n_resamples=50)
    share = float(_held(table, sim.rfm.holdout_frequency).mean())
    claimed = float(table.coverage.mean())
    assert claimed >= 0.9
    # binomial standard error of a share near 0.93 among 2,000 customers is 0.006
    assert abs(share - claimed) < 0.025


def test_busy_world_coverage_is_near_nominal() -> None:
    sim = simulate_bgnbd(1500, T=52.0, holdout=52.0, seed=22, **BUSY_BGNBD)
    model = BetaGeoFitter().fit(sim.rfm)
    table = model.prediction_interval(52.0, sim.rfm, n_resamples=40)
    share = float(_held(table, sim.rfm.holdout_frequency).mean())
    assert 0.87 <= share <= 0.93


def test_bgbb_intervals() -> None:
    sim = simulate_bgbb(3000, n_periods=6, holdout=6, seed=4)
    model = BetaGeoBetaBinomFitter().fit(sim.rfm)
    table = model.prediction_interval(6, sim.rfm, n_resamples=50)
    assert bool((table.upper <= 6).all())
    share = float(_held(table, sim.rfm.holdout_frequency).mean())
    assert abs(share - float(table.coverage.mean())) < 0.025
    alive = model.probability_alive_interval(sim.rfm, n_resamples=50)
    assert bool(((alive.lower <= alive.estimate) & (alive.estimate <= alive.upper)).all())


def test_a_limit_model_draws_its_probability_on_the_logit_scale() -> None:
    # one common dropout probability in the world: the fit ends at that limit model
    sim = simulate_bgnbd(2000, T=52.0, holdout=26.0, seed=0, a=5e4, b=9.5e5)
    model = BetaGeoFitter().fit(sim.rfm)
    assert model.result_.boundary == ["common dropout probability"]
    draws = model.parameter_draws(500, seed=1)
    p = np.array([d["p"] for d in draws])
    assert bool(((p > 0.0) & (p < 1.0)).all())
    # the draws' spread is the fit's standard error (delta method on the logit scale)
    assert float(np.std(p)) == pytest.approx(model.result_.params["p"].std_error, rel=0.1)
    table = model.prediction_interval(26.0, sim.rfm, n_resamples=30)
    share = float(_held(table, sim.rfm.holdout_frequency).mean())
    assert abs(share - float(table.coverage.mean())) < 0.025


@pytest.mark.slow
@pytest.mark.parametrize("seed", [31, 32, 33])
@pytest.mark.parametrize(
    ("model_cls", "simulate", "params"),
    [
        (BetaGeoFitter, simulate_bgnbd, BUSY_BGNBD),
        (ParetoNBDFitter, simulate_pareto_nbd, BUSY_PARETO),
    ],
    ids=["bgnbd", "pareto"],
)
def test_simulated_holdout_coverage_of_90_percent_intervals(
    model_cls: type, simulate: object, params: dict, seed: int
) -> None:
    sim = simulate(4000, T=52.0, holdout=52.0, seed=seed, **params)  # type: ignore[operator]
    model = model_cls().fit(sim.rfm)
    table = model.prediction_interval(52.0, sim.rfm, conf_level=0.9)
    share = float(_held(table, sim.rfm.holdout_frequency).mean())
    assert 0.87 <= share <= 0.93
    assert abs(share - float(table.coverage.mean())) < 0.02


@pytest.mark.slow
def test_cdnow_holdout_coverage() -> None:
    from funnelkit import EventLog
    from funnelkit.datasets import load_cdnow

    summary = load_cdnow()
    transactions = load_cdnow("transactions")
    sample = transactions[transactions.customer_id.isin(summary.customer_id)]
    log = EventLog.from_frame(sample, time_col="date", value_col="value")
    rfm = log.rfm(time_unit="W", calibration_end="1997-09-30", observation_end="1998-06-30")
    assert len(rfm) == 2357
    assert float(np.unique(rfm.holdout_duration)[0]) == 39.0
    shares = {}
    for model_cls in (BetaGeoFitter, ModifiedBetaGeoFitter, ParetoNBDFitter):
        model = model_cls().fit(rfm)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            table = model.prediction_interval(39.0, rfm, conf_level=0.9)
        shares[model_cls.__name__] = float(_held(table, rfm.holdout_frequency).mean())
    # the figures in docs/customer_uncertainty.md
    assert round(shares["BetaGeoFitter"], 3) == 0.931
    assert round(shares["ModifiedBetaGeoFitter"], 3) == 0.886
    assert round(shares["ParetoNBDFitter"], 3) == 0.885
