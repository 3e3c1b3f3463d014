"""TimeVaryingParetoNBDFitter: equals the Pareto/NBD without covariates, exact gradient and
predictions, the estimator contract, JSON round trip."""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pytest
from scipy import integrate

from funnelkit import RFM, EventLog
from funnelkit.clv import ParetoNBDFitter, TimeVaryingParetoNBDFitter
from funnelkit.clv._time_varying_data import Source, build_panel
from funnelkit.clv._time_varying_likelihood import (
    customer_log_likelihood,
    future,
    log_likelihood,
    posterior,
)
from funnelkit.clv.pareto_nbd import mixings, mixture_log_likelihood
from funnelkit.datasets import simulate_time_varying_pareto_nbd
from funnelkit.datasets.time_varying import SimulatedTimeVarying
from funnelkit.exceptions import (
    ConvergenceWarning,
    FunnelkitError,
    NotFittedError,
    StatisticalWarning,
)

NAMES = ("r", "alpha", "s", "beta")
#: ``nan``/``None``/``inf`` where a number belongs in an HTML table
NOT_A_NUMBER = re.compile(r"(>|=|:\s?)\s*-?(nan|NaN|None|inf|Infinity)\b")


@pytest.fixture(scope="module")
def sim() -> SimulatedTimeVarying:
    return simulate_time_varying_pareto_nbd(600, seed=1)


@pytest.fixture(scope="module")
def model(sim: SimulatedTimeVarying) -> TimeVaryingParetoNBDFitter:
    return TimeVaryingParetoNBDFitter().fit(
        sim.events, covariates=sim.covariates, calibration_end=sim.calibration_end
    )


def _panel(sim: SimulatedTimeVarying, covariates: Any = None) -> Any:
    panel, _ = build_panel(
        sim.events,
        sim.covariates if covariates is None else covariates,
        Source(calibration_end=sim.calibration_end),
        purchase=None,
        dropout=None,
        drop_constant=False,
    )
    return panel


def _with(sim: SimulatedTimeVarying, **columns: Any) -> dict[str, np.ndarray]:
    return {**sim.covariates, **columns}


