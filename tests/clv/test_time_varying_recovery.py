"""TimeVaryingParetoNBDFitter recovers a known campaign burst and membership effects."""

from __future__ import annotations

import numpy as np
import pytest

from funnelkit import RFM
from funnelkit.clv import TimeVaryingParetoNBDFitter
from funnelkit.datasets import simulate_time_varying_pareto_nbd

SEEDS = range(5)


@pytest.fixture(scope="module")
def fits() -> list[tuple[object, TimeVaryingParetoNBDFitter]]:
    out = []
    for seed in SEEDS:
        sim = simulate_time_varying_pareto_nbd(2500, seed=seed)
        model = TimeVaryingParetoNBDFitter(purchase_covariates=["campaign", "member"])
        # in hours: the model's continuous time (two purchases on one day stay two)
        model.fit(
            sim.events,
            covariates=sim.covariates,
            calibration_end=sim.calibration_end,
            time_unit="h",
        )
        out.append((sim, model))
    return out


@pytest.mark.slow
def test_intervals_cover_the_truth(fits: list[tuple[object, TimeVaryingParetoNBDFitter]]) -> None:
    covered, total = 0, 0
    for sim, model in fits:
        assert model.result_.converged
        truth = {
            **{("purchase", k): v for k, v in sim.purchase_effects.items()},  # type: ignore[attr-defined]
            ("dropout", "campaign"): 0.0,
            **{("dropout", k): v for k, v in sim.dropout_effects.items()},  # type: ignore[attr-defined]
        }
        for coef in model.result_.coefficients:
            covered += coef.contains(truth[(coef.process, coef.covariate)])
            total += 1
        for name, est in model.result_.params.items():
            covered += est.contains(sim.params_per("h")[name])  # type: ignore[attr-defined]
            total += 1
    # 40 intervals at 95%: 38 expected, at least 35 unless something is biased
    assert covered >= 35, f"{covered} of {total} intervals cover the truth"


@pytest.mark.slow
def test_the_campaign_burst_is_recovered(
    fits: list[tuple[object, TimeVaryingParetoNBDFitter]],
) -> None:
    burst = np.array([model.result_.coefficients[0].estimate for _, model in fits])
    assert model_names(fits) == ["campaign", "member", "campaign", "member"]
    # exp(gamma) = 2 during the campaign
    assert np.all(np.abs(burst - np.log(2.0)) < 0.1)
    assert abs(float(np.mean(np.exp(burst))) - 2.0) < 0.05


@pytest.mark.slow
def test_holdout_purchases_are_forecast(
    fits: list[tuple[object, TimeVaryingParetoNBDFitter]],
) -> None:
    for sim, model in fits:
        rfm = RFM.from_events(
            sim.events,  # type: ignore[attr-defined]
            calibration_end=sim.calibration_end,  # type: ignore[attr-defined]
            time_unit="h",
        )
        assert rfm.holdout_frequency is not None
        predicted = model.expected_purchases(84 * 24.0, covariates=sim.covariates)  # type: ignore[attr-defined]
        ratio = predicted.sum() / rfm.holdout_frequency.sum()
        assert 0.93 < ratio < 1.07


def model_names(fits: list[tuple[object, TimeVaryingParetoNBDFitter]]) -> list[str]:
    return [c.covariate for c in fits[0][1].result_.coefficients]
