"""CLV, scoring and DERT: lifetimes parity, time units, closed forms against their sums."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.integrate import quad

from funnelkit.clv import BetaGeoFitter, GammaGammaFitter
from funnelkit.clv._data import as_rfm
from funnelkit.clv._special import inverse_shifted_gamma_mean as _inverse_shifted_gamma_mean
from funnelkit.clv.value import (
    customer_lifetime_value,
    discounted_expected_residual_transactions,
    score_customers,
)
from funnelkit.datasets import load_cdnow
from funnelkit.exceptions import FunnelkitError, NotFittedError
from funnelkit.units import TimeUnit


@pytest.fixture(scope="module")
def cdnow() -> pd.DataFrame:
    return load_cdnow()


@pytest.fixture(scope="module")
def models(cdnow: pd.DataFrame) -> tuple[BetaGeoFitter, GammaGammaFitter]:
    return BetaGeoFitter().fit(cdnow, time_unit="W"), GammaGammaFitter().fit(cdnow)


def test_lifetimes_parity(cdnow: pd.DataFrame) -> None:
    lifetimes = pytest.importorskip("lifetimes")
    repeat = cdnow[cdnow["frequency"] > 0]
    ref_bg = lifetimes.BetaGeoFitter().fit(cdnow["frequency"], cdnow["recency"], cdnow["T"])
    ref_gg = lifetimes.GammaGammaFitter().fit(repeat["frequency"], repeat["monetary_value"])
    bgf, ggf = BetaGeoFitter().fit(cdnow, time_unit="W"), GammaGammaFitter().fit(cdnow)
    bgf.params_ = {k: float(ref_bg.params_[k]) for k in bgf.params_}
    ggf.params_ = {k: float(ref_gg.params_[k]) for k in ggf.params_}
    # lifetimes steps in "months" of `factor` model units; with freq="M" the factor is 1, so
    # its 12 "months" are 12 weeks here, discounted 1% per step: the same as 12 weeks at 1%
    # a week in funnelkit's explicit units.
    expected = ref_gg.customer_lifetime_value(
        ref_bg,
        cdnow["frequency"],
        cdnow["recency"],
        cdnow["T"],
        cdnow["monetary_value"],
        time=12,
        discount_rate=0.01,
        freq="M",
    ).to_numpy()
    got = customer_lifetime_value(bgf, ggf, cdnow, horizon=12, time_unit="W", discount_rate=0.01)
    np.testing.assert_allclose(got, expected, rtol=1e-9)


def test_model_time_unit_is_respected(cdnow: pd.DataFrame, models: tuple) -> None:
    bgf, ggf = models
    in_days = cdnow.assign(recency=cdnow["recency"] * 7, T=cdnow["T"] * 7)
    bgf_days = BetaGeoFitter().fit(in_days, time_unit="D")
    weeks = customer_lifetime_value(
        bgf, ggf, cdnow, horizon=12, time_unit="month", discount_rate=0.01
    )
    days = customer_lifetime_value(
        bgf_days, ggf, in_days, horizon=12, time_unit="month", discount_rate=0.01
    )
    np.testing.assert_allclose(days, weeks, rtol=1e-4)
    # a month is 365.25/12 days, not 30: without discounting, 12 months = 365.25 days
    undiscounted = customer_lifetime_value(
        bgf_days, 1.0, in_days, horizon=12, time_unit="month", discount_rate=0.0
    )
    np.testing.assert_allclose(
        undiscounted, bgf_days.expected_purchases(365.25, in_days), rtol=1e-12
    )


def test_discounting_and_fractional_horizon(cdnow: pd.DataFrame, models: tuple) -> None:
    bgf, _ = models
    one = customer_lifetime_value(bgf, 1.0, cdnow, horizon=2.5, time_unit="W", discount_rate=0.1)
    n1, n2, n25 = (bgf.expected_purchases(t, cdnow) for t in (1.0, 2.0, 2.5))
    manual = n1 / 1.1 + (n2 - n1) / 1.1**2 + (n25 - n2) / 1.1**2.5
    np.testing.assert_allclose(one, manual, rtol=1e-12)


def test_spend_given_directly(cdnow: pd.DataFrame, models: tuple) -> None:
    bgf, ggf = models
    spend = ggf.expected_spend(cdnow)
    by_model = customer_lifetime_value(
        bgf, ggf, cdnow, horizon=6, time_unit="month", discount_rate=0.01
    )
    by_array = customer_lifetime_value(
        bgf, spend, cdnow, horizon=6, time_unit="month", discount_rate=0.01
    )
    np.testing.assert_array_equal(by_model, by_array)
    with pytest.raises(FunnelkitError, match="one value per customer"):
        customer_lifetime_value(bgf, spend[:3], cdnow, horizon=6, time_unit="M", discount_rate=0.0)


def test_score_customers_matches_the_single_predictions(cdnow: pd.DataFrame, models: tuple) -> None:
    bgf, ggf = models
    scores = score_customers(
        bgf, ggf, cdnow, horizon=1, time_unit="year", discount_rate=0.1, chunk_size=97
    )
    np.testing.assert_allclose(
        scores["expected_purchases"], bgf.expected_purchases(365.25 / 7, cdnow), rtol=1e-12
    )
    np.testing.assert_allclose(
        scores["probability_alive"], bgf.probability_alive(cdnow), rtol=1e-12
    )
    np.testing.assert_allclose(scores["expected_spend"], ggf.expected_spend(cdnow), rtol=1e-12)
    clv = customer_lifetime_value(bgf, ggf, cdnow, horizon=1, time_unit="year", discount_rate=0.1)
    np.testing.assert_allclose(scores["clv"], clv, rtol=1e-12)
    np.testing.assert_array_equal(scores["customer_id"], cdnow["customer_id"].to_numpy())
    frame = score_customers(
        bgf, ggf, cdnow, horizon=1, time_unit="year", discount_rate=0.1, backend="polars"
    )
    assert frame.shape == (len(cdnow), 5)


def test_works_with_models_loaded_from_json(cdnow: pd.DataFrame, models: tuple) -> None:
    bgf, ggf = models
    loaded = (BetaGeoFitter.from_json(bgf.to_json()), GammaGammaFitter.from_json(ggf.to_json()))
    kwargs = {"horizon": 12, "time_unit": "month", "discount_rate": 0.01}
    np.testing.assert_array_equal(
        customer_lifetime_value(*loaded, cdnow, **kwargs),
        customer_lifetime_value(bgf, ggf, cdnow, **kwargs),
    )


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"horizon": 0, "time_unit": "W", "discount_rate": 0.01}, "horizon"),
        ({"horizon": 12, "time_unit": "W", "discount_rate": -0.1}, "discount_rate"),
        ({"horizon": 12, "time_unit": "fortnight", "discount_rate": 0.1}, "Unknown time unit"),
        (
            {"horizon": 10_000_000, "time_unit": "day", "discount_rate": 0.0},
            "asks for 10,000,000 discounting periods of one day; at most 10,000 are supported",
        ),
    ],
)
def test_bad_settings(cdnow: pd.DataFrame, models: tuple, kwargs: dict, match: str) -> None:
    bgf, ggf = models
    with pytest.raises(FunnelkitError, match=match):
        customer_lifetime_value(bgf, ggf, cdnow, **kwargs)


def test_unfitted_models_are_refused(cdnow: pd.DataFrame, models: tuple) -> None:
    with pytest.raises(NotFittedError):
        customer_lifetime_value(
            BetaGeoFitter(), models[1], cdnow, horizon=1, time_unit="W", discount_rate=0.0
        )
    with pytest.raises(NotFittedError):
        customer_lifetime_value(
            models[0], GammaGammaFitter(), cdnow, horizon=1, time_unit="W", discount_rate=0.0
        )


def test_dert_needs_a_closed_form_model(cdnow: pd.DataFrame, models: tuple) -> None:
    pytest.importorskip("funnelkit.clv.pareto_nbd")
    pytest.importorskip("funnelkit.clv.beta_geo_beta_binom")
    with pytest.raises(FunnelkitError, match="closed form"):
        discounted_expected_residual_transactions(
            models[0], cdnow, discount_rate=0.1, time_unit="year"
        )


@pytest.mark.parametrize("s", [0.05, 0.6, 1.0, 2.5, 12.0])
@pytest.mark.parametrize("z", [1e-6, 1e-3, 0.05, 0.7, 1.0, 3.0, 40.0, 900.0])
def test_inverse_shifted_gamma_mean_against_quadrature(s: float, z: float) -> None:
    # E[1/(z+Y)], Y ~ Gamma(s, 1), as the Laplace-type integral int e^{-zu} (1+u)^{-s} du
    with np.errstate(over="ignore"):
        reference = quad(
            lambda y: np.exp(-z * np.expm1(y) - (s - 1.0) * y),
            0,
            np.inf,
            epsabs=0,
            epsrel=1e-12,
            limit=500,
        )[0]
    got = float(_inverse_shifted_gamma_mean(s, np.array([z]))[0])
    assert got == pytest.approx(reference, rel=1e-9)


def test_pareto_nbd_dert_equals_the_discounted_purchase_stream(cdnow: pd.DataFrame) -> None:
    module = pytest.importorskip("funnelkit.clv.pareto_nbd")
    model = module.ParetoNBDFitter().fit(cdnow, time_unit="W")
    sample = cdnow.iloc[[0, 1, 2, 10, 100, 1000, 1500, 2000]]
    yearly = 0.15
    dert = discounted_expected_residual_transactions(
        model, sample, discount_rate=yearly, time_unit="year"
    )
    # continuous discounting at delta per week of the expected purchase increments, over
    # 400 years on a half-week grid (the tail beyond is below 1e-10 of the total)
    delta = np.log1p(yearly) / (365.25 / 7)
    t = np.arange(0.0, 400 * 52.2, 0.5)
    cumulative = model.expected_purchases(t[:, None], sample)
    increments = np.diff(cumulative, axis=0)
    mid = (t[1:] + t[:-1]) / 2
    stream = (np.exp(-delta * mid)[:, None] * increments).sum(axis=0)
    np.testing.assert_allclose(dert, stream, rtol=1e-4)


def test_bgbb_dert_equals_the_discounted_purchase_stream() -> None:
    module = pytest.importorskip("funnelkit.clv.beta_geo_beta_binom")
    rng = np.random.default_rng(3)
    n = 6
    data = {
        "frequency": np.array([0, 1, 3, 6, 2, 5], dtype=float),
        "recency": np.array([0, 2, 5, 6, 6, 6], dtype=float),
        "T": np.full(n, 6.0),
    }
    big = {k: np.tile(v, 50) for k, v in data.items()}
    big["frequency"] = np.minimum(
        big["frequency"] + rng.integers(0, 2, big["T"].size), big["recency"]
    )
    big["frequency"][big["recency"] == 0] = 0
    model = module.BetaGeoBetaBinomFitter().fit(big)
    d = 0.1
    dert = discounted_expected_residual_transactions(model, data, discount_rate=d, time_unit=None)
    k = np.arange(0, 3000, dtype=float)
    cumulative = model.expected_purchases(k[:, None], data)
    increments = np.diff(cumulative, axis=0)
    stream = (increments / (1 + d) ** k[1:, None]).sum(axis=0)
    np.testing.assert_allclose(dert, stream, rtol=1e-8)


class _LifetimesAdapter:
    """lifetimes' Pareto/NBD or BG/BB behind funnelkit's prediction API, as an oracle."""

    def __init__(self, ref: object, unit: str | None) -> None:
        self.ref = ref
        self.params_ = {k: float(v) for k, v in ref.params_.items()}  # type: ignore[attr-defined]
        self.time_unit_ = None if unit is None else TimeUnit.parse(unit)

    def _rfm(self, data: object) -> tuple:
        rfm = as_rfm(data, None, self.time_unit_)
        return rfm.frequency, rfm.recency, rfm.T


class ParetoNBDOracle(_LifetimesAdapter):
    def probability_alive(self, data: object) -> np.ndarray:
        return np.asarray(self.ref.conditional_probability_alive(*self._rfm(data)))

    def discounted_residual_purchases(self, delta: float, data: object) -> np.ndarray:
        # funnelkit's closed form at lifetimes' estimates, checked against lifetimes' stream
        from funnelkit.clv import ParetoNBDFitter as Fitter

        model = Fitter()
        model.params_ = dict(self.params_)
        model.time_unit_ = self.time_unit_
        return model.discounted_residual_purchases(delta, data)

    def expected_purchases(self, t: float, data: object) -> np.ndarray:
        return np.asarray(
            self.ref.conditional_expected_number_of_purchases_up_to_time(t, *self._rfm(data))
        )


class BetaGeoBetaBinomOracle(_LifetimesAdapter):
    def probability_alive(self, data: object) -> np.ndarray:
        return np.asarray(self.ref.conditional_probability_alive(0, *self._rfm(data)))

    def discounted_residual_purchases(self, delta: float, data: object) -> np.ndarray:
        # funnelkit's closed form at lifetimes' estimates, checked against lifetimes' stream
        from funnelkit.clv import BetaGeoBetaBinomFitter as Fitter

        model = Fitter()
        model.params_ = dict(self.params_)
        model.time_unit_ = self.time_unit_
        return model.discounted_residual_purchases(delta, data)

    def expected_purchases(self, t: float, data: object) -> np.ndarray:
        return np.asarray(
            self.ref.conditional_expected_number_of_purchases_up_to_time(t, *self._rfm(data))
        )


@pytest.mark.filterwarnings("ignore:divide by zero:RuntimeWarning")
def test_pareto_nbd_dert_formula_with_lifetimes_as_oracle(cdnow: pd.DataFrame) -> None:
    lifetimes = pytest.importorskip("lifetimes")
    ref = lifetimes.ParetoNBDFitter().fit(cdnow["frequency"], cdnow["recency"], cdnow["T"])
    model = ParetoNBDOracle(ref, "W")
    sample = cdnow.iloc[[0, 1, 2, 10, 100, 1500]]
    dert = discounted_expected_residual_transactions(
        model, sample, discount_rate=0.15, time_unit="year"
    )
    # integral of e^{-delta t} dE[N(t)] on a geometric grid out to 400 years (midpoints)
    delta = np.log1p(0.15) / (365.25 / 7)
    t = np.concatenate([[0.0], np.geomspace(0.01, 400 * 52.2, 1500)])
    cumulative = np.stack([model.expected_purchases(x, sample) for x in t])
    mid = (t[1:] + t[:-1]) / 2
    stream = (np.exp(-delta * mid)[:, None] * np.diff(cumulative, axis=0)).sum(axis=0)
    np.testing.assert_allclose(dert, stream, rtol=2e-4)


def test_bgbb_dert_formula_with_lifetimes_as_oracle() -> None:
    lifetimes = pytest.importorskip("lifetimes")
    donations = pytest.importorskip("lifetimes.datasets").load_donations()
    ref = lifetimes.BetaGeoBetaBinomFitter().fit(
        donations["frequency"], donations["recency"], donations["periods"], donations["weights"]
    )
    model = BetaGeoBetaBinomOracle(ref, None)
    data = {
        "frequency": donations["frequency"].to_numpy()[:8].astype(float),
        "recency": donations["recency"].to_numpy()[:8].astype(float),
        "T": donations["periods"].to_numpy()[:8].astype(float),
    }
    d = 0.1
    dert = discounted_expected_residual_transactions(model, data, discount_rate=d, time_unit=None)
    k = np.arange(0, 600)
    cumulative = np.stack([model.expected_purchases(int(x), data) for x in k])
    stream = (np.diff(cumulative, axis=0) / (1 + d) ** k[1:, None]).sum(axis=0)
    np.testing.assert_allclose(dert, stream, rtol=1e-10)
    # the discount rate may be given per time unit only for models that have one
    with pytest.raises(FunnelkitError, match="time_unit must be None"):
        discounted_expected_residual_transactions(model, data, discount_rate=d, time_unit="year")


@pytest.mark.parametrize(
    ("freq", "month", "scale", "unit"),
    [("D", "30D", 7.0, "D"), ("W", "4.345W", 1.0, "W"), ("H", "720h", 168.0, "h")],
)
def test_lifetimes_months_are_reproduced_exactly(
    cdnow: pd.DataFrame, freq: str, month: str, scale: float, unit: str
) -> None:
    lifetimes = pytest.importorskip("lifetimes")
    data = cdnow.assign(recency=cdnow["recency"] * scale, T=cdnow["T"] * scale)
    bgf, ggf = BetaGeoFitter().fit(data, time_unit=unit), GammaGammaFitter().fit(data)
    ref_bg, ref_gg = lifetimes.BetaGeoFitter(), lifetimes.GammaGammaFitter()
    ref_bg.params_ = pd.Series(bgf.params_)
    ref_gg.params_ = pd.Series(ggf.params_)
    # lifetimes binds predict in its own fit; here it predicts at funnelkit's estimates
    ref_bg.predict = ref_bg.conditional_expected_number_of_purchases_up_to_time
    expected = ref_gg.customer_lifetime_value(
        ref_bg,
        data["frequency"],
        data["recency"],
        data["T"],
        data["monetary_value"],
        time=12,
        discount_rate=0.01,
        freq=freq,
    ).to_numpy()
    got = customer_lifetime_value(
        bgf, ggf, data, horizon=12, time_unit="month", discount_rate=0.01, month=month
    )
    np.testing.assert_allclose(got, expected, rtol=1e-8)
    # without the option, funnelkit's month is the calendar average: 30.44 days
    calendar = customer_lifetime_value(
        bgf, ggf, data, horizon=12, time_unit="month", discount_rate=0.01
    )
    assert 1.0 < calendar.sum() / got.sum() < 1.02


def test_thirty_day_month_in_another_model_unit(cdnow: pd.DataFrame, models: tuple) -> None:
    bgf, ggf = models  # fitted in weeks
    in_days = cdnow.assign(recency=cdnow["recency"] * 7, T=cdnow["T"] * 7)
    daily = BetaGeoFitter().fit(in_days, time_unit="D")
    daily.params_ = {**bgf.params_, "alpha": bgf.params_["alpha"] * 7}
    kwargs = {"horizon": 6, "time_unit": "month", "discount_rate": 0.02, "month": "30D"}
    np.testing.assert_allclose(
        customer_lifetime_value(bgf, ggf, cdnow, **kwargs),
        customer_lifetime_value(daily, ggf, in_days, **kwargs),
        rtol=1e-10,
    )


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"time_unit": "W", "month": "30D"}, "needs time_unit='month'"),
        ({"time_unit": "month", "month": "thirty days"}, "month must be a positive number"),
        ({"time_unit": "month", "month": "0D"}, "month must be a positive number"),
        ({"time_unit": "month", "month": "1M"}, "defines a month by months"),
        ({"time_unit": "month", "month": "30 fortnights"}, "Unknown time unit 'fortnights'"),
    ],
)
def test_bad_month_lengths(cdnow: pd.DataFrame, models: tuple, kwargs: dict, match: str) -> None:
    with pytest.raises(FunnelkitError, match=match):
        customer_lifetime_value(*models, cdnow, horizon=12, discount_rate=0.01, **kwargs)