def _weeks(sim: SimulatedTimeVarying) -> np.ndarray:
    since = sim.covariates["period_start"] - np.datetime64("2024-01-01")
    return np.asarray(since // np.timedelta64(7, "D"))


# ---------------------------------------------------------------------- likelihood
@pytest.mark.parametrize(
    ("purchase", "dropout"),
    [(None, None), ((), ("member",)), (("campaign",), ())],
)
def test_gradient_matches_central_differences(
    sim: SimulatedTimeVarying, purchase: Any, dropout: Any
) -> None:
    panel, design = build_panel(
        sim.events,
        sim.covariates,
        Source(calibration_end=sim.calibration_end),
        purchase=purchase,
        dropout=dropout,
        drop_constant=False,
    )
    k = len(design.purchase) + len(design.dropout)
    rng = np.random.default_rng(0)
    for _ in range(3):
        theta = np.r_[
            np.log([0.7, 20.0, 0.9, 100.0]) + rng.normal(0, 0.3, 4), rng.normal(0, 0.5, k)
        ]
        _, grad = log_likelihood(theta, panel)
        steps = np.eye(theta.size) * 1e-6
        numeric = np.array(
            [
                (log_likelihood(theta + e, panel)[0] - log_likelihood(theta - e, panel)[0]) / 2e-6
                for e in steps
            ]
        )
        assert np.max(np.abs(numeric - grad) / (1.0 + np.abs(grad))) < 1e-5


@pytest.mark.parametrize(
    "params", [(0.7, 20.0, 0.9, 100.0), (2.0, 5.0, 0.3, 300.0), (0.5, 80.0, 3.0, 10.0)]
)
def test_without_effects_the_likelihood_is_the_pareto_nbd(
    sim: SimulatedTimeVarying, params: tuple[float, ...]
) -> None:
    panel = _panel(sim)
    theta = np.r_[np.log(params), np.zeros(4)]
    rate, lifetime = mixings(dict(zip(NAMES, params, strict=True)))
    plain = mixture_log_likelihood(rate, lifetime, panel.x, panel.tx, panel.T)
    np.testing.assert_allclose(customer_log_likelihood(theta, panel), plain, rtol=0, atol=1e-9)


@pytest.mark.parametrize("value", [0.0, 1.0])
def test_constant_covariates_give_the_pareto_nbd_fit(
    sim: SimulatedTimeVarying, value: float
) -> None:
    flat = np.full(sim.covariates["campaign"].shape, value)
    with pytest.warns(StatisticalWarning, match=r"\['campaign', 'member'\] take one value"):
        model = TimeVaryingParetoNBDFitter().fit(
            sim.events,
            covariates=_with(sim, campaign=flat, member=flat),
            calibration_end=sim.calibration_end,
        )
    rfm = RFM.from_events(sim.events, calibration_end=sim.calibration_end)
    plain = ParetoNBDFitter().fit(rfm)
    for name in NAMES:
        assert model.params_[name] == pytest.approx(plain.params_[name], rel=1e-6)
    assert model.result_.log_likelihood == pytest.approx(plain.result_.log_likelihood, abs=1e-6)
    assert model.result_.dropped_covariates == ["campaign", "member"]
    assert len(model.coefficients_) == 0
    np.testing.assert_allclose(
        model.expected_purchases(30.0), plain.expected_purchases(30.0, rfm), rtol=1e-5
    )
    np.testing.assert_allclose(
        model.probability_alive(at=10.0), plain.probability_alive(rfm, at=10.0), rtol=1e-5
    )


# ---------------------------------------------------------------------- predictions
def test_expected_purchases_integrate_the_future_path(sim: SimulatedTimeVarying) -> None:
    """The per-period closed form against adaptive quadrature of the same integral."""
    weeks = _weeks(sim)
    panel = _panel(sim, _with(sim, campaign=((weeks >= 53) & (weeks < 56)).astype(float)))
    theta = np.r_[np.log([0.8, 30.0, 0.6, 150.0]), 0.7, 0.3, 0.2, -0.7]
    post = posterior(theta, panel)
    horizon = np.full(panel.n_customers, 60.0)
    purchases, log_stay = future(theta, panel, post, horizon)
    s = 0.6
    for i in (0, 7, 11):
        seg = np.flatnonzero(panel.seg_customer == i)
        a = np.exp(panel.seg_z[seg] @ np.array([0.7, 0.3]))
        b = np.exp(panel.seg_w[seg] @ np.array([0.2, -0.7]))
        value, exposure = _by_quadrature(
            panel.seg_lo[seg], a, b, panel.T[i], post.dropout_rate[i], s, 60.0
        )
        mean_rate = post.purchase_shape[i] / post.purchase_rate[i]
        assert purchases[i] == pytest.approx(mean_rate * value, rel=1e-8)
        assert log_stay[i] == pytest.approx(-s * np.log1p(exposure / post.dropout_rate[i]))
        assert panel.seg_hi[seg][-1] == np.inf


def _by_quadrature(
    lo: np.ndarray, a: np.ndarray, b: np.ndarray, T: float, base: float, s: float, h: float
) -> tuple[float, float]:
    """``int_T^(T+h) a(u) (base / (base + int_T^u b))^s du`` and ``int_T^(T+h) b``."""

    def step(values: np.ndarray) -> Any:
        return lambda u: float(values[np.searchsorted(lo, u, side="right") - 1])

    def cuts(u: float) -> list[float]:
        return [float(c) for c in lo[(lo > T) & (lo < u)]]

    def exposure(u: float) -> float:
        return float(integrate.quad(step(b), T, u, points=cuts(u), limit=200)[0])

    value = integrate.quad(
        lambda u: step(a)(u) * (base / (base + exposure(u))) ** s,
        T,
        T + h,
        points=cuts(T + h),
        limit=200,
        epsabs=0,
        epsrel=1e-11,
    )[0]
    return float(value), exposure(T + h)


def test_a_planned_campaign_raises_expected_purchases(
    sim: SimulatedTimeVarying, model: TimeVaryingParetoNBDFitter
) -> None:
    weeks = _weeks(sim)
    planned = _with(sim, campaign=np.where(weeks >= 53, 1.0, sim.covariates["campaign"]))
    held = model.expected_purchases(28.0)
    boosted = model.expected_purchases(28.0, covariates=planned)
    assert np.all(boosted > held)
    # the dropout effect of campaign is in the model too: alive changes with it
    assert model.result_.coefficients[0].covariate == "campaign"


def test_without_future_rows_the_last_period_holds(sim: SimulatedTimeVarying) -> None:
    weeks = _weeks(sim)
    keep = weeks <= 52
    truncated = {k: v[keep] for k, v in sim.covariates.items()}
    model = TimeVaryingParetoNBDFitter().fit(
        sim.events, covariates=truncated, calibration_end=sim.calibration_end
    )
    # the simulated future weeks repeat week 52 (no campaign; membership may switch on)
    last = {k: v[keep & (weeks == 52)] for k, v in sim.covariates.items()}
    extended = {k: np.concatenate([truncated[k], np.tile(last[k], 3)]) for k in truncated}
    extended["period_start"][truncated["period_start"].size :] = np.repeat(
        np.datetime64("2024-01-01", "ns") + np.array([53, 54, 55]) * np.timedelta64(7, "D"),
        last["period_start"].size,
    )
    np.testing.assert_allclose(
        model.expected_purchases(40.0, covariates=extended),
        model.expected_purchases(40.0),
        rtol=1e-12,
    )


def test_probability_alive_falls_with_time(model: TimeVaryingParetoNBDFitter) -> None:
    now, later = model.probability_alive(), model.probability_alive(at=30.0)
    assert np.all((now >= 0) & (now <= 1)) and np.all(later <= now)
    assert np.all(model.expected_purchases(0.0) == 0.0)


# ---------------------------------------------------------------------- the contract
def test_tables_and_result(model: TimeVaryingParetoNBDFitter) -> None:
    coefs = model.coefficients_
    assert list(coefs.columns) == [
        "process",
        "covariate",
        "estimate",
        "std_error",
        "lower",
        "upper",
    ]
    assert list(coefs["process"]) == ["purchase", "purchase", "dropout", "dropout"]
    assert list(coefs["covariate"]) == ["campaign", "member", "campaign", "member"]
    summary = model.summary()
    assert list(summary["parameter"])[:4] == list(NAMES)
    assert list(summary.columns)[:2] == ["process", "parameter"]
    assert model.result_.converged and model.result_.lr_df == 4
    assert model.result_.lr_statistic == pytest.approx(
        2 * (model.result_.log_likelihood - model.result_.plain_log_likelihood)
    )
    for shown in (model, model.result_, TimeVaryingParetoNBDFitter()):
        html = shown._repr_html_()
        assert NOT_A_NUMBER.findall(html) == [] and html.startswith("<table")
    assert "campaign" in model._repr_html_()
    assert repr(model) == "<TimeVaryingParetoNBDFitter() fitted on 600 customers, 4 coefficient(s)>"
    assert model.customer_ids_.shape == (600,)


def test_coefficients_come_back_in_the_callers_library(sim: SimulatedTimeVarying) -> None:
    pl = pytest.importorskip("polars")
    model = TimeVaryingParetoNBDFitter(purchase_covariates=["campaign"], dropout_covariates=[])
    model.fit(
        sim.events, covariates=pl.DataFrame(sim.covariates), calibration_end=sim.calibration_end
    )
    assert isinstance(model.coefficients_, pl.DataFrame)
    assert model.coefficients_["covariate"].to_list() == ["campaign"]


def test_json_round_trip_predicts_exactly(
    sim: SimulatedTimeVarying, model: TimeVaryingParetoNBDFitter
) -> None:
    loaded = TimeVaryingParetoNBDFitter.from_json(model.to_json())
    assert loaded.params_ == model.params_
    assert loaded.result_ == model.result_
    args = {"covariates": sim.covariates, "calibration_end": sim.calibration_end}
    np.testing.assert_array_equal(
        loaded.expected_purchases(20.0, sim.events, **args), model.expected_purchases(20.0)
    )
    np.testing.assert_array_equal(
        loaded.probability_alive(sim.events, at=5.0, **args), model.probability_alive(at=5.0)
    )
    with pytest.raises(FunnelkitError, match="a model loaded from JSON keeps no data"):
        loaded.expected_purchases(20.0)


def test_not_fitted_and_settings() -> None:
    model = TimeVaryingParetoNBDFitter()
    with pytest.raises(NotFittedError, match=r"call fit\(events, covariates=table\) first"):
        model.expected_purchases(10.0)
    with pytest.raises(NotFittedError, match="before using 'coefficients_'"):
        _ = model.coefficients_
    assert model.set_params(conf_level=0.9).get_params() == {
        "purchase_covariates": None,
        "dropout_covariates": None,
        "conf_level": 0.9,
        "max_iter": 500,
    }
    bad = TimeVaryingParetoNBDFitter(conf_level=1.5)
    with pytest.raises(FunnelkitError, match=r"'conf_level' parameter .* Got 1.5 instead"):
        bad.fit({}, covariates={})


def test_dates_work_like_numbers() -> None:
    pd = pytest.importorskip("pandas")
    events = pd.DataFrame(
        {
            "customer_id": ["a", "a", "a", "b", "b"],
            "timestamp": pd.to_datetime(
                ["2024-01-01", "2024-01-10", "2024-02-01", "2024-01-03", "2024-01-20"]
            ),
        }
    )
    starts = pd.to_datetime(["2024-01-01", "2024-01-15", "2024-02-01"])
    covariates = pd.DataFrame(
        {
            "customer_id": ["a"] * 3 + ["b"] * 3,
            "period_start": list(starts) * 2,
            "promo": [0.0, 1.0, 0.0, 0.0, 1.0, 0.0],
        }
    )
    log = EventLog.from_frame(events)
    panel, design = build_panel(
        log, covariates, Source(), purchase=None, dropout=(), drop_constant=True
    )
    assert design.purchase == ("promo",) and design.dropout == ()
    # a buys on days 9 and 31 (promo 0 both times); b on day 17 of the promo period
    np.testing.assert_array_equal(panel.purchase_sums[:, 0], [0.0, 1.0])
    np.testing.assert_array_equal(panel.seg_lo[panel.seg_customer == 0], [0.0, 14.0, 31.0])
    with pytest.raises(FunnelkitError, match="holds numbers but the event times are dates"):
        build_panel(
            log,
            covariates.assign(period_start=[0.0, 14.0, 31.0] * 2),
            Source(),
            purchase=None,
            dropout=None,
            drop_constant=True,
        )
    # two customers cannot identify five parameters: the fit says so and still predicts
    with pytest.warns(ConvergenceWarning, match="TimeVaryingParetoNBDFitter did not converge"):
        tiny = TimeVaryingParetoNBDFitter(dropout_covariates=()).fit(events, covariates=covariates)
    assert not tiny.result_.converged
    assert np.all(np.isfinite(tiny.expected_purchases(7.0)))


def test_an_event_log_is_read_like_its_frame(
    sim: SimulatedTimeVarying, model: TimeVaryingParetoNBDFitter
) -> None:
    log = EventLog.from_frame(sim.events)
    again = TimeVaryingParetoNBDFitter().fit(
        log, covariates=sim.covariates, calibration_end=sim.calibration_end
    )
    assert again.params_ == model.params_
    np.testing.assert_array_equal(again.customer_ids_, model.customer_ids_)


def test_covariates_in_any_units_give_the_same_fit(
    sim: SimulatedTimeVarying, model: TimeVaryingParetoNBDFitter
) -> None:
    """Centring and scaling inside the fit: a covariate in hundreds fits as one in units."""
    moved = _with(
        sim,
        campaign=sim.covariates["campaign"] * 100.0 + 50.0,
        member=sim.covariates["member"] * 0.01 - 3.0,
    )
    again = TimeVaryingParetoNBDFitter().fit(
        sim.events, covariates=moved, calibration_end=sim.calibration_end
    )
    assert again.result_.converged
    assert again.result_.log_likelihood == pytest.approx(model.result_.log_likelihood, abs=1e-6)
    ours = again.coefficients_["estimate"].to_numpy() * np.array([100.0, 0.01, 100.0, 0.01])
    np.testing.assert_allclose(ours, model.coefficients_["estimate"].to_numpy(), rtol=1e-4)
    np.testing.assert_allclose(
        again.expected_purchases(30.0), model.expected_purchases(30.0), rtol=1e-4
    )


def test_a_loaded_model_reads_events_with_the_fitted_columns(sim: SimulatedTimeVarying) -> None:
    events = {
        "user": sim.events["customer_id"],
        "at": sim.events["timestamp"],
        "kind": np.full(sim.events["timestamp"].size, "order"),
    }
    window = {"calibration_end": sim.calibration_end}
    columns = {"customer_col": "user", "time_col": "at", "event_col": "kind"}
    table = {("user" if k == "customer_id" else k): v for k, v in sim.covariates.items()}
    model = TimeVaryingParetoNBDFitter(dropout_covariates=()).fit(
        events, covariates=table, purchase_events=["order"], **columns, **window
    )
    loaded = TimeVaryingParetoNBDFitter.from_json(model.to_json(indent=2))
    np.testing.assert_array_equal(
        loaded.probability_alive(events, covariates=table, **window), model.probability_alive()
    )
    with pytest.raises(FunnelkitError, match="keep the window they were fitted with"):
        model.probability_alive(covariates=table, calibration_end="2024-10-01")
