"""The estimators every cross-estimator suite runs over, each with a small seeded input.

A :class:`Case` says how to build a fitting input from a seed, how to call ``fit``, and a
prediction that a model loaded back from JSON must reproduce. Adding an estimator is one
entry in ``CASES``: the contract suite (``test_estimator_contract.py``) checks it, and the
CLV suite (``clv/test_common.py``) checks the CLV fitters among them further. A check that an
estimator does not pass yet is listed in its ``xfail`` mapping (check name → reason).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from funnelkit import ConversionFitter, EventLog, LifecycleModel, StageMarkovFitter
from funnelkit.clv import (
    BetaGeoBetaBinomFitter,
    BetaGeoFitter,
    GammaGammaFitter,
    ModifiedBetaGeoFitter,
    ParetoNBDFitter,
    ShiftedBetaGeoFitter,
    TimeVaryingParetoNBDFitter,
)
from funnelkit.datasets import simulate_community
from funnelkit.datasets.btyd import (
    simulate_bgbb,
    simulate_bgnbd,
    simulate_mbgnbd,
    simulate_pareto_nbd,
)
from funnelkit.datasets.conversion import simulate_transitions
from funnelkit.datasets.covariates import simulate_bgnbd_covariates
from funnelkit.datasets.spend import simulate_contract_lifetimes, simulate_spend
from funnelkit.datasets.time_varying import simulate_time_varying_pareto_nbd
from funnelkit.dynamics import simulate_stage_chain


@dataclass(frozen=True)
class Case:
    estimator: type[Any]
    data: Callable[[int], Any]
    predict: Callable[[Any, Any], Any]
    fit: Callable[[Any, Any], Any] = lambda model, data: model.fit(data)
    #: check name → why this estimator does not pass it yet (a strict xfail)
    xfail: dict[str, str] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.estimator.__name__


def _ages(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).uniform(20, 80, 1000)


def _rfm_predict(model: Any, data: Any) -> Any:
    return (model.expected_purchases(5.0, data), model.probability_alive(data))


def _spend_data(seed: int) -> dict[str, np.ndarray]:
    freq = np.random.default_rng(seed).poisson(2.0, 1000).astype(float)
    sim = simulate_spend(freq, p=6.0, q=4.0, v=15.0, seed=seed)
    return {"frequency": sim.frequency, "monetary_value": sim.monetary_value}


def _contract_data(seed: int) -> dict[str, np.ndarray]:
    sim = simulate_contract_lifetimes(1000, alpha=0.7, beta=1.2, observed_periods=8, seed=seed)
    return {"duration": sim.durations, "churned": sim.churned}


def _conversion_data(seed: int) -> Any:
    return simulate_transitions(600, seed=seed).journeys


def _conversion_predict(model: ConversionFitter, journeys: Any) -> Any:
    est = model.estimate("visitor", "member")
    frame = model.summary()
    return (
        frame[["estimate", "std_error", "lower", "upper"]].to_numpy(),
        np.array([est.rate_within(5.0).rate, *est.eventual_rate_ci, *est.median_time_ci]),
    )


def _chain_data(seed: int) -> Any:
    sim = simulate_stage_chain(600, advance_rates=[0.2, 0.1], dropout_rates=[0.1, 0.05], seed=seed)
    return sim.funnel.journeys(sim.log(), observation_end=80.0)


def _chain_predict(model: StageMarkovFitter, journeys: Any) -> Any:
    forecast = model.forecast(journeys, horizon=20.0, n_points=5, n_resamples=20, seed=3)
    return (
        forecast.to_frame()[["expected", "lower", "upper"]].to_numpy(),
        model.probability_active(journeys),
        np.array(list(model.probability_of_reaching("s2").values()), dtype=float),
        np.array(list(model.expected_time_to("s2").values()), dtype=float),
        model.summary()[["estimate", "std_error", "lower", "upper"]].to_numpy(),
    )


@dataclass(frozen=True)
class _Community:
    log: EventLog
    end: Any


def _community_data(seed: int) -> _Community:
    sim = simulate_community(1500, seed=seed)
    log = EventLog.from_frame(sim.events, value_col="value", attribute_cols=["channel"])
    return _Community(log, sim.observation_end)


def _lifecycle_predict(model: LifecycleModel, data: _Community) -> Any:
    scores = model.score(data.log, observation_end=data.end, backend="pandas")
    numbers = scores.select_dtypes("number").to_numpy()
    return (model.summary()[["estimate", "std_error", "lower", "upper"]].to_numpy(), numbers)


class BetaGeoFitterWithCovariates(BetaGeoFitter):
    """BG/NBD checked once more, fitted with covariates (its own name keeps its own fit)."""


def _covariate_data(seed: int) -> Any:
    effects = {"purchase": {"member[True]": 0.4}, "dropout": {"channel[tiktok]": 0.5}}
    return simulate_bgnbd_covariates(1000, T=_ages(seed), coefficients=effects, seed=seed)


def _covariate_predict(model: Any, data: Any) -> Any:
    rfm, covariates = data.rfm, data.covariates
    return (
        model.expected_purchases(5.0, rfm, covariates=covariates),
        model.probability_alive(rfm, covariates=covariates),
        model.coefficients_[["estimate", "std_error", "lower", "upper"]].to_numpy(),
    )


CASES: list[Case] = [
    Case(BetaGeoFitter, lambda s: simulate_bgnbd(1000, T=_ages(s), seed=s).rfm, _rfm_predict),
    Case(
        ModifiedBetaGeoFitter, lambda s: simulate_mbgnbd(1000, T=_ages(s), seed=s).rfm, _rfm_predict
    ),
    Case(
        ParetoNBDFitter, lambda s: simulate_pareto_nbd(1000, T=_ages(s), seed=s).rfm, _rfm_predict
    ),
    Case(
        BetaGeoBetaBinomFitter,
        lambda s: simulate_bgbb(1000, n_periods=6, seed=s).rfm,
        lambda m, d: (m.expected_purchases(3, d), m.probability_alive(d)),
    ),
    Case(GammaGammaFitter, _spend_data, lambda m, d: m.expected_spend(d)),
    Case(ShiftedBetaGeoFitter, _contract_data, lambda m, d: m.survival_function(np.arange(10))),
    Case(
        BetaGeoFitterWithCovariates,
        _covariate_data,
        _covariate_predict,
        fit=lambda model, data: model.fit(data.rfm, covariates=data.covariates),
    ),
    Case(ConversionFitter, _conversion_data, _conversion_predict),
    Case(StageMarkovFitter, _chain_data, _chain_predict),
    Case(
        TimeVaryingParetoNBDFitter,
        lambda s: simulate_time_varying_pareto_nbd(300, seed=s),
        lambda m, d: m.expected_purchases(4.0, d.events, covariates=d.covariates),
        fit=lambda model, data: model.fit(
            data.events, covariates=data.covariates, calibration_end=data.calibration_end
        ),
    ),
    Case(
        LifecycleModel,
        _community_data,
        _lifecycle_predict,
        fit=lambda model, data: model.fit(data.log, observation_end=data.end),
    ),
]


_FITTED: dict[str, tuple[Any, Any]] = {}


def fitted(case: Case) -> tuple[Any, Any]:
    """One fitted model per estimator for the whole session (fits are the slow part), shared
    by the suites; callers only read it."""
    if case.name not in _FITTED:
        data = case.data(0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _FITTED[case.name] = (case.fit(case.estimator(), data), data)
    return _FITTED[case.name]
